"""The ws server example in Python: greet each client, then echo what it sends.

Each line has its ws counterpart: ``new WebSocketServer({port: 8080})`` is
``wscli.Server(port=8080)``, ``wss.on('connection', function (ws) {...})`` is
``wss.on("connection", on_connection)`` with a one-argument function, and a
``message`` listener takes ``(message, flags)``. Listeners run on the server's I/O
thread, so they stay short.

Run it, then connect with ``python examples/client.py ws://127.0.0.1:8080``::

    python examples/echo_server.py [PORT]
"""

from __future__ import annotations

import sys

import wscli


def start(port: int = 8080, host: str = "127.0.0.1") -> wscli.Server:
    """Start the server; ``port=0`` picks a free port (see ``wss.port``)."""
    wss = wscli.Server(host, port=port)

    def on_connection(ws: wscli.WebSocket) -> None:
        def on_message(message: str | bytes, flags: wscli.MessageFlags) -> None:
            print(f"received: {message!r}", flush=True)
            ws.send(message, binary=flags.binary)

        ws.on("message", on_message)
        ws.send("something")

    wss.on("connection", on_connection)
    return wss


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    wss = start(port)
    print(f"listening on {wss.url}", file=sys.stderr, flush=True)
    wss.serve_forever()  # Ctrl-C closes every client with 1001


if __name__ == "__main__":
    main()
