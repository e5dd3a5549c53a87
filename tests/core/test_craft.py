"""wscli.core.craft: frames built exactly as asked, read back without judgement."""

from __future__ import annotations

import pytest
from helpers import build_frame

from wscli.core.craft import (
    FrameReader,
    FrameSpec,
    RawFrame,
    craft_frame,
    parse_frame_spec,
    parse_opcode,
)
from wscli.core.frames import encode_frame

MASK = b"\x01\x02\x03\x04"


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
@pytest.mark.parametrize("mask", [None, MASK])
def test_valid_frames_match_the_library_encoder(size: int, mask: bytes | None) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert craft_frame(0x2, payload, mask=mask) == encode_frame(0x2, payload, mask=mask)


def test_bits_reserved_opcodes_and_the_test_builder_agree() -> None:
    wire = craft_frame(0xB, b"abc", fin=False, rsv1=True, rsv3=True, mask=MASK)
    assert wire == build_frame(0xB, b"abc", fin=False, rsv1=True, rsv3=True, mask=MASK)
    assert wire[0] == 0x5B  # FIN 0, RSV1 and RSV3 set, opcode 0xB


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (200, b"\x81\x7e\x00\xc8"),
        (0, b"\x81\x00"),
        (70000, b"\x81\x7f" + (70000).to_bytes(8, "big")),
    ],
)
def test_a_length_that_lies_is_announced_and_the_payload_sent_as_is(
    length: int, header: bytes
) -> None:
    assert craft_frame(0x1, b"abc", length=length) == header + b"abc"


def test_impossible_frames_are_value_errors() -> None:
    with pytest.raises(ValueError, match="opcode 16"):
        craft_frame(16)
    with pytest.raises(ValueError, match="4 bytes"):
        craft_frame(1, mask=b"\x00")
    with pytest.raises(ValueError, match="cannot be encoded"):
        craft_frame(1, length=2**63)


@pytest.mark.parametrize(
    ("text", "value"),
    [("text", 1), ("BINARY", 2), ("cont", 0), ("0x1", 1), ("0xA", 10), ("11", 11), ("pong", 10)],
)
def test_opcodes_by_name_number_or_hex(text: str, value: int) -> None:
    assert parse_opcode(text) == value


@pytest.mark.parametrize("text", ["16", "0x10", "-1", "texts", ""])
def test_unknown_opcodes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_opcode(text)


def test_the_issue_example_parses_and_builds() -> None:
    spec = parse_frame_spec("op=1 fin=0 rsv1=1 mask=none len=200 payload 'abc'")
    assert spec == FrameSpec(opcode=1, payload=b"abc", fin=False, rsv1=True, mask=None, length=200)
    assert spec.to_bytes(client=True) == b"\x41\x7e\x00\xc8abc"
    assert spec.describe() == "op=0x1 fin=0 rsv1=1 len=200/3 mask=none"


def test_spec_hex_payload_given_mask_and_quoted_text() -> None:
    spec = parse_frame_spec("op=ping mask=01020304 hex 00 ff 10")
    assert spec.to_bytes(client=False) == craft_frame(9, b"\x00\xff\x10", mask=MASK)
    assert parse_frame_spec("payload 'two  words' and \"more\"").payload == b"two  words and more"
    assert parse_frame_spec("").to_bytes(client=False) == b"\x81\x00"


def test_auto_mask_masks_for_a_client_only() -> None:
    spec = parse_frame_spec("op=text payload hi")
    assert spec.to_bytes(client=True, make_mask=lambda: MASK) == craft_frame(1, b"hi", mask=MASK)
    assert spec.to_bytes(client=False) == b"\x81\x02hi"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("op=99", "between 0 and 15"),
        ("fin=2", "fin is 0 or 1"),
        ("mask=123", "8 hex digits"),
        ("len=x", "len is a number"),
        ("colour=red", "unknown field"),
        ("justaword", "expected key=value"),
        ("payload 'open", "quotation"),
        ("hex zz", "not hex"),
    ],
)
def test_bad_specs_say_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_frame_spec(text)


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_reader_returns_frames_as_sent_whatever_the_chunks(chunk: int) -> None:
    wire = (
        craft_frame(0x1, b"hello")
        + craft_frame(0xB, b"x" * 300, fin=False, rsv1=True, rsv2=True, mask=MASK)
        + craft_frame(0x8, b"\x03\xe8bye")
    )
    reader = FrameReader(max_payload=1000)
    frames = []
    for start in range(0, len(wire), chunk):
        reader.feed(wire[start : start + chunk])
        while (frame := reader.next_frame()) is not None:
            frames.append(frame)
    assert frames == [
        RawFrame(1, b"hello"),
        RawFrame(0xB, b"x" * 300, fin=False, rsv=6, masked=True),
        RawFrame(8, b"\x03\xe8bye"),
    ]
    assert frames[2].close_code() == 1000
    assert frames[0].close_code() is None
    assert reader.buffered == 0


def test_reader_stops_at_a_frame_over_its_bound_and_keeps_nothing() -> None:
    reader = FrameReader(max_payload=100)
    reader.feed(craft_frame(0x2, b"", length=2**40))
    assert reader.next_frame() is None
    assert reader.error is not None and "1099511627776" in reader.error
    reader.feed(b"x" * 10_000)
    assert reader.buffered == 0
