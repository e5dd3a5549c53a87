"""One header rule for everything written, in both roles, checked on the wire.

A value with CR or LF would end its header line and start one the caller (or a peer
echoed by the caller) chose. Each test plays the other side with a raw socket and
asserts what reached it: nothing at all when the library refuses, or exactly the
expected lines when it does not.
"""

from __future__ import annotations

import queue
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from helpers import HIXIE_REQUEST, TIMEOUT
from tlshelpers import running_server
from wirepeer import RecordingServer, header_lines, header_names

from wscli.core.sync.proxy import ProxyURL, open_tunnel
from wscli.core.sync.server import Server
from wscli.core.sync.websocket import connect


def assert_nothing_sent(server: RecordingServer) -> None:
    assert server.accepted == 0 and server.heads == []


CLIENT_CASES: list[tuple[dict[str, Any], str]] = [
    ({"protocols": ["chat\r\nX-Injected: 1"]}, "invalid subprotocol"),
    ({"protocols": "chat\nX-Injected: 1"}, "invalid subprotocol"),
    ({"protocols": ["a b"]}, "invalid subprotocol"),
    ({"origin": "https://a.example\r\nX-Injected: 1"}, "header Origin"),
    ({"origin": "https://a.example/path"}, "header Origin"),
    (
        {"origin": "https://a.example\r\nX-Injected: 1", "protocol_version": 8},
        "header Sec-WebSocket-Origin",
    ),
    ({"headers": {"X-Api-Key": "1\r\nX-Injected: 1"}}, "header X-Api-Key"),
    ({"headers": [("X-Api-Key", "a\x1bb")]}, "header X-Api-Key"),
    ({"headers": [("X-Api-Key", "a\x7fb")]}, "header X-Api-Key"),
    ({"headers": [("X-Api-Key\r\nX-Injected", "1")]}, "invalid header name"),
    ({"headers": [("Host", "h\r\nX-Injected: 1")]}, "header Host"),
]


@pytest.mark.parametrize(("options", "message"), CLIENT_CASES)
def test_client_refuses_injection_before_connecting(options: dict[str, Any], message: str) -> None:
    with RecordingServer() as server:
        with pytest.raises(ValueError, match=message):
            connect(server.url, open_timeout=TIMEOUT, **options)
        assert_nothing_sent(server)


def test_client_writes_valid_headers_exactly() -> None:
    with RecordingServer() as server:
        with connect(
            server.url + "/p",
            ["chat", "v2.bearer.token-1"],
            origin="https://app.example",
            headers=[("X-Api-Key", "a\tb")],
            open_timeout=TIMEOUT,
        ):
            pass
        (head,) = server.heads
    lines = header_lines(head)
    assert b"Origin: https://app.example" in lines
    assert b"Sec-WebSocket-Protocol: chat, v2.bearer.token-1" in lines
    assert b"X-Api-Key: a\tb" in lines
    assert "x-injected" not in header_names(head)
    assert head.startswith(b"GET /p HTTP/1.1\r\n")


def _raw_upgrade(port: int) -> bytes:
    """Send an upgrade request from a raw socket and return all the server sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


def test_server_headers_event_cannot_inject_a_header() -> None:
    errors: queue.Queue[BaseException] = queue.Queue()
    with running_server() as server:
        server.on("headers", lambda headers, request: headers.update({"X-A": "1\r\nX-B: 2"}))
        server.on("error", errors.put)
        answer = _raw_upgrade(server.port)
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"X-B" not in answer and b"X-A" not in answer
    assert "header X-A" in str(errors.get(timeout=TIMEOUT))


def test_server_refusal_headers_cannot_inject_a_header() -> None:
    errors: queue.Queue[BaseException] = queue.Queue()

    def verify(info: Any) -> Any:
        return (False, 401, "no", {"WWW-Authenticate": 'Basic realm="a"\r\nSet-Cookie: s=1'})

    with running_server(verify_client=verify) as server:
        server.on("error", errors.put)
        answer = _raw_upgrade(server.port)
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"Set-Cookie" not in answer
    assert "header WWW-Authenticate" in str(errors.get(timeout=TIMEOUT))


def test_proxy_connect_refuses_a_host_with_a_line_break_before_connecting() -> None:
    with RecordingServer() as proxy:
        with pytest.raises(ValueError, match="header Host"):
            open_tunnel(
                ProxyURL("http", "127.0.0.1", proxy.port),
                "h\r\nX-Injected: 1",
                80,
                timeout=TIMEOUT,
            )
        assert_nothing_sent(proxy)


class _Page(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_embedded_upgrade_with_a_folded_header_gets_400_not_a_traceback() -> None:
    """http.server joins a folded line into the value ("1\\r\\n 2"): refused, not re-sent."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    wss = Server(server=httpd)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        port = httpd.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"X-Folded: 1\r\n 2\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    finally:
        httpd.shutdown()
        thread.join(TIMEOUT)
        httpd.server_close()
        wss.close(timeout=TIMEOUT)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"header X-Folded contains a control character" in answer
    assert not wss.clients


def test_hixie76_response_follows_the_same_rule() -> None:
    errors: queue.Queue[BaseException] = queue.Queue()
    with running_server(allow_hixie76=True) as server:
        server.on("headers", lambda headers, request: headers.update({"X-A": "1\nX-B: 2"}))
        server.on("error", errors.put)
        port = server.port
        request = HIXIE_REQUEST.replace(b"Host: example.com", f"Host: 127.0.0.1:{port}".encode())
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"X-B" not in answer
    assert "header X-A" in str(errors.get(timeout=TIMEOUT))
