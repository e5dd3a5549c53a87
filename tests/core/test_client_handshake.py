"""Tests for wscli.core.client: the client's opening handshake (RFC 6455 §4.1, §4.2.2).

Requests are compared byte for byte (the key comes from ``make_key``); responses are
raw bytes fed in whole and in pieces.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from helpers import (
    CHUNK_SIZES,
    FIXED_KEY,
    FakeClientFactory,
    FakeExtension,
    Recorder,
    build_frame,
    fixed_mask,
    own_frame,
)

from wscli.core.client import USER_AGENT, ClientProtocol
from wscli.core.events import Message, Ping
from wscli.core.exceptions import (
    HandshakeError,
    InvalidHeader,
    InvalidState,
    InvalidStatus,
    NegotiationError,
)
from wscli.core.frames import Opcode
from wscli.core.handshake import GUID, accept_key, check_key, generate_key
from wscli.core.http11 import Response
from wscli.core.protocol import Side, State
from wscli.core.uri import parse_uri

ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's answer to FIXED_KEY


def make_client(uri: str = "ws://example.com/chat", **options: Any) -> ClientProtocol:
    options.setdefault("make_key", lambda: FIXED_KEY)
    options.setdefault("make_mask", fixed_mask)
    return ClientProtocol(parse_uri(uri), **options)


def request_bytes(client: ClientProtocol) -> bytes:
    client.send_request(client.connect())
    (data,) = client.data_to_send()
    return data


def response(*headers: tuple[str, str], status: str = "101 Switching Protocols") -> bytes:
    """A response head; with no headers, the minimal valid 101 for ``FIXED_KEY``."""
    if not headers:
        headers = (
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", ACCEPT),
        )
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"HTTP/1.1 {status}\r\n{lines}\r\n".encode()


def with_headers(*extra: tuple[str, str]) -> bytes:
    return response(
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
        *extra,
    )


# -- keys ------------------------------------------------------------------------------------


def test_accept_key_matches_rfc_example() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_generate_key_is_16_random_bytes() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(base64.b64decode(key)) == 16 and check_key(key) for key in keys)


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        (FIXED_KEY, True),
        ("AAAAAAAAAAAAAAAAAAAAAA==", True),
        ("AAAAAAAAAAAAAAAAAAAAAAAA", False),  # 18 bytes
        ("AAAAAAAAAAAAAAAAAAAA", False),  # 15 bytes
        ("not base64 at all!!!!!==", False),
        ("AAAAAAAAAAAAAAAAAAAAAA", False),  # missing padding
        ("", False),
        ("ÄAAAAAAAAAAAAAAAAAAAAA==", False),
    ],
)
def test_check_key(key: str, valid: bool) -> None:
    assert check_key(key) is valid


def test_client_uses_generated_key_by_default() -> None:
    client = ClientProtocol(parse_uri("ws://h/"))
    assert check_key(client.key)
    assert client.key != ClientProtocol(parse_uri("ws://h/")).key


# -- the request -------------------------------------------------------------------------------


def test_request_bytes() -> None:
    assert request_bytes(make_client()) == (
        b"GET /chat HTTP/1.1\r\n"
        b"Host: example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"User-Agent: wscli\r\n"
        b"\r\n"
    )
    assert USER_AGENT == "wscli"


def test_request_bytes_with_every_option() -> None:
    client = make_client(
        "ws://user:s%3Acret@example.com:8080/chat?room=1",
        origin="https://example.com",
        subprotocols=["chat.v2", "chat"],
        extensions=[FakeClientFactory("x-one", [("level", "3")]), FakeClientFactory("x-two")],
        headers=[("X-Trace", "abc, def"), ("X-Other", "1")],
        user_agent="probe/1.0",
    )
    credentials = base64.b64encode(b"user:s:cret").decode()
    assert request_bytes(client) == (
        b"GET /chat?room=1 HTTP/1.1\r\n"
        b"Host: example.com:8080\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        + f"Authorization: Basic {credentials}\r\n".encode()
        + b"Origin: https://example.com\r\n"
        b"Sec-WebSocket-Extensions: x-one; level=3, x-two\r\n"
        b"Sec-WebSocket-Protocol: chat.v2, chat\r\n"
        b"User-Agent: probe/1.0\r\n"
        b"X-Trace: abc, def\r\n"
        b"X-Other: 1\r\n"
        b"\r\n"
    )


def test_extra_user_agent_and_authorization_replace_defaults() -> None:
    client = make_client("ws://u:p@h/", headers={"User-Agent": "mine", "Authorization": "Bearer t"})
    request = client.connect()
    assert request.headers.get_all("User-Agent") == ["mine"]
    assert request.headers.get_all("Authorization") == ["Bearer t"]


def test_extra_host_and_origin_replace_defaults_in_place() -> None:
    client = make_client("ws://h:81/", headers={"Origin": "http://o", "Host": "v"}, origin=None)
    names = [name for name, _ in client.connect().headers.items()]
    assert names[0] == "Host" and names.count("Host") == 1 and names.count("Origin") == 1
    assert client.connect().headers["Host"] == "v"


def test_header_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        make_client(headers=[("X-Trace", "a"), ("x-trace", "b")])
    with pytest.raises(ValueError, match="Origin given twice"):
        make_client(headers={"Origin": "http://a"}, origin="http://b")
    with pytest.raises(ValueError, match="Host given twice"):
        make_client(headers={"Host": "a"}, host="b")


def test_no_user_agent() -> None:
    assert b"User-Agent" not in request_bytes(make_client(user_agent=None))


@pytest.mark.parametrize(
    ("uri", "host", "path"),
    [
        ("ws://example.com", "example.com", "/"),
        ("ws://example.com:80/", "example.com", "/"),
        ("wss://example.com:443/x", "example.com", "/x"),
        ("wss://example.com:80/x", "example.com:80", "/x"),
        ("ws://[::1]:9000/a?b", "[::1]:9000", "/a?b"),
        ("ws://EXAMPLE.com/Path", "example.com", "/Path"),
    ],
)
def test_request_host_and_path(uri: str, host: str, path: str) -> None:
    request = make_client(uri).connect()
    assert request.headers["Host"] == host
    assert request.path == path


def test_hybi_08_request_names_origin_differently() -> None:
    request = make_client(version=8, origin="http://o").connect()
    assert request.headers["Sec-WebSocket-Version"] == "8"
    assert request.headers["Sec-WebSocket-Origin"] == "http://o"
    assert "Origin" not in request.headers


def test_unsupported_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported protocol version 7"):
        make_client(version=7)


def test_request_can_be_amended_before_sending() -> None:
    client = make_client()
    request = client.connect()
    request.headers["Cookie"] = "a=b"
    client.send_request(request)
    assert client.request is request
    assert b"Cookie: a=b\r\n\r\n" in client.data_to_send()[0]


def test_client_starts_connecting() -> None:
    client = make_client()
    assert client.state is State.CONNECTING
    assert not client.close_expected()
    with pytest.raises(InvalidState):
        client.send_text(b"too early")


# -- accepting the response -------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_accepts_101(chunk_size: int | None) -> None:
    client = make_client()
    request_bytes(client)
    recorder = Recorder(client).receive(response(), chunk_size)
    (event,) = recorder.events
    assert isinstance(event, Response) and event.status_code == 101
    assert client.response is event
    assert client.state is State.OPEN
    assert client.handshake_exc is None
    assert client.subprotocol is None
    assert client.extensions == []
    assert recorder.out == []


def test_response_headers_are_case_insensitive_lists() -> None:
    client = make_client()
    raw = response(
        ("upgrade", "WebSocket"),
        ("CONNECTION", "keep-alive, Upgrade"),
        ("sec-websocket-accept", ACCEPT),
    )
    client.receive_data(raw)
    assert client.state is State.OPEN


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_frames_right_behind_the_response(chunk_size: int | None) -> None:
    client = make_client()
    frames = build_frame(Opcode.TEXT, b"hello") + build_frame(Opcode.PING, b"p")
    recorder = Recorder(client).receive(response() + frames, chunk_size)
    assert recorder.events[1:] == [Message("hello"), Ping(b"p")]
    assert recorder.out == [own_frame(Side.CLIENT, Opcode.PONG, b"p")]


def test_client_masks_after_handshake() -> None:
    client = make_client()
    client.receive_data(response())
    client.events_received()
    client.send_text(b"x")
    assert client.data_to_send() == [own_frame(Side.CLIENT, Opcode.TEXT, b"x")]


# -- subprotocols and extensions -------------------------------------------------------------------


def test_subprotocol_chosen_by_server() -> None:
    client = make_client(subprotocols=["a", "b"])
    client.receive_data(with_headers(("Sec-WebSocket-Protocol", "b")))
    assert client.state is State.OPEN
    assert client.subprotocol == "b"


def test_no_subprotocol_chosen() -> None:
    client = make_client(subprotocols=["a", "b"])
    client.receive_data(response())
    assert client.state is State.OPEN
    assert client.subprotocol is None


def test_extensions_accepted_in_response_order() -> None:
    client = make_client(extensions=[FakeClientFactory("x-one"), FakeClientFactory("x-two")])
    raw = with_headers(("Sec-WebSocket-Extensions", "x-two; q=1, x-one"))
    client.receive_data(raw)
    assert client.state is State.OPEN
    assert client.extensions == [FakeExtension("x-two", [("q", "1")]), FakeExtension("x-one", [])]


REFUSED = [
    pytest.param({}, response(status="403 Forbidden"), InvalidStatus, id="403"),
    pytest.param({}, response(status="200 OK"), InvalidStatus, id="200"),
    pytest.param(
        {},
        response(("Connection", "Upgrade"), ("Sec-WebSocket-Accept", ACCEPT)),
        InvalidHeader,
        id="missing-upgrade",
    ),
    pytest.param(
        {},
        response(("Upgrade", "h2c"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", ACCEPT)),
        InvalidHeader,
        id="wrong-upgrade",
    ),
    pytest.param(
        {},
        response(("Upgrade", "websocket"), ("Sec-WebSocket-Accept", ACCEPT)),
        InvalidHeader,
        id="missing-connection",
    ),
    pytest.param(
        {},
        response(
            ("Upgrade", "websocket"), ("Connection", "close"), ("Sec-WebSocket-Accept", ACCEPT)
        ),
        InvalidHeader,
        id="wrong-connection",
    ),
    pytest.param(
        {},
        response(("Upgrade", "websocket"), ("Connection", "Upgrade")),
        InvalidHeader,
        id="missing-accept",
    ),
    pytest.param(
        {},
        response(
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key("AAAAAAAAAAAAAAAAAAAAAA==")),
        ),
        InvalidHeader,
        id="wrong-accept",
    ),
    pytest.param(
        {}, with_headers(("Sec-WebSocket-Accept", ACCEPT)), InvalidHeader, id="repeated-accept"
    ),
    pytest.param(
        {},
        response(
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", ACCEPT.lower()),
        ),
        InvalidHeader,
        id="accept-case",
    ),
    pytest.param(
        {"subprotocols": ["a"]},
        with_headers(("Sec-WebSocket-Protocol", "b")),
        NegotiationError,
        id="unoffered-subprotocol",
    ),
    pytest.param(
        {},
        with_headers(("Sec-WebSocket-Protocol", "a")),
        NegotiationError,
        id="subprotocol-none-offered",
    ),
    pytest.param(
        {"subprotocols": ["a", "b"]},
        with_headers(("Sec-WebSocket-Protocol", "a, b")),
        NegotiationError,
        id="two-subprotocols",
    ),
    pytest.param(
        {"subprotocols": ["a"]},
        with_headers(("Sec-WebSocket-Protocol", "a b")),
        InvalidHeader,
        id="malformed-subprotocol",
    ),
    pytest.param(
        {},
        with_headers(("Sec-WebSocket-Extensions", "x-one")),
        NegotiationError,
        id="extension-none-offered",
    ),
    pytest.param(
        {"extensions": [FakeClientFactory("x-one")]},
        with_headers(("Sec-WebSocket-Extensions", "x-other")),
        NegotiationError,
        id="unoffered-extension",
    ),
    pytest.param(
        {"extensions": [FakeClientFactory("x-one")]},
        with_headers(("Sec-WebSocket-Extensions", "x-one; bad")),
        NegotiationError,
        id="refused-extension-params",
    ),
    pytest.param(
        {"extensions": [FakeClientFactory("x-one")]},
        with_headers(("Sec-WebSocket-Extensions", "x-one; =")),
        InvalidHeader,
        id="malformed-extension",
    ),
    pytest.param({}, b"HTTP/1.1 101\r\nUpgrade websocket\r\n\r\n", HandshakeError, id="no-colon"),
    pytest.param({}, b"HTTP/1.1 1O1 Switching\r\n\r\n", HandshakeError, id="bad-status"),
    pytest.param({}, b"SSH-2.0-OpenSSH_9.6\r\n\r\n", HandshakeError, id="not-http"),
]


@pytest.mark.parametrize(("options", "raw", "error"), REFUSED)
@pytest.mark.parametrize("chunk_size", [None, 1])
def test_client_rejects_response(
    options: dict[str, Any], raw: bytes, error: type[Exception], chunk_size: int | None
) -> None:
    client = make_client(**options)
    request_bytes(client)
    recorder = Recorder(client).receive(raw + build_frame(Opcode.TEXT, b"after"), chunk_size)
    assert type(client.handshake_exc) is error
    assert client.state is State.CONNECTING
    assert client.close_expected()
    assert recorder.out == [b""]  # close TCP, nothing else
    assert not any(isinstance(event, Message) for event in recorder.events)
    recorder.receive(build_frame(Opcode.TEXT, b"later"))
    recorder.receive_eof()
    assert type(client.handshake_exc) is error
    assert client.state is State.CLOSED
    assert recorder.out == [b""]


def test_invalid_status_keeps_the_response() -> None:
    client = make_client()
    raw = response(("Content-Length", "9"), ("Retry-After", "5"), status="503 Busy Now")
    client.receive_data(raw + b"try later")
    (event,) = client.events_received()
    error = client.handshake_exc
    assert isinstance(error, InvalidStatus)
    assert error.response is event is client.response
    assert error.status_code == 503
    assert error.response.reason_phrase == "Busy Now"
    assert error.response.headers["Retry-After"] == "5"
    assert str(error) == "server rejected websocket connection: HTTP 503 Busy Now"


def test_rejected_101_response_is_still_an_event() -> None:
    client = make_client()
    client.receive_data(response(("Upgrade", "websocket"), ("Connection", "Upgrade")))
    (event,) = client.events_received()
    assert isinstance(event, Response)
    assert str(client.handshake_exc) == "missing Sec-WebSocket-Accept header"


def test_response_head_size_limit() -> None:
    client = make_client(max_head_size=200)
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nX: " + b"y" * 200)
    assert isinstance(client.handshake_exc, HandshakeError)
    assert "larger than 200 bytes" in str(client.handshake_exc)
    assert client.data_to_send() == [b""]


def test_response_header_count_limit() -> None:
    head = response(*[("X-N", str(n)) for n in range(5)], status="101 Switching Protocols")
    client = make_client(max_headers=4)
    client.receive_data(head)
    assert "more than 4 header lines" in str(client.handshake_exc)
    client = make_client(max_headers=8)
    client.receive_data(with_headers(*[("X-N", str(n)) for n in range(5)]))
    assert client.state is State.OPEN


def test_eof_during_handshake() -> None:
    client = make_client()
    request_bytes(client)
    client.receive_data(b"HTTP/1.1 101 Switching")
    client.receive_eof()
    assert isinstance(client.handshake_exc, EOFError)
    assert client.state is State.CLOSED
    assert client.data_to_send() == [b""]
    assert client.events_received() == []
