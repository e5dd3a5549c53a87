"""Tests for wscli.core.server: the server's opening handshake (RFC 6455 §4.2).

Requests go in as raw bytes; responses come out as exact bytes, with the Date header
pinned by monkeypatching ``email.utils.formatdate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from helpers import (
    CHUNK_SIZES,
    FIXED_KEY,
    PEER_MASK,
    FakeClientFactory,
    FakeExtension,
    FakeServerFactory,
    Recorder,
    build_frame,
    open_pair,
    transfer,
)

from wscli.core.events import Message, Ping
from wscli.core.exceptions import HandshakeError, InvalidState, UnsupportedVersion
from wscli.core.frames import Close, Opcode
from wscli.core.http11 import Request, Response
from wscli.core.protocol import State
from wscli.core.server import SERVER_NAME, ServerProtocol

DATE = "Thu, 01 Jan 2026 00:00:00 GMT"
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

BASE_HEADERS = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", FIXED_KEY),
    ("Sec-WebSocket-Version", "13"),
]


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("email.utils.formatdate", lambda *args, **kwargs: DATE)


def request(
    *extra: tuple[str, str],
    without: Sequence[str] = (),
    method: str = "GET",
    path: str = "/chat",
    version: str = "HTTP/1.1",
) -> bytes:
    headers = [(k, v) for k, v in BASE_HEADERS if k not in without] + list(extra)
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"{method} {path} {version}\r\n{lines}\r\n".encode()


def receive_request(server: ServerProtocol, raw: bytes, chunk_size: int | None = None) -> Request:
    recorder = Recorder(server).receive(raw, chunk_size)
    (event,) = recorder.events
    assert isinstance(event, Request)
    assert recorder.out == []
    return event


def answer(server: ServerProtocol, raw: bytes) -> tuple[Response, list[bytes]]:
    """Feed a request, accept it and send the answer; return it and what was written."""
    response = server.accept(receive_request(server, raw))
    server.send_response(response)
    return response, server.data_to_send()


# -- accepting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_request_parsed_incrementally(chunk_size: int | None) -> None:
    server = ServerProtocol()
    event = receive_request(server, request(("X-Extra", "1")), chunk_size)
    assert event.method == "GET"
    assert event.path == "/chat"
    assert event.headers["x-extra"] == "1"
    assert server.request is event
    assert server.state is State.CONNECTING


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_empty_line_before_the_request_line_is_ignored(chunk_size: int | None) -> None:
    """RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received
    before the request line; byte by byte, its CR alone must not be refused either."""
    server = ServerProtocol()
    event = receive_request(server, b"\r\n" + request(), chunk_size)
    assert event.path == "/chat"
    response = server.accept(event)
    server.send_response(response)
    assert response.status_code == 101
    # The frame behind the head is read from where the head really ended.
    server.receive_data(build_frame(Opcode.TEXT, b"hi", mask=PEER_MASK))
    assert server.events_received() == [Message("hi")]


def test_accept_exact_response() -> None:
    server = ServerProtocol()
    response, out = answer(server, request())
    assert out == [
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        + f"Date: {DATE}\r\n".encode()
        + f"Server: {SERVER_NAME}\r\n".encode()
        + b"\r\n"
    ]
    assert server.state is State.OPEN
    assert server.response is response
    assert server.handshake_exc is None
    assert server.subprotocol is None
    assert not server.close_expected()


def test_server_sends_unmasked_frames_after_handshake() -> None:
    server = ServerProtocol()
    answer(server, request())
    server.send_text(b"hi")
    assert server.data_to_send() == [b"\x81\x02hi"]


def test_request_headers_are_case_insensitive_lists() -> None:
    raw = (
        b"GET / HTTP/1.1\r\n"
        b"host: example.com\r\n"
        b"upgrade: WebSocket\r\n"
        b"connection: keep-alive, upgrade\r\n"
        b"sec-websocket-key: " + FIXED_KEY.encode() + b"\r\n"
        b"SEC-WEBSOCKET-VERSION: 13\r\n"
        b"\r\n"
    )
    response, _ = answer(ServerProtocol(), raw)
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Accept"] == ACCEPT


def test_hybi_08_version_is_accepted() -> None:
    server = ServerProtocol(origins=["http://ok"])
    raw = request(("Sec-WebSocket-Origin", "http://ok"), without=["Sec-WebSocket-Version"])
    raw = raw.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Version: 8\r\n\r\n")
    response, _ = answer(server, raw)
    assert response.status_code == 101
    assert server.version == 8


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_frames_behind_request_wait_for_send_response(chunk_size: int | None) -> None:
    server = ServerProtocol()
    frames = build_frame(Opcode.TEXT, b"early", mask=PEER_MASK)
    frames += build_frame(Opcode.PING, b"p", mask=PEER_MASK)
    recorder = Recorder(server).receive(request() + frames[:5], chunk_size)
    recorder.receive(frames[5:], chunk_size)
    (event,) = recorder.events
    assert recorder.out == []
    server.send_response(server.accept(event))
    out = server.data_to_send()
    assert out[0].startswith(b"HTTP/1.1 101 ")
    assert out[1:] == [b"\x8a\x01p"]  # the pong, after the response
    assert server.events_received() == [Message("early"), Ping(b"p")]


def test_send_response_twice_is_invalid() -> None:
    server = ServerProtocol()
    response, _ = answer(server, request())
    with pytest.raises(InvalidState):
        server.send_response(response)


def test_send_response_before_request_is_invalid() -> None:
    server = ServerProtocol()
    with pytest.raises(InvalidState):
        server.send_response(Response(101, "Switching Protocols"))


# -- refusing ----------------------------------------------------------------------------------

REFUSALS = [
    pytest.param(request(without=["Sec-WebSocket-Key"]), 400, "Key", id="missing-key"),
    pytest.param(
        request(("Sec-WebSocket-Key", "short"), without=["Sec-WebSocket-Key"]),
        400,
        "Key",
        id="bad-key",
    ),
    pytest.param(
        request(("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAA"), without=["Sec-WebSocket-Key"]),
        400,
        "Key",
        id="18-byte-key",
    ),
    pytest.param(request(("Sec-WebSocket-Key", FIXED_KEY)), 400, "Key", id="two-keys"),
    pytest.param(request(without=["Host"]), 400, "Host", id="missing-host"),
    pytest.param(request(("Host", "other")), 400, "Host", id="two-hosts"),
    pytest.param(request(without=["Connection"]), 400, "Connection", id="missing-connection"),
    pytest.param(
        request(("Connection", "keep-alive"), without=["Connection"]),
        400,
        "Connection",
        id="wrong-connection",
    ),
    pytest.param(
        request(("Upgrade", "web socket"), without=["Upgrade"]), 400, "Upgrade", id="bad-token"
    ),
    pytest.param(request(("Sec-WebSocket-Protocol", "a b")), 400, "Protocol", id="bad-subprotocol"),
    pytest.param(request(method="POST"), 405, "POST", id="post"),
    pytest.param(request(method="HEAD"), 405, "HEAD", id="head"),
]


@pytest.mark.parametrize(("raw", "status", "text"), REFUSALS)
def test_refusals(raw: bytes, status: int, text: str) -> None:
    server = ServerProtocol()
    response, out = answer(server, raw)
    assert response.status_code == status
    assert text in response.body.decode()
    assert response.body.decode().startswith("Failed to open a WebSocket connection: ")
    assert response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["Connection"] == "close"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert out == [response.serialize(), b""]
    assert type(server.handshake_exc) is HandshakeError
    assert server.state is State.CONNECTING
    assert server.close_expected()


def test_405_says_allow_get() -> None:
    response, _ = answer(ServerProtocol(), request(method="PUT"))
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize(
    "versions",
    [["12"], ["14"], ["0"], [], ["13", "13"], ["13, 8"], ["abc"]],
    ids=["12", "14", "0", "none", "repeated", "list", "junk"],
)
def test_426_for_unsupported_version(versions: list[str]) -> None:
    extra = [("Sec-WebSocket-Version", version) for version in versions]
    server = ServerProtocol()
    response, out = answer(server, request(*extra, without=["Sec-WebSocket-Version"]))
    assert response.status_code == 426
    assert response.reason_phrase == "Upgrade Required"
    assert response.headers["Sec-WebSocket-Version"] == "13, 8"
    assert isinstance(server.handshake_exc, UnsupportedVersion)
    assert out[-1] == b""
    assert b"\r\nSec-WebSocket-Version: 13, 8\r\n" in out[0]


def test_426_with_upgrade_for_plain_http_get() -> None:
    raw = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    server = ServerProtocol()
    response, out = answer(server, raw)
    assert response.status_code == 426
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers.get_all("Connection") == ["close", "Upgrade"]
    assert "Sec-WebSocket-Version" not in response.headers
    assert type(server.handshake_exc) is HandshakeError
    assert out == [response.serialize(), b""]


@pytest.mark.parametrize(
    ("origins", "sent", "status"),
    [
        (None, [], 101),
        (None, ["http://any"], 101),
        (["https://ok"], ["https://ok"], 101),
        (["https://ok"], ["https://evil"], 403),
        (["https://ok"], [], 403),
        (["https://ok", None], [], 101),
        (["https://ok"], ["https://ok", "https://ok"], 400),
        (["https://OK"], ["https://ok"], 403),
    ],
)
def test_origin_check(origins: list[str | None] | None, sent: list[str], status: int) -> None:
    server = ServerProtocol(origins=origins)
    response, _ = answer(server, request(*[("Origin", origin) for origin in sent]))
    assert response.status_code == status
    if status == 403:
        assert "is not allowed" in response.body.decode()


def test_refused_connection_ignores_what_follows() -> None:
    server = ServerProtocol(origins=["https://ok"])
    _, out = answer(server, request(("Origin", "https://evil")))
    server.receive_data(build_frame(Opcode.TEXT, b"x", mask=PEER_MASK))
    assert server.events_received() == []
    assert server.data_to_send() == []
    with pytest.raises(InvalidState):
        server.send_text(b"x")


def test_application_refusal_with_reject() -> None:
    server = ServerProtocol()
    receive_request(server, request())
    refusal = server.reject(401)
    refusal.headers["WWW-Authenticate"] = "Basic"
    server.send_response(refusal)
    (data, eof) = server.data_to_send()
    assert data == (
        b"HTTP/1.1 401 Unauthorized\r\n"
        + f"Date: {DATE}\r\nServer: wscli\r\n".encode()
        + b"Connection: close\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 17\r\n"
        b"WWW-Authenticate: Basic\r\n"
        b"\r\n"
        b"401 Unauthorized\n"
    )
    assert eof == b""
    assert str(server.handshake_exc) == "connection refused with HTTP 401"


def test_reject_with_unknown_status() -> None:
    response = ServerProtocol().reject(599, "odd\n")
    assert (response.status_code, response.reason_phrase, response.body) == (599, "Error", b"odd\n")


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /chat HTTP/1.0\r\nHost: h\r\n\r\n",
        b"get /chat HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET  HTTP/1.1\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nHost h\r\n\r\n",
        b"GET /chat HTTP/1.1\r\n folded: no\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nX: a\x00b\r\n\r\n",
        b"\x00\x01\x02",
        b" GET / HTTP/1.1",
    ],
    ids=[
        "http-1.0",
        "lowercase-method",
        "no-target",
        "no-colon",
        "obs-fold",
        "nul",
        "binary",
        "space",
    ],
)
def test_malformed_request_gets_400_at_once(raw: bytes) -> None:
    server = ServerProtocol()
    recorder = Recorder(server).receive(raw)
    assert recorder.events == []
    data, eof = recorder.out
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert eof == b""
    assert isinstance(server.handshake_exc, HandshakeError)
    assert server.request is None


TLS_CLIENT_HELLO_START = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_tls_client_hello_is_refused_at_once_without_an_answer(chunk_size: int | None) -> None:
    """A TLS client at a plain listener cannot read a 400: hang up at its first byte."""
    server = ServerProtocol()
    recorder = Recorder(server).receive(TLS_CLIENT_HELLO_START, chunk_size)
    assert recorder.events == []
    assert recorder.out == [b""]  # nothing but the half-close
    assert str(server.handshake_exc) == "tls handshake at a plain ws:// listener"
    assert server.request is None
    assert server.response is not None and server.response.status_code == 400
    server.receive_data(b"more of the hello")
    assert server.data_to_send() == []


def test_request_head_size_limit() -> None:
    raw = request(("X-Pad", "p" * 100))
    limit = len(raw) - 4  # the head without its final CRLF CRLF
    server = ServerProtocol(max_head_size=limit)
    assert receive_request(server, raw, 1).headers["X-Pad"] == "p" * 100
    server = ServerProtocol(max_head_size=limit - 1)
    recorder = Recorder(server).receive(raw, 1)
    assert recorder.events == []
    assert recorder.out[0].startswith(b"HTTP/1.1 400 ")
    assert "larger than" in str(server.handshake_exc)


def test_endless_head_is_cut_off() -> None:
    server = ServerProtocol(max_head_size=1000)
    server.receive_data(b"GET / HTTP/1.1\r\nX: ")
    for _ in range(100):
        server.receive_data(b"a" * 100)
    assert len(server._buf) == 0
    assert server.data_to_send()[0].startswith(b"HTTP/1.1 400 ")


def test_request_header_count_limit() -> None:
    raw = request(*[("X-N", str(n)) for n in range(3)])
    assert receive_request(ServerProtocol(max_headers=8), raw).headers.get_all("X-N")
    server = ServerProtocol(max_headers=7)
    recorder = Recorder(server).receive(raw)
    assert recorder.out[0].startswith(b"HTTP/1.1 400 ")
    assert "more than 7 header lines" in str(server.handshake_exc)


def test_eof_during_handshake() -> None:
    server = ServerProtocol()
    server.receive_data(b"GET / HTTP/1.1\r\n")
    server.receive_eof()
    assert isinstance(server.handshake_exc, EOFError)
    assert server.state is State.CLOSED
    assert server.data_to_send() == [b""]


# -- subprotocols ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "offered", "chosen"),
    [
        pytest.param({}, [], None, id="none-offered"),
        pytest.param({}, ["b", "a"], "b", id="any-first"),
        pytest.param({"accept_any_subprotocol": False}, ["a"], None, id="any-off"),
        pytest.param({"subprotocols": ["a", "b"]}, ["b", "a"], "b", id="client-preference"),
        pytest.param({"subprotocols": ["a"]}, ["c", "a"], "a", id="skip-unknown"),
        pytest.param({"subprotocols": ["a"]}, ["c"], None, id="no-match"),
        pytest.param({"subprotocols": []}, ["c"], None, id="empty-list"),
        pytest.param(
            {"select_subprotocol": lambda offered, request: offered[-1]},
            ["x", "y"],
            "y",
            id="select-last",
        ),
        pytest.param(
            {"select_subprotocol": lambda offered, request: None, "subprotocols": ["x"]},
            ["x"],
            None,
            id="select-none",
        ),
    ],
)
def test_subprotocol_negotiation(
    options: dict[str, Any], offered: list[str], chosen: str | None
) -> None:
    server = ServerProtocol(**options)
    header = [("Sec-WebSocket-Protocol", ", ".join(offered))] if offered else []
    response, _ = answer(server, request(*header))
    assert response.status_code == 101
    assert server.subprotocol == chosen
    assert response.headers.get("Sec-WebSocket-Protocol") == chosen


def test_subprotocols_over_several_header_lines() -> None:
    server = ServerProtocol(subprotocols=["second"])
    raw = request(("Sec-WebSocket-Protocol", "first"), ("Sec-WebSocket-Protocol", "second"))
    answer(server, raw)
    assert server.subprotocol == "second"


def test_select_subprotocol_sees_offers_and_request() -> None:
    calls: list[tuple[list[str], str]] = []

    def select(offered: Sequence[str], request: Request) -> str | None:
        calls.append((list(offered), request.path))
        return "b"

    server = ServerProtocol(select_subprotocol=select)
    answer(server, request(("Sec-WebSocket-Protocol", "a, b")))
    assert calls == [(["a", "b"], "/chat")]
    assert server.subprotocol == "b"


def test_select_subprotocol_not_called_without_offer() -> None:
    def select(offered: Sequence[str], request: Request) -> str | None:
        raise AssertionError("called")

    answer(ServerProtocol(select_subprotocol=select), request())


def test_select_subprotocol_returning_unoffered_is_500() -> None:
    server = ServerProtocol(select_subprotocol=lambda offered, request: "zzz")
    response, _ = answer(server, request(("Sec-WebSocket-Protocol", "a")))
    assert response.status_code == 500


# -- extensions -----------------------------------------------------------------------------------


def test_extension_accepted() -> None:
    factory = FakeServerFactory("x-one")
    server = ServerProtocol(extensions=[factory])
    response, _ = answer(server, request(("Sec-WebSocket-Extensions", "x-one; a=1; b")))
    assert response.headers["Sec-WebSocket-Extensions"] == "x-one; a=1; b"
    assert server.extensions == [FakeExtension("x-one", [("a", "1"), ("b", None)])]


def test_declined_offer_falls_back_to_next_offer() -> None:
    factory = FakeServerFactory("x-one")
    server = ServerProtocol(extensions=[factory])
    raw = request(("Sec-WebSocket-Extensions", "x-one; decline, x-one; level=2"))
    response, _ = answer(server, raw)
    assert factory.offers == [[("decline", None)], [("level", "2")]]
    assert response.headers["Sec-WebSocket-Extensions"] == "x-one; level=2"
    assert server.extensions == [FakeExtension("x-one", [("level", "2")])]


def test_only_first_acceptable_offer_of_an_extension_is_taken() -> None:
    factory = FakeServerFactory("x-one")
    server = ServerProtocol(extensions=[factory])
    answer(server, request(("Sec-WebSocket-Extensions", "x-one; a=1, x-one; a=2")))
    assert factory.offers == [[("a", "1")]]


def test_all_offers_declined() -> None:
    server = ServerProtocol(extensions=[FakeServerFactory("x-one")])
    response, _ = answer(server, request(("Sec-WebSocket-Extensions", "x-one; decline")))
    assert response.status_code == 101
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.extensions == []


def test_several_extensions_in_client_order() -> None:
    server = ServerProtocol(extensions=[FakeServerFactory("x-b"), FakeServerFactory("x-a")])
    raw = request(
        ("Sec-WebSocket-Extensions", "x-a, x-unknown"), ("Sec-WebSocket-Extensions", "x-b")
    )
    response, _ = answer(server, raw)
    assert response.headers["Sec-WebSocket-Extensions"] == "x-a, x-b"
    assert [extension.name for extension in server.extensions] == ["x-a", "x-b"]


def test_extensions_ignored_when_server_has_none() -> None:
    server = ServerProtocol()
    response, _ = answer(server, request(("Sec-WebSocket-Extensions", "x-one; ;;; bad")))
    assert response.status_code == 101
    assert "Sec-WebSocket-Extensions" not in response.headers


def test_malformed_extension_header_is_400() -> None:
    server = ServerProtocol(extensions=[FakeServerFactory("x-one")])
    response, _ = answer(server, request(("Sec-WebSocket-Extensions", "x-one; a=")))
    assert response.status_code == 400


def test_extensions_installed_only_when_response_is_sent() -> None:
    server = ServerProtocol(extensions=[FakeServerFactory("x-one")])
    response = server.accept(
        receive_request(server, request(("Sec-WebSocket-Extensions", "x-one")))
    )
    assert server.extensions == []
    server.send_response(response)
    assert server.extensions == [FakeExtension("x-one", [])]


# -- a client and a server together -------------------------------------------------------------


def test_pair_negotiates_subprotocol_and_extension() -> None:
    client, server = open_pair(
        client_options={
            "subprotocols": ["v2", "v1"],
            "extensions": [FakeClientFactory("x-one", [("k", "v")])],
        },
        server_options={
            "subprotocols": ["v1", "v2"],
            "extensions": [FakeServerFactory("x-one")],
        },
    )
    assert client.subprotocol == server.subprotocol == "v2"
    assert client.extensions == server.extensions == [FakeExtension("x-one", [("k", "v")])]


def test_pair_exchanges_messages_and_closes() -> None:
    client, server = open_pair()
    client.send_text("héllo".encode())
    assert transfer(client, server) == [Message("héllo")]
    server.send_binary(b"\x00\x01")
    assert transfer(server, client) == [Message(b"\x00\x01")]
    client.send_close(1000, "bye")
    assert transfer(client, server) == [Close(1000, "bye")]
    assert transfer(server, client) == [Close(1000, "bye")]  # the echo, then EOF
    assert client.state is State.CLOSED
    transfer(client, server)
    assert server.state is State.CLOSED
    assert client.close_rcvd_then_sent is False and server.close_rcvd_then_sent is True


def test_pair_client_refused_by_origin() -> None:
    from wscli.core.client import ClientProtocol
    from wscli.core.exceptions import InvalidStatus
    from wscli.core.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://h/"), origin="https://evil")
    server = ServerProtocol(origins=["https://ok"])
    client.send_request(client.connect())
    (request_event,) = transfer(client, server)
    server.send_response(server.accept(request_event))
    (response_event,) = transfer(server, client)
    assert response_event.status_code == 403
    assert isinstance(client.handshake_exc, InvalidStatus)
    assert client.handshake_exc.response.status_code == 403
    assert client.state is State.CLOSED  # the server's EOF arrived
