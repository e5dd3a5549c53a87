"""Locust in distributed mode on loopback: one master, two workers, ``wscli listen`` as server.

Everything runs as subprocesses: the server (``python -m wscli listen --echo --port 0``,
whose stdout has one line per message it received, so it counts the echoes it sent),
the master and two workers. Every wait is bounded and every process is ended.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import TIMEOUT

# Locust runs only in subprocesses: importing it here would patch this whole test process
# for gevent. So look for it without importing it.
needs_locust = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="needs locust (the test extra has it)"
)

pytestmark = [pytest.mark.slow, needs_locust]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "locustfile.py"
HOOK = Path(__file__).with_name("report_hook.py")
USERS = 4  # over both workers; the example keeps one message in flight per user
RUN_TIME = "3s"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=TIMEOUT)


class Server:
    """``wscli listen`` in a subprocess; its stdout (one line per message) goes to a file."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out = tmp_path / "server.out"
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wscli", "listen", "--port", "0", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.PIPE,
                env=_env(),
                cwd=tmp_path,
            )
        assert self.process.stderr is not None
        line = self.process.stderr.readline().decode()
        found = re.search(r"ws://\S+", line)
        assert found, f"no address announced: {line!r}"
        self.url = found.group(0) + "/"

    def messages_seen(self) -> int:
        _stop(self.process)
        return len(self.out.read_bytes().splitlines())


@pytest.fixture
def echo_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, "--echo")
    yield server
    _stop(server.process)


@pytest.fixture
def refusing_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, "--echo", "--auth", "user:secret")
    yield server
    _stop(server.process)


def _run_distributed(tmp_path: Path, url: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run one master and two workers for RUN_TIME; return the master's result."""
    port = _free_port()
    report = tmp_path / "workers.json"
    files = f"{EXAMPLE},{HOOK}"
    common = ["-f", files, "--host", url]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "locust", *common, "--worker", "--master-host", "127.0.0.1"]
            + ["--master-port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(),
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    try:
        master = subprocess.run(
            [sys.executable, "-m", "locust", *common, "--master", "--headless"]
            + ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
            + ["--expect-workers", "2", "--expect-workers-max-wait", str(int(3 * TIMEOUT))]
            + ["-u", str(USERS), "-r", str(USERS), "-t", RUN_TIME, "--stop-timeout", "5"]
            + ["--json-file", "result", "--csv", "result", "--only-summary"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=_env(WSCLI_LOCUST_REPORT=str(report)),
            cwd=tmp_path,
            timeout=6 * TIMEOUT,
        )
        # Workers end by themselves once the master quits.
        deadline = time.monotonic() + TIMEOUT
        for worker in workers:
            worker.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        for worker in workers:
            _stop(worker)
    return master, report


def _entries(tmp_path: Path) -> dict[str, dict[str, int]]:
    stats = json.loads((tmp_path / "result.json").read_text())
    return {f"{e['method']} {e['name']}": e for e in stats}


def test_two_workers_count_every_echo_the_server_sent(tmp_path: Path, echo_server: Server) -> None:
    master, report = _run_distributed(tmp_path, echo_server.url)
    assert master.returncode == 0, master.stderr[-3000:]
    entries = _entries(tmp_path)
    echoes = entries["WS echo"]["num_requests"]
    assert entries["WS connect"]["num_requests"] == USERS
    assert sum(e["num_failures"] for e in entries.values()) == 0
    # Each worker reported requests of its own to the master.
    by_worker = json.loads(report.read_text())
    assert len(by_worker) == 2
    assert all(count > 0 for count in by_worker.values()), by_worker
    assert sum(by_worker.values()) == echoes + USERS
    # The server received every echo Locust counted, plus at most one in flight per user.
    seen = echo_server.messages_seen()
    assert echoes > 0
    assert echoes <= seen <= echoes + USERS


def test_refused_upgrades_are_failures_with_the_status(
    tmp_path: Path, refusing_server: Server
) -> None:
    master, _ = _run_distributed(tmp_path, refusing_server.url)
    assert master.returncode == 1, master.stderr[-3000:]
    entries = _entries(tmp_path)
    connects = entries["WS connect"]
    assert connects["num_requests"] >= USERS
    assert connects["num_failures"] == connects["num_requests"]
    assert "WS echo" not in entries or entries["WS echo"]["num_requests"] == 0
    with (tmp_path / "result_failures.csv").open() as file:
        failures = list(csv.DictReader(file))
    assert [(row["Method"], row["Name"]) for row in failures] == [("WS", "connect")]
    assert "HTTP 401" in failures[0]["Error"]
    assert int(failures[0]["Occurrences"]) == connects["num_failures"]
    assert refusing_server.messages_seen() == 0


def test_timeouts_and_close_codes_are_failures_with_the_reason(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("hostile_server.py"))],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    try:
        assert server.stderr is not None
        found = re.search(r"ws://\S+", server.stderr.readline().decode())
        assert found
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(HOOK.with_name("failures_locustfile.py"))]
            + ["--headless", "-u", "2", "-r", "2", "-t", "3s", "--host", found.group(0) + "/"]
            + ["--csv", "result", "--json-file", "result", "--only-summary"],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=tmp_path,
            timeout=6 * TIMEOUT,
        )
    finally:
        _stop(server)
    assert run.returncode == 1, run.stderr[-3000:]
    with (tmp_path / "result_failures.csv").open() as file:
        failures = {(row["Method"], row["Name"]): row["Error"] for row in csv.DictReader(file)}
    assert failures[("WS", "silent")] == "WebSocketFailure('timeout: nothing in 0.3s')"
    assert "connection closed: 1011 (internal error) asked to" in failures[("WS", "closing")]
    assert (
        "connection closed: 1000 (normal closure) that was the last"
        in (failures[("WS", "after-close")])
    )
    entries = _entries(tmp_path)
    for name in ("WS fine", "WS last-reply"):
        assert entries[name]["num_failures"] == 0 and entries[name]["num_requests"] > 0
    # Each failure dropped its connection: the next task connected again.
    assert entries["WS connect"]["num_requests"] > 2
    assert entries["WS connect"]["num_failures"] == 0
