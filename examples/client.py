"""The ws client example in Python: events, text and binary sends, send callbacks.

As in ws, constructing a ``WebSocket`` starts connecting at once and the listeners
are attached right after; ``open`` fires when the handshake is done. A send callback
gets ``None`` once the data was written, or the error when it could not be sent (a
send on a closed connection calls it rather than raising). ``message`` listeners get
``(data, flags)``: ``str`` for text, ``bytes`` with ``flags.binary`` for binary.

Against examples/echo_server.py::

    python examples/client.py ws://127.0.0.1:8080
"""

from __future__ import annotations

import array
import sys
import threading

import wscli


def run(url: str, timeout: float = 10.0) -> list[str]:
    """Send a text and a binary message, print the replies, close; return what happened."""
    log: list[str] = []
    done = threading.Event()
    ws = wscli.WebSocket(url)

    def on_sent(error: Exception | None) -> None:
        # None once written; otherwise why the data could not be sent.
        if error is not None:
            log.append(f"send failed: {error}")

    def on_open() -> None:
        log.append("connected")
        ws.send("hello", callback=on_sent)
        ws.send(array.array("f", [0.0, 0.5, 1.0]).tobytes(), binary=True, callback=on_sent)

    def on_message(data: str | bytes, flags: wscli.MessageFlags) -> None:
        log.append(f"{'binary' if flags.binary else 'text'} {data!r}")
        if flags.binary:
            ws.close(1000, "done")

    def on_close(code: int, reason: str) -> None:
        log.append(f"disconnected {code} {reason}")
        done.set()

    def on_error(error: Exception) -> None:
        log.append(f"error: {error}")

    ws.on("open", on_open)
    ws.on("message", on_message)
    ws.on("close", on_close)
    ws.on("error", on_error)
    if not done.wait(timeout):
        ws.terminate()
        log.append("timed out")
    # After the close, a send with a callback reports instead of raising.
    ws.send("too late", callback=on_sent)
    return log


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080"
    for line in run(url):
        print(line, flush=True)


if __name__ == "__main__":
    main()
