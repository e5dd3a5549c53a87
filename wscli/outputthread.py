"""OutputThread: the jobs a threaded :class:`~wscli.output.Printer` writes, in order.

Listeners on the library's reactor thread must never wait for a terminal or a pipe, so
a threaded printer hands each rendering job to one thread of its own, which runs them in
the order submitted. Three things are owned here:

* **the bound**: the bytes waiting (:data:`OUTPUT_BACKLOG`); past it, the connections
  feeding the printer stop being read until it drains (``backlog_full``, ``when_drained``);
* **held places**: :meth:`OutputThread.hold` reserves the place of a line whose content
  is decided later. A sent message is shown before what answers it this way: the place
  of its ``>`` line is taken before the message is handed to the connection, and filled
  once ``send()`` returned (or emptied if it failed), so an echo delivered in between
  waits behind it. A place not filled within :data:`HOLD_LIMIT` is given up (a send
  waiting for a peer that does not read must not stop the output) and its line, once it
  comes, is written where it stands;
* **the thread's life**: started on first use, ended by :meth:`OutputThread.close` once
  idle; a job submitted after that starts a thread again, which ends once it wrote it.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable

__all__ = ["OutputThread", "OUTPUT_BACKLOG", "HOLD_LIMIT", "Fill"]

#: Bytes of rendered output that may wait for the output thread before the connections
#: that feed it stop being read (see :meth:`OutputThread.backlog_full`).
OUTPUT_BACKLOG = 4 * 2**20
#: Seconds the output waits at a held place before giving it up.
HOLD_LIMIT = 1.0

Job = Callable[[], None]
#: ``fill(job)`` puts ``job`` in a held place; ``fill(None)`` leaves it empty.
Fill = Callable[["Job | None"], None]


class _Place:
    """A place in the job queue whose job comes later (see :meth:`OutputThread.hold`)."""

    __slots__ = ("job", "filled", "given_up", "when", "deadline")

    def __init__(self, when: float) -> None:
        self.job: Job | None = None
        self.filled = False
        self.given_up = False
        self.when = when
        self.deadline = time.monotonic() + HOLD_LIMIT


class OutputThread:
    """Run rendering jobs on one thread of their own, in the order submitted.

    Args:
        on_error: told about an exception a job raised (the thread goes on).
    """

    def __init__(self, on_error: Callable[[Exception], None]) -> None:
        self._on_error = on_error
        self._jobs: collections.deque[tuple[Job | _Place, int]] = collections.deque()
        self._ready = threading.Condition()
        self._backlog = 0
        self._busy = False
        self._on_drained: list[Job] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        #: When the event the running job shows happened (it was submitted).
        self.event_time: float | None = None

    def on_thread(self) -> bool:
        """Whether the caller is the output thread (whose jobs run at once)."""
        return threading.current_thread() is self._thread

    def submit(self, job: Job, size: int = 0) -> None:
        """Queue ``job`` (``size`` bytes of output, for the bound) behind the others."""
        when = time.time()  # stamped when the event happened, not when it is written
        with self._ready:
            self._jobs.append((functools.partial(self._at, when, job), size))
            self._backlog += size
            self._start_locked()

    def hold(self, size: int = 0) -> Fill:
        """Reserve the next place for a job decided later; return ``fill(job)``.

        What is submitted afterwards waits behind the place until it is filled (or
        left empty with ``fill(None)``), for at most :data:`HOLD_LIMIT` seconds. Call
        ``fill`` exactly once, from any thread.
        """
        place = _Place(time.time())
        with self._ready:
            self._jobs.append((place, size))
            self._backlog += size
            self._start_locked()

        def fill(job: Job | None) -> None:
            with self._ready:
                if not place.given_up:
                    place.job = job
                    place.filled = True
                    self._ready.notify_all()
                    return
            if job is not None:  # too late for its place: where it stands now
                self.submit(job)

        return fill

    def _start_locked(self) -> None:
        if self._thread is None:
            # Also after close(), for a callback that fired as the command ended: a
            # thread of its own writes it, so the submitter (maybe the reactor) never
            # waits for the terminal; it ends again once idle.
            self._thread = threading.Thread(target=self._run, name="wscli-output", daemon=True)
            self._thread.start()
        self._ready.notify_all()

    def _at(self, when: float, job: Job) -> None:
        self.event_time = when
        try:
            job()
        finally:
            self.event_time = None

    def _next_locked(self) -> tuple[Job | None, int] | None:
        """The next job to run, ``(None, size)`` for an empty place; ``None`` to end."""
        while True:
            if not self._jobs:
                self._busy = False
                self._ready.notify_all()
                if self._closed:
                    # Under the lock: a job submitted from now on starts a new thread,
                    # so there is never more than one writer.
                    self._thread = None
                    return None
                self._ready.wait()
                continue
            job, size = self._jobs[0]
            if isinstance(job, _Place):
                place = job
                if not place.filled:
                    left = place.deadline - time.monotonic()
                    if left > 0:
                        self._ready.wait(left)
                        continue
                    place.given_up = True
                self._jobs.popleft()
                self._busy = True
                if place.job is None:
                    return None, size
                return functools.partial(self._at, place.when, place.job), size
            self._jobs.popleft()
            self._busy = True
            return job, size

    def _run(self) -> None:
        while True:
            with self._ready:
                step = self._next_locked()
            if step is None:
                return
            job, size = step
            if job is not None:
                try:
                    job()
                except Exception as exc:  # a rendering bug must not silence the run
                    self._on_error(exc)
            callbacks: list[Job] = []
            with self._ready:
                self._backlog -= size
                if self._on_drained and self._backlog <= OUTPUT_BACKLOG // 2:
                    callbacks, self._on_drained = self._on_drained, []
            for callback in callbacks:
                callback()

    def backlog_full(self) -> bool:
        """Whether more than :data:`OUTPUT_BACKLOG` bytes wait to be written."""
        return self._backlog > OUTPUT_BACKLOG

    def when_drained(self, callback: Job) -> None:
        """Call ``callback()`` once the backlog is back under half its bound (maybe now)."""
        with self._ready:
            if self._backlog > OUTPUT_BACKLOG // 2:
                self._on_drained.append(callback)
                return
        callback()

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush, then let the thread end once it has nothing left to write.

        ``False`` when the flush timed out (the thread still writes what it has, then
        ends).
        """
        drained = self.flush(timeout)
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        return drained

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until everything submitted so far is written; ``False`` on timeout."""
        if self._thread is None or self.on_thread():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while self._jobs or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._ready.wait(remaining)
        return True
