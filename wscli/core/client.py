"""ClientProtocol: the client's opening handshake on top of :class:`Protocol` (RFC 6455 §4.1)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import (
    HandshakeError,
    InvalidHeader,
    InvalidStatus,
    NegotiationError,
)
from .extensions.base import ClientExtensionFactory, Extension
from .handshake import accept_key, generate_key, origin_header
from .headers import (
    Headers,
    HeadersLike,
    build_extension_header,
    build_subprotocol_header,
    check_header,
    check_origin,
    check_subprotocol,
    parse_extension_header,
    parse_subprotocol_header,
    parse_token_list,
)
from .http11 import MAX_HEAD_SIZE, MAX_HEADERS, Request, Response, parse_response
from .protocol import DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_SIZE, Protocol, Side, State
from .uri import WebSocketURI

if TYPE_CHECKING:
    import logging

__all__ = ["ClientProtocol", "USER_AGENT", "MAX_REFUSAL_BODY"]

USER_AGENT = "wscli"
#: How much of a refused upgrade's body is kept for the caller to show, in bytes.
MAX_REFUSAL_BODY = 65536


class ClientProtocol(Protocol):
    """The client side of a connection, from the upgrade request on.

    Call :meth:`connect` to build the request, :meth:`send_request` to queue it, then
    feed the response with :meth:`receive_data`. The response comes out of
    :meth:`events_received`; the state is then OPEN, or :attr:`handshake_exc` says why not.

    Args:
        uri: the address connected to.
        origin: the Origin header to send, if any.
        subprotocols: subprotocols to offer, in order of preference.
        extensions: extension factories to offer, in order of preference.
        headers: extra request headers. One of the same name as a header the
            protocol writes (``Host``, ``Origin``, ``User-Agent``...) takes its place.
        host: the Host header, when it should not be the address's host and port.
        version: 13 (RFC 6455) or 8 (hybi-08, which names its origin header
            ``Sec-WebSocket-Origin``).
        user_agent: the User-Agent header; ``None`` leaves it out.
        max_head_size: limit on the response head in bytes.
        max_headers: limit on the number of response header lines.

    Raises:
        ValueError: a header name is not a token, a header value holds a control
            character, a subprotocol is not a token, or ``origin`` is not a serialized
            origin (RFC 6454); the message names the header.
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: str | None = None,
        subprotocols: Sequence[str] | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        headers: HeadersLike | None = None,
        host: str | None = None,
        version: int = 13,
        user_agent: str | None = USER_AGENT,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_fragments: int | None = DEFAULT_MAX_FRAGMENTS,
        max_head_size: int = MAX_HEAD_SIZE,
        max_headers: int = MAX_HEADERS,
        make_mask: Callable[[], bytes] | None = None,
        make_key: Callable[[], str] = generate_key,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        super().__init__(
            Side.CLIENT,
            state=State.CONNECTING,
            max_size=max_size,
            max_fragments=max_fragments,
            make_mask=make_mask,
            logger=logger,
        )
        if version not in (8, 13):
            raise ValueError(f"unsupported protocol version {version}; use 8 or 13")
        # Check what the caller chose before anything is built or sent: a CR or LF in a
        # subprotocol, origin or header value would start a header of its own.
        if origin is not None:
            check_origin(origin, origin_header(version))
        for protocol in subprotocols or []:
            check_subprotocol(protocol)
        extra_headers = Headers(headers) if headers is not None else Headers()
        # An Origin given through ``headers`` gets only the rule every header gets, so
        # a server's origin check can still be tested with odd values.
        for name, value in extra_headers.items():
            check_header(name, value)
        given_origin = origin_header(version) if origin is not None else None
        _check_given_once(extra_headers, given_origin, host)
        if host is not None:
            check_header("Host", host)
        if user_agent is not None:
            check_header("User-Agent", user_agent)
        self.uri = uri
        self.host = host
        self.origin = origin
        self.available_subprotocols = list(subprotocols or [])
        self.extension_factories = list(extensions or [])
        self.extra_headers = extra_headers
        self.version = version
        self.user_agent = user_agent
        self.max_head_size = max_head_size
        self.max_headers = max_headers
        self.key = make_key()
        #: The subprotocol the server chose, if any.
        self.subprotocol: str | None = None
        self._refused: Response | None = None
        self._body_length: int | None = None
        #: The request sent and the response received.
        self.request: Request | None = None
        self.response: Response | None = None

    def connect(self) -> Request:
        """Build the upgrade request; pass it to :meth:`send_request` (maybe amended)."""
        headers = Headers()
        headers["Host"] = self.host if self.host is not None else self.uri.host_header
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = str(self.version)
        if self.uri.user_info is not None and "Authorization" not in self.extra_headers:
            credentials = ":".join(self.uri.user_info).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        if self.origin is not None:
            headers[origin_header(self.version)] = self.origin
        if self.extension_factories:
            offers = [(f.name, f.get_request_params()) for f in self.extension_factories]
            headers["Sec-WebSocket-Extensions"] = build_extension_header(offers)
        if self.available_subprotocols:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol_header(
                self.available_subprotocols
            )
        if self.user_agent is not None and "User-Agent" not in self.extra_headers:
            headers["User-Agent"] = self.user_agent
        return Request(self.uri.resource_name, _overlay(headers, self.extra_headers))

    def send_request(self, request: Request) -> None:
        """Queue the upgrade request for sending."""
        self.request = request
        if self._debug:
            self.logger.debug("> GET %s", request.path)
        self._out.append(request.serialize())

    def _receive_handshake(self) -> None:
        if self._refused is not None:
            self._read_refusal_body()
            return
        try:
            parsed = parse_response(
                self._buf, max_size=self.max_head_size, max_headers=self.max_headers
            )
        except HandshakeError as exc:
            self._handshake_failed(exc)
            return
        if parsed is None:
            return
        response, used = parsed
        del self._buf[:used]
        self.handshake_size = used
        self.response = response
        if response.status_code != 101:
            # Keep the refusal's body (bounded) so callers can show why.
            self._refused = response
            length = response.headers.get("Content-Length") or ""
            self._body_length = int(length) if length.isdigit() else None
            self._read_refusal_body()
            return
        try:
            self.process_response(response)
        except HandshakeError as exc:
            self._handshake_failed(exc)
            self._events.append(response)
            return
        self.state = State.OPEN
        self._events.append(response)

    def _read_refusal_body(self, eof: bool = False) -> None:
        response = self._refused
        assert response is not None
        # With a Content-Length, wait for that much (bounded); without one, take what
        # came with the head rather than wait for an EOF that may never come.
        if self._body_length is None:
            wanted = min(len(self._buf), MAX_REFUSAL_BODY)
        else:
            wanted = min(self._body_length, MAX_REFUSAL_BODY)
        if not eof and len(self._buf) < wanted:
            return
        response.body = bytes(self._buf[:wanted])
        self._refused = None
        self._handshake_failed(InvalidStatus(response, self.request))
        self._events.append(response)

    def end_refusal(self) -> bool:
        """Stop waiting for the rest of a refusal's body (the open timeout ran out).

        A server may announce a longer body than it sends; the refusal is still the
        answer. Returns whether a refusal was pending: the handshake then fails with
        ``InvalidStatus`` keeping the part of the body that arrived.
        """
        if self._refused is None:
            return False
        self._read_refusal_body(eof=True)
        return True

    def receive_eof(self) -> None:
        """Tell the protocol the peer closed its side; ends a refusal's body."""
        if self._refused is not None:
            self._read_refusal_body(eof=True)
        super().receive_eof()

    def _handshake_failed(self, exc: Exception) -> None:
        self.handshake_exc = exc
        self._discard = True
        self._buf = bytearray()
        self._send_eof()

    def process_response(self, response: Response) -> None:
        """Check the server's answer and apply what it negotiated.

        Raises:
            InvalidStatus: the status is not 101.
            InvalidHeader: a required header is missing or wrong.
            NegotiationError: the extensions or subprotocol are not what was offered.
        """
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers
        if "websocket" not in parse_token_list(headers, "Upgrade"):
            raise InvalidHeader("Upgrade", headers.get("Upgrade"))
        if "upgrade" not in parse_token_list(headers, "Connection"):
            raise InvalidHeader("Connection", headers.get("Connection"))
        accepts = headers.get_all("Sec-WebSocket-Accept")
        if len(accepts) != 1:
            raise InvalidHeader("Sec-WebSocket-Accept", None if not accepts else ", ".join(accepts))
        if accepts[0] != accept_key(self.key):
            raise InvalidHeader("Sec-WebSocket-Accept", accepts[0], "wrong key")
        self.set_extensions(self._negotiate_extensions(headers))
        self.subprotocol = self._negotiate_subprotocol(headers)

    def _negotiate_extensions(self, headers: Headers) -> list[Extension]:
        accepted: list[Extension] = []
        for name, params in parse_extension_header(headers):
            for factory in self.extension_factories:
                if factory.name == name:
                    accepted.append(factory.process_response_params(params, accepted))
                    break
            else:
                raise NegotiationError(f"server accepted extension {name}, which wasn't offered")
        return accepted

    def _negotiate_subprotocol(self, headers: Headers) -> str | None:
        protocols = parse_subprotocol_header(headers)
        if not protocols:
            return None
        if len(protocols) > 1:
            raise NegotiationError(f"server chose several subprotocols: {', '.join(protocols)}")
        if protocols[0] not in self.available_subprotocols:
            raise NegotiationError(f"server chose subprotocol {protocols[0]}, which wasn't offered")
        return protocols[0]


def _check_given_once(headers: Headers, origin_header: str | None, host: str | None) -> None:
    """Refuse a header the caller gave twice: two values where the peer expects one.

    Raises:
        ValueError: a name repeats in ``headers``, or names what ``origin``/``host`` set.
    """
    seen: set[str] = set()
    for name, _ in headers.items():
        if name.lower() in seen:
            raise ValueError(f"header {name} given twice; give it once (join values with ', ')")
        seen.add(name.lower())
    if origin_header is not None and origin_header.lower() in seen:
        raise ValueError(f"header {origin_header} given twice: by origin= and in headers")
    if host is not None and "host" in seen:
        raise ValueError("header Host given twice: by host= and in headers")


def _overlay(defaults: Headers, given: Headers) -> Headers:
    """Return ``defaults`` with each header of ``given`` in place of the one it names.

    A replaced header keeps its position (Host stays first, RFC 7230 §5.4); the others
    follow in the caller's order.
    """
    replacements = {name.lower(): (name, value) for name, value in given.items()}
    merged = Headers()
    for name, value in defaults.items():
        merged.update([replacements.pop(name.lower(), (name, value))])
    merged.update(list(replacements.values()))
    return merged
