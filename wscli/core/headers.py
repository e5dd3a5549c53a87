"""HTTP headers and the grammar of the Sec-WebSocket-* and token-list headers.

``Headers`` is a case-insensitive multi-map that keeps order, because handshake headers
may repeat (RFC 7230 §3.2.2 allows splitting a list over several lines) and both
``Sec-WebSocket-Protocol`` and ``Sec-WebSocket-Extensions`` are such lists.

**One rule for every header written.** Whatever the library puts on the wire, in either
role, goes through :meth:`Headers.serialize`, which checks each field with
:func:`check_header`: the name is an RFC 7230 token and the value holds no control
character but HTAB (no CR, LF, NUL, DEL...). A caller's value with a line break would
otherwise end the header early and start one of its own (header injection). The
connection constructors check their arguments sooner, with the same functions plus
:func:`check_subprotocol` and :func:`check_origin`, so a bad value is a ``ValueError``
naming the header before any socket is opened.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from .exceptions import InvalidHeader

__all__ = [
    "Headers",
    "HeadersLike",
    "parse_token_list",
    "parse_extension_header",
    "build_extension_header",
    "parse_subprotocol_header",
    "build_subprotocol_header",
    "is_token",
    "check_header",
    "check_headers",
    "check_subprotocol",
    "check_origin",
]

_TOKEN_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_OWS_RE = re.compile(r"[\t ]*")
_QUOTED_RE = re.compile(r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"')
_UNQUOTE_RE = re.compile(r"\\([\t -~\x80-\xff])")
# RFC 7230 §3.2: field-value is VCHAR, SP, HTAB and obs-text; every other control
# character (CR, LF, NUL, VT, ESC, DEL...) is refused.
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 6454 §6.2: scheme "://" host [ ":" port ], or the opaque "null".
_ORIGIN_RE = re.compile(
    r"[a-zA-Z][a-zA-Z0-9+.-]*://(?:\[[0-9a-fA-F:.]+\]|[^\x00-\x20\x7f/?#@\[\]:]+)(?::[0-9]{1,5})?"
)


class Headers:
    """An ordered, case-insensitive multi-map of HTTP header fields."""

    __slots__ = ("_items",)

    def __init__(self, items: HeadersLike | None = None, **kwargs: str) -> None:
        self._items: list[tuple[str, str]] = []
        if items is not None:
            self.update(items)
        for name, value in kwargs.items():
            self._items.append((name.replace("_", "-"), value))

    def update(self, items: HeadersLike) -> None:
        """Append every field of ``items`` (a mapping, Headers, or pairs)."""
        if isinstance(items, Headers):
            self._items.extend(items._items)
        elif isinstance(items, Mapping):
            self._items.extend((str(k), str(v)) for k, v in items.items())
        else:
            self._items.extend((str(k), str(v)) for k, v in items)

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        if len(values) > 1:
            raise KeyError(f"{name} appears more than once")
        return values[0]

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the single value of ``name``; ``default`` when absent; the first if repeated."""
        lower = name.lower()
        for key, value in self._items:
            if key.lower() == lower:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name``, in order."""
        lower = name.lower()
        return [value for key, value in self._items if key.lower() == lower]

    def __setitem__(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        lower = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != lower]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lower = name.lower()
        return any(key.lower() == lower for key, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self._items:
            if key.lower() not in seen:
                seen.add(key.lower())
                yield key

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:
        """Return every ``(name, value)`` pair in order, repeats included."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k.lower(), v) for k, v in self._items] == [(k.lower(), v) for k, v in other._items]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def serialize(self) -> bytes:
        """Encode as header lines followed by the empty line that ends a head.

        Raises:
            ValueError: a name is not a token or a value holds a control character; the
                message names the header. Nothing is encoded then.
        """
        check_headers(self._items)
        return "".join(f"{k}: {v}\r\n" for k, v in self._items).encode() + b"\r\n"


HeadersLike = Headers | Mapping[str, str] | Iterable[tuple[str, str]]


def is_token(value: str) -> bool:
    """Tell whether ``value`` is an RFC 7230 token."""
    return _TOKEN_RE.fullmatch(value) is not None


def check_header(name: str, value: str) -> None:
    """Check one header field before it is written.

    Raises:
        ValueError: ``name`` is not an RFC 7230 token, or ``value`` contains a control
            character other than HTAB (CR, LF, NUL, DEL...); the message names the header.
    """
    if not isinstance(name, str) or not is_token(name):
        raise ValueError(f"invalid header name {name!r}")
    if not isinstance(value, str):
        raise ValueError(f"header {name} must be a string, not {type(value).__name__}")
    bad = _BAD_VALUE_RE.search(value)
    if bad is not None:
        raise ValueError(
            f"header {name} contains a control character ({bad.group()!r}); "
            "line breaks, NUL and other controls are not allowed in header values"
        )


def check_headers(items: Iterable[tuple[str, str]]) -> None:
    """Check every ``(name, value)`` pair with :func:`check_header`.

    Raises:
        ValueError: as :func:`check_header`, for the first bad field.
    """
    for name, value in items:
        check_header(name, value)


def check_subprotocol(name: str) -> None:
    """Check a subprotocol to offer or choose: a token (RFC 6455 §4.1, §11.3.4).

    Raises:
        ValueError: it is not a token (empty, or with spaces, commas or controls).
    """
    if not isinstance(name, str) or not is_token(name):
        raise ValueError(f"invalid subprotocol {name!r} for Sec-WebSocket-Protocol: not a token")


def check_origin(origin: str, header: str = "Origin") -> None:
    """Check an Origin value: ``scheme://host[:port]`` or ``null`` (RFC 6454 §6.2).

    A path, a query, user information or anything outside that shape is refused, so
    the header says only which origin the connection comes from.

    Raises:
        ValueError: the value is not a serialized origin; the message names ``header``.
    """
    if not isinstance(origin, str):
        raise ValueError(f"header {header} must be a string, not {type(origin).__name__}")
    if origin != "null" and _ORIGIN_RE.fullmatch(origin) is None:
        raise ValueError(
            f"header {header} must be a serialized origin such as https://example.com "
            f"(scheme, host and optional port) or null, not {origin!r}"
        )


def _split_list(header: str, value: str) -> list[str]:
    """Split a comma-separated list, allowing empty elements (RFC 7230 §7)."""
    return [item.strip(" \t") for item in value.split(",") if item.strip(" \t")]


def parse_token_list(headers: Headers, name: str) -> list[str]:
    """Return the lower-cased tokens of a list header such as Connection or Upgrade.

    Raises:
        InvalidHeader: an element is not a token.
    """
    tokens = []
    for value in headers.get_all(name):
        for item in _split_list(name, value):
            # Upgrade allows "protocol/version"; keep the name before the slash.
            token = item.split("/", 1)[0] if name.lower() == "upgrade" else item
            if not is_token(token):
                raise InvalidHeader(name, value)
            tokens.append(token.lower())
    return tokens


def parse_subprotocol_header(headers: Headers) -> list[str]:
    """Return the subprotocols listed in Sec-WebSocket-Protocol, in order.

    Raises:
        InvalidHeader: an element is not a token (RFC 6455 §4.1).
    """
    protocols = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        for item in _split_list("Sec-WebSocket-Protocol", value):
            if not is_token(item):
                raise InvalidHeader("Sec-WebSocket-Protocol", value)
            protocols.append(item)
    return protocols


def build_subprotocol_header(protocols: Iterable[str]) -> str:
    """Join subprotocols for Sec-WebSocket-Protocol."""
    return ", ".join(protocols)


def _parse_param_value(value: str, pos: int, header: str) -> tuple[str, int]:
    match = _TOKEN_RE.match(value, pos)
    if match:
        return match.group(), match.end()
    match = _QUOTED_RE.match(value, pos)
    if match:
        text = _UNQUOTE_RE.sub(r"\1", match.group()[1:-1])
        # RFC 6455 §9.1: a quoted value must still be a token once unquoted.
        if not is_token(text):
            raise InvalidHeader(header, value, "quoted value is not a token")
        return text, match.end()
    raise InvalidHeader(header, value, f"expected a token at position {pos}")


def parse_extension_header(
    headers: Headers, name: str = "Sec-WebSocket-Extensions"
) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Parse Sec-WebSocket-Extensions into ``[(extension, [(param, value), …]), …]``.

    Raises:
        InvalidHeader: the header does not follow RFC 6455 §9.1.
    """
    result: list[tuple[str, list[tuple[str, str | None]]]] = []
    for value in headers.get_all(name):
        pos = 0
        end = len(value)
        expect_item = True
        while True:
            pos = _OWS_RE.match(value, pos).end()  # type: ignore[union-attr]
            if pos >= end:
                break
            if value[pos] == ",":
                pos += 1
                expect_item = True
                continue
            if not expect_item:
                raise InvalidHeader(name, value, f"expected ',' at position {pos}")
            match = _TOKEN_RE.match(value, pos)
            if not match:
                raise InvalidHeader(name, value, f"expected a token at position {pos}")
            ext_name = match.group()
            pos = match.end()
            params: list[tuple[str, str | None]] = []
            while True:
                pos = _OWS_RE.match(value, pos).end()  # type: ignore[union-attr]
                if pos >= end or value[pos] != ";":
                    break
                pos = _OWS_RE.match(value, pos + 1).end()  # type: ignore[union-attr]
                match = _TOKEN_RE.match(value, pos)
                if not match:
                    raise InvalidHeader(name, value, f"expected a token at position {pos}")
                param = match.group()
                pos = _OWS_RE.match(value, match.end()).end()  # type: ignore[union-attr]
                param_value: str | None = None
                if pos < end and value[pos] == "=":
                    pos = _OWS_RE.match(value, pos + 1).end()  # type: ignore[union-attr]
                    param_value, pos = _parse_param_value(value, pos, name)
                params.append((param, param_value))
            result.append((ext_name, params))
            expect_item = False
    return result


def build_extension_header(
    extensions: Iterable[tuple[str, Iterable[tuple[str, str | None]]]],
) -> str:
    """Serialize ``[(extension, [(param, value), …]), …]`` for Sec-WebSocket-Extensions."""
    parts = []
    for name, params in extensions:
        part = name
        for param, value in params:
            part += f"; {param}" if value is None else f"; {param}={value}"
        parts.append(part)
    return ", ".join(parts)
