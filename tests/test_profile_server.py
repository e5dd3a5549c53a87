"""benchmarks/profile_server.py's exact counts: calls and bytecodes per echo."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from types import ModuleType

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _profile_server() -> ModuleType:
    path = os.path.join(ROOT, "benchmarks", "profile_server.py")
    spec = importlib.util.spec_from_file_location("profile_server_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_opcodes_per_echo_are_counted_by_function(capsys: pytest.CaptureFixture[str]) -> None:
    _profile_server().main(["--opcodes", "--pipeline", "1", "--messages", "30"])
    out = capsys.readouterr().out
    total = re.search(r"([\d.]+) bytecodes per echo", out)
    assert total is not None, out
    # An echo runs the reactor's read path: hundreds of bytecodes, never none.
    assert 100 < float(total.group(1)) < 20_000
    assert "connection.py" in out and ":handle_io" in out
    assert sys.gettrace() is None


def test_calls_per_echo_are_counted(capsys: pytest.CaptureFixture[str]) -> None:
    _profile_server().main(["--calls", "--pipeline", "1", "--messages", "30"])
    out = capsys.readouterr().out
    calls = re.search(r"per echo ([\d.]+) Python calls", out)
    assert calls is not None, out
    assert float(calls.group(1)) >= 1
    assert "built-in socket.send" in out or "built-in socket.sendmsg" in out
    assert sys.getprofile() is None
