"""Ctrl-C as a request the load generator's loop takes between two of its steps."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["sigint_between_steps"]


@contextlib.contextmanager
def sigint_between_steps(interrupted: Callable[[], None]) -> Iterator[None]:
    """While the block runs, make Ctrl-C call ``interrupted()`` instead of raising.

    Python's own SIGINT handler raises KeyboardInterrupt wherever the loop happens to
    be: between a message handed to the protocol and its entry in the in-flight list,
    or between an echo checked and counted. Such a message went out uncounted and its
    echo came back as "unexpected". So the loop asks for the request between two steps
    instead. Only the default handler, on the main thread, is replaced: a caller's own
    handler (or SIG_IGN in a worker process) stays.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield
        return

    def take(signum: int, frame: Any) -> None:
        interrupted()

    signal.signal(signal.SIGINT, take)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
