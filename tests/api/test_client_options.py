"""The client's ws-style options, judged by the bytes it writes.

``headers={"Host": ...}`` and ``{"Origin": ...}`` take the place of the headers the
handshake writes anyway (a server sees one of each); ``host=``/``origin=`` set them; a
header the caller gives twice is refused before anything is sent. ``protocol=`` is ws's
spelling of ``protocols``, and ``protocol_version`` takes numbers or strings.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT

REFUSAL = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class HeadRecorder:
    """A raw TCP server that keeps each request head it reads and answers 403."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/path"
        self.heads: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(TIMEOUT)
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.heads.append(head)
                conn.sendall(REFUSAL)

    def headers_of(self, **options: Any) -> list[tuple[str, str]]:
        """Connect with ``options``; return the request's header lines as (name, value)."""
        with pytest.raises(wscli.InvalidStatus):
            wscli.connect(self.url, open_timeout=TIMEOUT, **options)
        lines = self.heads[-1].split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        assert lines[0] == "GET /path HTTP/1.1"
        return [(name, value.strip()) for name, _, value in (x.partition(":") for x in lines[1:])]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in _serve
        self.listener.close()
        self.thread.join(TIMEOUT)


@pytest.fixture
def recorder() -> Iterator[HeadRecorder]:
    server = HeadRecorder()
    yield server
    server.close()


def values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


def test_host_in_headers_replaces_the_default_and_stays_first(recorder: HeadRecorder) -> None:
    headers = recorder.headers_of(headers={"host": "virtual.example"})
    assert values(headers, "Host") == ["virtual.example"]
    assert headers[0] == ("host", "virtual.example")


def test_host_option(recorder: HeadRecorder) -> None:
    headers = recorder.headers_of(host="virtual.example:8080")
    assert values(headers, "Host") == ["virtual.example:8080"]
    assert headers[0][0] == "Host"


def test_origin_in_headers_replaces_the_default(recorder: HeadRecorder) -> None:
    headers = recorder.headers_of(headers={"Origin": "http://page.example"})
    assert values(headers, "Origin") == ["http://page.example"]
    headers = recorder.headers_of(origin="http://page.example")
    assert values(headers, "Origin") == ["http://page.example"]


def test_user_agent_in_headers_replaces_the_default(recorder: HeadRecorder) -> None:
    headers = recorder.headers_of(headers=[("User-Agent", "mine/1.0"), ("X-Extra", "1")])
    assert values(headers, "User-Agent") == ["mine/1.0"]
    assert values(headers, "X-Extra") == ["1"]


def test_version_8_origin_goes_in_sec_websocket_origin(recorder: HeadRecorder) -> None:
    headers = recorder.headers_of(origin="http://page.example", protocol_version="8")
    assert values(headers, "Sec-WebSocket-Origin") == ["http://page.example"]
    assert values(headers, "Origin") == []
    assert values(headers, "Sec-WebSocket-Version") == ["8"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"headers": [("X-Token", "a"), ("x-token", "b")]}, "(?i)X-Token given twice"),
        ({"headers": {"Origin": "http://a.example"}, "origin": "http://b.example"}, "Origin"),
        ({"headers": {"Host": "a.example"}, "host": "b.example"}, "Host given twice"),
        (
            {
                "headers": {"Sec-WebSocket-Origin": "http://a"},
                "origin": "http://b",
                "protocol_version": 8,
            },
            "Sec-WebSocket-Origin given twice",
        ),
        ({"host": "evil\r\nX-Injected: 1"}, "Host"),
    ],
)
def test_a_header_given_twice_is_refused_before_connecting(
    recorder: HeadRecorder, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wscli.WebSocket(recorder.url, **options)
    assert recorder.heads == []


def test_wscli_server_accepts_a_host_given_in_headers() -> None:
    # Two Host headers were a 400 from wscli's own server (RFC 7230 §5.4).
    server = wscli.Server("127.0.0.1", 0)
    try:
        with wscli.connect(server.url, headers={"Host": "virtual.example"}) as ws:
            assert ws.request is not None and ws.request.headers.get_all("Host") == [
                "virtual.example"
            ]
    finally:
        server.close(timeout=TIMEOUT)


def test_protocol_is_ws_spelling_of_protocols(recorder: HeadRecorder) -> None:
    headers = recorder.headers_of(protocol="chat, superchat")
    assert values(headers, "Sec-WebSocket-Protocol") == ["chat, superchat"]
    headers = recorder.headers_of(protocol=["one", "two"])
    assert values(headers, "Sec-WebSocket-Protocol") == ["one, two"]
    headers = recorder.headers_of(protocols="solo")
    assert values(headers, "Sec-WebSocket-Protocol") == ["solo"]
    with pytest.raises(ValueError, match="not both"):
        wscli.WebSocket(recorder.url, "a", protocol="b")


def test_protocol_negotiated_with_the_protocol_option() -> None:
    server = wscli.Server("127.0.0.1", 0)
    try:
        with wscli.connect(server.url, protocol="chat, superchat") as ws:
            assert ws.protocol == "chat"
    finally:
        server.close(timeout=TIMEOUT)


@pytest.mark.parametrize("version", [8, "8", 13, "13"])
def test_protocol_version_as_number_or_string(recorder: HeadRecorder, version: Any) -> None:
    headers = recorder.headers_of(protocol_version=version)
    assert values(headers, "Sec-WebSocket-Version") == [str(version)]


@pytest.mark.parametrize("version", [7, "7", "hixie-76", True, 13.0, None])
def test_other_protocol_versions_are_refused(version: Any) -> None:
    with pytest.raises(ValueError, match="unsupported protocol version"):
        wscli.WebSocket("ws://127.0.0.1:1/", protocol_version=version)
