"""``wscli ping URL``: ping(8) for WebSockets: round trips, loss, and a latency summary.

Each ping is a WebSocket ping frame whose payload carries its sequence number, so its pong
is matched exactly even when replies overtake each other; ``--echo`` sends data
messages instead, for servers that answer pings without telling their application
(or behind proxies that swallow control frames), and checks each echo byte for byte.

Pings go out every ``--interval`` seconds whether or not earlier ones were answered, as
ping(8) does; a reply later than ``--timeout`` counts as lost. Latencies go into a
:class:`~wscli.histogram.Histogram`, so the summary's percentiles cost no memory per
ping on a run that lasts days.

Exit status follows ping(8), not the other commands: 0 when at least one reply came,
1 when none did (or, with both ``-c`` and ``-w``, fewer than ``-c`` by the deadline),
2 on an error (cannot connect, handshake refused, connection lost, bad options).
"""

from __future__ import annotations

import collections
import contextlib
import queue
import time
from dataclasses import dataclass, field
from typing import Any

import click

from ..core import ConnectionClosed, WebSocket
from ..core.frames import MAX_CONTROL_PAYLOAD
from ..escape import is_terminal
from ..exitcodes import describe_error
from ..histogram import Histogram
from ..output import Printer
from ..params import (
    DURATION,
    SIZE,
    client_kwargs,
    header_option,
    json_option,
    no_color_option,
    open_timeout_option,
    origin_option,
    proxy_option,
    subprotocols_callback,
    tls_options,
)
from ..sparkline import sparkline

__all__ = ["command", "PingStats", "ping_payload"]

#: Round trips the summary's sparkline shows (the latest ones).
SPARKLINE_WIDTH = 60

#: RFC 6455 §5.5: a control frame carries at most 125 bytes.
MAX_PING_SIZE = MAX_CONTROL_PAYLOAD

EXIT_REPLIED = 0
EXIT_NO_REPLY = 1
EXIT_ERROR = 2


def ping_payload(seq: int, size: int, text: bool = False) -> bytes:
    """Return ping ``seq``'s payload: its number, then filler, ``size`` bytes in all.

    The number comes first so that two pings never share a payload while ``size``
    allows (a pong answers the ping with the same payload, RFC 6455 §5.5.3).
    """
    head = f"wscli {seq} ".encode() if text else seq.to_bytes(8, "big")
    filler = b"abcdefghijklmnopqrstuvwxyz0123456789" * (size // 36 + 1)
    return (head + filler)[:size]


@dataclass
class PingStats:
    """Counts and latencies of one ping run; what the summary prints."""

    sent: int = 0
    received: int = 0
    latency: Histogram = field(default_factory=Histogram)
    started: float = field(default_factory=time.monotonic)
    #: The latest round trips in seconds, ``None`` for a ping lost to its timeout;
    #: bounded, so a run that lasts days keeps the same few numbers.
    recent: collections.deque[float | None] = field(
        default_factory=lambda: collections.deque(maxlen=SPARKLINE_WIDTH)
    )

    @property
    def lost(self) -> int:
        """Pings without a reply (within their timeout, or before the end)."""
        return self.sent - self.received

    @property
    def loss_percent(self) -> float:
        """Lost pings as a percentage of those sent."""
        return 100.0 * self.lost / self.sent if self.sent else 0.0

    def summary(self) -> dict[str, Any]:
        """The numbers of the summary, latencies in milliseconds."""
        h = self.latency
        data: dict[str, Any] = {
            "sent": self.sent,
            "received": self.received,
            "loss_percent": round(self.loss_percent, 3),
            "time_ms": round((time.monotonic() - self.started) * 1e3, 3),
        }
        if h.count:
            data.update(
                min_ms=_ms(h.min),
                avg_ms=_ms(h.mean),
                max_ms=_ms(h.max),
                mdev_ms=_ms(h.mdev),
                p50_ms=_ms(h.percentile(50)),
                p90_ms=_ms(h.percentile(90)),
                p99_ms=_ms(h.percentile(99)),
            )
        return data


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 4)


@click.command(
    epilog="""Exit status (as ping(8)): 0 at least one reply (with -c and -w: -c replies
before the deadline), 1 no reply, 2 error (cannot connect, refused, connection lost).

\b
Examples:
  wscli ping ws://127.0.0.1:8080 -c 5
  wscli ping wss://example.com/socket -i 0.2 -w 10 -q
  wscli ping ws://localhost:8080 --echo -s 1KiB --json
""",
)
@click.argument("url")
@click.option("-c", "--count", type=click.IntRange(min=1), help="Stop after COUNT pings.")
@click.option(
    "-i",
    "--interval",
    type=DURATION,
    default="1s",
    show_default=True,
    help="Time between pings; 0 sends the next one as soon as the last is answered.",
)
@click.option(
    "-s",
    "--size",
    type=SIZE,
    default="56",
    show_default=True,
    help=f"Payload bytes per ping (at most {MAX_PING_SIZE}, any with --echo).",
)
@click.option(
    "-W",
    "--timeout",
    type=DURATION,
    default="10s",
    show_default=True,
    help="Time to wait for each reply before counting it lost.",
)
@click.option("-w", "--deadline", type=DURATION, help="Stop after this long, whatever the count.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the connect line and the summary.")
@click.option(
    "--echo",
    is_flag=True,
    help="Measure with data messages echoed by the server instead of ping/pong frames.",
)
@click.option(
    "--subprotocol",
    "subprotocols",
    multiple=True,
    metavar="NAME",
    callback=subprotocols_callback,
    help="Offer a subprotocol (repeatable).",
)
@header_option
@origin_option
@open_timeout_option
@tls_options
@proxy_option
@json_option
@no_color_option
def command(
    url: str,
    count: int | None,
    interval: float,
    size: int,
    timeout: float,
    deadline: float | None,
    quiet: bool,
    echo: bool,
    as_json: bool,
    no_color: bool,
    **options: Any,
) -> int:
    """Measure round trips to URL with ping/pong frames, like ping(8).

    Prints how long TCP, TLS and the upgrade took, then one line per reply, then a
    summary (on Ctrl-C too): sent, received, loss, min/avg/max/mdev and p50/p90/p99.
    """
    printer = Printer.from_options(interactive=False, as_json=as_json, no_color=no_color)
    if not echo and size > MAX_PING_SIZE:
        raise click.BadParameter(
            f"a ping carries at most {MAX_PING_SIZE} bytes (RFC 6455 §5.5); use --echo "
            "for bigger payloads",
            param_hint="'-s' / '--size'",
        )
    run = _PingRun(printer, url, count, interval, size, timeout, deadline, quiet, echo)
    kwargs = client_kwargs(**options)
    kwargs["per_message_deflate"] = False  # measure the network, not zlib
    # ping(8)'s statuses (0 replies, 1 none, 2 error); the CLI's boundary exits with it.
    return run.run(kwargs)


class _PingRun:
    """One ``wscli ping`` run: connect, send on schedule, collect replies, summarize."""

    def __init__(
        self,
        printer: Printer,
        url: str,
        count: int | None,
        interval: float,
        size: int,
        timeout: float,
        deadline: float | None,
        quiet: bool,
        echo: bool,
    ) -> None:
        self.printer = printer
        self.url = url
        self.count = count
        self.interval = interval
        self.size = size
        self.timeout = timeout
        self.deadline = deadline
        self.quiet = quiet
        self.echo = echo
        self.stats = PingStats()
        # Replies, and the end of the connection, reach the main thread through this.
        self.events: queue.SimpleQueue[tuple[str, float, Any]] = queue.SimpleQueue()
        #: seq -> (send time, waiter or expected echo payload)
        self.outstanding: dict[int, tuple[float, Any]] = {}
        #: Pings whose waiter a later ping's pong resolved (their latency is not theirs).
        self.resolved_early: set[int] = set()
        self.ws: WebSocket | None = None
        self.where = url
        # A reader that went away (`| head`) ends the run quietly, as SIGPIPE ends
        # ping(8); a failed write (a full disk) ends it as an error.
        printer.on_broken_pipe(lambda: self.events.put(("broken", time.perf_counter(), None)))
        printer.on_output_error(
            lambda exc: self.events.put(("output_error", time.perf_counter(), exc))
        )

    # -- output ------------------------------------------------------------------------

    def _line(self, text: str) -> None:
        self.printer.out(text)

    def _error(self, text: str) -> None:
        if self.printer.as_json:
            self.printer.event("error", error=text)
        else:
            self.printer.error(text)

    # -- the run -----------------------------------------------------------------------

    def run(self, kwargs: dict[str, Any]) -> int:
        """Ping until the count, the deadline, Ctrl-C or an error; return the exit status."""
        try:
            ws = self._connect(kwargs)
        except KeyboardInterrupt:
            self._error("interrupted while connecting")
            return EXIT_ERROR
        except Exception as exc:  # every failure to connect is "an error" to ping(8)
            self._error(_describe(exc))
            return EXIT_ERROR
        status: int | None = None
        try:
            status = self._loop(ws)
        except KeyboardInterrupt:
            pass  # ping(8): Ctrl-C ends the run with the summary
        finally:
            self._summary()
            try:
                ws.close(1000)
                ws.wait_closed(1.0)
            except Exception:  # closing an already broken connection is not news
                ws.terminate()
        if status is not None:
            return status
        return self._status()

    def _status(self) -> int:
        received = self.stats.received
        if not received:
            return EXIT_NO_REPLY
        if self.count is not None and self.deadline is not None and received < self.count:
            return EXIT_NO_REPLY
        return EXIT_REPLIED

    def _connect(self, kwargs: dict[str, Any]) -> WebSocket:
        _warm_up()
        open_timeout = kwargs.get("open_timeout")
        ws = WebSocket(self.url, kwargs.pop("protocols", None), **kwargs)
        self.ws = ws
        try:
            ws.wait_open(None if open_timeout is None else open_timeout + 1.0)
        except BaseException:
            ws.terminate()
            raise
        timings = ws.timings
        # "tcp" is everything before TLS: resolving, connecting, and any proxy's tunnel.
        tcp = sum(t for t in (timings.dns, timings.tcp, timings.proxy) if t is not None)
        tls = timings.tls
        upgrade = timings.upgrade or 0.0
        remote = ws.remote_address
        if isinstance(remote, tuple) and len(remote) >= 2:
            self.where = f"{remote[0]}:{remote[1]}"
        if self.echo:
            ws.on("message", self._on_message)
        else:
            ws.on("pong", self._on_pong)
        ws.on("close", self._on_close)
        self.stats = PingStats()
        if self.printer.as_json:
            self.printer.event(
                "open",
                url=str(ws.url),
                address=self.where,
                tcp_ms=_ms(tcp),
                tls_ms=None if tls is None else _ms(tls),
                upgrade_ms=_ms(upgrade),
                mode="echo" if self.echo else "ping",
            )
        else:
            parts = [f"tcp {tcp * 1e3:.2f} ms"]
            if tls is not None:
                parts.append(f"tls {tls * 1e3:.2f} ms")
            parts.append(f"upgrade {upgrade * 1e3:.2f} ms")
            mode = " with echoed messages" if self.echo else ""
            self._line(f"PING {ws.url} ({self.where}){mode}: {', '.join(parts)}")
        return ws

    # -- reactor-thread listeners: only hand over to the main thread ---------------------

    def _on_pong(self, data: bytes) -> None:
        self.events.put(("pong", time.perf_counter(), data))

    def _on_message(self, data: str | bytes, flags: Any) -> None:
        self.events.put(("message", time.perf_counter(), data))

    def _on_close(self, code: int, reason: str) -> None:
        self.events.put(("close", time.perf_counter(), (code, reason)))

    # -- the main loop -----------------------------------------------------------------

    def _loop(self, ws: WebSocket) -> int | None:
        start = time.perf_counter()
        end = None if self.deadline is None else start + self.deadline
        next_send = start
        seq = 0
        while True:
            now = time.perf_counter()
            if end is not None and now >= end:
                self._expire(now, force=True)
                return None
            more = self.count is None or seq < self.count
            if more and now >= next_send and (self.interval > 0 or not self.outstanding):
                seq += 1
                try:
                    self._send(ws, seq)
                except ConnectionClosed as exc:
                    # The server's close came in, but its close event waits for the
                    # end of TCP: say the same as when that event comes first.
                    return self._closed(now, exc.code, exc.reason)
                next_send = (next_send if self.interval > 0 else now) + self.interval
                if self.interval > 0 and next_send < now:
                    next_send = now  # we fell behind (a slow terminal): don't burst
                continue
            self._expire(now)
            if not more and not self.outstanding:
                return None
            wake = [now + 3600.0]
            if more and (self.interval > 0 or not self.outstanding):
                wake.append(next_send)
            if self.outstanding:
                wake.append(min(sent for sent, _ in self.outstanding.values()) + self.timeout)
            if end is not None:
                wake.append(end)
            try:
                kind, when, data = self.events.get(timeout=max(0.0, min(wake) - now))
            except queue.Empty:
                continue
            if kind == "broken":
                self._expire(when, force=True)
                return None
            if kind == "output_error":
                self._expire(when, force=True)
                self.printer.error(f"cannot write to stdout: {data.strerror or data}")
                return EXIT_ERROR
            if kind == "close":
                return self._closed(when, *data)
            self._reply(kind, when, data)

    def _closed(self, when: float, code: int, reason: str) -> int:
        """The connection ended under us: what was in flight is lost; say why."""
        self._expire(when, force=True)
        self._error(f"connection closed: {code}" + (f" {reason}" if reason else ""))
        return EXIT_ERROR

    def _send(self, ws: WebSocket, seq: int) -> None:
        if self.echo:
            payload = ping_payload(seq, self.size, text=True).decode()
            sent = time.perf_counter()
            ws.send(payload)
            self.outstanding[seq] = (sent, payload)
        else:
            waiter = ws.ping(ping_payload(seq, self.size))
            self.outstanding[seq] = (time.perf_counter(), waiter)
        self.stats.sent += 1

    def _reply(self, kind: str, when: float, data: Any) -> None:
        if kind == "pong":
            # A pong answers the ping with its payload (RFC 6455 §5.5.3). The library
            # also resolves the waiters of earlier pings with it (ws's convention), but
            # to ping(8) an earlier ping that got no pong of its own is lost, not
            # answered late: it stays outstanding until its timeout.
            match = next(
                (seq for seq in self.outstanding if data == ping_payload(seq, self.size)), None
            )
            if match is not None:
                sent, waiter = self.outstanding.pop(match)
                # The waiter's own latency is exact, unless another pong resolved it.
                exact = waiter.done() and match not in self.resolved_early
                self.resolved_early.discard(match)
                self._answered(match, waiter.latency if exact else when - sent)
            self.resolved_early.update(
                seq for seq, (_, waiter) in self.outstanding.items() if waiter.done()
            )
            return
        for seq, (sent, expected) in self.outstanding.items():
            if data == expected:
                del self.outstanding[seq]
                self._answered(seq, when - sent)
                return
        # Not one of ours (a server that also pushes messages): ignore it.

    def _answered(self, seq: int, latency: float) -> None:
        self.stats.received += 1
        self.stats.latency.record(latency)
        self.stats.recent.append(latency)
        if self.quiet:
            return
        if self.printer.as_json:
            self.printer.event(
                "pong" if not self.echo else "echo", seq=seq, bytes=self.size, time_ms=_ms(latency)
            )
        else:
            time_ms = _format_ms(latency)
            self._line(f"{self.size} bytes from {self.where}: seq={seq} time={time_ms} ms")

    def _expire(self, now: float, force: bool = False) -> None:
        """Count pings past their timeout (or all, at the end) as lost."""
        for seq in sorted(self.outstanding):
            sent, _ = self.outstanding[seq]
            if force or now - sent >= self.timeout:
                del self.outstanding[seq]
                self.resolved_early.discard(seq)
                if not force:
                    self.stats.recent.append(None)
                if self.quiet or force:
                    continue
                if self.printer.as_json:
                    self.printer.event("timeout", seq=seq, timeout_s=self.timeout)
                else:
                    self._line(
                        f"no reply from {self.where}: seq={seq} (timeout {self.timeout:g} s)"
                    )

    def _summary(self) -> None:
        stats = self.stats
        data = stats.summary()
        if self.printer.as_json:
            self.printer.event("summary", url=str(self.ws.url if self.ws else self.url), **data)
            return
        url = self.ws.url if self.ws is not None else self.url
        self._line("")
        self._line(f"--- {url} ping statistics ---")
        self._line(
            f"{stats.sent} sent, {stats.received} received, "
            f"{_format_percent(stats.loss_percent)} loss, time {data['time_ms']:.0f} ms"
        )
        if stats.latency.count:
            h = stats.latency
            self._line(
                "rtt min/avg/max/mdev = "
                + "/".join(_format_ms(v) for v in (h.min, h.mean, h.max, h.mdev))
                + " ms"
            )
            line = (
                "rtt p50/p90/p99 = "
                + "/".join(_format_ms(h.percentile(p)) for p in (50, 90, 99))
                + " ms"
            )
            if len(stats.recent) > 1 and is_terminal(self.printer.stdout):
                # A picture of the latest round trips (· for a lost ping): for people
                # at a terminal, never for scripts that parse the summary.
                line += "  " + sparkline(list(stats.recent))
            self._line(line)


def _warm_up() -> None:
    """Import what opening a socket imports lazily, so the tcp time measures TCP.

    The library imports its proxy support and Python its IDNA codec on the first
    connection: several milliseconds that a ping's first line should not report.
    """
    import importlib

    for name in ("wscli.core.sync.proxy", "encodings.idna", "ipaddress"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    "localhost".encode("idna")


def _format_ms(seconds: float) -> str:
    """Milliseconds with three significant decimals, as ping(8) prints them."""
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 100 else f"{ms:.1f}"


def _format_percent(value: float) -> str:
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"


def _describe(exc: BaseException) -> str:
    return describe_error(exc)
