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

from typing import TYPE_CHECKING, Any

from .client import ClientProtocol
from .exceptions import (
    ConcurrencyError,
    ConnectFailed,
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
    ProxyError,
    TLSFailed,
    UnsupportedVersion,
    WebSocketError,
)
from .frames import Close, CloseCode, Frame, Opcode, close_code_name
from .headers import Headers
from .http11 import Request, Response
from .legacy.hixie76 import Hixie76ServerProtocol
from .protocol import Protocol, Side, State
from .server import ServerProtocol
from .uri import WebSocketURI, parse_uri

if TYPE_CHECKING:
    from .sync.connection import Connection, MessageFlags, PongWaiter, ReadyState
    from .sync.reactor import Reactor
    from .sync.server import ClientInfo, Server, broadcast, serve
    from .sync.timings import ConnectTimings
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

#: The threaded layer's public names and the module each lives in. They load on first use
#: (:func:`__getattr__`), so ``import wscli.core.protocol`` loads no socket, thread or
#: ``wscli.core.sync`` module, while ``from wscli.core import connect`` works as before.
_SYNC_NAMES = {
    "Connection": "connection",
    "MessageFlags": "connection",
    "PongWaiter": "connection",
    "ReadyState": "connection",
    "Reactor": "reactor",
    "ClientInfo": "server",
    "Server": "server",
    "serve": "server",
    "broadcast": "server",
    "ConnectTimings": "timings",
    "TLSInfo": "tls",
    "client_ssl_context": "tls",
    "server_ssl_context": "tls",
    "tls_info": "tls",
    "REDIRECT_STATUSES": "websocket",
    "CloseEvent": "websocket",
    "ErrorEvent": "websocket",
    "MessageEvent": "websocket",
    "OpenEvent": "websocket",
    "RedirectError": "websocket",
    "WebSocket": "websocket",
    "connect": "websocket",
}


def __getattr__(name: str) -> Any:
    """Load a name of the threaded layer on first use (PEP 562)."""
    module = _SYNC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.sync.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SYNC_NAMES))


__all__ = [
    "Hixie76ServerProtocol",
    "ProxyError",
    "REDIRECT_STATUSES",
    "RedirectError",
    "ConnectTimings",
    "TLSInfo",
    "client_ssl_context",
    "server_ssl_context",
    "tls_info",
    "ClientInfo",
    "CloseEvent",
    "ConnectFailed",
    "TLSFailed",
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
    "broadcast",
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
