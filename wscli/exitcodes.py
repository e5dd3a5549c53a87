"""Exit statuses of the wscli command, and the mapping from exceptions to them.

Scripts branch on these, so they are part of the interface: ``--help`` and the README
list them, and a status never changes meaning. ``ping`` follows ping(8) instead
(0 replies, 1 no reply, 2 error); see its help.
"""

from __future__ import annotations

import enum
import re
import socket
import ssl

from .core.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    HandshakeError,
    InvalidURI,
)
from .core.sync.net import ConnectFailed

__all__ = [
    "ExitStatus",
    "status_for",
    "describe_error",
    "reason_of",
    "EXIT_STATUS_HELP",
    "ListenFailed",
]


class ExitStatus(enum.IntEnum):
    """What a wscli run's exit status means."""

    OK = 0  #: success; the connection closed with 1000, 1001 or no code (or as we asked)
    ERROR = 1  #: an unexpected error
    USAGE = 2  #: bad options or arguments (click's own status)
    CANNOT_CONNECT = 3  #: DNS, TCP refused, TLS or timeout; listen: cannot bind
    HANDSHAKE_REFUSED = 4  #: the server refused the upgrade (the HTTP status is shown)
    CLOSED_WITH_ERROR = 5  #: the connection closed with an error code, or dropped
    #: connect --count/--expect not met before the end or -t; replay: a mismatch
    EXPECTATION_NOT_MET = 6
    CHECK_FAILED = 6  #: alias of EXPECTATION_NOT_MET for probe: a check failed
    INTERRUPTED = 130  #: Ctrl-C or SIGTERM (a 1001 close is sent first)


#: One line per status, for ``--help`` epilogs and the README.
EXIT_STATUS_HELP = (
    "Exit status: 0 clean close (1000/1001 or no code, or the close you asked for), 1 unexpected "
    "error, 2 usage error, 3 cannot connect (listen: cannot bind), 4 handshake refused, "
    "5 closed with an error code or dropped, 6 expectation not met (--count, --expect "
    "before the end or -t; probe: a check failed; replay: the server did not answer as "
    "recorded), 130 interrupted (Ctrl-C sends 1001 first)."
)


_ERRNO_PREFIX = re.compile(r"^\[(?:Errno|WinError) -?\d+\] ")
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")
_SSL_TAG = re.compile(r"\[[A-Za-z0-9_]+: [A-Za-z0-9_]+\] ")


def describe_error(exc: BaseException) -> str:
    """One line that says why a run failed, for people: the single error formatter.

    The first line of the message, without the ``[Errno 104]`` or ``[SSL: …]``
    prefixes and ``(_ssl.c:1000)`` suffixes Python adds, with every hidden character
    escaped (a message may quote what a peer sent).
    """
    from .escape import escape_control

    if isinstance(exc, OSError) and exc.strerror and not str(exc).startswith(exc.strerror):
        text = exc.strerror.lower()
        if exc.filename is not None:
            text = f"{exc.filename}: {text}"
    else:
        text = str(exc) or type(exc).__name__
    lines = text.splitlines()
    text = lines[0] if lines else type(exc).__name__
    text = _SSL_SOURCE.sub("", _ERRNO_PREFIX.sub("", text))
    text = _SSL_TAG.sub("", text)
    return escape_control(text, keep_newlines=False)


def reason_of(exc: BaseException) -> str:
    """Why an operation on a file or socket failed, for ``cannot … PATH: <reason>``.

    The system's words in lowercase (``no space left on device``) without the file
    name the caller already wrote; anything else as :func:`describe_error` says it.
    """
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return _escaped_line(strerror.lower())
    return describe_error(exc)


def _escaped_line(text: str) -> str:
    from .escape import escape_control

    return escape_control(text, keep_newlines=False)


class ListenFailed(OSError):
    """``listen`` could not bind its address (in use, not permitted); exit status 3."""


def status_for(exc: BaseException) -> ExitStatus:
    """Map an exception that ended a command to its exit status."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(exc, InvalidURI):
        return ExitStatus.USAGE
    if isinstance(exc, HandshakeError):
        return ExitStatus.HANDSHAKE_REFUSED
    if isinstance(exc, ConnectionClosedOK):
        return ExitStatus.OK
    if isinstance(exc, ConnectionClosed):
        return ExitStatus.CLOSED_WITH_ERROR
    if isinstance(
        exc, (ConnectFailed, ListenFailed, socket.gaierror, ConnectionRefusedError, ssl.SSLError)
    ):
        return ExitStatus.CANNOT_CONNECT
    if isinstance(exc, TimeoutError):
        return ExitStatus.CANNOT_CONNECT
    if isinstance(exc, ConnectionError):
        return ExitStatus.CLOSED_WITH_ERROR
    if isinstance(exc, ValueError) and not isinstance(exc, UnicodeError):
        # The library's word for "the caller got an argument wrong": here, an option
        # (a header given twice, an unusable --proxy address...).
        return ExitStatus.USAGE
    return ExitStatus.ERROR
