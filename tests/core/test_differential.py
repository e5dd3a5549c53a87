"""Differential property test: wscli's frame parser against websockets' sans-I/O one.

Hypothesis builds byte streams of frames, valid and not (reserved bits, unknown opcodes,
long or fragmented control frames, bad close codes, broken UTF-8 split anywhere, wrong
masking, continuations out of place), and feeds the same bytes to a
:class:`wscli.core.protocol.Protocol` and to ``websockets.protocol.Protocol``. Both must
deliver the same messages, pings, pongs and close frame in the same order, and answer
with the same close code. Two independent readings of RFC 6455 that agree on thousands
of hostile streams leave few places for a parsing bug to hide.
"""

from __future__ import annotations

import codecs
from typing import Any

import pytest
from helpers import PEER_MASK, build_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wscli.core.events import Message, Ping, Pong
from wscli.core.frames import Close
from wscli.core.protocol import Protocol, Side

websockets_protocol = pytest.importorskip("websockets.protocol")
websockets_frames = pytest.importorskip("websockets.frames")

CLOSE_CODES = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1015, 999, 2999, 3000, 4999]
BAD_CLOSE_CODES = {1004, 1005, 1006, 1015, 999, 2999}
TEXT_PIECES = ["a", "é", "€", "𝄞", "\u0000", "hello"]


@st.composite
def text_bytes(draw: Any) -> bytes:
    """UTF-8 text, sometimes broken: a byte dropped, a byte changed or a surrogate."""
    data = "".join(draw(st.lists(st.sampled_from(TEXT_PIECES), max_size=6))).encode()
    damage = draw(st.sampled_from(["none", "none", "drop", "flip", "surrogate"]))
    if damage == "drop" and data:
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + data[index + 1 :]
    elif damage == "flip" and data:
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([data[index] ^ 0x40]) + data[index + 1 :]
    elif damage == "surrogate":
        data += b"\xed\xa0\x80a"  # an encoded surrogate, never valid UTF-8
    return data


@st.composite
def frame_bytes(draw: Any, masked: bool) -> bytes:
    """One frame, as the peer of the side under test would (mostly) send it."""
    kind = draw(st.sampled_from(["text", "binary", "cont", "cont", "ping", "pong", "close", "odd"]))
    fin = draw(st.booleans())
    options: dict[str, Any] = {}
    if kind == "text":
        opcode, payload = 0x1, draw(text_bytes())
    elif kind == "binary":
        opcode, payload = 0x2, draw(st.binary(max_size=20))
    elif kind == "cont":
        opcode = 0x0
        payload = draw(st.one_of(text_bytes(), st.binary(max_size=8)))
    elif kind in ("ping", "pong"):
        opcode = 0x9 if kind == "ping" else 0xA
        payload = draw(st.one_of(st.binary(max_size=8), st.binary(min_size=124, max_size=127)))
        fin = draw(st.sampled_from([True, True, True, False]))
    elif kind == "close":
        opcode, fin = 0x8, draw(st.sampled_from([True, True, True, False]))
        shape = draw(st.sampled_from(["empty", "code", "code", "short"]))
        if shape == "empty":
            payload = b""
        elif shape == "short":
            payload = b"\x03"
        else:
            code = draw(st.sampled_from(CLOSE_CODES))
            # One fault per close frame: with a bad code and a bad reason, either
            # complaint (1002 or 1007) would be right.
            reason = draw(text_bytes()) if code not in BAD_CLOSE_CODES else b"bye"
            payload = code.to_bytes(2, "big") + reason
    else:
        opcode = draw(st.sampled_from([0x3, 0x7, 0xB, 0xF]))
        payload = draw(st.binary(max_size=4))
    bits = draw(st.sampled_from(["", "", "", "", "", "rsv1", "rsv2", "rsv3"]))
    if bits:
        options[bits] = True
    if draw(st.integers(0, 19)) == 0:
        masked = not masked  # the wrong masking for this direction
    return build_frame(opcode, payload, fin=fin, mask=PEER_MASK if masked else None, **options)


def wscli_reading(side: Side, stream: bytes) -> tuple[list[Any], int | None]:
    proto = Protocol(side, max_size=None, max_fragments=None)
    proto.receive_data(stream)
    events = proto.events_received()
    proto.handle_pending()
    events += proto.events_received()
    seen: list[Any] = []
    for event in events:
        if isinstance(event, Message):
            data = event.data
            seen.append(("text", data.encode()) if isinstance(data, str) else ("binary", data))
        elif isinstance(event, (Ping, Pong)):
            seen.append(("ping" if isinstance(event, Ping) else "pong", event.data))
        elif isinstance(event, Close):
            seen.append(("close", event.code, event.reason))
    sent = proto.close_sent.code if proto.close_sent is not None else None
    return seen, sent


def websockets_reading(side: Side, stream: bytes) -> tuple[list[Any], int | None]:
    """What websockets' protocol reads, plus the UTF-8 check its I/O layer adds.

    Its sans-I/O protocol yields frames and leaves text validation to the layer that
    assembles messages; that layer decodes each text frame as it comes (an incremental
    decoder), so a bad sequence fails the connection with 1007 at that frame.
    """
    theirs = websockets_protocol.Side
    proto = websockets_protocol.Protocol(
        theirs.SERVER if side is Side.SERVER else theirs.CLIENT, max_size=None
    )
    proto.receive_data(stream)
    opcodes = websockets_frames.Opcode
    seen: list[Any] = []
    message: tuple[str, list[bytes]] | None = None
    decoder = codecs.getincrementaldecoder("utf-8")()
    for frame in proto.events_received():
        opcode = frame.opcode
        if opcode in (opcodes.TEXT, opcodes.BINARY, opcodes.CONT):
            if opcode is not opcodes.CONT:
                message = ("text" if opcode is opcodes.TEXT else "binary", [])
                decoder.reset()
            assert message is not None
            if message[0] == "text":
                try:
                    decoder.decode(frame.data, frame.fin)
                except UnicodeDecodeError:
                    return seen, 1007
            message[1].append(bytes(frame.data))
            if frame.fin:
                seen.append((message[0], b"".join(message[1])))
                message = None
        elif opcode in (opcodes.PING, opcodes.PONG):
            seen.append(("ping" if opcode is opcodes.PING else "pong", bytes(frame.data)))
        elif opcode is opcodes.CLOSE:
            close = proto.close_rcvd
            seen.append(("close", close.code, close.reason))
    sent = proto.close_sent.code if proto.close_sent is not None else None
    if str(proto.parser_exc) == "incomplete fragmented message":
        # The one difference by design: websockets fails a close frame that arrives in
        # the middle of a fragmented message (1002); wscli takes it as the close it is
        # (RFC 6455 §5.4 lets control frames come between fragments) and echoes it.
        close = proto.close_rcvd
        seen.append(("close", close.code, close.reason))
        sent = close.code
    return seen, sent


def same_reading(side: Side, data: Any) -> None:
    frames = data.draw(st.lists(frame_bytes(side is Side.SERVER), min_size=1, max_size=8))
    stream = b"".join(frames)
    assert wscli_reading(side, stream) == websockets_reading(side, stream)


SIDES = pytest.mark.parametrize("side", [Side.CLIENT, Side.SERVER], ids=["client", "server"])


@SIDES
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_stream_same_events_and_close_code_as_websockets(side: Side, data: Any) -> None:
    same_reading(side, data)


@pytest.mark.slow
@SIDES
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_stream_same_events_and_close_code_as_websockets_at_length(
    side: Side, data: Any
) -> None:
    same_reading(side, data)
