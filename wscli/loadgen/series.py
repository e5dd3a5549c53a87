"""Per-second series of a load run: what happened when, in fixed memory per second.

A run's totals hide *when* things went wrong: a server stall, a GC pause, a reconnect
storm. So each worker closes a :class:`Second` at every whole second since the run's
epoch (at its first tick past the boundary, so a second's edges are exact to within a
tick, 0.1 s): the messages and bytes echoed, messages sent, errors, connections opened,
failed and open, and the latency of that second's echoes.

A second's latency is the difference of the run's histogram across the second
(:meth:`~wscli.histogram.Histogram.since`), folded to 8 buckets per power of two and kept
sparse: about 80 counters for a second whose latencies spread over ten powers of two
(measured: 5 KB per second of run, 18 MB for an hour), at most a few hundred, never a
stored latency per message. Percentiles read back from it are within about 6 %; the
run's totals keep the full histogram. Nothing
is added to the per-message path: the series is taken from counters the worker keeps
anyway, once a second.

A series keeps at most :data:`MAX_ROWS` rows (an hour of seconds, 18 to 30 MB), so a run
of a day does not grow without bound: past that, adjacent rows merge in pairs and every
row then spans 2 seconds (then 4, 8…; ``span``). Counts stay exact and still add up to the
totals; a row's ``seconds`` (the time it covered) turns them into rates.

Series from several workers (processes) add up second by second with
:meth:`Series.merge`; they share the epoch their parent chose, on CLOCK_MONOTONIC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from ..histogram import SUB_BUCKET_BITS, Histogram

__all__ = ["COUNTS", "MAX_ROWS", "PERCENTILES", "Second", "Series", "SeriesRecorder", "Totals"]

#: Buckets at or above this index are folded eight to one (values below 128 ns are exact).
_FOLD_FROM = 1 << SUB_BUCKET_BITS
#: The latency percentiles a second shows.
PERCENTILES = (50, 90, 99)
#: The counters a second keeps, named as in :class:`~wscli.loadgen.stats.Stats` where
#: they are differences of its totals.
COUNTS = ("sent", "received", "bytes_received", "errors", "opened", "failed")
#: Rows a series keeps at most before it widens them (section "A series keeps" above).
MAX_ROWS = 3600


def _fold(buckets: dict[int, int]) -> dict[int, int]:
    """Fold full-resolution buckets to eight per power of two (the middle one of each eight)."""
    folded: dict[int, int] = {}
    for index, n in buckets.items():
        if index >= _FOLD_FROM:
            index = (index & ~7) | 4
        folded[index] = folded.get(index, 0) + n
    return folded


@dataclass
class Second:
    """What happened in one second of a run (``index`` seconds after the epoch).

    On a long run, a row of ``span`` seconds from ``index`` on (see :data:`MAX_ROWS`).
    """

    index: int
    sent: int = 0
    #: Echoes received and verified, and their payload bytes.
    received: int = 0
    bytes_received: int = 0
    errors: int = 0
    #: Connections whose handshake completed, or failed, in this second.
    opened: int = 0
    failed: int = 0
    #: Connections open at the end of the second.
    connections: int = 0
    #: How much of the second the run covered: 1 but for the run's last second (and a
    #: run shorter than a second), so that counts divided by it are rates.
    seconds: float = 1.0
    #: The second's echo latencies: folded sparse buckets, and their exact count and sum.
    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    sum_ns: int = 0
    #: The slowest echo's bucket's upper bound (within 1.6 %).
    max_ns: int = 0
    min_ns: int = 0
    #: The seconds of the run this row spans (a power of two; 1 until a run is long).
    span: int = 1

    def latency(self) -> Histogram:
        """Return this second's latencies as a histogram (to read percentiles from)."""
        return Histogram.from_dict(
            {
                "count": self.count,
                "min_ns": self.min_ns,
                "max_ns": self.max_ns,
                "sum_ns": self.sum_ns,
                "sum_sq": 0.0,
                "buckets": self.buckets,
            }
        )

    def summary(self) -> dict[str, Any]:
        """Return the second as ``--json`` shows it: counts, and latencies in milliseconds."""
        data: dict[str, Any] = {
            "t": self.index,
            "messages": self.received,
            "bytes": self.bytes_received,
            "sent": self.sent,
            "errors": self.errors,
            "opened": self.opened,
            "failed": self.failed,
            "connections": self.connections,
            "seconds": round(self.seconds, 3),
            "span": self.span,
        }
        latency: dict[str, Any] = {"count": self.count}
        if self.count:
            histogram = self.latency()
            for percent in PERCENTILES:
                latency[f"p{percent}"] = round(histogram.percentile(percent) * 1e3, 4)
            latency["max"] = round(self.max_ns / 1e6, 4)
        data["latency_ms"] = latency
        return data

    def merge(self, other: Second) -> None:
        """Add another worker's same second (or row)."""
        self._add_counts(other)
        self.connections += other.connections
        self.seconds = max(self.seconds, other.seconds)

    def extend(self, later: Second) -> None:
        """Take in the same worker's next second (or row), to make this row span both."""
        self._add_counts(later)
        self.connections = later.connections  # open at the end of the row
        self.seconds += later.seconds

    def _add_counts(self, other: Second) -> None:
        for name in (*COUNTS, "sum_ns"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.count:
            self.min_ns = other.min_ns if not self.count else min(self.min_ns, other.min_ns)
            self.max_ns = max(self.max_ns, other.max_ns)
            for index, n in other.buckets.items():
                self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count

    def to_dict(self) -> dict[str, Any]:
        """Return a picklable form (worker processes)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Second:
        """Rebuild a second from :meth:`to_dict`."""
        values = dict(data)
        values["buckets"] = {int(k): int(v) for k, v in data["buckets"].items()}
        return cls(**values)


class Series:
    """The seconds of a run, by index; see the module docstring.

    One worker's seconds arrive in time order through :meth:`add`; other workers'
    series through :meth:`merge`.
    """

    def __init__(self) -> None:
        self.seconds: dict[int, Second] = {}
        #: Seconds per row: 1, doubled each time the rows pass :data:`MAX_ROWS`.
        self.span = 1

    def add(self, second: Second) -> None:
        """Add this worker's next second: a row of its own, or the end of a wider row."""
        start = second.index - second.index % self.span
        known = self.seconds.get(start)
        if known is None:
            second.index, second.span = start, self.span
            self.seconds[start] = second
        else:
            known.extend(second)
        if len(self.seconds) > MAX_ROWS:
            self._widen()

    def merge(self, other: Series) -> None:
        """Add another worker's series, row by row (the wider rows of the two win)."""
        theirs = Series.from_list(other.to_list())
        while self.span < theirs.span:
            self._widen()
        while theirs.span < self.span:
            theirs._widen()
        for row in theirs.seconds.values():
            known = self.seconds.get(row.index)
            if known is None:
                self.seconds[row.index] = row
            else:
                known.merge(row)
        while len(self.seconds) > MAX_ROWS:
            self._widen()

    def _widen(self) -> None:
        """Merge rows in pairs: every row then spans twice as many seconds."""
        self.span *= 2
        rows, self.seconds = self.seconds, {}
        for index in sorted(rows):
            row = rows[index]
            start = index - index % self.span
            known = self.seconds.get(start)
            if known is None:
                row.index, row.span = start, self.span
                self.seconds[start] = row
            else:
                known.extend(row)

    def rows(self) -> list[Second]:
        """Every second from 0 to the last one, in order; quiet seconds are empty rows.

        An empty row keeps the previous second's open connections: nothing opened or
        closed that a worker reported.
        """
        if not self.seconds:
            return []
        rows = []
        connections = 0
        for index in range(0, max(self.seconds) + 1, self.span):
            second = self.seconds.get(index)
            if second is None:
                second = Second(
                    index, connections=connections, seconds=float(self.span), span=self.span
                )
            connections = second.connections
            rows.append(second)
        return rows

    def to_list(self) -> list[dict[str, Any]]:
        """Return a picklable form (worker processes)."""
        return [second.to_dict() for second in self.seconds.values()]

    @classmethod
    def from_list(cls, data: list[dict[str, Any]]) -> Series:
        """Rebuild a series from :meth:`to_list`."""
        series = cls()
        for item in data:
            second = Second.from_dict(item)
            series.span = max(series.span, second.span)
            series.seconds[second.index] = second
        return series

    def __len__(self) -> int:
        return len(self.seconds)


class Totals(Protocol):
    """What a recorder reads: a worker's :class:`~wscli.loadgen.stats.Stats`."""

    sent: int
    received: int
    bytes_received: int
    opened: int
    failed: int
    latency: Histogram
    series: Series

    @property
    def error_count(self) -> int: ...


class SeriesRecorder:
    """Closes a worker's seconds from its stats; call :meth:`tick` often, :meth:`finish` once.

    Args:
        epoch_ns: ``time.perf_counter_ns()`` of second 0 (shared by all workers).
        open_connections: returns how many connections are open now.
    """

    def __init__(self, epoch_ns: int, open_connections: Callable[[], int]) -> None:
        self._epoch_ns = epoch_ns
        self._open_connections = open_connections
        self._index = 0
        self._marks = dict.fromkeys(COUNTS, 0)
        self._latency = Histogram()

    def tick(self, stats: Totals, now_ns: int) -> None:
        """Close the current second if ``now_ns`` is past its end (cheap otherwise)."""
        index = (now_ns - self._epoch_ns) // 1_000_000_000
        if index > self._index:
            # A tick late by whole seconds (a stalled loop): what happened went to the
            # second just closed; the seconds skipped still count this worker's
            # connections, so that merged rows do not show them closed.
            connections = self._close(stats, 1.0)
            for skipped in range(self._index + 1, index):
                stats.series.add(Second(skipped, connections=connections))
            self._index = index

    def finish(self, stats: Totals, now_ns: int) -> None:
        """Close the last (partial) second: the series then adds up to the totals."""
        covered = (now_ns - self._epoch_ns) / 1e9 - self._index
        self._close(stats, min(1.0, max(0.001, covered)))

    def _close(self, stats: Totals, covered: float) -> int:
        """Add the current second, which the run covered ``covered`` of; return its connections."""
        totals = {
            "sent": stats.sent,
            "received": stats.received,
            "bytes_received": stats.bytes_received,
            "errors": stats.error_count,
            "opened": stats.opened,
            "failed": stats.failed,
        }
        second = Second(self._index, connections=self._open_connections(), seconds=covered)
        for name, total in totals.items():
            setattr(second, name, total - self._marks[name])
        latency = stats.latency
        if latency.count > self._latency.count:
            delta = latency.since(self._latency)
            second.buckets = _fold(delta.to_dict()["buckets"])
            second.count = delta.count
            second.sum_ns = delta.sum_ns
            second.min_ns = delta.min_ns
            second.max_ns = delta.max_ns
            if latency.max_ns > self._latency.max_ns:
                second.max_ns = latency.max_ns  # a new maximum of the run: exact
            self._latency = latency.copy()
        self._marks = totals
        stats.series.add(second)
        return second.connections
