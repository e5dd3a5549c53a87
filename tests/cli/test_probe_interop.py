"""``wscli probe`` against other servers: Python's websockets and node's ws.

What each gets, and why, is in docs/PROBE.md; these tests keep that page true. Node's
ws is looked for as the benchmarks do (``$WSCLI_NODE_MODULES`` or ``/tmp/nodebench``,
holding ``node_modules/ws``); the test is skipped when node or ws is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
from helpers import TIMEOUT

from .test_probe import grades, probe_json

websockets_server = pytest.importorskip("websockets.sync.server")

MAX_SIZE = 1024 * 1024

NODE_SERVER = """
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true,
                                  maxPayload: MAX_SIZE });
wss.on('listening', () => console.log(wss.address().port));
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
""".replace("MAX_SIZE", str(MAX_SIZE))


def not_pass(report: dict[str, object]) -> dict[tuple[str, str], str]:
    return {key: grade for key, grade in grades(report).items() if grade not in ("PASS", "INFO")}


@contextlib.contextmanager
def websockets_echo() -> Iterator[str]:
    def echo(ws: object) -> None:
        for message in ws:  # type: ignore[attr-defined]
            ws.send(message)  # type: ignore[attr-defined]

    server = websockets_server.serve(echo, "127.0.0.1", 0, max_size=MAX_SIZE)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
    finally:
        server.shutdown()
        thread.join(TIMEOUT)


def node_modules() -> str | None:
    if shutil.which("node") is None:
        return None
    for candidate in (os.environ.get("WSCLI_NODE_MODULES"), "/tmp/nodebench"):
        if candidate and os.path.isdir(os.path.join(candidate, "node_modules", "ws")):
            return candidate
    return None


@contextlib.contextmanager
def node_ws_echo(modules: str) -> Iterator[str]:
    env = dict(os.environ, NODE_PATH=os.path.join(modules, "node_modules"))
    process = subprocess.Popen(
        ["node", "-e", NODE_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), "node ws did not start"
        yield f"ws://127.0.0.1:{port}/"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)


def test_websockets_passes_but_for_the_version_answer_and_the_origin() -> None:
    with websockets_echo() as url:
        status, report = probe_json(url)
    assert status == 0
    assert not_pass(report) == {
        ("handshake", "unsupported version"): "WARN",  # 400 without Sec-WebSocket-Version
        ("security", "foreign Origin"): "WARN",  # origins=None accepts every Origin
    }
    assert report["fail"] == 0


def test_node_ws_passes_but_for_the_origin() -> None:
    modules = node_modules()
    if modules is None:
        pytest.skip("node or its ws package is missing (see benchmarks/README.md)")
    with node_ws_echo(modules) as url:
        status, report = probe_json(url)
    assert status == 0
    assert not_pass(report) == {("security", "foreign Origin"): "WARN"}
