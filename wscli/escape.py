"""The one rule for text a peer chose that reaches a terminal: make every hidden character visible.

A terminal obeys some characters instead of showing them: C0 and C1 controls and DEL
move the cursor, clear the screen, retitle the window or write the clipboard; bidi
overrides and isolates (and U+061C) reorder what follows ("Trojan Source"); U+2028/2029
break lines where no newline is; zero-width and other invisible characters hide text in
plain sight. Each of them is shown here as a visible escape (``\\x1b``, ``\\u202e``,
``\\U000e0041``) wherever wscli writes to a terminal: messages of both types, close
reasons, errors, headers, bodies, and ``--json`` (where the escape is JSON's own
``\\uXXXX``, so the line stays valid and lossless).

Whether output is a terminal is decided by the stream written to (stdout for payloads,
stderr for status lines), never by stdin. Output to a pipe or a file is left byte-exact.

Escaping runs in C (``re.search`` to find out whether anything needs it, then
``str.translate`` with a prebuilt table), never in a Python loop per character, so a
megabyte of control characters costs milliseconds.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import IO, Any

from rich.text import Text

__all__ = [
    "escape_control",
    "escape_json",
    "escape_bytes",
    "escaped_text",
    "is_terminal",
    "HIDDEN_CHARACTERS",
]

#: Every character escaped before a terminal sees it, as ``(first, last)`` code points.
HIDDEN_CHARACTERS: tuple[tuple[int, int], ...] = (
    (0x00, 0x1F),  # C0 controls (newline is kept where a message may span lines)
    (0x7F, 0x9F),  # DEL and C1 controls (CSI 0x9b, OSC 0x9d…)
    (0xAD, 0xAD),  # soft hyphen: invisible unless a line breaks there
    (0x34F, 0x34F),  # combining grapheme joiner
    (0x61C, 0x61C),  # Arabic letter mark (a bidi control)
    (0x115F, 0x1160),  # Hangul fillers: render as nothing
    (0x17B4, 0x17B5),  # Khmer inherent vowels: invisible
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, (non-)joiner, LRM, RLM
    (0x2028, 0x202E),  # line and paragraph separators; bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0x3164, 0x3164),  # Hangul filler
    (0xFEFF, 0xFEFF),  # zero-width no-break space (BOM)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF9, 0xFFFB),  # interlinear annotation controls
    (0x1D173, 0x1D17A),  # musical formatting controls
    (0xE0000, 0xE007F),  # tag characters: invisible text
)

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x00: "\\0"}


def _char_class(skip_newline: bool) -> str:
    parts = []
    for first, last in HIDDEN_CHARACTERS:
        if skip_newline and first <= 0x0A <= last:
            parts.append(f"\\U{first:08x}-\\x09\\x0b-\\U{last:08x}")
        else:
            parts.append(f"\\U{first:08x}-\\U{last:08x}")
    return "[" + "".join(parts) + "]"


def _visible(code: int) -> str:
    named = _NAMED.get(code)
    if named is not None:
        return named
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _json_escape(code: int) -> str:
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _table(convert: Any, skip_newline: bool) -> dict[int, str]:
    table = {}
    for first, last in HIDDEN_CHARACTERS:
        for code in range(first, last + 1):
            if not (skip_newline and code == 0x0A):
                table[code] = convert(code)
    return table


_KEEP_NEWLINES_RE = re.compile(_char_class(skip_newline=True))
_ONE_LINE_RE = re.compile(_char_class(skip_newline=False))
_KEEP_NEWLINES = _table(_visible, skip_newline=True)
_ONE_LINE = _table(_visible, skip_newline=False)
_JSON = _table(_json_escape, skip_newline=False)

#: Past this many escapes in one text, they are no longer dimmed one by one (each is a
#: styled span for rich to lay out); the text is still escaped.
DIM_LIMIT = 256


def escape_control(text: str, *, keep_newlines: bool = True) -> str:
    """Replace every hidden character with a visible escape (``\\x1b``, ``\\r``, ``\\u202e``).

    Args:
        text: peer data or anything derived from it.
        keep_newlines: keep ``\\n`` as a line break (message bodies); ``False`` for
            one-line contexts such as close reasons, header values and errors.
    """
    pattern = _KEEP_NEWLINES_RE if keep_newlines else _ONE_LINE_RE
    if pattern.search(text) is None:
        return text
    return text.translate(_KEEP_NEWLINES if keep_newlines else _ONE_LINE)


def escape_json(line: str) -> str:
    """Make one line of JSON safe for a terminal while keeping it valid, equal JSON.

    ``json.dumps`` escapes C0 controls but leaves DEL, C1, bidi and invisible
    characters raw; they can only sit inside JSON strings, where ``\\uXXXX`` (a
    surrogate pair above U+FFFF) means the same character.
    """
    if _ONE_LINE_RE.search(line) is None:
        return line
    return line.translate(_JSON)


def escape_bytes(data: bytes) -> str:
    """Show a binary message on a terminal: UTF-8 where it decodes, ``\\xNN`` otherwise."""
    return escape_control(data.decode("utf-8", "backslashreplace"))


def escaped_text(text: str, style: str = "", *, keep_newlines: bool = True) -> Text:
    """Return ``text`` as a rich ``Text`` with hidden characters escaped and dimmed.

    Dimming tells an escape the peer could not avoid (``\\x1b``) from the same four
    characters it sent literally; past :data:`DIM_LIMIT` escapes the text is escaped
    without dimming, so the cost stays linear and in C.
    """
    pattern = _KEEP_NEWLINES_RE if keep_newlines else _ONE_LINE_RE
    matches = list(islice(pattern.finditer(text), DIM_LIMIT + 1))
    if not matches:
        return Text(text, style=style)
    if len(matches) > DIM_LIMIT:
        return Text(escape_control(text, keep_newlines=keep_newlines), style=style)
    result = Text(style=style)
    position = 0
    for match in matches:
        if match.start() > position:
            result.append(text[position : match.start()])
        result.append(_visible(ord(match.group())), style="dim")
        position = match.end()
    if position < len(text):
        result.append(text[position:])
    return result


def is_terminal(stream: IO[Any] | Any) -> bool:
    """Whether ``stream`` is a terminal (``False`` for anything without ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
