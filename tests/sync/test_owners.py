"""The threaded layer's owners under hostile use: the send side, event order, listener
faults, timers that let go, and senders that cannot wait.

Each test plays the peer or the application that used to break an invariant: a stream
that raises half-way, a second thread sending mid-stream, listeners attached late, a
listener calling ``sys.exit()``, connection churn, and a relay to a client that never
reads.
"""

from __future__ import annotations

import gc
import queue
import socket
import sys
import threading
import weakref
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT
from .test_faults import Accepted, RawClient, client_frame, serving, wait_for


class StuckClient(RawClient):
    """A client that upgrades and then never reads, with a small receive window.

    The kernel still buffers a few MiB on the server's side of the socket; the tests
    send well past that, so what piles up beyond it is the library's to bound.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.buf = bytearray()


class Recorder:
    """A server that records, per connection, every message and the close code."""

    def __init__(self, server: wscli.Server) -> None:
        self.messages: queue.Queue[str | bytes] = queue.Queue()
        self.closes: queue.Queue[int] = queue.Queue()
        server.on("connection", self._on_connection)

    def _on_connection(self, ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: self.messages.put(data))
        ws.on("close", lambda code, reason: self.closes.put(code))

    def next_message(self) -> str | bytes:
        return self.messages.get(timeout=TIMEOUT)


@pytest.fixture
def recorder() -> Any:
    server = wscli.Server("127.0.0.1", 0)
    recorder = Recorder(server)
    yield server, recorder
    server.close(timeout=TIMEOUT)


# -- 1. a stream never glues the next message ---------------------------------------------


def test_exception_inside_stream_fails_1011_and_never_glues_the_next_message(
    recorder: Any,
) -> None:
    server, record = recorder
    ws = wscli.connect(server.url)
    with pytest.raises(RuntimeError, match="producer failed"):
        with ws.stream(binary=True) as out:
            out.write(b"half-")
            raise RuntimeError("producer failed")
    with pytest.raises(wscli.ConnectionClosed):
        ws.send("next message")
    assert record.closes.get(timeout=TIMEOUT) == 1011
    assert ws.wait_closed(TIMEOUT)
    assert ws.close_sent is not None and ws.close_sent.code == 1011
    assert record.messages.empty()  # neither b"half-next message" nor a truncated b"half-"


def test_exception_before_the_first_write_leaves_the_connection_usable(recorder: Any) -> None:
    server, record = recorder
    with wscli.connect(server.url) as ws:
        with pytest.raises(KeyError):
            with ws.stream() as _out:
                raise KeyError("nothing sent yet")
        ws.send("after")
        assert record.next_message() == "after"


def test_binary_send_while_a_text_message_is_open_is_invalid_state(recorder: Any) -> None:
    server, record = recorder
    with wscli.connect(server.url) as ws:
        ws.send("te", fin=False)
        with pytest.raises(wscli.InvalidState, match="text message"):
            ws.send(b"binary", fin=False)
        with pytest.raises(wscli.InvalidState):
            ws.send(b"binary")
        ws.send("xt")
        ws.send(b"then binary")
        assert record.next_message() == "text"
        assert record.next_message() == b"then binary"


# -- 2. a fragmented message owns the send side --------------------------------------------


def test_other_threads_send_waits_for_the_stream_to_end(recorder: Any) -> None:
    server, record = recorder
    with wscli.connect(server.url) as ws:
        errors: list[BaseException] = []
        started = threading.Event()

        def other() -> None:
            started.set()
            try:
                ws.send("other", timeout=TIMEOUT)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        with ws.stream() as out:
            out.write("one ")
            thread = threading.Thread(target=other)
            thread.start()
            assert started.wait(TIMEOUT)
            # Whether or not the other thread reached send() yet, it may not cut in.
            out.write("two")
        thread.join(TIMEOUT)
        assert not errors
        assert record.next_message() == "one two"
        assert record.next_message() == "other"


def test_other_threads_send_times_out_while_a_stream_stays_open(recorder: Any) -> None:
    server, record = recorder
    with wscli.connect(server.url) as ws:
        outcome: queue.Queue[BaseException | None] = queue.Queue()

        def other() -> None:
            try:
                ws.send("other", timeout=0.2)
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcome.put(exc)
            else:
                outcome.put(None)

        with ws.stream() as out:
            out.write("kept open")
            thread = threading.Thread(target=other)
            thread.start()
            error = outcome.get(timeout=TIMEOUT)  # the stream stays open until it failed
            out.write(" until the other sender gave up")
        thread.join(TIMEOUT)
        assert isinstance(error, TimeoutError)
        assert record.next_message() == "kept open until the other sender gave up"
        ws.send("last")
        assert record.next_message() == "last"


def test_listener_send_during_a_user_stream_is_held_until_it_ends() -> None:
    server = wscli.Server("127.0.0.1", 0)
    accepted = Accepted(server)
    replied = threading.Event()
    try:
        client = wscli.connect(server.url)
        server_ws = accepted.next_open()

        def on_message(data: Any, flags: Any) -> None:
            server_ws.send("reply from a listener")  # reactor thread: cannot wait
            replied.set()

        server_ws.on("message", on_message)
        with server_ws.stream() as out:
            out.write("streamed ")
            client.send("trigger")
            assert replied.wait(TIMEOUT)
            out.write("by a user thread")
        assert client.recv(TIMEOUT) == "streamed by a user thread"
        assert client.recv(TIMEOUT) == "reply from a listener"
        client.close()
    finally:
        server.close(timeout=TIMEOUT)


# -- 3. one ordered stream of events per connection -----------------------------------------


def _greeting_server(count: int) -> wscli.Server:
    server = wscli.Server("127.0.0.1", 0)

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        for index in range(count):
            ws.send(str(index))
        ws.close(1000)

    server.on("connection", on_connection)
    return server


def _record_events(ws: wscli.WebSocket, events: list[Any], *, message_first: bool) -> None:
    def on_open() -> None:
        events.append("open")

    def on_message(data: Any, flags: Any) -> None:
        events.append(data)

    def on_close(code: int, reason: str) -> None:
        events.append(("close", code))

    if message_first:
        ws.on("message", on_message)
        ws.on("open", on_open)
    else:
        ws.on("open", on_open)
        ws.on("message", on_message)
    ws.on("close", on_close)


def test_listeners_attached_at_once_see_open_then_messages_then_close() -> None:
    count = 20
    server = _greeting_server(count)
    try:
        for attempt in range(30):
            ws = wscli.WebSocket(server.url)
            events: list[Any] = []
            _record_events(ws, events, message_first=False)
            assert ws.wait_closed(TIMEOUT)
            expected = ["open", *(str(i) for i in range(count)), ("close", 1000)]
            assert wait_for(lambda e=events, x=expected: len(e) >= len(x))
            assert events == expected, f"attempt {attempt}"
    finally:
        server.close(timeout=TIMEOUT)


@pytest.mark.parametrize("message_first", [False, True], ids=["open-first", "message-first"])
def test_late_listeners_get_what_they_missed_in_order_before_anything_newer(
    message_first: bool,
) -> None:
    server = wscli.Server("127.0.0.1", 0)
    accepted = Accepted(server)
    try:
        ws = wscli.WebSocket(server.url)
        server_ws = accepted.next_open()
        server_ws.send("early 0")
        server_ws.send("early 1")
        assert wait_for(lambda: ws.unread_messages == 2)
        events: list[Any] = []
        # Messages keep arriving while the listeners are attached.
        sender = threading.Thread(target=lambda: [server_ws.send(f"late {i}") for i in range(200)])
        sender.start()
        _record_events(ws, events, message_first=message_first)
        sender.join(TIMEOUT)
        server_ws.close(1000)
        assert ws.wait_closed(TIMEOUT)
        messages = ["early 0", "early 1", *(f"late {i}" for i in range(200))]
        assert wait_for(lambda: len(events) == len(messages) + 2)
        if message_first:
            # The message listener came first and had the messages; open was still
            # missed when the open listener came, and it is told before anything newer.
            assert [e for e in events if e != "open"] == [*messages, ("close", 1000)]
            assert events.count("open") == 1
        else:
            assert events == ["open", *messages, ("close", 1000)]
    finally:
        server.close(timeout=TIMEOUT)


# -- 4. a listener's fault never kills the reactor ------------------------------------------


def test_sys_exit_in_a_server_listener_does_not_stop_the_server() -> None:
    server = wscli.Server("127.0.0.1", 0)
    errors: queue.Queue[BaseException] = queue.Queue()

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("error", errors.put)

        def on_message(data: Any, flags: Any) -> None:
            if data == "exit":
                sys.exit(3)
            ws.send(data)

        ws.on("message", on_message)

    server.on("connection", on_connection)
    try:
        with wscli.connect(server.url) as first:
            first.send("exit")
            assert isinstance(errors.get(timeout=TIMEOUT), SystemExit)
            first.send("same connection")
            assert first.recv(TIMEOUT) == "same connection"
        with wscli.connect(server.url, open_timeout=TIMEOUT) as second:
            second.send("new connection")
            assert second.recv(TIMEOUT) == "new connection"
    finally:
        server.close(timeout=TIMEOUT)


def test_base_exception_in_a_client_listener_leaves_other_clients_served() -> None:
    with serving() as server:
        doomed = wscli.WebSocket(server.url)
        doomed.on("open", lambda: doomed.send("x"))

        class Escape(BaseException):
            pass

        def escape(data: Any, flags: Any) -> None:
            raise Escape("out of the listener")

        errors: queue.Queue[BaseException] = queue.Queue()
        doomed.on("error", errors.put)
        doomed.on("message", escape)
        assert isinstance(errors.get(timeout=TIMEOUT), Escape)
        # The shared client reactor still serves every connection of the process.
        with wscli.connect(server.url, open_timeout=TIMEOUT) as other:
            other.send("still served")
            assert other.recv(TIMEOUT) == "still served"
        doomed.close()


def test_reactor_survives_system_exit_in_a_callback() -> None:
    reactor = wscli.Reactor("test-reactor").start()
    try:
        done = threading.Event()
        reactor.call_soon(sys.exit, 1)
        reactor.call_later(0.01, done.set)
        assert done.wait(TIMEOUT)
        assert reactor.running
    finally:
        reactor.stop()


# -- 5. closed connections are released at once --------------------------------------------


def test_cancelled_timers_release_what_they_hold_at_once() -> None:
    reactor = wscli.Reactor("test-reactor").start()
    try:

        class Payload:
            pass

        payload = Payload()
        ref = weakref.ref(payload)
        handle = reactor.call_later(3600, lambda p: None, payload)
        del payload
        handle.cancel()
        gc.collect()
        assert ref() is None
        handles = [reactor.call_later(3600, print) for _ in range(1000)]
        for handle in handles:
            handle.cancel()
        flushed = threading.Event()
        reactor.call_later(0, flushed.set)  # a timer round compacts the heap
        assert flushed.wait(TIMEOUT)
        assert wait_for(lambda: reactor.timer_count() < 100)
    finally:
        reactor.stop()


def test_connection_churn_leaves_no_connection_alive_before_any_timeout() -> None:
    # close_timeout and open_timeout are long: nothing may wait for them.
    server = wscli.Server(
        "127.0.0.1", 0, close_timeout=60, open_timeout=60, ping_interval=60, ping_timeout=60
    )
    refs: list[weakref.ref[Any]] = []
    server.on("connection", lambda ws, req: refs.append(weakref.ref(ws)))
    server.on("connection", lambda ws, req: ws.on("message", lambda d, f: ws.send(d)))
    try:
        for _ in range(100):
            with wscli.connect(
                server.url, close_timeout=60, ping_interval=60, ping_timeout=60
            ) as ws:
                refs.append(weakref.ref(ws))
                ws.send("x")
                assert ws.recv(TIMEOUT) == "x"
            del ws
        assert wait_for(lambda: not server.clients)
        assert wait_for(lambda: (gc.collect(), sum(ref() is not None for ref in refs))[1] == 0)
    finally:
        server.close(timeout=TIMEOUT)


# -- 6. every sender is bounded ---------------------------------------------------------------


def test_listener_relaying_to_a_client_that_never_reads_drops_it_with_1013() -> None:
    limit = 64 * 1024
    server = wscli.Server("127.0.0.1", 0, write_limit=limit, close_timeout=0.5)
    accepted = Accepted(server)
    stuck_ws: list[wscli.WebSocket] = []
    peaks: list[int] = []
    raised: list[BaseException] = []

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        if not stuck_ws:
            stuck_ws.append(ws)
            return

        def relay(data: Any, flags: Any) -> None:
            target = stuck_ws[0]
            try:
                target.send(data)
            except wscli.ConnectionClosed as exc:
                raised.append(exc)
            peaks.append(target.buffered_amount)
            ws.send("ack")

        ws.on("message", relay)

    server.on("connection", on_connection)
    try:
        with StuckClient(server.port or 0) as stuck:
            stuck.upgrade()  # and never reads again
            accepted.next_open()
            assert wait_for(lambda: bool(stuck_ws))
            with wscli.connect(server.url) as source:
                accepted.next_open()
                chunk = b"x" * 16384
                for _ in range(1024):  # 16 MiB, past what the kernel buffers
                    source.send(chunk)
                    assert source.recv(TIMEOUT) == "ack"
            _, code = accepted.next_close()
            assert stuck_ws[0].close_sent is not None
            assert stuck_ws[0].close_sent.code == 1013
            assert raised, "the send that found the buffer full must say so"
            assert max(peaks) <= 4 * limit + len(chunk)
    finally:
        server.close(timeout=TIMEOUT)


def test_broadcast_from_a_user_thread_drops_a_client_that_never_reads_and_loses_nothing_else() -> (
    None
):
    limit = 64 * 1024
    server = wscli.Server("127.0.0.1", 0, write_limit=limit, close_timeout=0.5)
    accepted = Accepted(server)
    try:
        with StuckClient(server.port or 0) as stuck:
            stuck.upgrade()
            stuck_ws = accepted.next_open()
            with wscli.connect(server.url) as reader:
                accepted.next_open()
                chunk = "y" * 16384
                delivered = []
                for index in range(1024):  # 16 MiB, past what the kernel buffers
                    delivered.append(server.broadcast(f"{index:04d}{chunk}"))
                    assert stuck_ws.buffered_amount <= 4 * limit + len(chunk) + 16
                    # The reader reads: it gets every message, in order.
                    assert reader.recv(TIMEOUT)[:4] == f"{index:04d}"
                assert delivered[0] == 2
                assert delivered[-1] == 1  # the stuck client was dropped, not waited for
            assert wait_for(lambda: stuck_ws.finished)
            assert stuck_ws.close_sent is not None and stuck_ws.close_sent.code == 1013
    finally:
        server.close(timeout=TIMEOUT)


def test_relay_through_broadcast_paces_the_sender_to_a_slow_reader_without_loss() -> None:
    limit = 128 * 1024
    server = wscli.Server("127.0.0.1", 0, write_limit=limit)
    accepted = Accepted(server)
    try:
        slow = wscli.connect(server.url, max_queue=4)
        slow_ws = accepted.next_open()
        source = wscli.connect(server.url)
        source_ws = accepted.next_open()
        peaks: list[int] = []

        def relay(data: Any, flags: Any) -> None:
            assert wscli.broadcast([slow_ws], data) == 1
            peaks.append(slow_ws.buffered_amount)

        source_ws.on("message", relay)
        chunk = b"s" * 16384
        count = 1024  # 16 MiB
        sender = threading.Thread(target=lambda: [source.send(chunk) for _ in range(count)])
        sender.start()
        received = 0
        for _ in range(count):
            assert slow.recv(TIMEOUT) == chunk
            received += 1
            if received % 256 == 0:
                threading.Event().wait(0.05)  # a slow but honest reader
        sender.join(TIMEOUT)
        assert received == count
        # The relay held the sender back instead of buffering for the slow reader: the
        # buffer passed write_limit by at most what one read of the source relayed.
        assert max(peaks) <= limit + 256 * 1024 + len(chunk)
        source.close()
        slow.close()
    finally:
        server.close(timeout=TIMEOUT)


def test_module_broadcast_from_a_listener_never_blocks() -> None:
    server = wscli.Server("127.0.0.1", 0, write_limit=32 * 1024, close_timeout=0.5)
    accepted = Accepted(server)
    try:
        with StuckClient(server.port or 0) as stuck:
            stuck.upgrade()
            accepted.next_open()
            with wscli.connect(server.url) as talker:
                talker_ws = accepted.next_open()
                counts: queue.Queue[int] = queue.Queue()
                talker_ws.on(
                    "message",
                    lambda data, flags: counts.put(wscli.broadcast(server.clients, data)),
                )
                for _ in range(800):  # 6.4 MiB
                    talker.send(b"z" * 8192)
                    assert counts.get(timeout=TIMEOUT) >= 1
                    assert talker.recv(TIMEOUT) == b"z" * 8192
            stuck.send(client_frame(0x8, b"\x03\xe8"))
    finally:
        server.close(timeout=TIMEOUT)


# -- memory per idle connection -------------------------------------------------------------


@pytest.mark.parametrize("keep", [False, True], ids=["default", "keep_request"])
def test_request_headers_are_dropped_after_the_handshake_unless_kept(keep: bool) -> None:
    server = wscli.Server("127.0.0.1", 0, keep_request=keep)
    seen: queue.Queue[Any] = queue.Queue()
    accepted = Accepted(server)
    server.on("connection", lambda ws, request: seen.put(request.headers.get("X-Token")))
    try:
        with wscli.connect(server.url + "/room?x=1", headers={"X-Token": "secret"}):
            server_ws = accepted.next_open()
            assert seen.get(timeout=TIMEOUT) == "secret"  # listeners get it whole
            assert server_ws.request is not None
            assert server_ws.request.path == "/room?x=1"
            kept = server_ws.request.headers.get("X-Token")
            assert kept == ("secret" if keep else None)
    finally:
        server.close(timeout=TIMEOUT)


def test_the_servers_end_has_every_attribute_a_websocket_documents() -> None:
    server = wscli.Server("127.0.0.1", 0)
    accepted = Accepted(server)
    try:
        with wscli.connect(server.url) as client:
            ws = accepted.next_open()
            assert isinstance(ws, wscli.WebSocket)
            # It follows no redirect and was sent nowhere.
            assert ws.redirects == [] and len(client.redirects) == 1
            assert ws.follow_redirects is False and ws.max_redirects == 0
            assert ws.allow_insecure_redirect is False and ws.location_trusted is False
    finally:
        server.close(timeout=TIMEOUT)
