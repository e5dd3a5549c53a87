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

**Bounds.** A user thread sending while more than ``write_limit`` bytes wait blocks
until the peer reads (with its ``timeout``). A send that cannot wait (on the reactor
thread) and finds more than ``HARD_LIMIT_FACTOR × write_limit`` bytes waiting (held
messages included) fails the connection with 1013 (try again later) and raises
:class:`ConnectionClosedError`: a peer that does not read is dropped rather than
allowed to grow memory. :func:`~wscli.core.sync.server.broadcast` skips such peers
instead of failing them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, overload

from ..exceptions import ConnectionClosed, ConnectionClosedError, InvalidState
from ..frames import CloseCode, Opcode
from ..protocol import Protocol, Side, State
from .keepalive import Keepalive, PongWaiter
from .outbuffer import OutBuffer, SendCallback

if TYPE_CHECKING:
    from .reactor import Reactor

__all__ = ["HARD_LIMIT_FACTOR", "MessageStream", "SendSide", "broadcast", "check_mask"]

logger = logging.getLogger("wscli.core")

_WAIT_SLICE = 3600.0  # longest single wait; lets Ctrl-C through on every platform

#: How far past ``write_limit`` a send that cannot wait may find the buffer.
HARD_LIMIT_FACTOR = 4


class MessageStream:
    """The writer :meth:`Connection.stream` yields: each ``write`` sends one fragment."""

    __slots__ = ("_connection", "_binary")

    def __init__(self, connection: SendSide, binary: bool) -> None:
        self._connection = connection
        self._binary = binary

    def write(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send ``data`` as the next fragment of the message."""
        self._connection.send(data, binary=self._binary, fin=False)


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


class SendSide:
    """The sending half of :class:`~wscli.core.sync.connection.Connection`."""

    # Set by the connection's constructor.
    _lock: threading.Lock
    _reactor: Reactor
    _proto: Protocol
    _out: OutBuffer
    _finished: bool
    write_limit: int
    url: str | None
    remote_address: Any
    error: BaseException | None
    # The thread sending a fragmented message, and the sends held behind it.
    _send_owner: int | None = None
    _held: list[tuple[bytes, bool, bool | None, SendCallback | None]] | None = None
    _held_size = 0

    # -- hooks the connection provides ------------------------------------------------

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
        check_mask(self._proto, mask)
        if binary is None:
            binary = not isinstance(data, str)
        payload = _payload(data)
        in_reactor = self._reactor.in_thread()
        try:
            with self._lock:
                if not in_reactor and (
                    self._out.size > self.write_limit or self._send_owner is not None
                ):
                    self._wait_send_turn_locked(timeout)
                if self._finished:
                    raise self._closed_exception()
                if in_reactor:
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
                        return
                    self._check_hard_limit_locked()
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
                waiter = PongWaiter(payload)
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
        proto = self._proto
        if proto.state is State.OPEN:
            logger.info("%s: peer not reading, dropped", self.url or self.remote_address)
            self.error = ConnectionClosedError(None, None)
            proto.fail(CloseCode.TRY_AGAIN_LATER, "peer too slow")
            self._queue_output_locked()
            self._schedule_flush()
        raise ConnectionClosedError(proto.close_rcvd, proto.close_sent)

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
        """Send a whole message if that needs no waiting; return whether it was queued.

        Never blocks and never raises for the connection's state: the message is
        skipped (False) when the connection is not open, when more than ``write_limit``
        bytes already wait for this peer, or while a fragmented message owns the send
        side. This is what :func:`broadcast` uses; a slow peer then misses messages
        rather than growing the sender's memory.

        Raises:
            TypeError: ``data`` is neither ``str`` nor bytes-like.
        """
        if binary is None:
            binary = not isinstance(data, str)
        payload = _payload(data)
        with self._lock:
            if (
                self._finished
                or self._out.size > self.write_limit
                or self._send_owner is not None
                or self._proto.state is not State.OPEN
            ):
                return False
            try:
                self._send_locked(payload, binary, True, None)
            except (ConnectionClosed, InvalidState):
                return False
            self._queue_output_locked()
            self._schedule_flush()
        return True

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
    def stream(self, binary: bool = False) -> Iterator[MessageStream]:
        """Send one message as several fragments: each ``write`` is a frame.

        The message owns the send side until the block ends: other threads' sends
        wait for it. If the block raises, the message cannot be completed honestly,
        so the connection fails with 1011 (the peer never sees a truncated message as
        whole) and the exception propagates.

        Example::

            with ws.stream(binary=True) as out:
                for chunk in chunks:
                    out.write(chunk)
        """
        writer = MessageStream(self, binary)
        try:
            yield writer
        except BaseException:
            self._abort_message()
            raise
        self.send(b"", binary=True, fin=True) if binary else self.send("", fin=True)


def broadcast(
    clients: Iterable[SendSide],
    data: str | bytes | bytearray | memoryview,
    *,
    binary: bool | None = None,
) -> int:
    """Send one message to many connections without blocking; return how many took it.

    Each connection gets it through :meth:`SendSide.offer`: a connection that is not
    open, whose peer has more than ``write_limit`` bytes waiting (a slow or stuck
    reader), or that is in the middle of a fragmented message is skipped for this
    message. So a relay's memory stays bounded by ``write_limit`` per client however
    slow one of them is, and one stuck client never delays the others. Safe from any
    thread, listeners on the reactor thread included.

    Args:
        clients: the connections (for instance ``server.clients``).
        data: ``str`` for a text message, bytes-like for binary, unless ``binary`` says.
        binary: force the message type.
    """
    if binary is None:
        binary = not isinstance(data, str)
    payload = _payload(data)
    return sum(1 for client in list(clients) if client.offer(payload, binary=binary))
