"""``wscli bench [URL]``: load-test an echo server and check every echo.

The work happens in :mod:`wscli.loadgen` (one ``selectors`` loop per worker process,
the sans-I/O protocol, a log-bucketed histogram); this module turns options into a
:class:`~wscli.loadgen.LoadConfig`, shows a live line while it runs, and renders the
result: a table, a small latency histogram and the errors grouped by reason.

Without a URL it starts wscli's own echo server in a child process (its own
interpreter, so it does not share a GIL with the load generator) and benchmarks that,
so ``wscli bench`` alone shows what the stack does on this machine.
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..core.exceptions import InvalidURI
from ..core.redact import redact_userinfo
from ..core.uri import parse_uri
from ..exitcodes import ExitStatus
from ..histogram import Histogram
from ..loadgen import (
    EchoServerProcess,
    ErrorKind,
    LoadConfig,
    Stats,
    raise_nofile_limit,
    run_load,
)
from ..output import Printer, escape_control
from ..params import (
    DURATION,
    format_size,
    header_option,
    no_color_option,
    parse_size,
    warn_no_check,
)
from ..report import ReportData, render_report
from ..report.live import LiveView

__all__ = ["command", "parse_size_range", "result_dict"]

#: Messages per connection when neither -n nor -d is given.
DEFAULT_MESSAGES = 10_000
#: Open loop: the most messages one connection may have in flight without --pipeline.
OPEN_LOOP_PIPELINE = 1024
PERCENTILES = (50, 90, 99, 99.9)


class SizeRange(click.ParamType[Any]):
    """A payload size (``32``, ``1KiB``) or a range to draw from (``32-4KiB``, ``1k..64k``)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_size_range(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def parse_size_range(text: str) -> tuple[int, int]:
    """Parse ``32``, ``1KiB`` or a range ``32-1024``, ``1k..64k`` into ``(low, high)`` bytes.

    Raises:
        ValueError: not a size, or a backwards range.
    """
    for separator in ("..", "-"):
        if separator in text:
            low_text, _, high_text = text.partition(separator)
            low, high = parse_size(low_text), parse_size(high_text)
            assert low is not None and high is not None
            if low > high:
                raise ValueError(f"size range {text!r} is backwards")
            return low, high
    size = parse_size(text)
    assert size is not None
    return size, size


#: The end of ``--help``: exit statuses, then examples (as every command's).
EPILOG = """Exit status: 0 every echo verified, 1 errors (mismatched or lost echoes, failed
connections), 2 bad options (a --report file that cannot be written fails before the
run), 3 no connection could be opened, 4 every handshake was refused, 130 interrupted
(results so far are shown, and written to --report).

\b
Examples:
  wscli bench                                  # embedded server, 1 connection
  wscli bench -c 8 --pipeline 16 -s 1KiB -d 10s ws://127.0.0.1:8080
  wscli bench --rate 5000 -c 50 -d 30s --json ws://127.0.0.1:8080
  wscli bench -c 20 -d 30s --report run.html ws://127.0.0.1:8080
"""


@click.command(epilog=EPILOG)
@click.argument("url", required=False)
@click.option(
    "-c",
    "--connections",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Connections to open.",
)
@click.option(
    "-n",
    "--messages",
    type=click.IntRange(min=0),
    help=f"Messages per connection [default: {DEFAULT_MESSAGES:,} without -d].",
)
@click.option("-d", "--duration", type=DURATION, help="Send for this long instead of -n.")
@click.option(
    "-s",
    "--size",
    type=SizeRange(),
    default="32",
    show_default=True,
    help="Payload bytes: fixed (1KiB) or drawn per message from a range (32-4KiB).",
)
@click.option(
    "--pipeline",
    type=click.IntRange(min=1),
    metavar="D",
    help="Messages in flight per connection; 1 measures pure latency "
    "[default: 1; with --rate, a cap of 1024].",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    metavar="R",
    help="Open loop: R messages per second over all connections, latency "
    "counted from when each was due (no coordinated omission).",
)
@click.option("--binary", is_flag=True, help="Send binary messages instead of text.")
@click.option("--compression", is_flag=True, help="Offer permessage-deflate.")
@click.option(
    "--ramp",
    type=click.FloatRange(min=0, min_open=True),
    metavar="PER_SECOND",
    help="Open connections at this rate instead of all at once.",
)
@click.option(
    "-W",
    "--timeout",
    type=DURATION,
    default="10s",
    show_default=True,
    help="Time allowed for each handshake and each echo.",
)
@click.option(
    "--hold",
    type=DURATION,
    default="0",
    help="Keep each connection open, idle, "
    "this long after its messages (to measure idle connections).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Load-generator processes (for machines with cores to spare).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for payload contents and sizes."
)
@click.option(
    "--raw",
    is_flag=True,
    hidden=True,
    help="No handshake; expect the masked frames back byte for byte (raw TCP echo).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE.html",
    help="Also write a self-contained HTML report with charts (throughput, latency "
    "over time, latency distribution, errors) to this file.",
)
@header_option
@click.option(
    "--ca",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust the certificates in this PEM file (wss://).",
)
@click.option("--no-check", is_flag=True, help="Do not verify the server certificate.")
@click.option(
    "--locustfile",
    is_flag=True,
    help="Print a Locust locustfile that runs this load (many machines) and exit.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write the result as one JSON object to stdout (with the per-second series), for jq.",
)
@no_color_option
def command(
    url: str | None,
    connections: int,
    messages: int | None,
    duration: float | None,
    size: tuple[int, int],
    pipeline: int | None,
    rate: float | None,
    binary: bool,
    compression: bool,
    ramp: float | None,
    timeout: float,
    hold: float,
    workers: int,
    seed: int,
    raw: bool,
    headers: tuple[tuple[str, str], ...],
    ca: str | None,
    no_check: bool,
    locustfile: bool,
    as_json: bool,
    no_color: bool,
    report_path: str | None,
) -> int:
    """Load-test the echo server at URL; without URL, an embedded wscli echo server.

    Each connection sends messages and checks that each echo is exactly what it sent.
    Closed loop by default (--pipeline messages in flight); --rate makes it open loop.
    The result: connections, handshake latency, messages and bytes per second, latency
    percentiles from a log-bucketed histogram, errors grouped by reason.
    """
    if messages is not None and duration is not None:
        raise click.UsageError("give -n/--messages or -d/--duration, not both")
    if url is not None:
        try:
            parse_uri(url)
        except InvalidURI as exc:
            raise click.BadParameter(str(exc), param_hint="URL") from exc
    if duration is None and messages is None:
        messages = DEFAULT_MESSAGES
    if pipeline is None:
        pipeline = OPEN_LOOP_PIPELINE if rate is not None else 1
    printer = Printer.from_options(interactive=False, as_json=as_json, no_color=no_color)
    config = LoadConfig(
        url=url or "",
        connections=connections,
        messages=messages,
        duration=duration,
        size_min=size[0],
        size_max=size[1],
        pipeline=pipeline,
        rate=rate,
        binary=binary,
        compression=compression,
        ramp=ramp,
        timeout=timeout,
        hold=hold,
        raw=raw,
        # A process without a connection would have nothing (and no rate) to run.
        workers=min(workers, connections),
        headers=list(headers),
        seed=seed,
    )
    if locustfile:
        given = {"--ca": ca is not None, "--no-check": no_check, "--hold": hold > 0}
        given |= {
            "--workers (run Locust workers instead)": workers > 1,
            "--report": report_path is not None,
        }
        dropped = [name for name, value in given.items() if value]
        return _print_locustfile(config, raw=raw, dropped=dropped)
    if url is not None and parse_uri(url).secure:
        from ..core.sync.tls import client_ssl_context

        try:
            config.ssl_context = client_ssl_context(ca=ca, reject_unauthorized=not no_check)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--ca") from exc
        if no_check:
            warn_no_check()
    if connections > 500:
        raise_nofile_limit()
    report_file = None
    if report_path is not None:
        # Opened before the run, so a path that cannot be written fails in a second,
        # not after a thirty-second run.
        try:
            report_file = open(report_path, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise click.BadParameter(
                f"cannot write {report_path}: {reason}", param_hint="--report"
            ) from None
    try:
        stats = _run_with_server(config, printer, as_json)
        embedded = not url
        status = _status(stats)
        try:
            _report(config, stats, printer, embedded=embedded)
            printer.flush()
        except OSError as exc:  # the table is written straight to the console
            printer.error(f"cannot write to stdout: {exc.strerror or exc}")
            status = status or ExitStatus.ERROR
        else:
            if printer.output_error is not None:  # --json goes through the output thread
                error = printer.output_error
                printer.error(f"cannot write to stdout: {error.strerror or error}")
                status = status or ExitStatus.ERROR
        if report_file is not None:
            try:
                report_file.write(render_report(_report_data(config, stats, embedded)))
                report_file.close()
            except OSError as exc:
                printer.error(f"cannot write {report_path}: {exc.strerror or exc}")
                return status or ExitStatus.ERROR
            if not as_json:
                printer.notice(f"report written to {report_path}")
    finally:
        if report_file is not None:
            report_file.close()
    return status


def _run_with_server(config: LoadConfig, printer: Printer, as_json: bool) -> Stats:
    """Run the load; without a URL, against an embedded echo server started for it."""
    server: EchoServerProcess | None = None
    if not config.url:
        server = EchoServerProcess(compression=config.compression)
        config.url = server.url
        if not as_json:
            printer.notice(f"embedded wscli echo server on {server.url} (pid {server.pid})")
    try:
        return _run(config, printer)
    finally:
        if server is not None:
            server.close()


def _print_locustfile(config: LoadConfig, *, raw: bool, dropped: list[str]) -> int:
    """Write the locustfile for ``config`` to stdout (``--locustfile``); see docs/DISTRIBUTED.md."""
    from ..loadgen.locustfile import render_locustfile

    if raw:
        raise click.UsageError("--raw has no Locust equivalent (it skips the handshake)")
    if dropped:
        click.echo(f"wscli: not carried into the locustfile: {', '.join(dropped)}", err=True)
    text = render_locustfile(config, command=f"wscli bench ({_describe_load(config)})")
    click.echo(text, nl=False)
    return 0


def _run(config: LoadConfig, printer: Printer) -> Stats:
    console = printer.err_console
    if printer.as_json or not console.is_terminal:
        return run_load(config)
    display = LiveView(config)
    with Live(
        display.render(Stats(config.connections)),
        console=console,
        auto_refresh=False,
        transient=True,
    ) as live:

        def tick(stats: Stats) -> None:
            if display.due():
                live.update(display.render(stats), refresh=True)

        return run_load(config, tick)


def _status(stats: Stats) -> int:
    if stats.interrupted:
        return ExitStatus.INTERRUPTED
    if stats.opened == 0 and stats.failed:
        if set(stats.error_kinds) == {ErrorKind.REFUSED}:
            return ExitStatus.HANDSHAKE_REFUSED
        return ExitStatus.CANNOT_CONNECT
    if stats.errors or stats.lost or stats.failed:
        return ExitStatus.ERROR
    return ExitStatus.OK


# -- the result --------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.3f} ms"


def result_dict(config: LoadConfig, stats: Stats, *, embedded: bool) -> dict[str, Any]:
    """The result as one JSON-friendly object (``--json``; the benchmark suite reads it)."""
    latency = stats.latency
    handshake = stats.handshake
    return {
        "url": redact_userinfo(config.url),
        "server": "embedded" if embedded else "external",
        "config": {
            "connections": config.connections,
            "messages": config.messages,
            "duration": config.duration,
            "size": [config.size_min, config.size_max],
            "pipeline": config.pipeline,
            "rate": config.rate,
            "binary": config.binary,
            "compression": config.compression,
            "extensions": stats.extensions or None,
            "workers": config.workers,
        },
        "connections": {
            "opened": stats.opened,
            "failed": stats.failed,
            "closed_cleanly": stats.closed,
            "handshake_ms": _latency_dict(handshake),
        },
        "messages": {
            "sent": stats.sent,
            "verified": stats.received,
            "lost": stats.lost,
            "bytes_sent": stats.bytes_sent,
            "bytes_verified": stats.bytes_received,
            "seconds": round(stats.elapsed, 6),
            "per_second": round(stats.messages_per_second, 1),
            "bytes_per_second": round(stats.bytes_per_second, 1),
        },
        "latency_ms": _latency_dict(latency),
        "histogram": latency.to_dict()["buckets"],
        "errors": dict(stats.errors),
        "error_kinds": {kind.value: count for kind, count in stats.error_kinds.items()},
        "interrupted": stats.interrupted,
        "series": [second.summary() for second in stats.series.rows()],
    }


def _latency_dict(histogram: Histogram) -> dict[str, Any]:
    if not histogram.count:
        return {"count": 0}
    data: dict[str, Any] = {
        "count": histogram.count,
        "min": round(histogram.min * 1e3, 4),
        "mean": round(histogram.mean * 1e3, 4),
    }
    for percent in PERCENTILES:
        data[f"p{percent:g}"] = round(histogram.percentile(percent) * 1e3, 4)
    data["max"] = round(histogram.max * 1e3, 4)
    return data


def _describe_load(config: LoadConfig) -> str:
    low, high = config.size_min, config.size_max
    size = format_size(low) if low == high else f"{format_size(low)}–{format_size(high)}"
    kind = "binary" if config.binary else "text"
    amount = (
        f"for {config.duration:g} s"
        if config.duration is not None
        else f"× {config.messages:,} message{'s' if config.messages != 1 else ''}"
    )
    plural = "s" if config.connections != 1 else ""
    parts = [f"{config.connections:,} connection{plural} {amount}", f"{size} {kind}"]
    if config.rate is not None:
        parts.append(f"open loop at {config.rate:,.0f} msg/s (≤{config.pipeline} in flight)")
    else:
        parts.append(f"pipeline {config.pipeline}")
    if config.compression:
        parts.append("permessage-deflate offered")
    return ", ".join(parts)


def _report(config: LoadConfig, stats: Stats, printer: Printer, *, embedded: bool) -> None:
    if printer.as_json:
        printer.event("bench", **result_dict(config, stats, embedded=embedded))
        return
    console = printer.console
    title = Text(f"wscli bench {redact_userinfo(config.url)}", style="bold")
    if embedded:
        title.append(" (embedded wscli echo server)", style="dim")
    table = Table(show_header=False, box=None, padding=(0, 2), title=None)
    table.add_column(style="cyan", no_wrap=True)
    table.add_column()
    table.add_row("load", _describe_load(config))
    handshake = stats.handshake
    row = f"{stats.opened:,} opened, {stats.failed:,} failed, {stats.closed:,} closed cleanly"
    table.add_row("connections", row)
    if handshake.count:
        table.add_row(
            "handshake",
            f"p50 {_ms(handshake.percentile(50))}  p99 {_ms(handshake.percentile(99))}  "
            f"max {_ms(handshake.max)}",
        )
    table.add_row(
        "messages",
        f"{stats.sent:,} sent, {stats.received:,} echoed and verified, {stats.lost:,} lost"
        f" in {stats.elapsed:.2f} s",
    )
    table.add_row(
        "throughput",
        Text(f"{stats.messages_per_second:,.0f} msg/s", style="bold").append(
            f"  {stats.bytes_per_second / 1e6:,.2f} MB/s of echoed payload", style=""
        ),
    )
    latency = stats.latency
    if latency.count:
        parts = [f"p{p:g} {_ms(latency.percentile(p))}" for p in PERCENTILES]
        table.add_row("latency", Text("  ".join(parts), style="bold"))
        table.add_row(
            "",
            f"min {_ms(latency.min)}  mean {_ms(latency.mean)}  "
            f"mdev {_ms(latency.mdev)}  max {_ms(latency.max)}",
        )
    if stats.extensions:
        table.add_row("extensions", escape_control(stats.extensions))
    if stats.errors:
        errors = Text()
        for index, (reason, count) in enumerate(stats.errors.most_common()):
            if index:
                errors.append("\n")
            errors.append(f"{count:,} × ", style="bold red")
            errors.append(escape_control(reason, keep_newlines=False))
        table.add_row("errors", errors)
    else:
        table.add_row("errors", Text("none", style="green"))
    if stats.interrupted:
        table.add_row("", Text("interrupted: results so far", style="yellow"))
    parts_to_print: list[Any] = [title, table]
    if latency.count > 1:
        parts_to_print.append(_histogram(latency))
    console.print(Group(*parts_to_print))


def _report_data(config: LoadConfig, stats: Stats, embedded: bool) -> ReportData:
    """What ``--report`` shows: the terminal summary's rows, the series, the histogram."""
    result = result_dict(config, stats, embedded=embedded)
    parameters = [
        (
            "URL",
            redact_userinfo(config.url) + (" (embedded wscli echo server)" if embedded else ""),
        ),
        ("load", _describe_load(config)),
        ("timeout", f"{config.timeout:g} s"),
        ("workers", str(config.workers)),
        ("seed", str(config.seed)),
    ]
    parameters += [(f"header {name}", value) for name, value in config.headers]
    if stats.extensions:
        parameters.append(("extensions", stats.extensions))
    latency = stats.latency
    summary = [
        (
            "connections",
            f"{stats.opened:,} opened, {stats.failed:,} failed, {stats.closed:,} closed cleanly",
        ),
        (
            "messages",
            f"{stats.sent:,} sent, {stats.received:,} verified, {stats.lost:,} lost"
            f" in {stats.elapsed:.2f} s",
        ),
        (
            "throughput",
            f"{stats.messages_per_second:,.0f} msg/s, "
            f"{stats.bytes_per_second / 1e6:,.2f} MB/s of echoed payload",
        ),
    ]
    if stats.handshake.count:
        handshake = stats.handshake
        summary.append(
            (
                "handshake",
                f"p50 {_ms(handshake.percentile(50))}, p99 {_ms(handshake.percentile(99))}, "
                f"max {_ms(handshake.max)}",
            )
        )
    if latency.count:
        summary.append(
            ("latency", ", ".join(f"p{p:g} {_ms(latency.percentile(p))}" for p in PERCENTILES))
        )
        summary.append(
            (
                "",
                f"min {_ms(latency.min)}, mean {_ms(latency.mean)}, "
                f"mdev {_ms(latency.mdev)}, max {_ms(latency.max)}",
            )
        )
    summary.append(("errors", f"{stats.error_count:,}"))
    if stats.interrupted:
        summary.append(("", "interrupted: results so far"))
    return ReportData(
        title=f"wscli bench {redact_userinfo(config.url)}",
        parameters=parameters,
        summary=summary,
        series=result["series"],
        latency=latency,
        errors=stats.errors.most_common(),
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )


def _histogram(latency: Histogram, rows: int = 8, width: int = 40) -> Table:
    bars = latency.bars(rows)
    top = max(count for _, _, count in bars) or 1
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="dim", justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    for low, high, count in bars:
        length = count / top * width
        bar = "█" * int(length)
        if count and not bar:
            bar = "▏"
        table.add_row(f"{_ms(low)} – {_ms(high)}", Text(bar, style="green"), f"{count:,}")
    return table
