"""WebSocket: the ws-style connection object, for both clients and servers.

``WebSocket(address)`` connects in the background (a short-lived thread resolves and
connects, then hands the socket to the shared reactor) and emits ``open``;
:func:`connect` does the same but blocks until the connection is open and raises if it
cannot be. A :class:`~wscli.core.sync.server.Server` hands out ``WebSocket`` objects too.

**Threads.** Listeners (``on``/``once``, the W3C ``on*`` properties and
``add_event_listener``) run on the reactor thread, one event at a time, in order. A
listener that blocks delays every connection of that reactor; hand slow work to another
thread.

**Listeners and recv() share messages.** A message goes to the ``message`` listeners
when there is at least one; otherwise it waits in a queue that :meth:`recv` and
iteration read. Events that happened before any listener was attached are not lost:
the first ``open``, ``error`` or ``close`` listener added late is called for the event
it missed, and the first ``message`` listener receives the messages still queued.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, overload

from ..client import ClientProtocol
from ..exceptions import (
    ConnectionClosedError,
    InvalidState,
    InvalidStatus,
    InvalidURI,
    TLSFailed,
)
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import PerMessageDeflateOptions, client_factory_from_options
from ..headers import HeadersLike
from ..http11 import MAX_HEAD_SIZE, MAX_HEADERS, Response
from ..legacy.hixie76 import HIXIE76
from ..protocol import DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_SIZE, Protocol, State
from ..uri import WebSocketURI, parse_uri, resolve_redirect, same_origin
from .connection import Connection, ReadyState
from .delivery import ON_REACTOR
from .listeners import WebSocketEvents
from .net import open_stream
from .reactor import Reactor, shared_reactor
from .timings import ConnectTimings, PhaseClock
from .tls import PathOrPEM, TLSInfo, client_ssl_context, describe_tls_error, tls_info

__all__ = [
    "WebSocket",
    "connect",
    "MessageEvent",
    "CloseEvent",
    "ErrorEvent",
    "OpenEvent",
    "RedirectError",
    "REDIRECT_STATUSES",
]

#: Answers to an upgrade that ``follow_redirects`` follows (RFC 7231 §6.4, RFC 7538).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

logger = logging.getLogger("wscli.core")

_Self = TypeVar("_Self", bound="WebSocket")


class OpenEvent:
    """What ``onopen`` and ``open`` event listeners get (W3C style)."""

    type = "open"

    def __init__(self, target: WebSocket) -> None:
        self.target = target


class MessageEvent:
    """What ``onmessage`` gets: ``data`` is ``str`` for text, ``bytes`` for binary."""

    type = "message"

    def __init__(self, target: WebSocket, data: str | bytes, binary: bool) -> None:
        self.target = target
        self.data = data
        self.binary = binary


class CloseEvent:
    """What ``onclose`` gets: the code, the reason, and whether the handshake completed."""

    type = "close"

    def __init__(self, target: WebSocket, code: int, reason: str, was_clean: bool) -> None:
        self.target = target
        self.code = code
        self.reason = reason
        self.was_clean = was_clean


class ErrorEvent:
    """What ``onerror`` gets: the exception and its message."""

    type = "error"

    def __init__(self, target: WebSocket, error: BaseException) -> None:
        self.target = target
        self.error = error
        self.message = str(error)


class Supports:
    """What ``ws.supports`` describes: ``binary`` is False on hixie-76, which has no
    binary frames (a ``send(bytes)`` there raises)."""

    __slots__ = ("binary",)

    def __init__(self, binary: bool) -> None:
        self.binary = binary

    def __repr__(self) -> str:
        return f"Supports(binary={self.binary})"


_BINARY = Supports(True)
_TEXT_ONLY = Supports(False)


class RedirectError(InvalidStatus):
    """A redirect could not be followed: a loop, too many hops, or an unusable Location.

    It is an :class:`InvalidStatus`, so ``response`` is the last 3xx answer received.
    """

    def __init__(self, response: Response, message: str) -> None:
        super().__init__(response)
        self.args = (message,)


class WebSocket(Connection, WebSocketEvents):
    """A WebSocket connection with the Node.js ws API, in Python form.

    Constructing one starts connecting to ``address`` in the background. Attach
    listeners right away; ``open`` fires once the handshake completes.

    Args:
        address: ``ws://``, ``wss://`` or ``ws+unix://`` address.
        protocols: subprotocols to offer: a list, or a string (``"a, b"`` offers two).
        protocol: the same, under ws's name; give one of the two.
        headers: extra request headers. A header the handshake writes anyway (``Host``,
            ``Origin``, ``User-Agent``...) is replaced, not sent twice; a name given
            twice (also through ``host`` or ``origin``) is a ``ValueError``.
        host: the Host header, when it should not be the address's host and port.
        origin: the Origin header (``Sec-WebSocket-Origin`` with version 8).
        protocol_version: 13 or 8, as a number or a string.
        open_timeout: seconds for DNS, TCP, TLS and the upgrade together.
        close_timeout: seconds to wait for the closing handshake.
        max_payload: largest incoming message in bytes.
        max_fragments: most frames one incoming message may span (1009 beyond).
        per_message_deflate: ``True`` (the default), ``False``, or a dict of
            permessage-deflate options.
        ping_interval: seconds between keepalive pings, ``None`` for none.
        ping_timeout: seconds to wait for a keepalive pong before failing with 1011.
        ssl: a ready ``ssl.SSLContext`` for ``wss://``, instead of the options below.
        ca: trusted authorities instead of the system store: a file, a directory,
            PEM text or a list of those.
        cert: a client certificate (file or PEM), for servers that ask for one.
        key: the private key for ``cert`` when it is in another file.
        passphrase: decrypts ``key`` or ``pfx``.
        pfx: a PKCS#12 bundle with the client key and certificate.
        ciphers: an OpenSSL cipher list (TLS 1.2 and older).
        reject_unauthorized: check the server's certificate and host name (the
            default); False accepts any certificate.
        servername: the name for SNI and the certificate check, when it is not the
            address's host (``server_hostname`` is the same option).
        proxy: an ``http://``, ``socks5://`` or ``socks5h://`` proxy; ``None`` (the
            default) reads ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``; ``False``
            connects directly.
        follow_redirects: follow 301/302/303/307/308 answers to the upgrade, to the
            ``Location`` they give; the ``redirect`` event reports each hop (and the
            ``wscli.core`` logger at INFO). Only ``ws://``/``wss://`` locations are
            followed, never a Unix socket; see ``docs/LIMITS.md`` (security defaults).
        max_redirects: redirects followed before failing with :class:`RedirectError`.
        allow_insecure_redirect: follow a redirect from ``wss://`` to ``ws://``;
            refused by default, so a redirect never turns encryption off.
        location_trusted: keep ``headers``, ``protocols``, ``host``, ``origin`` and the TLS
            options (``ssl``, ``ca``, ``cert``, ``servername``...) on a redirect to
            another origin (scheme, host or port). By default they are meant for the
            first origin only: a cross-origin hop sends none of them and checks the
            new server against the system's trust store.
        extensions: extension factories to offer instead of ``per_message_deflate``.
        max_queue: unread messages held before reading pauses.
        write_limit: buffered outgoing bytes above which senders wait.
        reactor: the reactor to use; the process-wide one by default.
    """

    _last_tls: TLSInfo | None = None
    CONNECTING = ReadyState.CONNECTING
    OPEN = ReadyState.OPEN
    CLOSING = ReadyState.CLOSING
    CLOSED = ReadyState.CLOSED

    _w3c: dict[str, Callable[..., Any]] | None = None
    # The redirect policy of an end that follows no redirect: the server's end keeps
    # these class values; the client constructor sets its own per connection.
    follow_redirects = False
    max_redirects = 0
    allow_insecure_redirect = False
    location_trusted = False
    # The server's end opens nothing itself, so it has no clock: its timings are empty.
    _clock: PhaseClock | None = None

    def __init__(
        self,
        address: str,
        protocols: str | Sequence[str] | None = None,
        *,
        protocol: str | Sequence[str] | None = None,
        headers: HeadersLike | None = None,
        host: str | None = None,
        origin: str | None = None,
        protocol_version: int | str = 13,
        open_timeout: float | None = 10.0,
        close_timeout: float | None = 10.0,
        max_payload: int | None = DEFAULT_MAX_SIZE,
        max_fragments: int | None = DEFAULT_MAX_FRAGMENTS,
        per_message_deflate: bool | PerMessageDeflateOptions = True,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        ssl: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        ca: PathOrPEM | list[PathOrPEM] | None = None,
        cert: PathOrPEM | None = None,
        key: PathOrPEM | None = None,
        passphrase: str | bytes | None = None,
        pfx: PathOrPEM | None = None,
        ciphers: str | None = None,
        reject_unauthorized: bool = True,
        servername: str | None = None,
        proxy: str | bool | None = None,
        follow_redirects: bool = False,
        max_redirects: int = 10,
        allow_insecure_redirect: bool = False,
        location_trusted: bool = False,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        max_queue: int = 64,
        write_limit: int = 4 * 2**20,
        max_head_size: int = MAX_HEAD_SIZE,
        max_headers: int = MAX_HEADERS,
        reactor: Reactor | None = None,
        _background: bool = True,
    ) -> None:
        uri = parse_uri(address)
        if protocol is not None:
            if protocols is not None:
                raise ValueError("give protocols or protocol (the same option), not both")
            protocols = protocol
        if isinstance(protocols, str):
            # ws sends the string as it is: "chat, superchat" offers two subprotocols.
            protocols = [name.strip() for name in protocols.split(",")]
        if extensions is None:
            factory = client_factory_from_options(per_message_deflate)
            extensions = [factory] if factory is not None else []
        if servername is not None and server_hostname not in (None, servername):
            raise ValueError("servername and server_hostname disagree; give one")
        tls_options = (ca, cert, key, passphrase, pfx, ciphers)
        if any(option is not None for option in tls_options) or not reject_unauthorized:
            if ssl is not None:
                raise ValueError("give either ssl or the tls options (ca, cert, ...), not both")
            ssl = client_ssl_context(
                ca=ca,
                cert=cert,
                key=key,
                passphrase=passphrase,
                pfx=pfx,
                ciphers=ciphers,
                reject_unauthorized=reject_unauthorized,
            )
        if max_redirects < 0:
            raise ValueError("max_redirects must be 0 or more")
        self._client_options: dict[str, Any] = {
            "origin": origin,
            "subprotocols": protocols,
            "extensions": extensions,
            "headers": headers,
            "host": host,
            "version": _protocol_version(protocol_version),
            "max_size": max_payload,
            "max_fragments": max_fragments,
            "max_head_size": max_head_size,
            "max_headers": max_headers,
        }
        proto = ClientProtocol(uri, **self._client_options)
        self._uri = uri
        self._ssl_context = ssl
        self._server_hostname = servername or server_hostname
        self._proxy = proxy
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.allow_insecure_redirect = allow_insecure_redirect
        self.location_trusted = location_trusted
        self._connect_deadline = None if open_timeout is None else time.monotonic() + open_timeout
        self._clock = PhaseClock()
        self._upgrade_started = 0.0
        self._init_end(
            None,  # attached once connected
            proto,
            reactor or shared_reactor(),
            redirects=[str(uri)],
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            url=str(uri),
        )
        if _background:
            threading.Thread(
                target=self._connect_in_thread, name="wscli-connect", daemon=True
            ).start()
        else:
            # connect(): the constructor opens on the calling thread and returns open.
            self._open_here()

    def _init_end(
        self,
        sock: socket.socket | None,
        proto: Protocol,
        reactor: Reactor,
        *,
        redirects: list[str],
        **options: Any,
    ) -> None:
        """Build what every WebSocket has, whichever end of the connection it is.

        This is the one constructor path both ends go through. The client constructor
        (``__init__``) parses its address and options into a
        :class:`~wscli.core.client.ClientProtocol`, then calls this;
        :class:`~wscli.core.sync.serverside.ServerWebSocket`'s constructor calls it with
        an accepted socket and a :class:`~wscli.core.server.ServerProtocol`, since an
        accepted connection has no address to connect to. What only a client uses (the
        redirect policy) keeps the class values above on the server's end, so both ends
        carry every documented attribute without either setting the other's.

        Args:
            sock: the connected socket, or None while a client is still connecting.
            proto: the sans-I/O protocol of this end.
            reactor: the reactor that will serve the socket.
            redirects: the ``redirects`` list: the first address for a client, empty
                for the server's end (it is sent nowhere).
            options: the connection options (timeouts, limits, ``url``).
        """
        #: Every address this connection was sent to, the first one included.
        self.redirects = redirects
        Connection.__init__(self, sock, proto, reactor, **options)

    # -- connecting (client) ----------------------------------------------------------

    def _remaining(self) -> float | None:
        if self._connect_deadline is None:
            return None
        return max(0.001, self._connect_deadline - time.monotonic())

    def _open_socket(self) -> Any:
        # A fresh clock per attempt: after a redirect, the timings are the last hop's.
        self._clock = PhaseClock()
        return open_stream(
            self._uri,
            timeout=self._remaining(),
            ssl_context=self._ssl_context,
            server_hostname=self._server_hostname,
            proxy=self._proxy,
            clock=self._clock,
        )

    @property
    def timings(self) -> ConnectTimings:
        """How long each phase of opening took, in seconds (see :class:`ConnectTimings`).

        Phases not yet run or that did not happen (no proxy, no TLS) are ``None``; read
        it once open for the whole picture. On the server's end of a connection, which
        connected nowhere, every phase is ``None``.
        """
        clock = self._clock
        return clock.snapshot() if clock is not None else ConnectTimings()

    def _connect_in_thread(self) -> None:
        try:
            sock = self._open_socket()
        except OSError as exc:
            self._reactor.call_soon(self._fail_now, exc)
            return
        self._reactor.call_soon(self._attach, sock)

    def _attach(self, sock: Any) -> None:
        """On the reactor thread: take over the connected socket and send the upgrade."""
        if self._finished:
            sock.close()
            return
        self._set_socket(sock)
        proto = self._proto
        assert isinstance(proto, ClientProtocol)
        with self._lock:
            self._upgrade_started = time.perf_counter()
            proto.send_request(proto.connect())
        self.open_timeout = self._remaining()
        self._start()

    def _open_timed_out(self) -> None:
        proto = self._proto
        if isinstance(proto, ClientProtocol) and proto.end_refusal():
            # The refusal is the answer even when its body never fully arrived.
            assert proto.handshake_exc is not None
            self._fail_now(proto.handshake_exc)
            return
        super()._open_timed_out()

    # -- redirects (client) -------------------------------------------------------------

    def _handshake_done(self) -> None:
        """On the reactor thread: open, follow a redirect, or fail."""
        clock = self._clock
        assert clock is not None  # set by the client constructor, the only one here
        clock.end("upgrade", self._upgrade_started)
        proto = self._proto
        if proto.state is not State.OPEN and self.follow_redirects:
            exc = proto.handshake_exc
            if isinstance(exc, InvalidStatus) and exc.status_code in REDIRECT_STATUSES:
                try:
                    target = self._redirect_target(exc.response)
                except RedirectError as error:
                    proto.handshake_exc = error
                else:
                    if target is not None:
                        self._reconnect(target, exc.response)
                        return
        super()._handshake_done()

    def _redirect_target(self, response: Response) -> WebSocketURI | None:
        """Work out where a 3xx answer sends us; ``None`` when it names no place."""
        location = response.headers.get("Location")
        if not location:
            return None
        try:
            target = resolve_redirect(
                self._uri, location, allow_insecure=self.allow_insecure_redirect
            )
        except InvalidURI as exc:
            raise RedirectError(
                response, f"cannot follow redirect to {location!r}: {exc.why}"
            ) from exc
        if len(self.redirects) - 1 >= self.max_redirects:
            raise RedirectError(
                response,
                f"too many redirects (more than {self.max_redirects}) from {self.redirects[0]}",
            )
        if str(target) in self.redirects:
            chain = " -> ".join([*self.redirects[self.redirects.index(str(target)) :], str(target)])
            raise RedirectError(response, f"redirect loop: {chain}")
        return target

    def _reconnect(self, target: WebSocketURI, response: Response) -> None:
        """On the reactor thread: drop the refused connection and start one to ``target``.

        The object the caller holds stays the same; its socket and protocol are
        replaced, and the time spent so far counts against ``open_timeout``.
        """
        old = self._uri
        options = self._client_options
        dropped = ""
        if not same_origin(old, target) and not self.location_trusted:
            # What the caller chose for the first origin stays there: any header may
            # be a credential (X-Api-Key), so may a subprotocol (a bearer token, as
            # Kubernetes carries it); Origin named the first site; SNI, a client
            # certificate and a private CA were for the first host.
            dropped = self._forget_first_origin()
            options = self._client_options
        logger.info("%s: %d redirect to %s%s", old, response.status_code, target, dropped)
        self._replace_transport(ClientProtocol(target, **options))
        self._uri = target
        self.url = str(target)
        self.redirects.append(str(target))
        self.emit("redirect", str(target), response)
        threading.Thread(target=self._connect_in_thread, name="wscli-connect", daemon=True).start()

    def _forget_first_origin(self) -> str:
        """Drop the caller's headers, subprotocols, Origin and TLS options; say which."""
        options = dict(self._client_options)
        dropped = [
            what
            for what, present in (
                ("headers", bool(options["headers"])),
                ("subprotocols", bool(options["subprotocols"])),
                ("origin", options["origin"] is not None),
                ("host", options["host"] is not None),
                ("tls options", self._ssl_context is not None or bool(self._server_hostname)),
            )
            if present
        ]
        options.update(headers=None, subprotocols=None, origin=None, host=None)
        self._client_options = options
        self._ssl_context = None
        self._server_hostname = None
        if not dropped:
            return ""
        return f" (another origin: not sending its {', '.join(dropped)})"

    # -- inspection -----------------------------------------------------------------------

    @property
    def supports(self) -> Supports:
        """The features of the protocol version spoken: ``supports.binary``."""
        return _TEXT_ONLY if self.protocol_version == HIXIE76 else _BINARY

    @property
    def tls(self) -> TLSInfo | None:
        """The TLS version, cipher and peer certificate; ``None`` on a plain connection.

        Kept once the connection opened: still there after it closed.
        """
        if self._sock is None or self._finished:
            return self._last_tls
        info = tls_info(self._sock)
        if info is not None and info.version is not None:
            self._last_tls = info
        return info if info is not None else self._last_tls

    def _opened_now(self) -> None:
        if self._tls:
            self._last_tls = tls_info(self._sock)
        super()._opened_now()

    def _socket_error(self, exc: OSError) -> BaseException:
        """A TLS failure before the client opened is a TLSFailed, as connect() raises.

        With TLS 1.3 a server refuses our certificate only after our side of the TLS
        handshake ended, so the refusal arrives at the first read rather than in
        open_stream(); the ``error`` event and connect() then report the same thing.
        """
        if isinstance(exc, ssl.SSLError) and not self._opened and not self.is_server:
            failure = TLSFailed(describe_tls_error(exc, self._uri.host))
            failure.__cause__ = exc
            return failure
        return exc

    # -- listeners --------------------------------------------------------------------

    # -- W3C style --------------------------------------------------------------------

    @overload
    def add_event_listener(
        self, type: Literal["open"], listener: Callable[[OpenEvent], object], *, once: bool = ...
    ) -> None: ...
    @overload
    def add_event_listener(
        self,
        type: Literal["message"],
        listener: Callable[[MessageEvent], object],
        *,
        once: bool = ...,
    ) -> None: ...
    @overload
    def add_event_listener(
        self, type: Literal["close"], listener: Callable[[CloseEvent], object], *, once: bool = ...
    ) -> None: ...
    @overload
    def add_event_listener(
        self, type: Literal["error"], listener: Callable[[ErrorEvent], object], *, once: bool = ...
    ) -> None: ...
    @overload
    def add_event_listener(
        self,
        type: Literal["ping", "pong"],
        listener: Callable[[bytes], object],
        *,
        once: bool = ...,
    ) -> None: ...

    def add_event_listener(
        self, type: str, listener: Callable[[Any], object], *, once: bool = False
    ) -> None:
        """Call ``listener(event)`` with a W3C-style event object for ``type``.

        ``open``, ``message``, ``close`` and ``error`` listeners get an
        :class:`OpenEvent`, :class:`MessageEvent`, :class:`CloseEvent` or
        :class:`ErrorEvent`; ``ping`` and ``pong`` listeners get the payload.
        """
        self._add(type, _W3CListener(self, type, listener), once=once)

    def remove_event_listener(self, type: str, listener: Callable[..., object]) -> None:
        """Remove a listener added with :meth:`add_event_listener`."""
        for candidate in self.listeners(type):
            if isinstance(candidate, _W3CListener) and candidate.listener is listener:
                self.off(type, candidate)
                return

    def _set_handler(self, type: str, handler: Callable[[Any], object] | None) -> None:
        if self._w3c is None:
            self._w3c = {}
        old = self._w3c.pop(type, None)
        if old is not None:
            self.off(type, old)
        if handler is not None:
            wrapper = _W3CListener(self, type, handler)
            self._w3c[type] = wrapper
            self._add(type, wrapper)

    def _get_handler(self, type: str) -> Callable[[Any], object] | None:
        wrapper = (self._w3c or {}).get(type)
        return wrapper.listener if isinstance(wrapper, _W3CListener) else None

    @property
    def onopen(self) -> Callable[[OpenEvent], object] | None:
        """The W3C ``onopen`` handler: ``handler(event)``, or None."""
        return self._get_handler("open")

    @onopen.setter
    def onopen(self, handler: Callable[[OpenEvent], object] | None) -> None:
        self._set_handler("open", handler)

    @property
    def onmessage(self) -> Callable[[MessageEvent], object] | None:
        """The W3C ``onmessage`` handler: ``handler(event)`` with ``event.data``, or None."""
        return self._get_handler("message")

    @onmessage.setter
    def onmessage(self, handler: Callable[[MessageEvent], object] | None) -> None:
        self._set_handler("message", handler)

    @property
    def onclose(self) -> Callable[[CloseEvent], object] | None:
        """The W3C ``onclose`` handler: ``handler(event)`` with ``code``, ``reason``."""
        return self._get_handler("close")

    @onclose.setter
    def onclose(self, handler: Callable[[CloseEvent], object] | None) -> None:
        self._set_handler("close", handler)

    @property
    def onerror(self) -> Callable[[ErrorEvent], object] | None:
        """The W3C ``onerror`` handler: ``handler(event)`` with ``event.error``, or None."""
        return self._get_handler("error")

    @onerror.setter
    def onerror(self, handler: Callable[[ErrorEvent], object] | None) -> None:
        self._set_handler("error", handler)

    @property
    def binary_type(self) -> str:
        """Binary messages arrive as ``bytes`` (``"nodebuffer"`` has no Python analogue)."""
        return "bytes"

    def __enter__(self: _Self) -> _Self:
        """``with connect(...) as ws:`` gives the WebSocket, typed as one; closes at exit."""
        return self

    # -- blocking open ----------------------------------------------------------------

    @classmethod
    def connect(
        cls, address: str, protocols: str | Sequence[str] | None = None, **options: Any
    ) -> WebSocket:
        """Connect on the calling thread and return the open connection; see :func:`connect`."""
        return cls(address, protocols, _background=False, **options)

    def _open_here(self) -> None:
        """Connect on the calling thread and wait for the handshake; clean up on failure."""
        try:
            sock = self._open_socket()
        except OSError:
            self._finished = True
            raise
        self._reactor.call_soon(self._attach, sock)
        try:
            remaining = self._remaining()
            self.wait_open(None if remaining is None else remaining + 1.0)
        except BaseException:
            self.terminate()
            raise

    def wait_open(self, timeout: float | None = None) -> None:
        """Block until the connection is open.

        Raises:
            TimeoutError: it did not open within ``timeout`` seconds.
            Exception: why it failed: ``ConnectFailed`` (an ``OSError``) for DNS, TCP and
                TLS, ``InvalidStatus`` for a refused upgrade, another ``HandshakeError``.
            InvalidState: called on the reactor thread (in a listener) while connecting.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            cond = self._condition()
            # Waits for the announcement (_opened), not the protocol's state: the state
            # turns OPEN as the 101 is parsed, a moment before the reactor announces it,
            # and a caller arriving in between would have been told the connection failed.
            connecting = not self._opened and not self._done
            if connecting and self._reactor.in_thread():
                raise InvalidState(ON_REACTOR.format("wait_open()"))
            while not self._opened and not self._done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"connection did not open within {timeout} seconds")
                cond.wait(remaining)
        if self._opened:
            return
        error = self.error
        if error is None:
            error = ConnectionClosedError(self._proto.close_rcvd, self._proto.close_sent)
        if isinstance(error, BaseException):
            raise error
        raise InvalidState("connection failed")  # pragma: no cover


class _W3CListener:
    """Adapts ws-style listener arguments to one W3C event object."""

    __slots__ = ("ws", "type", "listener")

    def __init__(self, ws: WebSocket, type: str, listener: Callable[[Any], Any]) -> None:
        self.ws = ws
        self.type = type
        self.listener = listener

    def __call__(self, *args: Any) -> Any:
        ws = self.ws
        event: Any
        if self.type == "message":
            event = MessageEvent(ws, args[0], args[1].binary)
        elif self.type == "close":
            code = args[0]
            clean = ws.close_rcvd is not None and ws.close_sent is not None
            event = CloseEvent(ws, code, args[1], clean)
        elif self.type == "error":
            event = ErrorEvent(ws, args[0])
        elif self.type == "open":
            event = OpenEvent(ws)
        else:
            event = args[0] if args else None
        return self.listener(event)


def _protocol_version(value: int | str) -> int:
    """Read ``protocol_version`` as ws does: 8 and 13, as numbers or strings."""
    if type(value) in (int, str) and value in (8, 13, "8", "13"):
        return int(value)
    raise ValueError(f"unsupported protocol version {value!r}; use 8 or 13")


def connect(
    address: str,
    protocols: str | Sequence[str] | None = None,
    **options: Any,
) -> WebSocket:
    """Connect to ``address`` and return the open :class:`WebSocket`.

    Takes the same arguments as :class:`WebSocket`. DNS, TCP and TLS run on the calling
    thread; the connection is then served by the shared reactor.

    Example::

        with wscli.connect("ws://127.0.0.1:8080") as ws:
            ws.send("hello")
            print(ws.recv(timeout=5))

    Raises:
        InvalidURI: the address is not a WebSocket address.
        ConnectFailed: DNS, TCP or TLS failed (an ``OSError``).
        InvalidStatus: the server answered the upgrade with another status than 101
            (``exc.response`` is the whole answer).
        RedirectError: with ``follow_redirects``, a loop or more than ``max_redirects``.
        HandshakeError: the server's answer was not a valid upgrade.
        TimeoutError: the whole did not finish within ``open_timeout``.
        ValueError: the TLS files or the proxy address cannot be used.
    """
    return WebSocket.connect(address, protocols, **options)
