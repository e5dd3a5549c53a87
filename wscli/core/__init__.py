"""The wscli WebSocket library: a sans-I/O RFC 6455 core and a threaded I/O layer.

Public API, in the manner of the Node.js ws library:

* :func:`connect` opens a client connection and blocks until it is open;
* :class:`WebSocket` connects in the background and emits ``open``, ``message``,
  ``ping``, ``pong``, ``close`` and ``error``;
* :class:`Server` accepts connections and emits ``connection``;

plus the exceptions of :mod:`wscli.core.exceptions` and the sans-I/O protocols for those
who bring their own I/O.
"""

from __future__ import annotations

from .client import ClientProtocol
from .exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    InvalidHandshake,
    InvalidHeader,
    InvalidState,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    UnsupportedVersion,
    WebSocketError,
)
from .frames import Close, CloseCode, Frame, Opcode, close_code_name
from .headers import Headers
from .http11 import Request, Response
from .legacy.hixie76 import Hixie76ServerProtocol
from .protocol import Protocol, Side, State
from .server import ServerProtocol
from .sync.connection import Connection, MessageFlags, PongWaiter, ReadyState
from .sync.net import ConnectFailed
from .sync.proxy import ProxyError
from .sync.reactor import Reactor
from .sync.server import ClientInfo, Server, serve
from .sync.tls import TLSInfo, client_ssl_context, server_ssl_context, tls_info
from .sync.websocket import (
    REDIRECT_STATUSES,
    CloseEvent,
    ErrorEvent,
    MessageEvent,
    OpenEvent,
    RedirectError,
    WebSocket,
    connect,
)
from .uri import WebSocketURI, parse_uri

__all__ = [
    "Hixie76ServerProtocol",
    "ProxyError",
    "REDIRECT_STATUSES",
    "RedirectError",
    "TLSInfo",
    "client_ssl_context",
    "server_ssl_context",
    "tls_info",
    "ClientInfo",
    "CloseEvent",
    "ConnectFailed",
    "Connection",
    "ErrorEvent",
    "MessageEvent",
    "MessageFlags",
    "OpenEvent",
    "PongWaiter",
    "Reactor",
    "ReadyState",
    "Server",
    "WebSocket",
    "connect",
    "serve",
    "ClientProtocol",
    "Close",
    "CloseCode",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Frame",
    "HandshakeError",
    "Headers",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidState",
    "InvalidStatus",
    "InvalidURI",
    "NegotiationError",
    "Opcode",
    "PayloadTooBig",
    "Protocol",
    "ProtocolError",
    "Request",
    "Response",
    "ServerProtocol",
    "Side",
    "State",
    "UnsupportedVersion",
    "WebSocketError",
    "WebSocketURI",
    "close_code_name",
    "parse_uri",
]
