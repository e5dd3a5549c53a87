"""``wscli listen`` logs every refused upgrade in one line, whoever refused it.

Refusals ``listen`` decides (Origin, ``--auth``, ``--path``, ``--max-clients``) and those
the library makes itself (a request it cannot parse, a version it does not speak) each
give exactly one line on stderr without ``-v`` (one ``refused`` object with ``--json``),
with the client as ``host:port`` and the peer's text escaped.
"""

from __future__ import annotations

import json
import socket

from .conftest import (
    TIMEOUT,
    listening,
    read_port,
    readline_within,
    reap,
    run_cli,
    wscli_process,
)
from .test_listen_hostile import upgrade


def _raw(port: int, data: bytes) -> int:
    """Send ``data`` as the whole request; return the status answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def _request(version: str = "13", path: str = "/") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: {version}\r\n\r\n"
    ).encode()


def test_library_refusals_are_logged_in_one_line_without_verbose() -> None:
    with listening() as (process, port):
        assert process.stderr is not None
        assert _raw(port, b"GET / HTTP/1.1\r\nno colon\x1b]0;pwned\x07\r\n\r\n") == 400
        line = readline_within(process.stderr).decode()
        assert line.startswith("refused 127.0.0.1:") and ": 400 " in line, line
        assert "\x1b" not in line and "\x07" not in line
        assert _raw(port, _request(version="7")) == 426
        line = readline_within(process.stderr).decode()
        assert line.startswith("refused 127.0.0.1:") and " /: 426 " in line, line
        assert "version" in line


def test_admission_refusal_is_logged_once() -> None:
    with listening("--path", "/chat") as (process, port):
        assert process.stderr is not None
        sock, status = upgrade(port, path="/other")
        sock.close()
        assert status == 400
        first = readline_within(process.stderr).decode()
        assert "400 no websocket endpoint at /other" in first, first
        # The next line is about the next client: the first refusal was not logged twice.
        assert _raw(port, _request(version="7", path="/chat")) == 426
        second = readline_within(process.stderr).decode()
        assert ": 426 " in second, second


def test_json_logs_library_refusals_as_refused_events() -> None:
    with listening("--json") as (process, port):
        assert process.stdout is not None
        assert _raw(port, _request(version="99")) == 426
        event = json.loads(readline_within(process.stdout))
        assert event["type"] == "refused"
        assert event["status"] == 426
        assert event["path"] == "/"
        assert event["address"].startswith("127.0.0.1:")
        assert "version" in event["reason"]


def test_verbose_names_a_refused_client_by_host_and_port() -> None:
    process = wscli_process("-v", "listen", "--port", "0", "--path", "/chat")
    try:
        port = read_port(process)
        assert process.stderr is not None
        sock, status = upgrade(port, path="/other")
        sock.close()
        assert status == 400
        lines = []
        while not any("closed" in line for line in lines):
            lines.append(readline_within(process.stderr).decode())
        text = "".join(lines)
        assert "('127.0.0.1'" not in text, text
        closed = next(line for line in lines if "closed" in line)
        assert "127.0.0.1:" in closed, closed
    finally:
        reap(process)


def test_tls_client_at_a_plain_listener_is_refused_at_once_and_told_why() -> None:
    """``connect wss://`` to a plain ``listen``: the listener hangs up on the ClientHello
    (a TLS client cannot read a 400), logs why, and the client says what it means."""
    with listening() as (process, port):
        assert process.stderr is not None
        result = run_cli("connect", "-n", "-x", "hi", f"wss://127.0.0.1:{port}")
        line = readline_within(process.stderr).decode()
    assert result.status == 3, result.stderr
    assert (
        "the server closed the connection during the tls handshake with 127.0.0.1"
        " (is it a plain ws:// server?)" in result.stderr
    )
    assert "timed out" not in result.stderr
    assert line.startswith("refused 127.0.0.1:"), line
    assert "tls handshake at a plain ws:// listener" in line, line


def test_bytes_that_cannot_start_a_request_get_400_without_waiting_for_a_head() -> None:
    with listening() as (process, port):
        assert process.stderr is not None
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"\x00\x01\x02 no end of head")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        line = readline_within(process.stderr).decode()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"not an http request" in answer
    assert ": 400 not an http request (starts with b'\\x00\\x01\\x02" in line, line
