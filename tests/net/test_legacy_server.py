"""Legacy drafts on a real loopback server: hybi-08 end to end, hixie-76 bytes over a socket.

The byte-exact handshake and framing checks are sans-I/O units in ``tests/core/test_legacy.py``;
this module only checks that the server picks the draft and speaks it over TCP.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from helpers import HIXIE_REQUEST, HIXIE_RESPONSE
from tlshelpers import TIMEOUT, running_server

from wscli.core.legacy.hixie76 import HIXIE76
from wscli.core.sync.websocket import connect


def recv_until(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_hybi08_end_to_end_with_verify_client_origin() -> None:
    origins: list[str | None] = []

    def verify(info: Any) -> bool:
        origins.append(info.origin)
        return True

    versions: list[Any] = []

    def on_connection(ws: Any, request: Any) -> None:
        versions.append(ws.protocol_version)
        ws.on("message", lambda data, flags: ws.send(data))

    with running_server(on_connection, verify_client=verify) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        options = {"protocol_version": 8, "origin": "http://example.com"}
        with connect(url, open_timeout=TIMEOUT, **options) as ws:
            assert ws.protocol_version == 8
            ws.send("eight")
            assert ws.recv(timeout=TIMEOUT) == "eight"
    assert versions == [8]
    assert origins == ["http://example.com"]


# -- hixie-76: on a real server ----------------------------------------------------------------


def hixie_request_for(port: int) -> bytes:
    return HIXIE_REQUEST.replace(b"Host: example.com", f"Host: 127.0.0.1:{port}".encode())


def test_server_speaks_hixie76_when_allowed() -> None:
    seen: list[Any] = []
    closed = threading.Event()

    def on_connection(ws: Any, request: Any) -> None:
        seen.append(ws.protocol_version)
        ws.on("message", lambda data, flags: ws.send(data.upper()))
        ws.on("close", lambda code, reason: closed.set())

    with running_server(on_connection, allow_hixie76=True) as server:
        port = server.port
        assert port is not None
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(hixie_request_for(port) + b"\x00hello\xff")
            expected = HIXIE_RESPONSE.replace(
                b"ws://example.com/demo", f"ws://127.0.0.1:{port}/demo".encode()
            )
            assert recv_until(sock, len(expected)) == expected
            assert recv_until(sock, 7) == b"\x00HELLO\xff"
            sock.sendall(b"\xff\x00")
            assert recv_until(sock, 3) == b"\xff\x00"  # the answer, then EOF
        assert closed.wait(TIMEOUT)
    assert seen == [HIXIE76]


def test_server_refuses_hixie76_by_default() -> None:
    with running_server() as server:
        port = server.port
        assert port is not None
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(hixie_request_for(port))
            answer = recv_until(sock, 65536)
    assert answer.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13, 8\r\n" in answer


def test_hixie76_server_still_serves_rfc6455_clients() -> None:
    with running_server(allow_hixie76=True) as server:
        with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT) as ws:
            ws.send("modern")
            assert ws.recv(timeout=TIMEOUT) == "modern"
            assert ws.protocol_version == 13
