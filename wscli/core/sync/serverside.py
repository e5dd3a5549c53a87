"""ServerWebSocket: the server's end of a connection, owner of its opening handshake.

A :class:`~wscli.core.sync.server.Server` accepts a socket and builds a
:class:`ServerWebSocket` for it; from then on the connection drives its own handshake
on the reactor thread: it reads the upgrade request, asks the server's policy
(:class:`ServerPolicy`: the path, ``verify_client``, the connection limit), then
refuses with an HTTP answer or accepts and opens. The server keeps the decisions and
the bookkeeping (which clients are open); it never touches the connection's protocol,
lock or buffers.

``verify_client`` may answer later, from any thread, through a callback: meanwhile the
connection reads nothing more, so what a client sends behind its request cannot pile
up unparsed.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, Protocol

from ..exceptions import HandshakeError
from ..handshake import origin_header
from ..http11 import Request, Response
from ..protocol import State
from ..server import ServerProtocol
from .reactor import Reactor
from .websocket import WebSocket

__all__ = ["ClientInfo", "ServerPolicy", "ServerWebSocket", "VerifyResult"]

VerifyResult = Any  # bool, or (False, status[, message[, headers]])


class ClientInfo:
    """What ``verify_client`` is given: ``origin``, ``secure``, ``req`` (the request)."""

    __slots__ = ("origin", "secure", "req", "remote_address")

    def __init__(self, origin: str | None, secure: bool, req: Request, remote_address: Any) -> None:
        self.origin = origin
        self.secure = secure
        self.req = req
        self.remote_address = remote_address

    @property
    def request(self) -> Request:
        """The upgrade request (``req`` in ws)."""
        return self.req


class ServerPolicy(Protocol):
    """What a :class:`ServerWebSocket` asks its server; the server implements it."""

    @property
    def secure(self) -> bool:
        """Whether connections arrive over TLS."""

    def refusal_for(self, request: Request) -> tuple[int, str] | None:
        """Return ``(status, message)`` to refuse ``request`` at once, or None."""

    def verifier(self) -> tuple[Callable[..., Any] | None, bool]:
        """Return ``verify_client`` (or None) and whether it takes a callback."""

    def admits_more(self) -> bool:
        """Tell whether one more connection may open (``max_connections``)."""

    def emit(self, name: str, *args: Any) -> bool:
        """Emit a server event (``headers``, ``error``)."""

    def report_error(self, where: str, exc: BaseException) -> None:
        """Report an exception raised by the application's ``where`` (``verify_client``)."""

    def connection_opened(self, ws: ServerWebSocket, request: Request) -> None:
        """Record an open connection and announce it (the ``connection`` event)."""

    def connection_closed(self, ws: ServerWebSocket) -> None:
        """Forget a connection that ended, open or not."""


class ServerWebSocket(WebSocket):
    """The server's end of a WebSocket connection.

    :class:`WebSocket`'s public constructor connects to an address, as a client; this
    one starts from an accepted socket and a :class:`~wscli.core.server.ServerProtocol`,
    and goes through the construction path both ends share
    (:meth:`WebSocket._init_end`), so it is a :class:`WebSocket` in every respect
    (``isinstance`` included) and owns only its handshake.

    Args:
        sock: the accepted socket (TLS already negotiated).
        protocol: the server protocol, waiting for the request.
        reactor: the server's reactor.
        policy: the server deciding about the request.
        keep_request: keep the request's headers after the handshake (see
            ``Server(keep_request=...)``).
        options: the connection options (timeouts, limits), as for :class:`WebSocket`.
    """

    _keep_request = False
    _refusal_message: str | None = None
    _refusal_reported = False

    def __init__(
        self,
        sock: socket.socket,
        protocol: ServerProtocol,
        reactor: Reactor,
        policy: ServerPolicy,
        *,
        keep_request: bool = False,
        **options: Any,
    ) -> None:
        # The server's end is sent nowhere: no address, no redirect.
        self._init_end(sock, protocol, reactor, redirects=[], **options)
        self._server_proto = protocol
        self._policy = policy
        if keep_request:
            self._keep_request = True

    def start(self, head: bytes = b"") -> None:
        """On the reactor thread, once the server recorded it: serve the socket.

        Args:
            head: bytes already read from the socket (an embedding HTTP server's
                request, and what followed it).
        """
        self._start(head)

    # -- the opening handshake ------------------------------------------------------

    def _request_received(self, request: Request) -> None:
        """On the reactor thread: the upgrade request arrived; ask the policy."""
        policy = self._policy
        refusal = policy.refusal_for(request)
        if refusal is not None:
            self.refuse(*refusal)
            return
        verify, takes_callback = policy.verifier()
        if verify is None:
            self._accept(request)
            return
        # accept() has not run yet, so read the version from the request itself.
        version = (request.headers.get("Sec-WebSocket-Version") or "").strip()
        origin = request.headers.get(origin_header(version))
        info = ClientInfo(origin, policy.secure, request, self.remote_address)
        if takes_callback:
            # Read nothing more until the answer comes: what follows the request
            # would otherwise pile up unparsed.
            self._set_reading_paused(True)

            def answer(
                result: Any, status: int = 401, message: str | None = None, headers: Any = None
            ) -> None:
                outcome = result if result else (False, status, message, headers)
                self._reactor.call_soon(self._verified, request, outcome)

            try:
                verify(info, answer)
            except Exception as exc:
                policy.report_error("verify_client", exc)
                self.refuse(500, "internal error")
            return
        try:
            outcome = verify(info)
        except Exception as exc:
            policy.report_error("verify_client", exc)
            self.refuse(500, "internal error")
            return
        self._verified(request, outcome)

    def _verified(self, request: Request, outcome: VerifyResult) -> None:
        if self._finished:
            return
        if self._paused:
            self._set_reading_paused(False)
        if outcome is True or (outcome and not isinstance(outcome, tuple)):
            self._accept(request)
            return
        status, message, headers = 401, None, None
        if isinstance(outcome, tuple):
            if outcome and outcome[0]:
                self._accept(request)
                return
            status = outcome[1] if len(outcome) > 1 and outcome[1] else 401
            message = outcome[2] if len(outcome) > 2 else None
            headers = outcome[3] if len(outcome) > 3 else None
        self.refuse(status, message, headers)

    def refuse(self, status: int, message: str | None = None, headers: Any = None) -> None:
        """On the reactor thread: answer the upgrade with ``status`` and close.

        Args:
            status: the HTTP status.
            message: the body's one line, if any.
            headers: extra response headers.
        """
        proto = self._server_proto
        self._refusal_message = message or ""
        text = f"{message}\n" if message else ""
        response = proto.reject(status, text)
        if headers:
            response.headers.update(headers)
        if proto.handshake_exc is None:
            proto.handshake_exc = HandshakeError(
                f"refused with HTTP {status}" + (f": {message}" if message else "")
            )
        self._send_response(response)

    def _accept(self, request: Request) -> None:
        proto = self._server_proto
        policy = self._policy
        response = proto.accept(request)
        if response.status_code == 101 and not policy.admits_more():
            # Checked after the request itself, so a bad Origin still gets its 403.
            self.refuse(503, "too many connections")
            return
        if response.status_code == 101:
            policy.emit("headers", response.headers, request)
        self._send_response(response)
        if proto.state is not State.OPEN:
            return
        self._opened_now()
        policy.connection_opened(self, request)
        if not self._keep_request:
            proto.forget_handshake_headers()
        # Frames that came right behind the request were parsed by send_response().
        with self._lock:
            events = proto.events_received()
            self._queue_output_locked()
        if events:
            self._handle_events(events)
        self._events_handled()

    def _send_response(self, response: Response) -> None:
        proto = self._server_proto
        try:
            response.serialize()
        except ValueError as exc:
            # A header added by a listener or a refusal would inject a line of its own:
            # report it and answer 500 instead, with nothing of the bad header sent.
            self._policy.emit("error", exc)
            response = proto.reject(500, "internal error\n")
        with self._lock:
            proto.send_response(response)
            self._queue_output_locked()
            self._flush_locked()
        self._after_io()

    def _handshake_refused(self) -> None:
        """On the reactor thread: report the refusal just queued (``refused`` event), once.

        Every refusal passes here, whoever decided it: the protocol (a request it cannot
        parse, a version it does not speak, a foreign Origin), the server (path, limit)
        or ``verify_client``.
        """
        if self._refusal_reported:
            return
        response = self._server_proto.response
        if response is None or response.status_code == 101:
            return  # no answer was sent: a timeout or a dropped client, not a refusal
        self._refusal_reported = True
        reason = self._refusal_message
        if reason is None:
            exc = self._server_proto.handshake_exc
            reason = str(exc) if exc is not None else response.reason_phrase
        self._policy.emit(
            "refused", self.remote_address, response.status_code, reason, self._server_proto.request
        )

    # -- the end --------------------------------------------------------------------------

    def _closed(self) -> None:
        # A refusal whose client vanished at once may end before the hook ran.
        self._handshake_refused()
        # The server forgets the connection before its close listeners run, as ws does.
        self._policy.connection_closed(self)
        super()._closed()
