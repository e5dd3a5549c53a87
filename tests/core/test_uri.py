"""Tests for wscli.core.uri: ws://, wss:// and ws+unix:// addresses (RFC 6455 §3)."""

from __future__ import annotations

import pytest

from wscli.core.exceptions import InvalidURI, WebSocketError
from wscli.core.redact import redact_userinfo
from wscli.core.uri import WebSocketURI, parse_uri

VALID = [
    ("ws://example.com", WebSocketURI(False, "example.com", 80, "/")),
    ("ws://example.com/", WebSocketURI(False, "example.com", 80, "/")),
    ("wss://example.com", WebSocketURI(True, "example.com", 443, "/")),
    ("ws://example.com:8080/chat", WebSocketURI(False, "example.com", 8080, "/chat")),
    ("wss://example.com:443/a/b?c=d&e", WebSocketURI(True, "example.com", 443, "/a/b", "c=d&e")),
    ("ws://example.com?q", WebSocketURI(False, "example.com", 80, "/", "q")),
    ("WS://EXAMPLE.COM/Path", WebSocketURI(False, "example.com", 80, "/Path")),
    ("http://example.com", WebSocketURI(False, "example.com", 80, "/")),
    ("https://example.com", WebSocketURI(True, "example.com", 443, "/")),
    ("example.com:9000/x", WebSocketURI(False, "example.com", 9000, "/x")),
    ("  ws://padded/  ", WebSocketURI(False, "padded", 80, "/")),
    ("ws://127.0.0.1:1/", WebSocketURI(False, "127.0.0.1", 1, "/")),
    ("ws://[::1]:9000/", WebSocketURI(False, "::1", 9000, "/")),
    ("wss://[2001:db8::1]/", WebSocketURI(True, "2001:db8::1", 443, "/")),
    ("ws://h/a b", WebSocketURI(False, "h", 80, "/a%20b")),
    ("ws://h/caf\u00e9", WebSocketURI(False, "h", 80, "/caf%C3%A9")),
    ("ws://h/a%2Fb?x=%20", WebSocketURI(False, "h", 80, "/a%2Fb", "x=%20")),
    ("ws://h/?a b", WebSocketURI(False, "h", 80, "/", "a%20b")),
    ("ws://user:pass@h/", WebSocketURI(False, "h", 80, "/", "", ("user", "pass"))),
    ("ws://us%40er:p%3Ass@h/", WebSocketURI(False, "h", 80, "/", "", ("us@er", "p:ss"))),
    ("ws://user@h/", WebSocketURI(False, "h", 80, "/", "", ("user", ""))),
    (
        "ws+unix:///tmp/app.sock:/chat?x=1",
        WebSocketURI(False, "localhost", 80, "/chat", "x=1", None, "/tmp/app.sock"),
    ),
    ("ws+unix:/run/s.sock", WebSocketURI(False, "localhost", 80, "/", "", None, "/run/s.sock")),
    (
        "ws+unix:///run/s.sock:path",
        WebSocketURI(False, "localhost", 80, "/path", "", None, "/run/s.sock"),
    ),
]


@pytest.mark.parametrize(("text", "uri"), VALID)
def test_parse_uri(text: str, uri: WebSocketURI) -> None:
    assert parse_uri(text) == uri


@pytest.mark.parametrize(
    ("uri", "host_header", "resource_name", "text"),
    [
        ("ws://example.com", "example.com", "/", "ws://example.com/"),
        ("ws://example.com:80/a", "example.com", "/a", "ws://example.com/a"),
        ("ws://example.com:443/a", "example.com:443", "/a", "ws://example.com:443/a"),
        ("wss://example.com:443/a?b", "example.com", "/a?b", "wss://example.com/a?b"),
        ("wss://example.com:80/", "example.com:80", "/", "wss://example.com:80/"),
        ("ws://[::1]/", "[::1]", "/", "ws://[::1]/"),
        ("ws://[::1]:81/", "[::1]:81", "/", "ws://[::1]:81/"),
        ("ws+unix:///s.sock:/p?q", "localhost", "/p?q", "ws+unix:///s.sock:/p?q"),
    ],
)
def test_uri_properties(uri: str, host_header: str, resource_name: str, text: str) -> None:
    parsed = parse_uri(uri)
    assert parsed.host_header == host_header
    assert parsed.resource_name == resource_name
    assert str(parsed) == text
    assert parsed.scheme == ("wss" if parsed.secure else "ws")


def test_str_round_trips() -> None:
    for text, _uri in VALID:
        parsed = parse_uri(text)
        if parsed.user_info is None:
            assert parse_uri(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty address"),
        ("   ", "empty address"),
        ("ftp://example.com", "scheme 'ftp' isn't ws or wss"),
        ("wsx://example.com", "scheme 'wsx'"),
        ("ws://", "missing host"),
        ("ws:///path", "missing host"),
        ("ws://:80/", "missing host"),
        ("ws://h/#fragment", "fragment identifiers are not allowed"),
        ("ws://h:99999/", "Port out of range"),
        ("ws://h:port/", "Port could not be cast"),
        ("ws://h:-1/", "Port"),
        ("ws://[::1/", "Invalid IPv6 URL"),
        ("ws+unix:", "missing socket path"),
        ("ws+unix://:/path", "missing socket path"),
        ("ws://exa mple.com/", "invalid character in host"),
        ("ws://a\x00b/", "invalid character in host"),
        ("ws://a\x1bb/", "invalid character in host"),
        ("ws://a\x7fb/", "invalid character in host"),
    ],
)
def test_invalid_uri(text: str, why: str) -> None:
    with pytest.raises(InvalidURI, match=why) as raised:
        parse_uri(text)
    assert raised.value.uri == text
    assert str(raised.value).startswith(f"{text!r} isn't a valid websocket uri: ")


def test_invalid_uri_is_a_value_error() -> None:
    assert issubclass(InvalidURI, ValueError)
    assert issubclass(InvalidURI, WebSocketError)


def test_line_breaks_never_reach_the_host() -> None:
    """urlsplit drops tabs and line breaks, so they cannot inject request headers."""
    parsed = parse_uri("ws://ho\r\nst/pa\tth")
    assert parsed.host == "host"
    assert "\r" not in parsed.resource_name and "\n" not in parsed.resource_name


@pytest.mark.parametrize(
    "address",
    [
        "ws://user:s3cr3t@exa mple.com/",
        "ftp://user:s3cr3t@example.com/",
        "ws://user:s3cr3t@example.com:99999/",
        "ws://user:s3cr3t@example.com/#frag",
    ],
)
def test_invalid_uri_message_never_repeats_the_password(address: str) -> None:
    with pytest.raises(InvalidURI) as caught:
        parse_uri(address)
    assert "s3cr3t" not in str(caught.value)
    assert "***@example.com" in str(caught.value) or "***@exa mple.com" in str(caught.value)


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("ws://u:p@h/x@y", "ws://***@h/x@y"),
        ("u:p@h:1", "***@h:1"),
        ("http://h/p?a=b@c", "http://h/p?a=b@c"),
        ("wss://h", "wss://h"),
        ("socks5://a@b:1080", "socks5://***@b:1080"),
    ],
)
def test_redact_userinfo(address: str, shown: str) -> None:
    assert redact_userinfo(address) == shown
