"""A listener that relays to a connection served by another reactor thread.

A server's listeners run on the server's reactor thread; a client connection made with
``wscli.connect`` lives on the process-wide client reactor. A listener relaying from one
to the other (a WebSocket proxy) is still a sender that cannot wait: if it blocked
while the other side's peer stopped reading, every client of the server would stop
being served, and two such relays facing each other would wait on each other for ever.
"""

from __future__ import annotations

import threading
from typing import Any

import wscli

from .conftest import TIMEOUT
from .test_faults import Accepted, wait_for


def test_listener_relaying_to_a_stuck_backend_on_another_reactor_never_blocks_its_server() -> None:
    limit = 64 * 1024
    backend = wscli.Server("127.0.0.1", 0, close_timeout=0.5)
    backend.on("connection", lambda ws, request: ws.pause())  # never reads again
    front = wscli.Server("127.0.0.1", 0, close_timeout=0.5)
    accepted = Accepted(front)
    upstream = wscli.connect(backend.url, write_limit=limit, close_timeout=0.5)
    raised: list[BaseException] = []
    peaks: list[int] = []

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        def relay(data: Any, flags: Any) -> None:
            if data == "ping?":
                ws.send("pong!")
                return
            try:
                upstream.send(data)
            except wscli.ConnectionClosed as exc:
                raised.append(exc)
            peaks.append(upstream.buffered_amount)

        ws.on("message", relay)

    front.on("connection", on_connection)
    stop = threading.Event()
    try:
        source = wscli.connect(front.url)
        accepted.next_open()

        def flood() -> None:
            chunk = b"x" * 16384
            for _ in range(1024):  # 16 MiB, past what the kernel buffers
                if stop.is_set():
                    return
                try:
                    source.send(chunk, timeout=TIMEOUT)
                except (TimeoutError, wscli.ConnectionClosed):
                    return

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        assert wait_for(lambda: upstream.buffered_amount > limit or upstream.finished)
        # The front server's reactor is not stuck behind the relay: a new client opens
        # and is answered while the backend still reads nothing.
        with wscli.connect(front.url, open_timeout=TIMEOUT) as other:
            other.send("ping?")
            assert other.recv(TIMEOUT) == "pong!"
        # The backend connection that stopped reading is dropped with 1013, and the
        # relay's buffer never grew past the bound for senders that cannot wait.
        assert wait_for(lambda: upstream.finished)
        assert upstream.close_sent is not None and upstream.close_sent.code == 1013
        assert max(peaks) <= 4 * limit + 16384
        stop.set()
        sender.join(TIMEOUT)
        source.close()
    finally:
        stop.set()
        upstream.terminate()
        front.close(timeout=TIMEOUT)
        backend.close(timeout=TIMEOUT)


def test_two_relays_facing_each_other_across_reactors_keep_both_reactors_running() -> None:
    # A server whose listener relays each message to an upstream client connection,
    # and an upstream server whose listener relays it back: each reactor's listener
    # sends to a connection the other reactor serves. Neither may wait on the other.
    limit = 64 * 1024
    upstream_server = wscli.Server("127.0.0.1", 0, write_limit=limit, close_timeout=0.5)
    front = wscli.Server("127.0.0.1", 0, write_limit=limit, close_timeout=0.5)
    fronts: list[wscli.WebSocket] = []
    relayed = threading.Event()

    def back(ws: wscli.WebSocket, request: Any) -> None:
        def relay(data: Any, flags: Any) -> None:
            try:
                fronts[0].send(data)  # the first client, who reads nothing
            except wscli.ConnectionClosed:
                pass
            relayed.set()

        ws.on("message", relay)

    upstream_server.on("connection", back)
    upstream = wscli.connect(upstream_server.url, write_limit=limit, close_timeout=0.5)

    def forward(ws: wscli.WebSocket, request: Any) -> None:
        fronts.append(ws)
        ws.on("message", lambda data, flags: upstream.send(data) if data != "ping?" else None)
        ws.on("message", lambda data, flags: ws.send("pong!") if data == "ping?" else None)

    front.on("connection", forward)
    try:
        # A client that sends a lot and never reads what comes back.
        with wscli.connect(front.url) as source:
            source.pause()
            assert wait_for(lambda: bool(fronts))
            stop = threading.Event()

            def flood() -> None:
                for _ in range(1024):  # 16 MiB each way, past what the kernel buffers
                    if stop.is_set():
                        return
                    try:
                        source.send(b"y" * 16384, timeout=TIMEOUT)
                    except (TimeoutError, wscli.ConnectionClosed):
                        return

            sender = threading.Thread(target=flood, daemon=True)
            sender.start()
            assert relayed.wait(TIMEOUT)
            # Both directions back up (the stuck client's buffer, then the relay's),
            # unless the stuck client was already dropped for not reading.
            assert wait_for(lambda: upstream.buffered_amount > limit or fronts[0].finished)
            with wscli.connect(front.url, open_timeout=TIMEOUT) as other:
                other.send("ping?")
                assert other.recv(TIMEOUT) == "pong!"
            with wscli.connect(upstream_server.url, open_timeout=TIMEOUT) as direct:
                assert direct.ready_state == wscli.WebSocket.OPEN
            stop.set()
            source.terminate()
            sender.join(TIMEOUT)
    finally:
        upstream.terminate()
        front.close(timeout=TIMEOUT)
        upstream_server.close(timeout=TIMEOUT)


def test_with_block_ending_in_a_listener_of_another_reactor_does_not_wait_for_the_close() -> None:
    # A server's listener that opens a client connection with `with` and leaves the
    # block: waiting there for the close would hold the server's reactor, whose other
    # clients would go unanswered, for up to close_timeout.
    backend = wscli.Server("127.0.0.1", 0, close_timeout=TIMEOUT)
    backend.on("connection", lambda ws, request: ws.pause())  # never answers the close
    front = wscli.Server("127.0.0.1", 0)
    done: list[bool] = []

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        def relay_once(data: Any, flags: Any) -> None:
            if data == "ping?":
                ws.send("pong!")
                return
            upstream = wscli.WebSocket(backend.url, close_timeout=TIMEOUT)
            upstream.wait_open(TIMEOUT)  # another reactor's thread does the opening
            with upstream:
                pass
            done.append(True)

        ws.on("message", relay_once)

    front.on("connection", on_connection)
    try:
        with wscli.connect(front.url) as first:
            first.send("go")
            assert wait_for(lambda: bool(done))
            with wscli.connect(front.url, open_timeout=TIMEOUT) as other:
                other.send("ping?")
                assert other.recv(TIMEOUT / 2) == "pong!"
    finally:
        front.close(timeout=TIMEOUT)
        backend.close(timeout=1.0)


def test_server_closed_from_a_client_listener_closes_its_clients_cleanly() -> None:
    # The listener runs on the client reactor, which also carries the closing
    # handshakes of the server's clients in this process: close() must not wait there.
    server = wscli.Server("127.0.0.1", 0, close_timeout=TIMEOUT)
    server.on("connection", lambda ws, request: ws.send("hello"))
    closed = threading.Event()
    server.on("close", closed.set)
    try:
        bystander = wscli.connect(server.url)
        assert bystander.recv(TIMEOUT) == "hello"
        trigger = wscli.WebSocket(server.url)
        trigger.on("message", lambda data, flags: server.close())
        assert closed.wait(TIMEOUT)
        assert bystander.wait_closed(TIMEOUT)
        assert bystander.close_code == 1001  # a closing handshake, not a drop
    finally:
        server.close(timeout=TIMEOUT)
