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
"""

from __future__ import annotations

import collections
import contextlib
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["OutBuffer", "SendCallback"]

_IOV_MAX = 512
_GATHER_BYTES = 1 << 20

SendCallback = Callable[[Exception | None], object]


class OutBuffer:
    """The queue of chunks to write; ``None`` in it means "half-close here"."""

    # Deques cost ~600 bytes each even when empty, and an idle connection has nothing
    # to write: create them on first use.
    __slots__ = (
        "_chunks",
        "waiting",
        "callbacks_waiting",
        "size",
        "reactor_size",
        "_flushed_total",
        "_queued_total",
        "_marks",
        "_callbacks",
    )

    def __init__(self) -> None:
        self._chunks: collections.deque[bytes | memoryview | None] | None = None
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
        # (end offset, size) of reactor-thread output, to count it down as it leaves.
        self._marks: collections.deque[tuple[int, int]] | None = None
        self._callbacks: collections.deque[tuple[int, SendCallback]] | None = None

    def __bool__(self) -> bool:
        """Whether anything (bytes or a half-close) waits to be written."""
        return self.waiting

    def queue(self, chunks: Iterable[bytes], *, from_reactor: bool) -> int:
        """Append the protocol's output (an empty chunk means half-close); return its size."""
        out = self._chunks
        added = 0
        for chunk in chunks:
            if out is None:
                out = self._chunks = collections.deque()
                self.waiting = True
            if chunk:
                out.append(chunk)
                added += len(chunk)
            else:
                out.append(None)
        if added:
            self.size += added
            self._queued_total += added
            if from_reactor:
                self.reactor_size += added
                if self._marks is None:
                    self._marks = collections.deque()
                self._marks.append((self._queued_total, added))
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
        only = out[0] if out is not None and len(out) == 1 else None
        if only is not None and out is not None:
            # The per-message case (one reply, one chunk): one send, and when the
            # socket takes it all, every count is simply back to zero.
            try:
                sent = sock.send(only)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return None
            except OSError as exc:
                self._drop_bytes()
                return exc
            self._flushed_total += sent
            if sent == len(only):
                self._chunks = self._marks = None
                self.waiting = False
                self.size = self.reactor_size = 0
                return None
            self.size -= sent
            out[0] = memoryview(only)[sent:]
            self._count_down_marks()
            return None
        while out:
            first = out[0]
            if first is None:
                out.popleft()
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                continue
            try:
                if len(out) > 1 and not tls:
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
                self._drop_bytes()
                return exc
            self.size -= sent
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
        self._count_down_marks()
        if not out:
            self._chunks = None
            self.waiting = False
        return None

    def _count_down_marks(self) -> None:
        """Take what left from ``reactor_size``."""
        marks = self._marks
        if marks:
            flushed = self._flushed_total
            while marks and marks[0][0] <= flushed:
                self.reactor_size -= marks.popleft()[1]
            if not marks:
                self._marks = None

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
