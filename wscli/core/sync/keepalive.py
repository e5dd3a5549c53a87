"""Keepalive: one connection's ping waiters and keepalive timer.

:meth:`~wscli.core.sync.connection.Connection.ping` returns a :class:`PongWaiter`; the
:class:`Keepalive` of the connection holds the waiters until the answering pong comes
(a pong answers the ping with the same payload and every earlier one, RFC 6455 §5.5.3)
or the connection ends. With ``ping_interval``, it also sends a ping every interval and
calls ``on_timeout`` when one stays unanswered for ``ping_timeout``.

Everything but :meth:`PongWaiter.wait` runs on the reactor thread or under the
connection's lock.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from ..exceptions import ConnectionClosed, InvalidState
from .reactor import Reactor, TimerHandle

__all__ = ["Keepalive", "PongWaiter"]


class PongWaiter:
    """What :meth:`Connection.ping` returns: wait for the answering pong."""

    __slots__ = ("data", "sent_at", "latency", "error", "_event", "_reactor")

    def __init__(self, data: bytes, reactor: Reactor | None = None) -> None:
        self.data = data
        self._reactor = reactor  # the thread that reads the pong: it must not wait
        self.sent_at = time.monotonic()
        #: Seconds between sending the ping and receiving the pong, once it came.
        self.latency: float | None = None
        self.error: ConnectionClosed | None = None
        self._event = threading.Event()

    def resolve(self, now: float) -> None:
        """Record the pong's arrival at ``now``; the connection calls it."""
        self.latency = now - self.sent_at
        self._event.set()

    def abandon(self, error: ConnectionClosed) -> None:
        """Record that the connection closed before the pong came; the connection calls it."""
        self.error = error
        self._event.set()

    def done(self) -> bool:
        """Tell whether the pong came or the connection closed."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> float:
        """Block until the pong arrives; return the round-trip time in seconds.

        Raises:
            TimeoutError: no pong within ``timeout`` seconds.
            ConnectionClosed: the connection closed first.
            InvalidState: called in a listener (on the reactor thread, which is the one
                that would read the pong) before the pong came.
        """
        reactor = self._reactor
        if reactor is not None and not self._event.is_set() and reactor.in_thread():
            raise InvalidState(
                "waiting for a pong on the reactor thread (in a listener) would block the "
                "thread that reads it; use the waiter from another thread"
            )
        if not self._event.wait(timeout):
            raise TimeoutError(f"no pong within {timeout} seconds")
        if self.error is not None:
            raise self.error
        assert self.latency is not None
        return self.latency


class Keepalive:
    """Ping waiters and the keepalive timer of one connection.

    Args:
        reactor: the connection's reactor (for timers).
        interval: seconds between keepalive pings; ``None`` sends none.
        timeout: seconds a keepalive ping may wait for its pong; ``None`` waits forever.
        send_ping: sends a ping and returns its waiter (the connection's ``ping``).
        on_timeout: called on the reactor thread when a keepalive pong is late, with the
            ``time.monotonic()`` its ping left at.
    """

    __slots__ = (
        "_reactor",
        "interval",
        "timeout",
        "_send_ping",
        "_on_timeout",
        "_waiters",
        "_timer",
        "_inflight",
    )

    def __init__(
        self,
        reactor: Reactor,
        interval: float | None,
        timeout: float | None,
        send_ping: Callable[[bytes], PongWaiter],
        on_timeout: Callable[[float], None],
    ) -> None:
        self._reactor = reactor
        self.interval = interval
        self.timeout = timeout
        self._send_ping = send_ping
        self._on_timeout = on_timeout
        self._waiters: collections.deque[PongWaiter] = collections.deque()
        self._timer: TimerHandle | None = None
        self._inflight: PongWaiter | None = None

    def add(self, waiter: PongWaiter) -> None:
        """Hold ``waiter`` until its pong (or the end)."""
        self._waiters.append(waiter)

    def start(self) -> None:
        """On the reactor thread, once open: schedule the first keepalive ping."""
        if self.interval is not None and self._timer is None:
            self._timer = self._reactor.call_later(self.interval, self._tick)

    def pong_received(self, data: bytes) -> None:
        """Resolve the waiter of the ping ``data`` answers, and every earlier one."""
        waiters = self._waiters
        now = time.monotonic()
        for index, waiter in enumerate(waiters):
            if waiter.data == data:
                for _ in range(index + 1):
                    waiters.popleft().resolve(now)
                return

    def stop(self, error: ConnectionClosed) -> None:
        """On the reactor thread, once closed: fail every waiter and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inflight = None
        waiters = self._waiters
        while waiters:
            waiters.popleft().abandon(error)

    def postpone(self) -> None:
        """On the reactor thread, from ``on_timeout``: give the late pong another
        ``timeout`` instead of failing (the connection was not being read)."""
        if self._inflight is not None and self._timer is None and self.timeout is not None:
            self._timer = self._reactor.call_later(self.timeout, self._check)

    def _tick(self) -> None:
        self._timer = None
        try:
            waiter = self._send_ping(b"")
        except (ConnectionClosed, InvalidState):
            return  # closing, or a draft without pings (hixie-76)
        self._inflight = waiter
        if self.timeout is not None:
            self._timer = self._reactor.call_later(self.timeout, self._check)
        else:
            self._timer = self._reactor.call_later(self.interval or 0, self._tick)

    def _check(self) -> None:
        self._timer = None
        waiter = self._inflight
        if waiter is None:
            return
        if not waiter.done():
            self._on_timeout(waiter.sent_at)
            return
        delay = max(0.0, (self.interval or 0) - (time.monotonic() - waiter.sent_at))
        self._timer = self._reactor.call_later(delay, self._tick)
