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

__all__ = ["LastResortHandler", "logger"]

#: The logger the library writes to.
logger = logging.getLogger("wscli.core")


class LastResortHandler(logging.Handler):
    """Writes ERROR records to stderr when no other handler is there to take them."""

    #: Marks the handler across reloads of this module.
    wscli_last_resort = True

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

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
