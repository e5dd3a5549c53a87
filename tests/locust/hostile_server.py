"""A server for the failure tests: echoes, except ``silence`` (no reply), ``close:CODE``
(closes with CODE) and ``last`` (echoes, then closes with 1000).

Run as a script; writes ``listening on ws://…`` to stderr and serves until killed.
"""

import sys

import wscli


def main() -> None:
    wss = wscli.Server("127.0.0.1", port=0)

    def on_connection(ws: wscli.WebSocket) -> None:
        def on_message(message: str | bytes, flags: wscli.MessageFlags) -> None:
            if message == "silence":
                return
            if isinstance(message, str) and message.startswith("close:"):
                ws.close(int(message[6:]), "asked to")
                return
            ws.send(message, binary=flags.binary)
            if message == "last":
                ws.close(1000, "that was the last")

        ws.on("message", on_message)

    wss.on("connection", on_connection)
    print(f"listening on ws://127.0.0.1:{wss.port}", file=sys.stderr, flush=True)
    wss.serve_forever()


if __name__ == "__main__":
    main()
