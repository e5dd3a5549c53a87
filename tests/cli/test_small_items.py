"""The smaller promises of the command line: usage errors, messages, help texts."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import free_port, run_cli


def test_unsupported_proxy_scheme_is_a_usage_error() -> None:
    result = run_cli("connect", "--proxy", "ftp://proxy:21", "-x", "hi", "ws://127.0.0.1:1")
    assert result.status == 2
    assert "ftp" in result.stderr


def test_a_ca_file_that_is_not_pem_is_a_usage_error(tmp_path: Any) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    result = run_cli("connect", "--ca", str(bad), "-x", "hi", "wss://127.0.0.1:1")
    assert result.status == 2
    assert "no certificate" in result.stderr
    assert "_ssl.c" not in result.stderr and "[x509" not in result.stderr


def test_ipv6_addresses_have_brackets_and_errors_no_errno() -> None:
    result = run_cli("connect", "-x", "hi", f"ws://[::1]:{free_port()}")
    assert result.status == 3
    assert "[::1]:" in result.stderr
    assert "Errno" not in result.stderr


def test_unix_socket_errors_name_the_path(tmp_path: Any) -> None:
    path = tmp_path / "missing" / "sock"
    result = run_cli("listen", "--unix", str(path))
    assert result.status == 3
    assert str(path) in result.stderr and "127.0.0.1" not in result.stderr


def test_redirect_hint_only_without_location_flag() -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(12):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(4096)
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:%d/loop\r\n"
                b"Content-Length: 0\r\n\r\n" % port
            )
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        plain = run_cli("connect", "-x", "hi", f"ws://127.0.0.1:{port}/")
        following = run_cli("connect", "-L", "--max-redirects", "2", "-x", "hi",
                            f"ws://127.0.0.1:{port}/")  # fmt: skip
    finally:
        listener.close()
    assert plain.status == 4
    assert "-L follows redirects" in plain.stderr
    assert following.status == 4
    assert "-L follows redirects" not in following.stderr


def test_help_lists_exit_statuses_and_examples() -> None:
    for command in ("ping", "bench", "completion", "connect", "listen"):
        result = run_cli(command, "--help")
        assert result.status == 0
        assert "Exit status" in result.stdout, command
        assert "Examples:" in result.stdout, command


def test_listen_help_explains_the_origin_default_and_exec_cap() -> None:
    result = run_cli("listen", "--help")
    text = " ".join(result.stdout.split())
    assert "loopback origins only" in text
    assert "--any-origin" in text
    assert "with --exec: 64 unless given" in text


def test_verbose_log_lines_keep_a_traceback_that_met_the_ast_race(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``-v``'s formatter formats again when CPython 3.11's AST race hit the first try."""
    import logging
    import sys
    import traceback

    from wscli.cli import _EscapingFormatter

    real = traceback.print_exception
    calls: list[int] = []

    def racy_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=48, after=47)")
        return real(*args, **kwargs)

    monkeypatch.setattr(traceback, "print_exception", racy_once)
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("wscli.core", logging.ERROR, "f", 1, "m", None, sys.exc_info())
    text = _EscapingFormatter("%(message)s").format(record)
    assert "Traceback (most recent call last)" in text and "ValueError: boom" in text
    assert len(calls) == 2


def test_silencing_stdout_after_a_broken_pipe_leaks_no_descriptor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An in-process run (a test, a program calling ``main``) has no descriptor behind
    stdout; the one opened on /dev/null was left open each time."""
    import io
    import os
    import sys

    from wscli.cli import _silence_stdout

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counts descriptors in /proc")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        _silence_stdout()
    assert len(os.listdir("/proc/self/fd")) == before
