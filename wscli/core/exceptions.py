"""The exceptions raised by wscli.core.

The tree separates what the peer did from what the caller did::

    WebSocketError
    ├── InvalidURI
    ├── ConnectionClosed ─ ConnectionClosedOK / ConnectionClosedError
    ├── HandshakeError
    │   ├── InvalidStatus        client: the answer wasn't 101; keeps the response
    │   ├── InvalidHeader        missing or malformed Upgrade, Connection, Sec-WebSocket-*
    │   ├── UnsupportedVersion   server: answered 426
    │   └── NegotiationError     extension or subprotocol parameters refused
    ├── ProtocolError            the peer broke the protocol; carries the close code to send
    │   └── PayloadTooBig        1009; extensions raise it too when inflating past the limit
    ├── InvalidState             caller misuse, e.g. sending after close
    └── ConcurrencyError         two threads reading one connection

    OSError
    └── ConnectFailed            DNS, TCP, TLS or a Unix socket failed; the message says why
        ├── TLSFailed            the TLS handshake failed, or the server refused our certificate
        └── ProxyError           the proxy refused or failed to open the tunnel

``ConnectFailed`` is an ``OSError`` rather than a ``WebSocketError`` because callers
already catch ``OSError`` for network failures.

``ProtocolError`` and ``HandshakeError`` mean the peer misbehaved; ``InvalidState``,
``ConcurrencyError``, ``TypeError`` and ``ValueError`` mean the calling code did.
Messages are lowercase fragments such as ``invalid opcode 0x3``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .redact import redact_userinfo

if TYPE_CHECKING:
    from .frames import Close
    from .http11 import Request, Response

__all__ = [
    "WebSocketError",
    "InvalidURI",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "HandshakeError",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHandshake",
    "UnsupportedVersion",
    "NegotiationError",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidState",
    "ConcurrencyError",
    "ConnectFailed",
    "TLSFailed",
    "ProxyError",
]


class WebSocketError(Exception):
    """Base class of every exception wscli.core raises on purpose."""


class InvalidURI(WebSocketError, ValueError):
    """The address is not a usable ws:// or wss:// URI."""

    def __init__(self, uri: str, why: str) -> None:
        # The message never repeats a password typed in the address.
        super().__init__(f"{redact_userinfo(uri)!r} isn't a valid websocket uri: {why}")
        self.uri = uri
        self.why = why


class ConnectionClosed(WebSocketError):
    """The connection is closed; carries the close frames sent and received, when any.

    ``rcvd`` is the close frame the peer sent and ``sent`` the one we sent; either is
    ``None`` when that frame never crossed the wire (an abrupt drop leaves both empty).
    """

    def __init__(self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None = None):
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        super().__init__(self._describe())

    @property
    def code(self) -> int:
        """The close code the peer sent, 1006 when none arrived (RFC 6455 §7.1.5)."""
        if self.rcvd is None:
            return 1006
        return self.rcvd.code

    @property
    def reason(self) -> str:
        """The close reason the peer sent, or an empty string."""
        return "" if self.rcvd is None else self.rcvd.reason

    def _describe(self) -> str:
        if self.rcvd is None and self.sent is None:
            return "no close frame received or sent"
        if self.rcvd is None:
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally: 1000, 1001 or no code, both ways (``OK_CLOSE_CODES``)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code, or was dropped without a close handshake."""


class HandshakeError(WebSocketError):
    """The opening handshake failed."""


InvalidHandshake = HandshakeError


class InvalidStatus(HandshakeError):
    """The server answered the upgrade with a status other than 101.

    The whole response is kept in ``response`` so callers can show it, and the
    request it answered in ``request`` (``None`` when not known).
    """

    def __init__(self, response: Response, request: Request | None = None) -> None:
        self.response = response
        self.request = request
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        super().__init__(
            f"server rejected websocket connection: HTTP {response.status_code}{reason}"
        )

    @property
    def status_code(self) -> int:
        """The HTTP status code of the refusal."""
        return self.response.status_code


class InvalidHeader(HandshakeError):
    """A handshake header is missing or malformed."""

    def __init__(self, name: str, value: str | None = None, why: str | None = None) -> None:
        self.name = name
        self.value = value
        if value is None:
            message = f"missing {name} header"
        elif value == "":
            message = f"empty {name} header"
        else:
            message = f"invalid {name} header: {value}"
        if why:
            message += f" ({why})"
        super().__init__(message)


class UnsupportedVersion(HandshakeError):
    """The client asked for a protocol version this server does not speak (426)."""


class NegotiationError(HandshakeError):
    """Extension or subprotocol parameters could not be agreed on."""


class ProtocolError(WebSocketError):
    """The peer broke the protocol.

    ``code`` is the close code (RFC 6455 §7.4.1) sent when failing the connection.
    """

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


class PayloadTooBig(ProtocolError):
    """A message is larger than the configured maximum (close code 1009)."""

    def __init__(self, message: str, code: int = 1009) -> None:
        super().__init__(message, code)


class InvalidState(WebSocketError):
    """The caller used the connection in a state that does not allow it."""


class ConcurrencyError(WebSocketError, RuntimeError):
    """Two threads tried to read one connection at the same time."""


class ConnectFailed(OSError):
    """The TCP, TLS or Unix-socket connection could not be made; the message says why."""


class TLSFailed(ConnectFailed):
    """TLS could not be set up: the handshake failed or the server refused our certificate.

    With TLS 1.3 a server refuses a client certificate only after the client's side of the
    handshake ended, at the first read; that refusal is a ``TLSFailed`` too, raised by
    ``connect()`` and emitted as the ``error`` event alike.
    """


class ProxyError(ConnectFailed):
    """The proxy refused or failed to open the tunnel; the message says why."""
