"""The log-bucketed latency histogram: bucket bounds, percentile error, exact moments."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from wscli.histogram import Histogram, _bounds, _index


def sample(n: int = 20_000, seed: int = 1) -> list[int]:
    """Latency-like values in nanoseconds: log-normal around 60 µs, with a long tail."""
    rng = random.Random(seed)
    return [int(rng.lognormvariate(11, 1.2)) for _ in range(n)]


def filled(values: list[int]) -> Histogram:
    histogram = Histogram()
    for value in values:
        histogram.record_ns(value)
    return histogram


@pytest.mark.parametrize(
    "value",
    [0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 65_535, 10**6, 10**9, 3_600 * 10**9, 2**62],
)
def test_bucket_holds_its_value(value: int) -> None:
    low, high = _bounds(_index(value))
    assert low <= value <= high


def test_buckets_are_contiguous_and_narrow() -> None:
    previous_high = -1
    for index in range(3000):
        low, high = _bounds(index)
        assert low == previous_high + 1
        if low >= 128:
            assert (high - low + 1) / low <= 1 / 64
        previous_high = high


@pytest.mark.parametrize("percent", [1, 25, 50, 90, 99, 99.9])
def test_percentiles_within_one_percent(percent: float) -> None:
    values = sample()
    histogram = filled(values)
    exact = sorted(values)[math.ceil(len(values) * percent / 100) - 1]
    assert histogram.percentile_ns(percent) == pytest.approx(exact, rel=0.01)


def test_min_max_mean_and_mdev_are_exact() -> None:
    values = sample(5000)
    histogram = filled(values)
    assert histogram.count == len(histogram) == 5000
    assert histogram.min_ns == min(values)
    assert histogram.max_ns == max(values)
    assert histogram.mean == pytest.approx(statistics.fmean(values) / 1e9, rel=1e-9)
    assert histogram.mdev == pytest.approx(statistics.pstdev(values) / 1e9, rel=1e-6)
    assert histogram.percentile(0) == histogram.min
    assert histogram.percentile(100) == histogram.max


def test_percentiles_stay_between_min_and_max() -> None:
    histogram = filled([1000, 1001, 1002])
    for percent in (0.1, 50, 99.99):
        assert 1000 <= histogram.percentile_ns(percent) <= 1002


def test_empty_histogram_reads_zero() -> None:
    histogram = Histogram()
    assert histogram.percentile(50) == 0
    assert (histogram.min, histogram.max, histogram.mean, histogram.mdev) == (0, 0, 0, 0)
    assert histogram.bars() == []
    assert "empty" in repr(histogram)


def test_seconds_and_negative_values() -> None:
    histogram = Histogram()
    histogram.record(0.000_250)
    histogram.record_ns(-5)  # clocks do not go backwards, but a bad caller must not crash us
    assert histogram.count == 2
    assert histogram.min_ns == 0
    assert histogram.max == pytest.approx(0.000_250)


def test_merge_equals_recording_everything() -> None:
    first, second = sample(3000, seed=2), sample(3000, seed=3)
    merged = filled(first)
    merged.merge(filled(second))
    merged.merge(Histogram())
    together = filled(first + second)
    assert merged.counts == together.counts
    assert (merged.count, merged.min_ns, merged.max_ns, merged.sum_ns) == (
        together.count,
        together.min_ns,
        together.max_ns,
        together.sum_ns,
    )


def test_dict_round_trip() -> None:
    histogram = filled(sample(1000))
    copy = Histogram.from_dict(histogram.to_dict())
    assert copy.counts == histogram.counts
    assert copy.percentile(99) == histogram.percentile(99)
    assert copy.mdev == pytest.approx(histogram.mdev)


def test_since_keeps_only_new_values() -> None:
    histogram = filled([10_000] * 100)
    before = histogram.copy()
    for _ in range(50):
        histogram.record_ns(5_000_000)
    recent = histogram.since(before)
    assert recent.count == 50
    assert recent.percentile_ns(50) == pytest.approx(5_000_000, rel=0.01)
    assert before.count == 100  # the copy did not move


def test_bars_cover_every_value_in_order() -> None:
    histogram = filled(sample(4000))
    bars = histogram.bars(8)
    assert 1 <= len(bars) <= 8
    assert sum(count for _, _, count in bars) == histogram.count
    assert bars[0][0] == histogram.min and bars[-1][1] == histogram.max
    for (low, high, _), (next_low, _, _) in zip(bars, bars[1:], strict=False):
        assert low <= high == pytest.approx(next_low)


def test_bars_of_one_value() -> None:
    bars = filled([42_000] * 3).bars(10)
    assert bars == [(42e-6, 42e-6, 3)]
