"""Collects the Autobahn conformance summaries and prints them at the end of the run."""

from __future__ import annotations

from typing import Any

SUMMARIES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARIES:
        terminalreporter.section("Autobahn conformance (kosoku)")
        for summary in SUMMARIES:
            terminalreporter.write_line(summary)
