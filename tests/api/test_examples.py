"""The examples run as documented: in-process against each other, and one as a process.

(``embed_http_server.py`` and ``handle_upgrade.py`` run in ``tests/net/test_embed.py``.)
"""

from __future__ import annotations

import importlib.util
import queue
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import wscli

from .conftest import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FLOATS = "b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00?\\x00\\x00\\x80?'"  # 0.0, 0.5, 1.0 as float32


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_client_against_echo_server(capsys: pytest.CaptureFixture[str]) -> None:
    wss = load("echo_server").start(0)
    try:
        log = load("client").run(f"ws://127.0.0.1:{wss.port}", timeout=TIMEOUT)
    finally:
        wss.close(timeout=TIMEOUT)
    assert log[:5] == [
        "connected",
        "text 'something'",
        "text 'hello'",
        f"binary {FLOATS}",
        "disconnected 1000 done",
    ]
    assert len(log) == 6 and log[5].startswith("send failed: ")
    assert capsys.readouterr().out.splitlines() == [
        "received: 'hello'",
        f"received: {FLOATS}",
    ]


def test_w3c_client_against_echo_server(capsys: pytest.CaptureFixture[str]) -> None:
    wss = load("echo_server").start(0)
    try:
        log = load("w3c_client").run(f"ws://127.0.0.1:{wss.port}", timeout=TIMEOUT)
    finally:
        wss.close(timeout=TIMEOUT)
    assert log == ["open", "message 'something'", "message 'hello'", "close 1000 clean=True"]


def test_broadcast_server_sends_to_every_client() -> None:
    wss = load("broadcast_server").start(0)
    try:
        first = wscli.connect(wss.url, open_timeout=TIMEOUT)
        second = wscli.connect(wss.url, open_timeout=TIMEOUT)
        got: queue.Queue[tuple[str, str | bytes]] = queue.Queue()
        first.on("message", lambda data: got.put(("first", data)))
        second.on("message", lambda data: got.put(("second", data)))
        first.send("to everyone")
        assert {got.get(timeout=TIMEOUT), got.get(timeout=TIMEOUT)} == {
            ("first", "to everyone"),
            ("second", "to everyone"),
        }
        first.close()
        second.close()
    finally:
        wss.close(timeout=TIMEOUT)


def test_client_example_as_a_process() -> None:
    wss = load("echo_server").start(0)
    try:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "client.py"), f"ws://127.0.0.1:{wss.port}"],
            capture_output=True,
            text=True,
            timeout=3 * TIMEOUT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
    finally:
        wss.close(timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["connected", "text 'something'", "text 'hello'"]
    assert lines[4] == "disconnected 1000 done"
    assert result.stderr == ""
