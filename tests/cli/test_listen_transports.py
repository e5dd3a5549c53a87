"""`wscli listen` over TLS with client certificates, on a Unix socket, and with hixie-76."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import trustme
from helpers import TIMEOUT

from .conftest import run_cli


def _wscli(*args: str) -> list[str]:
    return [sys.executable, "-m", "wscli", *args]


@pytest.fixture
def listen_process() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.terminate()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)


def _listen(started: list[subprocess.Popen[str]], *args: str) -> str:
    process = subprocess.Popen(
        _wscli("listen", "--echo", *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(process)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line.startswith("listening on "), line
    return line.split()[-1]


def test_tls_ca_requires_a_client_certificate(
    tmp_path: pathlib.Path, listen_process: list[subprocess.Popen[str]]
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "server.pem")
    )
    ca.issue_cert("client@example.org").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "client.pem")
    )
    url = _listen(
        listen_process,
        "--port", "0",
        "--tls-cert", str(tmp_path / "server.pem"),
        "--tls-ca", str(tmp_path / "ca.pem"),
    )  # fmt: skip
    assert url.startswith("wss://")
    ok = subprocess.run(
        _wscli("connect", "--ca", str(tmp_path / "ca.pem"), "--cert", str(tmp_path / "client.pem"),
               "--show-handshake", "-x", "hello over tls", url),
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert (ok.returncode, ok.stdout) == (0, "hello over tls\n"), ok.stderr
    assert "tls: TLSv1." in ok.stderr
    assert "peer certificate" in ok.stderr
    refused = subprocess.run(
        _wscli("connect", "--ca", str(tmp_path / "ca.pem"), "-x", "no cert", url),
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert refused.returncode == 3
    assert "client certificate" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_tls_ca_without_a_certificate_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "ca.pem").write_text("")
    result = subprocess.run(
        _wscli("listen", "--port", "0", "--tls-ca", str(tmp_path / "ca.pem")),
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--tls-cert" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="Unix sockets")
def test_unix_socket_echo(
    tmp_path: pathlib.Path, listen_process: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "echo.sock"
    url = _listen(listen_process, "--unix", str(path))
    assert url == f"ws+unix://{path}:/"
    result = subprocess.run(
        _wscli("connect", "-x", "over a unix socket", f"ws+unix://{path}:/"),
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "over a unix socket\n"), result.stderr


def _hixie76_request(port: int) -> bytes:
    # The worked example of draft-hixie-thewebsocketprotocol-76 §1.3.
    return (
        b"GET /demo HTTP/1.1\r\nHost: 127.0.0.1:" + str(port).encode() + b"\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
        b"Sec-WebSocket-Protocol: sample\r\nUpgrade: WebSocket\r\n"
        b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://localhost:8000\r\n\r\n"
        b"^n:ds[4U"
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_hixie76_only_when_asked(
    listen_process: list[subprocess.Popen[str]], enabled: bool
) -> None:
    url = _listen(listen_process, "--port", "0", *(["--hixie76"] if enabled else []))
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(_hixie76_request(port))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    status = answer.split(b"\r\n", 1)[0]
    if enabled:
        assert status.startswith(b"HTTP/1.1 101"), answer
    else:
        assert not status.startswith(b"HTTP/1.1 101"), answer


def test_passphrase_without_a_value_is_asked_for(tmp_path: pathlib.Path) -> None:
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    (tmp_path / "key.pem").write_bytes(encrypted)
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    # A wrong passphrase typed at the prompt: the key cannot be loaded, a usage error
    # that says why, and no traceback; the prompt itself went to stderr.
    result = run_cli(
        "listen", "--port", "0", "--tls-cert", str(tmp_path / "cert.pem"),
        "--tls-key", str(tmp_path / "key.pem"), "--passphrase",
        input="wrong\n",
    )  # fmt: skip
    assert result.status == 2, (result.stdout, result.stderr)
    assert "Passphrase" in result.stderr
    assert "wrong --passphrase" in result.stderr
    assert "Traceback" not in result.stderr
