"""Deciding whether a message received is the one a recording expects, and saying how not.

``replay`` (the client side) and ``listen --replay`` (the server side) compare messages
the same way: exact by default; ``--ignore-json PATH`` drops fields that change from run
to run (a timestamp, an id) from both sides of a JSON comparison; ``--ignore-regex RE``
blanks every match of RE in both texts before they are compared.

Paths are dotted (``ts``, ``data.id``, ``items.0.id``); ``*`` stands for every key of an
object or every element of an array (``items.*.ts``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .escape import escape_control

__all__ = ["Matcher", "describe_message"]

#: Characters of a message shown in a difference before it is cut.
SHOWN = 200
#: JSON paths listed in one difference, at most.
MAX_PATHS = 5
_BLANK = "\u2026"
_MISSING = object()


class Matcher:
    """Compare an expected message with a received one.

    Args:
        ignore_json: dotted paths left out of JSON comparisons.
        ignore_regex: patterns whose matches are blanked in both texts.
    """

    def __init__(
        self, ignore_json: Iterable[str] = (), ignore_regex: Iterable[re.Pattern[str]] = ()
    ) -> None:
        self.ignore_json = [path.split(".") for path in ignore_json]
        self.ignore_regex = list(ignore_regex)

    def _json(self, text: str) -> Any:
        if not self.ignore_json:
            return _MISSING
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past any sense
            return _MISSING
        for path in self.ignore_json:
            _drop(value, path)
        return value

    def _blank(self, text: str) -> str:
        for pattern in self.ignore_regex:
            text = pattern.sub(_BLANK, text)
        return text

    def _normal(self, data: str) -> tuple[str, Any]:
        """The text as compared, and its JSON value (``_MISSING`` when not compared as JSON)."""
        value = self._json(data)
        if value is not _MISSING:
            return self._blank(json.dumps(value, sort_keys=True, ensure_ascii=False)), value
        return self._blank(data), _MISSING

    def matches(self, expected: str | bytes, received: str | bytes) -> bool:
        """Whether ``received`` counts as ``expected`` (binary: byte for byte)."""
        if isinstance(expected, bytes) or isinstance(received, bytes):
            return expected == received
        if expected == received:
            return True
        try:
            return self._normal(expected)[0] == self._normal(received)[0]
        except RecursionError:  # JSON nested too deep to serialize again: compare the text
            return self._blank(expected) == self._blank(received)

    def differences(self, expected: str | bytes, received: str | bytes) -> list[str]:
        """Lines for people that say how ``received`` differs from ``expected`` (escaped)."""
        if isinstance(expected, bytes) != isinstance(received, bytes):
            return [
                f"expected {describe_message(expected)}",
                f"received {describe_message(received)}",
            ]
        if isinstance(expected, str) and isinstance(received, str):
            paths = self._json_paths(expected, received)
            if paths:
                return paths
        lines = [f"expected {describe_message(expected)}", f"received {describe_message(received)}"]
        offset = _first_difference(expected, received)
        if offset is not None:
            unit = "character" if isinstance(expected, str) else "byte"
            lines.append(f"first difference at {unit} {offset}")
        return lines

    def _json_paths(self, expected: str, received: str) -> list[str]:
        try:
            left, right = json.loads(expected), json.loads(received)
            for path in self.ignore_json:
                _drop(left, path)
                _drop(right, path)
            found: list[str] = []
            _compare(left, right, [], found)
        except (ValueError, RecursionError):  # shown as text instead
            return []
        return [escape_control(line, keep_newlines=False) for line in found[:MAX_PATHS]] + (
            [f"… and {len(found) - MAX_PATHS} more differences"] if len(found) > MAX_PATHS else []
        )


def describe_message(data: str | bytes) -> str:
    """A message on one line for a difference: JSON-quoted text or hex bytes, cut, escaped."""
    if isinstance(data, bytes):
        shown = data[: SHOWN // 2].hex(" ")
        more = f" … ({len(data)} bytes)" if len(data) > SHOWN // 2 else ""
        return f"binary {shown}{more}" if data else "binary (empty)"
    quoted = json.dumps(data[:SHOWN], ensure_ascii=False)
    more = f" … ({len(data)} characters)" if len(data) > SHOWN else ""
    return escape_control(f"text {quoted}{more}", keep_newlines=False)


def _first_difference(left: Sequence[Any], right: Sequence[Any]) -> int | None:
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return index
    return None if len(left) == len(right) else min(len(left), len(right))


def _drop(value: Any, path: list[str]) -> None:
    """Remove the field at ``path`` from a parsed JSON value, wherever it exists."""
    if not path:
        return
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        keys = list(value) if head == "*" else [head] if head in value else []
        for key in keys:
            if rest:
                _drop(value[key], rest)
            else:
                del value[key]
    elif isinstance(value, list):
        if head == "*":
            indexes = list(range(len(value)))
        elif head.isdigit() and int(head) < len(value):
            indexes = [int(head)]
        else:
            indexes = []
        for index in reversed(indexes):
            if rest:
                _drop(value[index], rest)
            else:
                value[index] = None  # keep the other elements where they were


def _compare(left: Any, right: Any, path: list[str], found: list[str]) -> None:
    """Append ``path: expected …, received …`` for every place two JSON values differ."""
    if len(found) > MAX_PATHS:
        return
    where = ".".join(path) or "(the whole message)"
    if isinstance(left, dict) and isinstance(right, dict):
        for key in left:
            if key not in right:
                found.append(f"{'.'.join([*path, key])}: missing (expected {_short(left[key])})")
            else:
                _compare(left[key], right[key], [*path, key], found)
        for key in right:
            if key not in left:
                found.append(f"{'.'.join([*path, key])}: not expected ({_short(right[key])})")
        return
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            _compare(a, b, [*path, str(index)], found)
        return
    if left != right or type(left) is not type(right):
        found.append(f"{where}: expected {_short(left)}, received {_short(right)}")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN else text[:SHOWN] + " …"
