"""Sparklines: the one-line picture of round trips in ``wscli ping``'s summary."""

from __future__ import annotations

import pytest

import wscli.commands.ping as ping_module
from wscli.sparkline import BARS, GAP, sparkline

from .conftest import run_cli
from .test_ping import serving


def test_sparkline_scales_from_minimum_to_maximum() -> None:
    assert sparkline([1.0, 2.0, 3.0]) == BARS[0] + BARS[4] + BARS[-1]
    assert sparkline([5.0, 5.0]) == BARS[0] * 2


def test_sparkline_draws_missing_values_as_gaps_and_keeps_the_latest() -> None:
    assert sparkline([1.0, None, 2.0]) == BARS[0] + GAP + BARS[-1]
    assert sparkline([None, None]) == GAP * 2
    assert sparkline([9.0, 1.0, 2.0], width=2) == BARS[0] + BARS[-1]
    assert sparkline([]) == ""


def test_ping_summary_has_a_sparkline_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ping_module, "is_terminal", lambda stream: True)
    with serving() as server:
        run = run_cli("ping", f"ws://127.0.0.1:{server.port}", "-c", "4", "-i", "0")
    assert run.status == 0, run.stderr
    summary = next(line for line in run.stdout.splitlines() if "rtt p50/p90/p99" in line)
    drawn = summary.split(" ms  ", 1)[1]
    assert len(drawn) == 4 and set(drawn) <= set(BARS)


def test_ping_summary_has_no_sparkline_in_a_pipe() -> None:
    with serving() as server:
        run = run_cli("ping", f"ws://127.0.0.1:{server.port}", "-c", "3", "-i", "0")
    assert run.status == 0, run.stderr
    assert not set(run.stdout) & set(BARS + GAP)
