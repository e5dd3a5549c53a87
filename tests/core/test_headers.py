"""Tests for wscli.core.headers: the Headers multi-map and the Sec-WebSocket-* grammars."""

from __future__ import annotations

import pytest

from wscli.core.exceptions import InvalidHeader
from wscli.core.headers import (
    Headers,
    build_extension_header,
    build_subprotocol_header,
    is_token,
    parse_extension_header,
    parse_subprotocol_header,
    parse_token_list,
)

# -- Headers -----------------------------------------------------------------------------------


def test_headers_are_case_insensitive_and_ordered() -> None:
    headers = Headers([("Host", "h"), ("X-A", "1")], X_B="2")
    headers["x-a"] = "3"
    assert headers.items() == [("Host", "h"), ("X-A", "1"), ("X-B", "2"), ("x-a", "3")]
    assert headers.get_all("X-a") == ["1", "3"]
    assert headers.get("HOST") == "h"
    assert headers.get("x-a") == "1"  # the first of a repeated header
    assert headers.get("missing") is None
    assert headers.get("missing", "default") == "default"
    assert "host" in headers and "X-B" in headers
    assert "nope" not in headers and 42 not in headers
    assert list(headers) == ["Host", "X-A", "X-B"]
    assert len(headers) == 4


def test_getitem_needs_exactly_one_value() -> None:
    headers = Headers([("A", "1"), ("B", "2"), ("b", "3")])
    assert headers["a"] == "1"
    with pytest.raises(KeyError):
        headers["missing"]
    with pytest.raises(KeyError, match="more than once"):
        headers["B"]


def test_delete_removes_every_value() -> None:
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    del headers["A"]
    assert headers.items() == [("B", "2")]


def test_headers_from_mapping_and_headers() -> None:
    original = Headers({"A": "1"})
    copy = Headers(original)
    copy["B"] = "2"
    assert original.items() == [("A", "1")]
    assert copy.items() == [("A", "1"), ("B", "2")]


def test_headers_equality_ignores_name_case_not_order() -> None:
    assert Headers([("A", "1"), ("b", "2")]) == Headers([("a", "1"), ("B", "2")])
    assert Headers([("A", "1"), ("B", "2")]) != Headers([("B", "2"), ("A", "1")])
    assert Headers([("A", "x")]) != Headers([("A", "X")])
    assert Headers() != {}


def test_headers_serialize() -> None:
    headers = Headers([("Host", "h"), ("X", "1"), ("X", "2")])
    assert headers.serialize() == b"Host: h\r\nX: 1\r\nX: 2\r\n\r\n"
    assert Headers().serialize() == b"\r\n"
    assert "Headers([('Host', 'h')" in repr(headers)


# -- tokens and lists --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("websocket", True),
        ("x-Custom_1.0~!#$%&'*+^`|", True),
        ("", False),
        ("a b", False),
        ("a,b", False),
        ("a/b", False),
        ('"quoted"', False),
        ("é", False),
        ("a\tb", False),
    ],
)
def test_is_token(value: str, expected: bool) -> None:
    assert is_token(value) is expected


@pytest.mark.parametrize(
    ("name", "values", "tokens"),
    [
        ("Connection", ["Upgrade"], ["upgrade"]),
        ("Connection", ["keep-alive, Upgrade"], ["keep-alive", "upgrade"]),
        ("Connection", ["keep-alive", "UPGRADE"], ["keep-alive", "upgrade"]),
        ("Connection", [" , a ,, b , "], ["a", "b"]),
        ("Connection", [""], []),
        ("Connection", [], []),
        ("Upgrade", ["WebSocket"], ["websocket"]),
        ("Upgrade", ["h2c, websocket/13"], ["h2c", "websocket"]),
    ],
)
def test_parse_token_list(name: str, values: list[str], tokens: list[str]) -> None:
    headers = Headers([(name, value) for value in values])
    assert parse_token_list(headers, name) == tokens


@pytest.mark.parametrize(
    ("name", "value"),
    [("Connection", "a b"), ("Connection", "a/b"), ("Upgrade", "web socket"), ("Upgrade", "/1")],
)
def test_parse_token_list_rejects(name: str, value: str) -> None:
    with pytest.raises(InvalidHeader) as raised:
        parse_token_list(Headers([(name, value)]), name)
    assert raised.value.name == name
    assert raised.value.value == value


@pytest.mark.parametrize(
    ("values", "protocols"),
    [
        ([], []),
        (["chat"], ["chat"]),
        (["chat, superchat"], ["chat", "superchat"]),
        (["a", "b, c"], ["a", "b", "c"]),
        (["Chat"], ["Chat"]),  # subprotocol names are case-sensitive
        ([" a ,,b "], ["a", "b"]),
    ],
)
def test_parse_subprotocol_header(values: list[str], protocols: list[str]) -> None:
    headers = Headers([("Sec-WebSocket-Protocol", value) for value in values])
    assert parse_subprotocol_header(headers) == protocols


@pytest.mark.parametrize("value", ["a b", "a;b", "a/b", '"a"', "a=b"])
def test_parse_subprotocol_header_rejects(value: str) -> None:
    with pytest.raises(InvalidHeader):
        parse_subprotocol_header(Headers([("Sec-WebSocket-Protocol", value)]))


def test_build_subprotocol_header() -> None:
    assert build_subprotocol_header(["chat", "superchat"]) == "chat, superchat"
    assert build_subprotocol_header([]) == ""


# -- Sec-WebSocket-Extensions (RFC 6455 §9.1) --------------------------------------------------

EXTENSIONS = [
    ("foo", [("foo", [])]),
    ("foo, bar", [("foo", []), ("bar", [])]),
    ("foo; a", [("foo", [("a", None)])]),
    ("foo;a=1;b", [("foo", [("a", "1"), ("b", None)])]),
    ("foo ; a = 1 ; b = two", [("foo", [("a", "1"), ("b", "two")])]),
    ('foo; a="1"', [("foo", [("a", "1")])]),
    ('foo; a="\\1\\0"', [("foo", [("a", "10")])]),
    (
        "permessage-deflate; client_max_window_bits, permessage-deflate",
        [("permessage-deflate", [("client_max_window_bits", None)]), ("permessage-deflate", [])],
    ),
    (",foo,,bar,", [("foo", []), ("bar", [])]),
    ("", []),
    (" \t ", []),
]


@pytest.mark.parametrize(("value", "parsed"), EXTENSIONS)
def test_parse_extension_header(value: str, parsed: list[object]) -> None:
    assert parse_extension_header(Headers([("Sec-WebSocket-Extensions", value)])) == parsed


def test_parse_extension_header_over_several_lines() -> None:
    headers = Headers([("Sec-WebSocket-Extensions", "a; x=1"), ("Sec-WebSocket-Extensions", "b")])
    assert parse_extension_header(headers) == [("a", [("x", "1")]), ("b", [])]


def test_parse_extension_header_by_name() -> None:
    headers = Headers([("X-Ext", "a; b=c")])
    assert parse_extension_header(headers, "X-Ext") == [("a", [("b", "c")])]
    assert parse_extension_header(headers) == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("foo bar", "expected ','"),
        ("foo;", "expected a token"),
        ("foo; =1", "expected a token"),
        ("foo; a=", "expected a token"),
        ("foo; a=b c", "expected ','"),
        ('foo; a="b c"', "quoted value is not a token"),
        ('foo; a=""', "quoted value is not a token"),
        ('foo; a="unterminated', "expected a token"),
        ("; a", "expected a token"),
        ("=", "expected a token"),
        ("foo/1", "expected ','"),
        ("fóo", "expected ',' at position 1"),
        ("óo", "expected a token at position 0"),
    ],
)
def test_parse_extension_header_rejects(value: str, why: str) -> None:
    with pytest.raises(InvalidHeader, match=why) as raised:
        parse_extension_header(Headers([("Sec-WebSocket-Extensions", value)]))
    assert raised.value.name == "Sec-WebSocket-Extensions"


@pytest.mark.parametrize(
    ("extensions", "value"),
    [
        ([("foo", [])], "foo"),
        ([("foo", [("a", None), ("b", "1")]), ("bar", [])], "foo; a; b=1, bar"),
        ([], ""),
    ],
)
def test_build_extension_header(extensions: list[object], value: str) -> None:
    assert build_extension_header(extensions) == value  # type: ignore[arg-type]
    assert parse_extension_header(Headers([("Sec-WebSocket-Extensions", value)])) == extensions


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "missing Upgrade header"),
        ("", "empty Upgrade header"),
        ("h2c", "invalid Upgrade header: h2c"),
    ],
)
def test_invalid_header_messages(value: str | None, message: str) -> None:
    assert str(InvalidHeader("Upgrade", value)) == message
    assert str(InvalidHeader("Upgrade", "x", "why")) == "invalid Upgrade header: x (why)"
