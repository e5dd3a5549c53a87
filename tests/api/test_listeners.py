"""Listeners are called as JavaScript calls them, and what they raise is never lost.

Units first (the emitter alone, no sockets), then the same rules over loopback: the
documented one-argument shapes of ``connection``, ``headers`` and ``handle_upgrade``'s
callback, and ``verify_client`` told apart by its required parameters.
"""

from __future__ import annotations

import functools
import inspect
import logging
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

import wscli
from wscli.core.sync.emitter import EventEmitter, fit_arguments, required_arguments

from .conftest import TIMEOUT, wait_for

# -- counting parameters -------------------------------------------------------------------


class _Callable:
    def __call__(self, a: Any, b: Any) -> None:
        pass

    def method(self, a: Any) -> None:
        pass


def _two_then_keyword(a: Any, b: Any, *, c: Any) -> None:
    pass


def _positional_only(a: Any, /, b: Any = 1) -> None:
    pass


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (lambda: None, 0),
        (lambda a: None, 1),
        (lambda a, b: None, 2),
        (lambda a, b=1: None, 1),  # a default keeps its default, as Function.length
        (lambda *args: None, None),
        (lambda a, *args: None, None),
        (_two_then_keyword, 2),  # keyword-only parameters are not positional
        (_positional_only, 1),
        (_Callable(), 2),
        (_Callable().method, 1),  # bound: self is not counted
        (functools.partial(lambda a, b, c: None, 1), 2),
        (print, None),  # no readable signature: given everything
    ],
)
def test_required_arguments(function: Any, expected: int | None) -> None:
    assert required_arguments(function) == expected


class Emitter(EventEmitter):
    event_arguments: ClassVar[dict[str, int]] = {"three": 3, "one": 1}

    def on(self, name: str, listener: Any) -> Emitter:
        return self._add(name, listener)

    def once(self, name: str, listener: Any) -> Emitter:
        return self._add(name, listener, once=True)


def test_each_listener_gets_as_many_arguments_as_it_requires() -> None:
    emitter = Emitter()
    calls: list[tuple[str, tuple[Any, ...]]] = []
    emitter.on("three", lambda: calls.append(("none", ())))
    emitter.on("three", lambda a: calls.append(("one", (a,))))
    emitter.on("three", lambda a, b: calls.append(("two", (a, b))))
    emitter.on("three", lambda a, b, c: calls.append(("three", (a, b, c))))
    emitter.on("three", lambda *args: calls.append(("all", args)))
    emitter.on("three", lambda a, b="default": calls.append(("default", (a, b))))
    assert emitter.emit("three", 1, 2, 3) is True
    assert calls == [
        ("none", ()),
        ("one", (1,)),
        ("two", (1, 2)),
        ("three", (1, 2, 3)),
        ("all", (1, 2, 3)),
        ("default", (1, "default")),
    ]


def test_events_nobody_declared_follow_the_same_rule() -> None:
    emitter = Emitter()
    got: list[Any] = []
    emitter.on("custom", lambda a: got.append(a))
    emitter.on("custom", lambda *args: got.append(args))
    emitter.emit("custom", "x", "y")
    assert got == ["x", ("x", "y")]


def test_listener_asking_for_more_than_the_event_gives_is_reported() -> None:
    emitter = Emitter()
    errors: list[BaseException] = []
    emitter.on("error", errors.append)
    emitter.on("one", lambda a, b: None)
    emitter.emit("one", 1)
    assert len(errors) == 1 and isinstance(errors[0], TypeError)


def test_the_decision_is_taken_once_per_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    emitter = Emitter()
    got: list[Any] = []
    emitter.on("three", lambda a: got.append(a))
    emitter.on("three", lambda a, b, c: got.append((a, b, c)))

    def no_more(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("inspect.signature called while emitting")

    monkeypatch.setattr(inspect, "signature", no_more)
    for index in range(3):
        emitter.emit("three", index, "b", "c")
    assert got == [0, (0, "b", "c"), 1, (1, "b", "c"), 2, (2, "b", "c")]


def test_signatures_are_read_one_thread_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython 3.11's ast.parse (under a built-in's signature) breaks when two threads race."""
    real = inspect.signature
    inside = 0
    most = 0
    count_lock = threading.Lock()
    entered = threading.Event()

    def watched(function: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most
        with count_lock:
            inside += 1
            most = max(most, inside)
        entered.set()
        try:
            # Long enough that the other threads would be inside too without the lock.
            threading.Event().wait(0.01)
            return real(function, *args, **kwargs)
        finally:
            with count_lock:
                inside -= 1

    monkeypatch.setattr(inspect, "signature", watched)
    emitters = [Emitter() for _ in range(8)]
    sinks: list[list[Any]] = [[] for _ in emitters]
    threads = [
        threading.Thread(target=lambda e=e, s=s: [e.on("one", s.append) for _ in range(5)])
        for e, s in zip(emitters, sinks, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert entered.is_set()
    assert most == 1
    for emitter, sink in zip(emitters, sinks, strict=True):
        emitter.emit("one", "x")
        assert sink == ["x"] * 5


def test_a_signature_read_that_hits_the_ast_race_is_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = inspect.signature
    calls = 0

    def racy_once(function: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=48, after=47)")
        return real(function, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", racy_once)
    assert required_arguments(lambda a, b: None) == 2
    assert calls == 2


def test_a_listener_taking_every_argument_is_stored_as_it_is() -> None:
    def full(a: Any, b: Any, c: Any) -> None:
        pass

    def varargs(*args: Any) -> None:
        pass

    assert fit_arguments(full, 3) is full
    assert fit_arguments(varargs, 3) is varargs
    assert fit_arguments(full, 1) is full  # too many: left to raise TypeError
    fitted = fit_arguments(lambda a: a, 3)
    assert fitted(1, 2, 3) == 1


def test_once_off_and_listeners_see_the_functions_given() -> None:
    emitter = Emitter()
    got: list[Any] = []

    def one(a: Any) -> None:
        got.append(("one", a))

    def first(a: Any) -> None:
        got.append(("first", a))

    emitter.on("three", one)
    emitter.once("three", first)
    assert emitter.listeners("three") == [one, first]
    emitter.emit("three", 1, 2, 3)
    emitter.emit("three", 4, 5, 6)
    assert got == [("one", 1), ("first", 1), ("one", 4)]
    assert emitter.listeners("three") == [one]
    emitter.off("three", one)
    assert emitter.listener_count("three") == 0
    assert emitter.emit("three", 7, 8, 9) is False


def test_on_returns_the_emitter_for_chaining_and_refuses_non_callables() -> None:
    emitter = Emitter()
    assert emitter.on("one", print).on("three", print) is emitter
    with pytest.raises(TypeError, match="callable"):
        emitter.on("one", "not a function")


# -- errors never silent --------------------------------------------------------------------


def test_listener_exception_goes_to_error_listeners_and_others_still_run() -> None:
    emitter = Emitter()
    boom = ValueError("boom")
    errors: list[BaseException] = []
    after: list[int] = []

    def raising(a: Any) -> None:
        raise boom

    emitter.on("error", errors.append)
    emitter.on("one", raising)
    emitter.on("one", after.append)
    emitter.emit("one", 1)
    assert errors == [boom] and after == [1]


def test_listener_exception_without_error_listener_is_logged_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = Emitter()

    def raising(a: Any) -> None:
        raise ValueError("nobody listens")

    emitter.on("one", raising)
    with caplog.at_level(logging.ERROR, logger="wscli"):
        emitter.emit("one", 1)
    (record,) = [r for r in caplog.records if r.name.startswith("wscli")]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and str(record.exc_info[1]) == "nobody listens"
    assert "'one' listener raised" in record.getMessage()


def test_error_listener_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    emitter = Emitter()

    def raising(error: BaseException) -> None:
        raise RuntimeError("error listener broke")

    emitter.on("error", raising)
    with caplog.at_level(logging.ERROR, logger="wscli"):
        emitter.emit("error", ValueError("first"))
    messages = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert messages == ["error listener broke"]


def test_server_error_event_without_listener_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    server = wscli.Server(no_server=True)
    try:
        with caplog.at_level(logging.ERROR, logger="wscli"):
            server.emit("error", OSError("accept failed"))
    finally:
        server.close(timeout=TIMEOUT)
    assert [str(r.exc_info[1]) for r in caplog.records if r.exc_info] == ["accept failed"]


# -- the documented shapes over loopback ------------------------------------------------------


def test_one_argument_connection_listener_runs(server: wscli.Server) -> None:
    def on_connection(ws: wscli.WebSocket) -> None:  # ws 0.4's documented shape
        ws.on("message", lambda data, flags: ws.send(data))
        ws.send("welcome")

    server.on("connection", on_connection)
    with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
        assert ws.recv(TIMEOUT) == "welcome"
        ws.send("echo?")
        assert ws.recv(TIMEOUT) == "echo?"


def test_one_argument_message_and_close_listeners(server: wscli.Server) -> None:
    got: queue.Queue[Any] = queue.Queue()

    def on_connection(ws: wscli.WebSocket) -> None:
        ws.on("message", lambda data: got.put(data))  # no flags parameter
        ws.on("close", lambda code: got.put(code))  # no reason parameter

    server.on("connection", on_connection)
    with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
        ws.send("text")
        ws.send(b"bin")
    assert got.get(timeout=TIMEOUT) == "text"
    assert got.get(timeout=TIMEOUT) == b"bin"
    assert got.get(timeout=TIMEOUT) == 1000


def test_one_argument_headers_listener_adds_a_header(server: wscli.Server) -> None:
    server.on("headers", lambda headers: headers.update({"X-Seen": "yes"}))
    with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
        assert ws.response is not None and ws.response.headers.get("X-Seen") == "yes"


def test_connection_listener_exception_is_logged_and_the_server_keeps_serving(
    server: wscli.Server, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def on_connection(ws: wscli.WebSocket) -> None:
        calls.append(1)
        raise KeyError("handler bug")

    server.on("connection", on_connection)
    with caplog.at_level(logging.ERROR, logger="wscli"):
        for _ in range(2):
            with wscli.connect(server.url, open_timeout=TIMEOUT):
                pass
        assert wait_for(lambda: len([r for r in caplog.records if r.exc_info]) == 2)
    assert calls == [1, 1]
    assert all(r.levelno == logging.ERROR for r in caplog.records if r.exc_info)


def test_message_listener_exception_is_logged_and_the_next_message_still_arrives(
    server: wscli.Server, caplog: pytest.LogCaptureFixture
) -> None:
    got: queue.Queue[str | bytes] = queue.Queue()

    def on_connection(ws: wscli.WebSocket) -> None:
        def on_message(data: str | bytes) -> None:
            if data == "bad":
                raise ValueError("message listener bug")
            got.put(data)

        ws.on("message", on_message)

    server.on("connection", on_connection)
    with caplog.at_level(logging.ERROR, logger="wscli"):
        with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
            ws.send("bad")
            ws.send("good")
            assert got.get(timeout=TIMEOUT) == "good"
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.levelno == logging.ERROR and "'message' listener raised" in record.getMessage()
    assert str(record.exc_info[1]) == "message listener bug"  # type: ignore[index]


def test_handle_upgrade_callback_in_the_ws_shape() -> None:
    wss = wscli.Server(no_server=True)
    upgraded: queue.Queue[Any] = queue.Queue()

    def callback(client: wscli.WebSocket) -> None:  # ws 0.4: callback(client)
        upgraded.put(client)
        client.send("upgraded")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            wss.handle_upgrade(self, callback=callback)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"ws://127.0.0.1:{httpd.server_address[1]}/"
        with wscli.connect(url, open_timeout=TIMEOUT) as ws:
            assert ws.recv(TIMEOUT) == "upgraded"
            assert isinstance(upgraded.get(timeout=TIMEOUT), wscli.WebSocket)
    finally:
        httpd.shutdown()
        thread.join(TIMEOUT)
        httpd.server_close()
        wss.close(timeout=TIMEOUT)


# -- verify_client: synchronous or with a callback, by required parameters ------------------


def _serve_verifying(verify_client: Any) -> wscli.Server:
    return wscli.Server("127.0.0.1", 0, verify_client=verify_client)


def test_verify_client_with_an_optional_second_parameter_answers_at_once() -> None:
    seen: list[Any] = []

    def verify(info: wscli.ClientInfo, extra: Any = None) -> bool:
        seen.append(extra)
        return info.origin == "http://good.example"

    server = _serve_verifying(verify)
    try:
        # A server that took this for the callback form would never answer: the
        # connection would hang until open_timeout and fail with TimeoutError.
        with wscli.connect(server.url, origin="http://good.example", open_timeout=TIMEOUT):
            pass
        with pytest.raises(wscli.InvalidStatus) as refused:
            wscli.connect(server.url, origin="http://evil.example", open_timeout=TIMEOUT)
        assert refused.value.status_code == 401
    finally:
        server.close(timeout=TIMEOUT)
    assert seen == [None, None]


def test_verify_client_with_two_required_parameters_answers_through_the_callback() -> None:
    def verify(info: wscli.ClientInfo, callback: Any) -> None:
        ok = info.origin == "http://good.example"
        threading.Thread(target=callback, args=(ok, 403, "go away")).start()

    server = _serve_verifying(verify)
    try:
        with wscli.connect(server.url, origin="http://good.example", open_timeout=TIMEOUT):
            pass
        with pytest.raises(wscli.InvalidStatus) as refused:
            wscli.connect(server.url, origin="http://evil.example", open_timeout=TIMEOUT)
        assert refused.value.status_code == 403
    finally:
        server.close(timeout=TIMEOUT)


def test_verify_client_taking_args_answers_at_once() -> None:
    server = _serve_verifying(lambda *args: len(args) == 1)
    try:
        with wscli.connect(server.url, open_timeout=TIMEOUT):
            pass
    finally:
        server.close(timeout=TIMEOUT)


def test_verify_client_exception_refuses_with_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def verify(info: wscli.ClientInfo) -> bool:
        raise RuntimeError("verify bug")

    server = _serve_verifying(verify)
    try:
        with caplog.at_level(logging.ERROR, logger="wscli"):
            with pytest.raises(wscli.InvalidStatus) as refused:
                wscli.connect(server.url, open_timeout=TIMEOUT)
    finally:
        server.close(timeout=TIMEOUT)
    assert refused.value.status_code == 500
    assert [str(r.exc_info[1]) for r in caplog.records if r.exc_info] == ["verify bug"]


def test_handle_protocols_with_one_parameter() -> None:
    server = wscli.Server("127.0.0.1", 0, handle_protocols=lambda offered: offered[-1])
    try:
        with wscli.connect(server.url, protocols=["a", "b"], open_timeout=TIMEOUT) as ws:
            assert ws.protocol == "b"
    finally:
        server.close(timeout=TIMEOUT)


def test_tracebacks_and_signatures_are_parsed_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """wscli's own traceback formatting waits while a listener's signature is read on
    another thread (both parse with ``ast``; see the race above)."""
    import sys
    import traceback

    from wscli.core.logs import LastResortHandler

    reading = threading.Event()
    release = threading.Event()
    real_signature = inspect.signature

    def slow_signature(function: Any, *args: Any, **kwargs: Any) -> Any:
        reading.set()
        release.wait(TIMEOUT)
        return real_signature(function, *args, **kwargs)

    formatting_started = threading.Event()
    real_print = traceback.print_exception

    def watched_print(*args: Any, **kwargs: Any) -> Any:
        formatting_started.set()
        return real_print(*args, **kwargs)

    monkeypatch.setattr(inspect, "signature", slow_signature)
    monkeypatch.setattr(traceback, "print_exception", watched_print)
    adder = threading.Thread(target=lambda: Emitter().on("one", lambda a, b: None))
    adder.start()
    assert reading.wait(TIMEOUT)
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("wscli.core", logging.ERROR, "f", 1, "m", None, sys.exc_info())
    formatter = LastResortHandler().formatter
    assert formatter is not None
    formatted: list[str] = []
    writer = threading.Thread(target=lambda: formatted.append(formatter.format(record)))
    writer.start()
    try:
        assert not formatting_started.wait(0.2)  # waits for the signature read
    finally:
        release.set()
    adder.join(TIMEOUT)
    writer.join(TIMEOUT)
    assert formatting_started.is_set()
    assert "ValueError: boom" in formatted[0]
