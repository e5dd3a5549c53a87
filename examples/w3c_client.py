"""The browser's WebSocket interface, which ws emulates: ``onopen``, ``onmessage``...

Each handler gets one event object: ``event.data`` for a message, ``event.code`` and
``event.reason`` for the close. ``add_event_listener(type, listener)`` adds more than
one handler per event.

    python examples/w3c_client.py ws://127.0.0.1:8080
"""

from __future__ import annotations

import sys
import threading

import wscli


def run(url: str, timeout: float = 10.0) -> list[str]:
    """Say hello, take the first two messages, close; return what happened."""
    log: list[str] = []
    done = threading.Event()
    ws = wscli.WebSocket(url)

    def on_message(event: wscli.MessageEvent) -> None:
        log.append(f"message {event.data!r}")
        if len(log) == 3:
            ws.close()

    def on_close(event: wscli.CloseEvent) -> None:
        log.append(f"close {event.code} clean={event.was_clean}")
        done.set()

    def on_open(event: wscli.OpenEvent) -> None:
        log.append("open")
        ws.send("hello")

    ws.onopen = on_open
    ws.onmessage = on_message
    ws.onclose = on_close
    ws.onerror = lambda event: log.append(f"error {event.message}")
    if not done.wait(timeout):
        ws.terminate()
        log.append("timed out")
    return log


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080"
    for line in run(url):
        print(line, flush=True)


if __name__ == "__main__":
    main()
