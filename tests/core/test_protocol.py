"""Tests for wscli.core.protocol: the RFC 6455 state machine, bytes in, events and bytes out.

Most tests run for both sides (the ``side`` fixture) and for several ways of cutting the
input (``CHUNK_SIZES``, byte-at-a-time included). Frames from the peer are built with
:func:`helpers.peer_frame` (masked towards a server) and the expected output with
:func:`helpers.own_frame` (masked with ``FIXED_MASK`` by a client).
"""

from __future__ import annotations

import itertools
import logging

import pytest
from helpers import (
    CHUNK_SIZES,
    FIXED_MASK,
    PEER_MASK,
    Recorder,
    build_frame,
    close_payload,
    cut,
    masks,
    own_frame,
    peer_frame,
    protocol,
)

from wscli.core.events import Message, Ping, Pong
from wscli.core.exceptions import InvalidState, PayloadTooBig
from wscli.core.frames import Close, CloseCode, Opcode
from wscli.core.protocol import DEFAULT_MAX_SIZE, Protocol, Side, State, random_mask

TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
CLOSE, PING, PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG


def close_frame(side: Side, code: int, reason: str = "") -> bytes:
    """The close frame ``side`` sends for ``code``."""
    return own_frame(side, CLOSE, close_payload(code, reason.encode()))


def assert_failed(recorder: Recorder, code: int, events: list[object] | None = None) -> None:
    """Check that the protocol failed the connection with ``code`` and nothing else."""
    side = recorder.proto.side
    assert recorder.events == (events or [])
    assert recorder.proto.close_sent is not None and recorder.proto.close_sent.code == code
    assert recorder.out[-2:] == [close_frame(side, code, recorder.proto.close_sent.reason), b""]
    assert recorder.proto.error is not None and recorder.proto.error.code == code
    assert recorder.proto.state is State.CLOSING
    assert recorder.proto.close_expected()


# -- construction -----------------------------------------------------------------------


def test_defaults() -> None:
    proto = Protocol(Side.SERVER)
    assert proto.state is State.OPEN
    assert proto.max_size == DEFAULT_MAX_SIZE == 64 * 2**20
    assert proto.events_received() == []
    assert proto.data_to_send() == []
    assert not proto.close_expected()
    assert proto.close_rcvd is proto.close_sent is proto.error is None


def test_state_numbers_follow_ready_state() -> None:
    assert [int(state) for state in State] == [0, 1, 2, 3]


def test_random_mask_is_four_fresh_bytes() -> None:
    drawn = {random_mask() for _ in range(2000)}
    assert all(len(mask) == 4 for mask in drawn)
    assert len(drawn) > 1990  # 2000 draws from 2**32 values, across a pool refill


def test_protocol_without_handshake_refuses_data_while_connecting() -> None:
    proto = Protocol(Side.SERVER, state=State.CONNECTING)
    with pytest.raises(InvalidState):
        proto.receive_data(b"GET / HTTP/1.1\r\n\r\n")


# -- receiving data messages --------------------------------------------------------------

# (frames as (opcode, payload, options), expected events)
MESSAGES = [
    pytest.param([(TEXT, "café".encode(), {})], [Message("café")], id="text"),
    pytest.param([(BINARY, b"\x00\xff", {})], [Message(b"\x00\xff")], id="binary"),
    pytest.param([(TEXT, b"", {})], [Message("")], id="empty-text"),
    pytest.param([(BINARY, b"", {})], [Message(b"")], id="empty-binary"),
    pytest.param([(TEXT, b"a" * 125, {})], [Message("a" * 125)], id="text-125"),
    pytest.param([(TEXT, b"a" * 126, {})], [Message("a" * 126)], id="text-126"),
    pytest.param([(BINARY, b"b" * 65535, {})], [Message(b"b" * 65535)], id="binary-65535"),
    pytest.param([(BINARY, b"b" * 65536, {})], [Message(b"b" * 65536)], id="binary-65536"),
    pytest.param([(TEXT, "é".encode() * 40000, {})], [Message("é" * 40000)], id="text-80000"),
    pytest.param(
        [(TEXT, b"Hel", {"fin": False}), (CONT, b"lo", {})], [Message("Hello")], id="fragments"
    ),
    pytest.param(
        [(BINARY, b"a", {"fin": False}), (CONT, b"", {"fin": False}), (CONT, b"c", {})],
        [Message(b"ac")],
        id="binary-fragments",
    ),
    pytest.param(
        [(TEXT, b"", {"fin": False}), (CONT, b"", {})], [Message("")], id="empty-fragments"
    ),
    pytest.param(
        [(BINARY, b"x" * 70000, {"fin": False}), (CONT, b"y" * 200, {})],
        [Message(b"x" * 70000 + b"y" * 200)],
        id="large-fragments",
    ),
    pytest.param(
        [
            (TEXT, b"one", {"fin": False}),
            (PING, b"p", {}),
            (CONT, b" two", {"fin": False}),
            (PONG, b"q", {}),
            (CONT, b" three", {}),
        ],
        [Ping(b"p"), Pong(b"q"), Message("one two three")],
        id="control-between-fragments",
    ),
    pytest.param(
        [(TEXT, b"a", {}), (BINARY, b"b", {}), (TEXT, b"c", {})],
        [Message("a"), Message(b"b"), Message("c")],
        id="several",
    ),
    # Receivers accept lengths in a longer form than needed (RFC 6455 §5.2 binds senders).
    pytest.param(
        [(TEXT, b"ab", {"length_bits": 16}), (BINARY, b"cd", {"length_bits": 64})],
        [Message("ab"), Message(b"cd")],
        id="long-length-forms",
    ),
]


@pytest.mark.parametrize(("frames", "events"), MESSAGES)
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_receive_messages(
    side: Side,
    frames: list[tuple[int, bytes, dict[str, object]]],
    events: list[object],
    chunk_size: int | None,
) -> None:
    wire = b"".join(peer_frame(side, op, payload, **opts) for op, payload, opts in frames)
    if chunk_size is not None and chunk_size < 64 and len(wire) > 4096:
        chunk_size = 4093  # large messages: every code path, fewer calls
    recorder = Recorder(protocol(side)).receive(wire, chunk_size)
    assert recorder.events == events
    pings = [event.data for event in events if isinstance(event, Ping)]
    assert recorder.out == [own_frame(side, PONG, data) for data in pings]
    assert recorder.proto.error is None
    assert recorder.proto.state is State.OPEN


def test_receive_large_binary_byte_at_a_time(side: Side) -> None:
    """A 64-bit length frame fed one byte per call: the buffer is kept, not re-copied."""
    payload = bytes(range(256)) * 257  # 65792 bytes
    recorder = Recorder(protocol(side)).receive(peer_frame(side, BINARY, payload), 1)
    assert recorder.events == [Message(payload)]


def test_text_message_is_str_and_binary_is_bytes(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, TEXT, b"t") + peer_frame(side, BINARY, b"b"))
    text, binary = proto.events_received()
    assert text.data == "t" and not text.binary
    assert binary.data == b"b" and binary.binary


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_message_split_over_many_fragments(side: Side, chunk_size: int | None) -> None:
    text = "Ünïcödé ✓ 🎉" * 3
    data = text.encode()
    frames = [peer_frame(side, TEXT, data[:1], fin=False)]
    frames += [peer_frame(side, CONT, data[i : i + 1], fin=False) for i in range(1, len(data))]
    frames.append(peer_frame(side, CONT, b""))
    recorder = Recorder(protocol(side)).receive(b"".join(frames), chunk_size)
    assert recorder.events == [Message(text)]


def test_frames_after_message_in_same_chunk_are_parsed(side: Side) -> None:
    proto = protocol(side)
    half = peer_frame(side, BINARY, b"second")
    proto.receive_data(peer_frame(side, TEXT, b"first") + half[:3])
    assert proto.events_received() == [Message("first")]
    proto.receive_data(half[3:])
    assert proto.events_received() == [Message(b"second")]


def test_accepts_memoryview_and_bytearray(side: Side) -> None:
    proto = protocol(side)
    wire = peer_frame(side, TEXT, b"view")
    proto.receive_data(memoryview(wire)[:4])
    proto.receive_data(bytearray(wire[4:]))
    assert proto.events_received() == [Message("view")]


def test_empty_chunk_is_not_eof(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(b"")
    assert proto.state is State.OPEN
    assert proto.data_to_send() == []


# -- masking (RFC 6455 §5.1, §5.3) -----------------------------------------------------------


@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, CLOSE])
def test_server_rejects_unmasked_frame(opcode: int) -> None:
    recorder = Recorder(protocol(Side.SERVER)).receive(build_frame(opcode, b"\x03\xe8"))
    assert_failed(recorder, 1002)
    assert str(recorder.proto.error) == "unmasked frame from client"


@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, CLOSE])
def test_client_rejects_masked_frame(opcode: int) -> None:
    wire = build_frame(opcode, b"\x03\xe8", mask=PEER_MASK)
    recorder = Recorder(protocol(Side.CLIENT)).receive(wire)
    assert_failed(recorder, 1002)
    assert str(recorder.proto.error) == "masked frame from server"


@pytest.mark.parametrize("chunk_size", [1, 2])
def test_mask_violation_is_seen_at_second_byte(side: Side, chunk_size: int) -> None:
    """The mask bit is in the second byte; the payload need not arrive first."""
    wrong = None if side is Side.SERVER else PEER_MASK
    header = build_frame(BINARY, b"x" * 100, mask=wrong)[:2]
    recorder = Recorder(protocol(side)).receive(header, chunk_size)
    assert_failed(recorder, 1002)


def test_server_unmasks_with_any_key() -> None:
    for key in [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04"]:
        proto = protocol(Side.SERVER)
        proto.receive_data(build_frame(BINARY, bytes(range(11)), mask=key))
        assert proto.events_received() == [Message(bytes(range(11)))]


# -- frame checks: FIN, RSV, opcodes, control frames (RFC 6455 §5.2, §5.5) ---------------------

VIOLATIONS = [
    pytest.param(BINARY, b"x", {"rsv1": True}, id="rsv1"),
    pytest.param(BINARY, b"x", {"rsv2": True}, id="rsv2"),
    pytest.param(BINARY, b"x", {"rsv3": True}, id="rsv3"),
    pytest.param(TEXT, b"x", {"rsv1": True}, id="text-rsv1"),
    pytest.param(PING, b"x", {"rsv1": True}, id="ping-rsv1"),
    pytest.param(CLOSE, b"", {"rsv2": True}, id="close-rsv2"),
    *[pytest.param(op, b"x", {}, id=f"opcode-{op:#x}") for op in [3, 4, 5, 6, 7]],
    *[pytest.param(op, b"", {}, id=f"opcode-{op:#x}") for op in [0xB, 0xC, 0xD, 0xE, 0xF]],
    pytest.param(PING, b"x", {"fin": False}, id="fragmented-ping"),
    pytest.param(PONG, b"", {"fin": False}, id="fragmented-pong"),
    pytest.param(CLOSE, b"\x03\xe8", {"fin": False}, id="fragmented-close"),
    pytest.param(PING, b"x" * 126, {}, id="ping-126"),
    pytest.param(PONG, b"x" * 126, {}, id="pong-126"),
    pytest.param(CLOSE, b"\x03\xe8" + b"x" * 124, {}, id="close-126"),
    pytest.param(PING, b"x" * 5, {"length_bits": 64, "length": 70000}, id="ping-64bit"),
    pytest.param(CONT, b"x", {}, id="continuation-first"),
    pytest.param(CONT, b"x", {"fin": False}, id="continuation-first-no-fin"),
]


@pytest.mark.parametrize(("opcode", "payload", "options"), VIOLATIONS)
@pytest.mark.parametrize("chunk_size", [None, 1])
def test_frame_violations_fail_with_1002(
    side: Side, opcode: int, payload: bytes, options: dict[str, object], chunk_size: int | None
) -> None:
    wire = peer_frame(side, opcode, payload, **options) + peer_frame(side, TEXT, b"ignored")
    recorder = Recorder(protocol(side)).receive(wire, chunk_size)
    assert_failed(recorder, 1002)


@pytest.mark.parametrize(
    ("opcode", "message"),
    [(3, "invalid opcode 0x3"), (0xB, "invalid opcode 0xb")],
)
def test_invalid_opcode_message(side: Side, opcode: int, message: str) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, opcode))
    assert str(recorder.proto.error) == message


def test_control_frame_limit_is_checked_at_header(side: Side) -> None:
    """A ping announcing 126 bytes fails before any of them arrive."""
    header = peer_frame(side, PING, b"x" * 126)[: 8 if side is Side.SERVER else 4]
    recorder = Recorder(protocol(side)).receive(header)
    assert_failed(recorder, 1002)


@pytest.mark.parametrize(
    "length",
    [2**63, 2**64 - 1, 2**63 + 5],
    ids=["msb", "max", "msb+5"],
)
def test_64_bit_length_with_msb_set_fails(side: Side, length: int) -> None:
    header = peer_frame(side, BINARY, b"", length=length, length_bits=64)
    recorder = Recorder(protocol(side, max_size=None)).receive(header)
    assert_failed(recorder, 1002)
    assert str(recorder.proto.error) == "invalid frame length"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((TEXT, False), (TEXT, True), id="text-during-text"),
        pytest.param((TEXT, False), (BINARY, True), id="binary-during-text"),
        pytest.param((BINARY, False), (TEXT, False), id="text-during-binary"),
        pytest.param((BINARY, False), (BINARY, True), id="binary-during-binary"),
    ],
)
def test_new_message_during_fragmented_one_fails(
    side: Side, first: tuple[int, bool], second: tuple[int, bool]
) -> None:
    wire = peer_frame(side, first[0], b"ab", fin=first[1])
    wire += peer_frame(side, second[0], b"cd", fin=second[1])
    recorder = Recorder(protocol(side)).receive(wire)
    assert_failed(recorder, 1002)
    assert str(recorder.proto.error) == "expected a continuation frame"


def test_continuation_after_finished_message_fails(side: Side) -> None:
    wire = peer_frame(side, TEXT, b"done") + peer_frame(side, CONT, b"more")
    recorder = Recorder(protocol(side)).receive(wire, 1)
    assert_failed(recorder, 1002, [Message("done")])
    assert str(recorder.proto.error) == "unexpected continuation frame"


# -- UTF-8 (RFC 6455 §8.1) -------------------------------------------------------------------

# One-, two-, three- and four-byte sequences, so every cut lands in each kind.
UTF8_TEXT = "a\u00e9\u20ac\U0001f600z\u0800\U0010ffff"
UTF8_BYTES = UTF8_TEXT.encode()


@pytest.mark.parametrize("position", range(len(UTF8_BYTES) + 1))
def test_text_split_across_fragments_at_every_byte(side: Side, position: int) -> None:
    wire = peer_frame(side, TEXT, UTF8_BYTES[:position], fin=False)
    wire += peer_frame(side, CONT, UTF8_BYTES[position:])
    for chunk_size in [None, 1]:
        recorder = Recorder(protocol(side)).receive(wire, chunk_size)
        assert recorder.events == [Message(UTF8_TEXT)]
        assert recorder.out == []


def test_text_split_in_three_fragments_at_every_pair(side: Side) -> None:
    for i, j in itertools.combinations(range(len(UTF8_BYTES) + 1), 2):
        wire = peer_frame(side, TEXT, UTF8_BYTES[:i], fin=False)
        wire += peer_frame(side, CONT, UTF8_BYTES[i:j], fin=False)
        wire += peer_frame(side, CONT, UTF8_BYTES[j:])
        recorder = Recorder(protocol(side)).receive(wire)
        assert recorder.events == [Message(UTF8_TEXT)], (i, j)


def test_text_frame_split_across_chunks_at_every_byte(side: Side) -> None:
    wire = peer_frame(side, TEXT, UTF8_BYTES)
    for position in range(len(wire) + 1):
        recorder = Recorder(protocol(side)).receive_pieces(cut(wire, [position]))
        assert recorder.events == [Message(UTF8_TEXT)], position
    for i, j in itertools.combinations(range(len(wire) + 1), 2):
        recorder = Recorder(protocol(side)).receive_pieces(cut(wire, [i, j]))
        assert recorder.events == [Message(UTF8_TEXT)], (i, j)


# (valid prefix, first bad byte, rest): the connection must fail on the bad byte.
INVALID_UTF8 = [
    pytest.param(b"", b"\x80", b"", id="lone-continuation"),
    pytest.param(b"ok", b"\xbf", b"", id="lone-continuation-late"),
    pytest.param(b"", b"\xc0", b"\xaf", id="overlong-c0"),
    pytest.param(b"", b"\xc1", b"\xbf", id="overlong-c1"),
    pytest.param(b"\xe0", b"\x80", b"\xaf", id="overlong-3-bytes"),
    pytest.param(b"\xe0", b"\x9f", b"\xbf", id="overlong-3-bytes-max"),
    pytest.param(b"\xf0", b"\x8f", b"\xbf\xbf", id="overlong-4-bytes"),
    pytest.param(b"\xed", b"\xa0", b"\x80", id="surrogate-d800"),
    pytest.param(b"abc\xed", b"\xbf", b"\xbf", id="surrogate-dfff"),
    pytest.param(b"\xed", b"\xb0", b"\x80", id="surrogate-dc00"),
    pytest.param(b"\xf4", b"\x90", b"\x80\x80", id="over-10ffff"),
    pytest.param(b"", b"\xf5", b"\x80\x80\x80", id="f5"),
    pytest.param(b"", b"\xf8", b"\x88\x80\x80\x80", id="five-byte-form"),
    pytest.param(b"", b"\xfe", b"", id="fe"),
    pytest.param(b"", b"\xff", b"", id="ff"),
    pytest.param(b"\xce", b"\x41", b"", id="missing-continuation"),
    pytest.param(b"\xe2\x82", b"\x41", b"", id="short-3-byte"),
    pytest.param(b"\xf0\x9f\x98", b"z", b"", id="short-4-byte"),
    pytest.param("κόσμε".encode() + b"\xed", b"\xa0", b"\x80edited", id="after-valid-text"),
]


@pytest.mark.parametrize(("prefix", "bad", "rest"), INVALID_UTF8)
def test_invalid_utf8_fails_at_first_bad_byte(
    side: Side, prefix: bytes, bad: bytes, rest: bytes
) -> None:
    """Autobahn 6.4.x: the close goes out while the frame is still arriving."""
    payload = prefix + bad + rest + b"-tail-that-never-arrives"
    wire = peer_frame(side, TEXT, payload)
    bad_at = len(wire) - len(payload) + len(prefix)
    recorder = Recorder(protocol(side))
    recorder.receive(wire[:bad_at], 1)
    assert recorder.out == [] and recorder.proto.error is None
    recorder.receive(wire[bad_at : bad_at + 1])
    assert_failed(recorder, 1007)
    assert str(recorder.proto.error) == "invalid utf-8 in text message"
    recorder.receive(wire[bad_at + 1 :])
    assert recorder.out[-1] == b"" and len(recorder.out) == 2


@pytest.mark.parametrize(("prefix", "bad", "rest"), INVALID_UTF8)
def test_invalid_utf8_in_continuation_fails_at_first_bad_byte(
    side: Side, prefix: bytes, bad: bytes, rest: bytes
) -> None:
    payload = prefix + bad + rest + b"...tail"
    first = peer_frame(side, TEXT, b"fine \xc3", fin=False)  # ends inside "é"
    second = peer_frame(side, CONT, b"\xa9" + payload)
    bad_at = len(first) + len(second) - len(payload) + len(prefix)
    wire = first + second
    recorder = Recorder(protocol(side))
    recorder.receive(wire[:bad_at])
    assert recorder.proto.error is None
    recorder.receive(wire[bad_at:], 1)
    assert_failed(recorder, 1007)


@pytest.mark.parametrize(("prefix", "bad", "rest"), INVALID_UTF8)
@pytest.mark.parametrize("chunk_size", [None, 3])
def test_invalid_utf8_in_whole_frame(
    side: Side, prefix: bytes, bad: bytes, rest: bytes, chunk_size: int | None
) -> None:
    wire = peer_frame(side, TEXT, prefix + bad + rest)
    recorder = Recorder(protocol(side)).receive(wire, chunk_size)
    assert_failed(recorder, 1007)


@pytest.mark.parametrize(
    "payload",
    [b"\xce", b"ab\xe2\x82", b"\xf0\x9f\x98", b"\xed"],
    ids=["2-of-1", "3-of-2", "4-of-3", "lone-ed"],
)
@pytest.mark.parametrize("chunk_size", [None, 1])
def test_truncated_utf8_at_end_of_message_fails(
    side: Side, payload: bytes, chunk_size: int | None
) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, TEXT, payload), chunk_size)
    assert_failed(recorder, 1007)
    fragmented = peer_frame(side, TEXT, payload, fin=False) + peer_frame(side, CONT, b"")
    recorder = Recorder(protocol(side)).receive(fragmented, chunk_size)
    assert_failed(recorder, 1007)


def test_invalid_utf8_fails_at_end_of_fragment_not_at_end_of_message(side: Side) -> None:
    """``ED A0`` can never become valid, even though the next fragment is not here yet."""
    recorder = Recorder(protocol(side)).receive(peer_frame(side, TEXT, b"ok\xed\xa0", fin=False))
    assert_failed(recorder, 1007)


def test_binary_is_never_checked_as_utf8(side: Side) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, BINARY, b"\xff\xed\xa0\x80"))
    assert recorder.events == [Message(b"\xff\xed\xa0\x80")]


def test_valid_edge_code_points(side: Side) -> None:
    edges = "\x00\x7f\x80\u07ff\u0800\ud7ff\ue000\uffff\U00010000\U0010ffff"
    recorder = Recorder(protocol(side)).receive(peer_frame(side, TEXT, edges.encode()), 1)
    assert recorder.events == [Message(edges)]


# -- closing (RFC 6455 §5.5.1, §7) -------------------------------------------------------------

VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
VALID_CLOSE_CODES += [3000, 3999, 4000, 4999]
INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_valid_close_code_is_echoed(side: Side, code: int) -> None:
    wire = peer_frame(side, CLOSE, close_payload(code, b"why"))
    recorder = Recorder(protocol(side)).receive(wire)
    assert recorder.events == [Close(code, "why")]
    echo = close_frame(side, code, "why")
    assert recorder.out == ([echo, b""] if side is Side.SERVER else [echo])
    assert recorder.proto.error is None


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_invalid_close_code_fails_with_1002(side: Side, code: int) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, CLOSE, close_payload(code)))
    assert_failed(recorder, 1002)
    assert str(recorder.proto.error) == f"invalid close code {code}"
    assert recorder.proto.close_rcvd is None


def test_one_byte_close_payload_fails_with_1002(side: Side) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, CLOSE, b"\x03"))
    assert_failed(recorder, 1002)


@pytest.mark.parametrize(
    "reason", [b"\xff", b"ok\xed\xa0\x80", b"\xc0\xaf", b"trunc\xe2\x82"], ids=str
)
def test_invalid_utf8_in_close_reason_fails_with_1007(side: Side, reason: bytes) -> None:
    recorder = Recorder(protocol(side)).receive(
        peer_frame(side, CLOSE, close_payload(1000, reason))
    )
    assert_failed(recorder, 1007)


def test_empty_close_is_no_status_and_echoed_empty(side: Side) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, CLOSE))
    assert recorder.events == [Close(CloseCode.NO_STATUS_RCVD)]
    assert recorder.out[0] == own_frame(side, CLOSE, b"")


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_server_echoes_close_then_half_closes(chunk_size: int | None) -> None:
    wire = peer_frame(Side.SERVER, CLOSE, close_payload(1000, b"bye"))
    recorder = Recorder(protocol(Side.SERVER)).receive(wire, chunk_size)
    assert recorder.out == [b"\x88\x05\x03\xe8bye", b""]
    proto = recorder.proto
    assert proto.state is State.CLOSING
    assert proto.close_rcvd == proto.close_sent == Close(1000, "bye")
    assert proto.close_rcvd_then_sent is True
    assert proto.close_expected()
    recorder.receive_eof()
    assert recorder.out == [b"\x88\x05\x03\xe8bye", b""]  # no second half-close
    assert proto.state is State.CLOSED


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_client_echoes_close_and_waits_for_server(chunk_size: int | None) -> None:
    wire = peer_frame(Side.CLIENT, CLOSE, close_payload(1001))
    recorder = Recorder(protocol(Side.CLIENT)).receive(wire, chunk_size)
    masked_echo = b"\x88\x82" + FIXED_MASK + bytes([0x03 ^ 0x5A, 0xE9 ^ 0xC3])
    assert recorder.out == [masked_echo]
    assert recorder.proto.state is State.CLOSING
    assert recorder.proto.close_expected()
    recorder.receive_eof()
    assert recorder.out == [masked_echo, b""]
    assert recorder.proto.state is State.CLOSED


def test_send_close_then_receive_close(side: Side) -> None:
    proto = protocol(side)
    proto.send_close(1000, "done")
    assert proto.state is State.CLOSING
    assert proto.close_expected()
    assert proto.data_to_send() == [close_frame(side, 1000, "done")]
    recorder = Recorder(proto).receive(peer_frame(side, CLOSE, close_payload(1000, b"ok")))
    assert recorder.events == [Close(1000, "ok")]
    # No echo: our close already went out. The server still closes TCP first.
    assert recorder.out == ([b""] if side is Side.SERVER else [])
    assert proto.close_sent == Close(1000, "done")
    assert proto.close_rcvd == Close(1000, "ok")
    assert proto.close_rcvd_then_sent is False
    recorder.receive_eof()
    assert recorder.out == [b""]
    assert proto.state is State.CLOSED


def test_receive_close_then_send_close_is_invalid(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, CLOSE, close_payload(1000)))
    with pytest.raises(InvalidState, match="closing"):
        proto.send_close(1000)


def test_send_close_without_code(side: Side) -> None:
    proto = protocol(side)
    proto.send_close()
    assert proto.data_to_send() == [own_frame(side, CLOSE, b"")]
    assert proto.close_sent == Close(CloseCode.NO_STATUS_RCVD)


@pytest.mark.parametrize(
    ("code", "reason", "match"),
    [
        (1005, "x", "needs a close code"),
        (None, "x", "needs a close code"),
        (1006, "", "may not be sent"),
        (999, "", "may not be sent"),
        (5000, "", "may not be sent"),
        (1000, "x" * 124, "123 bytes"),
    ],
)
def test_send_close_rejects_bad_arguments(
    side: Side, code: int | None, reason: str, match: str
) -> None:
    proto = protocol(side)
    with pytest.raises(ValueError, match=match):
        proto.send_close(code, reason)
    assert proto.state is State.OPEN
    assert proto.data_to_send() == []


def test_send_close_with_longest_reason(side: Side) -> None:
    proto = protocol(side)
    proto.send_close(4000, "r" * 123)
    assert proto.data_to_send() == [close_frame(side, 4000, "r" * 123)]


def test_close_expected_only_once_closing(side: Side) -> None:
    proto = protocol(side)
    proto.send_text(b"x")
    proto.send_ping(b"")
    proto.receive_data(peer_frame(side, TEXT, b"y"))
    assert not proto.close_expected()
    assert proto.events_received() == [Message("y")]
    proto.receive_data(peer_frame(side, CLOSE, close_payload(1000)))
    assert proto.close_expected()


def test_close_expected_after_eof(side: Side) -> None:
    proto = protocol(side)
    proto.receive_eof()
    assert proto.close_expected()


@pytest.mark.parametrize("chunk_size", [None, 1])
def test_data_after_close_is_ignored(side: Side, chunk_size: int | None) -> None:
    wire = peer_frame(side, CLOSE, close_payload(1000))
    wire += peer_frame(side, TEXT, b"late") + peer_frame(side, PING, b"late")
    wire += b"\xff\xff garbage"
    recorder = Recorder(protocol(side)).receive(wire, chunk_size)
    recorder.receive(peer_frame(side, BINARY, b"later still"))
    assert recorder.events == [Close(1000)]
    assert recorder.out[0] == close_frame(side, 1000)
    assert recorder.out[1:] == ([b""] if side is Side.SERVER else [])
    assert recorder.proto.error is None


def test_receive_eof_twice(side: Side) -> None:
    proto = protocol(side)
    proto.receive_eof()
    assert proto.state is State.CLOSED
    assert proto.eof_received
    assert proto.data_to_send() == [b""]
    proto.receive_eof()
    assert proto.data_to_send() == []
    assert proto.state is State.CLOSED


def test_eof_without_close_then_data_is_ignored(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, TEXT, b"par")[:3])
    proto.receive_eof()
    proto.receive_data(peer_frame(side, TEXT, b"after"))
    assert proto.events_received() == []
    assert proto.data_to_send() == [b""]
    assert proto.close_rcvd is None
    assert proto.error is None


def test_eof_after_failure_half_closes_once(side: Side) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, 3))
    recorder.receive_eof()
    assert recorder.out.count(b"") == 1
    assert recorder.proto.state is State.CLOSED


def test_sending_after_close_is_invalid(side: Side) -> None:
    proto = protocol(side)
    proto.send_close(1000)
    for send in [
        lambda: proto.send_text(b"x"),
        lambda: proto.send_binary(b"x"),
        lambda: proto.send_ping(),
        lambda: proto.send_pong(),
        lambda: proto.send_close(1000),
    ]:
        with pytest.raises(InvalidState, match="connection is closing"):
            send()
    proto.receive_eof()
    with pytest.raises(InvalidState, match="connection is closed"):
        proto.send_text(b"x")


def test_close_during_fragmented_message_discards_it(side: Side) -> None:
    wire = peer_frame(side, TEXT, b"unfinished", fin=False)
    wire += peer_frame(side, CLOSE, close_payload(1000))
    recorder = Recorder(protocol(side)).receive(wire)
    assert recorder.events == [Close(1000)]


def test_close_while_text_frame_arrives_is_not_possible_mid_frame(side: Side) -> None:
    """Bytes inside an announced frame are payload, even when they look like a close."""
    close = peer_frame(side, CLOSE, close_payload(1000))
    payload = b"x" * 3 + close
    wire = peer_frame(side, BINARY, payload)
    recorder = Recorder(protocol(side)).receive(wire, 1)
    assert recorder.events == [Message(payload)]


# -- fail() ----------------------------------------------------------------------------------


def test_fail_sends_close_and_half_closes(side: Side) -> None:
    proto = protocol(side)
    proto.fail(1008, "policy")
    assert proto.data_to_send() == [close_frame(side, 1008, "policy"), b""]
    assert proto.state is State.CLOSING
    assert proto.close_sent == Close(1008, "policy")
    assert proto.close_rcvd_then_sent is False
    assert proto.error is None  # the application failed it, not the peer
    proto.receive_data(peer_frame(side, TEXT, b"ignored"))
    assert proto.events_received() == []


def test_fail_cuts_long_reason_to_fit_control_frame(side: Side) -> None:
    proto = protocol(side)
    proto.fail(1011, "é" * 100)
    frame, eof = proto.data_to_send()
    assert eof == b""
    assert proto.close_sent == Close(1011, "é" * 61)  # 122 bytes: no half character
    assert frame == close_frame(side, 1011, "é" * 61)


def test_fail_after_close_sent_only_half_closes(side: Side) -> None:
    proto = protocol(side)
    proto.send_close(1000)
    proto.data_to_send()
    proto.fail(1002)
    assert proto.data_to_send() == [b""]
    assert proto.close_sent == Close(1000)


# -- pings and pongs (RFC 6455 §5.5.2-3) --------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(125))], ids=["0", "1", "125"])
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_ping_is_answered_with_same_payload(
    side: Side, payload: bytes, chunk_size: int | None
) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, PING, payload), chunk_size)
    assert recorder.events == [Ping(payload)]
    assert recorder.out == [own_frame(side, PONG, payload)]


def test_each_ping_gets_its_own_pong_in_order(side: Side) -> None:
    wire = b"".join(peer_frame(side, PING, bytes([n])) for n in range(5))
    recorder = Recorder(protocol(side)).receive(wire)
    assert recorder.events == [Ping(bytes([n])) for n in range(5)]
    assert recorder.out == [own_frame(side, PONG, bytes([n])) for n in range(5)]


def test_ping_after_close_sent_is_not_answered(side: Side) -> None:
    proto = protocol(side)
    proto.send_close(1000)
    proto.data_to_send()
    recorder = Recorder(proto).receive(peer_frame(side, PING, b"late"))
    assert recorder.events == [Ping(b"late")]
    assert recorder.out == []


def test_data_still_received_after_close_sent(side: Side) -> None:
    """Between our close and theirs, the peer's messages still arrive (RFC 6455 §7.1.2)."""
    proto = protocol(side)
    proto.send_close(1000)
    proto.data_to_send()
    recorder = Recorder(proto).receive(peer_frame(side, TEXT, b"in flight"))
    assert recorder.events == [Message("in flight")]


def test_pong_is_an_event_and_not_answered(side: Side) -> None:
    recorder = Recorder(protocol(side)).receive(peer_frame(side, PONG, b"beat"))
    assert recorder.events == [Pong(b"beat")]
    assert recorder.out == []


def test_ping_between_fragments_is_answered_at_once(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, BINARY, b"a", fin=False) + peer_frame(side, PING, b"!"))
    assert proto.events_received() == [Ping(b"!")]
    assert proto.data_to_send() == [own_frame(side, PONG, b"!")]
    proto.receive_data(peer_frame(side, CONT, b"b"))
    assert proto.events_received() == [Message(b"ab")]


def test_ping_inside_text_frame_being_received(side: Side) -> None:
    """A text frame that arrives in pieces, then a ping between two of its fragments."""
    proto = protocol(side)
    first = peer_frame(side, TEXT, "caf\u00e9 ".encode(), fin=False)
    proto.receive_data(first[:-2])
    proto.receive_data(first[-2:] + peer_frame(side, PING, b"?"))
    proto.receive_data(peer_frame(side, CONT, "ol\u00e9".encode()))
    assert proto.events_received() == [Ping(b"?"), Message("caf\u00e9 ol\u00e9")]


# -- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
@pytest.mark.parametrize("size", [0, 1, 126, 1000])
def test_message_of_exactly_max_size_is_accepted(side: Side, opcode: int, size: int) -> None:
    payload = b"m" * size
    recorder = Recorder(protocol(side, max_size=size)).receive(peer_frame(side, opcode, payload))
    assert recorder.events == [Message(payload if opcode == BINARY else payload.decode())]


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
@pytest.mark.parametrize(
    ("max_size", "length"),
    [(0, 1), (125, 126), (1000, 1001), (65535, 65536), (2**20, 2**40)],
)
def test_frame_over_max_size_fails_at_header(
    side: Side, opcode: int, max_size: int, length: int
) -> None:
    header = peer_frame(side, opcode, b"", length=length)
    recorder = Recorder(protocol(side, max_size=max_size)).receive(header, 1)
    assert_failed(recorder, 1009)
    assert isinstance(recorder.proto.error, PayloadTooBig)
    assert str(recorder.proto.error) == f"message over {max_size} bytes"


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
@pytest.mark.parametrize("chunk_size", [None, 1])
def test_fragmented_message_over_max_size_fails_at_header(
    side: Side, opcode: int, chunk_size: int | None
) -> None:
    wire = peer_frame(side, opcode, b"a" * 60, fin=False)
    wire += peer_frame(side, CONT, b"b" * 40, fin=False)  # 100 bytes: still fine
    recorder = Recorder(protocol(side, max_size=100)).receive(wire, chunk_size)
    assert recorder.proto.error is None
    next_header = peer_frame(side, CONT, b"", length=1)
    recorder.receive(next_header)
    assert_failed(recorder, 1009)


def test_fragmented_message_of_exactly_max_size_is_accepted(side: Side) -> None:
    wire = peer_frame(side, TEXT, b"a" * 60, fin=False) + peer_frame(side, CONT, b"b" * 40)
    recorder = Recorder(protocol(side, max_size=100)).receive(wire, 7)
    assert recorder.events == [Message("a" * 60 + "b" * 40)]


def test_max_size_counts_each_message_afresh(side: Side) -> None:
    wire = b"".join(peer_frame(side, BINARY, b"z" * 100) for _ in range(5))
    recorder = Recorder(protocol(side, max_size=100)).receive(wire)
    assert recorder.events == [Message(b"z" * 100)] * 5


def test_max_size_does_not_apply_to_control_frames(side: Side) -> None:
    recorder = Recorder(protocol(side, max_size=1)).receive(peer_frame(side, PING, b"x" * 125))
    assert recorder.events == [Ping(b"x" * 125)]


def test_no_max_size(side: Side) -> None:
    payload = b"q" * 200000
    recorder = Recorder(protocol(side, max_size=None)).receive(peer_frame(side, BINARY, payload))
    assert recorder.events == [Message(payload)]


def test_incomplete_frame_buffer_is_bounded_by_the_frame(side: Side) -> None:
    proto = protocol(side, max_size=1000)
    wire = peer_frame(side, BINARY, b"b" * 1000)
    proto.receive_data(wire[:-1])
    assert len(proto._buf) == len(wire) - 1
    proto.receive_data(wire[-1:] + peer_frame(side, TEXT, b"t"))
    assert proto.events_received() == [Message(b"b" * 1000), Message("t")]
    assert len(proto._buf) == 0


def test_text_frame_is_not_buffered_while_it_arrives(side: Side) -> None:
    """Text is decoded as it comes; the raw bytes of the frame do not pile up."""
    proto = protocol(side, max_size=None)
    payload = b"t" * 100000
    wire = peer_frame(side, TEXT, payload)
    for start in range(0, len(wire), 8192):
        proto.receive_data(wire[start : start + 8192])
        assert len(proto._buf) < 14
    assert proto.events_received() == [Message("t" * 100000)]


# -- strict ordering of failures ----------------------------------------------------------------


def test_messages_before_violation_come_first(side: Side) -> None:
    proto = protocol(side)
    wire = peer_frame(side, TEXT, b"one") + peer_frame(side, PING, b"p")
    wire += peer_frame(side, BINARY, b"two") + peer_frame(side, 5) + peer_frame(side, TEXT, b"x")
    proto.receive_data(wire)
    assert proto.events_received() == [Message("one"), Ping(b"p"), Message(b"two")]
    # The pong already left; the close waits for the application.
    assert proto.data_to_send() == [own_frame(side, PONG, b"p")]
    assert not proto.close_expected()
    assert proto.state is State.OPEN
    assert proto.error is None
    # Replies to those messages go out before the close frame.
    proto.send_text(b"reply to one")
    proto.handle_pending()
    assert proto.data_to_send() == [
        own_frame(side, TEXT, b"reply to one"),
        close_frame(side, 1002, "invalid opcode 0x5"),
        b"",
    ]
    assert proto.error is not None and proto.error.code == 1002
    assert proto.close_expected()


def test_pending_failure_applied_by_next_receive(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, TEXT, b"ok") + peer_frame(side, TEXT, b"\xff"))
    assert proto.events_received() == [Message("ok")]
    proto.receive_data(peer_frame(side, TEXT, b"ignored"))
    assert proto.events_received() == []
    assert proto.data_to_send() == [close_frame(side, 1007, "invalid utf-8 in text message"), b""]


def test_pending_failure_applied_by_eof(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, TEXT, b"ok") + peer_frame(side, CLOSE, b"\x03"))
    assert proto.events_received() == [Message("ok")]
    proto.receive_eof()
    assert proto.error is not None and proto.error.code == 1002
    assert proto.data_to_send() == [close_frame(side, 1002, "close frame too short"), b""]


def test_pending_failure_waits_until_events_are_collected(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, TEXT, b"ok") + peer_frame(side, 3))
    proto.handle_pending()  # events not collected yet: still waits
    assert proto.data_to_send() == []
    assert proto.events_received() == [Message("ok")]
    proto.handle_pending()
    assert proto.data_to_send() == [close_frame(side, 1002, "invalid opcode 0x3"), b""]
    proto.handle_pending()  # a no-op now
    assert proto.data_to_send() == []


def test_hold_failures_delays_failure_without_events(side: Side) -> None:
    """The I/O layer holds failures while the application has unread messages."""
    proto = protocol(side)
    proto.hold_failures = True
    proto.receive_data(peer_frame(side, TEXT, b"unread") + peer_frame(side, 3))
    assert proto.events_received() == [Message("unread")]
    proto.receive_data(peer_frame(side, TEXT, b"ignored"))
    assert proto.events_received() == []
    assert proto.data_to_send() == []
    assert proto.error is None
    proto.hold_failures = False
    proto.send_text(b"reply")
    proto.handle_pending()
    assert proto.data_to_send() == [
        own_frame(side, TEXT, b"reply"),
        close_frame(side, 1002, "invalid opcode 0x3"),
        b"",
    ]
    assert proto.error is not None


def test_violation_without_earlier_events_fails_at_once(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, 4))
    assert proto.data_to_send() == [close_frame(side, 1002, "invalid opcode 0x4"), b""]


def test_violation_after_collected_events_fails_at_once(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, TEXT, b"ok"))
    proto.events_received()
    proto.receive_data(peer_frame(side, 4))
    assert proto.data_to_send() == [close_frame(side, 1002, "invalid opcode 0x4"), b""]


def test_application_close_before_pending_failure(side: Side) -> None:
    proto = protocol(side)
    proto.receive_data(peer_frame(side, TEXT, b"bye") + peer_frame(side, 6))
    proto.events_received()
    proto.send_close(1000, "my own")
    proto.handle_pending()
    assert proto.data_to_send() == [close_frame(side, 1000, "my own"), b""]
    assert proto.close_sent == Close(1000, "my own")
    assert proto.error is not None and proto.error.code == 1002


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_failure_output_does_not_depend_on_chunking(side: Side, chunk_size: int | None) -> None:
    wire = peer_frame(side, TEXT, b"a") + peer_frame(side, PING, b"b")
    wire += peer_frame(side, BINARY, b"c", rsv2=True)
    recorder = Recorder(protocol(side)).receive(wire, chunk_size)
    assert recorder.events == [Message("a"), Ping(b"b")]
    assert recorder.out == [
        own_frame(side, PONG, b"b"),
        close_frame(side, 1002, "reserved bits must be 0"),
        b"",
    ]


# -- sending -------------------------------------------------------------------------------------

SENDS = [
    pytest.param("send_text", (b"Hello",), {}, TEXT, b"Hello", {}, id="text"),
    pytest.param("send_binary", (b"\x00\x01",), {}, BINARY, b"\x00\x01", {}, id="binary"),
    pytest.param("send_text", (b"",), {}, TEXT, b"", {}, id="empty-text"),
    pytest.param("send_binary", (b"b" * 125,), {}, BINARY, b"b" * 125, {}, id="125"),
    pytest.param("send_binary", (b"b" * 126,), {}, BINARY, b"b" * 126, {}, id="126"),
    pytest.param("send_binary", (b"b" * 65535,), {}, BINARY, b"b" * 65535, {}, id="65535"),
    pytest.param(
        "send_text", (b"Hel",), {"fin": False}, TEXT, b"Hel", {"fin": False}, id="text-no-fin"
    ),
    pytest.param("send_ping", (b"p",), {}, PING, b"p", {}, id="ping"),
    pytest.param("send_ping", (), {}, PING, b"", {}, id="empty-ping"),
    pytest.param("send_pong", (b"q" * 125,), {}, PONG, b"q" * 125, {}, id="pong-125"),
    pytest.param("send_close", (1001, "away"), {}, CLOSE, b"\x03\xe9away", {}, id="close"),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "opcode", "payload", "options"), SENDS)
def test_send(
    side: Side,
    method: str,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    opcode: int,
    payload: bytes,
    options: dict[str, object],
) -> None:
    proto = protocol(side)
    getattr(proto, method)(*args, **kwargs)
    assert proto.data_to_send() == [own_frame(side, opcode, payload, **options)]


def test_server_output_exact_bytes(open_server: Protocol) -> None:
    open_server.send_text(b"Hi")
    open_server.send_binary(b"\x00" * 126)
    open_server.send_ping(b"!")
    assert open_server.data_to_send() == [
        b"\x81\x02Hi",
        b"\x82\x7e\x00\x7e" + b"\x00" * 126,
        b"\x89\x01!",
    ]


def test_client_output_exact_bytes(open_client: Protocol) -> None:
    open_client.send_text(b"Hi")
    open_client.send_ping(b"")
    # 'H' ^ 0x5a, 'i' ^ 0xc3
    assert open_client.data_to_send() == [
        b"\x81\x82" + FIXED_MASK + b"\x12\xaa",
        b"\x89\x80" + FIXED_MASK,
    ]


def test_large_payload_goes_out_as_its_own_chunk(side: Side) -> None:
    payload = b"L" * 65536
    proto = protocol(side)
    proto.send_binary(payload)
    header, body = proto.data_to_send()
    wire = own_frame(side, BINARY, payload)
    assert header + body == wire
    assert len(header) == (14 if side is Side.CLIENT else 10)


def test_client_draws_a_fresh_mask_for_every_frame() -> None:
    keys = [bytes([n, n + 1, n + 2, n + 3]) for n in range(0, 40, 4)]
    proto = Protocol(Side.CLIENT, make_mask=masks(*keys))
    proto.send_text(b"a")
    proto.send_binary(b"b", fin=False)
    proto.send_continuation(b"c", fin=True)
    proto.send_ping(b"d")
    proto.send_pong(b"e")
    proto.receive_data(build_frame(PING, b"f"))  # the automatic pong is masked too
    proto.send_close(1000)
    expected = [
        build_frame(TEXT, b"a", mask=keys[0]),
        build_frame(BINARY, b"b", fin=False, mask=keys[1]),
        build_frame(CONT, b"c", mask=keys[2]),
        build_frame(PING, b"d", mask=keys[3]),
        build_frame(PONG, b"e", mask=keys[4]),
        build_frame(PONG, b"f", mask=keys[5]),
        build_frame(CLOSE, close_payload(1000), mask=keys[6]),
    ]
    assert proto.data_to_send() == expected


def test_server_never_masks_nor_draws_masks() -> None:
    proto = Protocol(Side.SERVER, make_mask=masks())
    proto.send_text(b"a")
    proto.send_binary(b"b" * 70000)
    proto.send_ping(b"c")
    proto.receive_data(build_frame(PING, b"d", mask=PEER_MASK))
    proto.send_close(1000)
    assert all(chunk[1] & 0x80 == 0 for chunk in proto.data_to_send() if len(chunk) > 1)


@pytest.mark.parametrize("chunk_size", [None, 1])
def test_sent_frames_reach_the_other_side(side: Side, chunk_size: int | None) -> None:
    """What one side sends, the other side's parser accepts."""
    sender = protocol(side)
    other = Side.CLIENT if side is Side.SERVER else Side.SERVER
    receiver = Recorder(protocol(other))
    sender.send_text("ünï".encode(), fin=False)
    sender.send_ping(b"between")
    sender.send_continuation("cödé".encode(), fin=True)
    sender.send_binary(b"\xff" * 70000)
    sender.send_close(4000, "end")
    receiver.receive(b"".join(sender.data_to_send()), chunk_size)
    assert receiver.events == [
        Ping(b"between"),
        Message("ünïcödé"),
        Message(b"\xff" * 70000),
        Close(4000, "end"),
    ]


def test_fragmented_send_state_checks(side: Side) -> None:
    proto = protocol(side)
    with pytest.raises(InvalidState, match="no fragmented message"):
        proto.send_continuation(b"x", fin=True)
    proto.send_binary(b"a", fin=False)
    with pytest.raises(InvalidState, match="fragmented message is in progress"):
        proto.send_text(b"b")
    with pytest.raises(InvalidState, match="fragmented message is in progress"):
        proto.send_binary(b"b")
    proto.send_ping(b"control frames may interleave")
    proto.send_continuation(b"b", fin=False)
    proto.send_continuation(b"c", fin=True)
    with pytest.raises(InvalidState, match="no fragmented message"):
        proto.send_continuation(b"d", fin=True)
    proto.send_text(b"new message")
    assert proto.data_to_send() == [
        own_frame(side, BINARY, b"a", fin=False),
        own_frame(side, PING, b"control frames may interleave"),
        own_frame(side, CONT, b"b", fin=False),
        own_frame(side, CONT, b"c"),
        own_frame(side, TEXT, b"new message"),
    ]


def test_close_during_fragmented_send(side: Side) -> None:
    proto = protocol(side)
    proto.send_text(b"half", fin=False)
    proto.send_close(1001)
    with pytest.raises(InvalidState):
        proto.send_continuation(b"rest", fin=True)


@pytest.mark.parametrize("method", ["send_ping", "send_pong"])
def test_control_payload_over_125_bytes_is_refused(side: Side, method: str) -> None:
    proto = protocol(side)
    with pytest.raises(ValueError, match="125"):
        getattr(proto, method)(b"x" * 126)
    assert proto.data_to_send() == []


def test_send_while_connecting_is_invalid() -> None:
    proto = Protocol(Side.CLIENT, state=State.CONNECTING)
    with pytest.raises(InvalidState, match="connection is connecting"):
        proto.send_text(b"early")


# -- logging -------------------------------------------------------------------------------------


def test_frames_are_logged_at_debug(side: Side, caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("wscli.test.protocol")
    log.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="wscli.test.protocol"):
        proto = protocol(side, logger=log)
        proto.send_text(b"out")
        proto.receive_data(peer_frame(side, TEXT, b"in") + peer_frame(side, 3))
        proto.events_received()
        proto.handle_pending()
    messages = [record.getMessage() for record in caplog.records]
    assert "> TEXT b'out'" in messages
    assert "< TEXT 'in'" in messages
    assert "! failing the connection: 1002 invalid opcode 0x3" in messages
