"""``wscli bench``: every echo checked, consistent numbers, exit statuses, servers that cheat."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import selectors
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import TIMEOUT

import wscli
from wscli.commands.bench import parse_size_range
from wscli.loadgen import ErrorKind, LoadConfig, Problem, Stats

from .conftest import Run, reap, run_cli, wscli_process


def run(*args: str) -> Run:
    """Run ``wscli bench ARGS`` through ``main()``, the real error boundary."""
    return run_cli("bench", *args)


def result_of(result: Run) -> dict[str, Any]:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    data: dict[str, Any] = json.loads(lines[0])
    assert data["type"] == "bench"
    return data


@contextlib.contextmanager
def serving(transform: Callable[[int, Any], Any] | None = None, **options: Any) -> Iterator[str]:
    """A wscli echo server; ``transform(n, data)`` may change (or drop, with None) echo n."""
    server = wscli.Server("127.0.0.1", 0, **options)
    counter = iter(range(1, 10**9))
    lock = threading.Lock()

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        def echo(data: Any, flags: Any) -> None:
            with lock:
                n = next(counter)
            if transform is not None:
                data = transform(n, data)
                if data is None:
                    return
            ws.send(data)  # str goes out as text, bytes as binary

        ws.on("message", echo)

    server.on("connection", on_connection)
    try:
        yield f"ws://127.0.0.1:{server.port}/"
    finally:
        server.close(timeout=2)


@pytest.fixture
def echo_url() -> Iterator[str]:
    with serving() as url:
        yield url


def check_consistent(data: dict[str, Any]) -> None:
    """The numbers of a clean run add up."""
    messages, latency = data["messages"], data["latency_ms"]
    assert messages["verified"] == messages["sent"] == latency["count"]
    assert messages["lost"] == 0 and data["errors"] == {}
    assert sum(data["histogram"].values()) == latency["count"]
    assert latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"]
    assert latency["p99"] <= latency["p99.9"] <= latency["max"]
    assert messages["per_second"] > 0


# -- clean runs -------------------------------------------------------------------------


def test_closed_loop_counts_add_up(echo_url: str) -> None:
    result = run(echo_url, "-c", "3", "-n", "40", "--json")
    assert result.status == 0, result.stderr
    data = result_of(result)
    check_consistent(data)
    assert data["messages"]["sent"] == 120
    assert data["messages"]["bytes_verified"] == 120 * 32
    assert data["connections"] == {
        "opened": 3,
        "failed": 0,
        "closed_cleanly": 3,
        "handshake_ms": data["connections"]["handshake_ms"],
    }
    assert data["connections"]["handshake_ms"]["count"] == 3


def test_pipeline_binary_and_size_range(echo_url: str) -> None:
    result = run(
        echo_url, "-c", "2", "-n", "300", "--pipeline", "16", "-s", "1-3KiB", "--binary", "--json"
    )
    assert result.status == 0
    data = result_of(result)
    check_consistent(data)
    verified = data["messages"]["bytes_verified"]
    assert 600 < verified < 600 * 3 * 1024
    assert data["config"]["size"] == [1, 3072] and data["config"]["binary"] is True


def test_open_loop_sends_every_scheduled_message(echo_url: str) -> None:
    result = run(echo_url, "-c", "2", "-n", "25", "--rate", "2000", "--json")
    assert result.status == 0
    data = result_of(result)
    check_consistent(data)
    assert data["messages"]["sent"] == 50
    assert data["config"]["pipeline"] == 1024


def test_duration_mode(echo_url: str) -> None:
    result = run(echo_url, "-d", "0.3s", "--pipeline", "4", "--json")
    assert result.status == 0
    data = result_of(result)
    check_consistent(data)
    assert data["messages"]["sent"] > 0
    assert 0.2 < data["messages"]["seconds"] < 5


def test_ramp_opens_every_connection(echo_url: str) -> None:
    result = run(echo_url, "-c", "4", "-n", "5", "--ramp", "200", "--json")
    assert result.status == 0
    assert result_of(result)["connections"]["opened"] == 4


def test_compression_is_negotiated_and_reported() -> None:
    with serving(per_message_deflate=True) as url:
        result = run(url, "-n", "30", "-s", "4KiB", "--compression", "--json")
    assert result.status == 0
    data = result_of(result)
    check_consistent(data)
    assert "permessage-deflate" in data["config"]["extensions"]


def test_table_output(echo_url: str) -> None:
    result = run(echo_url, "-c", "2", "-n", "50")
    assert result.status == 0
    out = result.stdout
    assert out.startswith(f"wscli bench {echo_url}")
    for label in ("connections", "handshake", "messages", "throughput", "latency", "errors"):
        assert f"  {label}" in out
    assert "100 sent, 100 echoed and verified, 0 lost" in out
    assert "msg/s" in out and "p99.9" in out and "none" in out
    assert "█" in out  # the histogram


def test_one_message_is_singular_in_the_load_line(echo_url: str) -> None:
    result = run(echo_url, "-c", "2", "-n", "1")
    assert result.status == 0
    assert "2 connections × 1 message," in result.stdout


def test_help_says_json_is_one_object_and_it_is(echo_url: str) -> None:
    """The --json help must describe what bench writes: one object, not one per event."""
    helped = run("--help")
    assert "per event" not in helped.stdout
    assert "one JSON object" in " ".join(helped.stdout.split())
    result_of(run(echo_url, "-n", "3", "--json"))  # exactly one line, type "bench"


def test_wss(tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    with serving(ssl=context) as url:
        secure = url.replace("ws://", "wss://")
        result = run(
            secure,
            "-c",
            "2",
            "-n",
            "100",
            "--pipeline",
            "8",
            "-s",
            "100-40KiB",
            "--ca",
            str(ca_file),
            "--json",
        )
        assert result.status == 0, result.stdout
        check_consistent(result_of(result))
        untrusted = run(secure, "-n", "1", "--json")
    assert untrusted.status == 3
    [reason] = result_of(untrusted)["errors"]
    assert reason.startswith("tls: ")


def test_embedded_server_when_no_url() -> None:
    result = run("-n", "50", "--json")
    assert result.status == 0, result.stderr
    data = result_of(result)
    check_consistent(data)
    assert data["server"] == "embedded"


def test_workers_merge_their_stats(echo_url: str) -> None:
    result = run(echo_url, "-c", "3", "-n", "20", "--workers", "2", "--json")
    assert result.status == 0, result.stderr
    data = result_of(result)
    check_consistent(data)
    assert data["messages"]["sent"] == 60
    assert data["connections"]["opened"] == 3


def test_more_workers_than_connections_run_one_worker_per_connection(echo_url: str) -> None:
    """A worker with no connection has no share of --rate: it must not crash or hang."""
    result = run(echo_url, "-c", "1", "--rate", "200", "-d", "0.5s", "--workers", "3", "--json")
    assert result.status == 0, result.stderr
    data = result_of(result)
    check_consistent(data)
    assert data["config"]["workers"] == 1
    assert data["connections"]["opened"] == 1
    assert data["messages"]["sent"] > 0


def test_raw_mode_against_a_raw_tcp_echo() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            for key, _ in selector.select(0.05):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    selector.register(conn, selectors.EVENT_READ)
                    continue
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(65536)
                if data:
                    sock.setblocking(True)
                    sock.sendall(data)
                else:
                    selector.unregister(sock)
                    sock.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        result = run(f"ws://127.0.0.1:{port}", "--raw", "-n", "200", "--pipeline", "8", "--json")
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert result.status == 0
    check_consistent(result_of(result))


def test_fragmented_echoes_are_joined_and_checked() -> None:
    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        def echo(data: Any, flags: Any) -> None:
            with ws.stream(binary=flags.binary) as out:
                out.write(data[: len(data) // 2])
                out.write(data[len(data) // 2 :])

        ws.on("message", echo)

    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", on_connection)
    try:
        url = f"ws://127.0.0.1:{server.port}"
        for kind in ([], ["--binary"]):
            result = run(url, "-n", "30", "--pipeline", "3", "-s", "100", *kind, "--json")
            assert result.status == 0
            check_consistent(result_of(result))
    finally:
        server.close(timeout=2)


def test_pings_from_the_server_are_answered() -> None:
    pongs: list[bytes] = []

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("pong", pongs.append)

        def echo(data: Any, flags: Any) -> None:
            ws.ping(b"are you there")
            ws.send(data)

        ws.on("message", echo)

    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", on_connection)
    try:
        result = run(f"ws://127.0.0.1:{server.port}", "-n", "20", "--json")
    finally:
        server.close(timeout=2)
    assert result.status == 0
    check_consistent(result_of(result))
    assert pongs and set(pongs) == {b"are you there"}


# -- servers that cheat, and failures ------------------------------------------------------


@contextlib.contextmanager
def scripted_server(answer: bytes) -> Iterator[str]:
    """Completes the upgrade, waits for the first frame, then sends ``answer`` bytes.

    With an empty ``answer`` it drops the connection instead.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
                accept = base64.b64encode(hashlib.sha1(key + guid).digest())
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                conn.recv(4096)
                if not answer:
                    return  # drop the connection without a close frame
                conn.sendall(answer)
                conn.settimeout(2)
                while conn.recv(4096):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(10)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            b"\x81\x84abcd" + bytes(b ^ m for b, m in zip(b"oops", b"abcd", strict=True)),
            "protocol error from server: masked frame from server",
        ),
        (b"\xc1\x02hi", "protocol error from server: reserved bits must be 0"),
        (b"\x83\x00", "protocol error from server: invalid opcode 0x3"),
        (b"\x80\x00", "protocol error from server: unexpected continuation frame"),
        (b"\x09\x00", "protocol error from server: fragmented control frame"),
        (b"\x81\x02\xc3\x28", "protocol error from server: invalid utf-8 in text message"),
    ],
    ids=["masked", "rsv", "opcode", "continuation", "fragmented-ping", "bad-utf-8"],
)
def test_protocol_errors_from_the_server(answer: bytes, reason: str) -> None:
    with scripted_server(answer) as url:
        result = run(url, "-n", "3", "-W", "2", "--json")
    assert result.status == 1
    data = result_of(result)
    assert data["errors"] == {reason: 1}
    assert data["error_kinds"] == {"protocol": 1}


def test_dropped_connection_is_reported() -> None:
    with scripted_server(b"") as url:
        result = run(url, "-n", "3", "-W", "5", "--json")
    assert result.status == 1
    data = result_of(result)
    assert data["errors"] == {"connection dropped (no close frame)": 1}
    assert data["messages"]["lost"] == 1


def corrupt_third(n: int, data: Any) -> Any:
    if n != 3:
        return data
    return data[:-1] + ("#" if isinstance(data, str) else b"#")


@pytest.mark.parametrize(
    ("transform", "reason"),
    [
        (corrupt_third, "echo mismatch: wrong content"),
        (lambda n, data: data[:-1] if n == 3 else data, "echo mismatch: wrong length"),
        (lambda n, data: None if n == 3 else data, "echo mismatch: wrong content"),
        (lambda n, data: data.encode() if n == 3 else data, "echo mismatch: got a binary message"),
    ],
    ids=["corrupted", "truncated", "dropped", "wrong-type"],
)
def test_bad_echo_is_caught(transform: Callable[[int, Any], Any], reason: str) -> None:
    with serving(transform) as url:
        result = run(url, "-n", "10", "--pipeline", "4", "--json")
    assert result.status == 1
    data = result_of(result)
    assert data["errors"] == {reason: 1}
    assert data["messages"]["verified"] == 2  # the two before the bad one
    assert data["latency_ms"]["count"] == 2


def test_missing_echo_times_out() -> None:
    with serving(lambda n, data: None if n == 3 else data) as url:
        result = run(url, "-n", "10", "-W", "0.3", "--json")
    assert result.status == 1
    data = result_of(result)
    assert data["errors"] == {"no echo within 0.3 s": 1}
    assert data["messages"]["lost"] == 1
    assert data["messages"]["verified"] == 2


def test_bad_echo_shows_in_the_table() -> None:
    with serving(corrupt_third) as url:
        result = run(url, "-n", "10")
    assert result.status == 1
    assert "1 × echo mismatch: wrong content" in result.stdout


def test_server_closing_midway_counts_lost_messages() -> None:
    def close_at_five(ws: wscli.WebSocket, request: Any) -> None:
        count = [0]

        def on_message(data: Any, flags: Any) -> None:
            count[0] += 1
            if count[0] == 5:
                ws.close(1011, "overloaded")
            else:
                ws.send(data)

        ws.on("message", on_message)

    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", close_at_five)
    try:
        result = run(f"ws://127.0.0.1:{server.port}", "-n", "100", "--pipeline", "1", "--json")
    finally:
        server.close(timeout=2)
    assert result.status == 1
    data = result_of(result)
    assert data["messages"]["verified"] == 4
    assert data["messages"]["lost"] == 1
    [reason] = data["errors"]
    assert reason.startswith("closed by server: 1011")


def test_refused_connection_exits_3() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(f"ws://127.0.0.1:{port}", "-c", "2", "-n", "1", "--json")
    assert result.status == 3
    data = result_of(result)
    assert data["connections"]["failed"] == 2
    assert data["errors"] == {"connect: connection refused": 2}


def test_refused_handshake_exits_4() -> None:
    server = wscli.Server("127.0.0.1", 0, verify_client=lambda info: False)
    try:
        result = run(f"ws://127.0.0.1:{server.port}", "-n", "1", "--json")
    finally:
        server.close(timeout=2)
    assert result.status == 4
    assert result_of(result)["errors"] == {"handshake: HTTP 401": 1}


def test_messages_and_duration_exclude_each_other(echo_url: str) -> None:
    result = run(echo_url, "-n", "5", "-d", "1")
    assert result.status == 2
    assert "not both" in result.stderr


def test_bad_url_is_a_usage_error() -> None:
    assert run("ftp://example.com").status == 2


# -- pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("32", (32, 32)), ("1KiB", (1024, 1024)), ("32-4KiB", (32, 4096)), ("1k..64k", (1000, 64000))],
)
def test_size_ranges(text: str, expected: tuple[int, int]) -> None:
    assert parse_size_range(text) == expected


@pytest.mark.parametrize("text", ["big", "4KiB-32", "-"])
def test_bad_size_ranges(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size_range(text)


def test_config_shares_split_connections_and_rate() -> None:
    config = LoadConfig(url="ws://x", connections=5, rate=1000.0, workers=2)
    shares = [config.share(0), config.share(1)]
    assert [s.connections for s in shares] == [3, 2]
    assert sum(s.rate or 0 for s in shares) == pytest.approx(1000)
    assert {s.seed for s in shares} == {0, 1}


def test_stats_round_trip_and_merge() -> None:
    stats = Stats(2)
    stats.sent = stats.received = 3
    stats.latency.record(0.001)
    stats.add_error(Problem(ErrorKind.LIMIT, "x"))
    stats.first_ns, stats.last_ns = 10, 2_000_000_010
    copy = Stats.from_dict(stats.to_dict())
    copy.merge(stats)
    assert (copy.sent, copy.received, copy.latency.count, copy.errors["x"]) == (6, 6, 2, 2)
    assert copy.error_kinds == {ErrorKind.LIMIT: 2}
    assert copy.elapsed == pytest.approx(2.0)
    assert copy.messages_per_second == pytest.approx(3.0)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_lets_the_echoes_in_flight_arrive_instead_of_calling_them_errors() -> None:
    """Ctrl-C against a correct server: no 'unexpected message', no error at all."""
    busy = threading.Event()

    def mark(n: int, data: Any) -> Any:
        if n == 500:
            busy.set()
        return data

    with serving(mark) as url:
        process = wscli_process("bench", "-c", "2", "--pipeline", "4", "-d", "60s", "--json", url)
        try:
            assert busy.wait(TIMEOUT * 4)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=TIMEOUT * 2)
        finally:
            reap(process)
    assert process.returncode == 130, err
    data = json.loads(out)
    assert data["interrupted"] is True
    assert data["errors"] == {}, data["errors"]
    messages = data["messages"]
    assert messages["sent"] == messages["verified"] + messages["lost"]


def test_a_worker_process_that_fails_prints_no_traceback() -> None:
    """A name that does not resolve fails in every process: one line, status 3, no traceback."""
    url = "ws://wscli-test.invalid:9/"
    process = wscli_process("bench", "--workers", "2", "-c", "2", "-n", "1", "-W", "2s", url)
    try:
        _, err = process.communicate(timeout=TIMEOUT * 4)
    finally:
        reap(process)
    assert process.returncode == 3
    assert b"Traceback" not in err
    assert err.strip().count(b"\n") == 0, err.decode()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command", ["bench", "probe"])
def test_a_result_that_cannot_be_written_is_an_error(echo_url: str, command: str) -> None:
    """`> /dev/full`: the result is lost, so the run must not say success."""
    args = ["-n", "5"] if command == "bench" else ["--only", "handshake"]
    for extra in ([], ["--json"]):
        with open("/dev/full", "wb") as full:
            process = wscli_process(command, *args, *extra, echo_url, stdout=full)
            try:
                _, err = process.communicate(timeout=TIMEOUT * 4)
            finally:
                reap(process)
        assert process.returncode == 1, (extra, err)
        assert b"cannot write to stdout" in err, err
        assert b"Traceback" not in err
