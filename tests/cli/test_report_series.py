"""``wscli bench``'s per-second series: the seconds add up to the run's totals."""

from __future__ import annotations

from typing import Any

from wscli.histogram import Histogram
from wscli.loadgen import ErrorKind, Problem, Stats
from wscli.loadgen import series as series_module
from wscli.loadgen.series import Second, Series, SeriesRecorder
from wscli.report.page import ReportData, render_report, time_domain
from wscli.report.page import row_middle as _row_middle

from .test_bench import result_of, run, serving

SECOND = 1_000_000_000


def check_series_adds_up(data: dict[str, Any]) -> None:
    """Every counter of the series sums to its total, and seconds are numbered 0, 1, 2…"""
    series = data["series"]
    assert [row["t"] for row in series] == list(range(len(series)))
    messages = data["messages"]
    assert sum(row["messages"] for row in series) == messages["verified"]
    assert sum(row["bytes"] for row in series) == messages["bytes_verified"]
    assert sum(row["sent"] for row in series) == messages["sent"]
    assert sum(row["latency_ms"]["count"] for row in series) == data["latency_ms"]["count"]
    assert sum(row["errors"] for row in series) == sum(data["errors"].values())
    assert sum(row["opened"] for row in series) == data["connections"]["opened"]
    assert sum(row["failed"] for row in series) == data["connections"]["failed"]
    assert all(row["seconds"] == 1 for row in series[:-1]) and 0 < series[-1]["seconds"] <= 1
    for row in series:
        latency = row["latency_ms"]
        if latency["count"]:
            assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
            assert latency["max"] <= data["latency_ms"]["max"] * 1.02


def test_duration_run_has_a_row_per_second_that_adds_up() -> None:
    with serving() as url:
        result = run(url, "-c", "2", "-d", "2.2s", "--pipeline", "2", "--json")
    assert result.status == 0, result.stderr
    data = result_of(result)
    check_series_adds_up(data)
    assert len(data["series"]) >= 3  # seconds 0, 1 and the partial 2
    assert all(row["messages"] > 0 for row in data["series"][:2])
    assert data["series"][0]["opened"] == 2


def test_workers_series_merge_across_processes() -> None:
    with serving() as url:
        result = run(url, "-c", "3", "-d", "1.5s", "--workers", "2", "--json")
    assert result.status == 0, result.stderr
    data = result_of(result)
    check_series_adds_up(data)
    assert data["series"][0]["opened"] == 3  # two from one process, one from the other


def test_errors_are_counted_in_their_second() -> None:
    with serving(lambda n, data: data[:-1] if n == 3 else data) as url:
        result = run(url, "-n", "10", "--json")
    assert result.status == 1
    data = result_of(result)
    check_series_adds_up(data)
    assert sum(row["errors"] for row in data["series"]) == 1


def test_recorder_closes_a_second_at_each_boundary_and_folds_latencies() -> None:
    stats = Stats(1)
    open_now = [1]
    recorder = SeriesRecorder(0, lambda: open_now[0])
    stats.opened = 1
    for _ in range(10):
        stats.sent += 1
        stats.received += 1
        stats.bytes_received += 32
        stats.latency.record_ns(1_000_000)
    recorder.tick(stats, SECOND // 2)  # still second 0: nothing closed
    assert len(stats.series) == 0
    recorder.tick(stats, SECOND + 1)
    stats.latency.record_ns(5_000_000)
    stats.received += 1
    stats.add_error(Problem(ErrorKind.TIMEOUT, "no echo"))
    open_now[0] = 0
    recorder.tick(stats, 3 * SECOND + 5)  # a late tick: seconds 1 and 2 go to second 1
    recorder.finish(stats, 3 * SECOND + 250_000_000)
    rows = stats.series.rows()
    assert [row.index for row in rows] == [0, 1, 2, 3]
    assert [row.received for row in rows] == [10, 1, 0, 0]
    assert [row.errors for row in rows] == [0, 1, 0, 0]
    assert [row.connections for row in rows] == [1, 0, 0, 0]
    assert len(stats.series) == 4  # the skipped second 2 is a row of this worker's own
    assert [row.seconds for row in rows] == [1.0, 1.0, 1.0, 0.25]  # the run ended at 3.25 s
    assert rows[0].count == 10 and len(rows[0].buckets) == 1
    assert abs(rows[0].latency().percentile(50) - 0.001) < 0.001 * 0.07
    assert rows[1].max_ns == 5_000_000  # a new maximum of the run is exact


def test_series_merge_second_by_second_and_travel_as_dicts() -> None:
    one, two = Series(), Series()
    one.add(Second(0, received=3, count=3, buckets={200: 3}, max_ns=9, min_ns=5))
    two.add(Second(0, received=2, count=2, buckets={200: 1, 300: 1}, max_ns=12, min_ns=7))
    two.add(Second(2, received=1))
    one.merge(Series.from_list(two.to_list()))
    rows = one.rows()
    assert [row.received for row in rows] == [5, 0, 1]
    assert rows[0].buckets == {200: 4, 300: 1} and rows[0].count == 5
    assert (rows[0].min_ns, rows[0].max_ns) == (5, 12)


def test_a_seconds_histogram_is_small() -> None:
    stats = Stats(1)
    recorder = SeriesRecorder(0, lambda: 1)
    spread = Histogram()
    for value in range(1000, 100_000_000, 997):
        stats.latency.record_ns(value)
        spread.record_ns(value)
    recorder.finish(stats, 1)
    (row,) = stats.series.rows()
    full = sum(1 for n in spread.counts if n)
    assert row.count == spread.count
    assert len(row.buckets) * 6 < full  # folded eight to one


def _record_run(seconds: int, latency_ns: int = 1_000_000) -> Stats:
    """A worker's stats over ``seconds`` seconds: 10 echoes and one connection each second."""
    stats = Stats(1)
    recorder = SeriesRecorder(0, lambda: 1)
    for index in range(seconds):
        stats.opened += 1 if index == 0 else 0
        for _ in range(10):
            stats.sent += 1
            stats.received += 1
            stats.bytes_received += 32
            stats.latency.record_ns(latency_ns + index)
        recorder.tick(stats, (index + 1) * SECOND + 1)
    recorder.finish(stats, seconds * SECOND + SECOND // 2)
    return stats


def test_a_long_run_keeps_at_most_max_rows_by_widening_them(monkeypatch: Any) -> None:
    """Past MAX_ROWS seconds, pairs of rows merge: memory stays bounded, counts still add up."""
    monkeypatch.setattr(series_module, "MAX_ROWS", 8)
    stats = _record_run(40)
    assert len(stats.series) <= 8
    rows = [row.summary() for row in stats.series.rows()]
    span = rows[0]["span"]
    assert span == 8  # 41 seconds in at most 8 rows: 8 s each
    assert [row["t"] for row in rows] == list(range(0, 41, span))
    assert all(row["span"] == span for row in rows)
    assert sum(row["messages"] for row in rows) == stats.received == 400
    assert sum(row["sent"] for row in rows) == stats.sent
    assert sum(row["latency_ms"]["count"] for row in rows) == stats.latency.count
    # a full row covered its whole span; the last one the 0.5 s the run had left in it
    assert [row["seconds"] for row in rows] == [8.0] * 5 + [0.5]
    assert rows[0]["messages"] / rows[0]["seconds"] == 10  # a rate stays a rate
    assert all(row["connections"] == 1 for row in rows)


def test_workers_with_different_spans_merge_row_by_row(monkeypatch: Any) -> None:
    monkeypatch.setattr(series_module, "MAX_ROWS", 8)
    long, short = _record_run(40), _record_run(5)
    merged = Series.from_list(short.series.to_list())
    merged.merge(Series.from_list(long.series.to_list()))
    rows = [row.summary() for row in merged.rows()]
    assert len(rows) <= 8 and rows[0]["span"] == 8
    assert sum(row["messages"] for row in rows) == 450
    assert rows[0]["messages"] == 80 + 50 and rows[0]["connections"] == 2
    assert rows[0]["seconds"] == 8.0  # the same seconds, covered by two workers


def test_report_draws_wide_rows_at_their_place(monkeypatch: Any) -> None:
    monkeypatch.setattr(series_module, "MAX_ROWS", 4)
    stats = _record_run(10)
    rows = [row.summary() for row in stats.series.rows()]
    assert rows[0]["span"] == 4
    assert _row_middle(rows[1]) == 6.0  # the row of seconds 4 to 8
    assert time_domain(rows) == (0.0, 12.0)  # rows at 0, 4, 8: the axis ends at 12
    page = render_report(
        ReportData(
            title="t",
            parameters=[],
            summary=[],
            series=rows,
            latency=stats.latency,
            errors=[],
            generated="now",
        )
    )
    assert page.count("each 4 s of the run") == 4  # throughput, latency, errors, connections
    assert "each second" not in page
