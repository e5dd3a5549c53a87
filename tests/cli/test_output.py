"""The Printer: peer data is never markup, control characters never reach a terminal raw."""

from __future__ import annotations

import io
import json

import pytest

from wscli.output import CloseInfo, Printer, escape_control, hexdump, looks_like_json

from .conftest import TIMEOUT


class Terminal(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def printer(**options: object) -> tuple[Printer, io.StringIO, io.StringIO]:
    out, err = options.pop("out", io.StringIO()), options.pop("err", io.StringIO())
    return Printer(stdout=out, stderr=err, **options), out, err  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain", "plain"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\rb", "a\\rb"),
        ("tab\there", "tab\\there"),
        ("nul\0", "nul\\0"),
        ("bell\x07", "bell\\x07"),
        ("c1\x9b", "c1\\x9b"),
        ("rtl\u202eevil", "rtl\\u202eevil"),
        ("two\nlines", "two\nlines"),
        ("ünïcödé ✓", "ünïcödé ✓"),
    ],
)
def test_escape_control(text: str, escaped: str) -> None:
    assert escape_control(text) == escaped


def test_escape_control_can_escape_newlines_for_one_line_contexts() -> None:
    assert escape_control("a\nb", keep_newlines=False) == "a\\nb"


def test_interactive_output_never_contains_raw_escapes_or_markup() -> None:
    p, out, _ = printer(interactive=True, color=False)
    p.message("in", "\x1b]0;pwned\x07[bold red]not markup[/] :smile:")
    shown = out.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b]0;pwned\\x07[bold red]not markup[/] :smile:" in shown
    assert "< " in shown


def test_interactive_output_pretty_prints_json_objects() -> None:
    p, out, _ = printer(interactive=True, color=False)
    p.message("in", '{"b": [1, 2], "s": "x\\u001b"}')
    assert '{\n  "b": [\n    1,\n    2\n  ],\n  "s": "x\\u001b"\n}' in out.getvalue()
    p.pretty_json = False
    p.message("in", '{"b": 1}')
    assert '< {"b": 1}' in out.getvalue()


def test_interactive_output_hexdumps_binary() -> None:
    p, out, _ = printer(interactive=True, color=False)
    p.message("out", b"\x00hello\xff")
    shown = out.getvalue()
    assert "> binary, 7 bytes" in shown
    assert "00000000  00 68 65 6c 6c 6f ff" in shown and "|.hello.|" in shown


def test_interactive_output_shows_the_client_id() -> None:
    p, out, _ = printer(interactive=True, color=False)
    p.message("in", "hi", peer=3)
    assert "#3 < hi" in out.getvalue()


def test_pipe_output_is_the_bare_message_per_line() -> None:
    p, out, err = printer()
    p.message("in", "one")
    p.message("out", "not shown")  # the input is what was sent
    p.message("in", "\x1b[31mraw")  # a pipe gets the bytes as they came
    assert out.getvalue() == "one\n\x1b[31mraw\n"
    assert err.getvalue() == ""


def test_pipe_output_to_a_terminal_is_escaped() -> None:
    p, out, _ = printer(out=Terminal())
    p.message("in", "\x1b[2Jcleared?")
    assert out.getvalue() == "\\x1b[2Jcleared?\n"


def test_pipe_binary_encodings_and_null_separator() -> None:
    p, out, _ = printer(binary="hex", separator="\0")
    p.message("in", b"\x01\x02")
    p.message("in", "text")
    assert out.getvalue() == "0102\0text\0"


def test_json_events_are_one_object_per_line() -> None:
    p, out, _ = printer(as_json=True)
    p.message("in", "multi\nline", peer=2)
    p.message("out", b"\xff")
    p.control("in", "pong", b"\xfe", latency=0.0012345)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0] == {**records[0], "client": 2, "dir": "in", "type": "text"}
    assert records[0]["data"] == "multi\nline"
    assert records[1]["base64"] == "/w=="
    assert records[2] == {**records[2], "type": "pong", "base64": "/g==", "latency": 0.001234}


def test_broken_pipe_is_reported_once_not_raised() -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    calls: list[int] = []
    p, _, _ = printer(out=Broken())
    p.on_broken_pipe(lambda: calls.append(1))
    p.message("in", "a")
    p.message("in", "b")
    assert p.broken_pipe.is_set()
    assert calls == [1]


def test_status_lines_in_a_pipe_only_explain_failures() -> None:
    p, out, err = printer()
    p.info("connected")
    p.closed(CloseInfo(1000, "", by="peer", clean=True))
    assert err.getvalue() == ""
    p.closed(CloseInfo(1011, "boom", by="peer", clean=True))
    assert err.getvalue() == 'closed by the server: 1011 (internal error) "boom"\n'
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("info", "text", "ok"),
    [
        (CloseInfo(1000, "", "peer", True), "closed by the server: 1000 (normal closure)", True),
        (
            CloseInfo(1001, "bye", "peer", True),
            'closed by the server: 1001 (going away) "bye"',
            True,
        ),
        (CloseInfo(4000, "x", "us", True, 4000), 'closed by you: 4000 (private use) "x"', True),
        (
            CloseInfo(1006, "", "us", False, 1000),
            "closed by you: 1000 (normal closure); the server never answered the close",
            False,
        ),
        (
            CloseInfo(1006, "", None, False),
            "connection dropped: 1006 (abnormal closure), no close frame",
            False,
        ),
        (
            CloseInfo(1002, "", "us", True, 1002, error="invalid opcode 0x3"),
            "wscli closed the connection: 1002 (protocol error): invalid opcode 0x3",
            False,
        ),
        (
            CloseInfo(1011, "a\nb", "peer", True),
            'closed by the server: 1011 (internal error) "a\\nb"',
            False,
        ),
    ],
)
def test_close_explanations(info: CloseInfo, text: str, ok: bool) -> None:
    assert info.describe() == text
    assert info.ok is ok


def test_hexdump_limits_long_payloads() -> None:
    lines = hexdump(bytes(range(256)) * 8, limit=32)
    assert lines[0].startswith("00000000  00 01 02 03 04 05 06 07  08 09")
    assert lines[-1] == "… 2016 more bytes"


def test_looks_like_json_only_for_objects_and_arrays() -> None:
    assert looks_like_json(' {"a": 1} ') == {"a": 1}
    assert looks_like_json("[1]") == [1]
    assert looks_like_json("42") is None
    assert looks_like_json("{broken") is None


def test_handshake_is_shown_on_stderr() -> None:
    from wscli.core import Headers, Request, Response

    p, out, err = printer()
    request = Request("/chat", Headers([("Host", "example")]))
    response = Response(101, "Switching Protocols", Headers([("Upgrade", "websocket")]))
    p.handshake(request, response, subprotocol="chat", extensions={"permessage-deflate": ""})
    assert err.getvalue().splitlines() == [
        "> GET /chat HTTP/1.1",
        "> Host: example",
        "< HTTP/1.1 101 Switching Protocols",
        "< Upgrade: websocket",
        "subprotocol: chat",
        "extensions: permessage-deflate",
    ]
    assert out.getvalue() == ""


def test_no_color_drops_bold_and_dim_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    p, out, err = printer(interactive=True, out=Terminal(), err=Terminal())
    p.message("in", "esc\x1b")
    p.error("boom")
    assert "\x1b[" not in out.getvalue() and "\x1b[" not in err.getvalue()
    assert "esc\\x1b" in out.getvalue()


def test_hidden_characters_are_all_escaped_in_one_line_contexts() -> None:
    from wscli.escape import escape_control

    hostile = "\u061c\u2028\u2029\u200b\u2066\u00ad\ufeff\U000e0041\x7f\x85"
    escaped = escape_control(hostile, keep_newlines=False)
    assert escaped == ("\\u061c\\u2028\\u2029\\u200b\\u2066\\xad\\ufeff\\U000e0041\\x7f\\x85")


def test_deep_or_large_json_is_not_pretty_printed() -> None:
    deep = "[" * 900 + "]" * 900
    assert looks_like_json(deep) is None
    assert looks_like_json(json.dumps(list(range(40000)))) is None  # > 64 KiB
    assert looks_like_json('{"a": [[1]]}') == {"a": [[1]]}
    p, out, _ = printer(interactive=True, color=False)
    p.message("in", deep)
    assert out.getvalue().count("\n") <= 2  # shown as it came, not 1,800 lines


class BlockedStream(io.StringIO):
    """A stdout whose writes wait until the test lets them through (a stuck terminal)."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.gate = threading.Event()

    def write(self, text: str) -> int:
        self.gate.wait(3 * TIMEOUT)  # longer than the caller's guard below
        return super().write(text)


def test_threaded_printer_never_makes_the_caller_wait_for_the_terminal() -> None:
    import threading

    stream = BlockedStream()
    p = Printer(stdout=stream, stderr=io.StringIO(), threaded=True)
    big = "m" * (3 * 2**20)
    caller = threading.Thread(target=lambda: [p.message("in", big) for _ in range(2)])
    caller.start()
    caller.join(TIMEOUT)  # a hang guard, not a measure
    assert not caller.is_alive()  # returned while the terminal takes nothing
    assert p.backlog_full()  # 6 MiB waiting: the connections feeding it get paused
    drained = threading.Event()
    p.when_drained(drained.set)
    assert not drained.is_set()
    stream.gate.set()
    assert p.flush(TIMEOUT)
    assert drained.is_set() and not p.backlog_full()
    assert stream.getvalue() == (big + "\n") * 2


def test_threaded_output_is_stamped_when_the_event_happened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    stream = BlockedStream()
    p = Printer(stdout=stream, stderr=io.StringIO(), threaded=True, as_json=True)
    p.message("in", "first")  # the output thread stalls writing this one
    p.message("in", "early")  # so this one is rendered only after the clock moved
    clock[0] = 2000.0
    stream.gate.set()
    assert p.flush(TIMEOUT)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["data"] for r in records] == ["first", "early"]
    assert records[1]["time"] == 1000.0


def test_closing_a_threaded_printer_ends_its_thread_and_keeps_later_output() -> None:
    import threading

    stream = BlockedStream()
    p = Printer(stdout=stream, stderr=io.StringIO(), threaded=True)
    before = {t for t in threading.enumerate() if t.name == "wscli-output"}
    p.message("in", "first")  # starts the output thread, which stalls on the stream
    p.message("in", "second")
    (thread,) = {t for t in threading.enumerate() if t.name == "wscli-output"} - before
    stream.gate.set()
    assert p.close(TIMEOUT)
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    p.message("in", "late")  # a callback that fired as the command ended
    assert p.flush(TIMEOUT)
    assert stream.getvalue() == "first\nsecond\nlate\n"
    for again in {t for t in threading.enumerate() if t.name == "wscli-output"} - before:
        again.join(TIMEOUT)  # the late message's thread ends too, once idle
        assert not again.is_alive()


def test_a_printer_closed_before_its_thread_caught_up_still_writes_everything_in_order() -> None:
    stream = BlockedStream()
    p = Printer(stdout=stream, stderr=io.StringIO(), threaded=True)
    for index in range(3):
        p.message("in", f"m{index}")
    assert not p.close(0.05)  # the terminal takes nothing yet: the flush times out
    p.message("in", "late")  # returns at once: the terminal is still stuck
    assert stream.getvalue() == ""
    stream.gate.set()
    assert p.flush(TIMEOUT)
    assert stream.getvalue() == "m0\nm1\nm2\nlate\n"


# -- a sent message shows before what answers it -------------------------------------------


class _InstantEcho:
    """Enough of a WebSocket for a Peer: the echo is delivered while ``send()`` runs."""

    url = "ws://test"
    remote_address = None

    def __init__(self) -> None:
        self.listeners: dict[str, object] = {}

    def on(self, name: str, listener: object) -> _InstantEcho:
        self.listeners[name] = listener
        return self

    def send(self, data: object) -> None:
        self.listeners["message"](data, None)  # type: ignore[operator]


def _marks(text: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r"([<>]) (m\d+)", text)


def _in_order(marks: list[tuple[str, str]], count: int) -> list[int]:
    """The messages whose echo was shown before the message itself."""
    return [i for i in range(count) if marks.index((">", f"m{i}")) > marks.index(("<", f"m{i}"))]


@pytest.mark.parametrize("as_json", [False, True])
def test_a_sent_message_shows_before_an_echo_that_beat_send_back(as_json: bool) -> None:
    """The "> " line used to be submitted once send() returned: an echo delivered in
    between (a fast server, a sender that lost the CPU) was shown first."""
    from wscli.commands import Peer

    out = Terminal()
    p = Printer(interactive=not as_json, as_json=as_json, color=False, threaded=True,
                stdout=out, stderr=io.StringIO())  # fmt: skip
    peer = Peer(_InstantEcho(), p)  # type: ignore[arg-type]
    for i in range(50):
        peer.send(f"m{i}")
    assert p.close(TIMEOUT)
    if as_json:
        records = [json.loads(line) for line in out.getvalue().splitlines()]
        marks = [(">" if r["dir"] == "out" else "<", r["data"]) for r in records]
    else:
        marks = _marks(out.getvalue())
    assert len(marks) == 100
    assert _in_order(marks, 50) == []


def test_sent_lines_come_first_over_a_real_connection(server: object) -> None:
    """The same over loopback, with the sender made to lose the race every time: its
    ``send()`` returns only once the echo was delivered."""
    import threading

    import wscli
    from wscli.commands import Peer

    out = Terminal()
    p = Printer(interactive=True, color=False, threaded=True, stdout=out, stderr=io.StringIO())
    ws = wscli.connect(server.url)  # type: ignore[attr-defined]
    delivered = threading.Semaphore(0)
    peer = Peer(ws, p, message_hooks=[lambda _peer, _data: delivered.release()])
    send = ws.send

    def send_then_lose_the_race(data: object, **options: object) -> None:
        send(data, **options)  # type: ignore[arg-type]
        assert delivered.acquire(timeout=TIMEOUT)

    ws.send = send_then_lose_the_race  # type: ignore[method-assign]
    try:
        for i in range(50):
            peer.send(f"m{i}")
    finally:
        ws.close()
    assert p.close(TIMEOUT)
    marks = _marks(out.getvalue())
    assert _in_order(marks, 50) == []


def test_a_message_not_sent_leaves_no_line_and_holds_nothing_back() -> None:
    p, out, _err = printer(interactive=True, color=False, threaded=True, out=Terminal())
    fill = p.hold()
    p.message("in", "meanwhile")
    fill(None)
    assert p.close(TIMEOUT)
    assert _marks(out.getvalue().replace("meanwhile", "m0")) == [("<", "m0")]


def test_a_place_held_too_long_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A send that waits for a peer that does not read holds the output back only for
    HOLD_LIMIT; its line is then shown where it stands."""
    import wscli.outputthread

    monkeypatch.setattr(wscli.outputthread, "HOLD_LIMIT", 0.05)
    p, out, _err = printer(as_json=True, threaded=True)
    fill = p.hold()
    p.message("in", "meanwhile")
    assert p.flush(TIMEOUT)  # not waiting for the fill: given up after HOLD_LIMIT
    assert [json.loads(line)["data"] for line in out.getvalue().splitlines()] == ["meanwhile"]
    fill(lambda: p.message("out", "late"))
    assert p.close(TIMEOUT)
    data = [json.loads(line)["data"] for line in out.getvalue().splitlines()]
    assert data == ["meanwhile", "late"]


def test_a_pipe_holds_no_place_for_what_it_does_not_show() -> None:
    p, _out, _err = printer(threaded=True)
    assert not p.shows_sent
    p, _out, _err = printer(as_json=True)
    assert p.shows_sent
