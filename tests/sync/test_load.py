"""Load on loopback, bounded in count and time: many connections, churn with faults, floods.

* 2,000 concurrent raw clients against one ``wscli.Server``, each echoing, all open at once;
* 2,000 ``wscli.WebSocket`` clients on the shared client reactor, same check;
* connections that fail in every way at once, while a well-behaved client is served;
* ping floods from many clients.

The 10,000-idle-connection figure (memory per connection) is ``benchmarks/idle_connections.py``.
Both ends of each connection live in this process, so the open-file limit is raised first.
"""

from __future__ import annotations

import contextlib
import errno
import random
import resource
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT
from .test_faults import (
    RawClient,
    client_frame,
    serving,
    upgrade_request,
    wait_for,
)

CONNECTIONS = 2000
#: Both ends in this process, plus the test runner's own files.
FILES_NEEDED = 2 * CONNECTIONS + 256
#: Upper bound for one load test; they take a few seconds on a laptop.
LOAD_DEADLINE = 12 * TIMEOUT


@pytest.fixture(scope="module", autouse=True)
def enough_files() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FILES_NEEDED if hard == resource.RLIM_INFINITY else min(hard, 4 * FILES_NEEDED)
    if wanted < FILES_NEEDED:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {FILES_NEEDED} needed for {CONNECTIONS}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class WellBehaved:
    """A client echoing in a loop on its own thread while the test runs; counts answers."""

    def __init__(self, server: wscli.Server) -> None:
        self.server = server
        self.answers = 0
        self.failures: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="well-behaved", daemon=True)

    def _run(self) -> None:
        try:
            with wscli.connect(self.server.url, open_timeout=TIMEOUT) as ws:
                while True:
                    ws.send(f"ping {self.answers}")
                    assert ws.recv(TIMEOUT) == f"ping {self.answers}"
                    self.answers += 1
                    if self._stop.wait(0.01):
                        break
        except BaseException as exc:
            self.failures.append(exc)

    def __enter__(self) -> WellBehaved:
        self._thread.start()
        # Connected and answered once before the load starts, so it is there throughout.
        assert wait_for(lambda: self.answers or self.failures)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(2 * TIMEOUT)
        assert not self._thread.is_alive()
        assert self.failures == []
        assert self.answers > 1


# -- 2,000 raw clients, driven from one selector --------------------------------------------


class _Echoer:
    """One raw client: connect, upgrade, send one message, read its echo, stay open."""

    __slots__ = ("sock", "payload", "request", "inbuf", "upgraded", "done")

    def __init__(self, port: int, index: int) -> None:
        self.sock = socket.socket()
        self.sock.setblocking(False)
        err = self.sock.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, "connect failed")
        self.payload = b"echo %06d " % index + random.randbytes(16).hex().encode()
        self.request = upgrade_request()
        self.inbuf = b""
        self.upgraded = False
        self.done = False

    def writable(self) -> None:
        self.sock.sendall(self.request)  # a few hundred bytes: fits any socket buffer

    def readable(self) -> bool:
        """Read what came; return True once the echo arrived intact."""
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection")
        self.inbuf += data
        if not self.upgraded:
            if b"\r\n\r\n" not in self.inbuf:
                return False
            head, _, self.inbuf = self.inbuf.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101 "), head
            self.upgraded = True
            self.sock.sendall(client_frame(0x1, self.payload))
        expected = bytes([0x81, len(self.payload)]) + self.payload
        if len(self.inbuf) < len(expected):
            return False
        assert self.inbuf == expected
        self.done = True
        return True


def _drive(clients: list[_Echoer], deadline: float) -> None:
    selector = selectors.DefaultSelector()
    try:
        for client in clients:
            selector.register(client.sock, selectors.EVENT_WRITE, client)
        pending = len(clients)
        while pending and time.monotonic() < deadline:
            for key, mask in selector.select(0.5):
                client = key.data
                if mask & selectors.EVENT_WRITE:
                    client.writable()
                    selector.modify(client.sock, selectors.EVENT_READ, client)
                elif client.readable():
                    selector.unregister(client.sock)
                    pending -= 1
    finally:
        selector.close()


@pytest.mark.slow
def test_2000_concurrent_raw_connections_each_echo() -> None:
    with serving(max_queue=4, open_timeout=LOAD_DEADLINE) as server, WellBehaved(server):
        started = time.monotonic()
        clients = [_Echoer(server.port, index) for index in range(CONNECTIONS)]
        try:
            _drive(clients, started + LOAD_DEADLINE)
            done = sum(client.done for client in clients)
            assert done == CONNECTIONS
            # All of them are open at the same time, each having had its echo.
            assert wait_for(lambda: len(server.clients) == CONNECTIONS + 1)  # + well-behaved
            elapsed = time.monotonic() - started
        finally:
            for client in clients:
                client.sock.close()
        assert wait_for(lambda: server.connection_count <= 1, timeout=LOAD_DEADLINE)
    print(f"\n{CONNECTIONS} raw connections upgraded and echoed in {elapsed:.2f} s")


@pytest.mark.slow
def test_2000_concurrent_websocket_clients_each_echo() -> None:
    """The client side of the library under the same load: one shared reactor."""
    with serving() as server, WellBehaved(server):
        started = time.monotonic()
        lock = threading.Lock()
        echoed: list[int] = []
        errors: list[Any] = []
        all_echoed = threading.Event()
        clients: list[wscli.WebSocket] = []

        def on_message(index: int) -> Callable[[Any, Any], None]:
            def listener(data: Any, flags: Any) -> None:
                if data != f"client {index}":
                    errors.append((index, data))
                with lock:
                    echoed.append(index)
                    if len(echoed) == CONNECTIONS:
                        all_echoed.set()

            return listener

        def open_batch(indices: range) -> None:
            for index in indices:
                ws = wscli.connect(server.url, open_timeout=LOAD_DEADLINE)
                ws.on("message", on_message(index))
                ws.on("error", errors.append)
                with lock:
                    clients.append(ws)
                ws.send(f"client {index}")

        try:
            batches = [range(start, CONNECTIONS, 16) for start in range(16)]
            with ThreadPoolExecutor(16) as pool:
                for future in [pool.submit(open_batch, batch) for batch in batches]:
                    future.result(LOAD_DEADLINE)
            assert all_echoed.wait(LOAD_DEADLINE)
            assert errors == []
            assert sorted(echoed) == list(range(CONNECTIONS))
            assert len(server.clients) == CONNECTIONS + 1  # and the well-behaved one
            elapsed = time.monotonic() - started
        finally:
            for ws in clients:
                ws.close()
        for ws in clients:
            assert ws.wait_closed(TIMEOUT)
            assert ws.close_code == 1000
    print(f"\n{CONNECTIONS} wscli clients connected and echoed in {elapsed:.2f} s")


# -- churn: every fault at once --------------------------------------------------------------


def _misbehave(port: int, how: str) -> None:
    with contextlib.suppress(OSError, EOFError, AssertionError):
        client = RawClient(port)
        try:
            if how == "stall-handshake":
                client.send(upgrade_request()[:50])
                client.wait_eof(4 * TIMEOUT)
                return
            if how == "garbage":
                client.send(b"\x16\x03\x01garbage\r\n\r\n")
                client.wait_eof()
                return
            if how == "reset-mid-handshake":
                client.send(upgrade_request()[:50])
                client.reset()
                return
            client.upgrade()
            if how == "reset-mid-frame":
                client.send(client_frame(0x2, b"x" * 4000)[:1000])
                client.reset()
            elif how == "half-close-mid-frame":
                client.send(client_frame(0x2, b"x" * 4000)[:1000])
                client.half_close()
                client.wait_eof()
            elif how == "bad-frame":
                client.send(b"\x8f\x80\0\0\0\0")  # reserved opcode
                assert client.read_close() == 1002
            elif how == "oversized":
                client.send(client_frame(0x2, length=2**40))
                assert client.read_close() == 1009
            elif how == "vanish-mid-close":
                client.send(client_frame(0x8, struct.pack("!H", 1000)))
                client.reset()
            elif how == "pings":
                for index in range(50):
                    client.send(client_frame(0x9, b"%d" % index))
                for index in range(50):
                    assert client.read_frame() == (0xA, b"%d" % index)
        finally:
            client.close()


FAULTS = [
    "stall-handshake",
    "garbage",
    "reset-mid-handshake",
    "reset-mid-frame",
    "half-close-mid-frame",
    "bad-frame",
    "oversized",
    "vanish-mid-close",
    "pings",
]


def test_faults_of_every_kind_at_once_while_a_client_is_served() -> None:
    with serving(open_timeout=0.5, close_timeout=0.5) as server, WellBehaved(server):
        kinds = [FAULTS[index % len(FAULTS)] for index in range(450)]
        random.Random(7).shuffle(kinds)
        with ThreadPoolExecutor(32) as pool:
            for future in [pool.submit(_misbehave, server.port, how) for how in kinds]:
                future.result(LOAD_DEADLINE)
        # Everything that misbehaved is gone; only the well-behaved client remains.
        assert wait_for(lambda: server.connection_count <= 1, timeout=LOAD_DEADLINE)


def test_ping_floods_from_many_clients_are_all_answered() -> None:
    def flood_and_check(port: int) -> None:
        with RawClient(port).upgrade() as client:
            pings = [random.randbytes(random.randrange(126)) for _ in range(500)]
            sender = threading.Thread(
                target=client.send, args=(b"".join(client_frame(0x9, p) for p in pings),)
            )
            sender.start()
            for payload in pings:
                assert client.read_frame() == (0xA, payload)
            sender.join(TIMEOUT)

    with serving() as server, WellBehaved(server):
        with ThreadPoolExecutor(50) as pool:
            for future in [pool.submit(flood_and_check, server.port) for _ in range(50)]:
                future.result(LOAD_DEADLINE)
