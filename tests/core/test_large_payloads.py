"""Large payloads read in place: ``Protocol.payload_buffer()`` and ``payload_received()``.

Once a large frame's header is parsed and a sixteenth of its payload is here, the I/O
layer may read the rest with ``sock.recv_into(proto.payload_buffer())`` and report the
count with ``payload_received(n)``, saving a copy. Whatever the peer sends, that must
give exactly the events, bytes out and close codes of feeding everything to
``receive_data``; and a peer must not make the protocol reserve memory by announcing a
length: limits refuse it before anything is allocated.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from helpers import PEER_MASK, Recorder, build_frame, cut, protocol
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wscli.core import masking
from wscli.core.frames import CloseCode, Opcode
from wscli.core.protocol import Protocol, Side, State

__all__: list[str] = []

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATTERN = bytes(range(256)) * 4100
TEXT = "h\u00e9\u20ac\U0001f600 ".encode() * 40000  # 1-4 byte sequences, cut anywhere
MIB = 1 << 20


def peer_mask(side: Side, index: int = 0) -> bytes | None:
    """A masking key for the peer of ``side``: a different one for each ``index``."""
    if side is Side.CLIENT:
        return None
    return bytes((byte + 17 * index) & 0xFF for byte in PEER_MASK)


def feed_in_place(
    proto: Protocol, pieces: list[bytes], *, into: list[int] | None = None
) -> Recorder:
    """Drive ``proto`` as the sync layer does: read into its payload buffer when it has one.

    ``pieces`` are what successive reads would return from ``receive_data``'s point of
    view; while a payload buffer is out, a read fills at most the buffer (the socket
    keeps the rest for the next read), ``into`` recording each in-place count.
    """
    recorder = Recorder(proto)
    wire = b"".join(pieces)
    bounds = [len(piece) for piece in pieces]
    pos = 0
    while pos < len(wire):
        size = bounds.pop(0) if bounds else len(wire) - pos
        size = max(1, min(size, len(wire) - pos))
        target = proto.payload_buffer()
        if target is None:
            proto.receive_data(wire[pos : pos + size])
        else:
            size = min(size, len(target))
            target[:size] = wire[pos : pos + size]
            proto.payload_received(size)
            if into is not None:
                into.append(size)
        pos += size
        recorder.collect()
    return recorder


def outcome(recorder: Recorder) -> tuple[Any, ...]:
    proto = recorder.proto
    error = None if proto.error is None else (type(proto.error), proto.error.code)
    return recorder.events, recorder.out, error, proto.close_sent, proto.state


@pytest.fixture
def reserved(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every payload buffer the protocol reserves, by size."""
    sizes: list[int] = []
    original = masking.PayloadBuffer

    def recording(size: int, mask: bytes | None) -> Any:
        sizes.append(size)
        return original(size, mask)

    monkeypatch.setattr(masking, "PayloadBuffer", recording)
    return sizes


# -- a hostile peer ---------------------------------------------------------------------


def test_announced_length_with_top_bit_set_fails_1002_without_reserving(
    reserved: list[int],
) -> None:
    # RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0.
    recorder = Recorder(protocol(Side.SERVER, max_size=None))
    recorder.receive(build_frame(Opcode.BINARY, b"x" * 100, mask=PEER_MASK, length=1 << 63))
    assert recorder.proto.error is not None
    assert recorder.proto.error.code == CloseCode.PROTOCOL_ERROR
    assert recorder.proto.payload_buffer() is None
    assert reserved == []


@pytest.mark.parametrize("length", [(1 << 63) - 1, MIB + 1, 1 << 40])
def test_announced_length_over_max_size_fails_1009_without_reserving(
    reserved: list[int], length: int
) -> None:
    recorder = Recorder(protocol(Side.SERVER, max_size=MIB))
    recorder.receive(build_frame(Opcode.BINARY, PATTERN[:200000], mask=PEER_MASK, length=length))
    assert recorder.proto.error is not None
    assert recorder.proto.error.code == CloseCode.MESSAGE_TOO_BIG
    assert recorder.out[0][0] == 0x88 and recorder.out[0][2:4] == b"\x03\xf1"  # close 1009
    assert recorder.proto.payload_buffer() is None
    assert reserved == []


def test_continuation_over_max_size_fails_1009_without_reserving(reserved: list[int]) -> None:
    recorder = Recorder(protocol(Side.SERVER, max_size=200000))
    first = build_frame(Opcode.BINARY, PATTERN[:150000], fin=False, mask=PEER_MASK)
    recorder.receive(first)
    reserved.clear()
    recorder.receive(build_frame(Opcode.CONT, PATTERN[:60000], mask=PEER_MASK, length=60000))
    assert recorder.proto.error is not None
    assert recorder.proto.error.code == CloseCode.MESSAGE_TOO_BIG
    assert reserved == []


def test_huge_length_without_a_limit_reserves_nothing_until_a_sixteenth_arrived(
    reserved: list[int],
) -> None:
    proto = protocol(Side.SERVER, max_size=None)
    proto.receive_data(build_frame(Opcode.BINARY, PATTERN[:4096], mask=PEER_MASK, length=1 << 40))
    assert proto.payload_buffer() is None
    assert reserved == []
    assert proto.events_received() == []


def test_length_then_silence_keeps_one_buffer_and_eof_drops_it() -> None:
    proto = protocol(Side.SERVER)
    wire = build_frame(Opcode.BINARY, PATTERN[:MIB], mask=PEER_MASK)
    proto.receive_data(wire[: MIB // 4])
    view = proto.payload_buffer()
    assert view is not None
    assert len(view) == len(wire) - MIB // 4  # the rest of the payload, not one byte more
    assert proto.payload_buffer() is view  # asked again: the same view, nothing new
    proto.receive_eof()
    assert proto.payload_buffer() is None
    assert proto.events_received() == []


def test_view_is_released_once_the_payload_is_handed_out() -> None:
    payload = PATTERN[:300000]
    wire = build_frame(Opcode.BINARY, payload, mask=PEER_MASK)
    proto = protocol(Side.SERVER)
    proto.receive_data(wire[:100000])
    view = proto.payload_buffer()
    assert view is not None
    view[:] = wire[100000:]
    proto.payload_received(len(view))
    [message] = proto.events_received()
    assert message.data == payload
    assert type(message.data) is bytes
    with pytest.raises(ValueError):
        view[0] = 0  # a stale view can never change the bytes handed out
    assert message.data == payload


def test_payload_received_refuses_more_than_the_view_holds() -> None:
    wire = build_frame(Opcode.BINARY, PATTERN[:300000], mask=PEER_MASK)
    proto = protocol(Side.SERVER)
    proto.receive_data(wire[:100000])
    view = proto.payload_buffer()
    assert view is not None
    with pytest.raises(ValueError):
        proto.payload_received(len(view) + 1)


def test_each_frame_is_unmasked_with_its_own_mask() -> None:
    proto = protocol(Side.SERVER)
    first, second = PATTERN[:200000], PATTERN[1000:300000]
    wire = build_frame(Opcode.BINARY, first, fin=False, mask=b"\x01\x02\x03\x04")
    wire += build_frame(Opcode.CONT, second, mask=b"\xf0\x0f\xaa\x55")
    wire += build_frame(Opcode.BINARY, second, mask=b"\x00\x00\x00\x00")
    into: list[int] = []
    recorder = feed_in_place(proto, cut(wire, range(30000, len(wire), 70001)), into=into)
    assert [event.data for event in recorder.events] == [first + second, second]
    assert into  # some of it went in place


def test_close_received_while_a_view_is_out_discards_it() -> None:
    proto = protocol(Side.SERVER)
    wire = build_frame(Opcode.BINARY, PATTERN[:MIB], mask=PEER_MASK)
    proto.receive_data(wire[: MIB // 2])
    view = proto.payload_buffer()
    assert view is not None
    proto.fail(CloseCode.POLICY_VIOLATION, "going")
    assert proto.payload_buffer() is None
    view[:1000] = wire[MIB // 2 : MIB // 2 + 1000]
    proto.payload_received(1000)  # read before the I/O layer knew: ignored
    assert proto.events_received() == []
    assert proto.state is not State.OPEN


def test_large_text_frames_take_the_validating_path() -> None:
    # Text frames are validated as they arrive, so they take the copying path; the
    # differential tests below check that both give the same result.
    proto = protocol(Side.SERVER)
    wire = build_frame(Opcode.TEXT, TEXT[:200000], mask=PEER_MASK)
    proto.receive_data(wire[:100000])
    assert proto.payload_buffer() is None


# -- in place or not, the same result ---------------------------------------------------


@st.composite
def streams(draw: st.DrawFn, side: Side) -> bytes:
    """Frames a peer sends: large and small, whole and fragmented, text and binary."""
    wire = b""
    for index in range(draw(st.integers(1, 4))):
        mask = peer_mask(side, index)
        kind = draw(st.sampled_from(["large", "large", "fragmented", "text", "small", "ping"]))
        start = draw(st.integers(0, 4000))
        size = draw(st.sampled_from([65535, 65536, 70000, 131072, 300000]))
        if kind == "large":
            wire += build_frame(Opcode.BINARY, PATTERN[start : start + size], mask=mask)
        elif kind == "fragmented":
            opcode = draw(st.sampled_from([Opcode.BINARY, Opcode.TEXT]))
            source = TEXT if opcode == Opcode.TEXT else PATTERN
            sizes = draw(st.lists(st.sampled_from([1, 100, 65536, 100000]), min_size=1, max_size=3))
            pos = start
            for number, part in enumerate(sizes):
                last = number == len(sizes) - 1
                wire += build_frame(
                    opcode if number == 0 else Opcode.CONT,
                    source[pos : pos + part],
                    fin=last,
                    mask=peer_mask(side, index + number),
                )
                pos += part
                if not last and draw(st.booleans()):
                    wire += build_frame(Opcode.PING, b"between", mask=mask)
        elif kind == "text":
            payload = TEXT[start : start + size]
            if draw(st.booleans()):
                # Invalid UTF-8 somewhere in a large text frame: 1007 either way.
                at = draw(st.integers(0, len(payload) - 1))
                payload = payload[:at] + b"\xc0" + payload[at + 1 :]
            wire += build_frame(Opcode.TEXT, payload, mask=mask)
        elif kind == "small":
            wire += build_frame(Opcode.BINARY, PATTERN[start : start + 100], mask=mask)
        else:
            wire += build_frame(Opcode.PING, b"hi", mask=mask)
    if draw(st.booleans()):
        wire += build_frame(Opcode.CLOSE, b"\x03\xe8", mask=peer_mask(side))
    return wire


@given(side=st.sampled_from([Side.SERVER, Side.CLIENT]), data=st.data())
@FUZZ
def test_reading_in_place_gives_what_receive_data_gives(side: Side, data: st.DataObject) -> None:
    wire = data.draw(streams(side))
    max_size = data.draw(st.sampled_from([None, MIB, 200000, 70000]))
    seed = data.draw(st.integers(0, 2**32))
    rng = random.Random(seed)
    offsets = sorted(rng.randrange(len(wire)) for _ in range(rng.randrange(1, 40)))
    pieces = cut(wire, offsets)
    copied = Recorder(protocol(side, max_size=max_size)).receive_pieces(pieces)
    into: list[int] = []
    in_place = feed_in_place(protocol(side, max_size=max_size), pieces, into=into)
    assert outcome(in_place) == outcome(copied)
    event("read in place" if into else "copied only")
    whole = Recorder(protocol(side, max_size=max_size)).receive_pieces([wire])
    assert outcome(whole) == outcome(copied)


@pytest.mark.parametrize("side", [Side.SERVER, Side.CLIENT])
def test_one_mebibyte_arrives_mostly_in_place(side: Side) -> None:
    payload = PATTERN[:MIB]
    wire = build_frame(Opcode.BINARY, payload, mask=peer_mask(side))
    into: list[int] = []
    recorder = feed_in_place(protocol(side), cut(wire, range(0, len(wire), 65536)), into=into)
    [message] = recorder.events
    assert message.data == payload
    assert sum(into) >= MIB * 7 // 8 - 65536


def feed_from_one_buffer(proto: Protocol, pieces: list[bytes]) -> Recorder:
    """Feed each piece through one reused buffer, scribbled over after each call.

    That is what the reactor does with its read buffer: nothing the protocol hands
    out, or keeps, may still point into it.
    """
    recorder = Recorder(proto)
    buffer = bytearray(max((len(piece) for piece in pieces), default=1))
    with memoryview(buffer) as view:
        for piece in pieces:
            buffer[: len(piece)] = piece
            proto.receive_data(view[: len(piece)])
            buffer[:] = b"\xee" * len(buffer)
            recorder.collect()
    return recorder


@given(side=st.sampled_from([Side.SERVER, Side.CLIENT]), data=st.data())
@FUZZ
def test_the_callers_buffer_is_not_kept(side: Side, data: st.DataObject) -> None:
    wire = data.draw(streams(side))
    small = [build_frame(Opcode.BINARY, bytes([n]) * n, mask=peer_mask(side)) for n in range(50)]
    wire = b"".join(small[:10]) + wire + b"".join(small[10:])
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    offsets = sorted(rng.randrange(len(wire)) for _ in range(rng.randrange(1, 60)))
    pieces = cut(wire, offsets)
    copied = Recorder(protocol(side)).receive_pieces(pieces)
    reused = feed_from_one_buffer(protocol(side), pieces)
    assert outcome(reused) == outcome(copied)


def test_client_masks_large_payloads_into_one_reused_buffer_without_corrupting_any() -> None:
    # Each chunk from data_to_send() is written and dropped before the next send, as
    # the I/O layer does; frames still queued must keep their bytes.
    client = Protocol(Side.CLIENT, make_mask=lambda: b"\x11\x22\x33\x44")
    server = protocol(Side.SERVER, max_size=None)
    payloads = [PATTERN[n : n + 100000] for n in range(0, 6)]
    received: list[Any] = []
    queued: list[bytes] = []
    for number, payload in enumerate(payloads):
        client.send_binary(payload)
        if number % 2:
            queued += client.data_to_send()  # held across the next send
            continue
        for chunk in queued + client.data_to_send():
            server.receive_data(bytes(chunk))
        queued = []
        received += server.events_received()
    for chunk in queued:
        server.receive_data(bytes(chunk))
    received += server.events_received()
    assert [event.data for event in received] == payloads
