"""The open loop: messages due at fixed times, whether or not echoes came back.

With ``rate`` messages per second over all connections, message ``k`` is due at
``start + k / rate``. Latency is measured from the time a message was due, not the time
it could be sent, so a stalled server shows up in the latency instead of quietly
slowing the client down (no coordinated omission).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

__all__ = ["OpenLoop"]

T = TypeVar("T")


class OpenLoop:
    """Which messages are due, and when; hands them to connections round robin.

    Args:
        rate: messages per second over all connections.
        total: messages to send in all, or ``None`` to send until ``deadline_ns``.
        deadline_ns: ``perf_counter_ns`` after which nothing more is due, or ``None``.
    """

    def __init__(self, rate: float, total: int | None, deadline_ns: int | None) -> None:
        self.rate = rate
        self.total = total
        self.deadline_ns = deadline_ns
        #: When the first connection opened: message 0 is due then.
        self.start_ns: int | None = None
        #: How many messages were handed out so far.
        self.scheduled = 0
        self._turn = 0
        self._interval_ns = 1e9 / rate

    def start(self, now: int) -> None:
        """Start the clock, once: call when the first connection opens."""
        if self.start_ns is None:
            self.start_ns = now

    def due(self, now: int) -> range:
        """Return the numbers of the messages due by ``now`` and not handed out yet."""
        start = self.start_ns
        if start is None:
            return range(0)
        count = int((now - start) / 1e9 * self.rate) + 1
        if self.total is not None:
            count = min(count, self.total)
        deadline = self.deadline_ns
        if deadline is not None and now >= deadline:
            count = min(count, int((deadline - start) / 1e9 * self.rate) + 1)
        return range(self.scheduled, max(self.scheduled, count))

    def assign(self, numbers: range, targets: Sequence[T]) -> Iterator[tuple[T, int]]:
        """Yield ``(target, due_ns)`` for each message in ``numbers``, round robin.

        ``targets`` must not be empty; the messages count as handed out afterwards.
        """
        start = self.start_ns
        assert start is not None and targets
        interval = self._interval_ns
        count = len(targets)
        for k in numbers:
            yield targets[self._turn % count], start + int(k * interval)
            self._turn += 1
        self.scheduled = max(self.scheduled, numbers.stop)

    def finished(self, now: int) -> bool:
        """Tell whether every message has been handed out (or the deadline passed)."""
        if self.total is not None:
            return self.scheduled >= self.total
        return self.deadline_ns is not None and now >= self.deadline_ns

    def next_due_ns(self) -> int | None:
        """Return when the next message is due, or ``None`` before the clock started."""
        if self.start_ns is None:
            return None
        return self.start_ns + int(self.scheduled * 1e9 / self.rate)
