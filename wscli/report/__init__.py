"""Pictures of a load run: inline SVG charts (:mod:`.svg`) and the HTML report (:mod:`.page`)."""

from __future__ import annotations

from .page import ReportData, percentile_curve, render_report
from .svg import Axis, Line, bar_chart, line_chart

__all__ = [
    "Axis",
    "Line",
    "ReportData",
    "bar_chart",
    "line_chart",
    "percentile_curve",
    "render_report",
]
