"""An echo server built only from wscli's public API, for the Autobahn fuzzing client.

Run: ``python tests/conformance/echo_server.py [PORT]``; prints ``PORT`` on stdout once
listening, then serves until stdin closes or it is killed.
"""

from __future__ import annotations

import sys

import wscli


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    deflate = "--no-deflate" not in sys.argv
    server = wscli.Server(
        "127.0.0.1",
        port,
        max_payload=64 * 2**20,
        per_message_deflate={"threshold": 0} if deflate else False,
        max_queue=1024,
    )

    def on_connection(ws: wscli.WebSocket, request: wscli.Request) -> None:
        ws.on("message", lambda data, flags: ws.send(data, binary=flags.binary))

    server.on("connection", on_connection)
    print(server.port, flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    server.close()


if __name__ == "__main__":
    main()
