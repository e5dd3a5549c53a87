"""The library's logger, and why its errors reach stderr when nothing else would show them.

Every record the library writes goes to the ``wscli.core`` logger (frames at DEBUG,
connections opening and closing at INFO, failures of the application's own listeners
at ERROR with their traceback). A library should leave logging to the application, yet
an exception raised inside a listener must not vanish either. So the ``wscli`` logger
carries one :class:`LastResortHandler`: it prints ERROR records (and worse) to
``sys.stderr``, but only while no other handler would receive them, as Python's own
:data:`logging.lastResort` does. Once the application configures logging (for example
``logging.basicConfig()``, or a handler on ``wscli``), records go where it says and
this handler stays quiet. To silence the library entirely::

    logging.getLogger("wscli").addHandler(logging.NullHandler())
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from typing import Any

__all__ = ["LastResortHandler", "TracebackFormatter", "AST_LOCK", "logger"]

#: The logger the library writes to.
logger = logging.getLogger("wscli.core")


#: Held while wscli parses with :mod:`ast`: reading a listener's signature (a built-in's
#: text signature is parsed) and formatting a traceback (CPython 3.11 parses each line's
#: source to place its ``^^^`` marks). Before 3.12 the AST module keeps one recursion
#: counter per interpreter, and two threads parsing at once can make one of them raise
#: ``SystemError: AST constructor recursion depth mismatch``; wscli's own parses take
#: turns, and one that met a foreign thread's parse is tried once more. Reentrant: an
#: exception's ``__str__`` may add a listener.
AST_LOCK = threading.RLock()


class TracebackFormatter(logging.Formatter):
    """A Formatter whose tracebacks survive CPython 3.11's AST race (see :data:`AST_LOCK`).

    Without it, the ``SystemError`` would escape the handler, logging would print
    ``--- Logging error ---`` instead, and the record would be lost.
    """

    def formatException(self, ei: Any) -> str:
        with AST_LOCK:
            for _attempt in range(2):
                try:
                    return super().formatException(ei)
                except SystemError:
                    continue  # another thread's parse ended meanwhile: try once more
        only = "".join(traceback.format_exception_only(ei[0], ei[1])).rstrip("\n")
        return f"{only}\n(its traceback could not be formatted)"


class LastResortHandler(logging.Handler):
    """Writes ERROR records to stderr when no other handler is there to take them."""

    #: Marks the handler across reloads of this module.
    wscli_last_resort = True

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.setFormatter(TracebackFormatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if self._handled_elsewhere(record):
            return
        try:
            # Looked up per record: pytest, prompt-toolkit and others replace stderr.
            stream = sys.stderr
            if stream is None:
                return
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # pragma: no cover - as logging.Handler does
            self.handleError(record)

    def _handled_elsewhere(self, record: logging.LogRecord) -> bool:
        """Tell whether a handler other than this one is on the record's way up."""
        current: logging.Logger | None = logging.getLogger(record.name)
        while current is not None:
            if any(handler is not self for handler in current.handlers):
                return True
            if not current.propagate:
                return False
            current = current.parent
        return False


def _install() -> None:
    """Put one LastResortHandler on the ``wscli`` logger (importing twice adds none)."""
    top = logging.getLogger("wscli")
    if not any(getattr(handler, "wscli_last_resort", False) for handler in top.handlers):
        top.addHandler(LastResortHandler())


_install()
