"""``wscli bench --report FILE.html``: one self-contained page of a run's pictures.

The page needs nothing but itself: no script, font, stylesheet or image from anywhere
else (so it opens offline, from a mail attachment or an archive, years later), and no
JavaScript at all. Its charts are inline SVG from :mod:`.svg`; its style is one
``<style>`` block with a light and a dark palette (``prefers-color-scheme``) and a print
layout.

What it shows: the run's parameters and summary; messages per second and echoed bytes
per second over time; latency percentiles (p50, p90, p99, max) over time; the latency
distribution as a log-scaled histogram and as a percentile curve in the manner of
HdrHistogram (the x axis spreads 90 %, 99 %, 99.9 %… evenly); errors and connections over
time; errors by reason.

Everything written into the page that came from the command line or from a peer (the
URL, header values, negotiated extensions, close reasons in error messages) is
HTML-escaped, and its control characters are made visible first: the page shows them as
text and a hostile server cannot add markup, scripts or styles to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..escape import escape_control
from ..histogram import Histogram
from .svg import Axis, Line, bar_chart, line_chart

__all__ = ["ReportData", "render_report", "percentile_curve"]

#: Bars of the latency distribution.
DISTRIBUTION_BARS = 40
#: The percentile curve goes this many steps per decade of 1/(1 - q).
_CURVE_STEPS = 10

_STYLE = """
:root { color-scheme: light dark;
  --bg: #ffffff; --fg: #1d2330; --muted: #5b6475; --grid: #e3e6ec; --frame: #9aa3b2;
  --panel: #f6f7f9; --s1: #2563eb; --s2: #059669; --s3: #d97706; --s4: #dc2626;
  --bar: #4f7cd6; --bad: #b91c1c; }
@media (prefers-color-scheme: dark) { :root {
  --bg: #12151b; --fg: #e6e9ef; --muted: #9aa3b2; --grid: #262b35; --frame: #5b6475;
  --panel: #1a1e26; --s1: #60a5fa; --s2: #34d399; --s3: #fbbf24; --s4: #f87171;
  --bar: #6f9bf0; --bad: #f87171; } }
body { background: var(--bg); color: var(--fg); margin: 2rem auto; max-width: 1540px;
  padding: 0 1rem; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; word-break: break-all; }
h2 { font-size: 1.05rem; margin: 0 0 .4rem; }
p.meta { color: var(--muted); margin: 0 0 1.2rem; }
.tables { display: flex; flex-wrap: wrap; gap: 1rem 2.5rem; margin-bottom: 1.5rem; }
table { border-collapse: collapse; }
th { text-align: left; color: var(--muted); font-weight: normal; padding: .1rem 1rem .1rem 0;
  vertical-align: top; white-space: nowrap; }
td { padding: .1rem 0; word-break: break-word; }
td.bad { color: var(--bad); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(560px, 100%), 1fr));
  gap: 1.2rem; }
figure { margin: 0; background: var(--panel); border-radius: 8px; padding: .8rem 1rem; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .2rem; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .frame { fill: none; stroke: var(--frame); stroke-width: 1; }
svg text { fill: var(--muted); font-size: 12px; font-family: inherit; }
svg .axis-title { fill: var(--fg); font-size: 12.5px; }
svg .legend { fill: var(--fg); }
svg .line { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
svg .line.series-1 { stroke: var(--s1); } svg .line.series-2 { stroke: var(--s2); }
svg .line.series-3 { stroke: var(--s3); } svg .line.series-4 { stroke: var(--s4); }
svg .dot.series-1, svg .swatch.series-1 { fill: var(--s1); }
svg .dot.series-2, svg .swatch.series-2 { fill: var(--s2); }
svg .dot.series-3, svg .swatch.series-3 { fill: var(--s3); }
svg .dot.series-4, svg .swatch.series-4 { fill: var(--s4); }
svg .bar { fill: var(--bar); }
.errors svg .bar { fill: var(--bad); }
@media print {
  :root { --bg: #fff; --fg: #000; --muted: #333; --grid: #ddd; --frame: #666;
    --panel: #fff; }
  body { margin: 0; max-width: none; font-size: 11pt; }
  .charts { display: block; }
  figure { break-inside: avoid; page-break-inside: avoid; padding: 0; margin: 0 0 1rem; }
}
"""


@dataclass
class ReportData:
    """What a report shows; ``wscli bench`` fills it from its run.

    Attributes:
        title: the heading, e.g. ``wscli bench ws://127.0.0.1:8080/``.
        parameters: ``(name, value)`` rows: what was run.
        summary: ``(name, value)`` rows: what it measured.
        series: the rows of ``--json``'s ``series`` array, one per second (or per ``span``).
        latency: the whole run's latency histogram.
        errors: ``(reason, count)``, most frequent first.
        generated: when the report was written (shown as given).
    """

    title: str
    parameters: Sequence[tuple[str, str]]
    summary: Sequence[tuple[str, str]]
    series: Sequence[dict[str, Any]]
    latency: Histogram
    errors: Sequence[tuple[str, int]] = field(default_factory=list)
    generated: str = ""


def _text(value: object) -> str:
    """Escape anything for HTML text or an attribute, its control characters made visible."""
    return escape(escape_control(str(value), keep_newlines=False))


def _table(rows: Sequence[tuple[str, str]], caption: str, css: str = "") -> str:
    body = "".join(
        f'<tr><th scope="row">{_text(name)}</th><td{css}>{_text(value)}</td></tr>'
        for name, value in rows
    )
    return f"<section><h2>{_text(caption)}</h2><table>{body}</table></section>"


def _figure(title: str, svg: str, caption: str, css: str = "") -> str:
    return (
        f'<figure class="{css}"><h2>{_text(title)}</h2>{svg}'
        f"<figcaption>{_text(caption)}</figcaption></figure>"
    )


def _percent_label(value: float) -> str:
    """Tick label of the percentile curve's x axis: ``v = 1/(1 - q)`` shown as ``q``."""
    percent = 100.0 * (1.0 - 1.0 / value)
    return f"{percent:.10g}%" if percent < 99.99999 else f"{percent:.7g}%"


def percentile_curve(latency: Histogram) -> list[tuple[float, float]]:
    """Return the percentile curve: ``(1 / (1 - q), latency ms)`` from q = 0 to the max.

    Steps are even on a log scale of 1/(1 - q), so 90 %, 99 %, 99.9 %… are equally far
    apart, up to the finest percentile the run's count can tell apart from the maximum.
    """
    if not latency.count:
        return []
    points = []
    limit = math.log10(max(1, latency.count))
    step = 0
    while step / _CURVE_STEPS < limit:
        spread = 10 ** (step / _CURVE_STEPS)
        points.append((spread, latency.percentile(100.0 * (1 - 1 / spread)) * 1e3))
        step += 1
    points.append((10**limit if latency.count > 1 else 1.0, latency.max * 1e3))
    return points


def row_middle(row: dict[str, Any]) -> float:
    """Where a row's value is drawn: the middle of the seconds it spans.

    A row spans one second, or more on a run long enough for its rows to be widened
    (see :mod:`wscli.loadgen.series`).
    """
    return float(row["t"]) + _span(row) / 2


def _span(row: dict[str, Any]) -> int:
    return int(row.get("span", 1))


def time_domain(series: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """The time axis of the charts: from 0 to the end of the last row."""
    if not series:
        return (0.0, 0.0)
    return (0.0, float(series[-1]["t"] + _span(series[-1])))


def _latency_lines(series: Sequence[dict[str, Any]]) -> list[Line]:
    lines = []
    for key in ("p50", "p90", "p99", "max"):
        points = [(row_middle(row), row["latency_ms"].get(key)) for row in series]
        lines.append(Line(key, points))
    return lines


def _charts(data: ReportData) -> list[str]:
    series = data.series
    time_axis = Axis("time since the start (s)")
    span = time_domain(series)
    width = _span(series[0]) if series else 1
    # A long run's rows span several seconds (see wscli.loadgen.series): say so.
    each = "each second" if width == 1 else f"each {width} s of the run"
    charts = []
    if series:
        messages = [(row_middle(row), row["messages"] / row["seconds"]) for row in series]
        charts.append(
            _figure(
                "Throughput",
                line_chart(
                    "Echoes verified per second",
                    time_axis,
                    Axis("messages per second (msg/s)"),
                    [Line("msg/s", messages)],
                    x_domain=span,
                ),
                f"Echoes received and verified in {each} (the last, partial one as a "
                "rate over the part the run covered).",
            )
        )
        megabytes = [(row_middle(row), row["bytes"] / row["seconds"] / 1e6) for row in series]
        charts.append(
            _figure(
                "Echoed payload",
                line_chart(
                    "Echoed payload per second",
                    time_axis,
                    Axis("megabytes per second (MB/s)"),
                    [Line("MB/s", megabytes)],
                    x_domain=span,
                ),
                "Payload bytes echoed back and verified, one direction, per second.",
            )
        )
        charts.append(
            _figure(
                "Latency over time",
                line_chart(
                    "Latency percentiles per second",
                    time_axis,
                    Axis("round trip (ms, log scale)", log=True),
                    _latency_lines(series),
                    x_domain=span,
                ),
                f"p50, p90, p99 and the slowest echo of {each} (gaps: no echo).",
            )
        )
    latency = data.latency
    if latency.count:
        bars = [
            (low * 1e3, high * 1e3, float(n)) for low, high, n in latency.bars(DISTRIBUTION_BARS)
        ]
        charts.append(
            _figure(
                "Latency distribution",
                bar_chart(
                    "Latency histogram",
                    Axis("round trip (ms, log scale)", log=True),
                    Axis("echoes"),
                    bars,
                ),
                "How many echoes took each time, in log-spaced ranges from fastest to slowest.",
            )
        )
        charts.append(
            _figure(
                "Percentile curve",
                line_chart(
                    "Latency by percentile",
                    Axis("percentile (log scale of 1 / (1 − q))", log=True, labels=_percent_label),
                    Axis("round trip (ms)"),
                    [Line("latency", percentile_curve(latency))],
                ),
                "The latency at or below which each fraction of the echoes came back; "
                "the tail is on the right.",
            )
        )
    if series:
        errors = [(row["t"], row["t"] + _span(row), float(row["errors"])) for row in series]
        charts.append(
            _figure(
                "Errors over time",
                bar_chart(
                    "Errors per second" if width == 1 else f"Errors per {width} s",
                    time_axis,
                    Axis("errors"),
                    errors,
                ),
                f"Errors of every kind counted in {each} (reasons below the summary).",
                css="errors",
            )
        )
        open_now = [(row_middle(row), float(row["connections"])) for row in series]
        failed = [(row_middle(row), float(row["failed"])) for row in series]
        charts.append(
            _figure(
                "Connections",
                line_chart(
                    "Connections over time",
                    time_axis,
                    Axis("connections"),
                    [Line("open", open_now), Line("failed in the second", failed)],
                    x_domain=span,
                ),
                f"Connections open at the end of {each}, and handshakes that failed.",
            )
        )
    return charts


def render_report(data: ReportData) -> str:
    """Return the whole HTML page for ``data`` (UTF-8 text, no external resources)."""
    errors = list(data.errors)
    tables = [
        _table(data.parameters, "Parameters"),
        _table(data.summary, "Summary"),
    ]
    if errors:
        tables.append(
            _table([(f"{count:,} ×", reason) for reason, count in errors], "Errors", ' class="bad"')
        )
    meta = f"Generated {data.generated} by wscli." if data.generated else "Generated by wscli."
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
            f"<title>{_text(data.title)}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>{_text(data.title)}</h1>",
            f'<p class="meta">{_text(meta)}</p>',
            f'<div class="tables">{"".join(tables)}</div>',
            f'<div class="charts">{"".join(_charts(data))}</div>',
            "</body>",
            "</html>",
            "",
        ]
    )
