"""The reactor's readiness loop on every backend it can use here (epoll, selectors)."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import TIMEOUT

import wscli
from wscli.core.sync.reactor import BACKENDS, EVENT_READ, EVENT_WRITE, Reactor


@pytest.fixture(params=BACKENDS)
def reactor(request: pytest.FixtureRequest) -> Iterator[Reactor]:
    reactor = Reactor("test-reactor", backend=request.param).start()
    yield reactor
    reactor.stop()


class Recorder:
    """An I/O handler that records each mask it is given, and can act on it."""

    def __init__(self, on_io: Any = None) -> None:
        self.masks: queue.Queue[int] = queue.Queue()
        self.on_io = on_io

    def handle_io(self, mask: int) -> None:
        self.masks.put(mask)
        if self.on_io is not None:
            self.on_io(mask)

    def next_mask(self) -> int:
        return self.masks.get(timeout=TIMEOUT)


def on_reactor(reactor: Reactor, function: Any, *args: Any) -> Any:
    """Run ``function(*args)`` on the reactor thread and return its result."""
    result: queue.Queue[tuple[bool, Any]] = queue.Queue()

    def run() -> None:
        try:
            result.put((True, function(*args)))
        except BaseException as exc:
            result.put((False, exc))

    reactor.call_soon(run)
    ok, value = result.get(timeout=TIMEOUT)
    if not ok:
        raise value
    return value


def test_default_backend_is_epoll_where_linux_has_it() -> None:
    reactor = Reactor("test-reactor")
    assert reactor.backend == BACKENDS[0]
    assert ("epoll" in BACKENDS) == hasattr(__import__("select"), "epoll")


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        Reactor("test-reactor", backend="carrier-pigeon")


def test_readable_writable_modify_and_unregister(reactor: Reactor) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        recorder = Recorder(lambda mask: mask & EVENT_READ and a.recv(4096))
        on_reactor(reactor, reactor.register, a, EVENT_READ, recorder)
        assert on_reactor(reactor, reactor.watched, a) == EVENT_READ
        b.send(b"x")
        assert recorder.next_mask() == EVENT_READ
        on_reactor(reactor, reactor.modify, a, EVENT_WRITE, recorder)
        assert recorder.next_mask() == EVENT_WRITE
        on_reactor(reactor, reactor.unregister, a)
        assert on_reactor(reactor, reactor.watched, a) == 0
        # Nothing is reported any more, however ready the socket is.
        b.send(b"y")
        on_reactor(reactor, lambda: None)  # one more round
        with contextlib.suppress(queue.Empty):
            while True:
                assert recorder.masks.get(timeout=0.2) == EVENT_WRITE  # from before


def test_registering_twice_and_modifying_unwatched_are_errors(reactor: Reactor) -> None:
    a, b = socket.socketpair()
    with a, b:
        recorder = Recorder()
        on_reactor(reactor, reactor.register, a, EVENT_READ, recorder)
        with pytest.raises(FileExistsError):
            on_reactor(reactor, reactor.register, a, EVENT_READ, recorder)
        with pytest.raises(FileNotFoundError):
            on_reactor(reactor, reactor.modify, b, EVENT_READ, recorder)
        on_reactor(reactor, reactor.unregister, a)
        on_reactor(reactor, reactor.unregister, a)  # harmless twice
        on_reactor(reactor, reactor.unregister, b)  # and when never watched


def test_a_hung_up_socket_is_reported_for_what_it_waits_for(reactor: Reactor) -> None:
    a, b = socket.socketpair()
    with a:
        a.setblocking(False)
        got: list[bytes] = []

        def read(mask: int) -> None:
            got.append(a.recv(4096))
            reactor.unregister(a)  # EOF: stop watching, as a connection would

        recorder = Recorder(read)
        on_reactor(reactor, reactor.register, a, EVENT_READ, recorder)
        b.close()
        assert recorder.next_mask() & EVENT_READ
        on_reactor(reactor, lambda: None)
        assert got == [b""]


def test_a_socket_closed_while_watched_can_be_unregistered_and_its_fd_reused(
    reactor: Reactor,
) -> None:
    a, b = socket.socketpair()
    with b:
        on_reactor(reactor, reactor.register, a, EVENT_READ, Recorder())
        a.close()
        on_reactor(reactor, reactor.unregister, a)
        c, d = socket.socketpair()  # likely to get a's file descriptor back
        with c, d:
            c.setblocking(False)
            recorder = Recorder(lambda mask: c.recv(4096))
            on_reactor(reactor, reactor.register, c, EVENT_READ, recorder)
            d.send(b"x")
            assert recorder.next_mask() == EVENT_READ
            on_reactor(reactor, reactor.unregister, c)


def test_a_handler_that_raises_does_not_stop_the_others(reactor: Reactor) -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    with a, b, c, d:
        a.setblocking(False)
        c.setblocking(False)

        def explode(mask: int) -> None:
            a.recv(4096)
            raise RuntimeError("handler bug")

        recorder = Recorder(lambda mask: c.recv(4096))
        on_reactor(reactor, reactor.register, a, EVENT_READ, Recorder(explode))
        on_reactor(reactor, reactor.register, c, EVENT_READ, recorder)
        b.send(b"x")
        d.send(b"y")
        assert recorder.next_mask() == EVENT_READ
        assert reactor.running


def test_timers_run_in_order_and_cancelled_ones_do_not(reactor: Reactor) -> None:
    ran: queue.Queue[str] = queue.Queue()
    cancelled = reactor.call_later(0.01, ran.put, "cancelled")
    cancelled.cancel()
    reactor.call_later(0.05, ran.put, "second")
    reactor.call_later(0.02, ran.put, "first")
    assert [ran.get(timeout=TIMEOUT), ran.get(timeout=TIMEOUT)] == ["first", "second"]
    with pytest.raises(queue.Empty):
        ran.get(timeout=0.1)


def test_calls_from_other_threads_wake_the_loop(reactor: Reactor) -> None:
    ran = threading.Event()
    reactor.call_soon(lambda: None)  # the loop may be asleep in the wait
    threading.Thread(target=reactor.call_soon, args=(ran.set,)).start()
    assert ran.wait(TIMEOUT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_server_and_client_on_each_backend_echo_in_order(backend: str) -> None:
    reactor = Reactor("test-server-reactor", backend=backend)
    server = wscli.Server("127.0.0.1", 0, reactor=reactor)
    try:
        server.on("connection", lambda ws, request: ws.on("message", lambda d, f: ws.send(d)))
        with wscli.connect(server.url, open_timeout=TIMEOUT) as client:
            for n in range(50):
                client.send(f"message {n}")
            assert [client.recv(TIMEOUT) for _ in range(50)] == [f"message {n}" for n in range(50)]
            big = b"x" * (3 * 2**20)  # more than one write: waits for writability
            client.send(big)
            assert client.recv(TIMEOUT) == big
    finally:
        server.close(timeout=TIMEOUT)
        reactor.stop()


def wait_for(predicate: Any, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


@pytest.mark.parametrize("backend", BACKENDS)
def test_replies_the_socket_takes_in_parts_arrive_whole_and_in_order(backend: str) -> None:
    # The server's socket takes little at a time and the client reads nothing for a
    # while: the first echo leaves in part at once, the rest queue behind it, the
    # socket is watched for writing until all of it left, then for reading only.
    reactor = Reactor("test-server-reactor", backend=backend)
    server = wscli.Server("127.0.0.1", 0, reactor=reactor)
    ends: queue.Queue[wscli.WebSocket] = queue.Queue()

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ws.on("message", lambda data, flags: ws.send(data))
        ends.put(ws)

    server.on("connection", on_connection)
    try:
        with wscli.connect(server.url, open_timeout=TIMEOUT) as client:
            end = ends.get(timeout=TIMEOUT)
            client.pause()
            payloads = [bytes([n]) * (256 * 1024 + n) for n in range(8)]
            for payload in payloads:
                client.send(payload, timeout=TIMEOUT)
            assert wait_for(lambda: on_reactor(reactor, reactor.watched, end.socket) & EVENT_WRITE)
            assert end.buffered_amount > 0
            client.resume()
            assert [client.recv(TIMEOUT) for _ in payloads] == payloads
            assert wait_for(lambda: on_reactor(reactor, reactor.watched, end.socket) == EVENT_READ)
            assert end.buffered_amount == 0
            # And the per-message path goes on as before.
            client.send(b"small")
            assert client.recv(TIMEOUT) == b"small"
    finally:
        server.close(timeout=TIMEOUT)
        reactor.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_send_callbacks_of_listener_replies_run_once_the_bytes_left(backend: str) -> None:
    reactor = Reactor("test-server-reactor", backend=backend)
    server = wscli.Server("127.0.0.1", 0, reactor=reactor)
    sent: queue.Queue[object] = queue.Queue()

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: ws.send(data, callback=sent.put))

    server.on("connection", on_connection)
    try:
        with wscli.connect(server.url, open_timeout=TIMEOUT) as client:
            for n in range(3):
                client.send(f"m{n}")
                assert client.recv(TIMEOUT) == f"m{n}"
                assert sent.get(timeout=TIMEOUT) is None
    finally:
        server.close(timeout=TIMEOUT)
        reactor.stop()
