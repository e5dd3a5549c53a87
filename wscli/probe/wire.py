"""The probe's connections: raw sockets, the library's client handshake, crafted frames.

A check needs to send what a normal client never would and to see exactly what comes
back, so a probe connection is not a :class:`~wscli.core.WebSocket`: it is a blocking
socket from :func:`~wscli.core.sync.net.open_stream`, a
:class:`~wscli.core.client.ClientProtocol` for the opening handshake only (the request
it builds may be amended: every header still passes the header rule when it is
serialized), then :func:`~wscli.core.craft.craft_frame` to write and a bounded
:class:`~wscli.core.craft.FrameReader` to read.

**Bounds.** Every read waits at most for the time the check has left (:class:`Budget`);
a connection reads at most ``max_read`` bytes in all and frames of at most
``max_payload`` bytes, so a server that floods or announces a huge frame ends that
check (``Flooded``) instead of growing memory; the number of connections a run opens is
capped, and the run's deadline ends whatever is still to do (``OutOfBudget``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..core.client import ClientProtocol
from ..core.craft import FrameReader, RawFrame, craft_frame
from ..core.extensions.base import ClientExtensionFactory, Extension
from ..core.frames import Opcode
from ..core.http11 import Request, Response
from ..core.sync.net import open_stream
from ..core.uri import WebSocketURI

__all__ = [
    "Budget",
    "OutOfBudget",
    "Flooded",
    "Target",
    "Link",
    "Handshake",
    "handshake",
    "EOF",
    "TIMEOUT",
]

_CHUNK = 65536
#: Server pings kept for evidence; the rest are answered and counted only.
_KEPT_PINGS = 100


class OutOfBudget(Exception):
    """The run's deadline passed or its connections are used up; the check is skipped."""


class Flooded(Exception):
    """The server sent more than the check reads, or a frame over the size read."""


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: What :meth:`Link.next_frame` returns when the server closed TCP.
EOF = _Marker("EOF")
#: What :meth:`Link.next_frame` returns when nothing came in time.
TIMEOUT = _Marker("TIMEOUT")


@dataclass
class Budget:
    """What a run may spend: a deadline, a connection count, a per-check timeout."""

    timeout: float
    deadline: float
    max_connections: int
    opened: int = 0

    @classmethod
    def start(cls, timeout: float, total: float, max_connections: int) -> Budget:
        """A budget of ``total`` seconds from now."""
        return cls(timeout, time.monotonic() + total, max_connections)

    def remaining(self) -> float:
        """Seconds left in the run; raises :class:`OutOfBudget` when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfBudget("out of time (the run's --max-time)")
        return left

    def check_deadline(self) -> float:
        """The monotonic time by which a check that starts now must end."""
        return time.monotonic() + min(self.timeout, self.remaining())

    def take_connection(self) -> None:
        """Count one more connection; raises :class:`OutOfBudget` past the cap."""
        self.remaining()
        if self.opened >= self.max_connections:
            raise OutOfBudget(f"no connections left (--max-connections {self.max_connections})")
        self.opened += 1


@dataclass
class Target:
    """Where and how to connect, as the command line said."""

    uri: WebSocketURI
    headers: list[tuple[str, str]] = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    max_payload: int = 16 * 2**20

    @property
    def max_read(self) -> int:
        """Bytes one connection reads at most: twice the largest message, plus room."""
        return 2 * self.max_payload + 2**20


class Link:
    """One open probe connection after a 101: send raw bytes, read raw frames."""

    def __init__(
        self,
        sock: socket.socket,
        target: Target,
        budget: Budget,
        leftover: bytes,
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.sock = sock
        self.budget = budget
        self.reader = FrameReader(target.max_payload + 16)
        self.reader.feed(leftover)
        self.max_read = target.max_read
        self.bytes_read = len(leftover)
        self.extensions = list(extensions)
        self.closed = False
        #: Whether a close frame went out (then :meth:`close` sends none).
        self.close_sent = False
        #: Whether a write failed (the server stopped reading, or went away).
        self.send_failed = False
        #: The first pings the server sent (all are answered automatically), by payload.
        self.server_pings: list[bytes] = []
        #: How many pings the server sent in all.
        self.pings_received = 0

    def send(self, data: bytes) -> bool:
        """Write ``data`` within the check's time; ``False`` when the server is gone."""
        if self.closed:
            return False
        try:
            self.sock.settimeout(max(0.01, min(self.budget.timeout, self.budget.remaining())))
            self.sock.sendall(data)
        except (OSError, ValueError):
            # Part of a frame may have gone out: nothing sent after it would make sense.
            self.send_failed = True
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()
            return False
        return True

    def send_frame(
        self, opcode: int, payload: bytes = b"", *, fin: bool = True, rsv1: bool = False
    ) -> bool:
        """Craft and send one frame, masked with a fresh key (this is a client)."""
        if opcode == Opcode.CLOSE:
            self.close_sent = True
        return self.send(craft_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=os.urandom(4)))

    def next_frame(self, deadline: float) -> RawFrame | _Marker:
        """Return the next frame, :data:`EOF` or :data:`TIMEOUT` at ``deadline``.

        Pings from the server are answered and skipped.

        Raises:
            Flooded: past ``max_read`` bytes, or a frame over the payload bound.
        """
        while True:
            frame = self.reader.next_frame()
            if self.reader.error is not None:
                raise Flooded(self.reader.error)
            if frame is not None:
                if frame.opcode == Opcode.PING:
                    # Every ping is answered; only the first few are kept, for evidence.
                    self.pings_received += 1
                    if len(self.server_pings) < _KEPT_PINGS:
                        self.server_pings.append(frame.payload)
                    self.send_frame(Opcode.PONG, frame.payload)
                    continue
                return frame
            if self.closed:
                return EOF
            left = min(deadline, self.budget.deadline) - time.monotonic()
            if left <= 0:
                return TIMEOUT
            try:
                self.sock.settimeout(left)
                data = self.sock.recv(_CHUNK)
            except TimeoutError:
                return TIMEOUT
            except (OSError, ValueError):
                data = b""
            if not data:
                self.closed = True
                continue
            self.bytes_read += len(data)
            if self.bytes_read > self.max_read:
                raise Flooded(f"the server sent over {self.max_read} bytes")
            self.reader.feed(data)

    def close(self) -> None:
        """Say goodbye (a close frame, not waited for) and close the socket; idempotent.

        The close frame keeps the probe gentle: a server that logs every connection
        lost without one is not flooded with errors by a probe run.
        """
        if not self.closed and not self.close_sent:
            self.close_sent = True
            with contextlib.suppress(OSError, ValueError):
                self.sock.settimeout(0.1)
                self.sock.sendall(craft_frame(Opcode.CLOSE, b"\x03\xe8", mask=os.urandom(4)))
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass
class Handshake:
    """How one opening handshake went: the response, or why there is none."""

    request: Request | None
    response: Response | None = None
    error: Exception | None = None  #: the handshake was refused or invalid (response kept)
    link: Link | None = None  #: open when the server answered 101 and the answer was valid
    timed_out: bool = False
    closed: bool = False  #: the server closed TCP without an answer
    protocol: ClientProtocol | None = None

    def close(self) -> None:
        """Close the connection, whatever state it is in."""
        if self.link is not None:
            self.link.close()


def _open_socket(target: Target, budget: Budget, uri: WebSocketURI | None) -> socket.socket:
    budget.take_connection()
    return open_stream(
        uri or target.uri,
        timeout=min(budget.timeout, budget.remaining()),
        ssl_context=target.ssl_context,
        server_hostname=target.server_hostname,
        proxy=False,
    )


def handshake(
    target: Target,
    budget: Budget,
    *,
    amend: Callable[[Request], Request | bytes] | None = None,
    subprotocols: Sequence[str] | None = None,
    extensions: Sequence[ClientExtensionFactory] = (),
    origin: str | None = None,
    uri: WebSocketURI | None = None,
) -> Handshake:
    """Open a connection and run one opening handshake, the request amended as asked.

    ``amend`` may return the request changed (its headers still pass the header rule)
    or raw bytes to send instead, for requests the rule would refuse to write.

    Raises:
        OutOfBudget: no time or connections left.
        ConnectFailed: the server cannot be reached.
    """
    proto = ClientProtocol(
        uri or target.uri,
        origin=origin,
        subprotocols=target.subprotocols if subprotocols is None else subprotocols,
        extensions=list(extensions),
        headers=target.headers,
        max_size=None,
    )
    request = proto.connect()
    payload = amend(request) if amend is not None else request
    result = Handshake(request if isinstance(payload, bytes) else payload, protocol=proto)
    sock = _open_socket(target, budget, uri)
    deadline = budget.check_deadline()
    try:
        if isinstance(payload, bytes):
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            sock.sendall(payload)
        else:
            proto.send_request(payload)
            for chunk in proto.data_to_send():
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock.sendall(chunk)
        received = bytearray()
        while result.response is None:
            events = proto.events_received()
            responses = [event for event in events if isinstance(event, Response)]
            if responses:
                result.response = responses[0]
                break
            if proto.handshake_exc is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                if proto.end_refusal():
                    continue  # the refusal is the answer: its event comes next
                # Out of time, however busily the server was sending.
                result.timed_out = True
                break
            try:
                sock.settimeout(left)
                data = sock.recv(_CHUNK)
            except TimeoutError:
                result.timed_out = not proto.end_refusal()
                if result.timed_out:
                    break
                continue
            except OSError:
                data = b""
            if not data:
                if not proto.end_refusal():
                    result.closed = True
                    proto.receive_eof()
                    break
                continue
            if len(received) < 2 * 2**20:
                received += data
            proto.receive_data(data)
    except OSError as exc:
        result.closed = True
        result.error = exc
    result.error = proto.handshake_exc or result.error
    if result.response is not None and result.error is None:
        leftover = bytes(received[proto.handshake_size :])
        result.link = Link(sock, target, budget, leftover, proto.extensions)
    else:
        with contextlib.suppress(OSError):
            sock.close()
    return result
