"""ConnectionProperties: what a connection tells about itself, read from its parts.

The read-only properties of :class:`~wscli.core.sync.connection.Connection` (and so of
``WebSocket``): its state as the W3C API numbers it, what the handshake negotiated,
the close frames, byte counts and addresses. Each answers from the part that owns the
fact (the protocol, the outgoing buffer, the socket) and changes nothing.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from ..frames import Close
from ..http11 import Request, Response
from ..protocol import Protocol, Side, State
from .outbuffer import OutBuffer

__all__ = ["ConnectionProperties"]


class ConnectionProperties:
    """The read-only properties of a connection (a base of ``Connection``)."""

    __slots__ = ()

    # Set by the connection's constructor.
    _proto: Protocol
    _out: OutBuffer
    _sock: socket.socket
    _opened: bool
    _finished: bool
    _bytes_read: int

    if TYPE_CHECKING:

        def _unread(self) -> int: ...  # Delivery's: messages waiting for recv()

    @property
    def ready_state(self) -> State:
        """CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3), as in the W3C API.

        CLOSED only once the connection has finished (socket closed, events emitted);
        until then a protocol that already reached CLOSED still reads as CLOSING.
        """
        if self._finished:
            return State.CLOSED
        state = self._proto.state
        return State.CLOSING if state is State.CLOSED else state

    @property
    def protocol(self) -> str:
        """The subprotocol chosen in the handshake, or an empty string (as in ws)."""
        return getattr(self._proto, "subprotocol", None) or ""

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol chosen in the handshake, or ``None``."""
        return getattr(self._proto, "subprotocol", None)

    @property
    def extensions(self) -> dict[str, str]:
        """The negotiated extensions: name to their parameters as negotiated."""
        return {ext.name: ext.describe() for ext in self._proto.extensions}

    @property
    def protocol_version(self) -> int | str:
        """13 (RFC 6455), 8 (hybi-08) or ``"hixie-76"``."""
        return getattr(self._proto, "version", 13)

    @property
    def close_rcvd(self) -> Close | None:
        """The close frame the peer sent, once it arrived."""
        return self._proto.close_rcvd

    @property
    def close_sent(self) -> Close | None:
        """The close frame this side sent, once sent."""
        return self._proto.close_sent

    @property
    def close_rcvd_then_sent(self) -> bool | None:
        """True when the peer closed first, False when this side did, None before."""
        return self._proto.close_rcvd_then_sent

    @property
    def bytes_received(self) -> int:
        """Bytes received after the opening handshake, as ws counts them (0 before open)."""
        if not self._opened:
            return 0
        return self._bytes_read - self._proto.handshake_size

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for sending that the OS has not taken yet."""
        return self._out.size

    @property
    def unread_messages(self) -> int:
        """Messages received that no listener took and ``recv`` has not returned yet."""
        return self._unread()

    @property
    def is_server(self) -> bool:
        """Whether this is the server's end of the connection."""
        return self._proto.side is Side.SERVER

    @property
    def request(self) -> Request | None:
        """The opening handshake request (sent by a client, received by a server)."""
        return getattr(self._proto, "request", None)

    @property
    def response(self) -> Response | None:
        """The opening handshake response."""
        return getattr(self._proto, "response", None)

    @property
    def local_address(self) -> Any:
        """The socket's own address."""
        try:
            return self._sock.getsockname() if self._sock is not None else None
        except OSError:
            return None

    @property
    def socket(self) -> socket.socket:
        """The underlying socket; reading or writing it directly breaks the protocol."""
        return self._sock

    @property
    def opened(self) -> bool:
        """Whether the opening handshake completed (it stays True after the close)."""
        return self._opened

    @property
    def finished(self) -> bool:
        """Whether the TCP connection is gone (the ``close`` event came or is coming)."""
        return self._finished
