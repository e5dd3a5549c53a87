"""ReadInterest: what a connection's socket is watched for, and what holds its reading.

The reactor watches each socket for reading, writing, both or neither
(:meth:`ReadInterest._update_interest`). Writing is watched while bytes wait. Reading
is watched unless something holds it, each for its own reason, each released by its
own owner:

* ``pause()``: the application (:meth:`ReadInterest.pause`, :meth:`ReadInterest.resume`);
* ``max_queue`` unread messages: the queue that ``recv()`` reads (``Delivery``);
* a connection this one's listeners relay to, whose peer is behind
  (:meth:`ReadInterest.pause_for`, :meth:`ReadInterest.resume_for`; see
  :mod:`~wscli.core.sync.sending`);
* more than ``write_limit`` bytes of the reactor thread's own output waiting (pongs,
  echoes, replies): a peer that does not read what reading produced is not read;
* EOF from the peer, or the socket not started yet.

:class:`~wscli.core.sync.connection.Connection` inherits it; after every round of I/O
its ``_events_handled`` checks the same conditions in the steady state, without the
call.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

from ..protocol import Protocol
from .outbuffer import OutBuffer
from .reactor import EVENT_READ, EVENT_WRITE

if TYPE_CHECKING:
    from .reactor import Reactor

__all__ = ["ReadInterest"]


class ReadInterest:
    """What the socket is watched for, and the holds on reading (a base of ``Connection``)."""

    # Set by the connection's constructor.
    _proto: Protocol
    _reactor: Reactor
    _sock: socket.socket
    _out: OutBuffer
    _lock: threading.Lock
    write_limit: int
    _finished: bool
    _interest: int  # the events the reactor watches the socket for now
    _reading: bool  # started (and not replaced by a redirect)
    _paused: bool  # pause()
    _queue_paused: bool  # max_queue messages unread (Delivery)
    _paused_for: set[object] | None  # consumers whose full buffers hold reading
    _reading_since: float  # time.monotonic() when the socket was last watched for reading

    def _fail_now(self, exc: BaseException) -> None:
        raise NotImplementedError

    if TYPE_CHECKING:

        def handle_io(self, mask: int) -> None: ...  # the connection's: what the reactor calls

    def _update_interest(self) -> None:
        """On the reactor thread: watch the socket for what the state needs.

        A condition added here belongs in ``Connection._events_handled``'s
        steady-state shortcut too.
        """
        if self._finished:
            return
        want = 0
        if self._reading and not self._paused and not self._queue_paused and not self._paused_for:
            # A peer that does not read what we write (pongs, echoes) is not read
            # either, until the buffer drains: memory stays bounded by write_limit.
            # Only output made by reading counts: a user thread's sends already wait at
            # write_limit, and pausing for them would deadlock two peers that both
            # send more than write_limit before reading.
            if not self._proto.eof_received and self._out.reactor_size <= self.write_limit:
                want = EVENT_READ
        if self._out.waiting:
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
        if want & EVENT_READ and not self._interest & EVENT_READ:
            self._reading_since = time.monotonic()
        self._interest = want

    def _pong_may_wait_unread(self, ping_sent_at: float, timeout: float) -> bool:
        """Whether a pong to a ping sent at ``ping_sent_at`` may sit unread through no
        fault of the peer, so that missing it after ``timeout`` says nothing yet.

        That is so while the application (or a relay's slow consumer) holds reading, and
        until the socket has been watched for reading for ``timeout`` since the ping
        left: ``resume()`` flips its flag at once but reading restarts in a later round,
        after timers that may already be due. Not so when the peer holds reading by not
        reading what we send: that is its doing.
        """
        if self._paused or self._queue_paused or self._paused_for:
            return True
        if not self._interest & EVENT_READ:
            # Not read although nothing of ours holds it: a resume on its way, or a
            # peer behind on our output (over write_limit) or gone (EOF).
            return not self._proto.eof_received and self._out.reactor_size <= self.write_limit
        return time.monotonic() - max(ping_sent_at, self._reading_since) < timeout

    def pause_for(self, consumer: object) -> None:
        """On the reactor thread: stop reading until ``consumer``'s buffer drains.

        A listener of this connection sent to ``consumer``, whose peer is behind: reading
        on would relay more than it can take (see :mod:`~wscli.core.sync.sending`).
        """
        if self._paused_for is None:
            self._paused_for = set()
        self._paused_for.add(consumer)
        self._update_interest()

    def resume_for(self, consumer: object) -> None:
        """``consumer`` drained; read again unless another holds (from any thread:
        a consumer served by another reactor hands the call to this one's)."""
        if not self._reactor.in_thread():
            self._reactor.call_soon(self.resume_for, consumer)
            return
        if self._paused_for is not None:
            self._paused_for.discard(consumer)
            if not self._paused_for:
                self._paused_for = None
        self._update_interest()

    def _set_reading_paused(self, paused: bool) -> None:
        """On the reactor thread: stop or restart reading (``pause`` does it from any thread)."""
        self._paused = paused
        self._update_interest()

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
