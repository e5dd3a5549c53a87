"""A log-bucketed latency histogram: fixed memory, about 1 % error, cheap to record into.

A benchmark that stores every latency in a list grows without bound and spends its time
sorting. This histogram keeps counts in buckets whose width grows with the value, in the
manner of HdrHistogram: values are integer nanoseconds; below 128 ns every value has its
own bucket, above that each power of two is split into 64 equal buckets. A bucket is
then at most 1/64 of its lower bound wide, so any percentile read back as the bucket's
midpoint is within 0.8 % of the true value, from nanoseconds to hours, in 4,096 counters.

Exact minimum, maximum, sum and sum of squares are kept beside the buckets, so ``min``,
``max``, ``mean`` and ``mdev`` (the standard deviation, as ping(8) prints it) are exact;
only percentiles are bucketed.

Histograms from several workers add up with :meth:`Histogram.merge`, and travel between
processes as plain dictionaries (:meth:`Histogram.to_dict`, :meth:`Histogram.from_dict`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["Histogram", "SUB_BUCKET_BITS"]

#: Values below ``2**SUB_BUCKET_BITS`` ns are exact; above, each power of two gets half
#: as many buckets (64), which bounds the relative bucket width by 1/64.
SUB_BUCKET_BITS = 7
_HALF = 1 << (SUB_BUCKET_BITS - 1)
_BUCKETS = 64 * _HALF  # covers every value up to 2**63 ns (292 years)


def _index(value: int) -> int:
    """Return the bucket of a value in nanoseconds (``value >= 0``)."""
    shift = value.bit_length() - SUB_BUCKET_BITS
    if shift <= 0:
        return value
    return (shift << (SUB_BUCKET_BITS - 1)) + (value >> shift)


def _bounds(index: int) -> tuple[int, int]:
    """Return the lowest and highest value, in nanoseconds, that land in bucket ``index``."""
    if index < (1 << SUB_BUCKET_BITS):
        return index, index
    shift = (index >> (SUB_BUCKET_BITS - 1)) - 1
    mantissa = index - (shift << (SUB_BUCKET_BITS - 1))
    return mantissa << shift, ((mantissa + 1) << shift) - 1


class Histogram:
    """Counts of latencies in log-spaced buckets; read percentiles back in seconds.

    Record with :meth:`record_ns` in the hot loop (integers from
    ``time.perf_counter_ns()``) or :meth:`record` (seconds, for convenience).
    """

    __slots__ = ("counts", "count", "min_ns", "max_ns", "sum_ns", "sum_sq")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        #: How many values were recorded.
        self.count = 0
        self.min_ns = 0
        self.max_ns = 0
        self.sum_ns = 0
        self.sum_sq = 0.0

    # -- recording ---------------------------------------------------------------------

    def record_ns(self, value: int) -> None:
        """Add one value in nanoseconds; negative values count as zero.

        The index computation is inlined: this runs once per message in ``wscli bench``.
        """
        if value < 0:
            value = 0
        shift = value.bit_length() - SUB_BUCKET_BITS
        if shift <= 0:
            self.counts[value] += 1
        else:
            self.counts[(shift << (SUB_BUCKET_BITS - 1)) + (value >> shift)] += 1
        if self.count == 0 or value < self.min_ns:
            self.min_ns = value
        if value > self.max_ns:
            self.max_ns = value
        self.count += 1
        self.sum_ns += value
        self.sum_sq += float(value) * value

    def record(self, seconds: float) -> None:
        """Add one value in seconds."""
        self.record_ns(round(seconds * 1e9))

    def record_many(self, values_ns: Iterable[int]) -> None:
        """Add several values in nanoseconds."""
        for value in values_ns:
            self.record_ns(value)

    def merge(self, other: Histogram) -> None:
        """Add every value of ``other`` to this histogram (workers, connections)."""
        if other.count == 0:
            return
        counts = self.counts
        for index, n in enumerate(other.counts):
            if n:
                counts[index] += n
        if self.count == 0 or other.min_ns < self.min_ns:
            self.min_ns = other.min_ns
        self.max_ns = max(self.max_ns, other.max_ns)
        self.count += other.count
        self.sum_ns += other.sum_ns
        self.sum_sq += other.sum_sq

    def copy(self) -> Histogram:
        """Return an independent copy (to compute a later :meth:`since`)."""
        twin = Histogram()
        twin.counts = list(self.counts)
        twin.count = self.count
        twin.min_ns = self.min_ns
        twin.max_ns = self.max_ns
        twin.sum_ns = self.sum_ns
        twin.sum_sq = self.sum_sq
        return twin

    def since(self, earlier: Histogram) -> Histogram:
        """Return the values recorded after ``earlier`` was copied from this histogram.

        Min and max of the difference are bucket bounds, not exact values: a live display
        needs the recent percentiles, not the recent extremes.
        """
        delta = Histogram()
        counts = delta.counts
        first = last = -1
        for index, (now, then) in enumerate(zip(self.counts, earlier.counts, strict=True)):
            n = now - then
            if n:
                counts[index] = n
                if first < 0:
                    first = index
                last = index
        delta.count = self.count - earlier.count
        delta.sum_ns = self.sum_ns - earlier.sum_ns
        delta.sum_sq = self.sum_sq - earlier.sum_sq
        if delta.count > 0:
            delta.min_ns = _bounds(first)[0]
            delta.max_ns = _bounds(last)[1]
        return delta

    # -- reading -----------------------------------------------------------------------

    def percentile_ns(self, percent: float) -> int:
        """Return the value below or at which ``percent`` % of the values lie, in ns.

        The answer is the midpoint of the bucket holding that rank, clamped to the exact
        minimum and maximum; 0 when the histogram is empty.
        """
        if self.count == 0:
            return 0
        if percent <= 0:
            return self.min_ns
        if percent >= 100:
            return self.max_ns
        rank = max(1, math.ceil(self.count * percent / 100.0))
        seen = 0
        for index, n in enumerate(self.counts):
            if n:
                seen += n
                if seen >= rank:
                    low, high = _bounds(index)
                    return min(max((low + high) // 2, self.min_ns), self.max_ns)
        return self.max_ns  # pragma: no cover - counts always add up to count

    def percentile(self, percent: float) -> float:
        """Like :meth:`percentile_ns`, in seconds."""
        return self.percentile_ns(percent) / 1e9

    def percentiles(self, percents: Iterable[float]) -> dict[float, float]:
        """Return ``{percent: seconds}`` for several percents in one pass."""
        return {p: self.percentile(p) for p in percents}

    @property
    def min(self) -> float:
        """The smallest value, in seconds (exact; 0 when empty)."""
        return self.min_ns / 1e9

    @property
    def max(self) -> float:
        """The largest value, in seconds (exact; 0 when empty)."""
        return self.max_ns / 1e9

    @property
    def mean(self) -> float:
        """The mean, in seconds (exact; 0 when empty)."""
        return self.sum_ns / self.count / 1e9 if self.count else 0.0

    @property
    def mdev(self) -> float:
        """The standard deviation in seconds, as ping(8) prints it (exact; 0 when empty)."""
        if self.count == 0:
            return 0.0
        mean = self.sum_ns / self.count
        variance = self.sum_sq / self.count - mean * mean
        return math.sqrt(max(0.0, variance)) / 1e9

    def bars(self, rows: int = 10) -> list[tuple[float, float, int]]:
        """Group the values into at most ``rows`` log-spaced ranges from min to max, for drawing.

        Returns:
            ``(low, high, count)`` triples in seconds, lowest range first.
        """
        if self.count == 0:
            return []
        low = max(self.min_ns, 1)
        high = max(self.max_ns, low)
        rows = max(1, min(rows, 1 + int(math.log(high / low) / math.log(1.05))))
        step = math.log(high / low) / rows if high > low else 1.0
        counts = [0] * rows
        for index, n in enumerate(self.counts):
            if n:
                bucket_low, bucket_high = _bounds(index)
                middle = min(max((bucket_low + bucket_high) / 2, low), high)
                counts[min(rows - 1, int(math.log(middle / low) / step))] += n
        edges = [low * math.exp(step * i) / 1e9 for i in range(rows + 1)]
        edges[0], edges[-1] = self.min_ns / 1e9, self.max_ns / 1e9
        return [(edges[i], edges[i + 1], counts[i]) for i in range(rows)]

    # -- transport ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON- and pickle-friendly form (sparse buckets)."""
        return {
            "count": self.count,
            "min_ns": self.min_ns,
            "max_ns": self.max_ns,
            "sum_ns": self.sum_ns,
            "sum_sq": self.sum_sq,
            "buckets": {i: n for i, n in enumerate(self.counts) if n},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        """Rebuild a histogram from :meth:`to_dict` output."""
        histogram = cls()
        for index, n in data["buckets"].items():
            histogram.counts[int(index)] = int(n)
        histogram.count = int(data["count"])
        histogram.min_ns = int(data["min_ns"])
        histogram.max_ns = int(data["max_ns"])
        histogram.sum_ns = int(data["sum_ns"])
        histogram.sum_sq = float(data["sum_sq"])
        return histogram

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        if not self.count:
            return "<Histogram empty>"
        return (
            f"<Histogram n={self.count} min={self.min * 1e3:.3f}ms "
            f"p50={self.percentile(50) * 1e3:.3f}ms max={self.max * 1e3:.3f}ms>"
        )
