"""Reactor: one I/O thread that serves many sockets through epoll (or ``selectors``).

Idle connections should cost memory, not threads. The reactor owns every socket it is
given: it waits for readiness with one system call (``epoll_wait`` on Linux), calls the
handler registered for each ready socket, and runs timers from one heap. Other threads
reach it through :meth:`Reactor.call_soon` and :meth:`Reactor.call_later`, which are safe
to call from anywhere; everything else must run on the reactor thread.

Each wake-up costs only what it must: on Linux the loop calls ``select.epoll`` itself,
with a dictionary from file descriptor to handler, rather than going through
``selectors`` (which builds a key object and a list of tuples per wake-up and
translates masks); where epoll is missing, or with ``Reactor(backend="selectors")``,
a ``selectors.DefaultSelector`` (kqueue, poll or select) does the same job behind the
same interface. Handlers get ``EVENT_READ``/``EVENT_WRITE`` bits whichever is used; a
socket in error or hung up is reported ready for everything it is watched for, as
``selectors`` does, so its handler reads or writes and meets the error.

Handlers run on the reactor thread, so a slow handler delays every socket it serves.
Work queued with :meth:`Reactor.defer` runs after the current round of I/O, which lets a
connection answer a whole batch of received messages with one write.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import logging
import os
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "BACKENDS",
    "EVENT_READ",
    "EVENT_WRITE",
    "Reactor",
    "TimerHandle",
    "IOHandler",
    "current_reactor",
    "shared_reactor",
]

logger = logging.getLogger("wscli.core.reactor")

#: What a handler is told and what :meth:`Reactor.register` takes: epoll's (and poll's)
#: own bits, so the epoll loop passes masks on untranslated.
EVENT_READ: int = getattr(select, "EPOLLIN", 1)
EVENT_WRITE: int = getattr(select, "EPOLLOUT", 4)
# Error and hang-up: epoll reports them whether asked or not.
_HANGUP: int = getattr(select, "EPOLLERR", 8) | getattr(select, "EPOLLHUP", 16)

#: The readiness APIs a reactor can use: ``"epoll"`` (Linux) and ``"selectors"``.
BACKENDS: tuple[str, ...] = (("epoll",) if hasattr(select, "epoll") else ()) + ("selectors",)


_this_thread = threading.local()


def current_reactor() -> Reactor | None:
    """Return the reactor whose thread is calling, or None on any other thread.

    A sender asks this rather than its own reactor's :meth:`Reactor.in_thread`: a
    listener on one reactor sending to a connection served by another (a server
    relaying to a client connection) must not block either, or one slow peer would
    stop a whole reactor, and two relays facing each other would wait on each other.
    """
    reactor: Reactor | None = getattr(_this_thread, "reactor", None)
    return reactor


class IOHandler(Protocol):
    """What the reactor calls when a registered socket is ready."""

    def handle_io(self, mask: int) -> None: ...


class TimerHandle:
    """A scheduled call; :meth:`cancel` stops it from running.

    Cancelling drops the callback and its arguments at once, so a cancelled timer never
    keeps a closed connection alive until its deadline; the reactor removes the empty
    handles from its heap once they make up half of it.
    """

    __slots__ = ("when", "callback", "args", "cancelled", "_reactor")

    def __init__(
        self,
        when: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        reactor: Reactor | None = None,
    ) -> None:
        self.when = when
        self.callback: Callable[..., Any] | None = callback
        self.args = args
        self.cancelled = False
        self._reactor = reactor

    def take(self) -> tuple[Callable[..., Any], tuple[Any, ...]] | None:
        """On the reactor thread, once due: return the call to run, or None if cancelled."""
        callback, args = self.callback, self.args
        if callback is None or self.cancelled:
            return None
        self.callback, self.args, self._reactor = None, (), None
        return callback, args

    def cancel(self) -> None:
        """Keep the call from running and release what it holds; safe from any thread."""
        if self.cancelled:
            return
        self.cancelled = True
        self.callback = None
        self.args = ()
        reactor, self._reactor = self._reactor, None
        if reactor is not None:
            reactor.timer_cancelled()


class _Poller(Protocol):
    """What the loop needs from a readiness API: epoll's interface, in seconds."""

    def register(self, fd: int, events: int) -> None: ...
    def modify(self, fd: int, events: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]: ...
    def close(self) -> None: ...


class _SelectorsPoller:
    """The portable fallback: ``selectors.DefaultSelector`` behind epoll's interface."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()

    @staticmethod
    def _to_selectors(events: int) -> int:
        return (selectors.EVENT_READ if events & EVENT_READ else 0) | (
            selectors.EVENT_WRITE if events & EVENT_WRITE else 0
        )

    def register(self, fd: int, events: int) -> None:
        try:
            self._selector.register(fd, self._to_selectors(events))
        except KeyError as exc:  # as epoll says it
            raise FileExistsError(f"file descriptor {fd} is already registered") from exc

    def modify(self, fd: int, events: int) -> None:
        try:
            self._selector.modify(fd, self._to_selectors(events))
        except KeyError as exc:
            raise FileNotFoundError(f"file descriptor {fd} is not registered") from exc

    def unregister(self, fd: int) -> None:
        try:
            self._selector.unregister(fd)
        except KeyError as exc:
            raise FileNotFoundError(f"file descriptor {fd} is not registered") from exc

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        return [
            (
                key.fd,
                (EVENT_READ if mask & selectors.EVENT_READ else 0)
                | (EVENT_WRITE if mask & selectors.EVENT_WRITE else 0),
            )
            for key, mask in self._selector.select(timeout)
        ]

    def close(self) -> None:
        self._selector.close()


def _make_poller(backend: str) -> _Poller:
    if backend == "epoll" and "epoll" in BACKENDS:
        poller: _Poller = select.epoll()
        return poller
    if backend == "selectors":
        return _SelectorsPoller()
    raise ValueError(f"unknown or unavailable reactor backend {backend!r}; have {BACKENDS}")


class Reactor:
    """An I/O thread multiplexing sockets, with timers and a thread-safe call queue.

    Args:
        name: the thread's name, shown in debuggers and ``threading.enumerate()``.
        backend: the readiness API, one of :data:`BACKENDS`: ``"epoll"`` (the default
            where it exists) or ``"selectors"`` (the standard library's best choice for
            the platform: kqueue, poll or select).

    Raises:
        ValueError: ``backend`` is not available here.
    """

    def __init__(self, name: str = "wscli-reactor", *, backend: str | None = None) -> None:
        self.name = name
        #: The readiness API in use (see :data:`BACKENDS`).
        self.backend = backend or BACKENDS[0]
        self._poller = _make_poller(self.backend)
        # fd -> the handler's bound handle_io: the one lookup per ready socket.
        self._handlers: dict[int, Callable[[int], None]] = {}
        # fd -> (socket, events watched): for unregistering and for errors, not per event.
        self._watched: dict[int, tuple[socket.socket, int]] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        wake_fd = self._wake_r.fileno()
        self._poller.register(wake_fd, EVENT_READ)
        self._handlers[wake_fd] = self._drain_wakeups
        self._watched[wake_fd] = (self._wake_r, EVENT_READ)
        self._calls: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._deferred: list[Callable[[], None]] = []
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._cancelled_timers = 0  # cancelled handles still in the heap
        self._seq = itertools.count()
        self._woken = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: The I/O thread's ``threading.get_ident()`` while it runs, else None.
        self.thread_id: int | None = None
        self._start_lock = threading.Lock()
        #: The connection whose events are being handed on (its listeners are running),
        #: or None: a send those listeners make to another, slow connection pauses it.
        self.dispatching: Any = None
        #: A buffer the reactor thread reads into, shared by every connection it serves.
        self.read_buffer = bytearray(262144)
        self.read_view = memoryview(self.read_buffer)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Reactor:
        """Start the I/O thread if it is not running; returns ``self``."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the I/O thread and wait for it; sockets still registered are left open."""
        self._stopping = True
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the I/O thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def in_thread(self) -> bool:
        """Tell whether the caller runs on the reactor thread."""
        return threading.get_ident() == self.thread_id

    # -- calls from any thread -------------------------------------------------------

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the reactor thread, in order of calls."""
        self._calls.append((callback, args))
        if threading.get_ident() != self.thread_id:
            self._wake()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` on the reactor thread after ``delay`` seconds."""
        handle = TimerHandle(time.monotonic() + delay, callback, args, self)
        if threading.get_ident() == self.thread_id:
            heapq.heappush(self._timers, (handle.when, next(self._seq), handle))
        else:
            self.call_soon(self._push_timer, handle)
        return handle

    def _push_timer(self, handle: TimerHandle) -> None:
        heapq.heappush(self._timers, (handle.when, next(self._seq), handle))

    def timer_cancelled(self) -> None:
        """Count a cancelled timer; :class:`TimerHandle` calls it, from any thread."""
        self._cancelled_timers += 1

    def pending_calls(self) -> int:
        """Return how many :meth:`call_soon` calls wait to run."""
        return len(self._calls)

    def timer_count(self) -> int:
        """Return how many timers the heap holds, cancelled ones not yet removed included."""
        return len(self._timers)

    def _compact_timers(self) -> None:
        """Drop cancelled handles from the heap (on the reactor thread)."""
        self._timers[:] = [entry for entry in self._timers if not entry[2].cancelled]
        heapq.heapify(self._timers)
        self._cancelled_timers = 0

    def defer(self, callback: Callable[[], None]) -> None:
        """On the reactor thread: run ``callback`` once the current round of I/O is done."""
        self._deferred.append(callback)

    def _wake(self) -> None:
        if self._woken:
            return
        self._woken = True
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass

    # -- calls from the reactor thread ----------------------------------------------

    def register(self, sock: socket.socket, events: int, handler: IOHandler) -> None:
        """Watch ``sock`` for ``events`` and call ``handler.handle_io(mask)`` when ready.

        Raises:
            ValueError: the socket is closed.
            OSError: it is already watched (``FileExistsError``), or the OS refused.
        """
        fd = sock.fileno()
        self._poller.register(fd, events)
        self._handlers[fd] = handler.handle_io
        self._watched[fd] = (sock, events)

    def modify(self, sock: socket.socket, events: int, handler: IOHandler) -> None:
        """Change what ``sock`` is watched for, and who is told.

        Raises:
            ValueError: the socket is closed.
            OSError: it is not watched (``FileNotFoundError``), or the OS refused.
        """
        fd = sock.fileno()
        self._poller.modify(fd, events)
        self._handlers[fd] = handler.handle_io
        self._watched[fd] = (sock, events)

    def unregister(self, sock: socket.socket) -> None:
        """Stop watching ``sock``; harmless when it is not watched, or already closed."""
        fd = sock.fileno()
        if fd < 0:  # closed while watched (the OS dropped it from epoll): find it
            fd = next((f for f, (s, _) in self._watched.items() if s is sock), -1)
            if fd < 0:
                return
            self._handlers.pop(fd, None)
            self._watched.pop(fd, None)
            with contextlib.suppress(OSError, ValueError):
                self._poller.unregister(fd)
            return
        if self._watched.pop(fd, None) is None:
            return
        del self._handlers[fd]
        with contextlib.suppress(OSError, ValueError):
            self._poller.unregister(fd)

    def watched(self, sock: socket.socket) -> int:
        """Return the events ``sock`` is watched for, 0 when it is not watched."""
        entry = self._watched.get(sock.fileno())
        return entry[1] if entry is not None else 0

    # -- the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        self.thread_id = threading.get_ident()
        _this_thread.reactor = self
        try:
            # The loop reads nothing itself: this frame runs once, so CPython 3.11
            # never specialises its bytecode, and each attribute read here would take
            # the slow path on every wake-up. _run_once says whether to go on.
            run_once = self._run_once
            if not self._stopping:
                while run_once():
                    pass
        finally:
            self.thread_id = None
            _this_thread.reactor = None
            self._poller.close()
            self._wake_r.close()
            self._wake_w.close()

    def _run_once(self) -> bool:
        """One round: wait, handle ready sockets, calls, due timers, deferred work.

        A method of its own so that its locals (the ready list, the last callback)
        die with the round: the reactor then sleeps holding no closed connection.
        Returns whether to go on (False once :meth:`stop` was called).
        """
        calls = self._calls
        timers = self._timers
        if calls or self._deferred:
            timeout: float | None = 0
        elif timers:
            # Cancelled timers at the top of the heap (an open timeout once the
            # handshake is done) go now: the wait and the round then need no clock.
            while timers and timers[0][2].cancelled:
                heapq.heappop(timers)
                self._cancelled_timers -= 1
            timeout = max(0.0, timers[0][0] - time.monotonic()) if timers else None
        else:
            timeout = None
        try:
            ready = self._poller.poll(timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            return not self._stopping
        handlers = self._handlers
        for fd, mask in ready:
            try:
                handler = handlers[fd]  # one lookup, not a test and a lookup
            except KeyError:
                continue  # unregistered by a handler earlier in this round
            if mask & _HANGUP:
                # An error or hang-up: ready for whatever it is watched for, so the
                # handler meets the error (as selectors reports it).
                mask = self._watched[fd][1]
            try:
                handler(mask)
            except BaseException as exc:  # a handler bug must not stop other sockets
                _survive(exc, "an I/O handler")
        while calls:
            callback, args = calls.popleft()
            self._run_callback(callback, args)
        if timers:
            now = time.monotonic()
            while timers and timers[0][0] <= now:
                due = heapq.heappop(timers)[2].take()
                if due is not None:
                    self._run_callback(*due)
            if self._cancelled_timers > 64 and self._cancelled_timers * 2 > len(timers):
                self._compact_timers()
        if self._deferred:
            self._run_deferred()
        return not self._stopping

    def _run_deferred(self) -> None:
        while self._deferred:
            deferred, self._deferred = self._deferred, []
            for callback in deferred:
                self._run_callback(callback, ())

    @staticmethod
    def _run_callback(callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except BaseException as exc:
            _survive(exc, "a reactor callback")

    def _drain_wakeups(self, mask: int = EVENT_READ) -> None:
        # Read first, then clear the flag: a byte sent in between is read here too, and
        # with the flag cleared before, later callers would think a wake-up was pending.
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        self._woken = False


def _survive(exc: BaseException, where: str) -> None:
    """Log what escaped ``where`` and carry on: one bad callback must not stop the loop.

    ``SystemExit`` and the like are caught too, since a listener calling ``sys.exit()``
    would otherwise end the thread that serves every other connection. Only a
    ``KeyboardInterrupt`` on the main thread (a reactor run there) is let through.
    """
    if isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread():
        raise exc
    logger.error("unexpected error in %s", where, exc_info=exc)


_shared: Reactor | None = None
_shared_lock = threading.Lock()
_shared_pid: int | None = None


def shared_reactor() -> Reactor:
    """Return the process-wide reactor that client connections share, started."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or not _shared.running or _shared_pid != os.getpid():
            _shared = Reactor("wscli-client-reactor").start()
            _shared_pid = os.getpid()
        return _shared
