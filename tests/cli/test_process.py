"""Real ``python -m wscli`` processes: pipes, end of input, exit statuses, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

import wscli

from .conftest import (
    TIMEOUT,
    ScriptedServer,
    free_port,
    listening,
    readline_within,
    reap,
    wscli_process,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_connect_through_listen_echo_pipe_to_pipe() -> None:
    with listening("--echo") as (server, port):
        client = wscli_process("connect", f"ws://127.0.0.1:{port}")
        out, err = client.communicate(b"one\ntwo\n", timeout=TIMEOUT)
        assert client.returncode == 0, err
        assert out == b"one\ntwo\n"
        assert err == b""


def test_json_output_is_jq_friendly(server: ScriptedServer) -> None:
    client = wscli_process("connect", "--json", server.url)
    out, err = client.communicate(b'{"a": 1}\n', timeout=TIMEOUT)
    assert client.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    incoming = [r for r in records if r.get("dir") == "in"]
    assert json.loads(incoming[0]["data"]) == {"a": 1}


def test_each_message_is_flushed_at_once(server: ScriptedServer) -> None:
    client = wscli_process("connect", server.url)
    assert client.stdin is not None and client.stdout is not None
    try:
        client.stdin.write(b"first\n")
        client.stdin.flush()
        # Read the reply while stdin is still open: no buffering until exit.
        assert client.stdout.readline() == b"first\n"
        client.stdin.write(b"second\n")
        client.stdin.flush()
        assert client.stdout.readline() == b"second\n"
        client.stdin.close()
        assert client.wait(TIMEOUT) == 0
    finally:
        reap(client)


def test_lines_written_before_the_connection_opens_are_not_lost() -> None:
    port = free_port()
    client = wscli_process("connect", "--reconnect", "-w", "-1", f"ws://127.0.0.1:{port}")
    assert client.stdin is not None
    client.stdin.write(b"early 1\nearly 2\n")
    client.stdin.flush()
    scripted = None
    try:
        # The first attempt is refused (nobody listens yet); then the server starts.
        assert b"retrying in" in readline_within(client.stderr)
        scripted = _serve_on(port)
        scripted.seen.wait_for(lambda: len(scripted.seen.messages) == 2)
        assert scripted.seen.messages == ["early 1", "early 2"]
        client.stdin.write(b"close 1000\n")
        client.stdin.flush()
        out, err = client.communicate(timeout=TIMEOUT)
        assert client.returncode == 0, err
        assert out == b"early 1\nearly 2\n"
    finally:
        reap(client)
        if scripted is not None:
            scripted.close()


def _serve_on(port: int) -> ScriptedServer:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return ScriptedServer(port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["connect", "ws://127.0.0.1:{free}/"], 3, b"cannot connect"),
        (["connect", "nope://x"], 2, b"isn't a valid websocket uri"),
        (["connect", "--count", "0", "ws://x"], 2, b"Invalid value for '--count'"),
    ],
)
def test_exit_statuses_as_a_process(args: list[str], status: int, message: bytes) -> None:
    args = [arg.replace("{free}", str(free_port())) for arg in args]
    client = wscli_process(*args)
    out, err = client.communicate(b"", timeout=TIMEOUT)
    assert client.returncode == status
    assert message in err
    assert b"Traceback" not in err


def test_handshake_refused_exits_4(make_server: object) -> None:
    refusing = make_server(verify_client=lambda info: (False, 404, "no such room"))  # type: ignore[operator]
    client = wscli_process("connect", refusing.url)
    _, err = client.communicate(b"x\n", timeout=TIMEOUT)
    assert client.returncode == 4
    assert b"HTTP 404" in err


def test_error_close_exits_5_with_its_reason(server: ScriptedServer) -> None:
    client = wscli_process("connect", "-w", "-1", server.url)
    _, err = client.communicate(b"close 4500 quota exceeded\n", timeout=TIMEOUT)
    assert client.returncode == 5
    assert err == b'closed by the server: 4500 (private use) "quota exceeded"\n'


@posix_only
def test_sigint_sends_1001_and_exits_130(server: ScriptedServer) -> None:
    client = wscli_process("connect", server.url)
    try:
        server.seen.wait_for(lambda: bool(server.seen.clients))
        time.sleep(0.2)  # let the process settle into its loop
        client.send_signal(signal.SIGINT)
        _, err = client.communicate(timeout=TIMEOUT)
    finally:
        reap(client)
    assert client.returncode == 130
    assert b"interrupted" in err
    server.seen.wait_for(lambda: bool(server.seen.closes))
    assert server.seen.closes == [(1001, "")]


@posix_only
def test_sigterm_is_treated_like_ctrl_c(server: ScriptedServer) -> None:
    client = wscli_process("connect", server.url)
    try:
        server.seen.wait_for(lambda: bool(server.seen.clients))
        time.sleep(0.2)
        client.send_signal(signal.SIGTERM)
        client.communicate(timeout=TIMEOUT)
    finally:
        reap(client)
    assert client.returncode == 130
    server.seen.wait_for(lambda: bool(server.seen.closes))
    assert server.seen.closes == [(1001, "")]


@posix_only
def test_listen_sigint_closes_clients_with_1001_and_exits_130() -> None:
    with listening() as (server, port):
        ws = wscli.connect(f"ws://127.0.0.1:{port}")
        assert server.stderr is not None
        assert b"#1 connected from" in server.stderr.readline()
        server.send_signal(signal.SIGINT)
        assert ws.wait_closed(TIMEOUT)
        assert ws.close_code == 1001
        assert server.wait(TIMEOUT) == 130


def test_listen_pipe_mode_stdin_to_clients_and_messages_to_stdout() -> None:
    with listening() as (server, port):
        assert server.stdin is not None and server.stdout is not None
        ws = wscli.connect(f"ws://127.0.0.1:{port}")
        server.stdin.write(b"to the client\n")
        server.stdin.flush()
        assert ws.recv(timeout=TIMEOUT) == "to the client"
        ws.send("to stdout")
        assert server.stdout.readline() == b"to stdout\n"
        ws.close()


def test_broken_stdout_pipe_ends_quietly(server: ScriptedServer) -> None:
    # `wscli connect … | head -1`: head exits after one line; wscli must end, quietly.
    client = wscli_process("connect", "-w", "-1", server.url)
    assert client.stdin is not None and client.stdout is not None
    try:
        client.stdin.write(b"say one\n")
        client.stdin.flush()
        assert client.stdout.readline() == b"one\n"
        client.stdout.close()  # the reader goes away
        stop = threading.Event()

        def keep_talking() -> None:
            while not stop.is_set() and client.poll() is None:
                try:
                    client.stdin.write(b"say more\n")  # type: ignore[union-attr]
                    client.stdin.flush()  # type: ignore[union-attr]
                except (BrokenPipeError, ValueError):
                    return
                time.sleep(0.02)

        talker = threading.Thread(target=keep_talking, daemon=True)
        talker.start()
        status = client.wait(TIMEOUT)
        stop.set()
        talker.join(TIMEOUT)
        assert client.stderr is not None
        err = client.stderr.read()
    finally:
        reap(client)
    assert status == 0
    assert b"Traceback" not in err and b"Exception" not in err


def test_exec_on_connect_as_a_process(server: ScriptedServer) -> None:
    client = wscli_process(
        "connect", "--shell", "--exec", "echo from-shell; read reply; echo \"got $reply\"",
        server.url,
    )  # fmt: skip
    _, err = client.communicate(timeout=TIMEOUT)
    assert client.returncode == 0, err
    assert server.seen.messages == ["from-shell", "got from-shell"]


def test_python_dash_m_and_exit_status_agree(server: ScriptedServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wscli", "connect", "-w", "-1", "-x", "close 1011", server.url],
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 5
