"""OutBuffer: one connection's outgoing bytes, their accounting, and the gathered write.

Whoever produces bytes (a user thread's ``send``, a listener on the reactor thread, the
protocol's automatic pongs and close echoes) queues them here; whoever has the socket
writable (the sending thread at once, else the reactor) writes them with one
``sendmsg`` per batch. The buffer counts three things its owner needs to bound it:

* ``size``: bytes not yet taken by the OS (``buffered_amount``; user threads wait
  above ``write_limit``);
* ``reactor_size``: the part queued by the reactor thread, counted down as it leaves,
  so a connection whose peer does not read what reading produced stops being read;
* send callbacks: ``callback(None)`` once the OS took every byte up to a message's end.

The buffer has no lock of its own: its owner (the connection) calls every method with
its lock held.

It is built for the per-message case, one reply of one chunk written at once: it takes
over the protocol's output list as it is (no copy, no allocation of its own), reactor
output queued into an empty buffer gets its mark only once another batch joins it, and
a write that empties it resets every count. Queued chunks sit in plain lists read from
a moving start index (compacted as the start moves on), so a long backlog of small
frames still leaves at constant cost per chunk.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any

__all__ = ["OutBuffer", "SendCallback"]

_IOV_MAX = 512
_GATHER_BYTES = 1 << 20
_COMPACT_AT = 256  # a list's start index past which its consumed front is dropped
# What a chunk's slot holds once the chunk left: the slot stays until compaction, the
# chunk must not (a slow reader keeps the queue from emptying, and every chunk sent
# since would stay in memory, unbounded by write_limit). Never read again (it is
# before the start index); not empty, since an empty chunk means half-close.
_SENT = b"sent"

SendCallback = Callable[[Exception | None], object]


class OutBuffer:
    """The queue of chunks to write; an empty chunk in it means "half-close here"."""

    # An idle connection has nothing to write: the lists exist only while bytes wait.
    __slots__ = (
        "_chunks",
        "_start",
        "waiting",
        "callbacks_waiting",
        "size",
        "reactor_size",
        "_flushed_total",
        "_queued_total",
        "_marks",
        "_marks_start",
        "_callbacks",
    )

    def __init__(self) -> None:
        # Chunks not written yet are _chunks[_start:].
        self._chunks: list[bytes | memoryview] | None = None
        self._start = 0
        #: Whether anything (bytes or a half-close) waits to be written: ``bool(self)``
        #: as an attribute, for the reactor's per-wake-up checks.
        self.waiting = False
        #: Whether send callbacks wait for their bytes to leave.
        self.callbacks_waiting = False
        #: Bytes queued and not yet taken by the OS.
        self.size = 0
        #: The part of ``size`` queued by the reactor thread.
        self.reactor_size = 0
        self._flushed_total = 0
        self._queued_total = 0
        # (end offset, size) of reactor-thread output, to count it down as it leaves:
        # the marks not passed yet are _marks[_marks_start:].
        self._marks: list[tuple[int, int]] | None = None
        self._marks_start = 0
        self._callbacks: collections.deque[tuple[int, SendCallback]] | None = None

    def __bool__(self) -> bool:
        """Whether anything (bytes or a half-close) waits to be written."""
        return self.waiting

    def queue(self, chunks: list[bytes], *, from_reactor: bool) -> int:
        """Append the protocol's output (an empty chunk means half-close); return its size.

        The buffer may keep ``chunks`` itself: pass a list nobody else changes, such as
        what ``data_to_send()`` returned.
        """
        if not chunks:
            return 0
        added = len(chunks[0]) if len(chunks) == 1 else sum(map(len, chunks))
        out = self._chunks
        if out is None:
            # The per-message case: an empty buffer (every count at zero) takes one
            # batch. Reactor output gets no mark yet: as the only batch, it leaves when
            # the buffer empties, which resets every count; the next batch queued
            # behind it makes the mark (below).
            self._chunks = chunks  # type: ignore[assignment]  # bytes are chunks too
            self._start = 0
            self.waiting = True
            if added:
                self.size = added
                self._queued_total += added
                if from_reactor:
                    self.reactor_size = added
            return added
        out.extend(chunks)
        if self._marks is None and self.reactor_size:
            # The unmarked batch above is still waiting, alone: it ends where the
            # bytes queued so far end.
            self._marks = [(self._queued_total, self.reactor_size)]
            self._marks_start = 0
        if added:
            self.size += added
            total = self._queued_total = self._queued_total + added
            if from_reactor:
                self.reactor_size += added
                marks = self._marks
                if marks is None:
                    self._marks = [(total, added)]
                    self._marks_start = 0
                else:
                    marks.append((total, added))
        return added

    def add_callback(self, callback: SendCallback, not_queued: int) -> None:
        """Call ``callback(None)`` once the bytes queued so far, plus ``not_queued``, left."""
        if self._callbacks is None:
            self._callbacks = collections.deque()
        self._callbacks.append((self._queued_total + not_queued, callback))
        self.callbacks_waiting = True

    def write(self, sock: socket.socket, tls: bool) -> OSError | None:
        """Write what the socket takes now; return the error if the socket broke.

        A broken socket empties the buffer: nothing queued can reach the peer any more.
        """
        out = self._chunks
        if out is None:
            return None
        start = self._start
        only = out[start]
        if only and len(out) == start + 1:
            # The per-message case (one reply, one chunk): one send, and when the
            # socket takes it all, every count is simply back to zero.
            try:
                sent = sock.send(only)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return None
            except OSError as exc:
                self._drop_bytes()
                return exc
            if sent == len(only):
                self._flushed_total = self._queued_total  # all of it left
                self._chunks = self._marks = None
                self.waiting = False
                self.size = self.reactor_size = 0
                return None
            self._flushed_total += sent
            self.size -= sent
            out[start] = memoryview(only)[sent:]
            self._count_down_marks()
            return None
        end = len(out)
        while start < end:
            first = out[start]
            if not first:  # half-close here
                out[start] = _SENT
                start += 1
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                continue
            try:
                if start + 1 < end and not tls:
                    buffers: list[Any] = []
                    size = 0
                    for index in range(start, min(end, start + _IOV_MAX)):
                        chunk = out[index]
                        if not chunk or size >= _GATHER_BYTES:
                            break
                        buffers.append(chunk)
                        size += len(chunk)
                    sent = sock.sendmsg(buffers)
                else:
                    sent = sock.send(first)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                break
            except OSError as exc:
                self._drop_bytes()
                return exc
            self.size -= sent
            self._flushed_total += sent
            while sent:
                chunk = out[start]
                if sent >= len(chunk):
                    sent -= len(chunk)
                    out[start] = _SENT
                    start += 1
                else:
                    out[start] = memoryview(chunk)[sent:]
                    sent = 0
            if start < end and out[start]:
                break  # the socket took less than offered: wait for writability
        self._count_down_marks()
        if start >= end:
            self._chunks = None
            self.waiting = False
            self.reactor_size = 0  # an unmarked batch (see queue) left too
        elif start > _COMPACT_AT and start * 2 > end:
            del out[:start]
            self._start = 0
        else:
            self._start = start
        return None

    def _count_down_marks(self) -> None:
        """Take what left from ``reactor_size``."""
        marks = self._marks
        if marks is None:
            return
        flushed = self._flushed_total
        start = self._marks_start
        end = len(marks)
        while start < end and marks[start][0] <= flushed:
            self.reactor_size -= marks[start][1]
            start += 1
        if start >= end:
            self._marks = None
        elif start > _COMPACT_AT and start * 2 > end:
            del marks[:start]
            self._marks_start = 0
        else:
            self._marks_start = start

    def due_callbacks(self) -> list[SendCallback]:
        """Remove and return the callbacks whose bytes all left."""
        callbacks = self._callbacks
        due: list[SendCallback] = []
        while callbacks and callbacks[0][0] <= self._flushed_total:
            due.append(callbacks.popleft()[1])
        if not callbacks:
            self.callbacks_waiting = False
        return due

    def _drop_bytes(self) -> None:
        self._chunks = None
        self.waiting = False
        self._marks = None
        self.size = 0
        self.reactor_size = 0

    def clear(self) -> list[SendCallback]:
        """Forget everything queued; return the callbacks that will never be met."""
        self._drop_bytes()
        callbacks = self._callbacks
        self._callbacks = None
        self.callbacks_waiting = False
        return [callback for _, callback in callbacks] if callbacks else []
