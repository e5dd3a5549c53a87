"""The ws-style WebSocket over real loopback sockets: events, W3C handlers, blocking use."""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT


def wait_for(predicate: Any, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_connect_send_recv_text_and_binary(echo_server: wscli.Server) -> None:
    with wscli.connect(echo_server.url) as ws:
        assert ws.ready_state == wscli.WebSocket.OPEN
        assert ws.protocol_version == 13
        assert ws.url == echo_server.url + "/"
        ws.send("héllo")
        assert ws.recv(TIMEOUT) == "héllo"
        ws.send(b"\x00\x01\x02")
        assert ws.recv(TIMEOUT) == b"\x00\x01\x02"
        ws.send("as bytes", binary=True)
        assert ws.recv(TIMEOUT) == b"as bytes"
        ws.send(b"as text", binary=False)
        assert ws.recv(TIMEOUT) == "as text"
        assert ws.bytes_received > 0
    assert ws.ready_state == wscli.WebSocket.CLOSED
    assert ws.close_code == 1000


def test_events_in_order_with_listener_attached_after_construction(
    echo_server: wscli.Server,
) -> None:
    events: queue.Queue[tuple[Any, ...]] = queue.Queue()
    ws = wscli.WebSocket(echo_server.url)
    ws.on("open", lambda: (events.put(("open",)), ws.send("one"), ws.send(b"two")))
    ws.on("message", lambda data, flags: events.put(("message", data, flags.binary)))
    ws.on("close", lambda code, reason: events.put(("close", code, reason)))
    assert events.get(timeout=TIMEOUT) == ("open",)
    assert events.get(timeout=TIMEOUT) == ("message", "one", False)
    assert events.get(timeout=TIMEOUT) == ("message", b"two", True)
    ws.close(4000, "done")
    assert events.get(timeout=TIMEOUT) == ("close", 4000, "done")


def test_late_listeners_catch_up_on_open_and_queued_messages(echo_server: wscli.Server) -> None:
    ws = wscli.connect(echo_server.url)  # already open: "open" was emitted to nobody
    ws.send("early")
    assert wait_for(lambda: ws.unread_messages == 1)
    got: queue.Queue[Any] = queue.Queue()
    ws.on("open", lambda: got.put("open"))
    ws.on("message", lambda data, flags: got.put(data))
    assert got.get(timeout=TIMEOUT) == "open"
    assert got.get(timeout=TIMEOUT) == "early"
    ws.close()


def test_error_event_reaches_a_late_listener_for_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ws = wscli.WebSocket(f"ws://127.0.0.1:{port}")
    assert ws.wait_closed(TIMEOUT)
    errors: queue.Queue[Any] = queue.Queue()
    ws.on("error", errors.put)
    error = errors.get(timeout=TIMEOUT)
    assert isinstance(error, wscli.ConnectFailed)
    assert "refused" in str(error)
    assert ws.close_code == 1006


def test_w3c_handlers(echo_server: wscli.Server) -> None:
    got: queue.Queue[Any] = queue.Queue()
    ws = wscli.WebSocket(echo_server.url)
    ws.onopen = lambda event: (got.put(event.type), event.target.send("w3c"))
    ws.onmessage = lambda event: (got.put((event.type, event.data)), ws.close(1000, "ok"))
    ws.onclose = lambda event: got.put((event.type, event.code, event.reason, event.was_clean))
    assert got.get(timeout=TIMEOUT) == "open"
    assert got.get(timeout=TIMEOUT) == ("message", "w3c")
    assert got.get(timeout=TIMEOUT) == ("close", 1000, "ok", True)
    assert ws.onmessage is not None


def test_add_and_remove_event_listener(echo_server: wscli.Server) -> None:
    got: list[Any] = []
    ws = wscli.connect(echo_server.url)

    def listener(event: Any) -> None:
        got.append(event.data)

    ws.add_event_listener("message", listener)
    ws.send("a")
    assert wait_for(lambda: got == ["a"])
    ws.remove_event_listener("message", listener)
    ws.send("b")
    assert ws.recv(TIMEOUT) == "b"  # no listener: it went to the queue
    assert got == ["a"]
    ws.close()


def test_listener_exception_goes_to_error_and_io_continues(echo_server: wscli.Server) -> None:
    errors: queue.Queue[Any] = queue.Queue()
    ws = wscli.connect(echo_server.url)
    seen: list[str] = []

    def broken(data: Any, flags: Any) -> None:
        seen.append(data)
        raise RuntimeError("listener bug")

    ws.on("error", errors.put)
    ws.on("message", broken)
    ws.send("x")
    ws.send("y")
    assert isinstance(errors.get(timeout=TIMEOUT), RuntimeError)
    assert isinstance(errors.get(timeout=TIMEOUT), RuntimeError)
    assert seen == ["x", "y"]
    assert ws.ready_state == ws.OPEN
    ws.close()


def test_once_and_off(echo_server: wscli.Server) -> None:
    calls: list[Any] = []
    ws = wscli.connect(echo_server.url)
    ws.once("pong", lambda data: calls.append(("once", data)))

    def every(data: bytes) -> None:
        calls.append(("every", data))

    ws.on("pong", every)
    ws.ping(b"1").wait(TIMEOUT)
    ws.off("pong", every)
    ws.ping(b"2").wait(TIMEOUT)
    assert wait_for(lambda: len(calls) >= 2)
    time.sleep(0.05)
    assert calls == [("once", b"1"), ("every", b"1")]
    ws.close()


def test_ping_waiter_measures_latency(echo_server: wscli.Server) -> None:
    with wscli.connect(echo_server.url) as ws:
        latency = ws.ping("x").wait(TIMEOUT)
        assert 0 <= latency < TIMEOUT
        with pytest.raises(ValueError):
            ws.ping(b"x" * 126)


def test_recv_timeout_and_iteration_end(echo_server: wscli.Server) -> None:
    ws = wscli.connect(echo_server.url)
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0.05)
    ws.send("last")
    ws.close()
    assert list(ws) == ["last"]
    with pytest.raises(wscli.ConnectionClosedOK):
        ws.recv(TIMEOUT)


def test_two_readers_raise_concurrency_error(echo_server: wscli.Server) -> None:
    ws = wscli.connect(echo_server.url)
    reader = threading.Thread(
        target=lambda: pytest.raises(wscli.ConnectionClosed, ws.recv, TIMEOUT)
    )
    reader.start()
    assert wait_for(lambda: getattr(ws, "_receiving", False))
    with pytest.raises(wscli.ConcurrencyError):
        ws.recv(0.1)
    ws.close()
    reader.join(TIMEOUT)


def test_send_after_close_raises_connection_closed(echo_server: wscli.Server) -> None:
    ws = wscli.connect(echo_server.url)
    ws.close()
    assert ws.ready_state in (ws.CLOSING, ws.CLOSED)
    with pytest.raises(wscli.ConnectionClosed):
        ws.send("too late")
    assert ws.wait_closed(TIMEOUT)
    with pytest.raises(wscli.ConnectionClosedOK):
        ws.send("way too late")
    ws.close()  # closing twice is harmless


def test_close_validates_code_and_reason(echo_server: wscli.Server) -> None:
    with wscli.connect(echo_server.url) as ws:
        with pytest.raises(ValueError):
            ws.close(1005)
        with pytest.raises(ValueError):
            ws.close(1000, "x" * 124)
        assert ws.ready_state == ws.OPEN


def test_stream_and_fin_fragments(echo_server: wscli.Server) -> None:
    with wscli.connect(echo_server.url) as ws:
        with ws.stream(binary=True) as out:
            out.write(b"ab")
            out.write(b"cd")
        assert ws.recv(TIMEOUT) == b"abcd"
        ws.send("x", fin=False)
        ws.send("y", fin=False)
        ws.send("z")
        assert ws.recv(TIMEOUT) == "xyz"


def test_send_callback_runs_once_written(echo_server: wscli.Server) -> None:
    done: queue.Queue[Any] = queue.Queue()
    with wscli.connect(echo_server.url) as ws:
        ws.send("payload", callback=done.put)
        assert done.get(timeout=TIMEOUT) is None
        assert ws.recv(TIMEOUT) == "payload"


def test_mask_option_must_match_side(echo_server: wscli.Server) -> None:
    with wscli.connect(echo_server.url) as ws:
        with pytest.raises(ValueError):
            ws.send("x", mask=False)
        ws.send("x", mask=True)
        assert ws.recv(TIMEOUT) == "x"


def test_terminate_drops_without_handshake(echo_server: wscli.Server) -> None:
    ws = wscli.connect(echo_server.url)
    ws.terminate()
    assert ws.wait_closed(TIMEOUT)
    assert ws.close_code == 1006
    with pytest.raises(wscli.ConnectionClosedError):
        ws.recv(TIMEOUT)


def test_open_timeout_when_server_never_answers() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            wscli.connect(f"ws://127.0.0.1:{port}", open_timeout=0.3)
        assert time.monotonic() - started < TIMEOUT


def test_refused_upgrade_keeps_response() -> None:
    server = wscli.Server("127.0.0.1", 0, verify_client=lambda info: (False, 403, "go away"))
    try:
        with pytest.raises(wscli.InvalidStatus) as info:
            wscli.connect(server.url)
        assert info.value.status_code == 403
        assert b"go away" in info.value.response.body or info.value.response.status_code == 403
    finally:
        server.close()


def test_invalid_uri_is_a_clear_error() -> None:
    with pytest.raises(wscli.InvalidURI):
        wscli.connect("ftp://example.com/")
    with pytest.raises(wscli.InvalidURI):
        wscli.WebSocket("ws://")


def test_unresolvable_host_fails_with_one_line() -> None:
    with pytest.raises(wscli.ConnectFailed) as info:
        wscli.connect("ws://no-such-host.invalid/", open_timeout=TIMEOUT)
    assert "no-such-host.invalid" in str(info.value)
    assert "\n" not in str(info.value)


def test_pause_stops_reading_and_resume_restarts(echo_server: wscli.Server) -> None:
    with wscli.connect(echo_server.url) as ws:
        ws.pause()
        assert ws.is_paused
        ws.send("while paused")
        with pytest.raises(TimeoutError):
            ws.recv(0.2)
        ws.resume()
        assert ws.recv(TIMEOUT) == "while paused"


def test_keepalive_ping_timeout_fails_with_1011() -> None:
    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", lambda ws, req: ws.pause())  # never reads: never pongs
    try:
        ws = wscli.connect(server.url, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.3)
        assert ws.wait_closed(TIMEOUT)
        assert isinstance(ws.error, TimeoutError)
        assert ws.close_sent is not None
        assert ws.close_sent.code == 1011
    finally:
        server.close(timeout=1)


def test_connect_returns_once_open_even_when_it_looks_late(
    echo_server: wscli.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The protocol is open (the 101 parsed) a moment before the reactor announces it:
    a caller that reached ``wait_open()`` in that moment (a loaded machine) was told
    "no close frame received or sent" and its connection dropped; it must wait for it."""
    from wscli.core.sync.websocket import WebSocket

    announcing = threading.Event()
    checked = threading.Event()
    opened_now = WebSocket._opened_now
    wait_open = WebSocket.wait_open

    def slow_announcement(self: WebSocket) -> None:
        if not self.is_server:
            announcing.set()  # the protocol is open, the open event not out yet
            checked.wait(0.5)  # (the fixed wait_open waits here for at most this)
        opened_now(self)

    def arrive_late(self: WebSocket, timeout: float | None = None) -> None:
        assert announcing.wait(TIMEOUT)
        try:
            wait_open(self, timeout)
        finally:
            checked.set()

    monkeypatch.setattr(WebSocket, "_opened_now", slow_announcement)
    monkeypatch.setattr(WebSocket, "wait_open", arrive_late)
    with wscli.connect(echo_server.url, open_timeout=TIMEOUT) as ws:
        ws.send("hi")
        assert ws.recv(TIMEOUT) == "hi"
