"""Decide in your own request handler which requests become WebSocket connections.

``Server(no_server=True)`` listens nowhere; the ``http.server`` handler calls
``wss.handle_upgrade(self, callback=on_upgraded)`` for the requests it wants to upgrade
(here: those with the right token in the query string) and answers the rest itself.
As in ws, the callback gets the new connection (``function (client) {...}``); it runs
on the WebSocket server's I/O thread.

Run it, then connect to ws://127.0.0.1:8001/chat?token=letmein::

    python examples/handle_upgrade.py [PORT]
"""

from __future__ import annotations

import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import wscli

TOKEN = "letmein"


class AppServer(ThreadingHTTPServer):
    """The HTTP server, holding the WebSocket server its handlers upgrade with."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, UpgradeHandler)
        self.wss = wscli.Server(no_server=True)


def on_upgraded(client: wscli.WebSocket) -> None:
    client.send("welcome")
    client.on("message", lambda data, flags: client.send(data, binary=flags.binary))


class UpgradeHandler(BaseHTTPRequestHandler):
    """Upgrades authorised WebSocket requests; answers everything else over HTTP."""

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        wants_websocket = self.headers.get("Upgrade", "").lower() == "websocket"
        token = urllib.parse.parse_qs(url.query).get("token", [""])[0]
        if wants_websocket and url.path == "/chat" and token == TOKEN:
            # The socket now belongs to the WebSocket server: write nothing more here.
            assert isinstance(self.server, AppServer)
            self.server.wss.handle_upgrade(self, callback=on_upgraded)
            return
        status = 401 if wants_websocket else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(port: int = 8001) -> AppServer:
    """Build the HTTP server whose handler hands upgrades to its ``wss``."""
    return AppServer(("127.0.0.1", port))


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8001
    httpd = make_server(port)
    print(f"ws://127.0.0.1:{httpd.server_address[1]}/chat?token={TOKEN}", file=sys.stderr)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        thread.join()
        httpd.wss.close()
        httpd.server_close()


if __name__ == "__main__":
    main()
