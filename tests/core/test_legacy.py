"""Legacy drafts: hybi-08 (version 8) both ways, hixie-76 on the server, as exact bytes."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import HIXIE_REQUEST, HIXIE_RESPONSE

from wscli.core.client import ClientProtocol
from wscli.core.events import Message
from wscli.core.exceptions import InvalidState
from wscli.core.frames import Close
from wscli.core.legacy.hixie76 import (
    HIXIE76,
    Hixie76ServerProtocol,
    challenge_response,
    enable_hixie76,
    key_number,
)
from wscli.core.protocol import State
from wscli.core.server import ServerProtocol
from wscli.core.uri import parse_uri

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"


@pytest.fixture
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(email.utils, "formatdate", lambda *args, **kwargs: DATE)
    yield


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


# -- hybi-08 -------------------------------------------------------------------------------

# draft-ietf-hybi-thewebsocketprotocol-08 §1.2 and §4.1: the sample handshake.
HYBI08_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 8\r\n"
    b"Sec-WebSocket-Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"\r\n"
)
HYBI08_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"Date: " + DATE.encode() + b"\r\n"
    b"Server: wscli\r\n"
    b"\r\n"
)


def hybi08_client() -> ClientProtocol:
    return ClientProtocol(
        parse_uri("ws://server.example.com/chat"),
        origin="http://example.com",
        subprotocols=["chat", "superchat"],
        version=8,
        user_agent=None,
        make_key=lambda: "dGhlIHNhbXBsZSBub25jZQ==",
        make_mask=lambda: b"\x37\xfa\x21\x3d",
    )


def test_hybi08_client_request_bytes() -> None:
    client = hybi08_client()
    client.send_request(client.connect())
    assert client.data_to_send() == [HYBI08_REQUEST]


@pytest.mark.parametrize("size", [1, 7, len(HYBI08_REQUEST)])
def test_hybi08_server_response_bytes(fixed_date: None, size: int) -> None:
    server = ServerProtocol()
    for chunk in chunked(HYBI08_REQUEST, size):
        server.receive_data(chunk)
    (request,) = server.events_received()
    server.send_response(server.accept(request))
    assert server.data_to_send() == [HYBI08_RESPONSE]
    assert server.version == 8 and server.state is State.OPEN


def test_hybi08_client_accepts_response_and_frames_like_rfc6455(fixed_date: None) -> None:
    client = hybi08_client()
    client.send_request(client.connect())
    client.data_to_send()
    client.receive_data(HYBI08_RESPONSE)
    (response,) = client.events_received()
    assert client.state is State.OPEN and client.subprotocol == "chat"
    # draft-08 §4.7: "Hello", unmasked from the server, masked with 37 fa 21 3d from us.
    client.receive_data(b"\x81\x05\x48\x65\x6c\x6c\x6f")
    assert client.events_received() == [Message("Hello")]
    client.send_text(b"Hello")
    assert client.data_to_send() == [b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"]


def test_hybi08_origin_header_is_checked_by_the_server(fixed_date: None) -> None:
    allowed = ServerProtocol(origins=["http://example.com"])
    allowed.receive_data(HYBI08_REQUEST)
    (request,) = allowed.events_received()
    assert allowed.accept(request).status_code == 101
    refused = ServerProtocol(origins=["http://other.example"])
    refused.receive_data(HYBI08_REQUEST)
    (request,) = refused.events_received()
    response = refused.accept(request)
    assert response.status_code == 403
    assert b"origin http://example.com is not allowed" in response.body


def test_unknown_version_gets_426_listing_13_and_8() -> None:
    server = ServerProtocol()
    server.receive_data(HYBI08_REQUEST.replace(b"Version: 8", b"Version: 7"))
    (request,) = server.events_received()
    response = server.accept(request)
    assert response.status_code == 426
    assert response.headers["Sec-WebSocket-Version"] == "13, 8"


# -- hixie-76: the challenge ----------------------------------------------------------------

# draft-hixie-thewebsocketprotocol-76 §1.3 (the worked example in the overview).
OVERVIEW_KEYS = ("18x 6]8vM;54 *(5:  {   U1]8  z [  8", "1_ tx7X d  <  nw  334J702) 7]o}` 0")
OVERVIEW_KEY3 = b"Tm[K T2u"
OVERVIEW_ANSWER = b"fQJ,fN/4F4!~K~MH"


def test_challenge_matches_the_drafts_worked_examples() -> None:
    assert challenge_response(*OVERVIEW_KEYS, OVERVIEW_KEY3) == OVERVIEW_ANSWER
    assert key_number(OVERVIEW_KEYS[0]) == 155712099
    assert key_number(OVERVIEW_KEYS[1]) == 173347027
    assert challenge_response("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", b"^n:ds[4U") == (
        b"8jKS'y:G*Co,Wxa-"
    )


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("12345", "no spaces"),
        ("1 2 3", "not a multiple"),  # 123 / 2 spaces
        ("no digits here", "no digits"),
        ("9999999999 9", "32 bits"),  # 99999999999 / 1 space
    ],
)
def test_malformed_keys_are_refused(key: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        key_number(key)


# -- hixie-76: the protocol object -------------------------------------------------------------


def open_hixie(**options: Any) -> Hixie76ServerProtocol:
    proto = enable_hixie76(ServerProtocol(**options))
    proto.receive_data(HIXIE_REQUEST)
    (request,) = proto.events_received()
    proto.send_response(proto.accept(request))
    proto.data_to_send()
    return proto


@pytest.mark.parametrize("size", [1, 3, len(HIXIE_REQUEST) - 8, len(HIXIE_REQUEST)])
def test_hixie76_handshake_bytes(size: int) -> None:
    proto = enable_hixie76(ServerProtocol())
    events: list[Any] = []
    for chunk in chunked(HIXIE_REQUEST, size):
        proto.receive_data(chunk)
        events += proto.events_received()
    (request,) = events
    assert request.body == b"^n:ds[4U" and proto.version == HIXIE76
    response = proto.accept(request)
    proto.send_response(response)
    assert proto.data_to_send() == [HIXIE_RESPONSE]
    assert proto.state is State.OPEN and proto.subprotocol == "sample"


def test_hixie76_request_waits_for_key3() -> None:
    proto = enable_hixie76(ServerProtocol())
    proto.receive_data(HIXIE_REQUEST[:-1])
    assert proto.events_received() == []
    proto.receive_data(HIXIE_REQUEST[-1:])
    assert len(proto.events_received()) == 1


def test_hixie76_location_scheme_follows_tls() -> None:
    proto = enable_hixie76(ServerProtocol(), secure=True)
    proto.receive_data(HIXIE_REQUEST)
    (request,) = proto.events_received()
    assert proto.accept(request).headers["Sec-WebSocket-Location"] == "wss://example.com/demo"


def test_hixie76_bad_key_and_origin_are_refused() -> None:
    proto = enable_hixie76(ServerProtocol())
    proto.receive_data(HIXIE_REQUEST.replace(b"4 @1  46546xW%0l 1 5", b"4@146546xW%0l15"))
    (request,) = proto.events_received()
    response = proto.accept(request)
    assert response.status_code == 400 and b"no spaces" in response.body
    proto = enable_hixie76(ServerProtocol(origins=["http://good.example"]))
    proto.receive_data(HIXIE_REQUEST)
    (request,) = proto.events_received()
    assert proto.accept(request).status_code == 403


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        (b"GET /demo", b"POST /demo", 405),
        (b"Upgrade: WebSocket\r\n", b"", 426),
        (b"Connection: Upgrade\r\n", b"Connection: keep-alive\r\n", 400),
        (b"Host: example.com\r\n", b"Host: example.com\r\nHost: other.example\r\n", 400),
    ],
    ids=["post", "no-upgrade", "no-connection-upgrade", "two-hosts"],
)
def test_hixie76_requests_get_the_same_upgrade_checks_as_rfc6455(
    old: bytes, new: bytes, status: int
) -> None:
    proto = enable_hixie76(ServerProtocol())
    proto.receive_data(HIXIE_REQUEST.replace(old, new))
    (request,) = proto.events_received()
    assert proto.accept(request).status_code == status


def test_frames_right_behind_the_handshake_are_kept() -> None:
    proto = enable_hixie76(ServerProtocol())
    proto.receive_data(HIXIE_REQUEST + b"\x00early\xff")
    (request,) = proto.events_received()
    proto.send_response(proto.accept(request))
    assert proto.events_received() == [Message("early")]


@pytest.mark.parametrize("size", [1, 2, 100])
def test_hixie76_text_frames_in(size: int) -> None:
    proto = open_hixie()
    # A text frame, a length-prefixed frame to discard (type 0x80, length 130 in two
    # 7-bit groups), a sentinel frame of an unknown type to discard, and more text.
    wire = b"\x00h\xc3\xa9llo\xff" + b"\x80\x81\x02" + b"z" * 130 + b"\x05junk\xff" + b"\x00\xff"
    events: list[Any] = []
    for chunk in chunked(wire, size):
        proto.receive_data(chunk)
        events += proto.events_received()
    assert events == [Message("héllo"), Message("")]
    assert proto.data_to_send() == []


def test_hixie76_text_frames_out() -> None:
    proto = open_hixie()
    proto.send_text("héllo".encode())
    assert proto.data_to_send() == [b"\x00h\xc3\xa9llo\xff"]
    with pytest.raises(InvalidState, match="no binary"):
        proto.send_binary(b"\x01")
    with pytest.raises(InvalidState, match="no ping"):
        proto.send_ping(b"")
    with pytest.raises(InvalidState, match="no fragmented"):
        proto.send_text(b"part", fin=False)
    with pytest.raises(ValueError, match="0xff"):
        proto.send_text(b"\xff")


def test_hixie76_closing_handshake_started_by_client() -> None:
    proto = open_hixie()
    proto.receive_data(b"\xff\x00")
    assert proto.events_received() == [Close(1000, "")]
    # Answer with the closing frame, then close TCP (the server closes first).
    assert proto.data_to_send() == [b"\xff\x00", b""]
    assert proto.state is State.CLOSING and proto.close_expected()


def test_hixie76_closing_handshake_started_by_server() -> None:
    proto = open_hixie()
    proto.send_close(1001, "bye")
    assert proto.data_to_send() == [b"\xff\x00"]
    proto.receive_data(b"\x00late\xff\xff\x00")
    assert proto.events_received() == [Message("late"), Close(1000, "")]
    assert proto.data_to_send() == [b""]
    proto.receive_eof()
    assert proto.state is State.CLOSED


def test_hixie76_oversized_message_closes_the_connection() -> None:
    proto = open_hixie(max_size=10)
    proto.receive_data(b"\x00" + b"a" * 11)
    assert proto.data_to_send() == [b""]
    assert proto.error is not None and proto.error.code == 1009


def test_rfc6455_clients_are_unaffected_by_enable_hixie76(fixed_date: None) -> None:
    proto = enable_hixie76(ServerProtocol())
    proto.receive_data(HYBI08_REQUEST.replace(b"Version: 8", b"Version: 13"))
    (request,) = proto.events_received()
    proto.send_response(proto.accept(request))
    assert proto.version == 13 and not proto.hixie
    proto.receive_data(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
    assert proto.events_received() == [Message("Hello")]


def test_enable_hixie76_refuses_a_used_protocol() -> None:
    proto = ServerProtocol()
    proto.receive_data(HIXIE_REQUEST)
    with pytest.raises(InvalidState):
        enable_hixie76(proto)


@pytest.mark.parametrize(
    ("version", "name"),
    [(8, "Sec-WebSocket-Origin"), ("8", "Sec-WebSocket-Origin"), (13, "Origin"), ("13", "Origin")],
)
def test_the_origin_header_name_follows_the_version(version: int | str, name: str) -> None:
    from wscli.core.handshake import origin_header

    assert origin_header(version) == name
