"""The header rule every written header follows (sans-I/O).

Names are tokens, values hold no control character but HTAB, subprotocols are tokens
and Origin is a serialized origin; a request or response that breaks the rule is
refused when it is serialized, before any byte is queued. tests/net/test_header_injection.py
checks the same on the wire, in both roles.
"""

from __future__ import annotations

import pytest

from wscli.core.client import ClientProtocol
from wscli.core.headers import Headers, check_header, check_origin, check_subprotocol
from wscli.core.http11 import Request, Response
from wscli.core.server import ServerProtocol
from wscli.core.uri import parse_uri

BAD_VALUES = [
    "1\r\nX-Injected: 1",
    "1\nX-Injected: 1",
    "1\rX-Injected: 1",
    "a\x00b",
    "a\x0bb",  # VT
    "a\x1b[31mb",  # ESC
    "a\x7fb",  # DEL
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_check_header_refuses_control_characters_naming_the_header(value: str) -> None:
    with pytest.raises(ValueError, match="header X-Key contains a control character"):
        check_header("X-Key", value)


@pytest.mark.parametrize("name", ["X Key", "X-Key:", "X\r\nY", "", "Ä"])
def test_check_header_refuses_names_that_are_not_tokens(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        check_header(name, "1")


def test_check_header_allows_tab_and_non_ascii_text() -> None:
    check_header("X-Key", "a\tb café")


@pytest.mark.parametrize("name", ["", "a b", "a,b", "a\r\nb", "chat\x00", "a;b"])
def test_check_subprotocol_wants_a_token(name: str) -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        check_subprotocol(name)


@pytest.mark.parametrize(
    "origin", ["https://example.com", "http://127.0.0.1:8080", "http://[::1]:80", "null"]
)
def test_serialized_origins_are_accepted(origin: str) -> None:
    check_origin(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://example.com/",
        "https://example.com/path",
        "https://user@example.com",
        "example.com",
        "https://a\r\nX-Injected: 1",
        "",
        "https://exa mple.com",
    ],
)
def test_other_origins_are_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="header Origin must be a serialized origin"):
        check_origin(origin)


def test_request_serialize_refuses_a_header_added_after_construction() -> None:
    client = ClientProtocol(parse_uri("ws://h/"))
    request = client.connect()
    request.headers["X-Late"] = "1\r\nX-Injected: 1"
    with pytest.raises(ValueError, match="header X-Late"):
        client.send_request(request)
    assert client.data_to_send() == []


@pytest.mark.parametrize("path", ["/a b", "/a\r\nX: 1", ""])
def test_request_target_with_spaces_or_controls_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="invalid request target"):
        Request(path, Headers()).serialize()


def test_response_reason_phrase_and_status_are_checked() -> None:
    with pytest.raises(ValueError, match="invalid reason phrase"):
        Response(200, "OK\r\nX-Injected: 1").serialize()
    with pytest.raises(ValueError, match="invalid status code"):
        Response(20, "OK").serialize()


def _server_with_request() -> ServerProtocol:
    server = ServerProtocol()
    server.receive_data(
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return server


def test_server_protocol_refuses_a_bad_response_header_and_keeps_the_request_waiting() -> None:
    server = _server_with_request()
    (request,) = server.events_received()
    response = server.accept(request)
    response.headers["Set-Cookie"] = "a=1\r\nX-Injected: 1"
    with pytest.raises(ValueError, match="header Set-Cookie"):
        server.send_response(response)
    assert server.data_to_send() == []
    server.send_response(server.reject(500))
    assert server.data_to_send()[0].startswith(b"HTTP/1.1 500 ")
