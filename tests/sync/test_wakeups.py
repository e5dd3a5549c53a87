"""One wake-up per large payload: the socket's SO_RCVLOWAT while its rest is awaited.

The mark must go back to 1 once the payload is whole, and it must never hold a
message, an EOF or a reset back: a peer that drips a large frame, or vanishes in the
middle of one, is served exactly as without it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from wscli.core.sync import wakeups

from .test_faults import Accepted, RawClient, assert_echoes, client_frame, serving

__all__: list[str] = []

needs_lowat = pytest.mark.skipif(not wakeups._SUPPORTED, reason="SO_RCVLOWAT: Linux 4.20+")
MIB = 1 << 20


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        yield client, server


def lowat(sock: socket.socket) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)


@needs_lowat
def test_mark_follows_the_missing_bytes_then_returns_to_one(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    _, sock = tcp_pair
    assert wakeups.initial_lowat(sock) == 1
    assert wakeups.set_lowat(sock, 1, 500000) == 500000
    assert lowat(sock) == 500000
    assert wakeups.set_lowat(sock, 500000, 64 * MIB) == wakeups.LOWAT_LIMIT
    assert lowat(sock) == wakeups.LOWAT_LIMIT
    assert wakeups.set_lowat(sock, wakeups.LOWAT_LIMIT, 0) == 1
    assert lowat(sock) == 1


def test_sockets_that_ignore_the_mark_are_left_alone() -> None:
    a, b = socket.socketpair()  # Unix: poll ignores the mark
    with a, b:
        assert wakeups.initial_lowat(a) == 0
        assert wakeups.set_lowat(a, 0, 500000) == 0
        assert lowat(a) == 1


@pytest.mark.parametrize("pieces", [2, 7])
def test_large_message_dripped_in_pieces_is_echoed_whole(pieces: int) -> None:
    payload = bytes(range(256)) * (MIB // 256)
    wire = client_frame(0x2, payload)
    with serving() as server:
        accepted = Accepted(server)
        client = RawClient(server.port).upgrade()
        ws = accepted.next_open()
        step = len(wire) // pieces + 1
        for start in range(0, len(wire), step):
            client.send(wire[start : start + step])
            time.sleep(0.02)
        assert client.read_frame() == (0x2, payload)
        # Whole again: the next small message wakes the server at once.
        client.send(client_frame(0x1, b"small"))
        assert client.read_frame() == (0x1, b"small")
        assert ws.ready_state == ws.OPEN
        client.close()
        accepted.next_close()
        assert_echoes(server)


@pytest.mark.parametrize("how", ["reset", "half-close"])
def test_peer_vanishing_in_a_large_payload_is_seen_at_once(how: str) -> None:
    with serving() as server:
        accepted = Accepted(server)
        client = RawClient(server.port).upgrade()
        ws = accepted.next_open()
        client.send(client_frame(0x2, b"x" * MIB)[: MIB // 4])  # the mark is now ~768 KiB
        time.sleep(0.05)
        if how == "reset":
            client.reset()
        else:
            client.half_close()
        closed, code = accepted.next_close()
        assert closed is ws and code == 1006
        if how == "half-close":
            client.wait_eof()
            client.close()
        assert_echoes(server)
