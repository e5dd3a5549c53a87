"""What a load run measured: counts, latency histograms, and errors by kind and reason.

Every error has a kind (:class:`ErrorKind`) and a reason (a short lowercase phrase, for
people). Code that decides something, such as ``wscli bench``'s exit status, looks at
the kinds; the reasons are only shown.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass
from typing import Any

from ..histogram import Histogram
from .series import Series

__all__ = ["ErrorKind", "Problem", "Stats"]


class ErrorKind(enum.Enum):
    """What went wrong, in the terms a caller acts on."""

    #: TCP or TLS could not be set up.
    CONNECT = "connect"
    #: The server answered the upgrade with an HTTP error status.
    REFUSED = "refused"
    #: Any other failed opening handshake: a bad answer, a timeout, the server hung up.
    HANDSHAKE = "handshake"
    #: The server broke RFC 6455 (masked frames, reserved bits, bad opcodes, bad UTF-8…).
    PROTOCOL = "protocol"
    #: The server went past a bound: message size, frames per message, or replies
    #: (pongs) it does not read piling up.
    LIMIT = "limit"
    #: An echo differed from what was sent, or came with nothing in flight.
    MISMATCH = "mismatch"
    #: No echo, or no end to the closing handshake, within the timeout.
    TIMEOUT = "timeout"
    #: The server closed the connection (with a close frame) while messages were due.
    CLOSED = "closed"
    #: The connection broke without a close frame.
    DROPPED = "dropped"


@dataclass(frozen=True)
class Problem:
    """One error: its kind and a reason to show."""

    kind: ErrorKind
    reason: str


class Stats:
    """What a run measured; workers' stats add up with :meth:`merge`."""

    COUNTERS = (
        "connections",
        "opened",
        "failed",
        "closed",
        "ended",
        "sent",
        "received",
        "lost",
        "bytes_sent",
        "bytes_received",
    )

    def __init__(self, connections: int = 0) -> None:
        #: Connections the run meant to open.
        self.connections = connections
        #: Connections whose opening handshake succeeded.
        self.opened = 0
        #: Connections that never opened (TCP, TLS or handshake failed).
        self.failed = 0
        #: Connections that ended with a clean closing handshake.
        self.closed = 0
        #: Opened connections that ended, cleanly or not (so ``opened - ended`` are open).
        self.ended = 0
        #: Messages sent, echoes received and verified, messages never echoed.
        self.sent = 0
        self.received = 0
        self.lost = 0
        #: Payload bytes sent and echoed back.
        self.bytes_sent = 0
        self.bytes_received = 0
        self.latency = Histogram()
        self.handshake = Histogram()
        #: Error reason -> how many times it happened (for people).
        self.errors: collections.Counter[str] = collections.Counter()
        #: Error kind -> how many times it happened (for decisions).
        self.error_kinds: collections.Counter[ErrorKind] = collections.Counter()
        #: perf_counter_ns of the first message sent and the last echo received.
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.interrupted = False
        #: Extensions the server accepted, as negotiated (from the first connection).
        self.extensions = ""
        #: What happened second by second (:mod:`.series`).
        self.series = Series()

    def add_error(self, problem: Problem) -> None:
        """Count one error."""
        self.errors[problem.reason] += 1
        self.error_kinds[problem.kind] += 1

    @property
    def elapsed(self) -> float:
        """Seconds from the first message sent to the last echo received."""
        if self.first_ns is None or self.last_ns is None:
            return 0.0
        return max(0, self.last_ns - self.first_ns) / 1e9

    @property
    def messages_per_second(self) -> float:
        """Verified echoes per second over :attr:`elapsed`."""
        return self.received / self.elapsed if self.elapsed else 0.0

    @property
    def bytes_per_second(self) -> float:
        """Echoed payload bytes per second (one direction) over :attr:`elapsed`."""
        return self.bytes_received / self.elapsed if self.elapsed else 0.0

    @property
    def error_count(self) -> int:
        """All errors, of every reason."""
        return sum(self.errors.values())

    def merge(self, other: Stats, *, series: bool = True) -> None:
        """Add ``other``'s counts, histograms and errors (and series, unless told) to these."""
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        self.handshake.merge(other.handshake)
        self.errors.update(other.errors)
        self.error_kinds.update(other.error_kinds)
        if other.first_ns is not None:
            self.first_ns = (
                other.first_ns if self.first_ns is None else min(self.first_ns, other.first_ns)
            )
        if other.last_ns is not None:
            self.last_ns = (
                other.last_ns if self.last_ns is None else max(self.last_ns, other.last_ns)
            )
        self.interrupted = self.interrupted or other.interrupted
        self.extensions = self.extensions or other.extensions
        if series:
            self.series.merge(other.series)

    def to_dict(self, *, series: bool = True) -> dict[str, Any]:
        """Return a picklable, JSON-friendly form (for worker processes).

        Args:
            series: include the per-second series (progress reports leave it out: it
                grows with the run, and only the final report needs it).
        """
        data: dict[str, Any] = {name: getattr(self, name) for name in self.COUNTERS}
        data.update(
            latency=self.latency.to_dict(),
            handshake=self.handshake.to_dict(),
            errors=dict(self.errors),
            error_kinds={kind.value: count for kind, count in self.error_kinds.items()},
            first_ns=self.first_ns,
            last_ns=self.last_ns,
            interrupted=self.interrupted,
            extensions=self.extensions,
        )
        if series:
            data["series"] = self.series.to_list()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        """Rebuild stats sent by :meth:`to_dict`."""
        stats = cls()
        for name in cls.COUNTERS:
            setattr(stats, name, data[name])
        stats.latency = Histogram.from_dict(data["latency"])
        stats.handshake = Histogram.from_dict(data["handshake"])
        stats.errors = collections.Counter(data["errors"])
        stats.error_kinds = collections.Counter(
            {ErrorKind(kind): count for kind, count in data["error_kinds"].items()}
        )
        stats.first_ns = data["first_ns"]
        stats.last_ns = data["last_ns"]
        stats.interrupted = data["interrupted"]
        stats.extensions = data["extensions"]
        stats.series = Series.from_list(data.get("series", []))
        return stats
