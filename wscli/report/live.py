"""The live view of ``wscli bench`` on a terminal: one line, redrawn four times a second.

``▕████░░░░░░▏ 40%  148,384 msg/s  p50/p99 0.189/0.309 ms  conns 4/4  errors 0``:
progress against ``-d`` or ``-n``, the last second's echo rate and latency percentiles,
connections open out of those asked for (and failed ones, when any), errors so far.

It must not cost the load generator throughput. The worker calls it from its own tick
(on the thread that runs the load, ten times a second), and it draws at most four times
a second from copies it keeps: counters and a copy of the latency histogram per draw.
"The last second" is the difference between now and the copy of about a second ago,
so the view works the same for one worker or for the merged stats of several
processes. A draw costs about 0.3 ms (0.1 % of a core at four a second).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from rich.text import Text

from ..histogram import Histogram
from ..loadgen import LoadConfig, Stats

__all__ = ["LiveView", "format_ms"]

#: Characters of the progress bar.
BAR_WIDTH = 10


def format_ms(seconds: float) -> str:
    """Milliseconds with as many decimals as a value of that size deserves."""
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.3f}"


class LiveView:
    """Renders the live line from the stats the load generator reports; see the module.

    Args:
        config: the load (for progress: its duration or message count).
        clock: seconds, monotonic (tests pass their own).
    """

    #: Seconds between redraws.
    INTERVAL = 0.25

    def __init__(self, config: LoadConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.started = clock()
        self._last_render = -self.INTERVAL
        #: (time, echoes, latency copy) of recent draws, oldest first.
        self._marks: collections.deque[tuple[float, int, Histogram]] = collections.deque()
        self._recent = (0.0, 0.0, 0.0)

    def due(self) -> bool:
        """Whether it is time to draw again (at most four times a second)."""
        now = self._clock()
        if now - self._last_render < self.INTERVAL:
            return False
        self._last_render = now
        return True

    def progress(self, stats: Stats) -> float:
        """How far the run is, from 0 to 1 (0 when it has no end set)."""
        config = self.config
        if config.duration is not None:
            return min(1.0, max(0.0, self._clock() - self.started) / config.duration)
        if config.messages:
            return min(1.0, stats.received / max(1, config.messages * config.connections))
        return 0.0

    def render(self, stats: Stats) -> Text:
        """Return the line for ``stats`` (and remember them for the next "last second")."""
        now = self._clock()
        marks = self._marks
        while len(marks) > 1 and now - marks[1][0] >= 1.0:
            marks.popleft()  # keep the newest mark at least a second old as the base
        if marks and now > marks[0][0]:
            then, received, latency = marks[0]
            recent = stats.latency.since(latency)
            self._recent = (
                (stats.received - received) / (now - then),
                recent.percentile(50),
                recent.percentile(99),
            )
        marks.append((now, stats.received, stats.latency.copy()))
        rate, p50, p99 = self._recent
        fraction = self.progress(stats)
        filled = int(fraction * BAR_WIDTH)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("█" * filled, style="green")
        line.append("░" * (BAR_WIDTH - filled), style="dim")
        line.append(f" {fraction * 100:3.0f}%  ")
        line.append(f"{rate:,.0f} msg/s", style="bold")
        line.append(f"  p50/p99 {format_ms(p50)}/{format_ms(p99)} ms")
        line.append(f"  conns {stats.opened - stats.ended:,}/{self.config.connections:,}")
        if stats.failed:
            line.append(f" ({stats.failed:,} failed)", style="bold red")
        errors = stats.error_count
        line.append(f"  errors {errors:,}", style="bold red" if errors else "dim")
        return line
