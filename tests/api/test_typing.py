"""``mypy --strict`` accepts every documented listener shape and flags the wrong ones.

One program of uses, each wrong line marked ``# wrong``; mypy must report errors on
exactly those lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
from __future__ import annotations

from typing import Any

import wscli


def on_connection(ws: wscli.WebSocket) -> None:
    ws.send("welcome")


def on_error(error: Exception) -> None:
    print(error)


def text_only(data: str) -> None:
    print(data)


def uses(server: wscli.Server) -> None:
    server.on("connection", on_connection)
    server.on("connection", lambda ws, request: ws.send(request.path))
    server.once("connection", lambda ws: ws.close())
    server.on("headers", lambda headers: headers.update({"X-Name": "value"}))
    server.on("headers", lambda headers, request: print(request.path))
    server.on("listening", lambda: print("up"))
    server.on("error", on_error)
    server.on("connection", lambda ws, request, extra: None)  # wrong
    server.on("headers", lambda headers: headers.nope)  # wrong
    server.on("listening", lambda port: None)  # wrong

    with wscli.connect("ws://127.0.0.1:1") as ws:
        ws.on("open", lambda: ws.send("hi"))
        ws.on("message", lambda data, flags: ws.send(data, binary=flags.binary))
        ws.on("message", lambda data: print(data))
        ws.on("ping", lambda data, flags: print(data.hex(), flags.binary))
        ws.on("pong", lambda data: print(data.hex()))
        ws.on("close", lambda code, reason: print(code + 1, reason.upper()))
        ws.on("close", lambda code: print(code))
        ws.on("error", on_error).on("close", lambda: None)
        ws.once("redirect", lambda url, response: print(url, response.status_code))
        ws.add_event_listener("message", lambda event: print(event.data))
        ws.wait_open(1.0)
        print(ws.tls, ws.bytes_received)
        ws.on("message", lambda data, flags, extra: None)  # wrong
        ws.on("message", lambda data, flags: flags.nope)  # wrong
        ws.on("message", text_only)  # wrong
        ws.on("close", lambda code, reason: reason + 1)  # wrong
        ws.on("open", lambda event: None)  # wrong
        ws.on("ping", lambda data: data.upper() + "x")  # wrong
        ws.onmessage = lambda event: print(event.data, event.binary)
        ws.onclose = lambda event: print(event.code + 1, event.reason, event.was_clean)
        ws.onerror = lambda event: print(event.error)
        ws.add_event_listener("message", lambda event: event.data, once=True)
        ws.onmessage = lambda event: event.code  # wrong
        ws.add_event_listener("close", lambda event: event.data)  # wrong
        ws.add_event_listener("message", lambda event, extra: None)  # wrong
"""


@pytest.mark.slow
def test_mypy_flags_exactly_the_wrong_listener_shapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYPYPATH", str(ROOT))
    program = tmp_path / "uses.py"
    program.write_text(PROGRAM)
    stdout, stderr, _status = mypy_api.run(
        [
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            str(program),
        ]
    )
    lines = PROGRAM.splitlines()
    wrong = {number for number, line in enumerate(lines, start=1) if line.endswith("# wrong")}
    flagged = {int(n) for n in re.findall(rf"{re.escape(program.name)}:(\d+): error", stdout)}
    assert stderr == ""
    assert flagged == wrong, stdout


@pytest.mark.slow
def test_examples_pass_mypy_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples are written in ws's shapes, and those shapes type-check."""
    monkeypatch.setenv("MYPYPATH", str(ROOT))
    # Locust files are written in Locust's shapes, not ws's; tests/locust runs them.
    examples = sorted(
        str(path)
        for path in (ROOT / "examples").glob("*.py")
        if not path.name.startswith("locustfile")
    )
    assert len(examples) >= 6
    stdout, stderr, status = mypy_api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache"), *examples]
    )
    assert (status, stdout, stderr) == (0, "", "")
