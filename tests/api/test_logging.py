"""A listener's exception reaches stderr by default, and goes where the application says.

pytest installs logging handlers of its own, so each case runs in a fresh interpreter
whose logging is exactly what the script sets up.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]

# A real server whose connection listener raises, and a client that connects once.
SERVER_WITH_BROKEN_LISTENER = """
import wscli

server = wscli.Server("127.0.0.1", 0)

def on_connection(ws):
    raise ValueError("listener bug 42")

server.on("connection", on_connection)
with wscli.connect(server.url, open_timeout={timeout}) as ws:
    pass
server.close(timeout={timeout})
print("done")
"""


def run(setup: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(setup) + SERVER_WITH_BROKEN_LISTENER.format(timeout=TIMEOUT)
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=6 * TIMEOUT,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_without_logging_configured_the_traceback_goes_to_stderr() -> None:
    result = run("")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert "ERROR wscli.core:" in result.stderr
    assert "'connection' listener raised" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: listener bug 42" in result.stderr
    assert result.stderr.count("listener bug 42") == 1  # once, not also by lastResort


def test_with_logging_configured_records_go_where_the_application_says() -> None:
    result = run(
        """
        import logging, sys
        logging.basicConfig(stream=sys.stdout, format="app-log %(levelname)s %(name)s")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "listener bug 42" not in result.stderr
    assert "app-log ERROR wscli.core" in result.stdout
    assert "ValueError: listener bug 42" in result.stdout


def test_a_handler_on_the_wscli_logger_takes_the_records() -> None:
    result = run(
        """
        import logging, sys
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("routed %(message)s"))
        logging.getLogger("wscli").addHandler(handler)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "listener bug 42" not in result.stderr
    assert "routed " in result.stdout and "ValueError: listener bug 42" in result.stdout


def test_a_null_handler_silences_the_library() -> None:
    result = run(
        """
        import logging
        logging.getLogger("wscli").addHandler(logging.NullHandler())
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert "listener bug 42" not in result.stderr


# On CPython 3.11, formatting a traceback parses source with ``ast.parse`` (to place the
# ``^^^`` marks), and two threads parsing at once can make one of them raise
# ``SystemError: AST constructor recursion depth mismatch``. Here the race is made to
# happen on the first formatting.
RACY_ONCE = """
import traceback

real = traceback.print_exception
calls = []

def racy_once(*args, **kwargs):
    calls.append(1)
    if len(calls) == 1:
        raise SystemError("AST constructor recursion depth mismatch (before=48, after=47)")
    return real(*args, **kwargs)

traceback.print_exception = racy_once
"""


def test_a_traceback_that_meets_the_ast_race_is_formatted_again() -> None:
    result = run(RACY_ONCE)
    assert result.returncode == 0, result.stderr
    assert "--- Logging error ---" not in result.stderr
    assert "SystemError" not in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: listener bug 42" in result.stderr
