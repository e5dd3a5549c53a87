"""Checking echoes: the server's frames go through the core's parser, then are compared.

The load generator has no frame parser of its own. Each connection's incoming bytes go
to a client-side :class:`~wscli.core.protocol.Protocol`, with the bounds a library
connection has (message size, frames per message), so every rule a client must check is
checked by the code that passes Autobahn: unmasked frames, reserved bits, known opcodes,
whole control frames, continuations only inside a message, valid UTF-8, fragments
joined in linear time. The protocol answers pings and echoes a close itself; this module
only compares the messages it hands out with what was sent, oldest first.

``raw`` mode (a raw TCP echo server, no handshake) has no frames to parse: what comes
back must be the bytes sent, and :func:`check_raw` compares them in place.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

from ..core.events import Message
from ..core.extensions.base import Extension
from ..core.frames import Close, CloseCode
from ..core.protocol import DEFAULT_MAX_FRAGMENTS, Protocol, Side
from .stats import ErrorKind, Problem

__all__ = ["EchoChecker", "Outcome", "check_raw", "client_protocol"]

#: (timestamp_ns, payload) of each message in flight, oldest first.
Inflight = collections.deque[tuple[int, Any]]
#: What one batch of received bytes gave: echoes verified, their payload bytes, the
#: problem that ended the connection (if any), the close frame received (if any).
Outcome = tuple[int, int, Problem | None, Close | None]

NOTHING_IN_FLIGHT = Problem(ErrorKind.MISMATCH, "unexpected message (nothing in flight)")
WRONG_LENGTH = Problem(ErrorKind.MISMATCH, "echo mismatch: wrong length")
WRONG_CONTENT = Problem(ErrorKind.MISMATCH, "echo mismatch: wrong content")


def client_protocol(extensions: Sequence[Extension], max_size: int) -> Protocol:
    """Return the protocol that frames a connection's messages and parses its echoes.

    Args:
        extensions: negotiated in the handshake.
        max_size: the largest echo to accept; no echo is larger than what was sent.
    """
    return Protocol(
        Side.CLIENT,
        extensions=extensions,
        max_size=max_size,
        max_fragments=DEFAULT_MAX_FRAGMENTS,
    )


class EchoChecker:
    """Feeds one connection's bytes to its protocol and checks each message it yields.

    Args:
        proto: the connection's protocol (see :func:`client_protocol`).
        text: whether text messages are expected (else binary).
        record: called with each verified echo's round trip, in nanoseconds.
    """

    __slots__ = ("proto", "text", "record")

    def __init__(self, proto: Protocol, *, text: bool, record: Callable[[int], None]) -> None:
        self.proto = proto
        self.text = text
        self.record = record

    def receive(
        self, data: bytes | bytearray | memoryview, inflight: Inflight, now: int
    ) -> Outcome:
        """Parse ``data``; verify the echoes in it against ``inflight`` (oldest first).

        A verified echo leaves ``inflight``. The first wrong echo, protocol violation or
        passed limit ends the check: nothing after it can be trusted.
        """
        proto = self.proto
        proto.receive_data(data)
        received = size = 0
        close: Close | None = None
        events = proto.events_received()
        while True:
            for event in events:
                kind = type(event)
                if kind is Message:
                    message = event.data
                    if isinstance(message, str):
                        if not self.text:
                            return received, size, _wrong_type("text"), close
                        message = message.encode()
                    elif self.text:
                        return received, size, _wrong_type("binary"), close
                    if not inflight:
                        return received, size, NOTHING_IN_FLIGHT, close
                    sent_ns, payload = inflight[0]
                    if len(message) != len(payload):
                        return received, size, WRONG_LENGTH, close
                    if message != payload:
                        return received, size, WRONG_CONTENT, close
                    inflight.popleft()
                    self.record(now - sent_ns)
                    received += 1
                    size += len(message)
                elif kind is Close:
                    close = event
            if not proto.has_pending:
                break
            # A violation or close right behind these messages waits until they were
            # handled; they were, so let the protocol act on it.
            proto.handle_pending()
            events = proto.events_received()
        error = proto.error
        if error is not None:
            if error.code == CloseCode.MESSAGE_TOO_BIG:
                return received, size, Problem(ErrorKind.LIMIT, f"limit: {error}"), close
            problem = Problem(ErrorKind.PROTOCOL, f"protocol error from server: {error}")
            return received, size, problem, close
        return received, size, None, close


def _wrong_type(kind: str) -> Problem:
    return Problem(ErrorKind.MISMATCH, f"echo mismatch: got a {kind} message")


def check_raw(
    rbuf: bytearray, inflight: Inflight, record: Callable[[int], None], now: int
) -> tuple[int, int, bool]:
    """Raw mode: the bytes in ``rbuf`` must be the frames sent, in order.

    ``inflight`` holds ``(sent_ns, (frame, payload_length))``. Verified frames leave it
    and ``rbuf``. Returns echoes verified, their payload bytes, and whether a mismatch
    was found.
    """
    received = size = pos = 0
    mismatch = False
    while inflight:
        sent_ns, (frame, length) = inflight[0]
        if len(rbuf) - pos < len(frame):
            break
        if not rbuf.startswith(frame, pos):
            mismatch = True
            break
        pos += len(frame)
        inflight.popleft()
        record(now - sent_ns)
        received += 1
        size += length
    if pos:
        del rbuf[:pos]
    return received, size, mismatch
