"""``listen --replay`` and ``listen --rules``: mock servers from a recording or from rules."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import TIMEOUT

import wscli
from wscli.rules import RulesError, load_rules

from .conftest import listening, run_cli


def write(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


CONVERSATION = (
    {"type": "header", "version": 1, "url": "ws://127.0.0.1:1/"},
    {"time": 0.0, "dir": "in", "type": "text", "data": "welcome"},
    {"time": 0.05, "dir": "out", "type": "text", "data": '{"op": "hello", "ts": 1}'},
    {"time": 0.06, "dir": "in", "type": "text", "data": '{"hi": true}'},
    {"time": 0.07, "dir": "in", "type": "binary", "base64": "AP8QAA=="},
    {"time": 0.1, "dir": "out", "type": "binary", "base64": "AQID"},
    {"time": 0.11, "dir": "in", "type": "text", "data": "got bytes"},
    {"time": 0.2, "type": "close", "code": 4000, "reason": "done", "by": "peer", "clean": True},
)


def test_listen_replay_answers_a_recorded_client_the_same_way(tmp_path: Path) -> None:
    path = write(tmp_path / "c.ndjson", *CONVERSATION)
    with listening("--replay", str(path)) as (_process, port):
        url = f"ws://127.0.0.1:{port}/"
        result = run_cli("replay", str(path), url)
        assert result.status == 0, result.stderr
        assert "2 sent, 4 received" in result.stderr
        # Each client gets the whole conversation: a second one too.
        again = run_cli("replay", "--speed", "10", str(path), url)
        assert again.status == 0, again.stderr


def test_a_real_recording_served_by_listen_replay_passes_its_own_replay(
    server: Any, tmp_path: Path
) -> None:
    path = tmp_path / "real.ndjson"
    recorded = run_cli(
        "connect",
        "--record",
        str(path),
        "-x",
        "hello",
        "-x",
        "binary 00ff",
        "-x",
        "say hi",
        server.url,
    )
    assert recorded.status == 0, recorded.stderr
    server.close()  # the real server is gone: the mock stands in for it
    with listening("--replay", str(path)) as (_process, port):
        result = run_cli("replay", str(path), f"ws://127.0.0.1:{port}/")
        assert result.status == 0, result.stderr
        assert "3 sent, 3 received" in result.stderr


def test_listen_replay_agrees_to_the_recorded_subprotocol(tmp_path: Path) -> None:
    first, *rest = CONVERSATION
    path = write(tmp_path / "s.ndjson", {**first, "subprotocol": "chat.v2"}, *rest)
    with listening("--replay", str(path)) as (_process, port):
        with wscli.connect(f"ws://127.0.0.1:{port}/", ["chat.v1", "chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"
            assert ws.recv(timeout=TIMEOUT) == "welcome"


def test_listen_replay_waits_for_the_recorded_message_and_reports_others(tmp_path: Path) -> None:
    path = write(tmp_path / "c.ndjson", *CONVERSATION)
    with listening("--replay", str(path), "--ignore-json", "ts") as (process, port):
        with wscli.connect(f"ws://127.0.0.1:{port}/") as ws:
            assert ws.recv(timeout=TIMEOUT) == "welcome"
            ws.send('{"op": "bye"}')  # not what the recording's client said
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.3)
            ws.send('{"op": "hello", "ts": 99}')  # the same but for an ignored field
            assert ws.recv(timeout=TIMEOUT) == '{"hi": true}'
            assert ws.recv(timeout=TIMEOUT) == b"\x00\xff\x10\x00"
        process.terminate()
        stderr = process.communicate(timeout=TIMEOUT)[1].decode()
    assert "line 3 expected" in stderr and "op: expected" in stderr


def test_listen_replay_of_a_damaged_recording_is_refused_before_listening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text('{"type": "hello"}\n')
    result = run_cli("listen", "--port", "0", "--replay", str(path))
    assert result.status == 2
    assert "bad.ndjson line 1: the first line is not a recording header" in result.stderr
    assert "listening" not in result.stderr


RULES = r"""
[[rule]]
text = "ping"
reply = "pong"

[[rule]]
regex = '^hello (?P<name>\w+) (\d+)$'
reply = ["hi {name}", "number {2}, {{literal}}"]

[[rule]]
json = { op = "sub", "data.kind" = "ticks" }
reply_json = { ok = true, topic = "{json.data.topic}", n = "{json.n}", said = "{text}" }
repeat = 3
interval = "20ms"

[[rule]]
text = "bye"
close = 4001
close_reason = "later"

[[rule]]
regex = "^(ping|hello)"
reply = "never: an earlier rule matches first"

[default]
reply = "unknown: {text}"
"""


def test_rules_with_regex_groups_and_json_templates_answer_as_written(tmp_path: Path) -> None:
    path = tmp_path / "mock.toml"
    path.write_text(RULES)
    request = json.dumps({"op": "sub", "data": {"kind": "ticks", "topic": 'a"}\\'}, "n": 5})
    with listening("--rules", str(path)) as (_process, port):
        with wscli.connect(f"ws://127.0.0.1:{port}/") as ws:
            ws.send("ping")
            assert ws.recv(timeout=TIMEOUT) == "pong"
            ws.send("hello bob 42")
            assert ws.recv(timeout=TIMEOUT) == "hi bob"
            assert ws.recv(timeout=TIMEOUT) == "number 42, {literal}"
            ws.send(request)
            for _ in range(3):
                reply = json.loads(ws.recv(timeout=TIMEOUT))
                # The request's quote, brace and backslash stay inside their string.
                assert reply == {"ok": True, "topic": 'a"}\\', "n": 5, "said": request}
            ws.send("{{0.__class__}} {text.__class__}")
            assert ws.recv(timeout=TIMEOUT) == "unknown: {{0.__class__}} {text.__class__}"
            deep = "[" * 100_000 + "]" * 100_000  # nested past any recursion limit
            ws.send(deep)
            assert ws.recv(timeout=TIMEOUT) == "unknown: " + deep
            ws.send("bye")
            with pytest.raises(wscli.ConnectionClosed) as closed:
                ws.recv(timeout=TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


def test_a_client_that_does_not_read_never_blocks_the_others(tmp_path: Path) -> None:
    path = tmp_path / "flood.toml"
    path.write_text(
        '[[rule]]\ntext = "flood"\nreply = "' + "x" * 60000 + '"\nrepeat = 100000\n'
        'interval = "1ms"\n\n[[rule]]\ntext = "ping"\nreply = "pong"\n'
    )
    with listening("--rules", str(path)) as (process, port):
        # A raw client: sends "flood" (masked text frame), then never reads.
        stalled = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            b"\x81\x85\x00\x00\x00\x00flood"
        )
        time.sleep(0.5)  # let the flood fill every buffer between us
        try:
            for _ in range(5):
                with wscli.connect(f"ws://127.0.0.1:{port}/") as ws:
                    ws.send("ping")
                    assert ws.recv(timeout=TIMEOUT) == "pong"
            assert process.poll() is None
        finally:
            stalled.close()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[[rule]\n", "not valid TOML: "),
        ('[[rule]]\ntext = "a"\n', "line 1 ([[rule]] #1): does nothing"),
        ('[[rule]]\ntext = "a"\nreplay = "b"\n', "line 3, key 'replay': unknown key"),
        ('[[rule]]\ntext = 5\nreply = "b"\n', "line 2, key 'text': must be a string"),
        ('[[rule]]\nregex = "("\nreply = "b"\n', "line 2, key 'regex': not a regular expression"),
        ('[[rule]]\ntext = "a"\nreply = [1]\n', "key 'reply': must be a string or a list"),
        ('[[rule]]\ntext = "a"\nreply = "{x}"\n', "line 3, key 'reply': unknown placeholder {x}"),
        ('[[rule]]\nregex = "(a)"\nreply = "{2}"\n', "unknown placeholder {2}"),
        ('[[rule]]\ntext = "a"\nreply = "{a.__class__}"\n', "unknown placeholder"),
        ('[[rule]]\ntext = "a"\nreply = "}"\n', "a lone '}'"),
        (
            '[[rule]]\ntext = "a"\nreply = "b"\nreply_json = {a = 1}\n',
            "line 4, key 'reply_json': give reply or reply_json",
        ),
        ('[[rule]]\ntext = "a"\nreply_json = {a = "{json.}"}\n', "unknown placeholder {json.}"),
        ('[[rule]]\ntext = "a"\nreply_json = {a = 1979-05-27}\n', "has no JSON form"),
        ('[[rule]]\ntext = "a"\nreply = "b"\ndelay = "soon"\n', "line 4, key 'delay'"),
        ('[[rule]]\ntext = "a"\nreply = "b"\ndelay = -1\n', "key 'delay': must be between"),
        ('[[rule]]\ntext = "a"\nreply = "b"\nrepeat = 0\n', "line 4, key 'repeat': must be"),
        ('[[rule]]\ntext = "a"\nreply = "b"\nrepeat = 3\n', "key 'repeat': needs an interval"),
        ('[[rule]]\ntext = "a"\nclose = 1006\n', "line 3, key 'close': 1006 cannot be sent"),
        ('[[rule]]\ntext = "a"\nclose = true\n', "key 'close': must be a close code"),
        (
            '[[rule]]\ntext = "a"\nclose = 1000\nclose_reason = "' + "r" * 124 + '"\n',
            "key 'close_reason': longer than 123 bytes",
        ),
        ('[[rule]]\ntext = "a"\nreply = "b"\njson = "x"\n', "line 4, key 'json': must be a table"),
        ('[default]\ntext = "a"\nreply = "b"\n', "the default rule matches anything"),
        ('[defaults]\nreply = "b"\n', "unknown table or key 'defaults'"),
        ('rule = "x"\n', "'rule' must be written [[rule]]"),
        ('default = "x"\n', "'default' must be a table"),
        ("# nothing\n", "nothing to answer with"),
        (
            '[[rule]]\ntext = "a"\nreply = "b"\n\n[[rule]]\ntext = "c"\nreply = "{y}"\n',
            "line 7, key 'reply'",
        ),
    ],
)
def test_every_rule_file_error_names_its_line_and_key(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "r.toml"
    path.write_text(content)
    with pytest.raises(RulesError) as caught:
        load_rules(str(path))
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_rule_file_that_is_not_utf8_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_bytes(b'[[rule]]\ntext = "\xff"\n')
    with pytest.raises(RulesError, match="not UTF-8"):
        load_rules(str(path))
    with pytest.raises(RulesError, match="no such file"):
        load_rules(str(tmp_path / "none.toml"))


def test_listen_rules_errors_are_usage_errors_before_listening(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[[rule]]\ntext = "a"\nreply = "{nope}"\n')
    result = run_cli("listen", "--port", "0", "--rules", str(path))
    assert result.status == 2
    assert "line 3, key 'reply': unknown placeholder {nope}" in result.stderr
    combined = run_cli("listen", "--port", "0", "--rules", str(path), "--echo")
    assert combined.status == 2 and "--echo" in combined.stderr


def test_listen_replay_reads_the_recording_once_before_listening(tmp_path: Path) -> None:
    # The recording is parsed at start-up into a script every client shares: a file
    # changed (or broken) afterwards changes nothing, and no client's turn reads a file
    # on the reactor thread that serves every other client.
    path = write(tmp_path / "c.ndjson", *CONVERSATION)
    with listening("--replay", str(path)) as (_process, port):
        path.write_text('{"type": "broken"\n')
        with (
            wscli.connect(f"ws://127.0.0.1:{port}/") as first,
            wscli.connect(f"ws://127.0.0.1:{port}/") as second,
        ):
            assert first.recv(timeout=TIMEOUT) == "welcome"
            assert second.recv(timeout=TIMEOUT) == "welcome"
            first.send('{"op": "hello", "ts": 1}')
            assert first.recv(timeout=TIMEOUT) == '{"hi": true}'


def test_listen_replay_refuses_a_line_beyond_the_mocks_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wscli.mock

    monkeypatch.setattr(wscli.mock, "MOCK_MAX_LINE", 1000)
    path = tmp_path / "big.ndjson"
    write(path, CONVERSATION[0], {"time": 0.0, "dir": "in", "type": "text", "data": "x" * 1000})
    result = run_cli("listen", "--port", "0", "--replay", str(path))
    assert result.status == 2, result.stderr
    assert "big.ndjson line 2: longer than 1000 bytes" in result.stderr
    assert "listening" not in result.stderr


def test_mock_setup_bounds_the_whole_script(tmp_path: Path) -> None:
    from wscli.matching import Matcher
    from wscli.mock import MockSetup
    from wscli.recording import RecordingError

    path = write(tmp_path / "c.ndjson", *CONVERSATION)
    size = path.stat().st_size
    options: dict[str, Any] = {"replay_file": str(path), "rules_file": None}
    with pytest.raises(RecordingError, match=f"larger than {size - 1} bytes"):
        MockSetup(**options, matcher=Matcher(), max_bytes=size - 1)
    setup = MockSetup(**options, matcher=Matcher(), max_bytes=size)
    setup.reactor.stop()
    assert [entry.line for entry in setup.script] == list(range(2, len(CONVERSATION) + 1))


def test_listen_replay_refuses_unordered(tmp_path: Path) -> None:
    path = write(tmp_path / "c.ndjson", *CONVERSATION)
    result = run_cli("listen", "--port", "0", "--replay", str(path), "--unordered", "2")
    assert result.status == 2
    assert "--unordered" in result.stderr and "wscli replay" in result.stderr
    assert "listening" not in result.stderr
    alone = run_cli("listen", "--port", "0", "--unordered", "2")
    assert alone.status == 2 and "wscli replay" in alone.stderr
