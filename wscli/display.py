"""How one message is shaped for a terminal: hex dumps, and the bounds that keep it fast.

On a terminal a message is shown, not stored: text past :data:`DISPLAY_LIMIT`
characters is cut (``--full`` shows it whole, ``/save`` writes it to a file), binary past
:data:`HEXDUMP_LIMIT` bytes is dumped in part, and JSON is pretty-printed only up to
:data:`PRETTY_JSON_LIMIT` characters and :data:`PRETTY_JSON_DEPTH` levels, because
indenting multiplies size (depth 900 in 1.8 KB would become megabytes). So no message,
however a peer built it, makes showing it slow. Pipes and files get every byte.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "HEXDUMP_LIMIT",
    "DISPLAY_LIMIT",
    "PRETTY_JSON_LIMIT",
    "PRETTY_JSON_DEPTH",
    "hexdump",
    "looks_like_json",
    "json_depth_within",
]

#: Binary messages longer than this show a truncated hex dump on a terminal.
HEXDUMP_LIMIT = 1024
#: Text messages longer than this (in characters) are cut on a terminal, with a note of
#: the bytes not shown; ``--full`` shows everything and ``/save`` writes it to a file.
DISPLAY_LIMIT = 8192
#: JSON is pretty-printed on a terminal only up to this size (characters) and depth;
#: beyond, it is shown as it came (cut like any long text).
PRETTY_JSON_LIMIT = 65536
PRETTY_JSON_DEPTH = 32


_PRINTABLE = bytes(byte if 32 <= byte < 127 else ord(".") for byte in range(256))


def hexdump(data: bytes, limit: int | None = HEXDUMP_LIMIT) -> list[str]:
    """Format bytes like ``xxd``/``hexdump -C``: offset, 16 bytes in hex, printable ASCII.

    Args:
        data: the bytes.
        limit: how many bytes to show; a last line counts the rest.
    """
    shown = data if limit is None else data[:limit]
    lines = []
    for offset in range(0, len(shown), 16):
        chunk = shown[offset : offset + 16]
        left, right = chunk[:8].hex(" "), chunk[8:].hex(" ")
        printable = chunk.translate(_PRINTABLE).decode("ascii")
        lines.append(f"{offset:08x}  {left:<23}  {right:<23}  |{printable}|")
    if len(shown) < len(data):
        lines.append(f"… {len(data) - len(shown)} more bytes")
    return lines


def looks_like_json(text: str) -> Any:
    """Return the parsed value when ``text`` is a JSON object or array worth pretty-printing.

    Only objects and arrays are pretty-printed: a bare ``42`` or ``"hi"`` reads better
    as it came. So is anything larger than :data:`PRETTY_JSON_LIMIT` or nested deeper
    than :data:`PRETTY_JSON_DEPTH`: indenting it would multiply its size (depth 900 in
    1.8 KB becomes megabytes) and the time to lay it out. ``None`` otherwise.
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{" or len(stripped) > PRETTY_JSON_LIMIT:
        return None
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, (dict, list)) or not json_depth_within(value, PRETTY_JSON_DEPTH):
        return None
    return value


def json_depth_within(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests no deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return False
                stack.append((child, depth + 1))
    return True
