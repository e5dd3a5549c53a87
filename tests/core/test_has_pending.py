"""``Protocol.has_pending``: an attribute the protocol keeps, asked after every read."""

from __future__ import annotations

import pytest
from helpers import PEER_MASK, build_frame, protocol

from wscli.core.frames import Opcode
from wscli.core.protocol import Side, State

MESSAGE = build_frame(Opcode.BINARY, b"first", mask=PEER_MASK)
CLOSE = build_frame(Opcode.CLOSE, b"\x03\xe8", mask=PEER_MASK)
VIOLATION = build_frame(0x3, b"", mask=PEER_MASK)  # a reserved opcode


@pytest.mark.parametrize("follower", [CLOSE, VIOLATION], ids=["close", "violation"])
def test_what_waits_behind_a_message_is_pending_until_handled(follower: bytes) -> None:
    proto = protocol(Side.SERVER)
    assert not proto.has_pending
    proto.receive_data(MESSAGE + follower)
    assert proto.has_pending and proto.state is State.OPEN
    proto.handle_pending()  # the message is not collected yet: still waits
    assert proto.has_pending
    assert [event.data for event in proto.events_received()] == [b"first"]
    proto.handle_pending()
    assert not proto.has_pending and proto.state is State.CLOSING


def test_a_held_close_is_pending_and_eof_applies_it() -> None:
    proto = protocol(Side.SERVER)
    proto.hold_failures = True  # the application has not handled earlier messages
    proto.receive_data(CLOSE)
    assert proto.has_pending and proto.close_rcvd is None
    proto.receive_eof()
    assert not proto.has_pending and proto.close_rcvd is not None


def test_nothing_is_pending_when_nothing_waits() -> None:
    proto = protocol(Side.SERVER)
    proto.receive_data(CLOSE)
    assert not proto.has_pending and proto.state is State.CLOSING
