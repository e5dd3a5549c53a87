"""Sharing a port with an ``http.server`` server: taking over the connections that upgrade.

Two ways, as in ws:

* ``Server(server=httpd)`` (:func:`attach_to`): the HTTP server keeps serving its pages;
  a request that asks to upgrade to WebSocket (for the ``path`` the WebSocket server
  handles, if it has one) never reaches the request handler's ``do_GET`` and becomes a
  WebSocket connection instead.
* ``Server(no_server=True)`` and ``server.handle_upgrade(self)`` called from a handler's
  ``do_GET``: the application decides which requests to upgrade.

Either way the socket leaves the HTTP server: the handler must not answer or close
it, and ``socketserver`` must not shut it down when the handler returns. That is what
:func:`take_over` arranges: it marks the socket as taken so the server's
``shutdown_request`` leaves it alone, collects the bytes the handler's buffered reader
already read past the request head (a client may send frames, or hixie-76's key3,
right behind its request), and ends the handler's keep-alive loop. The connection
then lives on the WebSocket server's reactor like any accepted socket.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from ..headers import Headers
from ..http11 import Request

__all__ = ["attach_to", "as_request", "take_over", "is_upgrade_request", "UpgradeTarget"]

_TAKEN = "_wscli_taken_sockets"


class UpgradeTarget(Protocol):
    """What :func:`attach_to` needs of a WebSocket server."""

    @property
    def closing(self) -> bool:
        """Whether the server stopped taking connections."""

    def should_handle(self, request: Request) -> bool:
        """Tell whether the server wants this upgrade request."""

    def handle_upgrade(self, request: Any) -> None:
        """Take over the handler's connection."""


def as_request(request: Any) -> Request:
    """Return ``request`` as a :class:`~wscli.core.http11.Request`.

    Args:
        request: a ``Request``, or an ``http.server`` request handler whose request
            line and headers were parsed (its ``command``, ``path`` and ``headers``).

    Raises:
        TypeError: ``request`` is neither.
    """
    if isinstance(request, Request):
        return request
    command = getattr(request, "command", None)
    path = getattr(request, "path", None)
    headers = getattr(request, "headers", None)
    if not command or not path or headers is None or not hasattr(headers, "items"):
        raise TypeError(
            f"expected a Request or an http.server request handler, not {type(request).__name__}"
        )
    return Request(str(path), Headers([(str(k), str(v)) for k, v in headers.items()]), str(command))


def is_upgrade_request(request: Request) -> bool:
    """Tell whether ``request`` asks to upgrade to WebSocket (any draft)."""
    upgrade = ",".join(request.headers.get_all("Upgrade")).lower()
    return request.method == "GET" and "websocket" in upgrade


def _keep_taken_sockets(httpd: Any) -> set[Any]:
    """Make ``httpd.shutdown_request`` skip sockets handed to a WebSocket server."""
    taken: set[Any] | None = getattr(httpd, _TAKEN, None)
    if taken is not None:
        return taken
    taken = set()
    setattr(httpd, _TAKEN, taken)
    original = httpd.shutdown_request

    def shutdown_request(request: Any) -> None:
        if request in taken:
            taken.discard(request)
            return
        original(request)

    # An instance attribute wins over the method, for this server only.
    httpd.shutdown_request = shutdown_request
    return taken


def _buffered_bytes(handler: Any, sock: socket.socket) -> bytes:
    """Take what the handler's reader holds past the request head, without blocking."""
    rfile: Any = getattr(handler, "rfile", None)
    peek = getattr(rfile, "peek", None)
    if peek is None:
        return b""
    sock.setblocking(False)
    try:
        # peek() returns the buffer, or does at most one (here non-blocking) read.
        data = peek()
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return b""
    except (OSError, ValueError):
        return b""
    if not data:
        return b""
    return bytes(rfile.read(len(data)))


def take_over(handler: Any) -> tuple[socket.socket, bytes]:
    """Detach an ``http.server`` handler's connection so a WebSocket server can serve it.

    Call it on the handler's thread, after the request head was parsed and before
    anything was written.

    Args:
        handler: a ``BaseHTTPRequestHandler`` (or any ``socketserver`` stream handler
            with ``connection``, ``server`` and a buffered ``rfile``).

    Returns:
        The socket and the bytes already read past the request head.
    """
    sock = getattr(handler, "connection", None) or handler.request
    server = getattr(handler, "server", None)
    if server is not None:
        _keep_taken_sockets(server).add(handler.request)
    head = _buffered_bytes(handler, sock)
    # End BaseHTTPRequestHandler.handle()'s keep-alive loop without touching the socket.
    handler.close_connection = True
    return sock, head


def attach_to(httpd: Any, ws_server: UpgradeTarget) -> None:
    """Make ``httpd`` hand its WebSocket upgrade requests to ``ws_server``.

    Other requests, and upgrades for another path than ``ws_server.path``, go to the
    HTTP server's own handler as before.

    Args:
        httpd: an ``http.server.HTTPServer`` / ``ThreadingHTTPServer``, or any
            ``socketserver`` server whose handler class is a ``BaseHTTPRequestHandler``.
        ws_server: the WebSocket server that takes the connections.

    Raises:
        TypeError: the server's handler class does not parse HTTP.
    """
    handler_class = getattr(httpd, "RequestHandlerClass", None)
    if not isinstance(handler_class, type) or not issubclass(handler_class, BaseHTTPRequestHandler):
        raise TypeError(
            "Server(server=...) needs a socketserver server whose RequestHandlerClass is "
            "an http.server.BaseHTTPRequestHandler; for anything else use no_server=True "
            "and handle_upgrade()"
        )
    _keep_taken_sockets(httpd)

    class UpgradingHandler(handler_class):  # type: ignore[valid-type,misc]
        """The application's handler, minus the requests that become WebSockets."""

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            with contextlib.suppress(TypeError):
                request = as_request(self)
                if (
                    not ws_server.closing
                    and is_upgrade_request(request)
                    and ws_server.should_handle(request)
                ):
                    ws_server.handle_upgrade(self)
                    return False  # handle_one_request() then returns without do_GET
            return True

    UpgradingHandler.__name__ = UpgradingHandler.__qualname__ = (
        f"WebSocketUpgrading{handler_class.__name__}"
    )
    httpd.RequestHandlerClass = UpgradingHandler
