"""Tests for wscli.core.http11: incremental parsing of handshake heads, and their limits."""

from __future__ import annotations

import pytest
from helpers import CHUNK_SIZES, chunks

from wscli.core.exceptions import HandshakeError
from wscli.core.headers import Headers
from wscli.core.http11 import (
    HEAD_END,
    MAX_HEAD_SIZE,
    MAX_HEADERS,
    Request,
    Response,
    parse_request,
    parse_response,
)

REQUEST = (
    b"GET /chat?x=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


def test_defaults() -> None:
    assert MAX_HEAD_SIZE == 16384
    assert MAX_HEADERS == 128
    assert HEAD_END == b"\r\n\r\n"


def test_parse_request() -> None:
    parsed = parse_request(REQUEST)
    assert parsed is not None
    request, used = parsed
    assert used == len(REQUEST)
    assert request == Request(
        "/chat?x=1",
        Headers(
            [
                ("Host", "server.example.com"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ]
        ),
    )


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_parse_request_incrementally(chunk_size: int | None) -> None:
    """Each prefix asks for more; the whole head parses; what follows is left alone."""
    data = REQUEST + b"\x81\x80rest"
    buffer = bytearray()
    results = []
    for piece in chunks(data, chunk_size):
        buffer += piece
        results.append(parse_request(buffer))
    done = [result for result in results if result is not None]
    assert done and done[0][1] == len(REQUEST)
    for end in range(len(REQUEST)):
        assert parse_request(REQUEST[:end]) is None


def test_request_serialize_round_trip() -> None:
    request, _ = parse_request(REQUEST)  # type: ignore[misc]
    assert request.serialize() == REQUEST


@pytest.mark.parametrize(
    ("line", "path"),
    [
        (b"GET / HTTP/1.1", "/"),
        (b"GET /a%20b HTTP/1.1", "/a%20b"),
        (b"GET http://h/x HTTP/1.1", "http://h/x"),
        (b"GET /\xe9 HTTP/1.1", "/\xe9"),
        (b"GET / HTTP/2.0", "/"),
        (b"GET / HTTP/1.9", "/"),
    ],
)
def test_request_lines(line: bytes, path: str) -> None:
    parsed = parse_request(line + b"\r\n\r\n")
    assert parsed is not None and parsed[0].path == path


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/0.9\r\n\r\n",
        b"get / HTTP/1.1\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1 \r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/11\r\n\r\n",
        b"GET / FTP/1.1\r\n\r\n",
        b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",
        b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
        b"GET / HTTP/1.1\r\nSp ace: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nName : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n continued\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\x7fc\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\nc\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
        b"GET / HTTP/1.1\r\nA\xff: b\r\n\r\n",
    ],
)
def test_malformed_requests(head: bytes) -> None:
    with pytest.raises(HandshakeError):
        parse_request(head)


@pytest.mark.parametrize(
    "start",
    [
        b"\x16",  # a TLS handshake record
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\x00",
        b"\xff\xfe",
        b" GET",
        b"GET\x00",
        b"G\x16",
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ],
)
def test_what_cannot_start_a_request_line_is_refused_at_once(start: bytes) -> None:
    """A request line starts with a method token: anything else is refused without
    waiting for a head that will never end."""
    with pytest.raises(HandshakeError):
        parse_request(start)


def test_a_tls_record_is_named_as_such() -> None:
    with pytest.raises(HandshakeError, match="tls handshake"):
        parse_request(b"\x16\x03\x01")
    with pytest.raises(HandshakeError, match="not an http request"):
        parse_request(b"\x00\x01")


@pytest.mark.parametrize("start", [b"", b"G", b"GET", b"GET ", b"GET /ch", b"POST / HT"])
def test_a_request_line_start_asks_for_more(start: bytes) -> None:
    assert parse_request(start) is None


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_one_empty_line_before_the_request_line_is_ignored(chunk_size: int | None) -> None:
    """RFC 9112 §2.2: a server SHOULD ignore at least one CRLF before the request line."""
    data = b"\r\n" + REQUEST + b"rest"
    buf = bytearray()
    parsed = None
    for piece in chunks(data, chunk_size):
        buf += piece
        parsed = parse_request(buf)
        if parsed is not None:
            break
    assert parsed is not None
    request, used = parsed
    assert request.path == "/chat?x=1"
    assert used == 2 + len(REQUEST)


@pytest.mark.parametrize("start", [b"\r\n\r\n", b"\r\r\n", b"\rGET", b"\n"])
def test_only_a_crlf_is_ignored_before_the_request_line(start: bytes) -> None:
    with pytest.raises(HandshakeError):
        parse_request(start + REQUEST)


def test_header_values_are_trimmed_and_latin1() -> None:
    request, _ = parse_request(  # type: ignore[misc]
        b"GET / HTTP/1.1\r\nA:   spaced \t \r\nB:\r\nC: caf\xe9\r\nD:x:y\r\n\r\n"
    )
    assert request.headers.items() == [("A", "spaced"), ("B", ""), ("C", "café"), ("D", "x:y")]


def test_repeated_headers_are_kept_in_order() -> None:
    request, _ = parse_request(  # type: ignore[misc]
        b"GET / HTTP/1.1\r\nX: 1\r\nY: 2\r\nx: 3\r\n\r\n"
    )
    assert request.headers.get_all("X") == ["1", "3"]


# -- responses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "status", "reason"),
    [
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", 101, "Switching Protocols"),
        (b"HTTP/1.1 404 Not Found\r\n\r\n", 404, "Not Found"),
        (b"HTTP/1.1 200\r\n\r\n", 200, ""),
        (b"HTTP/1.1 200 \r\n\r\n", 200, ""),
        (b"HTTP/1.0 503 Service\tUnavailable\r\n\r\n", 503, "Service\tUnavailable"),
        (b"HTTP/1.1 418 I'm a teapot \xe9\r\n\r\n", 418, "I'm a teapot é"),
    ],
)
def test_parse_response(head: bytes, status: int, reason: str) -> None:
    parsed = parse_response(head + b"body")
    assert parsed is not None
    response, used = parsed
    assert (response.status_code, response.reason_phrase, used) == (status, reason, len(head))
    assert response.body == b""


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 1010 Too Long\r\n\r\n",
        b"HTTP/1.1 10 Short\r\n\r\n",
        b"HTTP/1.1 abc Letters\r\n\r\n",
        b"HTTP/1.1  101 Two spaces\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 101 Bad\x00Reason\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nBroken header\r\n\r\n",
    ],
)
def test_malformed_responses(head: bytes) -> None:
    with pytest.raises(HandshakeError):
        parse_response(head)


def test_response_serialize() -> None:
    response = Response(400, "Bad Request", Headers([("Content-Length", "3")]), b"no\n")
    assert response.serialize() == b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nno\n"
    assert Response(101, "Switching Protocols").serialize() == (
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
    )


# -- limits ------------------------------------------------------------------------------------


def head_of_size(size: int) -> bytes:
    """A request head of exactly ``size`` bytes before its final CRLF CRLF."""
    start = b"GET / HTTP/1.1\r\nX-Pad: "
    return start + b"p" * (size - len(start))


@pytest.mark.parametrize("parse", [parse_request, parse_response])
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_head_of_exactly_max_size_is_accepted_however_it_arrives(
    parse: object, chunk_size: int | None
) -> None:
    head = head_of_size(100)
    if parse is parse_response:
        head = b"HTTP/1.1 101 OK\r\nX-Pad: " + b"p" * (100 - 24)
    assert len(head) == 100
    buffer = bytearray()
    result = None
    for piece in chunks(head + HEAD_END, chunk_size):
        buffer += piece
        result = parse(buffer, max_size=100)  # type: ignore[operator]
    assert result is not None and result[1] == 104


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_head_over_max_size_is_refused_however_it_arrives(chunk_size: int | None) -> None:
    head = head_of_size(101) + HEAD_END
    buffer = bytearray()
    with pytest.raises(HandshakeError, match="handshake head larger than 100 bytes"):
        for piece in chunks(head, chunk_size):
            buffer += piece
            parse_request(buffer, max_size=100)
    if chunk_size == 1:
        # Refused as soon as the end of an acceptable head would have shown up.
        assert len(buffer) == 104


def test_incomplete_head_is_refused_once_it_cannot_fit() -> None:
    head = head_of_size(100)
    assert parse_request(head + b"\r\n\r", max_size=100) is None
    with pytest.raises(HandshakeError):
        parse_request(head + b"\r\n\rX", max_size=100)


@pytest.mark.parametrize("parse", [parse_request, parse_response])
def test_header_count_limit(parse: object) -> None:
    first = b"GET / HTTP/1.1\r\n" if parse is parse_request else b"HTTP/1.1 101 OK\r\n"
    head = first + b"".join(b"H%d: v\r\n" % n for n in range(10)) + b"\r\n"
    assert parse(head, max_headers=10) is not None  # type: ignore[operator]
    with pytest.raises(HandshakeError, match="more than 9 header lines"):
        parse(head, max_headers=9)  # type: ignore[operator]
