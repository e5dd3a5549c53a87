"""The HTTP/1.1 messages of the opening handshake: Request and Response.

Parsing is incremental: a parser is handed the bytes received so far and either returns
a message and how many bytes it used, or ``None`` to ask for more. Limits on the head's
size and header count come from the caller, so a peer that never ends its head costs
bounded memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .exceptions import HandshakeError
from .headers import Headers

__all__ = [
    "Request",
    "Response",
    "parse_request",
    "parse_response",
    "starts_like_tls",
    "MAX_HEAD_SIZE",
    "MAX_HEADERS",
    "HEAD_END",
]

#: Default limit on the size of a request or response head, in bytes.
MAX_HEAD_SIZE = 16384
#: Default limit on the number of header lines.
MAX_HEADERS = 128
HEAD_END = b"\r\n\r\n"

_FIELD_NAME_RE = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE_RE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*")
_REQUEST_LINE_RE = re.compile(rb"([A-Z]+) (\S+) HTTP/(\d)\.(\d)")
# The start of a request line: the method, as _REQUEST_LINE_RE reads it.
_METHOD_RE = re.compile(rb"[A-Z]*")
# What may be written: a request target without spaces or controls, a reason phrase
# without controls but HTAB (RFC 7230 §3.1).
_TARGET_RE = re.compile(r"[^\x00-\x20\x7f]+")
_BAD_REASON_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS_LINE_RE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: ([\x09\x20-\x7e\x80-\xff]*))?")


@dataclass
class Request:
    """An opening handshake request (RFC 6455 §4.1)."""

    path: str
    headers: Headers
    method: str = "GET"
    #: Bytes that followed the head (hixie-76's key3), when the draft needs them.
    body: bytes = b""

    def serialize(self) -> bytes:
        """Encode the request for the wire.

        Raises:
            ValueError: the method is not a token, the path has spaces or control
                characters, or a header is invalid (see :meth:`Headers.serialize`).
        """
        if not _FIELD_NAME_RE.fullmatch(self.method.encode("latin-1", "replace")):
            raise ValueError(f"invalid request method {self.method!r}")
        if not _TARGET_RE.fullmatch(self.path):
            raise ValueError(f"invalid request target {self.path!r}")
        head = f"{self.method} {self.path} HTTP/1.1\r\n".encode()
        return head + self.headers.serialize() + self.body


@dataclass
class Response:
    """An opening handshake response (RFC 6455 §4.2.2)."""

    status_code: int
    reason_phrase: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def serialize(self) -> bytes:
        """Encode the response for the wire.

        Raises:
            ValueError: the status is not a three-digit number, the reason phrase has
                a control character, or a header is invalid (see :meth:`Headers.serialize`).
        """
        if not isinstance(self.status_code, int) or not 100 <= self.status_code <= 999:
            raise ValueError(f"invalid status code {self.status_code!r}")
        if _BAD_REASON_RE.search(self.reason_phrase):
            raise ValueError(f"invalid reason phrase {self.reason_phrase!r}")
        head = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode()
        return head + self.headers.serialize() + self.body


def _find_head(data: bytes | bytearray, max_size: int) -> int | None:
    end = data.find(HEAD_END, 0, max_size + 4)
    if end < 0:
        # Only once HEAD_END can no longer end within the limit: with fewer bytes, the
        # end of a head of exactly max_size bytes may still be on its way.
        if len(data) >= max_size + len(HEAD_END):
            raise HandshakeError(f"handshake head larger than {max_size} bytes")
        return None
    return end


def starts_like_tls(data: bytes | bytearray) -> bool:
    """Tell whether ``data`` starts like a TLS handshake record (a ClientHello).

    Content type 22 (handshake), then the record version's major byte, 3 (RFC 8446 §5.1).
    """
    return data[:1] == b"\x16" and data[1:2] in (b"", b"\x03")


def _check_request_start(data: bytes | bytearray) -> None:
    """Refuse at once what cannot start a request line, whether or not the head ended.

    A request line starts with its method, a token (RFC 9112 §3): a TLS ClientHello,
    binary data or another protocol's greeting never ends in ``CRLF CRLF``, so waiting
    for the head would only wait for the peer to give up. Everything refused here would
    be refused once the head ended, so this changes when, never what.
    """
    method = _METHOD_RE.match(data)
    end = method.end() if method else 0
    if end == len(data) or (end and data[end] == 0x20):
        return
    if starts_like_tls(data):
        raise HandshakeError("tls handshake, not an http request")
    raise HandshakeError(f"not an http request (starts with {bytes(data[:16])!r})")


def _parse_headers(lines: list[bytes], max_headers: int) -> Headers:
    if len(lines) > max_headers:
        raise HandshakeError(f"more than {max_headers} header lines")
    headers = Headers()
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not _FIELD_NAME_RE.fullmatch(name):
            raise HandshakeError(f"malformed header line {line[:80]!r}")
        value = value.strip(b" \t")
        if not _FIELD_VALUE_RE.fullmatch(value):
            raise HandshakeError(f"invalid characters in header {name.decode()}")
        headers[name.decode()] = value.decode("latin-1")
    return headers


def parse_request(
    data: bytes | bytearray, *, max_size: int = MAX_HEAD_SIZE, max_headers: int = MAX_HEADERS
) -> tuple[Request, int] | None:
    """Parse a request head from the start of ``data``.

    One empty line (CRLF) before the request line is ignored, as RFC 9112 §2.2 asks
    of a server; ``bytes_used`` counts it.

    Returns:
        ``(request, bytes_used)``, or ``None`` when the head is not complete yet.

    Raises:
        HandshakeError: the head is malformed or over the limits, or the data cannot
            be the start of a request (a TLS handshake, binary data), which is told
            as soon as the first bytes say so.
    """
    skipped = 0
    if data[:1] == b"\r":
        if len(data) == 1:
            return None  # maybe the CR of an empty line
        if data[1] == 0x0A:
            skipped = 2
            data = data[2:]
    _check_request_start(data)
    end = _find_head(data, max_size)
    if end is None:
        return None
    lines = bytes(data[:end]).split(b"\r\n")
    match = _REQUEST_LINE_RE.fullmatch(lines[0])
    if not match:
        raise HandshakeError(f"malformed request line {lines[0][:80]!r}")
    method, target, major, minor = match.groups()
    if (int(major), int(minor)) < (1, 1):
        raise HandshakeError("the opening handshake needs HTTP/1.1 or later")
    headers = _parse_headers(lines[1:], max_headers)
    return Request(target.decode("latin-1"), headers, method.decode()), skipped + end + 4


def parse_response(
    data: bytes | bytearray, *, max_size: int = MAX_HEAD_SIZE, max_headers: int = MAX_HEADERS
) -> tuple[Response, int] | None:
    """Parse a response head from the start of ``data``.

    Returns:
        ``(response, bytes_used)``, or ``None`` when the head is not complete yet.

    Raises:
        HandshakeError: the head is malformed or over the limits.
    """
    end = _find_head(data, max_size)
    if end is None:
        return None
    lines = bytes(data[:end]).split(b"\r\n")
    match = _STATUS_LINE_RE.fullmatch(lines[0])
    if not match:
        raise HandshakeError(f"malformed status line {lines[0][:80]!r}")
    _major, _minor, status, reason = match.groups()
    headers = _parse_headers(lines[1:], max_headers)
    reason_text = (reason or b"").decode("latin-1")
    return Response(int(status), reason_text, headers), end + 4
