"""``wscli ping``: ping(8) output and exit statuses against real loopback servers."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import TIMEOUT

import wscli
from wscli.commands.ping import ping_payload

from .conftest import readline_within, reap, run_cli, wscli_process

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Result:
    """A ``wscli ping`` run through ``main()``, the real exit-status boundary."""

    def __init__(self, *args: str) -> None:
        run = run_cli("ping", *args)
        self.exit_code = run.status
        self.stdout = run.stdout
        self.stderr = run.stderr


def run(*args: str) -> Result:
    return Result(*args)


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@contextlib.contextmanager
def serving(**options: Any) -> Iterator[wscli.Server]:
    """A wscli server on a free loopback port; echoes unless ``on_connection`` says else."""
    on_connection = options.pop("on_connection", None)
    server = wscli.Server("127.0.0.1", 0, **options)

    def echo(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: ws.send(data, binary=flags.binary))

    server.on("connection", on_connection or echo)
    try:
        yield server
    finally:
        server.close(timeout=2)


@pytest.fixture
def echo_url() -> Iterator[str]:
    with serving() as server:
        yield f"ws://127.0.0.1:{server.port}"


@contextlib.contextmanager
def deaf_server(pong_every: int = 0, close_on_ping: int = 0) -> Iterator[str]:
    """Completes the upgrade, then reads and never answers: no pong, no echo.

    With ``pong_every=N``, answers every Nth ping (the 1st, N+1th…) and ignores the rest.
    With ``close_on_ping=N``, sends a close frame (1011 "going down") on the Nth ping,
    then keeps the TCP connection open: the client stays in its closing handshake.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    stop = threading.Event()

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
                accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                conn.settimeout(0.1)
                pending, pings = b"", 0
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        data = conn.recv(4096)
                        if not data:
                            return
                        pending += data
                    # Masked client frames of up to 125 bytes: 2 + 4 + payload.
                    while len(pending) >= 6 and len(pending) >= 6 + (pending[1] & 0x7F):
                        length = pending[1] & 0x7F
                        mask, payload = pending[2:6], pending[6 : 6 + length]
                        opcode, pending = pending[0] & 0x0F, pending[6 + length :]
                        if opcode == 0x9:
                            pings += 1
                        if opcode == 0x9 and pings == close_on_ping:
                            conn.sendall(b"\x88\x0c\x03\xf3going down")
                        if opcode == 0x9 and pong_every:
                            if pings % pong_every == 1 % pong_every:
                                data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                                conn.sendall(bytes([0x8A, len(data)]) + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(TIMEOUT)


# -- output ---------------------------------------------------------------------------


def test_ping_prints_connect_line_replies_and_summary(echo_url: str) -> None:
    result = run(echo_url, "-c", "3", "-i", "0")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"PING {echo_url}/ (127.0.0.1:")
    assert "tcp " in lines[0] and "upgrade " in lines[0] and "tls" not in lines[0]
    replies = [line for line in lines if " bytes from " in line]
    assert [line.split("seq=")[1].split()[0] for line in replies] == ["1", "2", "3"]
    assert all(
        line.startswith("56 bytes from 127.0.0.1:") and line.endswith(" ms") for line in replies
    )
    assert "--- ws://127.0.0.1:" in result.stdout
    assert "3 sent, 3 received, 0% loss" in result.stdout
    assert "rtt min/avg/max/mdev = " in result.stdout
    assert "rtt p50/p90/p99 = " in result.stdout


def test_json_summary_agrees_with_the_replies(echo_url: str) -> None:
    result = run(echo_url, "-c", "5", "-i", "0", "-s", "100", "--json")
    assert result.exit_code == 0
    events = json_lines(result)
    assert [e["type"] for e in events] == ["open"] + ["pong"] * 5 + ["summary"]
    assert events[0]["tcp_ms"] >= 0 and events[0]["upgrade_ms"] > 0
    assert "tls_ms" not in events[0]
    times = [e["time_ms"] for e in events[1:-1]]
    assert [e["seq"] for e in events[1:-1]] == [1, 2, 3, 4, 5]
    assert all(e["bytes"] == 100 for e in events[1:-1])
    summary = events[-1]
    assert (summary["sent"], summary["received"], summary["loss_percent"]) == (5, 5, 0)
    assert summary["min_ms"] == pytest.approx(min(times), abs=1e-3)
    assert summary["max_ms"] == pytest.approx(max(times), abs=1e-3)
    assert summary["min_ms"] <= summary["p50_ms"] <= summary["p90_ms"] <= summary["max_ms"]
    assert summary["avg_ms"] == pytest.approx(sum(times) / 5, rel=0.01)


def test_quiet_prints_connect_line_and_summary_only(echo_url: str) -> None:
    result = run(echo_url, "-c", "4", "-i", "0", "-q")
    assert result.exit_code == 0
    assert "seq=" not in result.stdout
    assert result.stdout.startswith("PING ")
    assert "4 sent, 4 received, 0% loss" in result.stdout


def test_echo_mode_measures_data_messages(echo_url: str) -> None:
    result = run(echo_url, "-c", "3", "-i", "0", "--echo", "-s", "2KiB", "--json")
    assert result.exit_code == 0
    events = json_lines(result)
    assert events[0]["mode"] == "echo"
    assert [e["type"] for e in events[1:-1]] == ["echo"] * 3
    assert events[-1]["received"] == 3


def test_ping_payloads_carry_the_sequence_number() -> None:
    assert ping_payload(1, 56) != ping_payload(2, 56)
    assert len(ping_payload(7, 56)) == 56
    assert ping_payload(7, 0) == b""
    assert ping_payload(12, 40, text=True).startswith(b"wscli 12 ")


def test_wss_reports_tls_time(tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    with serving(ssl=context) as server:
        result = run(f"wss://127.0.0.1:{server.port}", "-c", "1", "--ca", str(ca_file), "--json")
    assert result.exit_code == 0, result.stderr
    opened = json_lines(result)[0]
    assert opened["tls_ms"] > 0
    assert opened["url"].startswith("wss://")


# -- exit statuses ----------------------------------------------------------------------


def test_no_reply_exits_1() -> None:
    with deaf_server() as url:
        result = run(url, "-c", "2", "-i", "0.05", "-W", "0.2")
    assert result.exit_code == 1
    assert "2 sent, 0 received, 100% loss" in result.stdout
    assert result.stdout.count("no reply from") == 2
    assert "rtt" not in result.stdout


def test_a_ping_the_server_skipped_is_lost_not_answered_by_the_next_pong() -> None:
    """Each pong answers the ping with its payload; an earlier unanswered ping is lost."""
    with deaf_server(pong_every=2) as url:
        result = run(url, "-c", "4", "-i", "0.05", "-W", "0.5", "--json")
    assert result.exit_code == 0, result.stderr
    events = json_lines(result)
    assert sorted(e["seq"] for e in events if e["type"] == "pong") == [1, 3]
    assert sorted(e["seq"] for e in events if e["type"] == "timeout") == [2, 4]
    summary = events[-1]
    assert (summary["sent"], summary["received"], summary["loss_percent"]) == (4, 2, 50.0)


def test_echo_mode_without_echo_counts_loss() -> None:
    def swallow(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: None)

    with serving(on_connection=swallow) as server:
        result = run(f"ws://127.0.0.1:{server.port}", "-c", "1", "--echo", "-W", "0.2", "--json")
    assert result.exit_code == 1
    assert json_lines(result)[-1]["loss_percent"] == 100


def test_refused_connection_exits_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(f"ws://127.0.0.1:{port}", "-c", "1")
    assert result.exit_code == 2
    assert "connection refused" in result.stderr
    assert result.stdout == ""


def test_refused_handshake_exits_2() -> None:
    with serving(verify_client=lambda info: False) as server:
        result = run(f"ws://127.0.0.1:{server.port}", "-c", "1")
    assert result.exit_code == 2
    assert "401" in result.stderr


def test_connection_closed_midway_exits_2_with_summary() -> None:
    def close_on_second_ping(ws: wscli.WebSocket, request: Any) -> None:
        pings = []

        def on_ping(data: bytes) -> None:
            pings.append(data)
            if len(pings) == 2:
                ws.close(1011, "going down")

        ws.on("ping", on_ping)

    with serving(on_connection=close_on_second_ping) as server:
        result = run(f"ws://127.0.0.1:{server.port}", "-c", "5", "-i", "0.1")
    assert result.exit_code == 2
    assert "connection closed: 1011" in result.stderr
    assert "ping statistics" in result.stdout


def test_a_close_seen_when_sending_is_told_as_a_close_event_is() -> None:
    """The close arrived but TCP is still up (so no close event yet): the next ping's
    send() raises, and the run says the same as when the close event comes first."""
    with deaf_server(close_on_ping=2) as url:
        result = run(url, "-c", "5", "-i", "0.1")
    assert result.exit_code == 2
    assert "connection closed: 1011 going down" in result.stderr, result.stderr
    assert "ping statistics" in result.stdout


def test_deadline_with_count_not_reached_exits_1(echo_url: str) -> None:
    result = run(echo_url, "-c", "1000", "-i", "0.05", "-w", "0.3", "--json")
    assert result.exit_code == 1  # ping(8): -c and -w, fewer replies than -c by the deadline
    summary = json_lines(result)[-1]
    assert 0 < summary["received"] <= summary["sent"] < 1000


def test_deadline_alone_exits_0(echo_url: str) -> None:
    result = run(echo_url, "-i", "0.05", "-w", "0.3", "-q")
    assert result.exit_code == 0
    assert "0% loss" in result.stdout


def test_oversized_ping_is_a_usage_error(echo_url: str) -> None:
    result = run(echo_url, "-s", "126")
    assert result.exit_code == 2
    assert "125 bytes" in result.stderr


def test_ctrl_c_prints_the_summary_and_exits_0(echo_url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "wscli", "ping", echo_url, "-i", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + TIMEOUT
        replies = 0
        while replies < 2 and time.monotonic() < deadline:
            if "seq=" in process.stdout.readline():
                replies += 1
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "ping statistics" in out
    assert " received, " in out


@pytest.mark.parametrize("command", ["ping", "bench"])
def test_help_ends_with_exit_statuses_then_examples(command: str) -> None:
    """As every other command's --help: options, exit statuses, then examples last."""
    result = run_cli(command, "--help")
    assert result.status == 0
    text = result.stdout
    assert text.index("Options:") < text.index("Exit status") < text.index("Examples:")
    examples = text[text.index("Examples:") :].splitlines()[1:]
    assert examples and all(line.strip().startswith("wscli ") for line in examples if line)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
def test_a_reader_that_goes_away_ends_the_run_quietly(echo_url: str) -> None:
    """`wscli ping URL | head -2`: ping ends when head does, as ping(8) would."""
    process = wscli_process("ping", "-i", "0.05", echo_url)
    try:
        assert process.stdout is not None
        assert readline_within(process.stdout).startswith(b"PING ")
        assert b"seq=1" in readline_within(process.stdout)
        process.stdout.close()
        _, err = process.communicate(timeout=TIMEOUT * 2)
    finally:
        reap(process)
    assert process.returncode == 0, err
    assert b"Traceback" not in err
