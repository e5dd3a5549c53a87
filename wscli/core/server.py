"""ServerProtocol: the server's opening handshake on top of :class:`Protocol` (RFC 6455 §4.2).

The request comes out of :meth:`ServerProtocol.events_received` as a
:class:`~wscli.core.http11.Request`. The I/O layer then asks :meth:`ServerProtocol.accept`
for the response (or builds a refusal with :meth:`ServerProtocol.reject`), may amend it,
and hands it to :meth:`ServerProtocol.send_response`. Frames the client sent right
after its request wait in the buffer until then.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import (
    HandshakeError,
    InvalidHeader,
    InvalidState,
    NegotiationError,
    UnsupportedVersion,
)
from .extensions.base import Extension, ExtensionParameter, ServerExtensionFactory
from .handshake import SUPPORTED_VERSIONS, accept_key, check_key, origin_header
from .headers import (
    Headers,
    build_extension_header,
    parse_extension_header,
    parse_subprotocol_header,
    parse_token_list,
)
from .http11 import (
    MAX_HEAD_SIZE,
    MAX_HEADERS,
    Request,
    Response,
    parse_request,
    starts_like_tls,
)
from .protocol import DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_SIZE, Protocol, Side, State

if TYPE_CHECKING:
    import logging

__all__ = ["ServerProtocol", "SelectSubprotocol", "SERVER_NAME", "Refusal"]

SERVER_NAME = "wscli"

#: ``select_subprotocol(offered, request)`` returns the chosen subprotocol or ``None``.
SelectSubprotocol = Callable[[Sequence[str], Request], "str | None"]


class Refusal(Exception):
    """A handshake refusal carrying the HTTP status to answer with.

    Raised by the request checks of every draft (the legacy ones included) and turned
    into the HTTP answer by ``accept``.
    """

    def __init__(self, status: int, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or Headers()


class ServerProtocol(Protocol):
    """The server side of a connection, from the upgrade request on.

    Args:
        origins: Origin values to accept; ``None`` accepts any. Put ``None`` in the
            list to accept requests without an Origin header (non-browser clients).
        subprotocols: subprotocols this server speaks, in order of preference. The
            client's preferred one that is in this list wins.
        select_subprotocol: a function choosing the subprotocol instead, from the offered
            list and the request; it returns one of the offered names or ``None``.
        extensions: extension factories this server accepts offers for.
        max_size: largest incoming message in bytes.
        max_head_size: limit on the request head in bytes.
        max_headers: limit on the number of request header lines.
        accept_any_subprotocol: with no list and no function, accept the client's first
            subprotocol, as the Node.js ws library does.
    """

    def __init__(
        self,
        *,
        origins: Sequence[str | None] | None = None,
        subprotocols: Sequence[str] | None = None,
        select_subprotocol: SelectSubprotocol | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_fragments: int | None = DEFAULT_MAX_FRAGMENTS,
        max_head_size: int = MAX_HEAD_SIZE,
        max_headers: int = MAX_HEADERS,
        accept_any_subprotocol: bool = True,
        make_mask: Callable[[], bytes] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        super().__init__(
            Side.SERVER,
            state=State.CONNECTING,
            max_size=max_size,
            max_fragments=max_fragments,
            make_mask=make_mask,
            logger=logger,
        )
        self.origins = origins
        self.available_subprotocols = list(subprotocols) if subprotocols is not None else None
        self.select_subprotocol = select_subprotocol
        self.accept_any_subprotocol = accept_any_subprotocol
        self.extension_factories = list(extensions or [])
        self.max_head_size = max_head_size
        self.max_headers = max_headers
        #: The upgrade request, once received.
        self.request: Request | None = None
        #: The response sent, once sent. For a TLS handshake at this plain listener,
        #: the 400 decided but not sent: a TLS client could not read it.
        self.response: Response | None = None
        #: The subprotocol chosen, if any.
        self.subprotocol: str | None = None
        #: The protocol version the client asked for: 13, 8, or "hixie-76" (see legacy/).
        self.version: int | str = 13
        self._pending_extensions: list[Extension] = []

    def _receive_handshake(self) -> None:
        if self.request is not None:
            return  # waiting for send_response(); keep what follows buffered
        try:
            parsed = parse_request(
                self._buf, max_size=self.max_head_size, max_headers=self.max_headers
            )
        except HandshakeError as exc:
            refusal = self.reject(400, f"Failed to open a WebSocket connection: {exc}.\n")
            if starts_like_tls(self._buf):
                # A TLS client (a wss:// URL aimed at this plain listener) cannot read an
                # HTTP answer: hang up at once, so it can say so instead of waiting.
                self.handshake_exc = HandshakeError("tls handshake at a plain ws:// listener")
                self.handshake_exc.__cause__ = exc
                self._send_refusal(refusal, b"")
                return
            self.handshake_exc = exc
            self._send_refusal(refusal)
            return
        if parsed is None:
            return
        request, used = parsed
        del self._buf[:used]
        self.handshake_size = used
        self.request = request
        if self._debug:
            self.logger.debug("< %s %s", request.method, request.path)
        self._events.append(request)

    def _send_refusal(self, response: Response, data: bytes | None = None) -> None:
        """Answer ``response`` (or ``data``: its bytes, none at all when empty), half-close."""
        self.response = response
        if data is None:
            data = response.serialize()
        if data:
            self._out.append(data)
        self._discard = True
        self._buf = bytearray()
        self._send_eof()

    def accept(self, request: Request) -> Response:
        """Check the upgrade request and build the answer: 101, or a refusal.

        A refusal (400, 403, 426) says why in its body; :attr:`handshake_exc` records it.
        """
        try:
            self.version = self._check_request(request)
            key = request.headers["Sec-WebSocket-Key"]
            self._check_origin(request)
            extensions_header, self._pending_extensions = self._negotiate_extensions(request)
            protocol = self._negotiate_subprotocol(request)
        except Refusal as exc:
            self.handshake_exc = self._exception_for(exc)
            response = self.reject(exc.status, f"Failed to open a WebSocket connection: {exc}.\n")
            response.headers.update(exc.headers)
            return response
        headers = Headers()
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Accept"] = accept_key(key)
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol is not None:
            headers["Sec-WebSocket-Protocol"] = protocol
        self.subprotocol = protocol
        headers["Date"] = _http_date()
        headers["Server"] = SERVER_NAME
        return Response(101, "Switching Protocols", headers)

    @staticmethod
    def _exception_for(refusal: Refusal) -> HandshakeError:
        if refusal.status == 426 and "Sec-WebSocket-Version" in refusal.headers:
            return UnsupportedVersion(str(refusal))
        return HandshakeError(str(refusal))

    def _check_request(self, request: Request) -> int:
        self._check_upgrade(request)
        return self._check_version_and_key(request)

    def _check_upgrade(self, request: Request) -> None:
        """Check what every draft's upgrade request has: GET, Upgrade, Connection, Host.

        Hixie-76 requests go through here too (its own checks come after).
        """
        headers = request.headers
        if request.method != "GET":
            raise Refusal(405, f"method {request.method} isn't GET", Headers(Allow="GET"))
        try:
            upgrade = parse_token_list(headers, "Upgrade")
            connection = parse_token_list(headers, "Connection")
        except InvalidHeader as exc:
            raise Refusal(400, str(exc)) from exc
        # Compared case-insensitively: hixie-76 §5.1 spells it "WebSocket".
        if "websocket" not in upgrade:
            # A plain HTTP request: say how to talk to this endpoint (RFC 7231 §6.5.15).
            raise Refusal(
                426,
                "missing Upgrade: websocket header",
                Headers([("Upgrade", "websocket"), ("Connection", "Upgrade")]),
            )
        if "upgrade" not in connection:
            raise Refusal(400, "missing Connection: Upgrade header")
        if len(headers.get_all("Host")) != 1:
            raise Refusal(400, "missing or repeated Host header")

    def _check_version_and_key(self, request: Request) -> int:
        headers = request.headers
        versions = headers.get_all("Sec-WebSocket-Version")
        if len(versions) != 1 or versions[0].strip() not in SUPPORTED_VERSIONS:
            # RFC 6455 §4.4: answer 426 listing the versions this server speaks.
            asked = ", ".join(versions) or "none"
            raise Refusal(
                426,
                f"unsupported websocket version {asked}",
                Headers([("Sec-WebSocket-Version", ", ".join(SUPPORTED_VERSIONS))]),
            )
        keys = headers.get_all("Sec-WebSocket-Key")
        if len(keys) != 1 or not check_key(keys[0]):
            raise Refusal(400, "missing or invalid Sec-WebSocket-Key header")
        return int(versions[0])

    def _check_origin(self, request: Request) -> None:
        if self.origins is None:
            return
        name = origin_header(self.version)
        values = request.headers.get_all(name)
        if len(values) > 1:
            raise Refusal(400, f"repeated {name} header")
        origin = values[0] if values else None
        if origin not in self.origins:
            raise Refusal(403, f"origin {origin or '(none)'} is not allowed")

    def _negotiate_extensions(self, request: Request) -> tuple[str | None, list[Extension]]:
        if not self.extension_factories:
            return None, []
        try:
            offers = parse_extension_header(request.headers)
        except InvalidHeader as exc:
            raise Refusal(400, str(exc)) from exc
        accepted: list[Extension] = []
        answers: list[tuple[str, list[ExtensionParameter]]] = []
        for name, params in offers:
            for factory in self.extension_factories:
                if factory.name != name or any(e.name == name for e in accepted):
                    continue
                try:
                    response_params, extension = factory.process_request_params(params, accepted)
                except NegotiationError:
                    continue  # decline this offer; a later one may fit
                accepted.append(extension)
                answers.append((name, response_params))
                break
        if not answers:
            return None, []
        return build_extension_header(answers), accepted

    def _negotiate_subprotocol(self, request: Request) -> str | None:
        try:
            offered = parse_subprotocol_header(request.headers)
        except InvalidHeader as exc:
            raise Refusal(400, str(exc)) from exc
        if not offered:
            return None
        if self.select_subprotocol is not None:
            chosen = self.select_subprotocol(offered, request)
            if chosen is not None and chosen not in offered:
                raise Refusal(500, f"selected subprotocol {chosen} wasn't offered")
            return chosen
        if self.available_subprotocols is not None:
            for protocol in offered:
                if protocol in self.available_subprotocols:
                    return protocol
            return None
        return offered[0] if self.accept_any_subprotocol else None

    def reject(self, status: int, text: str = "") -> Response:
        """Build a refusal with a plain-text body; send it with :meth:`send_response`."""
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        body = (text or f"{status} {phrase}\n").encode()
        headers = Headers()
        headers["Date"] = _http_date()
        headers["Server"] = SERVER_NAME
        headers["Connection"] = "close"
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Length"] = str(len(body))
        return Response(status, phrase, headers, body)

    def send_response(self, response: Response) -> None:
        """Send the handshake answer; 101 opens the connection, anything else closes it.

        Raises:
            InvalidState: no request is pending, or a response was sent already.
            ValueError: a header added to ``response`` has a name that is not a token
                or a value with a control character; nothing was sent and the request
                is still waiting, so a corrected or refusing response may follow.
        """
        if self.request is None or self.response is not None:
            raise InvalidState("no handshake request is waiting for a response")
        data = response.serialize()  # checks every header before anything changes
        if response.status_code != 101:
            if self.handshake_exc is None:
                self.handshake_exc = HandshakeError(
                    f"connection refused with HTTP {response.status_code}"
                )
            self._send_refusal(response, data)
            return
        self.response = response
        if self._debug:
            self.logger.debug("> 101 Switching Protocols")
        self._out.append(data)
        self.set_extensions(self._pending_extensions)
        self.state = State.OPEN
        if self._buf:
            self._parse()


def _http_date() -> str:
    """Return the current time as an HTTP ``Date`` value.

    :mod:`email.utils` is imported on first use: it loads :mod:`socket`, which importing the
    sans-I/O core should not.
    """
    import email.utils

    return email.utils.formatdate(usegmt=True)
