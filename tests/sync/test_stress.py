"""Threads hammering one connection at once: send, stream, ping, recv and close.

Whatever the interleaving, every thread ends, each raises only what its call documents
(``ConnectionClosed`` once the connection is closing, ``TimeoutError`` within its
timeout), and every message the echo server returns is one that was sent whole: no
stream is glued to another thread's message.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["close", "terminate"])
@pytest.mark.parametrize("seed", range(4))
def test_concurrent_senders_streams_pings_and_close_end_cleanly(
    echo_server: wscli.Server, seed: int, ending: str
) -> None:
    rng = random.Random(seed)
    client = wscli.connect(echo_server.url, write_limit=64 * 1024)
    sent: set[str] = set()
    sent_lock = threading.Lock()
    unexpected: list[BaseException] = []
    received: list[str | bytes] = []
    stop = threading.Event()

    def guard(work: Any) -> Any:
        def run() -> None:
            try:
                work()
            except (wscli.ConnectionClosed, TimeoutError):
                pass
            except BaseException as exc:
                unexpected.append(exc)

        return run

    def sender(name: str) -> None:
        for index in range(400):
            if stop.is_set():
                return
            message = f"{name}-{index}-" + "x" * rng.randrange(0, 20000)
            with sent_lock:
                sent.add(message)
            client.send(message, timeout=TIMEOUT)

    def streamer() -> None:
        for index in range(100):
            if stop.is_set():
                return
            parts = [f"s-{index}-", "y" * 5000, "z" * 3000]
            with sent_lock:
                sent.add("".join(parts))
            with client.stream() as out:
                for part in parts:
                    out.write(part)

    def pinger() -> None:
        while not stop.is_set():
            client.ping(b"p").wait(TIMEOUT)

    def reader() -> None:
        for message in client:
            received.append(message)

    threads = [threading.Thread(target=guard(lambda n=n: sender(n)), daemon=True) for n in "abc"]
    threads += [
        threading.Thread(target=guard(streamer), daemon=True),
        threading.Thread(target=guard(pinger), daemon=True),
    ]
    read_thread = threading.Thread(target=guard(reader), daemon=True)
    read_thread.start()
    for thread in threads:
        thread.start()
    threading.Event().wait(rng.uniform(0.05, 0.6))
    if ending == "close":
        client.close()
    else:
        client.terminate()  # dropped without a closing handshake
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a sender never returned after close()"
    assert client.wait_closed(TIMEOUT)
    read_thread.join(TIMEOUT)
    assert not read_thread.is_alive(), "the reader never returned after the close"
    assert not unexpected, unexpected
    assert all(message in sent for message in received), "a message arrived mangled"
    assert client.close_code == (1000 if ending == "close" else 1006)
