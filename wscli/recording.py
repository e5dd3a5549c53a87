"""Recordings: a WebSocket conversation as a file, written by ``connect --record`` and
read by ``replay`` and ``listen --replay``.

The format is NDJSON (one JSON object per line, UTF-8), the ``--json`` events with a
header line in front (see ``docs/RECORDING.md``)::

    {"type": "header", "version": 1, "wscli": "0.1.0", "url": "ws://…", "subprotocol": null,
     "extensions": [], "headers": [["X-Trace", "on"]], "started": 1764513153.2}
    {"time": 0.0012, "dir": "out", "type": "text", "data": "hello"}
    {"time": 0.0031, "dir": "in", "type": "binary", "base64": "AAEC"}
    {"time": 0.0100, "type": "close", "code": 1000, "reason": "", "by": "us", "clean": true}

``time`` is in seconds since the connection opened; ``out`` is what the client sent and
``in`` what the server sent. Binary payloads are base64, so they round-trip exactly.

Writing is streamed: every line is flushed as it is written, so a crash leaves a
valid prefix (a recording without its close line reads as one that ended there).
Reading is streamed too (:func:`read_recording` is a generator), so a recording of
any size costs one line of memory. Secrets never reach the file: ``Authorization``,
``Cookie``, ``Proxy-Authorization`` and headers the user names are left out, and the
password in the URL and query parameters that look like credentials are replaced
by ``REDACTED``.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

__all__ = [
    "FORMAT_VERSION",
    "MAX_HELD_LINES",
    "REDACTED",
    "SECRET_HEADERS",
    "Entry",
    "Header",
    "RecordingError",
    "Recorder",
    "read_recording",
    "redact_url",
    "redact_headers",
]

#: The ``version`` a header carries; readers refuse a newer one.
FORMAT_VERSION = 1
#: What a secret is replaced with.
REDACTED = "REDACTED"
#: Request headers never written to a recording (compared lowercase).
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
#: Query parameters whose values are redacted: names that usually carry credentials.
_SECRET_QUERY = re.compile(
    r"(token|key|secret|pass|auth|sig|signature|session|sid|jwt|code|credential)", re.IGNORECASE
)
#: RFC 9110 §5.1 field names; values without CR, LF or NUL (§5.5).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\0]")
#: The longest line a reader accepts (a message of up to 64 MiB, base64 and all).
MAX_LINE = 96 * 2**20
#: Lines that may wait behind a message being sent (see :meth:`Recorder.sending`).
MAX_HELD_LINES = 1000


class RecordingError(ValueError):
    """A recording cannot be read: not NDJSON, a line cut short, a field of the wrong
    type. The message names the file and the line."""


def redact_url(url: str, names: Iterable[str] = ()) -> str:
    """The URL without its password, and with credential-like query values redacted.

    Args:
        url: the URL as given.
        names: more query parameter names to redact (compared case-insensitively).
    """
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{host}" if user else f"{REDACTED}@{host}"
    query = parts.query
    if query:
        extra = {name.lower() for name in names}
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = urllib.parse.urlencode(
            [
                (k, REDACTED if (_SECRET_QUERY.search(k) or k.lower() in extra) else v)
                for k, v in pairs
            ]
        )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(
    headers: Iterable[tuple[str, str]], names: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The headers a recording may keep: not the secret ones, nor those in ``names``."""
    hidden = SECRET_HEADERS | {name.lower() for name in names}
    return [(name, value) for name, value in headers if name.lower() not in hidden]


@dataclass(frozen=True)
class Header:
    """The first line of a recording: where and how the conversation took place."""

    url: str
    subprotocol: str | None = None
    extensions: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    version: int = FORMAT_VERSION
    wscli: str = ""
    started: float | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of a recording after the header.

    Attributes:
        line: its line number in the file (1 is the header).
        time: seconds since the connection opened.
        kind: ``"message"`` or ``"close"``.
        dir: ``"out"`` (the client sent it) or ``"in"`` (the server sent it).
        data: the message (``str`` for text, ``bytes`` for binary).
        code, reason, by: for a close: its code and reason, and who closed first
            (``"us"``: the client, ``"peer"``: the server, ``None``: a drop).
    """

    line: int
    time: float
    kind: str
    dir: str = ""
    data: str | bytes = ""
    code: int | None = None
    reason: str = ""
    by: str | None = None


class Recorder:
    """Write a conversation to a file as it happens; safe to call from any thread.

    Each line is written and flushed at once. The first write error is kept in
    :attr:`error`, reported once through ``on_error``, and nothing more is written.

    Args:
        stream: a binary file opened for writing.
        on_error: called with the ``OSError`` of the first failed write.
        clock: the monotonic clock (tests inject one).
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        on_error: Callable[[OSError], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.on_error = on_error
        self.error: OSError | None = None
        self._clock = clock
        self._opened = clock()
        self._lock = threading.Lock()
        self._closed = False
        #: Lines not written yet: a message still being sent (see :meth:`sending`)
        #: and whatever was recorded after it.
        self._queue: collections.deque[_Line] = collections.deque()

    def header(self, header: Header) -> None:
        """Write the header line and start the clock: call once, when the connection opens."""
        self._opened = self._clock()
        record: dict[str, Any] = {
            "type": "header",
            "version": header.version,
            "wscli": header.wscli,
            "url": header.url,
            "subprotocol": header.subprotocol,
            "extensions": list(header.extensions),
            "headers": [list(pair) for pair in header.headers],
            "started": round(time.time(), 3) if header.started is None else header.started,
        }
        self._write(record, timed=False)

    def _elapsed(self) -> float:
        return round(self._clock() - self._opened, 6)

    def message(self, direction: str, data: str | bytes) -> None:
        """Record a data message: ``direction`` ``"out"`` (sent) or ``"in"`` (received)."""
        self._write(_message_record(direction, data))

    def sending(self, data: str | bytes) -> Callable[[bool], None]:
        """Hold the place of a message about to be sent; return ``done(sent)``.

        Call it before handing the message to the connection, then ``done(True)`` once
        it was sent or ``done(False)`` if it was not. What is recorded in between (the
        server's echo can arrive before the sending thread gets the CPU back) waits
        behind it, so the file keeps the order the server saw. Recording a sent message
        only after ``send()`` returned would put a fast echo first. At most
        :data:`MAX_HELD_LINES` lines wait (a send held back by a peer that does not read
        while it sends a lot); past that the message is written where it stands.
        """
        with self._lock:
            if self.error is not None or self._closed:
                return _ignore
            line = _Line({"time": self._elapsed(), **_message_record("out", data)}, ready=False)
            self._queue.append(line)

        def done(sent: bool) -> None:
            with self._lock:
                line.ready = True
                if not sent:
                    line.record = None
                failed = self._drain()
            self._report(failed)

        return done

    def close(self, code: int, reason: str, *, by: str | None, clean: bool) -> None:
        """Record how the connection ended (the last line)."""
        record = {
            "type": "close",
            "code": code,
            "reason": reason,
            "by": by,
            "clean": clean,
        }
        self._write(record, last=True)

    def _write(self, record: dict[str, Any], *, timed: bool = True, last: bool = False) -> None:
        """Write one line; the time is taken under the lock, so times never go back
        whichever threads (the sender, the I/O thread) record at once.

        Nothing is written after the close line: a send that raced with the close (the
        sending thread records it just after the I/O thread recorded the end) is left
        out rather than make the file one that readers refuse.
        """
        with self._lock:
            if timed:
                record = {"time": self._elapsed(), **record}
            self._queue.append(_Line(record, last=last))
            failed = self._drain()
        self._report(failed)

    def _drain(self) -> bool:
        """Under the lock: write the lines up to the first message still being sent."""
        queue = self._queue
        failed = False
        if len(queue) > MAX_HELD_LINES:
            queue[0].ready = True  # bounded: the message takes its place now
        while queue and queue[0].ready:
            line = queue.popleft()
            if line.record is not None:
                failed = self._emit(line.record, line.last) or failed
        return failed

    def _emit(self, record: dict[str, Any], last: bool) -> bool:
        """Under the lock: write one line; tell whether this write failed."""
        if self.error is not None or self._closed:
            return False
        self._closed = last
        # surrogatepass: a lone surrogate in text cannot come from the wire (the
        # library checks UTF-8), but must not turn a recording into an exception.
        line = json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n"
        payload = line.encode("utf-8", "surrogatepass")
        try:
            self.stream.write(payload)
            self.stream.flush()
        except OSError as exc:
            self.error = exc
            return True
        return False

    def _report(self, failed: bool) -> None:
        if failed and self.on_error is not None and self.error is not None:
            self.on_error(self.error)


class _Line:
    """A line of the recording waiting for its turn; ``record`` None: not to be written."""

    __slots__ = ("record", "ready", "last")

    def __init__(self, record: dict[str, Any], *, ready: bool = True, last: bool = False):
        self.record: dict[str, Any] | None = record
        #: False while its message is being sent: the lines behind it wait.
        self.ready = ready
        #: The close line: nothing is written after it.
        self.last = last


def _message_record(direction: str, data: str | bytes) -> dict[str, Any]:
    record: dict[str, Any] = {"dir": direction}
    if isinstance(data, str):
        record.update(type="text", data=data)
    else:
        record.update(type="binary", base64=base64.b64encode(data).decode("ascii"))
    return record


def _ignore(sent: bool) -> None:
    """``done`` of a message that will not be recorded (the recording has ended)."""


def read_recording(
    stream: IO[bytes], name: str = "recording", *, max_line: int = MAX_LINE
) -> Iterator[Header | Entry]:
    """Read a recording one line at a time: the :class:`Header`, then each :class:`Entry`.

    Args:
        stream: the file, opened in binary mode.
        name: how errors name the file.
        max_line: the longest line accepted (a reader keeps one line in memory).

    Raises:
        RecordingError: the header is missing or of a newer version, a line is not a
            JSON object (a recording cut in the middle of a line included), a field
            has the wrong type, or a line comes after the close. Raised when the bad
            line is reached: what came before it has been yielded.
    """
    number = 0
    closed = False
    previous = 0.0
    while True:
        raw = stream.readline(max_line + 1)
        if not raw:
            break
        number += 1
        where = f"{name} line {number}"
        if len(raw) > max_line:
            raise RecordingError(f"{where}: longer than {max_line} bytes")
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            cut = "" if raw.endswith(b"\n") else " (the file ends in the middle of this line)"
            raise RecordingError(f"{where}: not a JSON object{cut}: {exc}") from None
        if not isinstance(record, dict):
            raise RecordingError(f"{where}: not a JSON object")
        if number == 1:
            yield _header(record, where)
            continue
        if closed:
            raise RecordingError(f"{where}: an event after the close")
        entry = _entry(record, number, where)
        if entry.time < previous:
            raise RecordingError(f"{where}: time {entry.time} goes back (previous {previous})")
        previous = entry.time
        closed = entry.kind == "close"
        yield entry
    if number == 0:
        raise RecordingError(f"{name}: empty (no header line)")


def _field(record: dict[str, Any], key: str, kinds: Any, where: str, default: Any = ...) -> Any:
    if key not in record:
        if default is ...:
            raise RecordingError(f"{where}: no {key!r}")
        return default
    value = record[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
        raise RecordingError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _as_tuple(kinds: Any) -> tuple[Any, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _header(record: dict[str, Any], where: str) -> Header:
    if record.get("type") != "header":
        raise RecordingError(f"{where}: the first line is not a recording header")
    version = _field(record, "version", int, where)
    if version < 1 or version > FORMAT_VERSION:
        raise RecordingError(
            f"{where}: format version {version} (this wscli reads up to {FORMAT_VERSION})"
        )
    url = _field(record, "url", str, where)
    subprotocol = _field(record, "subprotocol", (str, type(None)), where, None)
    extensions = _field(record, "extensions", list, where, [])
    headers = _field(record, "headers", list, where, [])
    pairs: list[tuple[str, str]] = []
    for pair in headers:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise RecordingError(f"{where}: 'headers' must be [name, value] pairs of strings")
        if not _TOKEN.fullmatch(pair[0]) or _BAD_VALUE.search(pair[1]):
            # A replay sends these again: a line break would smuggle in another header.
            raise RecordingError(f"{where}: header {pair[0]!r} is not a valid name and value")
        pairs.append((pair[0], pair[1]))
    return Header(
        url=url,
        subprotocol=subprotocol,
        extensions=tuple(str(e) for e in extensions),
        headers=tuple(pairs),
        version=version,
        wscli=str(record.get("wscli", "")),
        started=record.get("started") if isinstance(record.get("started"), float) else None,
    )


def _entry(record: dict[str, Any], number: int, where: str) -> Entry:
    moment = _field(record, "time", (int, float), where)
    if moment < 0:
        raise RecordingError(f"{where}: negative 'time'")
    kind = _field(record, "type", str, where)
    if kind == "close":
        code = _field(record, "code", int, where)
        if not 1000 <= code <= 4999:
            raise RecordingError(f"{where}: close code {code} is not between 1000 and 4999")
        by = _field(record, "by", (str, type(None)), where, None)
        if by not in ("us", "peer", None):
            raise RecordingError(f'{where}: \'by\' is {by!r}, not "us", "peer" or null')
        return Entry(
            line=number,
            time=float(moment),
            kind="close",
            code=code,
            reason=_field(record, "reason", str, where, ""),
            by=by,
        )
    direction = _field(record, "dir", str, where)
    if direction not in ("in", "out"):
        raise RecordingError(f'{where}: \'dir\' is {direction!r}, not "in" or "out"')
    data: str | bytes
    if kind == "text":
        data = _field(record, "data", str, where)
    elif kind == "binary":
        encoded = _field(record, "base64", str, where)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise RecordingError(f"{where}: 'base64' is not valid base64") from None
    else:
        raise RecordingError(
            f"{where}: event type {kind!r} (a recording holds text, binary and close)"
        )
    return Entry(line=number, time=float(moment), kind="message", dir=direction, data=data)
