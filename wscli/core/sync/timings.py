"""How long each phase of opening a client connection took.

A client connection goes through up to five phases before it is open: name resolution,
the TCP (or Unix socket) connect, a proxy's tunnel, the TLS handshake and the WebSocket
upgrade. Tools that report latency (``wscli ping``) want them apart, and only the code
that runs each phase knows where one ends and the next begins, so that code records
them here: a ``time.perf_counter()`` call at each boundary, a few per connection and
none per message.

The connecting thread fills a :class:`PhaseClock`; callers read an immutable
:class:`ConnectTimings` snapshot of it (``WebSocket.timings``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

__all__ = ["ConnectTimings", "PhaseClock", "Phase"]

Phase = Literal["dns", "tcp", "proxy", "tls", "upgrade"]


@dataclass(frozen=True)
class ConnectTimings:
    """Seconds each phase of opening a connection took; ``None`` when it did not happen.

    Attributes:
        dns: resolving the host name (of the proxy, when there is one); ``None`` for
            an address literal, which needs no resolver, and for ``ws+unix://``.
        tcp: connecting the stream socket: to the server, or to the proxy; for
            ``ws+unix://``, connecting the Unix socket.
        proxy: asking the proxy (HTTP CONNECT or SOCKS5) for the tunnel, until it
            answered; ``None`` without a proxy.
        tls: the TLS handshake; ``None`` for ``ws://``.
        upgrade: from sending the upgrade request to its whole answer; ``None`` until
            the answer arrived. After a followed redirect, all of these describe the
            last connection only.
    """

    dns: float | None = None
    tcp: float | None = None
    proxy: float | None = None
    tls: float | None = None
    upgrade: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """The phases by name, in the order they run."""
        return {
            "dns": self.dns,
            "tcp": self.tcp,
            "proxy": self.proxy,
            "tls": self.tls,
            "upgrade": self.upgrade,
        }


class PhaseClock:
    """Where the opening code records each phase's duration as it ends.

    One thread writes at a time (the connecting thread, then the reactor for the
    upgrade), and a reader only ever takes a :meth:`snapshot`.
    """

    __slots__ = ("_seconds",)

    def __init__(self) -> None:
        self._seconds: dict[Phase, float] = {}

    def end(self, phase: Phase, started: float) -> float:
        """Record ``phase`` as having run from ``started`` until now; return now.

        Returning now lets the next phase start where this one ended, so the phases
        add up to the whole wait without gaps.
        """
        now = time.perf_counter()
        self._seconds[phase] = now - started
        return now

    def snapshot(self) -> ConnectTimings:
        """The phases recorded so far."""
        return ConnectTimings(**self._seconds)
