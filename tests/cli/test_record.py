"""``connect --record`` and the recording format: what is written, what is left out, and
how a damaged recording is refused (with its line number)."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import TIMEOUT

from wscli.recording import (
    Entry,
    Header,
    Recorder,
    RecordingError,
    read_recording,
    redact_headers,
    redact_url,
)

from .conftest import run_cli


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_record_writes_header_messages_both_ways_and_close(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "session.ndjson"
    result = run_cli(
        "connect", "--record", str(path), "-x", "hello", "-x", "binary 00ff10", server.url
    )
    assert result.status == 0, result.stderr
    records = lines(path)
    header = records[0]
    assert header["type"] == "header" and header["version"] == 1
    assert header["url"].rstrip("/") == server.url.rstrip("/")
    events = [(r.get("dir"), r["type"], r.get("data", r.get("base64"))) for r in records[1:]]
    assert ("out", "text", "hello") in events
    assert ("in", "text", "hello") in events
    assert ("in", "binary", "AP8Q") in events  # base64 of 00 ff 10
    assert events[-1][1] == "close" and records[-1]["code"] == 1000
    times = [r["time"] for r in records[1:]]
    assert times == sorted(times) and times[0] >= 0


def test_record_in_a_pipe_records_each_stdin_line(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "pipe.ndjson"
    result = run_cli("connect", "--record", str(path), server.url, input="one\ntwo\n")
    assert result.status == 0, result.stderr
    sent = [r["data"] for r in lines(path)[1:] if r.get("dir") == "out"]
    received = [r["data"] for r in lines(path)[1:] if r.get("dir") == "in"]
    assert sent == ["one", "two"] and received == ["one", "two"]


def test_record_leaves_secrets_out(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "session.ndjson"
    result = run_cli(
        "connect",
        "--record",
        str(path),
        "--auth",
        "me:hunter2",
        "-H",
        "Cookie: sid=s3cret",
        "-H",
        "X-Api-Key: k3y",
        "-H",
        "X-Trace: on",
        "--redact",
        "x-api-key",
        "-x",
        "hi",
        server.url + "?access_token=t0ken&page=2",
    )
    assert result.status == 0, result.stderr
    text = path.read_text()
    for secret in ("hunter2", "s3cret", "k3y", "t0ken", "Authorization", "bWU6aHVudGVyMg"):
        assert secret not in text
    header = lines(path)[0]
    assert header["headers"] == [["X-Trace", "on"]]
    assert "page=2" in header["url"] and "access_token=REDACTED" in header["url"]


def test_redact_url_hides_the_password_and_named_parameters() -> None:
    assert redact_url("ws://bob:pw@h:1/p?x=1&mine=2", ["MINE"]) == (
        "ws://bob:REDACTED@h:1/p?x=1&mine=REDACTED"
    )
    assert redact_headers([("authorization", "a"), ("X", "1")]) == [("X", "1")]


def test_record_to_an_unwritable_path_is_a_usage_error(server: Any, tmp_path: Path) -> None:
    result = run_cli("connect", "--record", str(tmp_path / "no" / "such"), "-x", "a", server.url)
    assert result.status == 2
    assert "--record" in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_new_recording_is_readable_by_its_owner_only(server: Any, tmp_path: Path) -> None:
    # A recording holds the conversation (tokens in messages, the URL): like the shell
    # history, it is created 0600 whatever the umask lets through.
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "private.ndjson"
        result = run_cli("connect", "--record", str(path), "-x", "hello", server.url)
        assert result.status == 0, result.stderr
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # A file that exists keeps the mode its owner gave it, and is overwritten.
        shared = tmp_path / "shared.ndjson"
        shared.write_text("old content that is longer than one line\n" * 100)
        shared.chmod(0o644)
        again = run_cli("connect", "--record", str(shared), "-x", "hi", server.url)
        assert again.status == 0, again.stderr
        assert stat.S_IMODE(shared.stat().st_mode) == 0o644
        assert "old content" not in shared.read_text()
    finally:
        os.umask(old_umask)


def test_record_write_error_ends_the_run_like_stdout_errors(server: Any) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("needs /dev/full")
    result = run_cli("connect", "--record", str(full), "-x", "a", "-w", "-1", server.url)
    assert result.status == 1
    assert "cannot write to /dev/full" in result.stderr


def test_binary_round_trips_exactly() -> None:
    stream = io.BytesIO()
    recorder = Recorder(stream, clock=iter([0.0, 0.0, 0.5, 1.0]).__next__)
    recorder.header(Header(url="ws://h/"))
    every_byte = bytes(range(256))
    recorder.message("out", every_byte)
    recorder.close(1000, "bye", by="us", clean=True)
    stream.seek(0)
    header, message, close = list(read_recording(stream))
    assert isinstance(header, Header) and header.url == "ws://h/"
    assert isinstance(message, Entry) and message.data == every_byte and message.time == 0.5
    assert isinstance(close, Entry) and (close.kind, close.code, close.reason) == (
        "close",
        1000,
        "bye",
    )


def test_times_never_go_back_and_nothing_follows_the_close() -> None:
    """Sends (user thread) and receives (I/O thread) record at once: each line's time
    is taken when it is written, so a reader never sees time go back."""
    stream = io.BytesIO()
    recorder = Recorder(stream)
    recorder.header(Header(url="ws://h/"))
    threads = [
        threading.Thread(target=lambda d=d: [recorder.message(d, "x") for _ in range(300)])
        for d in ("in", "out")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    recorder.close(1000, "", by="us", clean=True)
    recorder.message("out", "too late")
    stream.seek(0)
    entries = list(read_recording(stream))  # raises if a time went back
    assert len(entries) == 1 + 600 + 1 and entries[-1].kind == "close"  # type: ignore[union-attr]


def test_a_failed_write_is_reported_once_and_stops_writing() -> None:
    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(28, "No space left on device")

    errors: list[OSError] = []
    recorder = Recorder(Full(), on_error=errors.append)
    recorder.header(Header(url="ws://h/"))
    recorder.message("in", "x")
    assert len(errors) == 1 and errors[0].errno == 28


def test_reading_streams_one_line_at_a_time() -> None:
    """What precedes a bad line has been yielded before the error: nothing loads whole."""
    header = b'{"type": "header", "version": 1, "url": "ws://h/"}\n'
    good = b'{"time": 0, "dir": "out", "type": "text", "data": "a"}\n'
    stream = io.BytesIO(header + good * 3 + b"oops\n")
    reader = read_recording(stream, "f")
    assert isinstance(next(reader), Header)
    assert [next(reader).data for _ in range(3)] == ["a", "a", "a"]  # type: ignore[union-attr]
    with pytest.raises(RecordingError, match="f line 5"):
        next(reader)


HEADER = '{"type": "header", "version": 1, "url": "ws://h/"}'
MESSAGE = '{"time": 0.1, "dir": "out", "type": "text", "data": "a"}'


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ("", None, "empty"),
        ('{"time": 0, "dir": "out", "type": "text", "data": "a"}\n', 1, "not a recording header"),
        ('{"type": "header", "version": 9, "url": "ws://h/"}\n', 1, "format version 9"),
        ('{"type": "header", "url": "ws://h/"}\n', 1, "no 'version'"),
        ('{"type": "header", "version": 1, "url": 5}\n', 1, "'url' has the wrong type"),
        (
            '{"type": "header", "version": 1, "url": "ws://h/", '
            '"headers": [["X", "a\\r\\nEvil: 1"]]}\n',
            1,
            "header 'X' is not a valid name and value",
        ),
        (
            '{"type": "header", "version": 1, "url": "ws://h/", "headers": [["X Y", "a"]]}\n',
            1,
            "not a valid name",
        ),
        (HEADER + "\n" + MESSAGE + '\n{"time": 0.2, "dir": "out", "ty', 3, "ends in the middle"),
        (HEADER + "\n[1, 2]\n", 2, "not a JSON object"),
        (HEADER + '\n{"dir": "out", "type": "text", "data": "a"}\n', 2, "no 'time'"),
        (HEADER + '\n{"time": -1, "dir": "out", "type": "text", "data": "a"}\n', 2, "negative"),
        (HEADER + '\n{"time": 0, "dir": "up", "type": "text", "data": "a"}\n', 2, "'dir'"),
        (HEADER + '\n{"time": 0, "dir": "in", "type": "text", "data": 3}\n', 2, "'data'"),
        (HEADER + '\n{"time": 0, "dir": "in", "type": "binary", "base64": "@@"}\n', 2, "base64"),
        (HEADER + '\n{"time": 0, "dir": "in", "type": "ping"}\n', 2, "event type 'ping'"),
        (HEADER + '\n{"time": 0, "type": "close", "code": 99}\n', 2, "close code 99"),
        (HEADER + '\n{"time": 0, "type": "close", "code": 1000, "by": "x"}\n', 2, "'by'"),
        (
            HEADER
            + "\n"
            + MESSAGE
            + '\n{"time": 0.05, "dir": "out", "type": "text", "data": "b"}\n',
            3,
            "goes back",
        ),
        (
            HEADER + '\n{"time": 0, "type": "close", "code": 1000}\n' + MESSAGE + "\n",
            3,
            "after the close",
        ),
        (
            HEADER + "\n" + '{"time": true, "dir": "out", "type": "text", "data": "a"}\n',
            2,
            "'time' has the wrong type",
        ),
    ],
)
def test_damaged_recordings_are_refused_with_their_line(
    content: str, line: int | None, words: str
) -> None:
    with pytest.raises(RecordingError) as caught:
        list(read_recording(io.BytesIO(content.encode()), "s.ndjson"))
    message = str(caught.value)
    assert words in message
    if line is not None:
        assert f"s.ndjson line {line}:" in message


def test_record_takes_what_the_repl_sends(server: Any, tmp_path: Path) -> None:
    """The REPL's plain lines, /hex and /frag all go into the recording."""
    from wscli.commands.connect import ClientSession, ConnectConfig
    from wscli.output import Printer
    from wscli.repl import Repl, standard_commands

    path = tmp_path / "repl.ndjson"
    printer = Printer(stdout=io.StringIO(), stderr=io.StringIO())
    with open(path, "wb") as stream:
        config = ConnectConfig(url=server.url, kwargs={}, record=stream, record_name=str(path))
        session = ClientSession(config, printer, interactive=True)
        peer = session.open()
        assert peer is not None
        repl = Repl(printer, standard_commands(printer, lambda: [peer]), session.send)
        for line in ("typed", "/hex 00 01", "/frag 2 in pieces"):
            assert repl.dispatch(line)
        server.seen.wait_for(lambda: len(server.seen.messages) == 3)
        peer.close(1000, "")
        assert peer.wait_closed(TIMEOUT)
    records = lines(path)
    sent = [r.get("data", r.get("base64")) for r in records if r.get("dir") == "out"]
    assert sent == ["typed", "AAE=", "in pieces"]
    assert records[-1]["type"] == "close"


class _InstantEcho:
    """Enough of a WebSocket for a Peer: the echo arrives while ``send()`` still runs."""

    url = "ws://test"
    remote_address = None

    def __init__(self) -> None:
        self.listeners: dict[str, Any] = {}

    def on(self, name: str, listener: Any) -> _InstantEcho:
        self.listeners[name] = listener
        return self

    def send(self, data: Any) -> None:
        self.listeners["message"](data, None)  # the I/O thread, before send() returns


def test_an_echo_back_before_send_returns_is_recorded_after_the_message() -> None:
    """A fast echo used to be written first: the "out" line was written once send()
    had returned, and replaying that file expects the echo before sending anything."""
    from wscli.commands import Peer
    from wscli.output import Printer

    stream = io.BytesIO()
    recorder = Recorder(stream)
    recorder.header(Header(url="ws://h/"))
    printer = Printer(status_lines=True, stdout=io.StringIO(), stderr=io.StringIO())
    peer = Peer(
        _InstantEcho(),  # type: ignore[arg-type]
        printer,
        show_messages=False,
        message_hooks=[lambda _peer, data: recorder.message("in", data)],
        sending_hooks=[lambda _peer, data: recorder.sending(data)],
    )
    peer.send("hello")
    peer.send(b"\x00\xff")
    stream.seek(0)
    entries = list(read_recording(stream))[1:]
    assert [(e.dir, e.data) for e in entries] == [  # type: ignore[union-attr]
        ("out", "hello"),
        ("in", "hello"),
        ("out", b"\x00\xff"),
        ("in", b"\x00\xff"),
    ]


def test_a_message_not_sent_leaves_no_line_and_holds_nothing_back() -> None:
    stream = io.BytesIO()
    recorder = Recorder(stream)
    recorder.header(Header(url="ws://h/"))
    done = recorder.sending("never sent")
    recorder.message("in", "meanwhile")
    assert stream.getvalue().count(b"\n") == 1  # the header: "meanwhile" waits its turn
    done(False)
    recorder.close(1000, "", by="us", clean=True)
    stream.seek(0)
    entries = list(read_recording(stream))[1:]
    assert [(e.kind, e.dir, e.data) for e in entries] == [  # type: ignore[union-attr]
        ("message", "in", "meanwhile"),
        ("close", "", ""),
    ]


def test_lines_held_behind_a_send_are_bounded() -> None:
    """A send that waits for a peer that does not read, while the peer sends a lot."""
    from wscli.recording import MAX_HELD_LINES

    stream = io.BytesIO()
    recorder = Recorder(stream)
    recorder.header(Header(url="ws://h/"))
    done = recorder.sending("stuck")
    for index in range(MAX_HELD_LINES + 1):
        recorder.message("in", str(index))
    assert stream.getvalue().count(b"\n") == 1 + 1 + MAX_HELD_LINES + 1  # all written
    done(True)  # already written in its place: nothing more
    stream.seek(0)
    entries = list(read_recording(stream))[1:]
    assert entries[0].data == "stuck" and len(entries) == MAX_HELD_LINES + 2  # type: ignore[union-attr]
