"""Property tests: whatever the peer sends, the sans-I/O core answers within the rules.

* Any byte stream ends in events or in a protocol error with a valid close code; nothing
  else is raised, and an incomplete frame never holds more than ``max_size`` plus a
  header in memory.
* What one side encodes, the other side parses back to the same frames and messages.
* Cutting the same bytes differently yields the same events and the same output.
* The handshake parsers and negotiations raise only :class:`HandshakeError`.

Settings keep the whole module well under 30 seconds.
"""

from __future__ import annotations

from typing import Any

from helpers import (
    FIXED_KEY,
    PEER_MASK,
    FakeClientFactory,
    FakeServerFactory,
    Recorder,
    build_frame,
    cut,
    protocol,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wscli.core.client import ClientProtocol
from wscli.core.events import Message, Ping, Pong
from wscli.core.exceptions import HandshakeError
from wscli.core.frames import Close, CloseCode, Opcode, close_code_is_valid, encode_frame
from wscli.core.headers import Headers
from wscli.core.http11 import Request, Response, parse_request, parse_response
from wscli.core.protocol import Protocol, Side, State
from wscli.core.server import ServerProtocol
from wscli.core.uri import parse_uri

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MAX_SIZE = 250
HEADER_MAX = 14  # 2 + 8 bytes of length + 4 bytes of mask
FAILURE_CODES = {CloseCode.PROTOCOL_ERROR, CloseCode.INVALID_DATA, CloseCode.MESSAGE_TOO_BIG}

sides = st.sampled_from([Side.SERVER, Side.CLIENT])
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
close_codes = st.one_of(st.sampled_from(VALID_CODES), st.integers(3000, 4999))


def other(side: Side) -> Side:
    return Side.CLIENT if side is Side.SERVER else Side.SERVER


# -- strategies ----------------------------------------------------------------------------------

payloads = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=80).map(str.encode),
    st.binary(max_size=40).map(lambda data: "é€😀".encode() + data),
    st.sampled_from([b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x03\xe8"]),
)


@st.composite
def raw_frames(draw: st.DrawFn, side: Side) -> bytes:
    """A frame as a peer of ``side`` might send it: mostly sound, sometimes not."""
    opcode = draw(
        st.one_of(
            st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.CONT]),
            st.sampled_from([Opcode.PING, Opcode.PONG, Opcode.CLOSE]),
            st.integers(0, 15),
        )
    )
    payload = draw(payloads)
    if opcode == Opcode.CLOSE and draw(st.booleans()):
        code = draw(st.one_of(close_codes, st.integers(0, 65535)))
        payload = code.to_bytes(2, "big") + payload[:50]
    right_mask = PEER_MASK if side is Side.SERVER else None
    mask = draw(st.sampled_from([right_mask] * 8 + [PEER_MASK if right_mask is None else None]))
    options: dict[str, Any] = {
        "fin": draw(st.sampled_from([True, True, True, False])),
        "rsv1": draw(st.sampled_from([False] * 15 + [True])),
        "rsv2": draw(st.sampled_from([False] * 30 + [True])),
    }
    if draw(st.integers(0, 20)) == 0:
        options["length"] = draw(st.sampled_from([len(payload) + 1, 2**63, 2**40, MAX_SIZE + 1]))
    if draw(st.integers(0, 10)) == 0:
        options["length_bits"] = 64
    return build_frame(opcode, payload, mask=mask, **options)


@st.composite
def sound_frames(draw: st.DrawFn, side: Side) -> bytes:
    """A well-formed message (maybe fragmented, with control frames between) or control."""
    mask = PEER_MASK if side is Side.SERVER else None
    kind = draw(st.sampled_from(["text", "binary", "ping", "pong", "close"]))
    if kind in ("ping", "pong"):
        opcode = Opcode.PING if kind == "ping" else Opcode.PONG
        return build_frame(opcode, draw(st.binary(max_size=125)), mask=mask)
    if kind == "close":
        close = Close(draw(close_codes), draw(st.text(max_size=20)))
        return build_frame(Opcode.CLOSE, close.serialize(), mask=mask)
    if kind == "text":
        payload = draw(st.text(max_size=120)).encode()
        opcode = Opcode.TEXT
    else:
        payload = draw(st.binary(max_size=300))
        opcode = Opcode.BINARY
    pieces = cut(payload, draw(st.lists(st.integers(0, len(payload)), max_size=3)))
    frames = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        frames.append(
            build_frame(opcode if index == 0 else Opcode.CONT, piece, fin=last, mask=mask)
        )
        if not last and draw(st.integers(0, 3)) == 0:
            frames.append(build_frame(Opcode.PING, b"mid", mask=mask))
    return b"".join(frames)


@st.composite
def streams(draw: st.DrawFn, side: Side) -> bytes:
    """Mostly sound frames, maybe a doubtful one, maybe garbage or a cut at the end."""
    frames = draw(st.lists(sound_frames(side), max_size=6))
    if draw(st.booleans()):
        frames.insert(draw(st.integers(0, len(frames))), draw(raw_frames(side)))
    data = b"".join(frames)
    tail = draw(st.sampled_from(["none", "none", "garbage", "truncate"]))
    if tail == "garbage":
        data += draw(st.binary(max_size=30))
    elif tail == "truncate" and data:
        data = data[: draw(st.integers(0, len(data)))]
    return data


def cuts_of(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=12)


def check_output_is_valid(side: Side, out: list[bytes]) -> None:
    """Our bytes must parse cleanly on the other side, and a half-close comes last."""
    if b"" in out:
        assert out.index(b"") == len(out) - 1
    peer = protocol(other(side), max_size=None)
    peer.receive_data(b"".join(out))
    assert peer.error is None
    for event in peer.events_received():
        assert isinstance(event, (Pong, Close))  # we only ever answer
        if isinstance(event, Close) and event.code != CloseCode.NO_STATUS_RCVD:
            assert close_code_is_valid(event.code)


def feed_checked(proto: Protocol, pieces: list[bytes]) -> Recorder:
    recorder = Recorder(proto)
    for piece in pieces:
        recorder.receive(piece)
        # Only the frame still incomplete stays buffered, and never past the limit.
        assert len(proto._buf) <= max(MAX_SIZE, 125) + HEADER_MAX
    return recorder


# -- any byte stream ------------------------------------------------------------------------------


@FUZZ
@given(side=sides, data=st.data())
def test_any_frame_stream_ends_in_events_or_valid_failure(side: Side, data: st.DataObject) -> None:
    wire = data.draw(streams(side))
    pieces = cut(wire, data.draw(cuts_of(wire)))
    proto = protocol(side, max_size=MAX_SIZE)
    recorder = feed_checked(proto, pieces)
    for event in recorder.events:
        assert isinstance(event, (Message, Ping, Pong, Close))
        if isinstance(event, Message):
            assert len(event.data) <= MAX_SIZE
    if proto.error is not None:
        assert proto.error.code in FAILURE_CODES
        assert proto.close_sent is not None and proto.close_sent.code == proto.error.code
        assert proto.close_expected()
        assert recorder.out[-1] == b""
    check_output_is_valid(side, recorder.out)
    recorder.receive_eof()
    assert proto.state is State.CLOSED
    assert recorder.out.count(b"") == 1


@FUZZ
@given(side=sides, wire=st.binary(max_size=400), chunk=st.integers(1, 50))
def test_random_bytes_never_raise(side: Side, wire: bytes, chunk: int) -> None:
    proto = protocol(side, max_size=MAX_SIZE)
    recorder = feed_checked(proto, cut(wire, range(chunk, len(wire), chunk)))
    if proto.error is not None:
        assert proto.error.code in FAILURE_CODES
    check_output_is_valid(side, recorder.out)


@FUZZ
@given(side=sides, data=st.data())
def test_chunking_does_not_change_events_or_output(side: Side, data: st.DataObject) -> None:
    wire = data.draw(streams(side))
    whole = Recorder(protocol(side, max_size=MAX_SIZE)).receive(wire)
    pieces = cut(wire, data.draw(cuts_of(wire)))
    cut_up = Recorder(protocol(side, max_size=MAX_SIZE)).receive_pieces(pieces)
    assert cut_up.events == whole.events
    assert cut_up.out == whole.out
    assert repr(cut_up.proto.error) == repr(whole.proto.error)


@QUICK
@given(side=sides, data=st.data())
def test_byte_at_a_time_matches_whole(side: Side, data: st.DataObject) -> None:
    wire = data.draw(streams(side))
    whole = Recorder(protocol(side, max_size=MAX_SIZE)).receive(wire)
    single = Recorder(protocol(side, max_size=MAX_SIZE)).receive(wire, 1)
    assert single.events == whole.events
    assert single.out == whole.out


# -- round trips ----------------------------------------------------------------------------------


@st.composite
def single_frames(draw: st.DrawFn) -> tuple[int, bytes, object]:
    """(opcode, payload, expected event) for a frame that is a whole message or control."""
    kind = draw(st.sampled_from(["text", "binary", "ping", "pong", "close"]))
    if kind == "text":
        text = draw(st.text(max_size=300))
        return Opcode.TEXT, text.encode(), Message(text)
    if kind == "binary":
        payload = draw(st.binary(max_size=70000 if draw(st.integers(0, 30)) == 0 else 300))
        return Opcode.BINARY, payload, Message(payload)
    if kind in ("ping", "pong"):
        payload = draw(st.binary(max_size=125))
        return (
            (Opcode.PING, payload, Ping(payload))
            if kind == "ping"
            else (Opcode.PONG, payload, Pong(payload))
        )
    if draw(st.booleans()):
        return Opcode.CLOSE, b"", Close(CloseCode.NO_STATUS_RCVD)
    reason = draw(st.text(max_size=40).filter(lambda text: len(text.encode()) <= 123))
    close = Close(draw(close_codes), reason)
    return Opcode.CLOSE, close.serialize(), close


@FUZZ
@given(frame=single_frames(), mask=st.binary(min_size=4, max_size=4), data=st.data())
def test_parse_of_serialized_frame_gives_frame(
    frame: tuple[int, bytes, object], mask: bytes, data: st.DataObject
) -> None:
    opcode, payload, event = frame
    for side, wire in [
        (Side.SERVER, encode_frame(opcode, payload, mask=mask)),
        (Side.CLIENT, encode_frame(opcode, payload)),
    ]:
        pieces = cut(wire, data.draw(cuts_of(wire)))
        recorder = Recorder(protocol(side, max_size=None)).receive_pieces(pieces)
        assert recorder.events == [event]
        assert recorder.proto.error is None


@FUZZ
@given(code=close_codes, reason=st.text(max_size=60))
def test_close_payload_round_trip(code: int, reason: str) -> None:
    close = Close(code, reason)
    if len(reason.encode()) > 123:
        return
    close.check()
    assert Close.parse(close.serialize()) == close


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """A valid sequence of send_* calls, fragments and control frames mixed."""
    ops: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong"]))
        if kind == "text":
            text = draw(st.text(max_size=60))
            data = text.encode()
            cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
            ops.append(("text", (data, cuts)))
        elif kind == "binary":
            data = draw(st.binary(max_size=300))
            cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
            ops.append(("binary", (data, cuts)))
        else:
            ops.append((kind, draw(st.binary(max_size=125))))
        if draw(st.integers(0, 3)) == 0:
            ops.append(("ping", b"between"))
    if draw(st.booleans()):
        ops.append(("close", (draw(close_codes), draw(st.text(max_size=20)))))
    return ops


@FUZZ
@given(side=sides, ops=operations(), data=st.data())
def test_what_one_side_sends_the_other_receives(
    side: Side, ops: list[tuple[str, Any]], data: st.DataObject
) -> None:
    sender = protocol(side)
    expected: list[object] = []
    for kind, value in ops:
        if kind in ("text", "binary"):
            payload, cuts = value
            pieces = cut(payload, cuts)
            send = sender.send_text if kind == "text" else sender.send_binary
            send(pieces[0], fin=len(pieces) == 1)
            for index, piece in enumerate(pieces[1:], 2):
                sender.send_continuation(piece, fin=index == len(pieces))
            expected.append(Message(payload.decode() if kind == "text" else payload))
        elif kind == "ping":
            sender.send_ping(value)
            expected.append(Ping(value))
        elif kind == "pong":
            sender.send_pong(value)
            expected.append(Pong(value))
        else:
            sender.send_close(*value)
            expected.append(Close(*value))
    wire = b"".join(sender.data_to_send())
    receiver = Recorder(protocol(other(side), max_size=None))
    receiver.receive_pieces(cut(wire, data.draw(cuts_of(wire))))
    assert receiver.events == expected
    assert receiver.proto.error is None


# -- handshakes -----------------------------------------------------------------------------------

header_names = st.sampled_from(
    [
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Origin",
        "Sec-WebSocket-Origin",
    ]
)
header_values = st.one_of(
    st.sampled_from(
        [
            "websocket",
            "Upgrade",
            "keep-alive, Upgrade",
            FIXED_KEY,
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "13",
            "8",
            "13, 8",
            "x-one",
            "x-one; a=1, x-one; decline",
            "x-one; bad",
            'x-one; a="1"',
            "chat, superchat",
            "chat",
            "https://ok",
            "",
        ]
    ),
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
        max_size=30,
    ).map(str.strip),
)
headers_lists = st.lists(st.tuples(header_names, header_values), max_size=10)


@FUZZ
@given(data=st.binary(max_size=300), parse=st.sampled_from([parse_request, parse_response]))
def test_head_parsers_raise_only_handshake_error(data: bytes, parse: Any) -> None:
    try:
        result = parse(data, max_size=200, max_headers=8)
    except HandshakeError:
        return
    if result is not None:
        message, used = result
        assert isinstance(message, (Request, Response))
        assert used <= len(data) and data[used - 4 : used] == b"\r\n\r\n"


@FUZZ
@given(
    method=st.sampled_from(["GET", "GET", "GET", "POST"]),
    headers=headers_lists,
    tail=st.binary(max_size=40),
    chunk=st.integers(1, 64),
    origins=st.sampled_from([None, ["https://ok"], ["https://ok", None]]),
    subprotocols=st.sampled_from([None, ["chat"], []]),
)
def test_server_handshake_answers_any_request(
    method: str,
    headers: list[tuple[str, str]],
    tail: bytes,
    chunk: int,
    origins: list[str | None] | None,
    subprotocols: list[str] | None,
) -> None:
    server = ServerProtocol(
        origins=origins,
        subprotocols=subprotocols,
        extensions=[FakeServerFactory("x-one")],
        max_head_size=1000,
    )
    raw = Request("/", Headers(headers), method).serialize() + tail
    recorder = Recorder(server).receive(raw, chunk)
    requests = [event for event in recorder.events if isinstance(event, Request)]
    if not requests:
        assert isinstance(server.handshake_exc, HandshakeError)
        assert recorder.out[0].startswith(b"HTTP/1.1 400 ")
        return
    response = server.accept(requests[0])
    server.send_response(response)
    out = server.data_to_send()
    assert out[0] == response.serialize()
    if response.status_code == 101:
        assert server.state is State.OPEN and server.handshake_exc is None
    else:
        assert isinstance(server.handshake_exc, HandshakeError)
        assert out[-1] == b""


@FUZZ
@given(
    status=st.sampled_from(["101 Switching Protocols", "101 Switching Protocols", "200 OK"]),
    headers=headers_lists,
    tail=st.binary(max_size=40),
    chunk=st.integers(1, 64),
)
def test_client_handshake_refuses_any_bad_response_cleanly(
    status: str, headers: list[tuple[str, str]], tail: bytes, chunk: int
) -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com/"),
        subprotocols=["chat"],
        extensions=[FakeClientFactory("x-one")],
        make_key=lambda: FIXED_KEY,
        max_head_size=1000,
    )
    raw = f"HTTP/1.1 {status}\r\n".encode() + Headers(headers).serialize() + tail
    recorder = Recorder(client).receive(raw, chunk)
    if client.handshake_exc is not None:
        assert isinstance(client.handshake_exc, HandshakeError)
        assert client.state is State.CONNECTING
        assert recorder.out == [b""]
    else:
        assert client.state is State.OPEN
        assert client.subprotocol in (None, "chat")


@QUICK
@given(data=st.binary(max_size=2000), chunk=st.integers(1, 300))
def test_server_handshake_buffer_is_bounded(data: bytes, chunk: int) -> None:
    server = ServerProtocol(max_head_size=500)
    for piece in cut(data, range(chunk, len(data), chunk)):
        server.receive_data(piece)
        if server.request is None:
            assert len(server._buf) < 500 + 4
