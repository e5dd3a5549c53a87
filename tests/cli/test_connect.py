"""``wscli connect`` in process: pipes, -x, JSON, exit statuses, options on the wire."""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any

import pytest

import wscli
from wscli import params
from wscli.commands.connect import backoff_delay

from .conftest import HANG_GUARD, TIMEOUT, Run, ScriptedServer, free_port, run_cli


def connect(*args: str, input: str | bytes | None = "") -> Run:
    return run_cli("connect", *args, input=input)


def events(run: Run) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


# -- pipes -------------------------------------------------------------------------------


def test_pipe_sends_each_line_and_prints_each_reply(server: ScriptedServer) -> None:
    run = connect(server.url, input="hello\nworld\n")
    assert run.status == 0, run.stderr
    assert run.stdout == "hello\nworld\n"
    assert server.seen.messages == ["hello", "world"]
    assert run.stderr == ""  # a clean run says nothing on stderr in a pipe


def test_a_run_in_process_leaves_no_output_thread_behind(server: ScriptedServer) -> None:
    import threading

    def output_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "wscli-output"}

    before = output_threads()
    run = connect(server.url, input="hello\n")
    assert run.status == 0, run.stderr
    assert run.stdout == "hello\n"
    for thread in output_threads() - before:
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def test_pipe_keeps_a_last_line_without_newline_and_strips_crlf(server: ScriptedServer) -> None:
    run = connect(server.url, input="one\r\ntwo")
    assert run.status == 0
    assert server.seen.messages == ["one", "two"]


def test_pipe_closes_with_1000_at_end_of_input(server: ScriptedServer) -> None:
    run = connect(server.url, input="hi\n")
    assert run.status == 0
    server.seen.wait_for(lambda: bool(server.seen.closes))
    assert server.seen.closes == [(1000, "")]


def test_close_code_and_reason_are_sent_at_end_of_input(server: ScriptedServer) -> None:
    run = connect("--close-code", "4001", "--close-reason", "done", server.url, input="x\n")
    assert run.status == 0  # a close we asked for is a success, whatever its code
    server.seen.wait_for(lambda: bool(server.seen.closes))
    assert server.seen.closes == [(4001, "done")]


def test_wait_forever_keeps_receiving_until_the_server_closes(server: ScriptedServer) -> None:
    run = connect("-w", "-1", server.url, input="say a\nsay b\nclose 1000 bye\n")
    assert run.status == 0
    assert run.stdout == "a\nb\n"


def test_wait_seconds_keeps_receiving_then_closes(server: ScriptedServer) -> None:
    run = connect("-w", "300ms", server.url, input="say late\n")
    assert run.status == 0
    assert run.stdout == "late\n"


def test_null_delimits_input_and_output(server: ScriptedServer) -> None:
    run = connect("--null", server.url, input="multi\nline\0second\0")
    assert run.status == 0
    assert server.seen.messages == ["multi\nline", "second"]
    assert run.stdout_bytes == b"multi\nline\0second\0"


def test_binary_hex_reads_and_writes_hex_lines(server: ScriptedServer) -> None:
    run = connect("--binary", "hex", server.url, input="00 ff 41\n")
    assert run.status == 0
    assert server.seen.messages == [b"\x00\xffA"]
    assert run.stdout == "00ff41\n"


def test_binary_base64_reads_and_writes_base64_lines(server: ScriptedServer) -> None:
    run = connect("--binary", "base64", server.url, input="AP9B\n")
    assert run.status == 0
    assert server.seen.messages == [b"\x00\xffA"]
    assert run.stdout == "AP9B\n"


def test_bad_binary_line_is_skipped_with_a_warning(server: ScriptedServer) -> None:
    run = connect("--binary", "hex", server.url, input="zz\n01\n")
    assert run.status == 0
    assert server.seen.messages == [b"\x01"]
    assert "not valid hex" in run.stderr


def test_binary_without_encoding_is_written_raw(server: ScriptedServer) -> None:
    run = connect(server.url, input="binary 00ff0a\n")
    assert run.stdout_bytes == b"\x00\xff\n\n"


# -- -x, --count, --expect ------------------------------------------------------------------


def test_execute_sends_messages_instead_of_stdin(server: ScriptedServer) -> None:
    run = connect("-x", "one", "-x", "two", server.url, input="ignored\n")
    assert run.status == 0
    assert server.seen.messages == ["one", "two"]
    assert run.stdout == "one\ntwo\n"


def test_count_exits_after_n_messages(server: ScriptedServer) -> None:
    run = connect("--count", "2", "-x", "a", "-x", "b", "-x", "c", server.url)
    assert run.status == 0
    assert run.stdout.splitlines()[:2] == ["a", "b"]


def test_count_not_reached_exits_6(server: ScriptedServer) -> None:
    run = connect("--count", "3", "-x", "a", "-x", "close 1000", server.url)
    assert run.status == 6
    assert "received 1 of 3 messages before the connection closed" in run.stderr


def test_expect_exits_0_at_the_first_match(server: ScriptedServer) -> None:
    run = connect("--expect", r"st\w+", "-x", "nope", "-x", "status ok", server.url)
    assert run.status == 0
    assert run.stdout == "nope\nstatus ok\n"
    server.seen.wait_for(lambda: bool(server.seen.closes))
    assert server.seen.closes == [(1000, "")]


def test_expect_times_out_with_status_6(server: ScriptedServer) -> None:
    run = connect("--expect", "never", "-t", "300ms", "-x", "hello", server.url)
    assert run.status == 6
    assert "no message matched /never/ within" in run.stderr


def test_expect_rejects_a_bad_regex(server: ScriptedServer) -> None:
    run = connect("--expect", "(", server.url)
    assert run.status == 2
    assert "not a regular expression" in run.stderr


# -- JSON -------------------------------------------------------------------------------


def test_json_writes_one_object_per_event(server: ScriptedServer) -> None:
    run = connect("--json", server.url, input="two\nlines\n")
    assert run.status == 0
    records = events(run)
    assert [r["type"] for r in records] == ["open", "text", "text", "text", "text", "close"]
    assert records[0]["url"] == server.url + "/"
    messages = [(r["dir"], r["data"]) for r in records if r["type"] == "text"]
    assert sorted(messages) == [("in", "lines"), ("in", "two"), ("out", "lines"), ("out", "two")]
    assert records[-1] == {**records[-1], "code": 1000, "by": "us", "clean": True}
    assert all(isinstance(r["time"], float) for r in records)


def test_json_is_lossless_for_binary_and_multiline(server: ScriptedServer) -> None:
    run = connect("--json", "-x", "binary 00ff", "-x", "say a\nb", server.url)
    received = [r for r in events(run) if r.get("dir") == "in"]
    assert received[0]["type"] == "binary"
    assert base64.b64decode(received[0]["base64"]) == b"\x00\xff"
    assert received[1] == {**received[1], "type": "text", "data": "a\nb"}


def test_json_binary_hex_uses_a_hex_field(server: ScriptedServer) -> None:
    run = connect("--json", "--binary", "hex", "-x", "binary 00ff", server.url)
    received = [r for r in events(run) if r.get("dir") == "in"]
    assert received[0]["hex"] == "00ff"


def test_json_close_event_carries_the_servers_code(server: ScriptedServer) -> None:
    run = connect("--json", "-w", "-1", "-x", "close 1011 oops", server.url)
    assert run.status == 5
    close = events(run)[-1]
    assert close == {**close, "type": "close", "code": 1011, "reason": "oops", "by": "peer"}


# -- how it ends ------------------------------------------------------------------------


def test_server_closing_with_an_error_code_exits_5_and_explains(server: ScriptedServer) -> None:
    run = connect("-w", "-1", "-x", "close 1011 oops", server.url)
    assert run.status == 5
    assert 'closed by the server: 1011 (internal error) "oops"' in run.stderr


def test_server_closing_normally_exits_0(server: ScriptedServer) -> None:
    run = connect("-w", "-1", "-x", "close 1001 bye", server.url)
    assert run.status == 0


@pytest.mark.usefixtures("long_close_timeout")
def test_greeting_then_close_is_shown_at_once(server: ScriptedServer) -> None:
    # The message and the close may both arrive before the CLI attaches its listeners.
    server.on_connect = lambda ws: (ws.send("welcome"), ws.close(1008, "auth required"))
    started = time.monotonic()
    run = connect("-w", "-1", server.url)
    assert time.monotonic() - started < HANG_GUARD  # it did not wait for the close timeout
    assert run.status == 5
    assert run.stdout == "welcome\n"
    assert 'closed by the server: 1008 (policy violation) "auth required"' in run.stderr


def test_dropped_connection_exits_5(server: ScriptedServer) -> None:
    run = connect("-w", "-1", "-x", "drop", server.url)
    assert run.status == 5
    assert "connection dropped: 1006 (abnormal closure)" in run.stderr


def test_cannot_connect_exits_3() -> None:
    run = connect(f"ws://127.0.0.1:{free_port()}/", input="x\n")
    assert run.status == 3
    assert "cannot connect to 127.0.0.1" in run.stderr
    assert run.stderr.count("\n") == 1  # one line, no traceback


def test_refused_handshake_exits_4_with_the_http_status(make_server: Any) -> None:
    refusing = make_server(verify_client=lambda info: (False, 403, "go away"))
    run = connect(refusing.url, input="x\n")
    assert run.status == 4
    assert "HTTP 403" in run.stderr


def test_show_handshake_shows_a_refused_response(make_server: Any) -> None:
    refusing = make_server(verify_client=lambda info: (False, 403, "go away", {"X-Why": "test"}))
    run = connect("--show-handshake", refusing.url, input="")
    assert run.status == 4
    assert "< HTTP/1.1 403" in run.stderr
    assert "< X-Why: test" in run.stderr


def test_location_follows_redirects(make_server: Any) -> None:
    target = make_server()
    redirecting = make_server(
        verify_client=lambda info: (False, 302, None, {"Location": target.url + "/moved"})
    )
    run = connect("-x", "hi", redirecting.url)
    assert run.status == 4
    assert "HTTP 302" in run.stderr and "-L follows redirects" in run.stderr
    run = connect("-L", "-x", "hi", redirecting.url)
    assert run.status == 0, run.stderr
    assert run.stdout == "hi\n"
    assert target.seen.requests[0].path == "/moved"


def test_invalid_url_is_a_usage_error() -> None:
    run = connect("ftp://example.com/")
    assert run.status == 2
    assert "isn't a valid websocket uri" in run.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-size", "lots", "is not a size"),
        ("--open-timeout", "soon", "is not a duration"),
        ("--close-code", "1005", "may not be sent"),
        ("-H", "no-colon", "write it as 'Name: value'"),
        ("--auth", "nopassword", "user:pass"),
        ("--binary", "octal", "is not one of"),
    ],
)
def test_bad_option_values_exit_2(option: str, value: str, message: str) -> None:
    run = connect(option, value, "ws://127.0.0.1:1/")
    assert run.status == 2
    assert message in run.stderr


# -- options on the wire --------------------------------------------------------------------


def test_headers_origin_auth_and_subprotocols_reach_the_server(make_server: Any) -> None:
    scripted = make_server(handle_protocols=lambda offered, request: offered[-1])
    run = connect(
        "-H", "X-Token: 42", "-o", "https://app.example", "--auth", "ann:s3cret",
        "-s", "chat.v1", "-s", "chat.v2", scripted.url, input="x\n",
    )  # fmt: skip
    assert run.status == 0, run.stderr
    headers = scripted.seen.requests[0].headers
    assert headers["X-Token"] == "42"
    assert headers["Origin"] == "https://app.example"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ann:s3cret").decode()
    assert headers["Sec-WebSocket-Protocol"] == "chat.v1, chat.v2"


def test_url_userinfo_becomes_basic_auth(server: ScriptedServer) -> None:
    url = server.url.replace("ws://", "ws://bob:pw@")
    assert connect(url, input="x\n").status == 0
    expected = "Basic " + base64.b64encode(b"bob:pw").decode()
    assert server.seen.requests[0].headers["Authorization"] == expected


def test_protocol_version_8_is_offered(server: ScriptedServer) -> None:
    run = connect("-p", "8", server.url, input="x\n")
    assert run.status == 0, run.stderr
    assert server.seen.requests[0].headers["Sec-WebSocket-Version"] == "8"
    assert run.stdout == "x\n"


def test_show_handshake_prints_both_heads_and_the_negotiation(make_server: Any) -> None:
    scripted = make_server(handle_protocols=lambda offered, request: offered[0])
    run = connect("--show-handshake", "-s", "chat", scripted.url, input="")
    assert run.status == 0
    assert "> GET / HTTP/1.1" in run.stderr
    assert "< HTTP/1.1 101 Switching Protocols" in run.stderr
    assert "subprotocol: chat" in run.stderr


def test_compression_flag_negotiates_permessage_deflate(make_server: Any) -> None:
    scripted = make_server(per_message_deflate=True)
    run = connect("--compression", "--json", scripted.url, input="x\n")
    assert events(run)[0]["extensions"] == ["permessage-deflate"]
    run = connect("--no-compression", "--json", scripted.url, input="x\n")
    assert "extensions" not in events(run)[0]


def test_max_size_closes_with_1009(server: ScriptedServer) -> None:
    run = connect("--max-size", "4", "-w", "-1", "-x", "say too long", server.url)
    assert run.status == 5
    assert "1009 (message too big)" in run.stderr


def test_show_ping_pong_reports_pings_on_stderr(server: ScriptedServer) -> None:
    run = connect("-P", "-x", "ping hb", "-w", "300ms", server.url)
    assert run.status == 0
    assert "< ping 'hb'" in run.stderr


def test_reconnect_replays_execute_messages(server: ScriptedServer) -> None:
    drops = []

    def first_drops(ws: wscli.WebSocket, data: Any) -> bool:
        if not drops:
            drops.append(data)
            ws.terminate()
            return True
        return False

    server.on_message = first_drops
    run = connect("--reconnect", "--expect", "hi", "-t", "5s", "-x", "hi", server.url)
    assert run.status == 0, run.stderr
    assert server.seen.messages == ["hi", "hi"]
    assert "reconnecting in" in run.stderr


def test_exec_bridges_a_subprocess(server: ScriptedServer) -> None:
    script = (
        "import os, sys; print('hello from', os.environ['WSCLI_URL'], flush=True);"
        "print('got', sys.stdin.readline().strip(), flush=True)"
    )
    run = connect("--exec", f'{_python()} -c "{script}"', server.url)
    assert run.status == 0, run.stderr
    server.seen.wait_for(lambda: len(server.seen.messages) == 2)
    assert server.seen.messages == [
        f"hello from {server.url}/",
        f"got hello from {server.url}/",
    ]


def test_exec_with_an_unknown_program_is_a_usage_error() -> None:
    run = connect("--exec", "no-such-program-wscli", "ws://127.0.0.1:1/")
    assert run.status == 2
    assert "command not found" in run.stderr


def test_tls_ca_file_is_trusted(tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    import ssl

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    scripted = ScriptedServer(ssl=context)
    try:
        url = scripted.url.replace("ws://", "wss://")
        assert connect(url, input="x\n").status == 3  # not trusted by default
        run = connect("--ca", str(ca_file), url, input="secure\n")
        assert run.status == 0, run.stderr
        assert run.stdout == "secure\n"
        assert connect("-n", url, input="x\n").status == 0
    finally:
        scripted.close()


# -- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [("1024", 1024), ("64k", 64_000), ("16MiB", 16 * 2**20), ("1.5KiB", 1536), ("2 GB", 2e9)],
)
def test_sizes_parse(text: str, size: int) -> None:
    assert params.parse_size(text) == size


def test_unlimited_size_is_none() -> None:
    assert params.parse_size("0", allow_unlimited=True) is None
    with pytest.raises(ValueError):
        params.parse_size("12 parsecs")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2", 2.0), ("2s", 2.0), ("500ms", 0.5), ("1.5m", 90.0), ("1h", 3600.0), (".25", 0.25)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert params.parse_duration(text) == pytest.approx(seconds)


def test_forever_is_infinite_only_when_allowed() -> None:
    assert math.isinf(params.parse_duration("-1", allow_forever=True))
    with pytest.raises(ValueError):
        params.parse_duration("-1")


def test_backoff_grows_with_jitter_and_a_ceiling() -> None:
    import random

    rng = random.Random(7)
    delays = [backoff_delay(attempt, rng) for attempt in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert 0.5 <= delays[1] <= 1.0
    assert all(15.0 <= d <= 30.0 for d in delays[-3:])


def test_client_kwargs_map_flags_to_library_arguments() -> None:
    kwargs = params.client_kwargs(
        headers=[("A", "b")], subprotocols=("x",), max_size=None, compression=False,
        no_check=True, sni="example.org",
    )  # fmt: skip
    assert kwargs["headers"] == [("A", "b")]
    assert kwargs["protocols"] == ["x"]
    assert kwargs["max_payload"] is None
    assert kwargs["per_message_deflate"] is False
    assert kwargs.get("reject_unauthorized") is False or "ssl" in kwargs
    assert "example.org" in (kwargs.get("servername"), kwargs.get("server_hostname"))


def test_help_ends_with_examples_and_exit_statuses() -> None:
    run = run_cli("connect", "--help")
    assert run.status == 0
    assert "Examples:" in run.stdout
    assert "Exit status:" in run.stdout
    assert run.stdout.index("Examples:") > run.stdout.index("Exit status:")
    assert run.stdout.rstrip().endswith("ws://localhost:8080/health")


def _python() -> str:
    import sys

    return sys.executable


_ = TIMEOUT
