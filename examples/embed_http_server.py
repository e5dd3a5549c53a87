"""Serve web pages and WebSocket connections on one port with ``http.server``.

``Server(server=httpd)`` takes the requests that ask to upgrade to WebSocket (here, only
those for ``/ws``); every other request reaches the ``http.server`` handler as usual.

Run it, then open http://127.0.0.1:8000/ or connect to ws://127.0.0.1:8000/ws::

    python examples/embed_http_server.py [PORT]
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import wscli

PAGE = b"""<!doctype html>
<title>echo</title>
<script>
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.onmessage = (event) => document.body.append(event.data, document.createElement("br"));
ws.onopen = () => ws.send("hello from the page");
</script>
"""


class PageHandler(BaseHTTPRequestHandler):
    """The application's ordinary HTTP handler; it never sees WebSocket upgrades."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the example's output quiet


def make_servers(port: int = 8000) -> tuple[ThreadingHTTPServer, wscli.Server]:
    """Build the HTTP server and the WebSocket server that shares its port.

    ws's ``new WebSocketServer({server: httpServer, path: '/ws'})``.
    """
    httpd = ThreadingHTTPServer(("127.0.0.1", port), PageHandler)
    wss = wscli.Server(server=httpd, path="/ws")

    def on_connection(ws: wscli.WebSocket) -> None:
        ws.on("message", lambda data, flags: ws.send(data, binary=flags.binary))

    wss.on("connection", on_connection)
    return httpd, wss


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    httpd, wss = make_servers(port)
    print(f"http://127.0.0.1:{httpd.server_address[1]}/ and ws://…/ws", file=sys.stderr)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        thread.join()
        wss.close()
        httpd.server_close()


if __name__ == "__main__":
    main()
