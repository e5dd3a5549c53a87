"""Connection: one socket, one protocol, one lock, an outgoing buffer, on a reactor.

The reactor thread reads, feeds the protocol under the lock, writes what the protocol
answers (pongs, the close echo) and then hands events on without holding the lock:
messages go to ``message`` listeners when there are any, else to a queue that
:meth:`Connection.recv` and iteration read. User threads call ``send``, ``ping`` and
``close``, which take the lock, ask the protocol for bytes, try to write them at once and
leave the rest to the reactor.

Back-pressure works both ways: a user thread sending while more than ``write_limit``
bytes wait in the buffer blocks until the peer reads (listeners on the reactor thread
never block: their data is buffered); and while ``max_queue`` messages wait unread, the
socket is not read, so the peer's TCP window closes.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..events import Message, Ping, Pong
from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
)
from ..frames import Close, CloseCode
from ..http11 import Request, Response
from ..protocol import Protocol, Side, State
from .emitter import EventEmitter
from .reactor import EVENT_READ, EVENT_WRITE, Reactor

__all__ = ["Connection", "MessageFlags", "PongWaiter", "ReadyState"]

logger = logging.getLogger("wscli.core")

_IOV_MAX = 512
_GATHER_BYTES = 1 << 20
_WAIT_SLICE = 3600.0  # longest single wait; lets Ctrl-C through on every platform


class ReadyState:
    """W3C readyState values."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3
    names = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")


class MessageFlags:
    """The second argument of ``message`` listeners, as in ws: ``flags.binary``."""

    __slots__ = ("binary",)

    def __init__(self, binary: bool) -> None:
        self.binary = binary

    def __repr__(self) -> str:
        return f"MessageFlags(binary={self.binary})"


_TEXT_FLAGS = MessageFlags(False)
_BINARY_FLAGS = MessageFlags(True)


class PongWaiter:
    """What :meth:`Connection.ping` returns: wait for the answering pong."""

    __slots__ = ("data", "sent_at", "latency", "error", "_event")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sent_at = time.monotonic()
        #: Seconds between sending the ping and receiving the pong, once it came.
        self.latency: float | None = None
        self.error: ConnectionClosed | None = None
        self._event = threading.Event()

    def _resolve(self, now: float) -> None:
        self.latency = now - self.sent_at
        self._event.set()

    def _fail(self, error: ConnectionClosed) -> None:
        self.error = error
        self._event.set()

    def done(self) -> bool:
        """Tell whether the pong came or the connection closed."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> float:
        """Block until the pong arrives; return the round-trip time in seconds.

        Raises:
            TimeoutError: no pong within ``timeout`` seconds.
            ConnectionClosed: the connection closed first.
        """
        if not self._event.wait(timeout):
            raise TimeoutError(f"no pong within {timeout} seconds")
        if self.error is not None:
            raise self.error
        assert self.latency is not None
        return self.latency


class _Stream:
    """The writer :meth:`Connection.stream` yields: each ``write`` sends one fragment."""

    def __init__(self, connection: Connection, binary: bool) -> None:
        self._connection = connection
        self._binary = binary
        self._started = False

    def write(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send ``data`` as the next fragment of the message."""
        payload = self._connection._payload(data, self._binary)
        opcode = "binary" if self._binary else "text"
        self._connection._send_fragment(payload, opcode if not self._started else "cont", False)
        self._started = True

    def _finish(self) -> None:
        self._connection._send_fragment(
            b"", ("binary" if self._binary else "text") if not self._started else "cont", True
        )


class Connection(EventEmitter):
    """A WebSocket connection served by a reactor thread.

    Build one through :func:`wscli.connect`, :class:`wscli.WebSocket` or a
    :class:`wscli.Server`; the constructor is the I/O layer's business.

    Args:
        sock: a connected socket (TLS already negotiated).
        protocol: the sans-I/O protocol for this connection.
        reactor: the reactor that will serve the socket.
        open_timeout: seconds the opening handshake may take.
        close_timeout: seconds to wait for the closing handshake and TCP close.
        max_queue: unread messages held before reading pauses.
        write_limit: buffered outgoing bytes above which senders wait.
        ping_interval: seconds between keepalive pings; ``None`` for none.
        ping_timeout: seconds a keepalive ping may wait for its pong.
        url: the address, for clients.
    """

    def __init__(
        self,
        sock: socket.socket,
        protocol: Protocol,
        reactor: Reactor,
        *,
        open_timeout: float | None = 10.0,
        close_timeout: float | None = 10.0,
        max_queue: int = 64,
        write_limit: int = 4 * 2**20,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        url: str | None = None,
    ) -> None:
        self._sock = sock
        self._proto = protocol
        self._reactor = reactor
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.max_queue = max_queue
        self.write_limit = write_limit
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.url = url
        #: Bytes read from the socket so far.
        self.bytes_received = 0
        self._lock = threading.Lock()
        self._cond: threading.Condition | None = None
        self._out: collections.deque[bytes | memoryview | None] = collections.deque()
        self._out_size = 0
        self._flushed_total = 0
        self._queued_total = 0
        self._send_callbacks: collections.deque[tuple[int, Callable[..., Any]]] | None = None
        self._interest = 0
        self._flush_scheduled = False
        self._dispatching = False  # _feed is handing events on; it flushes afterwards
        self._paused = False
        self._queue_paused = False
        # Bytes queued by the reactor thread (pongs, close echoes, listeners' sends) and
        # not written yet, with (end offset, size) marks to count them down as they go.
        self._reactor_out = 0
        self._reactor_marks: collections.deque[tuple[int, int]] = collections.deque()
        self._queue: collections.deque[str | bytes] = collections.deque()
        self._reading = False
        self._opened = False
        self._finished = False
        self._done = False  # set under the lock once close_code and friends are final
        self._broken: BaseException | None = None
        self._timer: Any = None  # open or close timer
        self._pending_timer: Any = None
        self._handshake_failed = False
        self._reader_holding = False  # recv() returned a message and wasn't called since
        self._keepalive: Any = None
        self._pings: collections.deque[PongWaiter] = collections.deque()
        self._ping_inflight: PongWaiter | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        #: Why the connection failed, when it did (handshake, protocol or network error).
        self.error: BaseException | None = None
        self.remote_address: Any = None
        self._tls = False
        if sock is not None:
            self._set_socket(sock)

    def _set_socket(self, sock: socket.socket) -> None:
        """Take over a connected socket (clients get theirs after construction)."""
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        try:
            self.remote_address = sock.getpeername()
        except OSError:
            self.remote_address = None
        sock.setblocking(False)

    # -- properties -------------------------------------------------------------------

    @property
    def ready_state(self) -> int:
        """CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3), as in the W3C API."""
        if self._finished:
            return ReadyState.CLOSED
        state = self._proto.state
        if state is State.CONNECTING:
            return ReadyState.CONNECTING
        if state is State.OPEN:
            return ReadyState.OPEN
        return ReadyState.CLOSING

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
    def buffered_amount(self) -> int:
        """Bytes queued for sending that the OS has not taken yet."""
        return self._out_size

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
            return self._sock.getsockname()
        except OSError:
            return None

    @property
    def socket(self) -> socket.socket:
        """The underlying socket; reading or writing it directly breaks the protocol."""
        return self._sock

    # -- starting -----------------------------------------------------------------------

    def _start(self, initial: bytes = b"") -> None:
        """On the reactor thread: begin serving the socket."""
        if self.open_timeout is not None and self._proto.state is State.CONNECTING:
            self._timer = self._reactor.call_later(self.open_timeout, self._open_timed_out)
        with self._lock:
            self._queue_output_locked()
            self._flush_locked()
        self._reading = True
        self._update_interest()
        if initial:
            self._feed(initial)

    def _open_timed_out(self) -> None:
        if self._proto.state is State.CONNECTING and not self._finished:
            self._fail_now(TimeoutError("timed out during the opening handshake"))

    # -- reactor side ------------------------------------------------------------------

    def handle_io(self, mask: int) -> None:
        """Called by the reactor when the socket is ready."""
        if mask & EVENT_READ and not self._paused:
            self._read()
        if mask & EVENT_WRITE and not self._finished:
            with self._lock:
                self._flush_locked()
            self._after_io()

    def _read(self) -> None:
        view = self._reactor.read_view
        sock = self._sock
        while True:
            try:
                n = sock.recv_into(view)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return
            except ssl.SSLWantWriteError:
                return
            except OSError as exc:
                self._fail_now(exc)
                return
            self._feed(view[:n] if n else b"")
            # TLS may hold decrypted bytes that epoll cannot see.
            if not n or not self._tls or self._finished or not sock.pending():  # type: ignore[attr-defined]
                return

    def _feed(self, data: bytes | memoryview) -> None:
        proto = self._proto
        with self._lock:
            if data:
                self.bytes_received += len(data)
                proto.hold_failures = self._reader_holding or bool(self._queue)
                proto.receive_data(data)
            else:
                proto.receive_eof()
            events = proto.events_received()
            self._queue_output_locked()
        if events:
            self._dispatching = True
            try:
                self._handle_events(events)
            finally:
                self._dispatching = False
        self._events_handled()

    def _events_handled(self) -> None:
        """After events were handed on: apply a failure that waited, write, move on."""
        proto = self._proto
        with self._lock:
            if proto.has_pending:
                if self._queue or self._reader_holding:
                    # Messages that came before the violation are still unread, or the
                    # reader is still handling the last one: fail once it comes back
                    # for more (or after close_timeout), so replies to them leave
                    # before the close frame.
                    self._arm_pending_timer()
                else:
                    proto.handle_pending()
                    self._queue_output_locked()
            self._flush_locked()
        self._after_io()

    def _arm_pending_timer(self) -> None:
        if self._pending_timer is None:
            delay = self.close_timeout if self.close_timeout is not None else 10.0
            if not self._queue and self._proto._pending_close is not None:
                # Nothing unread: only a reader that may still reply holds the close,
                # and the peer waits for our echo with its own close_timeout.
                delay = min(delay, 0.25)
            self._pending_timer = self._reactor.call_later(delay, self._apply_pending)

    def _apply_pending(self) -> None:
        """Fail the connection for a violation that waited behind unread messages."""
        with self._lock:
            if self._pending_timer is not None:
                self._pending_timer.cancel()
                self._pending_timer = None
            if not self._proto.has_pending or self._finished:
                return
            self._proto.handle_pending()
            self._queue_output_locked()
            self._schedule_flush()
        if self._reactor.in_thread():
            self._after_io()

    def _after_io(self) -> None:
        """After reading or writing: start the close timer, or finish, as the state asks."""
        if self._finished:
            return
        proto = self._proto
        if proto.eof_received and not self._out:
            self._finish()
            return
        if self._broken is not None:
            self._finish()
            return
        if proto.handshake_exc is not None and proto.state is State.CONNECTING:
            if proto.side is Side.CLIENT and not self._out:
                # Nothing to say to a server that gave a bad answer: close now.
                self._finish()
                return
            if not self._handshake_failed:
                # The open timer no longer applies; give the refusal close_timeout to
                # reach the client before the socket closes.
                self._handshake_failed = True
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
        if proto.close_expected() and self._opened_or_failed() and self._timer is None:
            if self.close_timeout is not None:
                self._timer = self._reactor.call_later(self.close_timeout, self._close_timed_out)
        self._update_interest()

    def _opened_or_failed(self) -> bool:
        return self._proto.state is not State.CONNECTING or self._proto.handshake_exc is not None

    def _close_timed_out(self) -> None:
        self._timer = None
        if not self._finished:
            self._finish()

    def _update_interest(self) -> None:
        """On the reactor thread: watch the socket for what the state needs."""
        if self._finished:
            return
        want = 0
        if self._reading and not self._paused and not self._queue_paused:
            # A peer that does not read what we write (pongs, echoes) is not read
            # either, until the buffer drains: memory stays bounded by write_limit.
            # Only output made by reading counts: a user thread's sends already wait at
            # write_limit, and pausing for them would deadlock two peers that both
            # send more than write_limit before reading.
            if not self._proto.eof_received and self._reactor_out <= self.write_limit:
                want = EVENT_READ
        if self._out:
            want |= EVENT_WRITE
        if want == self._interest:
            return
        try:
            if self._interest == 0:
                self._reactor.register(self._sock, want, self)
            elif want == 0:
                self._reactor.unregister(self._sock)
            else:
                self._reactor.modify(self._sock, want, self)
        except (OSError, ValueError) as exc:
            self._fail_now(exc)
            return
        self._interest = want

    def _handle_events(self, events: list[Any]) -> None:
        for event in events:
            kind = type(event)
            if kind is Message:
                self._deliver(event.data)
            elif kind is Ping:
                self.emit("ping", event.data)
            elif kind is Pong:
                self._pong_received(event.data)
                self.emit("pong", event.data)
            elif kind is Close:
                pass  # reported with the "close" event once the TCP connection ends
            elif kind is Response:
                self._handshake_done()
            elif kind is Request:
                self._request_received(event)

    def _deliver(self, data: str | bytes) -> None:
        listeners = self._listeners
        if listeners:
            message_listeners = listeners.get("message")
            if message_listeners:
                # The per-message path: call the listeners without emit()'s generality.
                flags = _BINARY_FLAGS if type(data) is bytes else _TEXT_FLAGS
                for listener in message_listeners:
                    try:
                        listener(data, flags)
                    except Exception as exc:
                        self.emit("error", exc)
                return
        with self._lock:
            self._queue.append(data)
            if self._cond is not None:
                self._cond.notify_all()
            if len(self._queue) >= self.max_queue and not self._queue_paused:
                self._queue_paused = True
        if self._queue_paused:
            self._update_interest()

    def _request_received(self, request: Request) -> None:
        """Server side: a handshake request arrived; the server subclass decides."""
        raise InvalidState("this connection does not accept handshake requests")

    def _handshake_done(self) -> None:
        """Client side: the response arrived; open, or fail."""
        if self._proto.state is State.OPEN:
            self._opened_now()
        else:
            self.error = self._proto.handshake_exc

    def _opened_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._opened = True
        logger.info("%s: open", self.url or self.remote_address)
        if self.ping_interval is not None:
            self._keepalive = self._reactor.call_later(self.ping_interval, self._keepalive_ping)
        self._emit_open()

    def _emit_open(self) -> None:
        self.emit("open")

    def _keepalive_ping(self) -> None:
        self._keepalive = None
        if self._finished or self._proto.state is not State.OPEN:
            return
        try:
            waiter = self.ping(b"")
        except (ConnectionClosed, InvalidState):
            return  # closing, or a draft without pings (hixie-76)
        self._ping_inflight = waiter
        if self.ping_timeout is not None:
            self._keepalive = self._reactor.call_later(self.ping_timeout, self._keepalive_check)
        else:
            self._keepalive = self._reactor.call_later(
                self.ping_interval or 0, self._keepalive_ping
            )

    def _keepalive_check(self) -> None:
        self._keepalive = None
        waiter = self._ping_inflight
        if self._finished or waiter is None:
            return
        if not waiter.done():
            self.error = TimeoutError("keepalive ping timeout")
            with self._lock:
                # RFC 6455 §7.4.1: 1011 is the closest code for a peer that stopped answering.
                self._proto.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                self._queue_output_locked()
                self._flush_locked()
            self._after_io()
            return
        delay = max(0.0, (self.ping_interval or 0) - (time.monotonic() - waiter.sent_at))
        self._keepalive = self._reactor.call_later(delay, self._keepalive_ping)

    def _pong_received(self, data: bytes) -> None:
        now = time.monotonic()
        pings = self._pings
        # A pong answers the ping with the same payload and, implicitly, every earlier one.
        for index, waiter in enumerate(pings):
            if waiter.data == data:
                for _ in range(index + 1):
                    pings.popleft()._resolve(now)
                return

    # -- writing ----------------------------------------------------------------------

    def _queue_output_locked(self) -> None:
        out = self._out
        before = self._queued_total
        for chunk in self._proto.data_to_send():
            if chunk:
                out.append(chunk)
                self._out_size += len(chunk)
                self._queued_total += len(chunk)
            else:
                out.append(None)
        added = self._queued_total - before
        if added and self._reactor.in_thread():
            self._reactor_out += added
            self._reactor_marks.append((self._queued_total, added))

    def _flush_locked(self) -> None:
        """Write what the socket takes now; call with the lock held."""
        self._flush_scheduled = False
        out = self._out
        sock = self._sock
        while out:
            first = out[0]
            if first is None:
                out.popleft()
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                continue
            try:
                if len(out) > 1 and not self._tls:
                    buffers: list[Any] = []
                    size = 0
                    for chunk in out:
                        if chunk is None or len(buffers) >= _IOV_MAX or size >= _GATHER_BYTES:
                            break
                        buffers.append(chunk)
                        size += len(chunk)
                    sent = sock.sendmsg(buffers)
                else:
                    sent = sock.send(first)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                break
            except OSError as exc:
                self._broken = exc
                out.clear()
                self._out_size = 0
                self._reactor_out = 0
                self._reactor_marks.clear()
                break
            self._out_size -= sent
            self._flushed_total += sent
            while sent:
                chunk = out[0]
                assert chunk is not None
                if sent >= len(chunk):
                    sent -= len(chunk)
                    out.popleft()
                else:
                    out[0] = memoryview(chunk)[sent:]
                    sent = 0
            if out and out[0] is not None:
                break  # the socket took less than offered: wait for writability
        marks = self._reactor_marks
        if marks and marks[0][0] <= self._flushed_total:
            was_over = self._reactor_out > self.write_limit
            while marks and marks[0][0] <= self._flushed_total:
                self._reactor_out -= marks.popleft()[1]
            if was_over and self._reactor_out <= self.write_limit:
                self._reactor.call_soon(self._update_interest)  # read again
        if self._send_callbacks:
            self._fire_send_callbacks()
        if self._cond is not None and self._out_size <= self.write_limit:
            self._cond.notify_all()

    def _fire_send_callbacks(self) -> None:
        callbacks = self._send_callbacks
        assert callbacks is not None
        while callbacks and callbacks[0][0] <= self._flushed_total:
            self._reactor.call_soon(callbacks.popleft()[1], None)

    def _schedule_flush(self) -> None:
        """With the lock held, after queueing output from any thread."""
        if self._reactor.in_thread():
            if self._dispatching:
                return  # _feed writes everything once its listeners have run
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._reactor.defer(self._deferred_flush)
        else:
            self._flush_locked()
            if self._out or self._proto.close_expected():
                self._reactor.call_soon(self._after_io)

    def _deferred_flush(self) -> None:
        if self._finished:
            return
        with self._lock:
            if self._flush_scheduled:
                self._flush_locked()
        self._after_io()

    @contextlib.contextmanager
    def _command(self) -> Iterator[Protocol]:
        """Hold the lock around a protocol command, then write what it produced."""
        with self._lock:
            if self._finished:
                raise self._closed_exception()
            try:
                yield self._proto
            except InvalidState as exc:
                if self._proto.state in (State.CLOSING, State.CLOSED):
                    raise self._closed_exception() from exc
                raise
            self._queue_output_locked()
            self._schedule_flush()

    # -- the public API: sending --------------------------------------------------------

    @staticmethod
    def _payload(data: Any, binary: bool) -> bytes:
        if isinstance(data, str):
            return data.encode()
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
        raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}")

    def send(
        self,
        data: str | bytes | bytearray | memoryview,
        *,
        binary: bool | None = None,
        fin: bool = True,
        compress: bool | None = None,
        mask: bool | None = None,
        callback: Callable[[BaseException | None], Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary, unless ``binary`` says.

        ``fin=False`` sends a fragment and keeps the message open; the next ``send``
        calls continue it, the one with ``fin=True`` ends it (as in ws).

        Args:
            data: the payload.
            binary: force the message type.
            fin: whether this ends the message.
            compress: per-message compression override when permessage-deflate is on.
            mask: must match the side (clients mask, servers don't; RFC 6455 §5.1).
            callback: ``callback(error)`` runs on the reactor thread once the OS took
                the bytes (``error`` is None) or the connection closed first.
            timeout: how long a user thread may wait while the outgoing buffer is
                above ``write_limit``.

        Raises:
            ConnectionClosed: the connection is closing or closed.
            InvalidState: the connection is not open yet.
            TimeoutError: the buffer stayed full for ``timeout`` seconds.
        """
        if mask is not None and mask != (self._proto.side is Side.CLIENT):
            raise ValueError("clients always mask frames and servers never do (RFC 6455 §5.1)")
        if binary is None:
            binary = not isinstance(data, str)
        payload = self._payload(data, binary)
        if self._out_size > self.write_limit and not self._reactor.in_thread():
            self._wait_writable(timeout)
        # What _command() does, inline: this is the per-message path.
        with self._lock:
            if self._finished:
                raise self._closed_exception()
            proto = self._proto
            try:
                if proto._send_fragmenting:
                    proto.send_continuation(payload, fin)
                elif binary:
                    proto.send_binary(payload, fin, compress=compress)
                else:
                    proto.send_text(payload, fin, compress=compress)
            except InvalidState as exc:
                if proto.state in (State.CLOSING, State.CLOSED):
                    raise self._closed_exception() from exc
                raise
            if callback is not None:
                self._add_send_callback(callback)
            self._queue_output_locked()
            self._schedule_flush()

    def _send_fragment(self, payload: bytes, kind: str, fin: bool) -> None:
        with self._command() as proto:
            if kind == "cont":
                proto.send_continuation(payload, fin)
            elif kind == "binary":
                proto.send_binary(payload, fin)
            else:
                proto.send_text(payload, fin)

    def _add_send_callback(self, callback: Callable[..., Any]) -> None:
        if self._send_callbacks is None:
            self._send_callbacks = collections.deque()
        self._send_callbacks.append((self._queued_total + self._pending_bytes(), callback))

    def _pending_bytes(self) -> int:
        return sum(len(chunk) for chunk in self._proto._out if chunk)

    def _wait_writable(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            cond = self._condition()
            while self._out_size > self.write_limit and not self._finished:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"send buffer stayed full for {timeout} seconds")
                cond.wait(_WAIT_SLICE if remaining is None else min(remaining, _WAIT_SLICE))

    @contextlib.contextmanager
    def stream(self, binary: bool = False) -> Iterator[_Stream]:
        """Send one message as several fragments: each ``write`` is a frame.

        Example::

            with ws.stream(binary=True) as out:
                for chunk in chunks:
                    out.write(chunk)
        """
        writer = _Stream(self, binary)
        yield writer
        writer._finish()

    def ping(self, data: str | bytes = b"") -> PongWaiter:
        """Send a ping; the returned waiter's ``wait(timeout)`` gives the round trip.

        Raises:
            ConnectionClosed: the connection is closing or closed.
            ValueError: more than 125 bytes.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        with self._command() as proto:
            proto.send_ping(payload)
            waiter = PongWaiter(payload)
            self._pings.append(waiter)
        return waiter

    def pong(self, data: str | bytes = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3)."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        with self._command() as proto:
            proto.send_pong(payload)

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Start the closing handshake; returns at once (see :meth:`wait_closed`).

        Closing before the connection opened aborts it. Closing twice does nothing.

        Raises:
            ValueError: the code may not be sent or the reason is over 123 bytes.
        """
        if code is not None:
            Close(code, reason).check()
        with self._lock:
            if self._finished:
                return
            state = self._proto.state
            if state is State.CONNECTING:
                self.error = ConnectionClosedError(None, None)
                self._reactor.call_soon(self._finish)
                return
            if state is not State.OPEN:
                return
            self._proto.send_close(code, reason)
            self._queue_output_locked()
            self._schedule_flush()

    def terminate(self) -> None:
        """Drop the connection at once, without a closing handshake."""
        if self._reactor.in_thread():
            self._finish()
        else:
            self._reactor.call_soon(self._finish)

    def pause(self) -> None:
        """Stop reading from the socket, so the peer's sends eventually block."""
        self._paused = True
        self._reactor.call_soon(self._update_interest)

    def resume(self) -> None:
        """Read from the socket again after :meth:`pause`."""
        self._paused = False
        self._reactor.call_soon(self._update_interest)

    @property
    def is_paused(self) -> bool:
        """Whether :meth:`pause` stopped reading."""
        return self._paused

    # -- the public API: receiving --------------------------------------------------------

    def _condition(self) -> threading.Condition:
        if self._cond is None:
            self._cond = threading.Condition(self._lock)
        return self._cond

    def recv(self, timeout: float | None = None) -> str | bytes:
        """Return the next message that no ``message`` listener took: ``str`` or ``bytes``.

        Raises:
            TimeoutError: nothing arrived within ``timeout`` seconds.
            ConnectionClosedOK: the connection closed normally (1000 or 1001).
            ConnectionClosedError: it closed with an error or dropped.
            ConcurrencyError: another thread is already waiting in ``recv``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            cond = self._condition()
            queue = self._queue
            if getattr(self, "_receiving", False):
                raise ConcurrencyError("another thread is already reading this connection")
            self._receiving = True
            self._reader_holding = False
            try:
                while not queue:
                    if self._pending_timer is not None:
                        self._lock.release()
                        try:
                            self._apply_pending()
                        finally:
                            self._lock.acquire()
                        continue
                    if self._done:
                        raise self._closed_exception()
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"no message within {timeout} seconds")
                    cond.wait(_WAIT_SLICE if remaining is None else min(remaining, _WAIT_SLICE))
                data = queue.popleft()
                self._reader_holding = True
                resume = self._queue_paused and len(queue) <= self.max_queue // 2
                if resume:
                    self._queue_paused = False
            finally:
                self._receiving = False
        if resume:
            self._reactor.call_soon(self._update_interest)
        return data

    def __iter__(self) -> Iterator[str | bytes]:
        """Yield messages until the connection closes.

        Ends quietly on a normal close (1000/1001); raises ``ConnectionClosedError``
        otherwise.
        """
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the TCP connection is closed; return False on timeout.

        Waiting for the close means reading no further, so a close (or failure) held
        behind unread messages is answered now.
        """
        if self._pending_timer is not None:
            self._apply_pending()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            cond = self._condition()
            while not self._done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                cond.wait(_WAIT_SLICE if remaining is None else min(remaining, _WAIT_SLICE))
        return True

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
        if not self._reactor.in_thread():
            self.wait_closed((self.close_timeout or 10.0) + 1.0)

    # -- ending ----------------------------------------------------------------------------

    def _closed_exception(self) -> ConnectionClosed:
        proto = self._proto
        rcvd, sent = proto.close_rcvd, proto.close_sent
        ok_codes = (CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY)
        if (
            rcvd is not None
            and sent is not None
            and rcvd.code in ok_codes
            and sent.code in ok_codes
        ):
            return ConnectionClosedOK(rcvd, sent, proto.close_rcvd_then_sent)
        return ConnectionClosedError(rcvd, sent, proto.close_rcvd_then_sent)

    def _fail_now(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._finish()

    def _finish(self) -> None:
        """On the reactor thread: close the socket and tell everyone, once."""
        if self._finished:
            return
        self._finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self._pending_timer is not None:
            self._pending_timer.cancel()
            self._pending_timer = None
        if self._sock is not None:
            self._reactor.unregister(self._sock)
            with contextlib.suppress(OSError):
                self._sock.close()
        self._interest = 0
        proto = self._proto
        with self._lock:
            proto.receive_eof()
            proto.data_to_send()
            self._out.clear()
            self._out_size = 0
            self._reactor_out = 0
            self._reactor_marks.clear()
            rcvd = proto.close_rcvd
            if rcvd is not None:
                self.close_code, self.close_reason = rcvd.code, rcvd.reason
            else:
                self.close_code, self.close_reason = CloseCode.ABNORMAL_CLOSURE, ""
            if self.error is None:
                self.error = proto.error or proto.handshake_exc or self._broken
            closed = self._closed_exception()
            self._done = True
            if self._cond is not None:
                self._cond.notify_all()
            callbacks = self._send_callbacks
            self._send_callbacks = None
        for waiter in self._pings:
            waiter._fail(closed)
        self._pings.clear()
        if callbacks:
            for _, callback in callbacks:
                self._reactor.call_soon(callback, closed)
        self._closed()

    def _closed(self) -> None:
        """After the socket closed: emit ``error`` when it failed, then ``close``."""
        logger.info(
            "%s: closed %s%s",
            self.url or self.remote_address,
            self.close_code,
            f" ({self.error})" if self.error is not None else "",
        )
        if self.error is not None and not self._opened:
            self.emit("error", self.error)
        elif self.error is not None and not isinstance(self.error, (ConnectionClosed,)):
            self.emit("error", self.error)
        self.emit("close", self.close_code, self.close_reason)

    def __repr__(self) -> str:
        state = ReadyState.names[self.ready_state]
        return f"<{type(self).__name__} {self.url or self.remote_address} {state}>"
