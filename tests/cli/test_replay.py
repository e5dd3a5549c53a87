"""``wscli replay``: a recorded conversation as a regression test against a server."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TIMEOUT

import wscli
from wscli.matching import Matcher

from .conftest import run_cli


def record(server: Any, path: Path, *messages: str, status: int = 0) -> None:
    args = ["connect", "--record", str(path)]
    for message in messages:
        args += ["-x", message]
    result = run_cli(*args, server.url)
    assert result.status == status, result.stderr


def write(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def header(url: str) -> dict[str, Any]:
    return {"type": "header", "version": 1, "url": url}


def test_record_then_replay_against_the_same_echo_server_matches(
    server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "echo.ndjson"
    record(server, path, "hello", '{"op": "sum", "a": 1}', "binary 00ff")
    server.seen.messages.clear()
    result = run_cli("replay", "--no-delay", str(path))
    assert result.status == 0, result.stderr
    assert "match" in result.stderr and "3 sent, 3 received" in result.stderr
    # The server saw the recorded messages again, in order.
    assert server.seen.messages == ["hello", '{"op": "sum", "a": 1}', "binary 00ff"]


def test_replay_against_a_server_changed_in_one_reply_exits_6_with_the_diff(
    server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "echo.ndjson"
    record(server, path, "one", '{"n": 2, "ok": true}', "three")

    def changed(ws: Any, data: Any) -> bool:
        if data.startswith("{"):
            ws.send('{"n": 2, "ok": false}')
            return True
        return False

    server.on_message = changed
    result = run_cli("replay", "--no-delay", str(path))
    assert result.status == 6, result.stderr
    # Where the answer sits depends on how sends and answers interleaved when recording.
    assert re.search(r"mismatch: line \d: the message received differs", result.stderr)
    assert "ok: expected true, received false" in result.stderr


def test_ignore_json_lets_a_timestamp_field_pass(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "ts.ndjson"
    record(server, path, '{"data": {"id": 7, "v": "x"}, "ts": 1000}')
    stamps = iter(range(2000, 3000))

    def stamped(ws: Any, data: Any) -> bool:
        value = json.loads(data)
        value["ts"] = next(stamps)
        value["data"]["id"] = 8
        ws.send(json.dumps(value))
        return True

    server.on_message = stamped
    strict = run_cli("replay", "--no-delay", str(path))
    assert strict.status == 6
    assert "ts: expected 1000, received 2000" in strict.stderr
    loose = run_cli(
        "replay", "--no-delay", "--ignore-json", "ts", "--ignore-json", "data.id", str(path)
    )
    assert loose.status == 0, loose.stderr
    # Only the ignored fields may differ: a change elsewhere still fails.
    server.on_message = lambda ws, data: ws.send('{"data": {"id": 7, "v": "y"}, "ts": 1}') or True
    other = run_cli("replay", "--no-delay", "--ignore-json", "ts", str(path))
    assert other.status == 6
    assert "data.v" in other.stderr


def test_ignore_regex_blanks_what_changes(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "id.ndjson"
    record(server, path, "request id=abc123 done")
    server.on_message = lambda ws, data: ws.send("request id=zzz999 done") or True
    assert run_cli("replay", "--no-delay", str(path)).status == 6
    result = run_cli("replay", "--no-delay", "--ignore-regex", r"id=\w+", str(path))
    assert result.status == 0, result.stderr


def test_unordered_accepts_answers_within_the_window(server: Any, tmp_path: Path) -> None:
    path = write(
        tmp_path / "u.ndjson",
        header(server.url),
        {"time": 0, "dir": "out", "type": "text", "data": "go"},
        {"time": 0.01, "dir": "in", "type": "text", "data": "a"},
        {"time": 0.02, "dir": "in", "type": "text", "data": "b"},
        {"time": 0.03, "type": "close", "code": 1000, "by": "us"},
    )

    def backwards(ws: Any, data: Any) -> bool:
        ws.send("b")
        ws.send("a")
        return True

    server.on_message = backwards
    ordered = run_cli("replay", "--no-delay", str(path))
    assert ordered.status == 6
    assert 'expected text "a"' in ordered.stderr and 'received text "b"' in ordered.stderr
    assert run_cli("replay", "--no-delay", "--unordered", "2", str(path)).status == 0


def test_a_server_that_never_answers_is_a_bounded_mismatch(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "silent.ndjson"
    record(server, path, "hello")
    server.on_message = lambda ws, data: True  # swallows everything
    result = run_cli("replay", "--no-delay", "-t", "0.5s", str(path))
    assert result.status == 6
    assert "no message within 0.5s; line 3 expected" in result.stderr


def test_an_extra_message_from_the_server_is_a_mismatch(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "extra.ndjson"
    record(server, path, "hello")
    server.on_message = lambda ws, data: (ws.send(data), ws.send("surprise")) and True
    result = run_cli("replay", "--no-delay", str(path))
    assert result.status == 6
    assert "a message the recording does not have" in result.stderr
    assert "surprise" in result.stderr


def test_a_server_that_closes_early_is_a_mismatch(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "closes.ndjson"
    record(server, path, "one", "two")
    server.on_message = lambda ws, data: ws.close(1011, "boom") or True
    result = run_cli("replay", "--no-delay", str(path))
    assert result.status == 6
    assert "closed the connection (1011" in result.stderr


def test_replay_json_output_for_ci(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "j.ndjson"
    record(server, path, "x")
    server.on_message = lambda ws, data: ws.send(b"\x00\x01") or True
    result = run_cli("replay", "--no-delay", "--json", str(path))
    assert result.status == 6
    events = [json.loads(line) for line in result.stdout.splitlines()]
    mismatch = next(e for e in events if e["type"] == "mismatch")
    assert mismatch["line"] == 3 and mismatch["expected"] == "x"
    assert mismatch["received"] == {"base64": "AAE="}
    assert events[-1]["type"] == "result" and events[-1]["match"] is False


def test_peer_text_in_a_difference_is_escaped(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "esc.ndjson"
    record(server, path, "plain")
    server.on_message = lambda ws, data: ws.send("\x1b]0;pwned\x07\x1b[2J") or True
    result = run_cli("replay", "--no-delay", str(path))
    assert result.status == 6
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_a_recorded_server_close_is_expected(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "server-close.ndjson"
    record(server, path, "close 4000 done", status=5)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[-1]["by"] == "peer" and lines[-1]["code"] == 4000
    assert run_cli("replay", "--no-delay", str(path)).status == 0
    server.on_message = lambda ws, data: ws.close(4001, "other") or True
    result = run_cli("replay", "--no-delay", str(path))
    assert result.status == 6
    assert "closed with 4001, recorded: 4000" in result.stderr


@pytest.fixture
def one_shot_http() -> Iterator[str]:
    """A TCP port whose only answer is a 403 to the upgrade."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        listener.settimeout(TIMEOUT)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{port}/"
    listener.close()
    thread.join(TIMEOUT)


def test_replay_keeps_the_usual_statuses(tmp_path: Path, one_shot_http: str) -> None:
    path = write(tmp_path / "r.ndjson", header("ws://127.0.0.1:1/"))
    assert run_cli("replay", str(path), one_shot_http).status == 4


def test_a_damaged_recording_is_a_usage_error_with_its_line(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text(
        json.dumps(header(server.url)) + "\n" + '{"time": 0, "dir": "out", "type": "text", "da'
    )
    result = run_cli("replay", str(path))
    assert result.status == 2
    assert re.search(r"bad\.ndjson line 2: .*ends in the middle", result.stderr)
    missing = run_cli("replay", str(tmp_path / "none.ndjson"))
    assert missing.status == 2 and "cannot read it" in missing.stderr


def test_matcher_compares_binary_byte_for_byte() -> None:
    matcher = Matcher(["ts"], [re.compile("x")])
    assert matcher.matches(b"\x00x", b"\x00x")
    assert not matcher.matches(b"\x00x", b"\x00y")
    assert not matcher.matches("ab", b"ab")
    assert matcher.matches('{"ts": 1, "a": [1]}', '{"a": [1], "ts": 2}')
    deep = "[" * 100_000 + "]" * 100_000
    assert matcher.matches(deep, deep) and not matcher.matches(deep, deep + " ")
    assert "first difference at character 200000" in " ".join(matcher.differences(deep, deep + " "))
    assert matcher.differences('{"a": {"b": 1}}', '{"a": {"c": 1}}') == [
        "a.b: missing (expected 1)",
        "a.c: not expected (1)",
    ]


def test_a_recorded_url_with_redacted_secrets_is_pointed_out(server: Any, tmp_path: Path) -> None:
    path = tmp_path / "secret.ndjson"
    record(server, path, "hi")
    assert run_cli("replay", "--no-delay", str(path)).status == 0
    text = path.read_text().replace(
        server.url.rstrip("/") + "/", server.url.rstrip("/") + "/?token=REDACTED", 1
    )
    path.write_text(text)
    result = run_cli("replay", "--no-delay", str(path))
    assert result.status == 0, result.stderr
    assert "REDACTED: give the URL" in result.stderr


class FakeConnection:
    """Answers each message sent with the same message, at once; records the sends."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.queue: list[Any] = []
        self.closed_with: tuple[int, str] | None = None

    def send(self, data: Any, timeout: float | None = None) -> None:
        self.sent.append(data)
        self.queue.append(data)

    def recv(self, timeout: float | None = None) -> Any:
        if self.queue:
            return self.queue.pop(0)
        if self.closed_with is not None:
            raise wscli.ConnectionClosedOK(None, None)
        raise TimeoutError

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)

    def terminate(self) -> None:
        self.closed_with = (1006, "")


@pytest.mark.parametrize(("speed", "no_delay"), [(1.0, False), (4.0, False), (1.0, True)])
def test_recorded_spacing_is_divided_by_speed(speed: float, no_delay: bool) -> None:
    from wscli.recording import Entry
    from wscli.replay import Replayer

    entries = [
        Entry(line=2, time=0.0, kind="message", dir="out", data="a"),
        Entry(line=3, time=0.001, kind="message", dir="in", data="a"),
        Entry(line=4, time=2.001, kind="message", dir="out", data="b"),
        Entry(line=5, time=2.002, kind="message", dir="in", data="b"),
        Entry(line=6, time=2.5, kind="close", code=1000, by="us"),
    ]
    sleeps: list[float] = []
    ws = FakeConnection()
    result = Replayer(
        ws, Matcher(), speed=speed, no_delay=no_delay, timeout=1.0, sleep=sleeps.append
    ).run(iter(entries))
    assert result.matched and ws.sent == ["a", "b"] and ws.closed_with == (1000, "")
    if no_delay:
        assert sleeps == []
    else:
        # "b" waits its recorded 2 s after the answer to "a", divided by the speed.
        assert len(sleeps) == 1 and sleeps[0] == pytest.approx(2.0 / speed, abs=0.05)


def test_the_shared_exit_status_help_names_a_replay_mismatch() -> None:
    # Status 6 is what `replay` exits with on a mismatch: the epilog every command
    # shares says so, next to its other meanings.
    result = run_cli("--help")
    assert result.status == 0
    text = " ".join(result.stdout.split())
    six = text[text.index(" 6 ") : text.index(" 130 ")]
    assert "replay" in six and "recorded" in six
    replay = " ".join(run_cli("replay", "--help").stdout.split())
    assert "replay: the server did not answer as recorded" in replay
