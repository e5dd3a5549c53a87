"""receive_data's per-message path: the C parser straight from the caller's bytes.

Where it stops (a control frame, a fragment, an incomplete frame), the general parser
goes on from there: the events, the output and what is kept must be the same as with
the pure-Python parser, and nothing may keep a reference to the caller's buffer.
"""

from __future__ import annotations

import pytest
from helpers import PEER_MASK, build_frame, protocol

from wscli.core.events import Message, Ping
from wscli.core.frames import Opcode
from wscli.core.protocol import Side
from wscli.core.reader import _parse_frames

pytestmark = pytest.mark.skipif(_parse_frames is None, reason="the C extension is not in use")


def frame(opcode: int, payload: bytes, **options: object) -> bytes:
    return build_frame(opcode, payload, mask=PEER_MASK, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_frames_the_c_parser_stops_at_are_parsed_after_it(fast: bool, kind: type) -> None:
    whole = frame(Opcode.BINARY, b"one") + frame(Opcode.BINARY, b"two")
    ping = frame(Opcode.PING, b"hi")
    first = frame(Opcode.TEXT, b"frag", fin=False)
    last = frame(Opcode.CONT, b"ment" * 50)
    proto = protocol(Side.SERVER)
    proto.use_speedups = fast
    buffer = bytearray(whole + ping + first + last[:5])
    proto.receive_data(kind(buffer) if kind is not bytes else bytes(buffer))
    buffer[:] = bytes(len(buffer))  # the caller reuses its buffer: nothing may see it
    events = proto.events_received()
    assert [type(event) for event in events] == [Message, Message, Ping]
    assert [event.data for event in events] == [b"one", b"two", b"hi"]
    assert proto.data_to_send() == [b"\x8a\x02hi"]  # the pong
    proto.receive_data(last[5:] + frame(Opcode.BINARY, b"three"))
    events = proto.events_received()
    assert [event.data for event in events] == ["frag" + "ment" * 50, b"three"]
    assert proto.error is None


@pytest.mark.parametrize("kind", [bytes, memoryview])
def test_an_incomplete_frame_after_whole_ones_is_kept_and_completed(kind: type) -> None:
    tail = frame(Opcode.BINARY, b"y" * 200)
    data = frame(Opcode.BINARY, b"a") + tail[:7]
    proto = protocol(Side.SERVER)
    buffer = bytearray(data)
    proto.receive_data(kind(buffer) if kind is memoryview else bytes(buffer))
    buffer[:] = bytes(len(buffer))
    assert [event.data for event in proto.events_received()] == [b"a"]
    proto.receive_data(tail[7:])
    assert [event.data for event in proto.events_received()] == [b"y" * 200]
    assert proto.error is None
