"""Broadcasting, as ws users write it: every message goes to every connected client.

ws keeps the open connections in ``wss.clients`` and its users loop over them; so
does ``wscli.Server`` (a set), and ``wss.broadcast(data)`` is that loop, without
blocking: a client too slow to read skips a message rather than making the server
hold it in memory.

Run it and connect a few clients (``wscli connect ws://127.0.0.1:8081``)::

    python examples/broadcast_server.py [PORT]
"""

from __future__ import annotations

import sys

import wscli


def start(port: int = 8081, host: str = "127.0.0.1") -> wscli.Server:
    """Start the server; ``port=0`` picks a free port (see ``wss.port``)."""
    wss = wscli.Server(host, port=port)

    def on_connection(ws: wscli.WebSocket) -> None:
        ws.on("message", lambda data: wss.broadcast(data))

    wss.on("connection", on_connection)
    return wss


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    wss = start(port)
    print(f"listening on {wss.url}", file=sys.stderr, flush=True)
    wss.serve_forever()


if __name__ == "__main__":
    main()
