"""Redirects as a careful HTTP client follows them, judged by what reached each server.

A ``Location`` is the server's choice: it may not lead to a local Unix socket, nor from
``wss://`` down to ``ws://`` unless the caller opts in, and on a hop to another origin
nothing the caller chose for the first one (headers, subprotocols, Origin, TLS
settings) goes along unless ``location_trusted``.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from helpers import TIMEOUT
from tlshelpers import make_pki, running_server
from wirepeer import RecordingServer, header_lines, header_names, redirect_answer, upgrade_answer

from wscli.core.sync.net import ConnectFailed
from wscli.core.sync.websocket import RedirectError, connect

# What a caller may put on the first request, and what must not follow a cross-origin hop.
TOKEN_PROTOCOL = "base64url.bearer.authorization.k8s.io.c2VjcmV0"
CALLER: dict[str, Any] = {
    "headers": [("X-Api-Key", "k-123"), ("Authorization", "Bearer t"), ("Cookie", "s=1")],
    "protocols": ["v4.channel.k8s.io", TOKEN_PROTOCOL],
    "origin": "https://app.example",
}
OWN_HEADERS = {
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "user-agent",
}


def test_redirect_to_a_unix_socket_is_refused_and_nothing_reaches_it(tmp_path: Path) -> None:
    path = os.path.join(tmp_path, "api.sock")
    local = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    local.bind(path)
    local.listen(1)
    local.setblocking(False)
    try:
        with RecordingServer(redirect_answer(f"ws+unix://{path}:/containers/json")) as server:
            with pytest.raises(RedirectError, match="may not lead to a unix socket"):
                connect(server.url, follow_redirects=True, open_timeout=TIMEOUT)
        with pytest.raises(BlockingIOError):
            local.accept()  # no connection was ever made to the local socket
    finally:
        local.close()


def test_wss_to_ws_redirect_is_refused_unless_allowed(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with RecordingServer() as cleartext:

        def verify(info: Any) -> Any:
            return (False, 302, "moved", {"Location": cleartext.url + "/plain"})

        with running_server(ssl=pki.server_context(), verify_client=verify) as server:
            url = f"wss://localhost:{server.port}/"
            with pytest.raises(RedirectError, match="cleartext ws://"):
                connect(url, follow_redirects=True, ca=pki.ca_file, open_timeout=TIMEOUT)
            assert cleartext.accepted == 0
            with connect(
                url,
                follow_redirects=True,
                allow_insecure_redirect=True,
                ca=pki.ca_file,
                open_timeout=TIMEOUT,
            ) as ws:
                assert ws.url == cleartext.url + "/plain"
                assert ws.tls is None
        (head,) = cleartext.heads
        assert head.startswith(b"GET /plain HTTP/1.1\r\n")


def test_cross_origin_hop_sends_nothing_the_caller_chose() -> None:
    with RecordingServer() as second:
        with RecordingServer(redirect_answer(second.url + "/next")) as first:
            with connect(first.url, follow_redirects=True, open_timeout=TIMEOUT, **CALLER) as ws:
                assert ws.redirects == [first.url + "/", second.url + "/next"]
                assert ws.subprotocol is None
            (first_head,) = first.heads
        (second_head,) = second.heads
    assert {"x-api-key", "authorization", "cookie", "origin", "sec-websocket-protocol"} <= set(
        header_names(first_head)
    )
    assert set(header_names(second_head)) == OWN_HEADERS
    assert TOKEN_PROTOCOL.encode() not in second_head
    assert b"k-123" not in second_head


def test_cross_origin_hop_keeps_everything_when_location_is_trusted() -> None:
    with RecordingServer() as second:
        with RecordingServer(redirect_answer(second.url + "/next")) as first:
            with connect(
                first.url,
                follow_redirects=True,
                location_trusted=True,
                open_timeout=TIMEOUT,
                **CALLER,
            ):
                pass
        (second_head,) = second.heads
    lines = header_lines(second_head)
    assert b"X-Api-Key: k-123" in lines
    assert b"Origin: https://app.example" in lines
    assert f"Sec-WebSocket-Protocol: v4.channel.k8s.io, {TOKEN_PROTOCOL}".encode() in lines


def test_same_origin_hop_keeps_the_caller_headers() -> None:
    def answer(head: bytes) -> bytes:
        if head.startswith(b"GET /old "):
            return redirect_answer("/new", 307)(head)
        return upgrade_answer(head)

    with RecordingServer(answer) as server:
        with connect(
            server.url + "/old",
            follow_redirects=True,
            open_timeout=TIMEOUT,
            headers=[("X-Api-Key", "k-123")],
            protocols=["chat"],
        ):
            pass
        old, new = server.heads
    assert new.startswith(b"GET /new HTTP/1.1\r\n")
    assert b"X-Api-Key: k-123" in header_lines(new)
    assert b"Sec-WebSocket-Protocol: chat" in header_lines(new)


def test_each_hop_is_logged_at_info_with_what_was_left_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with RecordingServer() as second:
        with RecordingServer(redirect_answer(second.url + "/next", 301)) as first:
            with caplog.at_level(logging.INFO, logger="wscli.core"):
                with connect(first.url, follow_redirects=True, open_timeout=TIMEOUT, **CALLER):
                    pass
    (hop,) = [r.getMessage() for r in caplog.records if "redirect to" in r.getMessage()]
    assert hop == (
        f"{first.url}/: 301 redirect to {second.url}/next "
        "(another origin: not sending its headers, subprotocols, origin)"
    )


def test_sni_and_private_ca_stay_with_the_first_host(tmp_path: Path) -> None:
    """The second server records the SNI name each client hello carried."""
    pki = make_pki(tmp_path)
    names: list[str | None] = []
    context = pki.server_context()
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment]
    with running_server(ssl=context) as second:
        location = f"wss://127.0.0.1:{second.port}/next"  # another port: another origin

        def verify(info: Any) -> Any:
            return (False, 302, "moved", {"Location": location})

        with running_server(ssl=pki.server_context(), verify_client=verify) as first:
            url = f"wss://127.0.0.1:{first.port}/"
            options: dict[str, Any] = {"servername": "localhost", "ca": pki.ca_file}
            with pytest.raises(ConnectFailed, match="certificate"):
                connect(url, follow_redirects=True, open_timeout=TIMEOUT, **options)
            assert names == [None]  # an address gets no SNI; "localhost" was the first's
            with connect(
                url,
                follow_redirects=True,
                location_trusted=True,
                open_timeout=TIMEOUT,
                **options,
            ) as ws:
                assert ws.url == location
            assert names == [None, "localhost"]


def test_url_credentials_follow_a_same_origin_hop_only() -> None:
    expected = b"Authorization: Basic " + base64.b64encode(b"ann:pw")
    with RecordingServer() as other:

        def answer(head: bytes) -> bytes:
            if head.startswith(b"GET /old "):
                return redirect_answer("/new")(head)
            return redirect_answer(other.url + "/away")(head)

        with RecordingServer(answer) as server:
            url = server.url.replace("ws://", "ws://ann:pw@") + "/old"
            with connect(url, follow_redirects=True, open_timeout=TIMEOUT):
                pass
            old, new = server.heads
        (away,) = other.heads
    assert expected in header_lines(old) and expected in header_lines(new)
    assert "authorization" not in header_names(away)
