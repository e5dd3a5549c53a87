"""SendSide: the sending half of a connection, where one message at a time owns the socket.

It sends messages (``send``, ``stream``, ``offer``) and control frames (``ping``,
``pong``); with a ``callback``, or ``fail_silently`` for control frames, a connection
that is not open is reported rather than raised, as ws does.

A message sent in fragments (:meth:`SendSide.stream`, or ``send(fin=False)``) owns the
send side until its last fragment:

* other threads' sends wait for its end, with their ``timeout``;
* sends made meanwhile on the reactor thread (listeners), which cannot wait, are held
  and go out right after it, in order;
* data of the other type sent by the owning thread is an :class:`InvalidState` error
  rather than a silent continuation;
* an exception inside ``stream()`` fails the connection with 1011 (``message
  aborted``): a half-sent message is never completed by whatever is sent next, and the
  peer never takes a truncated message for a whole one.

**Bounds: every sender, whatever its thread.** A user thread sending while more than
``write_limit`` bytes wait blocks until the peer reads (with its ``timeout``). A sender
that cannot wait (a listener on the reactor thread, or :meth:`SendSide.offer` and
:func:`broadcast` from anywhere) is never blocked; instead:

* when a listener of connection A sends to connection B and leaves more than
  ``write_limit`` waiting for B, A is not read until B's buffer drains: a relay runs at
  the pace of its slowest reader, and nothing is dropped;
* a B that stays above ``write_limit`` for ``close_timeout`` while holding a source has
  stopped reading: it is failed with 1013 (try again later) and its sources read again,
  so one stuck client stalls a relay for ``close_timeout`` at most;
* a send that finds more than ``HARD_LIMIT_FACTOR × write_limit`` waiting (held
  messages included), for instance where no source can be paused (a timer, a user
  thread's ``offer``), fails B with 1013 at once; ``send`` then raises
  :class:`ConnectionClosedError`, ``offer`` and ``broadcast`` return False for it.

So no peer can make the sender hold more than about ``HARD_LIMIT_FACTOR × write_limit``
for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from threading import get_ident
from typing import TYPE_CHECKING, Any, Literal, overload
from typing import Protocol as Interface

from ..exceptions import ConnectionClosed, ConnectionClosedError, InvalidState
from ..frames import CloseCode, Opcode
from ..protocol import Protocol, Side, State
from .keepalive import Keepalive, PongWaiter
from .outbuffer import OutBuffer, SendCallback
from .reactor import current_reactor

if TYPE_CHECKING:
    from .reactor import Reactor, TimerHandle

__all__ = ["HARD_LIMIT_FACTOR", "MessageStream", "SendSide", "broadcast", "check_mask"]

logger = logging.getLogger("wscli.core")

_WAIT_SLICE = 3600.0  # longest single wait; lets Ctrl-C through on every platform

#: How far past ``write_limit`` a send that cannot wait may find the buffer.
HARD_LIMIT_FACTOR = 4


class MessageStream:
    """The writer :meth:`Connection.stream` yields: each ``write`` sends one fragment."""

    __slots__ = ("_connection", "_binary", "_timeout")

    def __init__(self, connection: SendSide, binary: bool, timeout: float | None = None) -> None:
        self._connection = connection
        self._binary = binary
        self._timeout = timeout

    def write(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send ``data`` as the next fragment of the message.

        Raises:
            TimeoutError: the outgoing buffer stayed full for the stream's ``timeout``.
        """
        self._connection.send(data, binary=self._binary, fin=False, timeout=self._timeout)


def check_mask(protocol: Protocol, mask: bool | None) -> None:
    """Refuse a ``mask`` option the side cannot honour (ws lets the caller choose).

    Raises:
        ValueError: ``mask`` is given and is not what the side must do.
    """
    if mask is not None and mask != (protocol.side is Side.CLIENT):
        raise ValueError("clients always mask frames and servers never do (RFC 6455 §5.1)")


def _payload(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}")


class ReadingSource(Interface):
    """A connection whose reading another connection's full buffer can hold."""

    def pause_for(self, consumer: object) -> None:
        """Stop reading until ``resume_for(consumer)``."""

    def resume_for(self, consumer: object) -> None:
        """Read again, unless another consumer still holds the reading."""


class SendSide:
    """The sending half of :class:`~wscli.core.sync.connection.Connection`."""

    # Set by the connection's constructor.
    _lock: threading.Lock
    _reactor: Reactor
    _proto: Protocol
    _out: OutBuffer
    _finished: bool
    _dispatching: int  # the reactor thread's ident while it hands this one's events on
    write_limit: int
    url: str | None
    remote_address: Any
    error: BaseException | None
    # The thread sending a fragmented message, and the sends held behind it.
    _send_owner: int | None = None
    _held: list[tuple[bytes, bool, bool | None, SendCallback | None]] | None = None
    _held_size = 0
    # Connections not read until this buffer drains, and how long they may wait.
    _held_sources: set[ReadingSource] | None = None
    _drain_timer: TimerHandle | None = None
    close_timeout: float | None

    # -- hooks the connection provides ------------------------------------------------

    @property
    def peer_name(self) -> str:
        """The peer for a log line: the URL, else ``host:port`` (``[v6]:port``) or a path."""
        if self.url:
            return self.url
        address = self.remote_address
        if isinstance(address, tuple) and len(address) >= 2:
            host = str(address[0])
            return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
        return str(address) if address else "unix socket" if address == "" else "?"

    def _queue_output_locked(self) -> None:
        raise NotImplementedError

    def _schedule_flush(self) -> None:
        raise NotImplementedError

    def _closed_exception(self) -> ConnectionClosed:
        raise NotImplementedError

    def _condition(self) -> threading.Condition:
        raise NotImplementedError

    def _notify_locked(self) -> None:
        raise NotImplementedError

    def _command(self) -> contextlib.AbstractContextManager[Protocol]:
        raise NotImplementedError

    def _keepalive_part(self) -> Keepalive:
        raise NotImplementedError

    def send(
        self,
        data: str | bytes | bytearray | memoryview,
        *,
        binary: bool | None = None,
        fin: bool = True,
        compress: bool | None = None,
        mask: bool | None = None,
        callback: SendCallback | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary, unless ``binary`` says.

        ``fin=False`` sends a fragment and keeps the message open; the next ``send``
        calls from the same thread continue it, the one with ``fin=True`` ends it (as
        in ws). Meanwhile the message owns the send side: other threads' sends wait
        for its end, and sends from listeners are held until then.

        Args:
            data: the payload.
            binary: force the message type.
            fin: whether this ends the message.
            compress: per-message compression override when permessage-deflate is on.
            mask: must match the side (clients mask, servers don't; RFC 6455 §5.1).
            callback: ``callback(error)`` runs on the reactor thread once the OS took
                the bytes (``error`` is None) or with the ``ConnectionClosed`` error
                when the connection ended first. When the connection is not open
                (connecting, closing or closed), ``send`` does not raise: it calls
                ``callback(error)`` at once, on the calling thread, and returns.
            timeout: how long a user thread may wait while the outgoing buffer is
                above ``write_limit`` or another thread's fragmented message is open.

        Raises:
            ConnectionClosed: without ``callback``: the connection is closing or closed;
                also when a send
                that cannot wait (on the reactor thread) finds the peer so far behind
                that the connection is failed with 1013 (see the module docstring).
            InvalidState: without ``callback``: the connection is not open yet; with or
                without: the data's type differs from the fragmented message this
                thread has open.
            TimeoutError: the buffer stayed full, or another thread's message stayed
                open, for ``timeout`` seconds.
        """
        if mask is not None:
            check_mask(self._proto, mask)
        if binary is None:
            binary = not isinstance(data, str)
        payload = data if type(data) is bytes else _payload(data)
        try:
            if self._dispatching == get_ident() and fin:
                # A listener of this connection replying while its events are handed
                # on (only the reactor thread sets _dispatching, to its own ident, so
                # this reads it without the lock). The lock is taken as in _feed.
                lock = self._lock
                lock.acquire()
                try:
                    out = self._out
                    if (
                        self._send_owner is None
                        and not self._finished
                        and out.size <= self.write_limit
                    ):
                        # The per-message path: nothing is in the way (no open
                        # fragmented message, so the protocol sends a whole message),
                        # and the read that called the listener writes once they all
                        # ran.
                        proto = self._proto
                        try:
                            # compress passed even when None: a keyword-only argument
                            # left to its default costs a dictionary lookup per call.
                            if binary:
                                proto.send_binary(payload, True, compress=compress)
                            else:
                                proto.send_text(payload, True, compress=compress)
                        except InvalidState as exc:
                            if proto.state in (State.CLOSING, State.CLOSED):
                                raise self._closed_exception() from exc
                            raise
                        out.queue(proto.data_to_send(), from_reactor=True)
                        if callback is not None:
                            out.add_callback(callback, 0)
                        # Nothing to hold, whatever the size: the connection whose
                        # reading produced this reply is this one, bounded by its own
                        # output.
                        return
                finally:
                    lock.release()
            with self._lock:
                out = self._out
                if current_reactor() is not None:
                    # A reactor thread, this connection's or another's: it cannot wait.
                    if (
                        fin
                        and self._send_owner is None
                        and not self._finished
                        and out.size <= self.write_limit
                    ):
                        # The per-message path (a listener's reply): nothing in the way,
                        # so skip the general checks of _send_nowait_locked.
                        self._send_locked(payload, binary, True, compress)
                        out.queue(self._proto.data_to_send(), from_reactor=True)
                        if callback is not None:
                            out.add_callback(callback, 0)
                        self._schedule_flush()
                        over = out.size > self.write_limit
                    else:
                        over = self._send_nowait_locked(payload, binary, fin, compress, callback)
                else:
                    over = False
                    if self._out.size > self.write_limit or self._send_owner is not None:
                        self._wait_send_turn_locked(timeout)
                    if self._finished:
                        raise self._closed_exception()
                    self._send_locked(payload, binary, fin, compress)
                    self._queue_output_locked()
                    if callback is not None:
                        self._out.add_callback(callback, 0)
                    self._schedule_flush()
        except (ConnectionClosed, InvalidState) as exc:
            if callback is None or self._open_for_sending():
                raise  # no callback, or the caller's misuse rather than the state
            # As ws does: with a callback, a connection that is not open is reported
            # through it, at once and on this thread, instead of raised.
            callback(exc)
            return
        if over:
            self._hold_source()

    def _send_nowait_locked(
        self,
        payload: bytes,
        binary: bool,
        fin: bool,
        compress: bool | None,
        callback: SendCallback | None,
    ) -> bool:
        """With the lock held, for a sender that cannot wait: queue, or hold behind a
        fragmented message; return whether more than ``write_limit`` now waits.

        Raises:
            ConnectionClosedError: past the hard bound (the connection was failed).
        """
        if self._finished:
            raise self._closed_exception()
        owner = self._send_owner
        if owner is not None and owner != threading.get_ident():
            if not fin:
                raise InvalidState("another thread is sending a fragmented message")
            # Cannot wait here: hold the message until the fragmented one ends.
            if self._held is None:
                self._held = []
            self._held_size += len(payload)
            self._check_hard_limit_locked()
            # Held only once accepted: a refused send's callback runs once.
            self._held.append((payload, binary, compress, callback))
        else:
            self._check_hard_limit_locked()
            self._send_locked(payload, binary, fin, compress)
            self._queue_output_locked()
            if callback is not None:
                self._out.add_callback(callback, 0)
            self._schedule_flush()
        return self._out.size + self._held_size > self.write_limit

    def _open_for_sending(self) -> bool:
        """Whether the connection is open and not closing: what a send needs."""
        return not self._finished and self._proto.state is State.OPEN

    @overload
    def ping(
        self,
        data: str | bytes = ...,
        *,
        mask: bool | None = ...,
        fail_silently: Literal[False] = ...,
    ) -> PongWaiter: ...
    @overload
    def ping(
        self, data: str | bytes = ..., *, mask: bool | None = ..., fail_silently: bool
    ) -> PongWaiter | None: ...

    def ping(
        self, data: str | bytes = b"", *, mask: bool | None = None, fail_silently: bool = False
    ) -> PongWaiter | None:
        """Send a ping; the returned waiter's ``wait(timeout)`` gives the round trip.

        Args:
            data: the payload, up to 125 bytes.
            mask: as for :meth:`send`: must match the side when given.
            fail_silently: when the connection is not open, return ``None`` instead of
                raising (ws's ``dontFailWhenClosed``).

        Raises:
            ConnectionClosed: the connection is closing or closed.
            InvalidState: it is not open yet, or speaks hixie-76 (which has no pings).
            ValueError: more than 125 bytes, or a ``mask`` the side cannot use.
        """
        check_mask(self._proto, mask)
        payload = data.encode() if isinstance(data, str) else bytes(data)
        try:
            with self._command() as proto:
                proto.send_ping(payload)
                waiter = PongWaiter(payload, self._reactor)
                self._keepalive_part().add(waiter)
        except (ConnectionClosed, InvalidState):
            if fail_silently and not self._open_for_sending():
                return None
            raise
        return waiter

    def pong(
        self, data: str | bytes = b"", *, mask: bool | None = None, fail_silently: bool = False
    ) -> None:
        """Send an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3).

        ``mask`` and ``fail_silently`` are as for :meth:`ping`.
        """
        check_mask(self._proto, mask)
        payload = data.encode() if isinstance(data, str) else bytes(data)
        try:
            with self._command() as proto:
                proto.send_pong(payload)
        except (ConnectionClosed, InvalidState):
            if not (fail_silently and not self._open_for_sending()):
                raise

    def send_raw(self, data: bytes, *, timeout: float | None = 0) -> None:
        """Write ``data`` as it is: a crafted frame (:mod:`wscli.core.craft`), unchecked.

        The protocol's state does not change (see ``Protocol.send_raw``); the bytes join
        the outgoing buffer behind what is already queued. Like :meth:`send`, it stops
        at ``write_limit``: a peer that reads nothing cannot make crafted frames pile up
        without bound. It does not wait for another thread's fragmented message: a raw
        frame may go in the middle of one, which is what crafting is for.

        Args:
            data: the bytes to write.
            timeout: how long a user thread may wait while the outgoing buffer is above
                ``write_limit``: ``0`` (the default) not at all, ``None`` as long as it
                takes. A reactor thread never waits, whatever ``timeout`` says.

        Raises:
            ConnectionClosed: the connection is closed.
            TimeoutError: the buffer was above ``write_limit`` (the peer is not reading
                what was sent) and stayed so for ``timeout`` seconds.
        """
        payload = bytes(data)
        with self._command() as proto:
            if self._out.size > self.write_limit:
                can_wait = current_reactor() is None
                self._wait_below_limit_locked(timeout if can_wait else 0)
                if self._finished:
                    raise self._closed_exception()
            proto.send_raw(payload)

    def _wait_below_limit_locked(self, timeout: float | None) -> None:
        """With the lock held: wait until the outgoing buffer is back at ``write_limit``.

        Raises:
            TimeoutError: it was not within ``timeout`` seconds (``0``: at once).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        cond = self._condition()
        while not self._finished and self._out.size > self.write_limit:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                waited = f" after {timeout} seconds" if timeout else ""
                raise TimeoutError(
                    f"send buffer full: {self._out.size} bytes wait for the peer, more than "
                    f"write_limit ({self.write_limit}){waited}"
                )
            cond.wait(_WAIT_SLICE if remaining is None else min(remaining, _WAIT_SLICE))

    def _wait_send_turn_locked(self, timeout: float | None) -> None:
        """With the lock held: wait until the buffer drained and no other message is open."""
        deadline = None if timeout is None else time.monotonic() + timeout
        me = threading.get_ident()
        cond = self._condition()
        while not self._finished:
            full = self._out.size > self.write_limit
            owner = self._send_owner
            if not full and (owner is None or owner == me):
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                if full:
                    raise TimeoutError(f"send buffer stayed full for {timeout} seconds")
                raise TimeoutError(
                    f"another thread's fragmented message stayed open for {timeout} seconds"
                )
            cond.wait(_WAIT_SLICE if remaining is None else min(remaining, _WAIT_SLICE))

    def _check_hard_limit_locked(self) -> None:
        """On the reactor thread: fail with 1013 a peer too far behind to wait for."""
        if self._out.size + self._held_size <= self.write_limit * HARD_LIMIT_FACTOR:
            return
        self._shed_locked()
        raise ConnectionClosedError(self._proto.close_rcvd, self._proto.close_sent)

    def _send_locked(self, payload: bytes, binary: bool, fin: bool, compress: bool | None) -> None:
        """With the lock held: one data frame, opening, continuing or ending a message."""
        proto = self._proto
        try:
            open_type = proto.sending_message
            if open_type is not None:
                if (open_type is Opcode.BINARY) != binary:
                    kinds = ("binary", "text") if binary else ("text", "binary")
                    raise InvalidState(
                        f"cannot send {kinds[0]} data while a {kinds[1]} message is being "
                        "sent in fragments; end it first"
                    )
                proto.send_continuation(payload, fin)
            elif binary:
                proto.send_binary(payload, fin, compress=compress)
            else:
                proto.send_text(payload, fin, compress=compress)
        except InvalidState as exc:
            if proto.state in (State.CLOSING, State.CLOSED):
                raise self._closed_exception() from exc
            raise
        if proto.sending_message is not None:
            self._send_owner = threading.get_ident()
        elif self._send_owner is not None:
            self._send_owner = None
            self._release_held_locked()
            self._notify_locked()

    def _release_held_locked(self) -> None:
        """Send the messages that waited behind a fragmented one, in order."""
        held, self._held, self._held_size = self._held, None, 0
        if not held:
            return
        for payload, binary, compress, callback in held:
            self._send_locked(payload, binary, True, compress)
            if callback is not None:
                self._queue_output_locked()
                self._out.add_callback(callback, 0)

    def offer(
        self, data: str | bytes | bytearray | memoryview, *, binary: bool | None = None
    ) -> bool:
        """Send a whole message without ever blocking; return whether it was queued.

        Never raises for the connection's state: False when the connection is not open
        or was just failed for being too far behind (see the module docstring). Above
        ``write_limit``, called from a listener, it pauses the connection that listener
        serves until this one drains. This is what :func:`broadcast` uses.

        Raises:
            TypeError: ``data`` is neither ``str`` nor bytes-like.
        """
        if binary is None:
            binary = not isinstance(data, str)
        payload = _payload(data)
        with self._lock:
            if self._finished or self._proto.state is not State.OPEN:
                return False
            try:
                over = self._send_nowait_locked(payload, binary, True, None, None)
            except (ConnectionClosed, InvalidState):
                return False
        if over:
            self._hold_source()
        return True

    # -- flow control between connections ------------------------------------------------

    def _hold_source(self) -> None:
        """After a send that cannot wait left more than ``write_limit`` waiting here: stop
        reading the connection whose listener sent it, until this buffer drains.

        So a relay runs at the pace of its slowest reader instead of buffering for it.
        A peer that stays above ``write_limit`` for ``close_timeout`` (it stopped
        reading) is failed with 1013, and the connections it held are read again.
        """
        reactor = current_reactor()
        if reactor is None:
            return
        source = reactor.dispatching
        if source is None or source is self:
            return  # an echo: the connection's own reading is bounded by its output
        if reactor is self._reactor:
            sources = self._held_sources
            if sources is not None and source in sources:
                return
            source.pause_for(self)  # on the source's reactor thread: this one
            self._track_source(source)
        else:
            # The source is served by the calling thread's reactor, this connection by
            # another: pause the source here, and let this connection's own thread
            # track it (its buffer, timers and sources belong to that thread).
            source.pause_for(self)
            self._reactor.call_soon(self._track_source, source)

    def _track_source(self, source: ReadingSource) -> None:
        """On this connection's reactor thread: ``source`` waits for this buffer to
        drain; release it at once if it already did, else arm the grace timer."""
        if self._finished or self._out.size <= self.write_limit:
            source.resume_for(self)
            return
        sources = self._held_sources
        if sources is None:
            sources = self._held_sources = set()
        sources.add(source)
        if self._drain_timer is None:
            grace = self.close_timeout if self.close_timeout is not None else 10.0
            self._drain_timer = self._reactor.call_later(grace, self._drain_timed_out)

    def _release_sources(self) -> None:
        """On the reactor thread: read again the connections this buffer held."""
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        sources, self._held_sources = self._held_sources, None
        for source in sources or ():
            source.resume_for(self)

    def _drain_timed_out(self) -> None:
        self._drain_timer = None
        if not self._held_sources:
            return
        with self._lock:
            if not self._finished and self._out.size > self.write_limit:
                self._shed_locked()
        self._release_sources()

    def _shed_locked(self) -> None:
        """Fail the connection with 1013: its peer stopped reading what it must read."""
        proto = self._proto
        if proto.state is State.OPEN:
            logger.info("%s: peer not reading, dropped", self.peer_name)
            self.error = ConnectionClosedError(None, None)
            proto.fail(CloseCode.TRY_AGAIN_LATER, "peer too slow")
            self._queue_output_locked()
            self._schedule_flush()

    def _drop_held_locked(self) -> list[SendCallback]:
        """Once the connection ended: forget held sends; return their callbacks."""
        held, self._held, self._held_size = self._held, None, 0
        self._send_owner = None
        return [callback for *_, callback in held or () if callback is not None]

    def _abort_message(self) -> None:
        """Fail the connection with 1011 if this thread left a fragmented message open."""
        with self._lock:
            if self._send_owner != threading.get_ident() or self._finished:
                return
            self._send_owner = None
            if self._proto.state is State.OPEN:
                self._proto.fail(CloseCode.INTERNAL_ERROR, "message aborted")
                self._queue_output_locked()
                self._schedule_flush()
            self._notify_locked()

    @contextlib.contextmanager
    def stream(self, binary: bool = False, timeout: float | None = None) -> Iterator[MessageStream]:
        """Send one message as several fragments: each ``write`` is a frame.

        The message owns the send side until the block ends: other threads' sends
        wait for it. If the block raises, the message cannot be completed honestly,
        so the connection fails with 1011 (the peer never sees a truncated message as
        whole) and the exception propagates.

        Args:
            binary: send a binary message (text by default).
            timeout: how long each fragment, and the final one, may wait while the
                outgoing buffer is above ``write_limit`` (``TimeoutError`` past it,
                which fails the message as above); no bound by default.

        Example::

            with ws.stream(binary=True) as out:
                for chunk in chunks:
                    out.write(chunk)
        """
        writer = MessageStream(self, binary, timeout)
        try:
            yield writer
            self.send(b"" if binary else "", binary=binary, fin=True, timeout=timeout)
        except BaseException:
            self._abort_message()
            raise


def broadcast(
    clients: Iterable[SendSide],
    data: str | bytes | bytearray | memoryview,
    *,
    binary: bool | None = None,
) -> int:
    """Send one message to many connections without blocking; return how many took it.

    Each connection gets it through :meth:`SendSide.offer`, so nothing waits and
    nothing raises. Called from a listener, a slow reader pauses the connection that
    listener serves until it catches up (a relay goes at its slowest reader's pace and
    loses nothing); a reader that stopped reading is failed with 1013 after
    ``close_timeout``, or at once past ``HARD_LIMIT_FACTOR × write_limit`` waiting, and
    is not counted. Memory per client stays bounded either way. Safe from any thread.

    Args:
        clients: the connections (for instance ``server.clients``).
        data: ``str`` for a text message, bytes-like for binary, unless ``binary`` says.
        binary: force the message type.
    """
    if binary is None:
        binary = not isinstance(data, str)
    payload = _payload(data)
    return sum(1 for client in list(clients) if client.offer(payload, binary=binary))
