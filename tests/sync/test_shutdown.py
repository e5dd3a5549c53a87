"""Graceful shutdown: ``Server.close()`` says 1001 to everyone, finishes, and leaves no thread.

Also: data sent before a close arrives before it (both directions); peers that never
answer the close, handshakes in progress and blocked user threads do not hold the
shutdown past its timeout; ``serve_forever()`` turns Ctrl-C into the same close.

Only the server's threads are checked: the client reactor (``wscli-client-reactor``) is
process-wide and stays by design.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT
from .test_faults import Accepted, RawClient, serving, upgrade_request, wait_for

CLOSE_TIMEOUT = 0.5

#: Threads that outlive a server by design.
_LASTING = ("wscli-client-reactor",)


def _wscli_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("wscli-")}


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    """Fail when a wscli thread started during the test is still alive at its end."""
    before = _wscli_threads()
    yield

    def leftovers() -> list[str]:
        return sorted(
            t.name for t in _wscli_threads() - before if t.is_alive() and t.name not in _LASTING
        )

    # Short-lived connect threads may still be on their way out; give them a moment.
    wait_for(lambda: not leftovers(), timeout=1.0)
    assert leftovers() == []


def _drain(ws: wscli.WebSocket, into: list[Any]) -> BaseException:
    """Receive until the connection ends; return how it ended."""
    while True:
        try:
            into.append(ws.recv(TIMEOUT))
        except BaseException as exc:
            return exc


def test_close_sends_1001_to_every_client_and_returns(no_thread_left: None) -> None:
    server = wscli.Server("127.0.0.1", 0, close_timeout=TIMEOUT)
    server.on("connection", lambda ws, req: ws.on("message", lambda d, f: ws.send(d)))
    clients = [wscli.connect(server.url) for _ in range(20)]
    raw = [RawClient(server.port).upgrade() for _ in range(5)]
    assert wait_for(lambda: len(server.clients) == 25)
    closed: list[Any] = []
    server.on("close", lambda: closed.append(True))
    started = time.monotonic()
    closer = threading.Thread(target=server.close)
    closer.start()
    for client in raw:
        assert client.read_close() == 1001
        client.send(b"\x88\x82\0\0\0\0\x03\xe9")  # masked close 1001: the echo
        client.wait_eof()
        client.close()
    closer.join(2 * TIMEOUT)
    assert not closer.is_alive()
    assert time.monotonic() - started < TIMEOUT
    for ws in clients:
        assert ws.wait_closed(TIMEOUT)
        assert ws.close_code == 1001
        with pytest.raises(wscli.ConnectionClosedOK):
            ws.recv(TIMEOUT)
    assert wait_for(lambda: closed == [True])
    assert server.clients == set()
    assert server.url is None  # the listening socket is closed


def test_listening_socket_is_closed_after_close(no_thread_left: None) -> None:
    server = wscli.Server("127.0.0.1", 0)
    port = server.port
    server.close(timeout=TIMEOUT)
    with pytest.raises(wscli.ConnectFailed):
        wscli.connect(f"ws://127.0.0.1:{port}", open_timeout=TIMEOUT)


def test_messages_sent_by_the_server_before_close_arrive_before_the_1001(
    no_thread_left: None,
) -> None:
    count = 2000
    server = wscli.Server("127.0.0.1", 0, close_timeout=TIMEOUT)
    accepted = Accepted(server)
    received: list[Any] = []
    client = wscli.connect(server.url)
    ending: queue.Queue[BaseException] = queue.Queue()
    reader = threading.Thread(target=lambda: ending.put(_drain(client, received)))
    reader.start()
    ws = accepted.next_open()
    for index in range(count // 2):
        ws.send(f"user thread {index}")  # from this (user) thread
    done = threading.Event()

    def from_reactor(data: Any, flags: Any) -> None:
        for index in range(count // 2):
            ws.send(f"reactor {index}")
        done.set()

    ws.once("message", from_reactor)  # a listener: it runs on the reactor thread
    client.send("go")
    assert done.wait(TIMEOUT)
    server.close()
    reader.join(2 * TIMEOUT)
    assert isinstance(ending.get(timeout=TIMEOUT), wscli.ConnectionClosedOK)
    expected = [f"user thread {i}" for i in range(count // 2)]
    expected += [f"reactor {i}" for i in range(count // 2)]
    assert received == expected
    assert client.close_code == 1001


def test_messages_sent_by_a_client_before_close_reach_the_server_before_it(
    no_thread_left: None,
) -> None:
    count = 2000
    server = wscli.Server("127.0.0.1", 0, max_queue=4096)
    accepted = Accepted(server)
    try:
        client = wscli.connect(server.url)
        ws = accepted.next_open()
        for index in range(count):
            client.send(b"%d" % index)
        client.close(1000)
        received: list[Any] = []
        ending = _drain(ws, received)
        assert isinstance(ending, wscli.ConnectionClosedOK)
        assert received == [b"%d" % index for index in range(count)]
        assert client.wait_closed(TIMEOUT)
        assert client.close_code == 1000
    finally:
        server.close(timeout=TIMEOUT)


def test_reply_to_the_last_message_before_a_close_is_not_lost(no_thread_left: None) -> None:
    """RFC 6455 §5.5.1 lets an endpoint finish sending before it echoes the close; an echo
    server given "last" and a close in one read should answer "last" first."""
    losses = 0
    with serving() as server:
        for _ in range(30):
            ws = wscli.connect(server.url)
            ws.send("last")
            ws.close()
            if list(ws) != ["last"]:
                losses += 1
    assert losses == 0, f"the reply to the last message was lost in {losses} of 30 runs"


def test_close_drops_peers_that_never_answer_within_close_timeout(no_thread_left: None) -> None:
    server = wscli.Server("127.0.0.1", 0, close_timeout=CLOSE_TIMEOUT)
    mute = [RawClient(server.port).upgrade() for _ in range(5)]
    assert wait_for(lambda: len(server.clients) == 5)
    started = time.monotonic()
    server.close()
    elapsed = time.monotonic() - started
    for client in mute:
        assert client.read_close() == 1001
        client.wait_eof()
        client.close()
    assert elapsed < CLOSE_TIMEOUT + TIMEOUT


def test_close_drops_handshakes_in_progress(no_thread_left: None) -> None:
    server = wscli.Server("127.0.0.1", 0, open_timeout=4 * TIMEOUT)
    stalled = [RawClient(server.port) for _ in range(5)]
    for client in stalled:
        client.send(upgrade_request()[:30])
    assert wait_for(lambda: server.connection_count == 5)
    started = time.monotonic()
    server.close(timeout=TIMEOUT)
    assert time.monotonic() - started < TIMEOUT
    for client in stalled:
        client.wait_eof()
        client.close()


def test_close_ends_blocking_handlers_and_joins_their_threads(no_thread_left: None) -> None:
    seen: queue.Queue[Any] = queue.Queue()

    def handler(ws: wscli.WebSocket) -> None:
        for message in ws:  # ends quietly on 1001
            ws.send(message)
        seen.put(("handler done", ws.close_code))

    server = wscli.Server("127.0.0.1", 0, handler=handler, close_timeout=TIMEOUT)
    clients = [wscli.connect(server.url) for _ in range(5)]
    for ws in clients:
        ws.send("hi")
        assert ws.recv(TIMEOUT) == "hi"
    server.close()
    for _ in clients:
        assert seen.get(timeout=TIMEOUT) == ("handler done", 1001)
    for ws in clients:
        assert ws.wait_closed(TIMEOUT)
        assert ws.close_code == 1001


def test_close_unblocks_server_side_threads_in_recv_and_send(no_thread_left: None) -> None:
    server = wscli.Server("127.0.0.1", 0, write_limit=64 * 1024, close_timeout=CLOSE_TIMEOUT)
    accepted = Accepted(server)
    reading = wscli.connect(server.url)
    reader_ws = accepted.next_open()
    slow = RawClient(server.port).upgrade()  # never reads
    sender_ws = accepted.next_open()
    outcomes: queue.Queue[tuple[str, BaseException]] = queue.Queue()

    def recv_forever() -> None:
        try:
            reader_ws.recv()
        except BaseException as exc:
            outcomes.put(("recv", exc))

    def send_forever() -> None:
        try:
            while True:
                sender_ws.send(b"z" * 65536)
        except BaseException as exc:
            outcomes.put(("send", exc))

    threads = [threading.Thread(target=recv_forever), threading.Thread(target=send_forever)]
    for thread in threads:
        thread.start()
    assert wait_for(lambda: sender_ws.buffered_amount > 64 * 1024)
    server.close()
    results = dict(outcomes.get(timeout=TIMEOUT) for _ in threads)
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    assert isinstance(results["recv"], wscli.ConnectionClosedOK)
    assert isinstance(results["send"], wscli.ConnectionClosed)
    reading.close()
    slow.close()


def test_close_twice_and_from_two_threads_at_once(no_thread_left: None) -> None:
    server = wscli.Server("127.0.0.1", 0)
    events: list[Any] = []
    server.on("close", lambda: events.append("close"))
    client = wscli.connect(server.url)
    closers = [threading.Thread(target=server.close, kwargs={"timeout": TIMEOUT}) for _ in range(2)]
    for thread in closers:
        thread.start()
    for thread in closers:
        thread.join(2 * TIMEOUT)
        assert not thread.is_alive()
    server.close(timeout=TIMEOUT)
    assert client.wait_closed(TIMEOUT)
    assert client.close_code == 1001
    assert wait_for(lambda: events == ["close"])
    time.sleep(0.05)
    assert events == ["close"]


def test_close_from_a_listener_on_the_reactor_thread_stops_the_reactor(
    no_thread_left: None,
) -> None:
    server = wscli.Server("127.0.0.1", 0, close_timeout=CLOSE_TIMEOUT)
    server.on(
        "connection",
        lambda ws, req: ws.on("message", lambda data, flags: server.close(1001, "asked to stop")),
    )
    client = wscli.connect(server.url)
    client.send("please stop")
    assert client.wait_closed(TIMEOUT)
    assert client.close_code == 1001
    assert client.close_reason == "asked to stop"
    # no_thread_left: the server's reactor thread must end too, not run forever.


def test_repeated_start_and_close_leave_no_thread_behind() -> None:
    """Each close() stops its reactor promptly; a lost wake-up would leave it running."""
    for attempt in range(200):
        server = wscli.Server("127.0.0.1", 0)
        server.on("connection", lambda ws, req: ws.on("message", lambda d, f: ws.send(d)))
        with wscli.connect(server.url) as ws:
            ws.send("x")
            assert ws.recv(TIMEOUT) == "x"
        started = time.monotonic()
        server.close(timeout=TIMEOUT)
        took = time.monotonic() - started
        reactor = server._reactor
        assert not reactor.running, (
            f"attempt {attempt}: the reactor thread still runs after close() "
            f"(close took {took:.1f} s, wake-up flag stuck: {reactor._woken})"
        )


_SERVE_FOREVER = textwrap.dedent(
    """
    import sys, threading
    import wscli

    server = wscli.Server("127.0.0.1", 0, close_timeout=2)
    server.on("connection", lambda ws, req: ws.on("message", lambda d, f: ws.send(d)))
    try:
        # Inside the try: under load the signal may come before serve_forever() runs.
        print(server.port, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        server.close(1001)
        left = [t.name for t in threading.enumerate() if t.name.startswith("wscli-")]
        print("left:" + ",".join(left), flush=True)
        sys.exit(130)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_on_serve_forever_sends_1001_and_exits() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE_FOREVER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        clients = [wscli.connect(f"ws://127.0.0.1:{port}") for _ in range(3)]
        for ws in clients:
            ws.send("before the signal")
            assert ws.recv(TIMEOUT) == "before the signal"
        process.send_signal(signal.SIGINT)
        for ws in clients:
            assert ws.wait_closed(TIMEOUT)
            assert ws.close_code == 1001
        assert process.wait(TIMEOUT) == 130
        left = process.stdout.read().strip()
        assert left == "left:", f"threads still running after the shutdown: {left}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()
