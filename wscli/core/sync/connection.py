"""Connection: one socket, one protocol, one lock, on a reactor, with its parts as owners.

The reactor thread reads, feeds the protocol under the lock, queues what the protocol
answers (pongs, the close echo) and then hands events on without holding the lock.
User threads call ``send``, ``ping`` and ``close``, which take the lock, ask the
protocol for bytes, try to write them at once and leave the rest to the reactor.

A connection is built from parts, each the one owner of its state:

* :class:`~wscli.core.sync.outbuffer.OutBuffer`: outgoing bytes, sizes, flush accounting,
  send callbacks and the gathered write;
* :class:`~wscli.core.sync.keepalive.Keepalive`: ping waiters and keepalive timers;
* :class:`~wscli.core.sync.delivery.Delivery` (inherited): the order of events, the queue
  that :meth:`Connection.recv` reads, and late listeners;
* :class:`~wscli.core.sync.interest.ReadInterest` (inherited): what the socket is
  watched for, and what holds reading (``pause()``, unread messages, relays).

The sending half (:class:`~wscli.core.sync.sending.SendSide`, inherited) lets one
message at a time own the send side and bounds every sender, the reactor thread
included; its module docstring gives the policy.

**Reading is bounded too.** While the reactor thread's own output (pongs, echoes,
listeners' replies) is above ``write_limit``, the socket is not read, so the peer's
TCP window closes; while ``max_queue`` messages wait unread, the socket is not read
either; and while a connection its listeners relayed to is behind
(:meth:`Connection.pause_for`), neither.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..events import Ping, Pong
from ..exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
)
from ..frames import OK_CLOSE_CODES, Close, CloseCode
from ..http11 import Request, Response
from ..protocol import Protocol, Side, State
from .delivery import ON_REACTOR, Delivery, MessageFlags
from .interest import ReadInterest
from .keepalive import Keepalive, PongWaiter
from .outbuffer import OutBuffer
from .properties import ConnectionProperties
from .reactor import EVENT_READ, EVENT_WRITE, Reactor, TimerHandle, current_reactor
from .sending import MessageStream, SendSide
from .wakeups import initial_lowat, set_lowat

__all__ = ["Connection", "MessageFlags", "PongWaiter", "ReadyState", "MessageStream"]

logger = logging.getLogger("wscli.core")

_WAIT_SLICE = 3600.0  # longest single wait; lets Ctrl-C through on every platform

# The second argument of ping and pong listeners, as in ws: their payload is bytes.
_CONTROL_FLAGS = MessageFlags(True)


_OPEN = State.OPEN

#: The W3C ``readyState`` values (CONNECTING 0, OPEN 1, CLOSING 2, CLOSED 3): the
#: protocol's own states, which are numbered so.
ReadyState = State


class Connection(ReadInterest, SendSide, Delivery, ConnectionProperties):
    """A WebSocket connection served by a reactor thread.

    Build one through :func:`wscli.connect`, :class:`wscli.WebSocket` or a
    :class:`wscli.Server`; the constructor is the I/O layer's business.

    Args:
        sock: a connected socket (TLS already negotiated), or ``None`` until a client
            has connected (see :meth:`_set_socket`).
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

    # Slots, not a dictionary: the reactor reads these on every wake-up, and CPython
    # reads a slot at once where an instance dictionary past 30 keys (or a class-level
    # default behind it) takes the slow path each time. The parts' state is here too.
    __slots__ = (
        # Connection
        "_proto",
        "_reactor",
        "open_timeout",
        "close_timeout",
        "max_queue",
        "write_limit",
        "ping_interval",
        "ping_timeout",
        "url",
        "_lock",
        "_out",
        "_sock",
        "_cond",
        "_timer",
        "_pending_timer",
        "_keepalive",
        "_interest",
        "_reading_since",
        "_flush_scheduled",
        "_dispatching",
        "_paused",
        "_paused_for",
        "_reading",
        "_opened",
        "_finished",
        "_broken",
        "_handshake_failed",
        "_tls",
        "_bytes_read",
        "_payload_view",
        "_lowat",
        "close_code",
        "close_reason",
        "error",
        "remote_address",
        # Delivery
        "_listeners",
        "_queue",
        "_missed",
        "_queue_paused",
        "_catch_up_due",
        "_receiving",
        "_reader_holding",
        "_done",
        # SendSide
        "_send_owner",
        "_held",
        "_held_size",
        "_held_sources",
        "_drain_timer",
    )

    _cond: threading.Condition | None
    _timer: TimerHandle | None  # open or close timer
    _pending_timer: TimerHandle | None
    _keepalive: Keepalive | None
    # While _feed hands events on: the reactor thread's ident (0 otherwise); the sends
    # its listeners make are written once they all ran.
    _dispatching: int
    _paused_for: set[object] | None  # consumers whose full buffers hold reading
    _broken: BaseException | None
    _payload_view: memoryview | None  # where to read a large payload's rest
    _lowat: int  # the socket's SO_RCVLOWAT, 0 where unused (wakeups.py)
    _bytes_read: int  # from the socket, the opening handshake included
    close_code: int | None
    #: Why the connection failed, when it did (handshake, protocol or network error).
    error: BaseException | None
    remote_address: Any

    def __init__(
        self,
        sock: socket.socket | None,
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
        self._proto = protocol
        self._reactor = reactor
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.max_queue = max_queue
        self.write_limit = write_limit
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.url = url
        self._lock = threading.Lock()
        self._out = OutBuffer()
        self._cond = self._timer = self._pending_timer = self._keepalive = None
        self._interest = self._dispatching = self._bytes_read = 0
        self._reading_since = 0.0
        self._flush_scheduled = self._paused = self._reading = self._opened = False
        self._finished = self._handshake_failed = self._tls = False
        self._paused_for = self._broken = self.close_code = self.error = None
        self._payload_view = None
        self._lowat = 0
        self.close_reason = ""
        self.remote_address = None
        # The parts' state (see Delivery, SendSide and EventEmitter for what it means).
        self._listeners = self._queue = self._missed = None
        self._queue_paused = self._catch_up_due = self._receiving = False
        self._reader_holding = self._done = False
        self._send_owner = self._held = self._held_sources = self._drain_timer = None
        self._held_size = 0
        # Clients connect after construction; until then there is no socket.
        self._sock: socket.socket = sock  # type: ignore[assignment]
        if sock is not None:
            self._set_socket(sock)

    def _set_socket(self, sock: socket.socket) -> None:
        """Take over a connected socket (clients get theirs after construction)."""
        self._sock = sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._lowat = initial_lowat(sock)
        try:
            self.remote_address = sock.getpeername()
        except OSError:
            self.remote_address = None
        sock.setblocking(False)

    def _replace_transport(self, protocol: Protocol) -> None:
        """On the reactor thread, before the handshake completed: drop the socket and
        everything tied to it, and start over with ``protocol`` (a client following a
        redirect). The connection's identity, listeners and options stay.
        """
        if self._sock is not None:
            self._reactor.unregister(self._sock)
            with contextlib.suppress(OSError):
                self._sock.close()
        for timer in (self._timer, self._pending_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._pending_timer = None
        with self._lock:
            self._out = OutBuffer()
            self._proto = protocol
        self._interest = 0
        self._reading = False
        self._broken = None
        self._handshake_failed = False
        self._bytes_read = 0  # bytes_received counts from the new handshake
        self._payload_view = None

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
            self._bytes_read += len(initial)
            self._feed(initial)

    def _open_timed_out(self) -> None:
        self._timer = None
        if self._proto.state is State.CONNECTING and not self._finished:
            self._fail_now(TimeoutError("timed out during the opening handshake"))

    # -- reactor side ------------------------------------------------------------------

    def handle_io(self, mask: int) -> None:
        """Called by the reactor when the socket is ready: read, then write what waits.

        Reading is inline (no method of its own): this runs on every wake-up.
        """
        if self._finished:
            return
        if mask & EVENT_READ and not self._paused:
            view = self._reactor.read_view
            sock = self._sock
            while True:
                # The rest of a large payload is read straight into the buffer the
                # application gets (Protocol.payload_buffer), not through the read buffer.
                target = self._payload_view
                try:
                    n = sock.recv_into(view if target is None else target)
                except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                    break
                except ssl.SSLWantWriteError:
                    break
                except OSError as exc:
                    self._fail_now(self._socket_error(exc))
                    break
                self._bytes_read += n
                if target is None or not n:
                    self._feed(view[:n] if n else b"")
                else:
                    self._feed(b"", payload_size=n)
                # TLS may hold decrypted bytes that epoll cannot see.
                if not n or not self._tls or self._finished or not sock.pending():  # type: ignore[attr-defined]
                    break
        if mask & EVENT_WRITE and not self._finished:
            with self._lock:
                self._flush_locked()
            self._after_io()

    def _feed(self, data: bytes | memoryview, payload_size: int = 0) -> None:
        """Hand ``data`` (EOF when empty) to the protocol, or ``payload_size`` bytes
        read into its payload buffer; then pass the events on. (The caller counts
        them in ``_bytes_read``.)"""
        proto = self._proto
        # acquire() and release(), not `with`: no bound __enter__ and __exit__ methods
        # made per use (this runs on the reactor thread, where no KeyboardInterrupt
        # can land between the two).
        lock = self._lock
        lock.acquire()
        try:
            if data or payload_size:
                # A violation or close found now waits while messages before it are
                # unread, or the reader is still on the last one.
                if self._reader_holding or self._queue:
                    proto.hold_failures = True
                elif proto.hold_failures:
                    proto.hold_failures = False
                if payload_size:
                    proto.payload_received(payload_size)
                else:
                    proto.receive_data(data)
            else:
                proto.receive_eof()
            events = proto.events_received()
            output = proto.data_to_send()  # pongs, the close echo; mostly nothing
            if output:
                self._out.queue(output, from_reactor=True)
            view = self._payload_view = proto.payload_buffer()
            if view is not None or self._lowat > 1:
                # Wake up once the rest of a large payload is here (wakeups.py).
                self._lowat = set_lowat(self._sock, self._lowat, 0 if view is None else len(view))
        finally:
            lock.release()
        if events:
            reactor = self._reactor
            self._dispatching = reactor.thread_id or 0
            reactor.dispatching = self
            try:
                self._handle_events(events)
            finally:
                self._dispatching = 0
                reactor.dispatching = None
        self._events_handled()

    def _events_handled(self) -> None:
        """After events were handed on: apply a failure that waited, write, move on."""
        proto = self._proto
        lock = self._lock  # as in _feed
        lock.acquire()
        try:
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
        finally:
            lock.release()
        if proto.state is _OPEN and self._broken is None:
            # The steady state, every message: an open protocol has had no EOF (that
            # closes it), no failed handshake and expects no close, so of _after_io
            # only the interest may need a change, and not while these hold: the
            # conditions of _update_interest for "read only" (EOF implied, and the
            # reactor's output within write_limit since nothing waits at all).
            if (
                self._interest == EVENT_READ
                and not self._out.waiting
                and self._reading
                and not self._paused
                and not self._queue_paused
                and not self._paused_for
            ):
                return
        self._after_io()

    def _arm_pending_timer(self) -> None:
        if self._pending_timer is None:
            delay = self.close_timeout if self.close_timeout is not None else 10.0
            if not self._queue and self._proto.close_pending:
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
        if proto.eof_received and not self._out.waiting:
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
                self._handshake_refused()
        if (
            proto.state is not _OPEN  # an open protocol expects no close: skip the call
            and proto.close_expected()
            and self._opened_or_failed()
            and self._timer is None
        ):
            if self.close_timeout is not None:
                self._timer = self._reactor.call_later(self.close_timeout, self._close_timed_out)
        self._update_interest()

    def _handshake_refused(self) -> None:
        """Hook, once: the handshake failed with an answer queued (a server's refusal)."""

    def _opened_or_failed(self) -> bool:
        return self._proto.state is not State.CONNECTING or self._proto.handshake_exc is not None

    def _close_timed_out(self) -> None:
        self._timer = None
        if not self._finished:
            self._finish()

    def _handle_event(self, event: Any) -> None:
        """Act on one event that is not a message (``_handle_events`` hands those on)."""
        kind = type(event)
        if kind is Ping:
            self._emit_event("ping", event.data, _CONTROL_FLAGS)
        elif kind is Pong:
            if self._keepalive is not None:
                self._keepalive.pong_received(event.data)
            self._emit_event("pong", event.data, _CONTROL_FLAGS)
        elif kind is Close:
            pass  # reported with the "close" event once the TCP connection ends
        elif kind is Response:
            self._handshake_done()
        elif kind is Request:
            self._request_received(event)

    def _request_received(self, request: Request) -> None:
        """Server side: a handshake request arrived; the server connection decides."""
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
        logger.info("%s: open", self.peer_name)
        if self.ping_interval is not None:
            self._keepalive_part().start()
        with self._lock:
            if self._cond is not None:
                self._cond.notify_all()
        self._emit_event("open")

    def _keepalive_part(self) -> Keepalive:
        if self._keepalive is None:
            self._keepalive = Keepalive(
                self._reactor,
                self.ping_interval,
                self.ping_timeout,
                self.ping,
                self._keepalive_timed_out,
            )
        return self._keepalive

    def _keepalive_timed_out(self, ping_sent_at: float) -> None:
        if self._finished:
            return
        if self._pong_may_wait_unread(ping_sent_at, self.ping_timeout or 0.0):
            # Reading is held by the application (pause(), unread messages) or by a
            # connection this one relays to, or restarted too recently: the pong may be
            # waiting unread, so a late one says nothing about the peer. Wait again.
            # (Reading held because the peer does not read our output is the peer's
            # doing: that fails below.)
            if self._keepalive is not None:
                self._keepalive.postpone()
            return
        self.error = TimeoutError("keepalive ping timeout")
        with self._lock:
            # RFC 6455 §7.4.1: 1011 is the closest code for a peer that stopped answering.
            self._proto.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            self._queue_output_locked()
            self._flush_locked()
        self._after_io()

    # -- writing ----------------------------------------------------------------------

    def _queue_output_locked(self) -> None:
        self._out.queue(self._proto.data_to_send(), from_reactor=self._reactor.in_thread())

    def _flush_locked(self) -> None:
        """Write what the socket takes now; call with the lock held."""
        self._flush_scheduled = False
        out = self._out
        was_over = out.reactor_size > self.write_limit
        error = out.write(self._sock, self._tls)
        if error is not None:
            self._broken = self._socket_error(error)
        if was_over and out.reactor_size <= self.write_limit:
            self._reactor.call_soon(self._update_interest)  # read again
        if self._held_sources and out.size <= self.write_limit:
            self._reactor.call_soon(self._release_sources)
        if out.callbacks_waiting:
            for callback in out.due_callbacks():
                self._reactor.call_soon(callback, None)
        if self._cond is not None and out.size <= self.write_limit:
            self._cond.notify_all()

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

    # -- the public API: receiving --------------------------------------------------------

    def _condition(self) -> threading.Condition:
        if self._cond is None:
            self._cond = threading.Condition(self._lock)
        return self._cond

    def _notify_locked(self) -> None:
        if self._cond is not None:
            self._cond.notify_all()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the TCP connection is closed; return False on timeout.

        Waiting for the close means reading no further, so a close (or failure) held
        behind unread messages is answered now.

        Raises:
            InvalidState: called from a listener (the reactor thread) before the end:
                that thread must run for the connection to close.
        """
        if self._pending_timer is not None:
            self._apply_pending()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            cond = self._condition()
            if not self._done and self._reactor.in_thread():
                raise InvalidState(ON_REACTOR.format("wait_closed()"))
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
        # On any reactor thread (a listener), waiting would stall every connection it
        # serves for up to close_timeout: the close goes on without the wait.
        if current_reactor() is None:
            self.wait_closed((self.close_timeout or 10.0) + 1.0)

    # -- ending ----------------------------------------------------------------------------

    def _closed_exception(self) -> ConnectionClosed:
        proto = self._proto
        rcvd, sent = proto.close_rcvd, proto.close_sent
        if (
            rcvd is not None
            and sent is not None
            and rcvd.code in OK_CLOSE_CODES
            and sent.code in OK_CLOSE_CODES
        ):
            return ConnectionClosedOK(rcvd, sent, proto.close_rcvd_then_sent)
        return ConnectionClosedError(rcvd, sent, proto.close_rcvd_then_sent)

    def _socket_error(self, exc: OSError) -> BaseException:
        """Return what to report for a failed read or write (a client refines TLS ones)."""
        return exc

    def _fail_now(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._finish()

    def _finish(self) -> None:
        """On the reactor thread: close the socket and tell everyone, once."""
        if self._finished:
            return
        self._finished = True
        for timer in (self._timer, self._pending_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._pending_timer = None
        if self._sock is not None:
            self._reactor.unregister(self._sock)
            with contextlib.suppress(OSError):
                self._sock.close()
        self._interest = 0
        proto = self._proto
        with self._lock:
            proto.receive_eof()
            proto.data_to_send()
            self._payload_view = None
            callbacks = self._out.clear() + self._drop_held_locked()
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
        if self._keepalive is not None:
            self._keepalive.stop(closed)
        if self._held_sources:
            self._release_sources()
        for callback in callbacks:
            self._reactor.call_soon(callback, closed)
        self._closed()

    def _closed(self) -> None:
        """After the socket closed: emit ``error`` when it failed, then ``close``."""
        logger.info(
            "%s: closed %s%s",
            self.peer_name,
            self.close_code,
            f" ({self.error})" if self.error is not None else "",
        )
        if self.error is not None and (
            not self._opened or not isinstance(self.error, ConnectionClosed)
        ):
            self._emit_event("error", self.error)
        self._emit_event("close", self.close_code, self.close_reason)

    def __repr__(self) -> str:
        state = self.ready_state.name
        return f"<{type(self).__name__} {self.url or self.remote_address} {state}>"
