"""Rule files for ``wscli listen --rules FILE``: a hand-written mock server in TOML.

::

    [[rule]]
    text = "ping"                           # match the exact text…
    reply = "pong"

    [[rule]]
    regex = '^hello (?P<name>\\w+)$'         # …or a regular expression (searched)…
    reply = "hi {name}"                     # {name}, {1}: its groups

    [[rule]]
    json = { op = "subscribe", "data.kind" = "ticks" }   # …or JSON field values (dotted)
    reply_json = { ok = true, topic = "{json.data.topic}", n = "{json.n}" }
    repeat = 3                              # three replies…
    interval = "1s"                         # …one a second
    delay = "100ms"                         # after this delay

    [[rule]]
    text = "bye"
    close = 1000                            # close (after the reply, if any)
    close_reason = "see you"

    [default]                               # when no rule matched
    reply = "unknown request: {text}"

The first rule that matches wins. A template is text with placeholders and nothing else:
``{text}`` (the whole request), ``{1}`` or ``{name}`` (a regex group), ``{json.a.b}`` (a
field of a JSON request), ``{{`` and ``}}`` for braces. No expression, attribute or index
is evaluated. In ``reply_json`` a string that is one placeholder alone takes the JSON
value of what it names (``"{json.n}"`` stays a number); elsewhere values are inserted as
text, and the reply is serialized by ``json.dumps``, so a request cannot break out of its
string. Errors name the file, the line and the key.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from .params import parse_duration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["Rule", "Reply", "RulesError", "load_rules", "render_text", "render_json"]

#: The most replies one ``repeat`` may send.
MAX_REPEAT = 100_000
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_RULE_KEYS = frozenset(
    {
        "name",
        "text",
        "regex",
        "json",
        "reply",
        "reply_json",
        "delay",
        "repeat",
        "interval",
        "close",
        "close_reason",
    }
)


class RulesError(ValueError):
    """A rule file that cannot be used; the message names the file, line and key."""


@dataclass(frozen=True)
class Reply:
    """What a rule does: messages (rendered per request), timing, and maybe a close."""

    texts: tuple[str, ...] = ()
    json_value: Any = None
    delay: float = 0.0
    repeat: int = 1
    interval: float = 0.0
    close: int | None = None
    close_reason: str = ""


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]``: how it matches and what it replies."""

    name: str
    reply: Reply
    text: str | None = None
    regex: re.Pattern[str] | None = None
    json_fields: dict[str, Any] = field(default_factory=dict)

    def match(self, data: str | bytes) -> dict[str, Any] | None:
        """The template values when ``data`` matches this rule, else ``None``."""
        if isinstance(data, bytes):
            if self.text is not None or self.regex is not None or self.json_fields:
                return None
            return {"text": data.decode("utf-8", "replace")}
        values: dict[str, Any] = {"text": data}
        if self.text is not None and data != self.text:
            return None
        if self.regex is not None:
            found = self.regex.search(data)
            if found is None:
                return None
            for index, group in enumerate(found.groups(), 1):
                values[str(index)] = group or ""
            values.update((k, v or "") for k, v in found.groupdict().items())
        parsed = _parse_json(data)
        if self.json_fields:
            if parsed is None:
                return None
            for path, wanted in self.json_fields.items():
                if _lookup(parsed, path.split(".")) != wanted:
                    return None
        if parsed is not None:
            values["json"] = parsed
        return values


def _parse_json(data: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # a peer's JSON nested past any sense is not JSON
        return None


_ABSENT = object()


def _lookup(value: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _ABSENT
    return value


def _value(name: str, values: dict[str, Any]) -> Any:
    """What a placeholder names: ``""`` for a missing one (a request without the field)."""
    if name.startswith("json."):
        if "json" not in values:
            return ""
        found = _lookup(values["json"], name[5:].split("."))
        return "" if found is _ABSENT else found
    return values.get(name, "")


def render_text(template: str, values: dict[str, Any]) -> str:
    """Fill a checked template's placeholders (non-string JSON values as JSON text)."""

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        value = _value(match.group(1), values)
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return _PLACEHOLDER.sub(fill, template)


def render_json(template: Any, values: dict[str, Any]) -> Any:
    """Fill every string of a JSON template; a lone placeholder keeps its JSON type."""
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole is not None and whole.group(1) is not None:
            return _value(whole.group(1), values)
        return render_text(template, values)
    if isinstance(template, dict):
        return {render_text(k, values): render_json(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render_json(item, values) for item in template]
    return template


def _check_template(template: str, allowed: set[str], where: str) -> None:
    for match in _PLACEHOLDER.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            raise RulesError(f"{where}: a lone {token!r} (write {token * 2} for a brace)")
        if name == "text" or name in allowed:
            continue
        if name.startswith("json.") and all(part for part in name[5:].split(".")):
            continue
        raise RulesError(
            f"{where}: unknown placeholder {{{name}}} (use {{text}}, {{json.FIELD}}, "
            "or a group of this rule's regex)"
        )


class _Locator:
    """Find the line of a key in the rule file: tomllib reports only syntax errors' lines."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def where(self, table: str, index: int, key: str | None = None) -> str:
        """``FILE line N, key K`` for ``[[rule]]`` number ``index`` (or ``[default]``)."""
        count = -1
        start: int | None = None
        header = re.compile(
            r"^\s*\[\[\s*rule\s*\]\]" if table == "rule" else r"^\s*\[\s*default\s*\]"
        )
        for number, line in enumerate(self.lines, 1):
            if header.match(line):
                count += 1
                if table != "rule" or count == index:
                    start = number
                    continue
            if start is not None and re.match(r"^\s*\[", line):
                break
            if start is not None and key is not None:
                if re.match(rf"^\s*{re.escape(key)}\s*=", line) or re.match(
                    rf"^\s*[\"']{re.escape(key)}[\"']\s*=", line
                ):
                    return f"{self.path} line {number}, key {key!r}"
        label = f"[[rule]] #{index + 1}" if table == "rule" else "[default]"
        line = f" line {start}" if start is not None else ""
        suffix = f", key {key!r}" if key is not None else ""
        return f"{self.path}{line} ({label}){suffix}"


def load_rules(path: str) -> tuple[list[Rule], Rule | None]:
    """Read and check a rule file: the rules in order and the default rule.

    Raises:
        RulesError: the file cannot be read, is not TOML (with tomllib's line and
            column), or a key is unknown, of the wrong type, or holds a bad regex,
            duration, close code or template (with the line and the key).
    """
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except OSError as exc:
        raise RulesError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None
    try:
        text = raw.decode("utf-8")
        document = tomllib.loads(text)
    except UnicodeDecodeError:
        raise RulesError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: not valid TOML: {exc}") from None
    locator = _Locator(path, text)
    unknown = set(document) - {"rule", "default"}
    if unknown:
        name = sorted(unknown)[0]
        raise RulesError(f"{path}: unknown table or key {name!r} (use [[rule]] and [default])")
    tables = document.get("rule", [])
    if not isinstance(tables, list):
        raise RulesError(f"{path}: 'rule' must be written [[rule]] (an array of tables)")
    rules = [_rule(table, locator, "rule", index) for index, table in enumerate(tables)]
    default = None
    if "default" in document:
        table = document["default"]
        if not isinstance(table, dict):
            raise RulesError(f"{path}: 'default' must be a table ([default])")
        default = _rule(table, locator, "default", 0)
        if default.text is not None or default.regex is not None or default.json_fields:
            raise RulesError(f"{locator.where('default', 0)}: the default rule matches anything")
    if not rules and default is None:
        raise RulesError(f"{path}: no [[rule]] and no [default]: nothing to answer with")
    return rules, default


def _rule(table: dict[str, Any], locator: _Locator, kind: str, index: int) -> Rule:
    def where(key: str | None = None) -> str:
        return locator.where(kind, index, key)

    for key in table:
        if key not in _RULE_KEYS:
            raise RulesError(f"{where(key)}: unknown key (one of {', '.join(sorted(_RULE_KEYS))})")

    def get(key: str, kinds: Any, what: str) -> Any:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
            raise RulesError(f"{where(key)}: must be {what}")
        return value

    text = get("text", str, "a string")
    pattern = get("regex", str, "a string")
    regex = None
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise RulesError(f"{where('regex')}: not a regular expression: {exc}") from None
    fields = get("json", dict, 'a table of field values (json = { op = "x" })') or {}
    allowed: set[str] = set()
    if regex is not None:
        allowed = {str(i) for i in range(1, regex.groups + 1)} | set(regex.groupindex)
    reply = get("reply", (str, list), "a string or a list of strings")
    texts: list[str] = []
    if reply is not None:
        texts = [reply] if isinstance(reply, str) else reply
        if not all(isinstance(t, str) for t in texts):
            raise RulesError(f"{where('reply')}: must be a string or a list of strings")
        for template in texts:
            _check_template(template, allowed, where("reply"))
    json_value = table.get("reply_json")
    if json_value is not None:
        if reply is not None:
            raise RulesError(f"{where('reply_json')}: give reply or reply_json, not both")
        _check_json_template(json_value, allowed, where("reply_json"))
    delay = _duration(table, "delay", where)
    interval = _duration(table, "interval", where)
    repeat = get("repeat", int, "a whole number")
    if repeat is not None and not 1 <= repeat <= MAX_REPEAT:
        raise RulesError(f"{where('repeat')}: must be between 1 and {MAX_REPEAT}")
    if repeat is not None and repeat > 1 and not interval:
        raise RulesError(f'{where("repeat")}: needs an interval (interval = "1s")')
    close = get("close", int, "a close code")
    if close is not None and not (
        close in (1000, 1001, 1003, 1007, 1008, 1011) or 3000 <= close <= 4999
    ):
        raise RulesError(f"{where('close')}: {close} cannot be sent (1000, 1001, 1008, 3000-4999…)")
    close_reason = get("close_reason", str, "a string") or ""
    if len(close_reason.encode()) > 123:
        raise RulesError(f"{where('close_reason')}: longer than 123 bytes")
    if not texts and json_value is None and close is None:
        raise RulesError(f"{where()}: does nothing (give reply, reply_json or close)")
    return Rule(
        name=get("name", str, "a string") or f"{kind} {index + 1}",
        text=text,
        regex=regex,
        json_fields=fields,
        reply=Reply(
            texts=tuple(texts),
            json_value=json_value,
            delay=delay,
            repeat=repeat or 1,
            interval=interval,
            close=close,
            close_reason=close_reason,
        ),
    )


def _check_json_template(value: Any, allowed: set[str], where: str) -> None:
    if isinstance(value, str):
        _check_template(value, allowed, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_template(key, allowed, where)
            _check_json_template(item, allowed, where)
    elif isinstance(value, list):
        for item in value:
            _check_json_template(item, allowed, where)
    elif not isinstance(value, (int, float, bool)):
        raise RulesError(f"{where}: {type(value).__name__} has no JSON form (dates are not JSON)")


def _duration(table: dict[str, Any], key: str, where: Any) -> float:
    value = table.get(key)
    if value is None:
        return 0.0
    if isinstance(value, bool):
        raise RulesError(f'{where(key)}: must be seconds or a duration such as "100ms"')
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise RulesError(f"{where(key)}: {exc}") from None
    else:
        raise RulesError(f'{where(key)}: must be seconds or a duration such as "100ms"')
    if not 0 <= seconds <= 86400:
        raise RulesError(f"{where(key)}: must be between 0 and 24h")
    return seconds
