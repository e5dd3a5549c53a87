"""Exit statuses and deadlines against broken and hostile servers, through ``main()``.

Raw sockets play the servers that no library would: closing during the handshake,
never answering, answering a refusal whose body never ends.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from .conftest import HANG_GUARD, TIMEOUT, ScriptedServer, free_port, run_cli, wscli_process


@contextlib.contextmanager
def raw_server(behave: Callable[[socket.socket], None]) -> Iterator[int]:
    """Accept connections on 127.0.0.1 and hand each to ``behave`` on a thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=behave, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(TIMEOUT)
        listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(TIMEOUT)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


def close_after_request(conn: socket.socket) -> None:
    read_request(conn)
    conn.close()


def reset_after_request(conn: socket.socket) -> None:
    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    conn.close()


def never_answer(conn: socket.socket) -> None:
    read_request(conn)  # and keep the socket open until the test ends


@pytest.mark.parametrize("behave", [close_after_request, reset_after_request])
def test_close_during_the_handshake_is_cannot_connect(behave: Callable[..., None]) -> None:
    with raw_server(behave) as port:
        result = run_cli("connect", "-x", "hi", f"ws://127.0.0.1:{port}")
    assert result.status == 3, result.stderr
    assert "closed the connection during the handshake (is it a wss:// server?)" in result.stderr
    assert "interrupted" not in result.stderr and "Errno" not in result.stderr


def test_close_reason_longer_than_123_bytes_is_a_usage_error(server: ScriptedServer) -> None:
    result = run_cli("connect", "-x", "hi", "--close-reason", "é" * 62, server.url)
    assert result.status == 2
    assert "124 bytes" in result.stderr and "123" in result.stderr
    assert server.seen.requests == []  # refused before connecting


def test_timeout_is_a_deadline_for_the_handshake() -> None:
    with raw_server(never_answer) as port:
        result = run_cli(
            "connect", "-x", "hi", "-t", "0.5s", "--open-timeout", "60s", f"ws://127.0.0.1:{port}"
        )
    assert result.status == 3, result.stderr
    assert "no connection within 500.0 ms (--timeout)" in result.stderr


def test_timeout_is_a_deadline_for_reconnects() -> None:
    result = run_cli(
        "connect", "--reconnect", "-t", "1s", "-x", "hi", f"ws://127.0.0.1:{free_port()}"
    )
    assert result.status == 3, result.stderr
    assert "no connection within 1.00 s" in result.stderr


def test_timeout_with_count_against_a_silent_server_is_6() -> None:
    with raw_server(never_answer) as port:
        result = run_cli("connect", "--count", "1", "-t", "0.5s", f"ws://127.0.0.1:{port}")
    assert result.status == 6, result.stderr
    assert "received 0 of 1 messages within 500.0 ms" in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/dev/full")
def test_write_errors_on_stdout_end_the_run_with_1(server: ScriptedServer) -> None:
    with open("/dev/full", "wb") as full:
        process = wscli_process("connect", "-x", "hello", "-w", "-1", server.url, stdout=full)
        _, err = process.communicate(timeout=TIMEOUT * 2)
    assert process.returncode == 1, err
    assert b"cannot write to stdout: no space left on device" in err


def test_failing_exec_child_is_reported(server: ScriptedServer) -> None:
    result = run_cli("connect", "--exec", "exit 3", "--shell", server.url)
    assert result.status == 5, result.stderr
    assert "the --exec process exited with status 3" in result.stderr
    server.seen.wait_for(lambda: bool(server.seen.closes))
    assert server.seen.closes[0] == (1011, "process exited with status 3")


def test_shell_without_exec_is_a_usage_error(server: ScriptedServer) -> None:
    result = run_cli("connect", "--shell", "-x", "hi", server.url)
    assert result.status == 2
    assert "--shell" in result.stderr and "needs --exec" in result.stderr


def test_listen_tls_key_without_cert_is_a_usage_error() -> None:
    result = run_cli("listen", "--port", "0", "--tls-key", __file__)
    assert result.status == 2
    assert "--tls-key" in result.stderr and "needs --tls-cert" in result.stderr


def test_listen_wrong_passphrase_says_so_and_never_prompts(tmp_path: object) -> None:
    trustme = pytest.importorskip("trustme")
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"right"),
    )
    cert_file, key_file = f"{tmp_path}/cert.pem", f"{tmp_path}/key.pem"
    leaf.cert_chain_pems[0].write_to_path(cert_file)
    with open(key_file, "wb") as file:
        file.write(encrypted)
    for extra, expected in (
        (["--passphrase", "wrong"], "wrong --passphrase"),
        ([], "the private key is encrypted: give --passphrase"),
    ):
        process = subprocess.run(
            [sys.executable, "-m", "wscli", "listen", "--port", "0", "--tls-cert", cert_file,
             "--tls-key", key_file, *extra],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert process.returncode == 2, process.stderr
        assert expected.encode() in process.stderr
        assert b"PEM pass phrase" not in process.stderr + process.stdout


def handshake_then(behave: Callable[[socket.socket], None]) -> Callable[[socket.socket], None]:
    """A raw server that completes the opening handshake, then does ``behave``."""
    import base64
    import hashlib

    def serve(conn: socket.socket) -> None:
        request = read_request(conn).decode("latin-1")
        key = next(
            line.split(":", 1)[1].strip()
            for line in request.split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        behave(conn)

    return serve


def stall(conn: socket.socket) -> None:
    """Read nothing, answer nothing, close nothing (until the test ends)."""
    threading.Event().wait(TIMEOUT * 3)


@pytest.mark.usefixtures("long_close_timeout")
def test_connection_failed_by_wscli_ends_the_run_at_once() -> None:
    import time

    def bad_frame_then_stall(conn: socket.socket) -> None:
        conn.sendall(b"\x83\x00")  # reserved opcode 3: wscli fails the connection (1002)
        stall(conn)

    with raw_server(handshake_then(bad_frame_then_stall)) as port:
        started = time.monotonic()
        result = run_cli("connect", "-w", "-1", "-x", "hi", f"ws://127.0.0.1:{port}")
        elapsed = time.monotonic() - started
    assert result.status == 5, result.stderr
    assert "wscli closed the connection: 1002" in result.stderr
    assert elapsed < HANG_GUARD  # it did not wait for LONG_CLOSE_TIMEOUT


@pytest.mark.usefixtures("long_close_timeout")
def test_keepalive_timeout_ends_the_run_at_once() -> None:
    import time

    with raw_server(handshake_then(stall)) as port:
        started = time.monotonic()
        result = run_cli(
            "connect", "--ping-interval", "0.3s", "-w", "-1", "-x", "hi", f"ws://127.0.0.1:{port}"
        )
        elapsed = time.monotonic() - started
    assert result.status == 5, result.stderr
    assert "1011" in result.stderr and "keepalive" in result.stderr
    assert elapsed < HANG_GUARD  # it did not wait for LONG_CLOSE_TIMEOUT


def test_json_close_event_names_the_code_of_the_text_line() -> None:
    def bad_frame(conn: socket.socket) -> None:
        conn.sendall(b"\x83\x00")
        stall(conn)

    with raw_server(handshake_then(bad_frame)) as port:
        result = run_cli("connect", "--json", "-w", "-1", "-x", "hi", f"ws://127.0.0.1:{port}")
    import json

    closes = [json.loads(line) for line in result.stdout.splitlines() if '"close"' in line]
    assert closes and closes[-1]["code"] == 1002, result.stdout


def test_refusal_whose_body_never_ends_is_still_the_refusal() -> None:
    def partial_refusal(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 1000\r\n\r\norigin \x1b[31mx is not allowed"
        )
        stall(conn)

    with raw_server(partial_refusal) as port:
        result = run_cli("connect", "--open-timeout", "1s", "-x", "hi", f"ws://127.0.0.1:{port}")
    assert result.status == 4, result.stderr
    assert "403" in result.stderr
    assert "origin \\x1b[31mx is not allowed" in result.stderr
    assert "\x1b" not in result.stderr


def test_refusal_shows_status_escaped_body_and_with_show_handshake_the_request() -> None:
    def refuse(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 30\r\nConnection: close\r\n\r\n"
            b"origin \x1b]0;x\x07 is not allowed\n"
        )
        conn.close()

    with raw_server(refuse) as port:
        result = run_cli("connect", "--show-handshake", "-x", "hi", f"ws://127.0.0.1:{port}")
    assert result.status == 4, result.stderr
    assert "> GET / HTTP/1.1" in result.stderr
    assert "< HTTP/1.1 403 Forbidden" in result.stderr
    assert "origin \\x1b]0;x\\x07 is not allowed" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


@pytest.mark.usefixtures("long_close_timeout")
def test_timeout_against_a_server_stalled_mid_frame_ends_the_run() -> None:
    import time

    def half_a_frame(conn: socket.socket) -> None:
        conn.sendall(b"\x81\x7e\x10")  # a text frame header cut short, then nothing
        stall(conn)

    with raw_server(handshake_then(half_a_frame)) as port:
        started = time.monotonic()
        result = run_cli("connect", "-t", "0.5s", "-w", "-1", f"ws://127.0.0.1:{port}")
        elapsed = time.monotonic() - started
    assert result.status == 5, result.stderr
    assert "never answered the close" in result.stderr
    assert elapsed < HANG_GUARD  # it did not wait for LONG_CLOSE_TIMEOUT


def test_a_hostile_reason_phrase_is_escaped_in_the_error_line() -> None:
    def refuse(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 403 No\x1b]0;owned\x07 \xc2\x9b2J\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    with raw_server(refuse) as port:
        result = run_cli("connect", "-x", "hi", f"ws://127.0.0.1:{port}")
    assert result.status in (4, 1), result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\x9b" not in result.stderr
