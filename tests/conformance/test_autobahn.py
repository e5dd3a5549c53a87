"""The Autobahn TestSuite, run by kosoku, against wscli as a server and as a client.

Every case must come out strictly ``OK``; only the three cases the suite itself marks
INFORMATIONAL (7.1.6, 7.13.1, 7.13.2) pass as such. NON-STRICT, UNIMPLEMENTED, FAILED
and ERROR all fail the test. ``WSCLI_AUTOBAHN_CASES`` (a comma-separated list of case
globs such as ``1.*,9.1.*``) narrows the run while developing.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import pytest

from .conftest import SUMMARIES

#: Minutes of work: outside the developer's loop (``-m "not slow and not conformance"``).
pytestmark = pytest.mark.conformance

HERE = pathlib.Path(__file__).parent
INFORMATIONAL = {"7.1.6", "7.13.1", "7.13.2"}
PASSING = {"OK"}


def _kosoku() -> list[str]:
    candidate = pathlib.Path(sys.executable).with_name("kosoku")
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("kosoku")
    if found is None:
        pytest.fail("kosoku is not installed: pip install -e '.[test]'")
    return [found]


def _selection() -> list[str]:
    cases = os.environ.get("WSCLI_AUTOBAHN_CASES", "").strip()
    args: list[str] = []
    for pattern in filter(None, (c.strip() for c in cases.split(","))):
        args += ["-i", pattern]
    return args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _section(case_id: str) -> str:
    return case_id.split(".")[0]


def _judge(index_path: pathlib.Path, role: str) -> None:
    """Summarise a kosoku index.json per section and fail on any non-passing case."""
    index = json.loads(index_path.read_text())
    (cases,) = index.values()
    per_section: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    bad = []
    for case_id, result in cases.items():
        behavior, close = result["behavior"], result["behaviorClose"]
        if case_id in INFORMATIONAL and behavior == close == "INFORMATIONAL":
            verdict = "INFORMATIONAL"
        elif behavior in PASSING and close in PASSING:
            verdict = "OK"
        else:
            verdict = f"{behavior}/{close}"
            bad.append(f"{case_id}: {verdict}")
        per_section[_section(case_id)][verdict] += 1
    lines = [f"wscli as {role}: {len(cases)} cases"]
    for section in sorted(per_section, key=int):
        counts = ", ".join(f"{n} {v}" for v, n in sorted(per_section[section].items()))
        lines.append(f"  section {section:>2}: {counts}")
    lines.append(f"  not passing: {len(bad)}")
    SUMMARIES.append("\n".join(lines))
    print("\n".join(lines))
    assert not bad, f"{len(bad)} cases not OK as {role}:\n" + "\n".join(sorted(bad))
    assert cases, "kosoku reported no case"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.mark.timeout(1500)
def test_autobahn_as_server(tmp_path: pathlib.Path) -> None:
    """kosoku's fuzzing client drives an echo server built from wscli's public API."""
    server = subprocess.Popen(
        [sys.executable, str(HERE / "echo_server.py"), "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        outdir = tmp_path / "reports"
        run = subprocess.run(
            [
                *_kosoku(),
                "-m",
                "fuzzingclient",
                "-p",
                "2",
                "-o",
                str(outdir),
                *_selection(),
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=1400,
        )
        assert (outdir / "index.json").exists(), run.stdout[-2000:] + run.stderr[-2000:]
        assert server.poll() is None, "the echo server died during the run"
    finally:
        _stop(server)
    _judge(outdir / "index.json", "server")


@pytest.mark.timeout(1500)
def test_autobahn_as_client(tmp_path: pathlib.Path) -> None:
    """A client built on wscli.connect runs every case of kosoku's fuzzing server."""
    port = _free_port()
    outdir = tmp_path / "reports"
    log_path = tmp_path / "kosoku.log"
    with log_path.open("w") as log:
        fuzzer = subprocess.Popen(
            [
                *_kosoku(),
                "-m",
                "fuzzingserver",
                "-o",
                str(outdir),
                *_selection(),
                f"127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(log_path, "listening", fuzzer, 30)
        driver = subprocess.run(
            [sys.executable, str(HERE / "client_driver.py"), f"ws://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=1400,
        )
        assert driver.returncode == 0, driver.stderr[-3000:]
        # The fuzzing server writes its reports after /updateReports; wait for them.
        _wait_for(log_path, "cases to", fuzzer, 120)
        index = outdir / "index.json"
        assert index.exists(), "kosoku wrote no index.json"
    finally:
        _stop(fuzzer)
    _judge(index, "client")


def _wait_for(
    log: pathlib.Path, text: str, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"kosoku never said {text!r}: {log.read_text(errors='replace')[-2000:]}")
