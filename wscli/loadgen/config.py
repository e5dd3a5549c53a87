"""What a load run does: :class:`LoadConfig`, built by ``wscli bench`` from its options."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, fields

__all__ = ["LoadConfig"]


@dataclass
class LoadConfig:
    """What to run; ``wscli bench`` builds one from its options.

    Attributes:
        url: the echo server (``ws://``, ``wss://``, ``ws+unix://``).
        connections: how many connections to open.
        messages: messages per connection; ``None`` with ``duration``.
        duration: seconds to send for; ``None`` with ``messages``.
        size_min, size_max: payload size in bytes, drawn uniformly per message.
        pipeline: messages in flight per connection (closed loop); a cap in open loop.
        rate: messages per second over all connections (open loop); ``None`` for closed.
        binary: send binary messages rather than text.
        compression: offer permessage-deflate.
        ramp: connections opened per second; ``None`` opens them as fast as possible.
        timeout: seconds for each opening handshake and each echo.
        hold: seconds to keep a connection open, idle, after its messages are done.
        raw: no handshake; expect masked frames echoed byte for byte (raw TCP echo).
        workers: processes that share the load.
        headers: extra request headers.
        ssl_context: TLS settings for ``wss://``.
        seed: seeds payload contents and sizes, so runs are repeatable.
    """

    url: str
    connections: int = 1
    messages: int | None = 1000
    duration: float | None = None
    size_min: int = 32
    size_max: int = 32
    pipeline: int = 1
    rate: float | None = None
    binary: bool = False
    compression: bool = False
    ramp: float | None = None
    timeout: float = 10.0
    hold: float = 0.0
    raw: bool = False
    workers: int = 1
    headers: list[tuple[str, str]] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None
    seed: int = 0

    def share(self, worker: int) -> LoadConfig:
        """Return the part of the load that worker number ``worker`` runs."""
        count = self.connections // self.workers + (worker < self.connections % self.workers)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(connections=count, workers=1, seed=self.seed + worker)
        if self.rate is not None:
            values["rate"] = self.rate * count / max(1, self.connections)
        if self.ramp is not None:
            values["ramp"] = self.ramp * count / max(1, self.connections)
        return LoadConfig(**values)
