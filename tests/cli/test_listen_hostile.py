"""``wscli listen`` against hostile clients: foreign origins, clients that never read,
children that never read, request paths that cannot become an environment variable."""

from __future__ import annotations

import base64
import os
import select
import socket
import time

import pytest

import wscli

from .conftest import (
    TIMEOUT,
    listening,
    read_port,
    readline_within,
    reap,
    run_cli,
    wscli_process,
)


def upgrade(
    port: int, path: str = "/", origin: str | None = None, rcvbuf: int = 0
) -> socket.socket:
    """Open a raw WebSocket connection (optionally with a tiny receive buffer)."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    if origin is not None:
        head += f"Origin: {origin}\r\n"
    sock.sendall(head.encode() + b"\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(1)
        if not chunk:
            break
        answer += chunk
    return sock, int(answer.split(b" ", 2)[1])


def masked_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A client frame with a zero mask (so the payload goes as is)."""
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 101),
        ("http://localhost:3000", 101),
        ("https://127.0.0.2", 101),
        ("http://[::1]:8000", 101),
        ("https://evil.example", 403),
        ("http://localhost.evil.example", 403),
        ("null", 403),
    ],
)
def test_default_origin_policy(origin: str | None, status: int) -> None:
    with listening() as (process, port):
        sock, answer = upgrade(port, origin=origin)
        sock.close()
        assert answer == status
        if status == 403:
            assert process.stderr is not None
            line = readline_within(process.stderr).decode()
            assert line.startswith("refused 127.0.0.1:")
            assert f"403 origin {origin} is not allowed" in line
            assert f"--origin {origin}" in line and "--any-origin" in line


def test_any_origin_accepts_every_origin() -> None:
    with listening("--any-origin") as (_, port):
        sock, answer = upgrade(port, origin="https://evil.example")
        sock.close()
        assert answer == 101


def test_every_refusal_is_logged_in_one_line_without_verbose() -> None:
    with listening("--auth", "ann:secret", "--path", "/chat") as (process, port):
        assert process.stderr is not None
        for path, expected in (("/other", "400 no websocket endpoint at /other"), ("/chat", "401")):
            sock, _ = upgrade(port, path=path)
            sock.close()
            line = readline_within(process.stderr).decode()
            assert line.startswith("refused 127.0.0.1:") and expected in line, line


def test_exec_child_that_never_reads_pauses_the_client() -> None:
    """Memory stays bounded: the client's sends stop instead of listen buffering them."""
    with listening("--exec", "sleep 60") as (process, port):
        ws = wscli.connect(f"ws://127.0.0.1:{port}")
        chunk = "x" * 65536
        sent = 0
        try:
            # Sends block (then time out) once every buffer on the way is full.
            while sent < 300 * 2**20:
                ws.send(chunk, timeout=2.0)
                sent += len(chunk)
        except TimeoutError:
            pass
        finally:
            ws.terminate()
        # 1 MiB for the child + its pipe + both sockets' buffers + the client's limit,
        # far below the 300 MiB the client tried to push.
        assert sent < 64 * 2**20, sent
        with open(f"/proc/{process.pid}/status") as status:
            rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        assert rss_kib < 200 * 1024, rss_kib


def test_nul_in_request_path_refuses_exec_cleanly() -> None:
    with listening("--exec", "cat") as (process, port):
        sock, status = upgrade(port, path="/a\x00b")
        assert status == 101
        frame = b""
        while len(frame) < 4:
            chunk = sock.recv(64)
            if not chunk:
                break
            frame += chunk
        sock.close()
        assert process.stderr is not None
        lines = b""
        deadline = time.monotonic() + TIMEOUT
        while b"cannot start the --exec command" not in lines and time.monotonic() < deadline:
            lines += readline_within(process.stderr)
    assert frame[:1] == b"\x88" and int.from_bytes(frame[2:4], "big") == 1011, frame
    assert b"cannot start the --exec command: embedded null byte" in lines


def test_a_client_that_never_reads_does_not_stall_stdin_fan_out() -> None:
    import threading

    from .conftest import read_port

    process = wscli_process("listen", "--port", "0")
    try:
        port = read_port(process)
        stuck, _ = upgrade(port, rcvbuf=4096)  # never reads a byte
        reader = wscli.connect(f"ws://127.0.0.1:{port}")
        assert process.stdin is not None and process.stderr is not None
        # The fan-out starts once listen counts both clients. Read the descriptor
        # itself: a buffered readline may hold both lines where select cannot see them.
        seen = b""
        deadline = time.monotonic() + TIMEOUT
        while b"#2 connected" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], 0.1)
            if ready:
                seen += os.read(process.stderr.fileno(), 4096)
        assert b"#2 connected" in seen, seen
        stdin = process.stdin
        line = b"y" * 65535 + b"\n"
        total = 24 * 2**20 // len(line)  # far more than the stuck client's buffers hold

        def feed() -> None:
            for _ in range(total):
                stdin.write(line)
            stdin.flush()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        for _ in range(total):  # a stalled fan-out would make this time out
            assert reader.recv(timeout=TIMEOUT) == "y" * 65535
        writer.join(TIMEOUT)
        reader.close()
        stuck.close()
    finally:
        reap(process)


def test_a_failed_tls_handshake_is_logged_in_one_line(tmp_path: object) -> None:
    trustme = pytest.importorskip("trustme")
    cert = f"{tmp_path}/server.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(cert)
    process = wscli_process("listen", "--port", "0", "--tls-cert", cert)
    try:
        assert process.stderr is not None
        port = read_port(process)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP to a wss:// port
            line = readline_within(process.stderr).decode()
    finally:
        reap(process)
    assert line.startswith("refused 127.0.0.1:") and "tls handshake failed" in line, line
    assert line.rstrip().endswith(": a plain ws:// request at a wss:// listener"), line


def test_plain_client_at_a_tls_listener_is_told_at_once(tmp_path: object) -> None:
    trustme = pytest.importorskip("trustme")
    cert = f"{tmp_path}/server.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(cert)
    process = wscli_process("listen", "--port", "0", "--tls-cert", cert)
    try:
        assert process.stderr is not None
        port = read_port(process)
        result = run_cli("connect", "-x", "hi", f"ws://127.0.0.1:{port}")
        line = readline_within(process.stderr).decode()
    finally:
        reap(process)
    assert result.status == 3, result.stderr
    assert (
        "the server closed the connection during the handshake (is it a wss:// server?)"
        in result.stderr
    )
    assert "a plain ws:// request at a wss:// listener" in line, line


def test_exec_clients_beyond_the_cap_are_refused_and_logged() -> None:
    with listening("--exec", "cat", "--max-clients", "1") as (process, port):
        first = wscli.connect(f"ws://127.0.0.1:{port}")
        assert process.stderr is not None
        seen = b""
        deadline = time.monotonic() + TIMEOUT
        while b"#1 connected" not in seen and time.monotonic() < deadline:
            seen += readline_within(process.stderr)
        sock, status = upgrade(port)
        sock.close()
        line = b""
        while b"refused" not in line and time.monotonic() < deadline:
            line = readline_within(process.stderr)
        first.close()
    assert status == 503
    assert b"503 too many connections (--max-clients is 1)" in line


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full")
def test_listen_ends_with_1_when_stdout_cannot_be_written() -> None:
    from .conftest import read_port

    with open("/dev/full", "wb") as full:
        process = wscli_process("listen", "--port", "0", stdout=full)
    try:
        port = read_port(process)
        with wscli.connect(f"ws://127.0.0.1:{port}") as ws:
            ws.send("hello")
        assert process.wait(TIMEOUT) == 1
        assert process.stderr is not None
        assert b"cannot write to stdout: no space left on device" in process.stderr.read()
    finally:
        reap(process)


def test_repl_sends_to_a_client_that_never_reads_do_not_block() -> None:
    """/to and /all never wait for a client whose buffer is full: the prompt stays alive."""
    import io
    import threading

    from wscli.commands.listen import ListenSession
    from wscli.output import Printer

    err = io.StringIO()
    session = ListenSession(Printer(stdout=io.StringIO(), stderr=err))
    server = session.start("127.0.0.1", 0)
    try:
        assert server.port is not None
        stuck, status = upgrade(server.port, rcvbuf=4096)
        assert status == 101
        deadline = time.monotonic() + TIMEOUT
        while not session.peers() and time.monotonic() < deadline:
            time.sleep(0.01)
        commands = {command.name: command for command in session.slash_commands()}
        big = "z" * 2**20

        def type_lines() -> None:
            for _ in range(40):  # 40 MiB: far beyond what the stuck client's buffers take
                commands["/to"].run(f"1 {big}")
                commands["/all"].run(big)

        typist = threading.Thread(target=type_lines, daemon=True)
        typist.start()
        typist.join(TIMEOUT)
        assert not typist.is_alive(), "a send waited for a client that does not read"
        assert "#1 is not reading" in err.getvalue()
        stuck.close()
    finally:
        session.stop()
