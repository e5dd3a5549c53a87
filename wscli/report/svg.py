"""Charts as inline SVG text: axes with ticks, units and titles; lines and bars.

The report must show its pictures with no script, font or network, so wscli writes the
SVG itself. Colours are CSS classes (``series-1``… ``series-4``, ``bar``, ``grid``) that
the page styles for light, dark and print; the SVG holds geometry only.

Every chart records its domain and plot box as ``data-*`` attributes on the ``<svg>``
(``data-x-min``, ``data-x-max``, ``data-y-min``, ``data-y-max``, ``data-x-scale``,
``data-y-scale``, ``data-plot`` = ``"left top width height"``), so a reader (or a test)
can turn any point back into the value it draws. Labels are escaped here; callers pass
plain text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Axis", "Line", "bar_chart", "format_number", "line_chart", "nice_ticks"]

WIDTH = 720
HEIGHT = 260
#: Room around the plot: left (tick labels and the y title), right, top (legend), bottom.
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 28, 46
#: Points on a line closer than this many pixels apart are not both drawn.
_PRECISION = 2


@dataclass(frozen=True)
class Axis:
    """One axis: its title with the unit, and whether it is log-scaled.

    Args:
        title: e.g. ``"time (s)"``, ``"latency (ms)"``.
        log: logarithmic scale (values must be positive).
        labels: draw tick ``v`` as ``labels(v)`` instead of :func:`format_number`.
    """

    title: str
    log: bool = False
    labels: Callable[[float], str] | None = None


@dataclass(frozen=True)
class Line:
    """One line: a name for the legend and ``(x, y)`` points; ``y`` of ``None`` is a gap."""

    name: str
    points: Sequence[tuple[float, float | None]]


def format_number(value: float) -> str:
    """Format a tick value short: ``1.5k``, ``2M``, ``0.05``, ``120``."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    if magnitude == 0:
        return "0"
    return f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Return round tick values (steps of 1, 2 or 5 × 10ⁿ) covering ``low``…``high``.

    The first tick is at or below ``low`` and the last at or above ``high``, so the
    ticks also give the axis its domain.
    """
    if not high > low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while True:
        ticks.append(round(value, 12))
        if value >= high - 1e-9 * step:
            break
        value += step
    return ticks


def _log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten around ``low``…``high`` (with 2 and 5 between when few decades)."""
    first = math.floor(math.log10(low))
    last = math.ceil(math.log10(high))
    steps = (1, 2, 5) if last - first <= 3 else (1,)
    ticks = [m * 10.0**e for e in range(first, last + 1) for m in steps]
    inside = [t for t in ticks if low <= t <= high]
    below = [t for t in ticks if t < low]
    above = [t for t in ticks if t > high]
    return ([below[-1]] if below else []) + inside + ([above[0]] if above else [])


class _Frame:
    """The plot area and its two scales; draws the axes."""

    def __init__(self, x: Axis, y: Axis, xs: Sequence[float], ys: Sequence[float]) -> None:
        self.x_axis, self.y_axis = x, y
        self.left, self.top = LEFT, TOP
        self.width = WIDTH - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM
        self.x_ticks = self._ticks(x, xs, zero=False)
        self.y_ticks = self._ticks(y, ys, zero=True)
        self.x_min, self.x_max = self.x_ticks[0], self.x_ticks[-1]
        self.y_min, self.y_max = self.y_ticks[0], self.y_ticks[-1]

    @staticmethod
    def _ticks(axis: Axis, values: Sequence[float], *, zero: bool) -> list[float]:
        if axis.log:
            positive = [v for v in values if v > 0] or [1.0]
            return _log_ticks(min(positive), max(positive))
        low = min(values, default=0.0)
        high = max(values, default=1.0)
        if zero:
            low = min(0.0, low)
        return nice_ticks(low, high)

    def _fraction(self, value: float, low: float, high: float, log: bool) -> float:
        if log:
            value = max(value, low)
            return math.log(value / low) / math.log(high / low) if high > low else 0.0
        return (value - low) / (high - low) if high > low else 0.0

    def x(self, value: float) -> float:
        """Horizontal pixel of ``value``."""
        fraction = self._fraction(value, self.x_min, self.x_max, self.x_axis.log)
        return round(self.left + fraction * self.width, _PRECISION)

    def y(self, value: float) -> float:
        """Vertical pixel of ``value``."""
        fraction = self._fraction(value, self.y_min, self.y_max, self.y_axis.log)
        return round(self.top + self.height - fraction * self.height, _PRECISION)

    def open(self, title: str) -> list[str]:
        """The ``<svg>`` start tag, title, frame, grid, ticks and axis titles."""
        bottom = self.top + self.height
        right = self.left + self.width
        attributes = (
            f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'role="img" class="chart" '
            f'data-x-min="{self.x_min!r}" data-x-max="{self.x_max!r}" '
            f'data-y-min="{self.y_min!r}" data-y-max="{self.y_max!r}" '
            f'data-x-scale="{"log" if self.x_axis.log else "linear"}" '
            f'data-y-scale="{"log" if self.y_axis.log else "linear"}" '
            f'data-plot="{self.left} {self.top} {self.width} {self.height}"'
        )
        parts = [f"<svg {attributes}>", f"<title>{escape(title)}</title>"]
        x_label = self.x_axis.labels or format_number
        y_label = self.y_axis.labels or format_number
        for tick in self.y_ticks:
            y = self.y(tick)
            parts.append(f'<line class="grid" x1="{self.left}" y1="{y}" x2="{right}" y2="{y}"/>')
            parts.append(
                f'<text class="tick" x="{self.left - 6}" y="{y}" text-anchor="end" '
                f'dominant-baseline="middle">{escape(y_label(tick))}</text>'
            )
        for tick in self.x_ticks:
            x = self.x(tick)
            parts.append(f'<line class="grid" x1="{x}" y1="{self.top}" x2="{x}" y2="{bottom}"/>')
            parts.append(
                f'<text class="tick" x="{x}" y="{bottom + 16}" text-anchor="middle">'
                f"{escape(x_label(tick))}</text>"
            )
        parts.append(
            f'<rect class="frame" x="{self.left}" y="{self.top}" '
            f'width="{self.width}" height="{self.height}"/>'
        )
        parts.append(
            f'<text class="axis-title" x="{self.left + self.width / 2}" y="{HEIGHT - 6}" '
            f'text-anchor="middle">{escape(self.x_axis.title)}</text>'
        )
        middle = self.top + self.height / 2
        parts.append(
            f'<text class="axis-title" x="14" y="{middle}" text-anchor="middle" '
            f'transform="rotate(-90 14 {middle})">{escape(self.y_axis.title)}</text>'
        )
        return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    x = LEFT
    for number, name in enumerate(names, 1):
        parts.append(
            f'<rect class="swatch series-{number}" x="{x}" y="8" width="14" height="4"/>'
            f'<text class="legend" x="{x + 18}" y="12" dominant-baseline="middle">'
            f"{escape(name)}</text>"
        )
        x += 26 + 8 * len(name)
    return parts


def line_chart(
    title: str,
    x: Axis,
    y: Axis,
    lines: Sequence[Line],
    *,
    x_domain: tuple[float, float] | None = None,
) -> str:
    """Draw ``lines`` over shared axes; each is a ``<polyline>`` per unbroken run.

    Each polyline carries ``data-name`` (the line's name) and class ``series-N``; a run
    of one point is a ``<circle>``. ``x_domain`` widens the x axis to cover that range.
    """
    xs = [px for line in lines for px, _ in line.points] + list(x_domain or ())
    ys = [py for line in lines for _, py in line.points if py is not None]
    frame = _Frame(x, y, xs, ys)
    parts = frame.open(title)
    for number, line in enumerate(lines, 1):
        runs: list[list[str]] = [[]]
        for px, py in line.points:
            if py is None:
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append(f"{frame.x(px)},{frame.y(py)}")
        for run in runs:
            if not run:
                continue
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(
                    f'<circle class="dot series-{number}" data-name="{escape(line.name)}" '
                    f'cx="{cx}" cy="{cy}" r="2.5"/>'
                )
                continue
            parts.append(
                f'<polyline class="line series-{number}" data-name="{escape(line.name)}" '
                f'points="{" ".join(run)}"/>'
            )
    if len(lines) > 1:
        parts.extend(_legend([line.name for line in lines]))
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(title: str, x: Axis, y: Axis, bars: Sequence[tuple[float, float, float]]) -> str:
    """Draw bars ``(x_low, x_high, height)``; each ``<rect class="bar">`` has ``data-value``."""
    xs = [v for low, high, _ in bars for v in (low, high)]
    frame = _Frame(x, y, xs, [height for _, _, height in bars])
    parts = frame.open(title)
    base = frame.y(frame.y_min)
    for low, high, height in bars:
        left, right = frame.x(low), frame.x(high)
        top = frame.y(height)
        width = max(1.0, round(right - left - 1, _PRECISION))
        parts.append(
            f'<rect class="bar" data-value="{height!r}" x="{left}" y="{top}" '
            f'width="{width}" height="{round(base - top, _PRECISION)}"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
