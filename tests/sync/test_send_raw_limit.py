"""``send_raw()`` under a peer that reads nothing: crafted frames stop at ``write_limit``.

The peer is a raw socket that upgrades and never reads again, with a small receive
window, so the bytes written pile up on the sender's side: what bounds them there is the
library's ``write_limit``, for raw frames as for messages.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator

import pytest

import wscli

from .conftest import TIMEOUT
from .test_faults import Accepted
from .test_owners import StuckClient

LIMIT = 64 * 1024
PAYLOAD = b"x" * 16384
#: An unmasked binary frame (the server's side sends it), valid on purpose: the point
#: here is the buffer, not what the peer makes of the bytes.
FRAME = b"\x82\x7e" + struct.pack("!H", len(PAYLOAD)) + PAYLOAD


@pytest.fixture
def stuck() -> Iterator[tuple[StuckClient, wscli.WebSocket]]:
    server = wscli.Server("127.0.0.1", 0, write_limit=LIMIT, close_timeout=0.5)
    accepted = Accepted(server)
    try:
        with StuckClient(server.port or 0) as client:
            client.upgrade()  # and reads nothing more until a test says so
            yield client, accepted.next_open()
    finally:
        server.close(timeout=TIMEOUT)


def fill(ws: wscli.WebSocket, timeout: float | None = 0) -> TimeoutError:
    """send_raw() until it refuses; return the error. 2,048 frames is 32 MiB, well past
    what the kernel buffers for the stuck peer."""
    for _ in range(2048):
        try:
            ws.send_raw(FRAME, timeout=timeout)
        except TimeoutError as exc:
            return exc
        assert ws.buffered_amount <= LIMIT + len(FRAME)
    raise AssertionError("send_raw() queued 32 MiB for a peer that reads nothing")


def test_send_raw_refuses_at_write_limit_by_default(
    stuck: tuple[StuckClient, wscli.WebSocket],
) -> None:
    _, ws = stuck
    error = fill(ws)
    assert "write_limit" in str(error)
    assert ws.buffered_amount <= LIMIT + len(FRAME)
    assert ws.ready_state == wscli.WebSocket.OPEN  # refused, not failed: it may retry


def test_send_raw_timeout_bounds_the_wait_at_the_limit(
    stuck: tuple[StuckClient, wscli.WebSocket],
) -> None:
    _, ws = stuck
    fill(ws)
    with pytest.raises(TimeoutError, match="after 0.2 seconds"):
        ws.send_raw(FRAME, timeout=0.2)


def test_send_raw_waits_until_the_peer_reads_again(
    stuck: tuple[StuckClient, wscli.WebSocket],
) -> None:
    client, ws = stuck
    fill(ws)
    last = b"\x82\x04last"
    seen: list[bytes] = []

    def drain() -> None:
        while True:
            opcode, payload = client.read_frame()
            if payload == b"last":
                seen.append(payload)
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    ws.send_raw(last, timeout=TIMEOUT)  # returns once the buffer fell back under the limit
    reader.join(TIMEOUT)
    assert seen == [b"last"]
