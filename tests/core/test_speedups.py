"""The C fast paths against the pure-Python code they replace: same events, bytes, codes.

``wscli.core._speedups`` parses runs of simple frames (``parse_frames``), builds whole
frames (``encode_frame``) and fills large payloads in place (``new_payload`` /
``unmask_into``). Each has a pure-Python counterpart that runs when the extension is
missing or ``WSCLI_NO_EXTENSIONS=1``; here hypothesis feeds both the same input.
The protocol-level properties run in every configuration: without the extension they
compare the general parser with itself, which still checks large payloads against
small cuts.
"""

from __future__ import annotations

import importlib.util
import sys
import tracemalloc
from typing import Any

import pytest
from helpers import PEER_MASK, Recorder, build_frame, cut, protocol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wscli.core import masking
from wscli.core.events import Message
from wscli.core.frames import CloseCode, Opcode, _pack_frame_python, pack_frame
from wscli.core.masking import PythonPayloadBuffer, _unmask_into_python, apply_mask
from wscli.core.protocol import Protocol, Side

__all__: list[str] = []

C = masking.SPEEDUPS
needs_c = pytest.mark.skipif(C is None, reason="the C extension is not in use")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sides = st.sampled_from([Side.SERVER, Side.CLIENT])
PATTERN = bytes(range(256)) * 4100  # large payloads are slices of this: fast to generate


# -- frames as a peer might send them ---------------------------------------------------


@st.composite
def frames(draw: st.DrawFn, side: Side) -> bytes:
    """One frame: mostly simple data frames, sometimes anything the parser must refuse."""
    kind = draw(st.sampled_from(["binary", "text", "text", "large", "control", "odd"]))
    right_mask = PEER_MASK if side is Side.SERVER else None
    if kind == "binary":
        return build_frame(Opcode.BINARY, draw(st.binary(max_size=300)), mask=right_mask)
    if kind == "text":
        text = draw(
            st.one_of(
                st.text(max_size=60).map(str.encode),
                st.sampled_from([b"\xed\xa0\x80", b"\xc0\xaf", b"ok\xf4\x90\x80\x80", b"\xe2"]),
            )
        )
        return build_frame(Opcode.TEXT, text, mask=right_mask)
    if kind == "large":
        start = draw(st.integers(0, 255))
        size = draw(st.sampled_from([65535, 65536, 70000, 131072]))
        opcode = draw(st.sampled_from([Opcode.BINARY, Opcode.BINARY, Opcode.TEXT]))
        payload = PATTERN[start : start + size]
        if opcode == Opcode.TEXT:
            payload = payload.translate(bytes(range(128)) * 2)  # ASCII: valid UTF-8
        return build_frame(opcode, payload, mask=right_mask)
    if kind == "control":
        opcode = draw(st.sampled_from([Opcode.PING, Opcode.PONG, Opcode.CLOSE]))
        payload = b"\x03\xe8bye" if opcode == Opcode.CLOSE else draw(st.binary(max_size=20))
        return build_frame(opcode, payload, mask=right_mask)
    # Odd: fragments, reserved bits, the wrong mask bit, bad opcodes, odd lengths.
    wrong_mask = None if right_mask is not None else PEER_MASK
    return build_frame(
        draw(st.integers(0, 15)),
        draw(st.binary(max_size=40)),
        fin=draw(st.booleans()),
        rsv1=draw(st.sampled_from([False, False, True])),
        mask=draw(st.sampled_from([right_mask, right_mask, wrong_mask])),
        length_bits=draw(st.sampled_from([None, None, 16, 64])),
    )


def run(side: Side, pieces: list[bytes], *, fast: bool, **options: Any) -> Recorder:
    proto = protocol(side, **options)
    proto.use_speedups = fast
    recorder = Recorder(proto).receive_pieces(pieces)
    return recorder


def as_fields(event: object) -> tuple[Any, ...]:
    """An event as its exact type and every slot's value and type: stricter than ``==``."""
    slots = getattr(type(event), "__slots__", ())
    values = tuple(getattr(event, name, AttributeError) for name in slots)
    return (type(event), values, tuple(map(type, values)))


def outcome(recorder: Recorder) -> tuple[Any, ...]:
    proto = recorder.proto
    error = None if proto.error is None else (type(proto.error), proto.error.code)
    events = [as_fields(event) for event in recorder.events]
    return events, recorder.out, error, proto.close_sent, proto.state


@given(side=sides, data=st.data())
@FUZZ
def test_fast_parser_matches_general_parser(side: Side, data: st.DataObject) -> None:
    wire = b"".join(data.draw(st.lists(frames(side), max_size=8)))
    offsets = data.draw(st.lists(st.integers(0, len(wire)), max_size=4))
    max_size = data.draw(st.sampled_from([None, 100, 70000, 1 << 20]))
    pieces = cut(wire, offsets)
    fast = run(side, pieces, fast=True, max_size=max_size)
    general = run(side, pieces, fast=False, max_size=max_size)
    assert outcome(fast) == outcome(general)
    # And cutting differently changes nothing (large payloads filled piece by piece).
    whole = run(side, [wire], fast=True, max_size=max_size)
    assert outcome(whole) == outcome(fast)


@given(
    side=sides,
    first=st.sampled_from(
        [(Opcode.BINARY, True, False)] * 4
        + [
            (Opcode.BINARY, False, False),
            (Opcode.BINARY, True, True),
            (Opcode.TEXT, True, False),
            (Opcode.CONT, True, False),
        ]
    ),
    wrong_mask=st.sampled_from([False, False, False, True]),
    length=st.sampled_from([65535, 65536, 70000, 131072, 1 << 20, 1 << 62, (1 << 63) + 5]),
    have=st.integers(0, 140000),
    max_size=st.sampled_from([None, 70000, 1 << 20, 131071]),
)
@FUZZ
def test_large_frame_started_by_c_matches_general_parser(
    side: Side,
    first: tuple[int, bool, bool],
    wrong_mask: bool,
    length: int,
    have: int,
    max_size: int | None,
) -> None:
    # The C start_payload either makes the payload buffer the general parser would make
    # (same size, same mask, same bytes) or leaves the frame to it: around every limit
    # (JOIN_LIMIT, 1/16 here, max_size, the 64th length bit) the outcomes agree.
    opcode, fin, rsv1 = first
    right = PEER_MASK if side is Side.SERVER else None
    mask = (None if right is not None else PEER_MASK) if wrong_mask else right
    payload = PATTERN[: min(length, len(PATTERN))]
    wire = build_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=mask, length=length)
    header = len(wire) - len(payload)
    prefix, rest = wire[: header + have], wire[header + have :]
    recorders = []
    for fast in (True, False):
        proto = protocol(side, max_size=max_size)
        proto.use_speedups = fast
        recorder = Recorder(proto).receive_pieces([prefix])
        in_place = proto.payload_buffer() is not None
        recorder.receive_pieces([rest])
        recorders.append((in_place, outcome(recorder)))
    assert recorders[0] == recorders[1]


@needs_c
@given(payloads=st.lists(st.one_of(st.binary(max_size=200), st.text(max_size=60)), max_size=6))
@FUZZ
def test_messages_built_from_their_slot_equal_messages_built_by_the_class(
    payloads: list[bytes | str],
) -> None:
    wire = b"".join(
        build_frame(Opcode.TEXT, p.encode(), mask=PEER_MASK)
        if isinstance(p, str)
        else build_frame(Opcode.BINARY, p, mask=PEER_MASK)
        for p in payloads
    )
    by_slot: list[Message] = []
    by_class: list[Message] = []
    assert C.parse_frames(wire, 0, 0x80, -1, vars(Message)["data"], by_slot) == len(wire)
    assert C.parse_frames(wire, 0, 0x80, -1, Message, by_class) == len(wire)
    assert [as_fields(m) for m in by_slot] == [as_fields(m) for m in by_class]
    assert [as_fields(m) for m in by_class] == [as_fields(Message(p)) for p in payloads]
    # The slot holds the payload once: no reference leaked or stolen.
    assert all(
        sys.getrefcount(m.data) == sys.getrefcount(n.data)
        for m, n in zip(by_slot, by_class, strict=True)
    )


class _WithNew:
    __slots__ = ("data",)

    def __new__(cls, data: bytes) -> _WithNew:
        return object.__new__(cls)


@needs_c
@pytest.mark.parametrize(
    "slot",
    [vars(_WithNew)["data"], vars(staticmethod)["__func__"]],
    ids=["class-with-its-own-new", "read-only-slot-of-a-builtin"],
)
def test_parse_frames_builds_only_classes_it_can_build_without_calling_them(slot: Any) -> None:
    with pytest.raises(TypeError, match="writable slot"):
        C.parse_frames(build_frame(Opcode.BINARY, b"x", mask=PEER_MASK), 0, 0x80, -1, slot, [])


@pytest.mark.parametrize("side", [Side.SERVER, Side.CLIENT])
def test_invalid_text_after_valid_frames_fails_with_1007_either_way(side: Side) -> None:
    mask = PEER_MASK if side is Side.SERVER else None
    wire = (
        build_frame(Opcode.TEXT, b"fine", mask=mask)
        + build_frame(Opcode.BINARY, b"\x00\x01", mask=mask)
        + build_frame(Opcode.TEXT, b"bad \xc0\xaf", mask=mask)
        + build_frame(Opcode.TEXT, b"never read", mask=mask)
    )
    for fast in (True, False):
        recorder = run(side, [wire], fast=fast)
        assert [event.data for event in recorder.events[:2]] == ["fine", b"\x00\x01"]
        assert recorder.proto.error is not None
        assert recorder.proto.error.code == CloseCode.INVALID_DATA


def test_large_payload_is_handed_out_as_bytes_without_the_receive_buffer() -> None:
    payload = PATTERN[:200000]
    wire = build_frame(Opcode.BINARY, payload, mask=PEER_MASK)
    recorder = run(Side.SERVER, cut(wire, [30000, 90000, 150000]), fast=True)
    [message] = recorder.events
    assert type(message.data) is bytes
    assert message.data == payload


def test_large_payload_buffer_is_reserved_only_once_a_sixteenth_arrived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A header alone must not make the protocol reserve what it announces: a peer could
    # otherwise reserve max_size per connection with 14 bytes.
    reserved: list[int] = []
    original = masking.PayloadBuffer

    def recording(size: int, mask: bytes | None) -> Any:
        reserved.append(size)
        return original(size, mask)

    monkeypatch.setattr(masking, "PayloadBuffer", recording)
    payload = PATTERN[: 1 << 20]
    wire = build_frame(Opcode.BINARY, payload, mask=PEER_MASK)
    proto = protocol(Side.SERVER)
    proto.receive_data(wire[:1000])
    proto.receive_data(wire[1000:60000])
    assert reserved == []
    proto.receive_data(wire[60000:70000])  # past 1/16 of the payload
    assert reserved == [1 << 20]
    proto.receive_data(wire[70000:])
    [message] = proto.events_received()
    assert message.data == payload


# -- the primitives ------------------------------------------------------------------------


@given(
    first=st.integers(0, 255),
    size=st.one_of(st.integers(0, 300), st.sampled_from([125, 126, 65535, 65536, 70000])),
    mask=st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
)
@FUZZ
def test_pack_frame_matches_python(first: int, size: int, mask: bytes | None) -> None:
    data = PATTERN[:size]
    expected = _pack_frame_python(first, data, mask)
    assert pack_frame(first, data, mask) == expected
    if C is not None:
        assert C.encode_frame(first, memoryview(data), mask) == expected


@needs_c
def test_encode_frame_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        C.encode_frame(0x82, b"x", b"abc")
    with pytest.raises(ValueError):
        _pack_frame_python(0x82, b"x", b"abc")
    with pytest.raises(ValueError):
        C.encode_frame(256, b"x", None)


PAYLOAD_BUFFERS = [
    pytest.param(PythonPayloadBuffer, id="python"),
    pytest.param(getattr(C, "PayloadBuffer", None), id="c", marks=needs_c),
]


@pytest.mark.parametrize("buffer_class", PAYLOAD_BUFFERS)
@given(
    size=st.integers(2, 2000),  # new_payload refuses 0 and 1 (shared bytes objects)
    cuts=st.lists(st.integers(0, 2000), max_size=5),
    mask=st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
)
@FUZZ
def test_payload_buffer_filled_in_pieces_equals_whole(
    buffer_class: Any, size: int, cuts: list[int], mask: bytes | None
) -> None:
    data = PATTERN[:size]
    large = buffer_class(size, mask)
    rest = b""
    for piece in cut(data + b"tail", [min(c, size) for c in cuts] + [size]):
        pos = large.fill(memoryview(b"xy" + piece)[2:], 0)
        rest = piece[pos:]
    assert large.remaining == 0 and large.filled == size
    assert rest in (b"", b"tail")
    assert large.payload() == (data if mask is None else apply_mask(data, mask))


@given(
    size=st.integers(2, 3000),
    steps=st.lists(
        st.tuples(st.sampled_from(["fill", "read", "write-only"]), st.integers(0, 1200)),
        max_size=12,
    ),
    mask=st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
)
@FUZZ
@needs_c
def test_c_payload_buffer_steps_match_python(
    size: int, steps: list[tuple[str, int]], mask: bytes | None
) -> None:
    # Any mix of fill() and writable() + received() (and a view written to and then
    # abandoned by a fill()), in C and in Python: the same counts, bytes and errors.
    data = PATTERN[7 : 7 + size]

    def run(buffer_class: Any) -> list[Any]:
        large = buffer_class(size, mask)
        trace: list[Any] = []
        for kind, amount in steps:
            start = large.filled
            piece = data[start : start + amount]
            if kind == "fill":
                trace.append(large.fill(b"...." + piece + b"next", 4))
            else:
                view = large.writable()
                assert large.writable() is view
                trace.append(len(view))
                view[: len(piece)] = piece
                if kind == "read":
                    trace.append(large.received(len(piece)))
                    with pytest.raises(ValueError):
                        large.received(0)  # the view is gone
            trace.append((large.filled, large.remaining))
        try:
            trace.append(large.received(1))  # a view may still be out
        except ValueError:
            trace.append("no view")
        try:
            trace.append(large.payload())
        except ValueError as exc:
            trace.append(str(exc))
        return trace

    assert run(C.PayloadBuffer) == run(PythonPayloadBuffer)


@pytest.mark.parametrize("buffer_class", PAYLOAD_BUFFERS)
def test_payload_buffer_refuses_to_hand_out_an_incomplete_payload(buffer_class: Any) -> None:
    large = buffer_class(10, None)
    assert large.fill(b"12345", 0) == 5
    with pytest.raises(ValueError):
        large.payload()
    with pytest.raises(ValueError):
        large.fill(b"12345", 6)


@pytest.mark.parametrize("buffer_class", PAYLOAD_BUFFERS)
def test_payload_buffer_copies_when_a_view_of_it_outlives_it(buffer_class: Any) -> None:
    large = buffer_class(8, b"\x01\x02\x03\x04")
    view = large.writable()
    kept = view[4:]  # a view of the view: release() cannot take it back
    view[:] = b"\x01\x02\x03\x04\x01\x02\x03\x04"
    assert large.received(8) == 0
    payload = large.payload()
    assert payload == bytes(8)
    kept[0] = 0xFF  # writes into the buffer, not into what was handed out
    assert payload == bytes(8)
    with pytest.raises(ValueError):
        view[0] = 0


@pytest.mark.parametrize(
    "unmask_into",
    [
        pytest.param(_unmask_into_python, id="python"),
        pytest.param(getattr(C, "unmask_into", None), id="c", marks=needs_c),
    ],
)
def test_unmask_into_writes_in_place_and_checks_bounds(unmask_into: Any) -> None:
    dst = bytearray(10)
    unmask_into(dst, 2, b"\x00\x00\x00\x00\x00", b"\x01\x02\x03\x04", 1)
    assert dst == bytearray(b"\x00\x00\x02\x03\x04\x01\x02\x00\x00\x00")
    unmask_into(dst, 7, memoryview(b"abc"), None, 0)
    assert dst[7:] == b"abc"
    with pytest.raises(ValueError):
        unmask_into(dst, 8, b"abc", None, 0)
    with pytest.raises(ValueError):
        unmask_into(dst, -1, b"a", None, 0)


@needs_c
@pytest.mark.parametrize("size", [255, 256, 257, 287, 288, 383, 384, 415, 4099, 65536 + 13])
@pytest.mark.parametrize("at", [0, 1, 3, 5, 32])
def test_unmask_into_in_place_matches_python_around_the_wide_loop(size: int, at: int) -> None:
    # From 256 bytes the C loop may go 32 bytes at a time (AVX2), then 8, then 1:
    # every boundary, at unaligned places, in place and from another buffer.
    source = PATTERN[:size]
    for mask_offset in range(4):
        want = bytearray(size + 40)
        want[at : at + size] = source
        _unmask_into_python(want, at, source, b"\x9a\x0f\xe1\x33", mask_offset)
        copied = bytearray(size + 40)
        copied[at : at + size] = source
        C.unmask_into(copied, at, source, b"\x9a\x0f\xe1\x33", mask_offset)
        in_place = bytearray(size + 40)
        in_place[at : at + size] = source
        with memoryview(in_place) as view, view[at : at + size] as piece:
            C.unmask_into(in_place, at, piece, b"\x9a\x0f\xe1\x33", mask_offset)
        assert copied == want and in_place == want


@pytest.mark.parametrize(
    "unmask_into",
    [
        pytest.param(_unmask_into_python, id="python"),
        pytest.param(getattr(C, "unmask_into", None), id="c", marks=needs_c),
    ],
)
@pytest.mark.parametrize("size", [12, 300, 4099])
@pytest.mark.parametrize("shift", [-9, -3, 1, 3, 8, 33])
@pytest.mark.parametrize("mask", [b"\x9a\x0f\xe1\x33", None])
def test_unmask_into_from_an_overlapping_place_reads_src_as_it_was(
    unmask_into: Any, size: int, shift: int, mask: bytes | None
) -> None:
    """src a view of dst at another place: the result is src's bytes before the call
    (as the Python fallback gives), not bytes the call itself already wrote."""
    original = bytearray(PATTERN[: size + 40])
    src_at = max(-shift, 0)
    dst_at = src_at + shift
    source = bytes(original[src_at : src_at + size])
    want = bytearray(original)
    want[dst_at : dst_at + size] = source if mask is None else apply_mask(source, mask, 2)
    with memoryview(original) as view, view[src_at : src_at + size] as piece:
        unmask_into(original, dst_at, piece, mask, 2)
    assert original == want


@pytest.mark.parametrize(
    "buffer_class",
    [
        pytest.param(PythonPayloadBuffer, id="python"),
        pytest.param(getattr(C, "PayloadBuffer", None), id="c", marks=needs_c),
    ],
)
def test_payload_buffer_filled_from_a_view_of_its_own_earlier_bytes(buffer_class: Any) -> None:
    """A view kept from an earlier writable() and passed back to fill() is read as it
    was: the same payload either way."""
    mask = b"\x9a\x0f\xe1\x33"
    large = buffer_class(1000, mask)
    old = large.writable()[:600]  # a slice outlives its window
    old[:] = PATTERN[:600]
    large.received(10)
    source = bytes(old)
    assert large.fill(old, 0) == 600
    large.fill(PATTERN[:390], 0)
    payload = large.payload()
    assert payload[10:610] == apply_mask(source, mask, 10)


# -- selection -------------------------------------------------------------------------------


def load_masking_copy(monkeypatch: pytest.MonkeyPatch, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, masking.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_extensions_variable_selects_python_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSCLI_NO_EXTENSIONS", "1")
    module = load_masking_copy(monkeypatch, "_masking_no_extensions")
    assert module.SPEEDUPS is None
    assert module.HAVE_SPEEDUPS is False
    assert module.apply_mask is module._apply_mask_python
    assert module.new_payload is bytearray


def test_missing_extension_selects_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSCLI_NO_EXTENSIONS", raising=False)
    monkeypatch.setitem(sys.modules, "wscli.core._speedups", None)
    module = load_masking_copy(monkeypatch, "_masking_missing")
    assert module.SPEEDUPS is None and module.unmask_into is module._unmask_into_python


def test_protocol_uses_the_fast_parser_exactly_when_the_extension_is_in_use() -> None:
    assert Protocol.use_speedups is (C is not None)


def test_eof_in_the_middle_of_a_large_payload_releases_its_buffer() -> None:
    proto = protocol(Side.SERVER)
    wire = build_frame(Opcode.BINARY, PATTERN[: 1 << 20], mask=PEER_MASK)
    tracemalloc.start()
    try:
        proto.receive_data(wire[:300000])  # reserves the whole 1 MiB payload
        holding, _ = tracemalloc.get_traced_memory()
        proto.receive_eof()
        released, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert holding - released >= (1 << 20) - 1024  # what receive_eof itself allocates aside
    assert proto.events_received() == []


@needs_c
def test_new_payload_refuses_a_replaced_payload_type(monkeypatch: pytest.MonkeyPatch) -> None:
    # Writing a PayloadBytes' fields into another type's object would corrupt memory.
    monkeypatch.setattr(C, "PayloadBytes", tuple)
    with pytest.raises(TypeError):
        C.new_payload(1 << 20)
    monkeypatch.undo()
    assert len(C.new_payload(1 << 20)) == 1 << 20
