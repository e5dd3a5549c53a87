"""Delivery: one ordered stream of events per connection.

Order is a property of the connection, not of timing: ``open`` first, then messages in
the order they arrived, then ``close`` last, whichever thread reads and whenever the
listeners were attached. Three rules give that:

* **One thread delivers.** Every event is handed on by the reactor thread, in the order
  the protocol produced it.
* **What found no listener waits, in order.** A message nobody listens to joins the
  queue that :meth:`~wscli.core.sync.connection.Connection.recv` reads; an ``open``,
  ``error`` or ``close`` nobody listened to is kept for the first listener added later.
* **Catching up comes before anything newer.** Adding a listener for which something
  waits schedules a catch-up on the reactor thread, and every delivery first runs a
  catch-up that is due. So a late listener gets what it missed, in order, before any
  event that arrived after it was attached, even when that event is read before the
  scheduled catch-up would have run.

Whether an event found a listener is decided under the connection's lock, and
:meth:`Delivery._listener_added` checks for waiting events under the same lock after
the listener is in place: an event is either seen by the new listener directly or kept
for it, never neither. Listeners themselves run without the lock.

A listener that raises (anything but a ``KeyboardInterrupt`` on the main thread, so a
stray ``sys.exit()`` too) is reported (``error`` listeners, else the log) and never
stops delivery.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..events import Message
from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK, InvalidState
from ..logs import logger
from .emitter import EventEmitter

if TYPE_CHECKING:
    from .reactor import Reactor, TimerHandle

__all__ = ["Delivery", "MessageFlags"]

_WAIT_SLICE = 3600.0  # longest single wait; lets Ctrl-C through on every platform

# One-shot events a late listener is still told about, in the order they can happen.
_STICKY = ("open", "error", "close")


class MessageFlags:
    """The second argument of ``message`` listeners, as in ws: ``flags.binary``."""

    __slots__ = ("binary",)

    def __init__(self, binary: bool) -> None:
        self.binary = binary

    def __repr__(self) -> str:
        return f"MessageFlags(binary={self.binary})"


#: Why a blocking call on the connection's own reactor thread is refused.
ON_REACTOR = (
    "{} would wait on the reactor thread (in a listener), which is the thread that "
    "must end the wait; call it from another thread"
)

_TEXT_FLAGS = MessageFlags(False)
_BINARY_FLAGS = MessageFlags(True)


class Delivery(EventEmitter):
    """The receiving half of a connection: event order, unread messages, late listeners.

    :class:`~wscli.core.sync.connection.Connection` inherits it; the queue of unread
    messages is read by its ``recv`` under the same lock.
    """

    # Set by the connection's constructor.
    _lock: threading.Lock
    _reactor: Reactor
    _cond: threading.Condition | None
    max_queue: int
    # Created on first use: most connections never queue a message or miss an event.
    _queue: collections.deque[str | bytes] | None = None
    _missed: dict[str, tuple[Any, ...]] | None = None
    _queue_paused = False
    _catch_up_due = False

    _receiving = False  # a thread is in recv()
    _reader_holding = False  # recv() returned a message and wasn't called since
    _pending_timer: TimerHandle | None = None
    _done = False  # set under the lock once close_code and friends are final

    # -- hooks the connection provides ------------------------------------------------

    def _condition(self) -> threading.Condition:
        raise NotImplementedError

    def _apply_pending(self) -> None:
        raise NotImplementedError

    def _closed_exception(self) -> ConnectionClosed:
        raise NotImplementedError

    def _update_interest(self) -> None:
        raise NotImplementedError

    def _events_handled(self) -> None:
        raise NotImplementedError

    def _handle_event(self, event: Any) -> None:
        raise NotImplementedError

    # -- the unread queue --------------------------------------------------------------

    def _unread(self) -> int:
        """Return how many messages wait for ``recv``."""
        queue = self._queue
        return len(queue) if queue else 0

    def _take_locked(self) -> tuple[str | bytes, bool]:
        """With the lock held and a message waiting: pop it; say whether to read again."""
        queue = self._queue
        assert queue
        data = queue.popleft()
        resume = self._queue_paused and len(queue) <= self.max_queue // 2
        if resume:
            self._queue_paused = False
        return data, resume

    def _enqueue_locked(self, data: str | bytes) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = collections.deque()
        queue.append(data)
        if self._cond is not None:
            self._cond.notify_all()
        if len(queue) >= self.max_queue:
            self._queue_paused = True

    # -- reading, from any thread -----------------------------------------------------

    def recv(self, timeout: float | None = None) -> str | bytes:
        """Return the next message that no ``message`` listener took: ``str`` or ``bytes``.

        Raises:
            TimeoutError: nothing arrived within ``timeout`` seconds.
            ConnectionClosedOK: the connection closed normally (1000, 1001 or no code).
            ConnectionClosedError: it closed with an error or dropped.
            ConcurrencyError: another thread is already waiting in ``recv``.
            InvalidState: called from a listener (the reactor thread) with nothing
                queued: the thread that would read the message is the one waiting.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            cond = self._condition()
            if self._receiving:
                raise ConcurrencyError("another thread is already reading this connection")
            self._receiving = True
            self._reader_holding = False
            try:
                while not self._queue:
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
                    if self._reactor.in_thread():
                        raise InvalidState(ON_REACTOR.format("recv()"))
                    cond.wait(_WAIT_SLICE if remaining is None else min(remaining, _WAIT_SLICE))
                data, resume = self._take_locked()
                self._reader_holding = True
            finally:
                self._receiving = False
        if resume:
            self._reactor.call_soon(self._update_interest)
        return data

    def __iter__(self) -> Iterator[str | bytes]:
        """Yield messages until the connection closes.

        Ends quietly on a normal close (1000, 1001 or no code); raises ``ConnectionClosedError``
        otherwise.
        """
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    # -- delivering, on the reactor thread ----------------------------------------------

    def _handle_events(self, events: list[Any]) -> None:
        """Hand on one read's events, in order: messages here, the rest to the connection."""
        for event in events:
            if type(event) is not Message:
                self._handle_event(event)
                continue
            data = event.data
            listeners = self._listeners
            message_listeners = listeners.get("message") if listeners else None
            if message_listeners and not self._catch_up_due and not self._queue:
                # The per-message path: nothing waits before it and someone listens,
                # so call the listeners without emit()'s generality.
                flags = _BINARY_FLAGS if type(data) is bytes else _TEXT_FLAGS
                for listener in message_listeners:
                    try:
                        listener(data, flags)
                    except BaseException as exc:
                        self._listener_raised("message", exc)
            else:
                self._deliver(data)

    def _deliver(self, data: str | bytes) -> None:
        """Hand a message on behind what waits: catch up, then listeners or the queue."""
        if self._catch_up_due or self._queue:
            self._catch_up()
        paused = False
        with self._lock:
            listeners = self._listeners
            message_listeners = listeners.get("message") if listeners else None
            if not message_listeners or self._queue:
                self._enqueue_locked(data)
                paused = self._queue_paused
                message_listeners = None
        if message_listeners:
            self._call_message_listeners(message_listeners, data)
        elif paused:
            self._update_interest()

    def _call_message_listeners(self, listeners: list[Any], data: str | bytes) -> None:
        flags = _BINARY_FLAGS if type(data) is bytes else _TEXT_FLAGS
        for listener in listeners:
            try:
                listener(data, flags)
            except BaseException as exc:
                self._listener_raised("message", exc)

    def _emit_event(self, name: str, *args: Any) -> None:
        """Emit ``name`` in order; an ``open``/``error``/``close`` nobody hears is kept."""
        if self._catch_up_due:
            self._catch_up()
        if name in _STICKY:
            with self._lock:
                if not self.listener_count(name):
                    if self._missed is None:
                        self._missed = {}
                    self._missed[name] = args
                    missed = True
                else:
                    missed = False
            if missed:
                if name == "error" and args:
                    logger.log(
                        self.unhandled_error_level, "%r: unhandled error event: %s", self, args[0]
                    )
                return
        self.emit(name, *args)

    def _listener_added(self, name: str, listener: Any) -> None:
        """A listener was added (any thread): schedule a catch-up if something waits."""
        with self._lock:
            missed = self._missed
            due = bool(missed and name in missed) or (name == "message" and bool(self._queue))
            if not due or self._catch_up_due:
                return
            self._catch_up_due = True
        self._reactor.call_soon(self._catch_up)

    def _catch_up(self) -> None:
        """On the reactor thread: give waiting events to the listeners added since."""
        if not self._catch_up_due:
            return
        self._catch_up_due = False
        reactor = self._reactor
        previous, reactor.dispatching = reactor.dispatching, self
        try:
            self._catch_up_events()
        finally:
            reactor.dispatching = previous

    def _catch_up_events(self) -> None:
        self._replay("open")
        drained = False
        while self.listener_count("message"):
            with self._lock:
                if not self._queue:
                    break
                data, _ = self._take_locked()
                listeners = (self._listeners or {}).get("message")
            drained = True
            if listeners:
                self._call_message_listeners(listeners, data)
        self._replay("error")
        self._replay("close")
        if drained:
            if not self._queue:
                # The listener has had every message: a close or failure held behind
                # them may go now.
                self._events_handled()
            else:
                self._update_interest()

    def _replay(self, name: str) -> None:
        with self._lock:
            missed = self._missed
            if not missed or name not in missed or not self.listener_count(name):
                return
            args = missed.pop(name)
        self.emit(name, *args)
