"""Server: accepts WebSocket connections on a reactor, in the manner of ws's WebSocketServer.

The listening socket is one more handler on the reactor: accepting, the opening
handshake, ``verify_client``, the ``headers`` and ``connection`` events all happen on
the reactor thread, so a server with ten thousand idle clients has one I/O thread.
A blocking ``handler(ws)`` can be given instead of (or besides) listeners; each such
handler then runs on a thread of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl as ssl_module
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..exceptions import ConnectionClosed
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import PerMessageDeflateOptions, server_factory_from_options
from ..http11 import Request
from ..legacy.hixie76 import enable_hixie76
from ..protocol import DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_SIZE
from ..server import ServerProtocol
from .embed import as_request, attach_to, take_over
from .emitter import fit_arguments, required_arguments
from .listeners import ServerEvents
from .reactor import EVENT_READ, Reactor, current_reactor
from .sending import broadcast
from .serverside import ClientInfo, ServerWebSocket
from .tls import ServerTLSHandshake, start_server_tls
from .unix import DEFAULT_UNIX_MODE, bind_unix_listener
from .websocket import WebSocket

__all__ = ["Server", "ClientInfo", "serve", "broadcast"]

logger = logging.getLogger("wscli.core")

_ACCEPT_RETRY = 0.1  # seconds between accept() attempts while out of file descriptors


class Server(ServerEvents[WebSocket]):
    """A WebSocket server.

    With ``port``, it listens at once (``port=0`` picks a free port, see
    :attr:`address`). With ``unix``, it listens on a Unix socket instead. With ``server``,
    it shares an existing ``socketserver``/``http.server`` server's port. With
    ``no_server=True``, it only upgrades the connections given to :meth:`handle_upgrade`.

    Args:
        host: the address to bind; all interfaces when ``None``.
        port: the port to bind.
        server: an existing ``socketserver.BaseServer`` whose requests to upgrade are
            handed over (see :mod:`wscli.core.sync.embed`).
        verify_client: ``verify_client(info)`` returns True to accept, False to refuse
            with 401, or ``(False, status, message[, headers])``. A function with two
            required parameters gets ``(info, callback)`` and answers by calling
            ``callback(result, status=401, message=None, headers=None)``, from any
            thread; parameters with defaults do not count (``verify_client(info,
            extra=None)`` answers by returning). It runs on the reactor thread.
        path: only accept requests for this path (others get 400).
        no_server: do not listen; use :meth:`handle_upgrade`.
        client_tracking: keep the open connections in :attr:`clients`.
        keep_request: keep the upgrade request's headers in each connection's
            ``request`` after the handshake. By default they are dropped once the
            ``connection`` listeners ran (the path and method stay), which saves
            about 1.5 KiB per idle connection; listeners get the whole request as
            their second argument either way. ``None`` (the default) keeps them only
            for a blocking ``handler``, which may read them at any time.
        handle_protocols: ``handle_protocols(protocols, request)`` (or
            ``handle_protocols(protocols)``) picks the subprotocol from the offered
            list, or returns None/False for none. Without it the
            client's first choice is accepted, as ws does.
        max_payload: largest incoming message in bytes.
        max_fragments: most frames one incoming message may span (1009 beyond).
        per_message_deflate: ``False`` (the default), ``True`` or a dict of options.
        handler: a blocking ``handler(ws)`` to run on its own thread per connection; the
            connection closes when it returns.
        origins: accepted Origin values (``None`` in the list accepts a missing one);
            others are refused with 403.
        max_connections: connections beyond this are refused with 503.
        ssl: an ``ssl.SSLContext`` to serve ``wss://`` (see
            :func:`~wscli.core.sync.tls.server_ssl_context`). The TLS handshake runs on
            the reactor without blocking it; clients whose handshake fails are reported
            as ``tls_client_error(exc, address)``.
        unix: a Unix socket path to listen on instead of a port. A stale socket file
            left by a dead server is replaced; any other existing path is refused,
            never removed; the file is removed on close.
        unix_mode: permissions of the ``unix`` socket file, whatever the umask:
            ``0o600`` (only this user may connect) unless given.
        allow_hixie76: also accept clients of draft-hixie-thewebsocketprotocol-76 (old
            browsers); their ``protocol_version`` is ``"hixie-76"``.
        open_timeout, close_timeout, ping_interval, ping_timeout, max_queue,
        write_limit: as for :class:`~wscli.core.sync.websocket.WebSocket`.
        reactor: a reactor to share; by default the server starts its own.
        backlog: the listen queue length.
        callback: called once listening, as ws's constructor callback.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        server: Any = None,
        verify_client: Callable[..., Any] | None = None,
        path: str | None = None,
        no_server: bool = False,
        client_tracking: bool = True,
        keep_request: bool | None = None,
        handle_protocols: Callable[[Sequence[str], Request], str | None | bool] | None = None,
        max_payload: int | None = DEFAULT_MAX_SIZE,
        max_fragments: int | None = DEFAULT_MAX_FRAGMENTS,
        per_message_deflate: bool | PerMessageDeflateOptions = False,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        handler: Callable[[WebSocket], Any] | None = None,
        origins: Sequence[str | None] | None = None,
        max_connections: int | None = None,
        ssl: ssl_module.SSLContext | None = None,
        open_timeout: float | None = 10.0,
        close_timeout: float | None = 10.0,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        max_queue: int = 64,
        write_limit: int = 4 * 2**20,
        max_head_size: int | None = None,
        max_headers: int | None = None,
        allow_hixie76: bool = False,
        unix: str | os.PathLike[str] | None = None,
        unix_mode: int = DEFAULT_UNIX_MODE,
        reactor: Reactor | None = None,
        backlog: int = 1024,
        callback: Callable[[], Any] | None = None,
    ) -> None:
        modes = sum((port is not None, server is not None, no_server, unix is not None))
        if modes != 1:
            raise ValueError("give exactly one of port, unix, server or no_server=True")
        self.verify_client = verify_client
        self.path = path
        self.client_tracking = client_tracking
        self.keep_request = handler is not None if keep_request is None else keep_request
        self.handle_protocols = handle_protocols
        self.max_payload = max_payload
        self.handler = handler
        self.origins = origins
        self.max_connections = max_connections
        self.ssl = ssl
        self.allow_hixie76 = allow_hixie76
        if extensions is None:
            factory = server_factory_from_options(per_message_deflate)
            extensions = [factory] if factory is not None else []
        self.extensions = list(extensions)
        self._protocol_options: dict[str, Any] = {"max_fragments": max_fragments}
        if max_head_size is not None:
            self._protocol_options["max_head_size"] = max_head_size
        if max_headers is not None:
            self._protocol_options["max_headers"] = max_headers
        self._connection_options: dict[str, Any] = {
            "open_timeout": open_timeout,
            "close_timeout": close_timeout,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "max_queue": max_queue,
            "write_limit": write_limit,
        }
        self.close_timeout = close_timeout
        # As ws decides by verifyClient.length: two required parameters mean the answer
        # comes through a callback; `verify_client(info, extra=None)` answers at once.
        self._verify_takes_callback = (
            verify_client is not None and (required_arguments(verify_client) or 0) >= 2
        )
        self._own_reactor = reactor is None
        self._reactor = reactor or Reactor("wscli-server-reactor")
        self._reactor.start()
        #: Open connections, when ``client_tracking`` is on.
        self.clients: set[WebSocket] = set()
        self._connections: set[WebSocket] = set()
        self._open_count = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._closing = False
        self._listener: socket.socket | None = None
        self._unix_path: str | None = None
        self._embedded = server
        self._handler_threads: set[threading.Thread] = set()
        #: TLS handshakes in progress (see :mod:`wscli.core.sync.tls`), dropped on close.
        self._tls_pending: set[ServerTLSHandshake] = set()
        if port is not None or unix is not None:
            try:
                if unix is not None:
                    self._listen_unix(os.fspath(unix), backlog, unix_mode)
                else:
                    assert port is not None
                    self._listen(host, port, backlog)
            except BaseException:
                if self._own_reactor:
                    self._reactor.stop()  # do not leave a thread behind a failed bind
                raise
            if callback is not None:
                self.once("listening", lambda: callback())
            self._reactor.call_soon(self.emit, "listening")
        elif server is not None:
            attach_to(server, self)

    # -- listening ----------------------------------------------------------------------

    def _listen(self, host: str | None, port: int, backlog: int) -> None:
        family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
        self._watch_listener(sock)

    def _watch_listener(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._listener = sock
        self._reactor.call_soon(self._reactor.register, sock, EVENT_READ, self)

    def _listen_unix(self, path: str, backlog: int, mode: int) -> None:
        """Listen on a Unix socket with ``mode``, replacing a stale socket file only."""
        sock = bind_unix_listener(path, mode=mode, backlog=backlog)
        self._unix_path = path
        self._watch_listener(sock)

    @property
    def address(self) -> tuple[str, int] | None:
        """The bound ``(host, port)``; ``None`` without a TCP listening socket."""
        if self._listener is None or self._unix_path is not None:
            return None
        try:
            host, port = self._listener.getsockname()[:2]
        except OSError:  # closed
            return None
        return host, port

    @property
    def unix_path(self) -> str | None:
        """The Unix socket path listened on, if any."""
        return self._unix_path

    @property
    def port(self) -> int | None:
        """The bound port."""
        address = self.address
        return None if address is None else address[1]

    @property
    def connection_count(self) -> int:
        """How many connections this server holds, from accept until each has ended.

        TLS and opening handshakes in progress count, and so do connections still
        closing; :attr:`clients` holds only the open ones. A snapshot, safe to read from
        any thread.
        """
        return len(self._tls_pending) + len(self._connections)

    @property
    def url(self) -> str | None:
        """``ws://host:port`` (``wss://`` with TLS), or ``ws+unix://path:/`` for the listener."""
        if self._unix_path is not None:
            return f"ws+unix://{self._unix_path}:/"
        address = self.address
        if address is None:
            return None
        host, port = address
        if ":" in host:
            host = f"[{host}]"
        return f"{'wss' if self.ssl else 'ws'}://{host}:{port}"

    def handle_io(self, mask: int) -> None:
        """Reactor callback: accept what is waiting, up to a batch."""
        listener = self._listener
        if listener is None:
            return
        for _ in range(64):
            try:
                sock, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE and friends: report, keep serving the clients we have, and stop
                # watching the listener for a moment: it stays readable, so retrying at
                # once would spin the reactor and flood the error listeners.
                self.emit("error", exc)
                self._reactor.unregister(listener)
                self._reactor.call_later(_ACCEPT_RETRY, self._resume_accepting)
                return
            self._adopt(sock, b"")

    def _resume_accepting(self) -> None:
        if self._listener is not None and not self._closing:
            self._reactor.register(self._listener, EVENT_READ, self)

    # -- connections ------------------------------------------------------------------

    def _adopt(self, sock: socket.socket, head: bytes) -> ServerWebSocket | None:
        """On the reactor thread: start serving an accepted socket."""
        if self._closing:
            sock.close()
            return None
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl is not None and not isinstance(sock, ssl_module.SSLSocket):
            if head:
                # Bytes read before TLS started cannot be handed back to OpenSSL.
                sock.close()
                self.emit("tls_client_error", ValueError("data arrived before tls started"), None)
                return None
            start_server_tls(
                sock,
                self.ssl,
                self._reactor,
                timeout=self._connection_options.get("open_timeout"),
                adopt=self._adopt_tls,
                report=self._tls_failed,
                pending=self._tls_pending,
            )
            return None
        proto = ServerProtocol(
            origins=self.origins,
            select_subprotocol=self._select_subprotocol if self.handle_protocols else None,
            extensions=self.extensions,
            max_size=self.max_payload,
            **self._protocol_options,
        )
        if self.allow_hixie76:
            enable_hixie76(proto, secure=isinstance(sock, ssl_module.SSLSocket))
        try:
            ws = ServerWebSocket(
                sock,
                proto,
                self._reactor,
                self,
                keep_request=self.keep_request,
                **self._connection_options,
            )
        except OSError:
            sock.close()
            return None
        self._connections.add(ws)
        ws.start(head)
        return ws

    def _adopt_tls(self, sock: ssl_module.SSLSocket) -> None:
        ws = self._adopt(sock, b"")
        # OpenSSL may already hold decrypted bytes that the selector cannot see.
        if ws is not None and sock.pending():
            ws.handle_io(EVENT_READ)

    def _tls_failed(self, exc: BaseException, address: Any) -> None:
        self.emit("tls_client_error", exc, address)

    def _select_subprotocol(self, offered: Sequence[str], request: Request) -> str | None:
        assert self.handle_protocols is not None
        chosen = fit_arguments(self.handle_protocols, 2)(list(offered), request)
        return chosen if isinstance(chosen, str) else None

    # -- the policy its connections ask (see ServerPolicy) ------------------------------

    @property
    def secure(self) -> bool:
        """Whether clients connect over TLS."""
        return self.ssl is not None

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called: new connections are refused."""
        return self._closing

    def refusal_for(self, request: Request) -> tuple[int, str] | None:
        """Return ``(400, why)`` for a request to another path than ``path``, else None."""
        if self.should_handle(request):
            return None
        return 400, f"no websocket endpoint at {request.path.split('?', 1)[0]}"

    def verifier(self) -> tuple[Callable[..., Any] | None, bool]:
        """Return ``verify_client`` and whether it answers through a callback."""
        return self.verify_client, self._verify_takes_callback

    def admits_more(self) -> bool:
        """Tell whether ``max_connections`` leaves room for one more open connection."""
        if self.max_connections is None:
            return True
        return self._open_count < self.max_connections

    def connection_opened(self, ws: ServerWebSocket, request: Request) -> None:
        """On the reactor thread: count and track ``ws``, emit ``connection``, run ``handler``."""
        self._open_count += 1
        if self.client_tracking:
            self.clients.add(ws)
        self.emit("connection", ws, request)
        if self.handler is not None:
            self._start_handler(ws)

    def connection_closed(self, ws: ServerWebSocket) -> None:
        """On the reactor thread: forget ``ws``."""
        if ws in self._connections and ws.opened:
            self._open_count -= 1
        self._connections.discard(ws)
        self.clients.discard(ws)

    # -- sending ------------------------------------------------------------------------

    def broadcast(
        self,
        data: str | bytes | bytearray | memoryview,
        clients: Iterable[WebSocket] | None = None,
        *,
        binary: bool | None = None,
    ) -> int:
        """Send one message to every open client (or to ``clients``); never blocks.

        From a listener, a client that reads slowly holds back the connection whose
        message is relayed until it catches up; a client that stopped reading is
        dropped with 1013 (see :func:`~wscli.core.sync.sending.broadcast`). Memory per
        client stays bounded and nothing is silently skipped. Safe from any thread.

        Args:
            data: ``str`` for a text message, bytes-like for binary, unless ``binary``
                says.
            clients: the connections to send to; every open connection by default
                (whether or not ``client_tracking`` is on).
            binary: force the message type.

        Returns:
            How many clients the message was queued for.
        """
        targets = list(self._connections) if clients is None else clients
        return broadcast(targets, data, binary=binary)

    def report_error(self, where: str, exc: BaseException) -> None:
        """Report an exception raised by the application's ``where`` (``verify_client``)."""
        self._listener_raised(where, exc)

    def _start_handler(self, ws: WebSocket) -> None:
        def run() -> None:
            try:
                assert self.handler is not None
                self.handler(ws)
            except Exception as exc:
                if not isinstance(exc, ConnectionClosed):
                    logger.exception("connection handler failed")
                    with contextlib.suppress(Exception):
                        ws.close(1011, "internal error")
            else:
                with contextlib.suppress(Exception):
                    ws.close(1000)
            finally:
                self._handler_threads.discard(thread)

        thread = threading.Thread(target=run, name="wscli-handler", daemon=True)
        self._handler_threads.add(thread)
        thread.start()

    # -- embedding ------------------------------------------------------------------------

    def handle_upgrade(
        self,
        request: Any,
        sock: socket.socket | None = None,
        head: bytes = b"",
        callback: Callable[[WebSocket, Request], object]
        | Callable[[WebSocket], object]
        | None = None,
    ) -> None:
        """Upgrade a connection whose request an HTTP server already read.

        From an ``http.server`` handler's ``do_GET``, ``server.handle_upgrade(self)`` is
        enough: the socket and the bytes read past the head are taken from the handler,
        and the HTTP server will neither answer nor close the connection. The handler
        should return without writing anything.

        Args:
            request: a :class:`~wscli.core.http11.Request`, or an ``http.server``
                request handler (its ``command``, ``path`` and ``headers`` are used).
            sock: the connection's socket; the server takes it over. Taken from the
                handler when ``request`` is one.
            head: bytes read after the request head (often empty).
            callback: ``callback(ws, request)`` or ``callback(ws)`` once the upgrade
                succeeded, on the reactor thread; ``connection`` is emitted too.

        Raises:
            TypeError: ``request`` is neither a Request nor a request handler, or no
                socket was given for a Request.
        """
        req = as_request(request)
        if sock is None:
            if isinstance(request, Request):
                raise TypeError("handle_upgrade(Request, ...) needs the socket")
            sock, buffered = take_over(request)
            head = buffered + head
        try:
            raw = req.serialize()
        except ValueError as exc:
            # http.server lets folded lines and control characters through, which the
            # handshake parser would refuse: answer 400 as it would, and hang up.
            refusal = ServerProtocol().reject(
                400, f"Failed to open a WebSocket connection: {exc}.\n"
            )
            address = None
            with contextlib.suppress(OSError):
                address = sock.getpeername()
                sock.sendall(refusal.serialize())
            sock.close()
            self._reactor.call_soon(self.emit, "refused", address, 400, str(exc), None)
            return
        if req.body:
            raw = raw[: -len(req.body)]
        if callback is not None:
            # Called like a listener: `callback(ws)` (ws's shape) or `callback(ws, request)`.
            upgraded = fit_arguments(callback, 2)

            def on_connection(ws: WebSocket, request: Request) -> None:
                if ws.socket is sock:
                    self.off("connection", on_connection)
                    upgraded(ws, request)

            self.on("connection", on_connection)
        self._reactor.call_soon(self._adopt, sock, raw + head)

    def should_handle(self, request: Request) -> bool:
        """Tell whether ``request`` is for this server's ``path`` (always, without one)."""
        if self.path is None:
            return True
        return request.path.split("?", 1)[0] == self.path

    # -- shutting down ------------------------------------------------------------------

    def close(self, code: int = 1001, reason: str = "", timeout: float | None = None) -> None:
        """Stop listening, close every client with ``code``, and wait for them.

        Waits at most ``timeout`` seconds (``close_timeout`` by default), then drops the
        connections still open. Safe to call twice; emits ``close`` once done.
        """
        with self._lock:
            if self._closing:
                already = True
            else:
                already = False
                self._closing = True
        # Called by a listener, of this server or of any other reactor (a client
        # connection's): nothing may block there, or the reactor that must carry the
        # closing handshakes (the client connections' own, maybe) would be held.
        on_reactor = current_reactor() is not None
        if already:
            if not on_reactor:
                self._closed.wait(timeout)
            return
        if timeout is None:
            timeout = (self.close_timeout or 10.0) + 1.0
        done = threading.Event()
        if on_reactor:
            # The server's reactor finishes the close handshakes and then stops itself.
            if self._reactor.in_thread():
                self._close_all(code, reason, done)
            else:
                self._reactor.call_soon(self._close_all, code, reason, done)
            self._reactor.call_later(0.01, self._close_later, time.monotonic() + timeout)
            return
        self._reactor.call_soon(self._close_all, code, reason, done)
        if not self._reactor.in_thread():
            done.wait(timeout)
        connections = list(self._connections)
        deadline = time.monotonic() + timeout
        if not self._reactor.in_thread():
            for ws in connections:
                ws.wait_closed(max(0.0, deadline - time.monotonic()))
            for ws in connections:
                ws.terminate()
            for thread in list(self._handler_threads):
                thread.join(max(0.1, deadline - time.monotonic()))
        self._finish_close()

    def _close_all(self, code: int, reason: str, done: threading.Event) -> None:
        if self._listener is not None:
            self._reactor.unregister(self._listener)
            with contextlib.suppress(OSError):
                self._listener.close()
            if self._unix_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self._unix_path)
        for handshake in list(self._tls_pending):
            handshake.abort()
        for ws in list(self._connections):
            if ws.ready_state == ws.OPEN:
                with contextlib.suppress(Exception):
                    ws.close(code, reason)
            elif ws.ready_state == ws.CONNECTING:
                ws.terminate()
        done.set()

    def _close_later(self, deadline: float) -> None:
        """On the reactor thread: stop once every connection ended or ``deadline`` passed."""
        if self._connections and time.monotonic() < deadline:
            self._reactor.call_later(0.01, self._close_later, deadline)
            return
        for ws in list(self._connections):
            ws.terminate()
        self._closed.set()
        self.emit("close")
        if self._own_reactor:
            self._reactor.stop()

    def _finish_close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._reactor.call_soon(self.emit, "close")
        if self._own_reactor and not self._reactor.in_thread():
            deadline = time.monotonic() + 1.0
            while self._reactor.pending_calls() and time.monotonic() < deadline:
                time.sleep(0.001)
            self._reactor.stop()

    def serve_forever(self) -> None:
        """Block until the server is closed; Ctrl-C closes it with 1001 first."""
        try:
            while not self._closed.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.close(1001, "server shutting down")
            raise

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Server {self.url or 'no_server'} clients={len(self._connections)}>"


def serve(
    handler: Callable[[WebSocket], Any], host: str | None = None, port: int = 0, **options: Any
) -> Server:
    """Start a server running the blocking ``handler(ws)`` per connection, on its own thread."""
    return Server(host, port, handler=handler, **options)
