"""Where a redirect may lead (sans-I/O): ws:// and wss:// only, never a Unix socket,
never wss:// down to ws:// unless allowed; and when a hop leaves the first origin.
tests/net/test_redirect_policy.py checks the same on the wire."""

from __future__ import annotations

import pytest

from wscli.core.uri import parse_uri, resolve_redirect, same_origin


@pytest.mark.parametrize(
    ("current", "location", "expected"),
    [
        ("ws://a/x", "/y?q=1#frag", "ws://a/y?q=1"),
        ("ws://a/x", "//b:81/z", "ws://b:81/z"),
        ("wss://a/x", "https://b/z", "wss://b/z"),
        ("ws://a/x", "wss://b/z", "wss://b/z"),
        ("ws+unix:///run/s.sock:/x", "/y", "ws+unix:///run/s.sock:/y"),
        ("ws+unix:///run/s.sock:/x", "ws://b/z", "ws://b/z"),
    ],
)
def test_resolve_redirect_follows_ws_and_wss(current: str, location: str, expected: str) -> None:
    assert str(resolve_redirect(parse_uri(current), location)) == expected


@pytest.mark.parametrize(
    ("current", "location", "why"),
    [
        ("ws://a/", "ws+unix:///var/run/docker.sock:/containers/json", "unix socket"),
        ("ws://a/", "WS+UNIX:///var/run/docker.sock:/x", "unix socket"),
        ("ws+unix:///s.sock:/", "ws+unix:///other.sock:/", "unix socket"),
        ("ws://a/", "ftp://b/", "isn't ws or wss"),
        ("ws://a/", "file:///etc/passwd", "isn't ws or wss"),
        ("wss://a/", "ws://a/", "cleartext"),
        ("wss://a/", "http://b/", "cleartext"),
        ("ws+unix:///s.sock:/", "relative", "must be a path"),
    ],
)
def test_resolve_redirect_refuses(current: str, location: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        resolve_redirect(parse_uri(current), location)


def test_resolve_redirect_downgrade_only_when_allowed() -> None:
    target = resolve_redirect(parse_uri("wss://a/"), "ws://a/", allow_insecure=True)
    assert str(target) == "ws://a/"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("ws://a/x", "ws://A/y", True),
        ("ws://a/", "ws://a:80/", True),
        ("ws://a/", "wss://a/", False),
        ("ws://a/", "ws://a:81/", False),
        ("ws://a/", "ws://b/", False),
        ("ws+unix:///s:/", "ws+unix:///s:/x", True),
        ("ws+unix:///s:/", "ws://localhost/", False),
    ],
)
def test_same_origin(a: str, b: str, same: bool) -> None:
    assert same_origin(parse_uri(a), parse_uri(b)) is same
