"""Sparklines: a run of numbers drawn as one line of block characters (``▁▂▄█``).

A terminal summary has room for one line, not a chart; eight bar heights are enough to
show a trend, a spike or a gap at a glance. Missing values (a lost ping) are drawn as a
dot so that the gap shows where it happened.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["BARS", "GAP", "sparkline"]

#: Bar heights, lowest first.
BARS = "▁▂▃▄▅▆▇█"
#: Drawn for a missing value.
GAP = "·"


def sparkline(values: Sequence[float | None], width: int | None = None) -> str:
    """Return ``values`` as a line of bars scaled from their minimum to their maximum.

    Args:
        values: the numbers, oldest first; ``None`` for a missing one.
        width: draw only the last ``width`` values.

    Returns:
        One character per value; an empty string for no values.
    """
    if width is not None:
        values = values[-width:] if width > 0 else []
    present = [v for v in values if v is not None]
    if not present:
        return GAP * len(values)
    low, high = min(present), max(present)
    span = high - low
    top = len(BARS) - 1
    chars = []
    for value in values:
        if value is None:
            chars.append(GAP)
        elif span <= 0:
            chars.append(BARS[0])
        else:
            chars.append(BARS[round((value - low) / span * top)])
    return "".join(chars)
