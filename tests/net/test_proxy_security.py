"""Proxies: credentials never appear in a message, and a slow proxy cannot stretch the
open timeout. The proxies here are raw sockets that record what they got."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import TIMEOUT
from tlshelpers import ThreadedTCPServer
from wirepeer import RecordingServer

from wscli.core.sync.net import ConnectFailed
from wscli.core.sync.proxy import ProxyError, parse_proxy, redact_proxy
from wscli.core.sync.websocket import connect

SECRET = "s3cr3t-pw"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    yield


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"http://ann:{SECRET}@proxy:3128", "http://***@proxy:3128"),
        (f"socks5h://ann:{SECRET}@[::1]:1080/x", "socks5h://***@[::1]:1080/x"),
        (f"ann:{SECRET}@proxy:3128", "***@proxy:3128"),
        ("http://proxy:3128", "http://proxy:3128"),
    ],
)
def test_redact_proxy_hides_user_information(url: str, shown: str) -> None:
    assert redact_proxy(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"http://ann:{SECRET}@proxy:notaport",
        f"ftp://ann:{SECRET}@proxy:21",
        f"https://ann:{SECRET}@proxy:443",
        f"http://ann:{SECRET}@:3128",
    ],
)
def test_unusable_proxy_address_errors_hide_the_password(url: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_proxy(url)
    assert SECRET not in str(info.value)
    assert "***@" in str(info.value)
    assert info.value.__cause__ is None or SECRET not in str(info.value.__cause__)


def test_refusal_from_a_proxy_in_the_environment_hides_the_password(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    with RecordingServer(lambda head: refusal) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://ann:{SECRET}@127.0.0.1:{proxy.port}")
        with pytest.raises(ProxyError) as info:
            # A name no resolver knows: only the proxy could reach it.
            connect("wss://ws.example.invalid/", open_timeout=TIMEOUT)
        (head,) = proxy.heads
    message = str(info.value)
    assert SECRET not in message and "ann" not in message
    assert f"proxy http://127.0.0.1:{proxy.port} refused CONNECT" in message
    assert head.startswith(b"CONNECT ws.example.invalid:443 HTTP/1.1\r\n")
    assert b"Proxy-Authorization: Basic " in head


def test_unreachable_proxy_from_the_environment_hides_the_password(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, not listening: connections refused
        monkeypatch.setenv("HTTP_PROXY", f"http://ann:{SECRET}@127.0.0.1:{port}")
        with pytest.raises(ConnectFailed) as info:
            connect("ws://ws.example.invalid/", open_timeout=TIMEOUT)
    assert SECRET not in str(info.value)
    assert f"proxy http://127.0.0.1:{port}" in str(info.value)


def test_a_proxy_that_drips_its_answer_cannot_stretch_the_open_timeout(clean_env: None) -> None:
    """Each byte comes well within a per-read timeout, but the whole would take ~6 s.

    Before the deadline covered the proxy step, every read waited afresh, so the
    client read all of it and failed only when the proxy hung up.
    """
    answer = b"HTTP/1.1 200 Connection established\r\nX-Padding: " + b"p" * 40

    def drip(sock: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
        for byte in answer:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up, as it should
            time.sleep(0.1)

    with ThreadedTCPServer(drip) as proxy:
        with pytest.raises(ConnectFailed) as info:
            connect(
                "ws://ws.example.invalid/",
                proxy=f"http://127.0.0.1:{proxy.port}",
                open_timeout=0.5,
            )
    assert "timed out" in str(info.value)
    assert "closed the connection" not in str(info.value)


def test_slow_name_resolution_counts_against_the_open_timeout(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resolver that never answers: the open timeout ends the wait, not the resolver."""
    release = threading.Event()
    real = socket.getaddrinfo

    def stuck(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "stuck.example":
            release.wait(TIMEOUT)  # bounded, so a regression fails instead of hanging
            raise socket.gaierror(socket.EAI_AGAIN, "resolver gave up")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        with pytest.raises(ConnectFailed) as info:
            connect("ws://stuck.example:8080/", open_timeout=0.3)
    finally:
        release.set()
    assert str(info.value) == "timed out connecting to stuck.example:8080"


def test_reprs_of_addresses_never_show_passwords() -> None:
    from wscli.core.sync.proxy import parse_proxy
    from wscli.core.uri import parse_uri

    assert "s3cret" not in repr(parse_uri("ws://ann:s3cret@example.com/"))
    assert "s3cret" not in repr(parse_proxy("http://ann:s3cret@proxy.example:3128"))
    assert parse_uri("ws://ann:s3cret@example.com/").user_info == ("ann", "s3cret")
