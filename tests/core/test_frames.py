"""Tests for wscli.core.frames: the wire encoding of frames and of close payloads.

Each table row is checked both ways: the encoder must produce the bytes, and a protocol
fed the bytes must report the frame (as the event it turns into).
"""

from __future__ import annotations

import pytest
from helpers import CHUNK_SIZES, PEER_MASK, Recorder, build_frame, protocol

from wscli.core.events import Message, Ping, Pong
from wscli.core.exceptions import ProtocolError
from wscli.core.frames import (
    CONTROL_OPCODES,
    DATA_OPCODES,
    MAX_CONTROL_PAYLOAD,
    Close,
    CloseCode,
    Frame,
    Opcode,
    close_code_is_valid,
    close_code_name,
    encode_frame,
    encode_header,
)
from wscli.core.protocol import Side

# -- opcodes and codes ----------------------------------------------------------------


def test_opcode_values_match_rfc_6455() -> None:
    assert [(op.name, op.value) for op in Opcode] == [
        ("CONT", 0),
        ("TEXT", 1),
        ("BINARY", 2),
        ("CLOSE", 8),
        ("PING", 9),
        ("PONG", 10),
    ]
    assert DATA_OPCODES == {Opcode.CONT, Opcode.TEXT, Opcode.BINARY}
    assert CONTROL_OPCODES == {Opcode.CLOSE, Opcode.PING, Opcode.PONG}
    assert MAX_CONTROL_PAYLOAD == 125


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
VALID_CODES += [3000, 3999, 4000, 4999]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_code_is_valid(code: int) -> None:
    assert close_code_is_valid(code)


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_code_is_invalid(code: int) -> None:
    assert not close_code_is_valid(code)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1000, "normal closure"),
        (1006, "abnormal closure"),
        (1011, "internal error"),
        (3001, "registered"),
        (4404, "private use"),
        (2500, "unknown"),
    ],
)
def test_close_code_name(code: int, name: str) -> None:
    assert close_code_name(code) == name


# -- frames: (frame, mask, wire bytes) ---------------------------------------------------

HELLO_MASKED = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"

FRAMES = [
    # RFC 6455 §5.7's examples.
    pytest.param(Frame(Opcode.TEXT, b"Hello"), None, b"\x81\x05Hello", id="text"),
    pytest.param(Frame(Opcode.TEXT, b"Hello"), PEER_MASK, HELLO_MASKED, id="masked-text"),
    pytest.param(Frame(Opcode.TEXT, b"Hel", fin=False), None, b"\x01\x03Hel", id="first"),
    pytest.param(Frame(Opcode.CONT, b"lo"), None, b"\x80\x02lo", id="last"),
    pytest.param(Frame(Opcode.PING, b"Hello"), None, b"\x89\x05Hello", id="ping"),
    pytest.param(
        Frame(Opcode.PONG, b"Hello"), PEER_MASK, b"\x8a\x85" + HELLO_MASKED[2:], id="pong"
    ),
    pytest.param(
        Frame(Opcode.BINARY, bytes(256)), None, b"\x82\x7e\x01\x00" + bytes(256), id="256"
    ),
    pytest.param(
        Frame(Opcode.BINARY, bytes(65536)),
        None,
        b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + bytes(65536),
        id="64KiB",
    ),
    # Length boundaries of the 7-, 16- and 64-bit forms.
    pytest.param(Frame(Opcode.BINARY, b""), None, b"\x82\x00", id="empty"),
    pytest.param(Frame(Opcode.BINARY, b"x" * 125), None, b"\x82\x7d" + b"x" * 125, id="125"),
    pytest.param(
        Frame(Opcode.BINARY, b"x" * 126), None, b"\x82\x7e\x00\x7e" + b"x" * 126, id="126"
    ),
    pytest.param(
        Frame(Opcode.BINARY, b"x" * 65535),
        None,
        b"\x82\x7e\xff\xff" + b"x" * 65535,
        id="65535",
    ),
    pytest.param(
        Frame(Opcode.BINARY, b"\x01\x02\x03\x04\x05"),
        b"\xff\x00\xff\x00",
        b"\x82\x85\xff\x00\xff\x00\xfe\x02\xfc\x04\xfa",
        id="masked-binary",
    ),
    pytest.param(Frame(Opcode.CLOSE, b"\x03\xe8"), None, b"\x88\x02\x03\xe8", id="close-1000"),
    pytest.param(Frame(Opcode.CLOSE, b""), None, b"\x88\x00", id="close-empty"),
    pytest.param(
        Frame(Opcode.TEXT, b"x", rsv1=True, rsv2=True, rsv3=True), None, b"\xf1\x01x", id="rsv"
    ),
    pytest.param(Frame(Opcode.BINARY, b"", fin=False), None, b"\x02\x00", id="no-fin"),
]


@pytest.mark.parametrize(("frame", "mask", "wire"), FRAMES)
def test_encode_frame(frame: Frame, mask: bytes | None, wire: bytes) -> None:
    encoded = encode_frame(
        frame.opcode,
        frame.data,
        fin=frame.fin,
        rsv1=frame.rsv1,
        rsv2=frame.rsv2,
        rsv3=frame.rsv3,
        mask=mask,
    )
    assert encoded == wire


@pytest.mark.parametrize(("frame", "mask", "wire"), FRAMES)
def test_build_frame_agrees_with_table(frame: Frame, mask: bytes | None, wire: bytes) -> None:
    """The test suite's own encoder must agree, or every other test checks nothing."""
    options = {"fin": frame.fin, "rsv1": frame.rsv1, "rsv2": frame.rsv2, "rsv3": frame.rsv3}
    assert build_frame(frame.opcode, frame.data, mask=mask, **options) == wire


# Frames a protocol accepts on their own, with the event each becomes.
RECEIVED = [
    (b"\x81\x05Hello", Message("Hello")),
    (b"\x82\x00", Message(b"")),
    (b"\x82\x7d" + b"x" * 125, Message(b"x" * 125)),
    (b"\x82\x7e\x00\x7e" + b"x" * 126, Message(b"x" * 126)),
    (b"\x82\x7e\xff\xff" + b"y" * 65535, Message(b"y" * 65535)),
    (b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + b"z" * 65536, Message(b"z" * 65536)),
    (b"\x89\x05Hello", Ping(b"Hello")),
    (b"\x8a\x00", Pong(b"")),
    (b"\x8a\x7d" + b"p" * 125, Pong(b"p" * 125)),
    (b"\x88\x02\x03\xe8", Close(1000)),
    (b"\x01\x03Hel\x80\x02lo", Message("Hello")),
]


def unmasked_to_masked(wire: bytes) -> bytes:
    """Re-encode a stream of unmasked frames with :data:`PEER_MASK`."""
    out = b""
    while wire:
        first, second = wire[0], wire[1]
        length, start = second & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(wire[2:4], "big"), 4
        elif length == 127:
            length, start = int.from_bytes(wire[2:10], "big"), 10
        payload = wire[start : start + length]
        out += build_frame(
            first & 0x0F,
            payload,
            fin=bool(first & 0x80),
            mask=PEER_MASK,
            length_bits=[7, 16, 64][[2, 4, 10].index(start)],
        )
        wire = wire[start + length :]
    return out


@pytest.mark.parametrize(("wire", "event"), RECEIVED)
@pytest.mark.parametrize("chunk_size", [None, 1, 3])
def test_client_parses_frame(wire: bytes, event: object, chunk_size: int | None) -> None:
    if chunk_size == 1 and len(wire) > 1000:
        chunk_size = 997  # keep byte-at-a-time to the small frames
    recorder = Recorder(protocol(Side.CLIENT)).receive(wire, chunk_size)
    assert recorder.events == [event]
    assert recorder.proto.error is None


@pytest.mark.parametrize(("wire", "event"), RECEIVED)
@pytest.mark.parametrize("chunk_size", [None, 1, 3])
def test_server_parses_masked_frame(wire: bytes, event: object, chunk_size: int | None) -> None:
    masked = unmasked_to_masked(wire)
    if chunk_size == 1 and len(masked) > 1000:
        chunk_size = 997
    recorder = Recorder(protocol(Side.SERVER)).receive(masked, chunk_size)
    assert recorder.events == [event]
    assert recorder.proto.error is None


def test_rfc_masked_example_reaches_server() -> None:
    server = protocol(Side.SERVER)
    server.receive_data(HELLO_MASKED)
    assert server.events_received() == [Message("Hello")]


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x82\x00"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (2**32, b"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00"),
        (2**63 - 1, b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"),
    ],
)
def test_encode_header_lengths(length: int, header: bytes) -> None:
    assert encode_header(0x82, length, None) == header
    masked = encode_header(0x82, length, PEER_MASK)
    assert masked == bytes([header[0], header[1] | 0x80]) + header[2:] + PEER_MASK


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_all_byte_values_round_trip(chunk_size: int | None) -> None:
    payload = bytes(range(256)) * 3
    wire = encode_frame(Opcode.BINARY, payload, mask=PEER_MASK)
    recorder = Recorder(protocol(Side.SERVER)).receive(wire, chunk_size)
    assert recorder.events == [Message(payload)]


# -- close payloads ---------------------------------------------------------------------

CLOSES = [
    (Close(1000), b"\x03\xe8"),
    (Close(1001, "bye"), b"\x03\xe9bye"),
    (Close(1011, "héllo ☃"), b"\x03\xf3" + "héllo ☃".encode()),
    (Close(3000), b"\x0b\xb8"),
    (Close(4999, "x" * 123), b"\x13\x87" + b"x" * 123),
    (Close(CloseCode.NO_STATUS_RCVD), b""),
]


@pytest.mark.parametrize(("close", "payload"), CLOSES)
def test_close_serialize(close: Close, payload: bytes) -> None:
    assert close.serialize() == payload


@pytest.mark.parametrize(("close", "payload"), CLOSES)
def test_close_parse(close: Close, payload: bytes) -> None:
    assert Close.parse(payload) == close


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", 1002),
        (b"\x00\x00", 1002),
        (b"\x03\xe7", 1002),  # 999
        (b"\x03\xec", 1002),  # 1004
        (b"\x03\xed", 1002),  # 1005 may not be sent
        (b"\x03\xee", 1002),  # 1006 may not be sent
        (b"\x03\xf7", 1002),  # 1015 may not be sent
        (b"\x03\xf8", 1002),  # 1016
        (b"\x0b\xb7", 1002),  # 2999
        (b"\x13\x88", 1002),  # 5000
        (b"\xff\xff", 1002),
        (b"\x03\xe8\xff", 1007),
        (b"\x03\xe8ok\xc3", 1007),  # truncated sequence
        (b"\x03\xe8\xed\xa0\x80", 1007),  # surrogate
        (b"\x03\xe8\xc0\xaf", 1007),  # overlong
    ],
)
def test_close_parse_rejects(payload: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as raised:
        Close.parse(payload)
    assert raised.value.code == code


@pytest.mark.parametrize("code", [0, 999, 1004, 1006, 1015, 2999, 5000])
def test_close_check_rejects_unsendable_codes(code: int) -> None:
    with pytest.raises(ValueError, match="may not be sent"):
        Close(code).check()


def test_close_check_limits_reason_to_123_bytes() -> None:
    Close(1000, "x" * 123).check()
    Close(1000, "é" * 61 + "x").check()  # 123 bytes
    with pytest.raises(ValueError, match="123"):
        Close(1000, "x" * 124).check()
    with pytest.raises(ValueError, match="123"):
        Close(1000, "é" * 62).check()  # 62 characters, 124 bytes


def test_close_check_rejects_no_status() -> None:
    """1005 never goes on the wire; ``send_close(None)`` sends an empty payload instead."""
    with pytest.raises(ValueError, match="may not be sent"):
        Close(CloseCode.NO_STATUS_RCVD).check()


def test_close_str() -> None:
    assert str(Close(1000)) == "1000 (normal closure)"
    assert str(Close(4001, "nope")) == "4001 (private use) nope"


def test_frame_str() -> None:
    assert str(Frame(Opcode.TEXT, b"hi")) == "TEXT [F] 2 bytes b'hi'"
    assert str(Frame(Opcode.BINARY, b"", fin=False, rsv1=True)) == "BINARY [1] 0 bytes b''"
    assert str(Frame(Opcode.PING, b"a" * 50)).endswith("…")
