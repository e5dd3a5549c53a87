"""``wscli bench``'s live view: what it shows, that a terminal gets it, and Ctrl-C."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from helpers import TIMEOUT

from wscli.loadgen import ErrorKind, LoadConfig, Problem, Stats
from wscli.report.live import LiveView

from .conftest import reap, wscli_process
from .test_bench import serving


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_live_line_shows_progress_last_second_connections_and_errors() -> None:
    clock = Clock()
    view = LiveView(LoadConfig("ws://x/", connections=3, messages=None, duration=10.0), clock)
    stats = Stats(3)
    stats.opened, stats.failed, stats.ended = 2, 1, 0
    for _ in range(100):
        stats.latency.record_ns(50_000_000)  # slow echoes before the last second
    stats.received = 100
    view.render(stats)
    clock.now += 2.0
    for _ in range(1000):
        stats.latency.record_ns(2_000_000)
    stats.received += 1000
    stats.add_error(Problem(ErrorKind.TIMEOUT, "no echo"))
    line = view.render(stats).plain
    assert " 20% " in line
    assert "500 msg/s" in line  # 1,000 echoes over the 2 s since the previous draw
    p50, p99 = (float(v) for v in line.split("p50/p99 ")[1].split(" ms")[0].split("/"))
    assert p50 == pytest.approx(2.0, rel=0.01) and p99 == pytest.approx(2.0, rel=0.01)
    assert "conns 2/3 (1 failed)" in line
    assert "errors 1" in line
    clock.now += 0.5
    stats.received += 250
    line = view.render(stats).plain
    assert "500 msg/s" in line  # 1,250 over 2.5 s: the base stays the draw ≥ 1 s old


def test_live_view_redraws_at_most_four_times_a_second() -> None:
    clock = Clock()
    view = LiveView(LoadConfig("ws://x/", messages=10), clock)
    assert view.due()
    clock.now += 0.1
    assert not view.due()
    clock.now += 0.2
    assert view.due()


def test_progress_against_messages() -> None:
    view = LiveView(LoadConfig("ws://x/", connections=2, messages=50), Clock())
    stats = Stats(2)
    stats.received = 25
    assert view.progress(stats) == 0.25


def read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    seen = b""
    end = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX terminals and signals")
def test_terminal_gets_the_live_view_and_ctrl_c_shows_results_so_far(tmp_path: Path) -> None:
    report = tmp_path / "interrupted.html"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with serving() as url:
        process = wscli_process(
            "bench", "-d", "60s", "--report", str(report), url, stderr=slave, env={"TERM": "xterm"}
        )
        try:
            os.close(slave)
            shown = read_until(master, b"conns 1/1", TIMEOUT * 4)
            assert b"msg/s" in shown and b"p50/p99" in shown and b"conns 1/1" in shown
            process.send_signal(signal.SIGINT)
            out, _ = process.communicate(timeout=TIMEOUT * 2)
        finally:
            reap(process)
            os.close(master)
    assert process.returncode == 130
    text = out.decode()
    assert "interrupted: results so far" in text
    assert "echoed and verified" in text
    page = report.read_text(encoding="utf-8")
    assert "interrupted: results so far" in page and "<svg" in page


def test_no_live_view_in_a_pipe() -> None:
    with serving() as url:
        done = subprocess.run(
            [sys.executable, "-m", "wscli", "bench", "-n", "200", url],
            capture_output=True,
            timeout=TIMEOUT * 4,
        )
    assert done.returncode == 0
    assert b"msg/s" not in done.stderr and b"\x1b" not in done.stderr
