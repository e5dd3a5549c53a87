"""The command line's side of the security defaults, judged on the wire.

Bad subprotocols, origins and header values are usage errors (exit status 2) before
any connection; secrets can come from a file or the environment instead of the
command line; -n says what it turns off; redirects follow the library's policy.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import TIMEOUT
from wirepeer import RecordingServer, header_lines, header_names, redirect_answer

from wscli.params import parse_mode, read_secret

from .conftest import run_cli


def basic(credentials: bytes) -> bytes:
    return b"Authorization: Basic " + base64.b64encode(credentials)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["connect", "-s", "chat\r\nX-Injected: 1"], "invalid subprotocol"),
        (["connect", "-o", "https://a.example\r\nX-Injected: 1"], "serialized origin"),
        (["connect", "-o", "https://a.example/path"], "serialized origin"),
        (["connect", "-H", "X-Key: a\x1bb"], "header X-Key contains a control character"),
        (["connect", "-H", "X-Key: a\x7fb"], "header X-Key contains a control character"),
        (["connect", "-H", "X-Key: a\x0bb"], "header X-Key contains a control character"),
        (["ping", "--subprotocol", "a b"], "invalid subprotocol"),
        (["ping", "-o", "x\ny"], "serialized origin"),
    ],
)
def test_injection_attempts_are_usage_errors_and_nothing_is_sent(
    args: list[str], message: str
) -> None:
    with RecordingServer() as server:
        run = run_cli(*args, server.url, input="")
        assert server.accepted == 0
    assert run.status == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "a,b"], "invalid subprotocol"),
        (["--origin", "https://ok.example/"], "serialized origin"),
        (["-H", "X-A: 1\x1b"], "control character"),
        (["--unix-mode", "9"], "octal mode"),
    ],
)
def test_listen_refuses_the_same_values(args: list[str], message: str) -> None:
    run = run_cli("listen", "--port", "0", *args)
    assert run.status == 2
    assert message in run.stderr


def test_auth_from_a_file_reaches_the_server(tmp_path: Path) -> None:
    secret = tmp_path / "auth"
    secret.write_text("ann:s3cret\n")
    with RecordingServer() as server:
        run = run_cli("connect", "--auth", f"@{secret}", server.url, input="")
        (head,) = server.heads
    assert run.status == 0, run.stderr
    assert basic(b"ann:s3cret") in header_lines(head)


def test_auth_from_the_environment_reaches_the_server() -> None:
    with RecordingServer() as server:
        run = run_cli("connect", server.url, input="", env={"WSCLI_AUTH": "bob:pw:with:colons"})
        (head,) = server.heads
    assert run.status == 0, run.stderr
    assert basic(b"bob:pw:with:colons") in header_lines(head)


def test_unreadable_auth_file_is_a_usage_error(tmp_path: Path) -> None:
    run = run_cli("connect", "--auth", f"@{tmp_path}/absent", "ws://127.0.0.1:1/")
    assert run.status == 2
    assert "cannot read" in run.stderr and "--auth" in run.stderr


def test_help_recommends_files_and_environment_for_secrets() -> None:
    for command in ("connect", "listen"):
        text = " ".join(run_cli(command, "--help").stdout.split())
        assert "WSCLI_AUTH" in text and "@FILE" in text and "ps" in text
        assert "WSCLI_PASSPHRASE" in text


def test_read_secret_takes_the_first_line_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "pass"
    path.write_text("pa ss\nsecond line\n")
    assert read_secret(f"@{path}", "--passphrase") == "pa ss"
    assert read_secret("plain", "--passphrase") == "plain"


def test_no_check_warns_once_on_stderr_and_never_on_json_stdout() -> None:
    with RecordingServer() as server:
        run = run_cli("connect", "--json", "-n", server.url, input="")
    assert run.status == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "wscli: warning: -n/--no-check: the server's certificate and name are not checked"
    ]
    assert "warning" not in run.stdout


def test_no_warning_without_no_check() -> None:
    with RecordingServer() as server:
        run = run_cli("connect", server.url, input="")
    assert "warning" not in run.stderr


def test_cross_origin_redirect_drops_caller_headers_unless_trusted() -> None:
    for trusted in (False, True):
        with RecordingServer() as second:
            with RecordingServer(redirect_answer(second.url + "/next")) as first:
                extra = ["--location-trusted"] if trusted else []
                run = run_cli(
                    "connect", "-L", *extra, "-H", "X-Api-Key: k", "-s", "tok.en",
                    "--auth", "ann:pw", first.url, input="",
                )  # fmt: skip
            assert run.status == 0, run.stderr
            (head,) = second.heads
        names = set(header_names(head))
        if trusted:
            assert {"x-api-key", "sec-websocket-protocol", "authorization"} <= names
        else:
            assert not names & {"x-api-key", "sec-websocket-protocol", "authorization"}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """-v configures the library's logger for the process; undo it for later tests."""
    logger = logging.getLogger("wscli.core")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_verbose_twice_in_one_process_logs_each_line_once(restore_logging: None) -> None:
    from wscli.cli import StderrHandler

    for _ in range(2):
        assert run_cli("-v", "connect", "-x", "hi", "ws://127.0.0.1:1").status == 3
    handlers = logging.getLogger("wscli.core").handlers
    assert sum(isinstance(handler, StderrHandler) for handler in handlers) == 1


def test_verbose_shows_each_redirect_hop(restore_logging: None) -> None:
    with RecordingServer() as second:
        with RecordingServer(redirect_answer(second.url + "/next", 301)) as first:
            run = run_cli("-v", "connect", "-L", first.url, input="")
    assert run.status == 0, run.stderr
    assert f"301 redirect to {second.url}/next" in run.stderr


def test_wss_to_ws_redirect_flag_reaches_the_library() -> None:
    from wscli.params import client_kwargs

    assert client_kwargs(location=True, allow_insecure_redirect=True)["allow_insecure_redirect"]
    assert client_kwargs(location=True)["allow_insecure_redirect"] is False
    assert client_kwargs(location=True)["location_trusted"] is False


def test_listen_accepts_a_lowercase_basic_scheme(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    sock = str(tmp_path / "l.sock") if len(str(tmp_path)) < 90 else None
    if sock is None:
        pytest.skip("temporary path too long for a unix socket")
    process = subprocess.Popen(
        [sys.executable, "-m", "wscli", "listen", "--unix", sock, "--auth", "ann:pw"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert process.stderr is not None
        process.stderr.readline()  # the "listening on" line: the socket exists now
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        answers = []
        for scheme in (b"basic", b"BASIC", b"Bearer"):
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(TIMEOUT)
                client.connect(sock)
                client.sendall(
                    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    b"Authorization: " + scheme + b" " + base64.b64encode(b"ann:pw") + b"\r\n\r\n"
                )
                answers.append(client.recv(4096).split(b"\r\n", 1)[0])
    finally:
        process.terminate()
        process.wait(TIMEOUT)
    assert answers == [
        b"HTTP/1.1 101 Switching Protocols",
        b"HTTP/1.1 101 Switching Protocols",
        b"HTTP/1.1 401 Unauthorized",
    ]


@pytest.mark.parametrize(("text", "mode"), [("600", 0o600), ("0o660", 0o660), ("0", 0)])
def test_parse_mode(text: str, mode: int) -> None:
    assert parse_mode(text) == mode


def test_library_value_errors_are_usage_errors_without_secrets() -> None:
    run = run_cli("connect", "--proxy", "http://ann:s3cret@proxy:port", "ws://a.example/")
    assert run.status == 2
    assert "s3cret" not in run.stderr and "***@" in run.stderr
    assert len(run.stderr.splitlines()) == 1


def test_host_header_replaces_the_default_instead_of_adding_a_second() -> None:
    with RecordingServer() as server:
        run = run_cli("connect", "-H", "Host: virtual.example", server.url, input="")
        (head,) = server.heads
    assert run.status == 0, run.stderr
    hosts = [line for line in header_lines(head) if line.lower().startswith(b"host:")]
    assert hosts == [b"Host: virtual.example"]


def test_listen_refuses_to_replace_a_file_and_names_the_path(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("keep")
    run = run_cli("listen", "--unix", str(target))
    assert run.status == 3
    expected = f"cannot listen on {target}: {target} exists and is not a socket; not replacing it"
    assert run.stderr == f"wscli: {expected}\n"
    assert target.read_text() == "keep"
