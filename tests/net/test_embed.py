"""Embedding: ``Server(server=httpd)`` sharing an http.server port, and ``handle_upgrade()``."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tlshelpers import TIMEOUT, echo

from wscli.core.exceptions import InvalidStatus
from wscli.core.headers import Headers
from wscli.core.http11 import Request
from wscli.core.sync.embed import as_request, is_upgrade_request
from wscli.core.sync.server import Server
from wscli.core.sync.websocket import connect

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"page {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(httpd: socketserver.BaseServer) -> Iterator[int]:
    """Run ``httpd.serve_forever`` in a thread the test joins; yield its port."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd.server_address[1]  # type: ignore[index]
    finally:
        httpd.shutdown()
        thread.join(TIMEOUT)
        httpd.server_close()


def http_get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- Server(server=httpd) ------------------------------------------------------------------


def test_attached_server_shares_the_port() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    wss = Server(server=httpd)
    wss.on("connection", echo)
    try:
        with serving(httpd) as port:
            assert http_get(port, "/index.html") == (200, b"page /index.html")
            with connect(f"ws://127.0.0.1:{port}/live", open_timeout=TIMEOUT) as ws:
                ws.send("shared port")
                assert ws.recv(timeout=TIMEOUT) == "shared port"
                # The HTTP server keeps serving while the WebSocket stays open.
                assert http_get(port, "/again") == (200, b"page /again")
                ws.send("still here")
                assert ws.recv(timeout=TIMEOUT) == "still here"
    finally:
        wss.close(timeout=TIMEOUT)


def test_attached_server_with_path_leaves_other_upgrades_to_http() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    wss = Server(server=httpd, path="/ws")
    wss.on("connection", echo)
    try:
        with serving(httpd) as port:
            with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT) as ws:
                ws.send("ok")
                assert ws.recv(timeout=TIMEOUT) == "ok"
            # The page handler answers 200 to an upgrade it does not understand.
            with pytest.raises(InvalidStatus) as info:
                connect(f"ws://127.0.0.1:{port}/elsewhere", open_timeout=TIMEOUT)
            assert info.value.status_code == 200
    finally:
        wss.close(timeout=TIMEOUT)


def test_frames_sent_right_behind_the_request_are_not_lost() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    wss = Server(server=httpd)
    got: list[Any] = []
    arrived = threading.Event()

    def on_connection(ws: Any, request: Any) -> None:
        ws.on("message", lambda data, flags: (got.append(data), arrived.set()))

    wss.on("connection", on_connection)
    request = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    hello = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # masked "Hello"
    try:
        with serving(httpd) as port:
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                sock.sendall(request + hello)  # one write: the reader buffers both
                answer = sock.recv(4096)
                assert answer.startswith(b"HTTP/1.1 101 ")
                assert arrived.wait(TIMEOUT)
    finally:
        wss.close(timeout=TIMEOUT)
    assert got == ["Hello"]


def test_attach_refuses_servers_that_do_not_speak_http() -> None:
    server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.StreamRequestHandler)
    try:
        with pytest.raises(TypeError, match="BaseHTTPRequestHandler"):
            Server(server=server)
    finally:
        server.server_close()


# -- no_server=True + handle_upgrade() --------------------------------------------------------


def test_handle_upgrade_from_a_request_handler_with_callback() -> None:
    wss = Server(no_server=True)
    upgraded = threading.Event()
    paths: list[str] = []

    def callback(ws: Any, request: Any) -> None:
        paths.append(request.path)
        ws.on("message", lambda data, flags: ws.send(data))
        upgraded.set()

    class Upgrader(Page):
        def do_GET(self) -> None:
            if self.headers.get("Upgrade", "").lower() == "websocket":
                wss.handle_upgrade(self, callback=callback)
                return
            super().do_GET()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Upgrader)
    try:
        with serving(httpd) as port:
            with connect(f"ws://127.0.0.1:{port}/here?x=1", open_timeout=TIMEOUT) as ws:
                assert upgraded.wait(TIMEOUT)
                ws.send("via handler")
                assert ws.recv(timeout=TIMEOUT) == "via handler"
            assert http_get(port, "/plain") == (200, b"page /plain")
    finally:
        wss.close(timeout=TIMEOUT)
    assert paths == ["/here?x=1"]


def test_handle_upgrade_with_a_request_needs_a_socket() -> None:
    wss = Server(no_server=True)
    try:
        with pytest.raises(TypeError, match="needs the socket"):
            wss.handle_upgrade(Request("/", Headers()))
    finally:
        wss.close(timeout=TIMEOUT)


def test_as_request_and_is_upgrade_request() -> None:
    class Fake:
        command = "GET"
        path = "/a?b=c"
        headers = {"Host": "h", "Upgrade": "WebSocket"}

    request = as_request(Fake())
    assert request == Request("/a?b=c", Headers([("Host", "h"), ("Upgrade", "WebSocket")]))
    assert is_upgrade_request(request)
    assert as_request(request) is request
    with pytest.raises(TypeError):
        as_request(object())


# -- the examples run as documented -----------------------------------------------------------


def test_example_embed_http_server() -> None:
    example = load_example("embed_http_server")
    httpd, wss = example.make_servers(0)
    try:
        with serving(httpd) as port:
            status, body = http_get(port, "/")
            assert status == 200 and b"new WebSocket" in body
            with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=TIMEOUT) as ws:
                ws.send("example")
                assert ws.recv(timeout=TIMEOUT) == "example"
    finally:
        wss.close(timeout=TIMEOUT)


def test_example_handle_upgrade() -> None:
    example = load_example("handle_upgrade")
    httpd = example.make_server(0)
    try:
        with serving(httpd) as port:
            url = f"ws://127.0.0.1:{port}/chat?token={example.TOKEN}"
            with connect(url, open_timeout=TIMEOUT) as ws:
                assert ws.recv(timeout=TIMEOUT) == "welcome"
                ws.send("ping?")
                assert ws.recv(timeout=TIMEOUT) == "ping?"
            with pytest.raises(InvalidStatus) as info:
                connect(f"ws://127.0.0.1:{port}/chat?token=wrong", open_timeout=TIMEOUT)
            assert info.value.status_code == 401
    finally:
        httpd.wss.close(timeout=TIMEOUT)
