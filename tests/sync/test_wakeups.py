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

import wscli
from wscli.core.sync import wakeups

from .test_faults import Accepted, RawClient, assert_echoes, client_frame, serving, wait_for

__all__: list[str] = []

needs_lowat = pytest.mark.skipif(not wakeups._SUPPORTED, reason="SO_RCVLOWAT: Linux 5.10+")
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


def start_large_frame(server: wscli.Server) -> tuple[RawClient, wscli.WebSocket, bytes, bytes]:
    """Connect, send the first quarter of a 1 MiB binary frame (the mark is then about
    768 KiB), and return the client, the server's end, the frame's rest and payload."""
    accepted = Accepted(server)
    client = RawClient(server.port).upgrade()
    ws = accepted.next_open()
    payload = bytes(range(256)) * (MIB // 256)
    wire = client_frame(0x2, payload)
    client.send(wire[: MIB // 4])
    assert wait_for(lambda: ws._lowat > 1)  # the rest awaited under the mark
    return client, ws, wire[MIB // 4 :], payload


@needs_lowat
def test_close_from_the_application_mid_payload_goes_out_and_times_out() -> None:
    """The peer stops in a large frame: our close still leaves at once, and close_timeout
    still drops a peer that never finishes the frame (nothing waits for the mark)."""
    with serving(close_timeout=0.5) as server:
        closes: list[int] = []
        server.on("connection", lambda ws, req: ws.on("close", lambda c, r: closes.append(c)))
        client, ws, _, _ = start_large_frame(server)
        with client:
            ws.close(1000, "bye")
            assert client.read_close() == 1000
            client.wait_eof()
        assert wait_for(lambda: closes == [1006])
        assert_echoes(server)


@needs_lowat
def test_keepalive_timeout_mid_payload_fails_the_connection() -> None:
    with serving(ping_interval=0.2, ping_timeout=0.3, close_timeout=0.5) as server:
        client, ws, _, _ = start_large_frame(server)
        with client:
            assert client.read_frame()[0] == 0x9  # the keepalive ping
            assert client.read_close() == 1011  # its pong cannot come before the frame ends
            client.wait_eof()
        assert_echoes(server)


@needs_lowat
def test_rest_of_payload_and_next_messages_in_one_segment_all_arrive() -> None:
    """The mark is lowered as the payload completes; what came behind it in the same
    segment is read without waiting for more."""
    with serving() as server:
        client, ws, rest, payload = start_large_frame(server)
        with client:
            client.send(rest + client_frame(0x1, b"next") + client_frame(0x9, b"p"))
            assert client.read_frame() == (0x2, payload)
            # The pong is the protocol's own answer, queued as the ping is read: it
            # may leave before the listener's echo of the message ahead of it.
            assert sorted([client.read_frame(), client.read_frame()]) == [
                (0x1, b"next"),
                (0xA, b"p"),
            ]
            assert ws.ready_state == ws.OPEN
        assert_echoes(server)


@needs_lowat
def test_pause_and_resume_mid_payload() -> None:
    with serving() as server:
        client, ws, rest, payload = start_large_frame(server)
        with client:
            ws.pause()
            client.send(rest + client_frame(0x1, b"next"))
            time.sleep(0.1)
            ws.resume()
            assert client.read_frame() == (0x2, payload)
            assert client.read_frame() == (0x1, b"next")
        assert_echoes(server)


@needs_lowat
def test_a_receive_buffer_smaller_than_the_mark_still_wakes_the_reader() -> None:
    """SO_RCVBUF set by the application caps the buffer below what the mark asks: the
    kernel must still report the socket readable (its window closes), or nothing moves."""
    with serving() as server:
        server.on(
            "connection",
            lambda ws, req: ws._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536),
        )
        client, ws, rest, payload = start_large_frame(server)
        with client:
            client.send(rest)
            assert client.read_frame() == (0x2, payload)
        assert_echoes(server)


@pytest.mark.parametrize(
    ("release", "supported"),
    [
        ("4.20.0", False),
        ("5.4.0-42-generic", False),
        ("5.9.16", False),
        ("5.10.0-28-amd64", True),
        ("6.18.44-fc-v509", True),
        ("weird", False),
    ],
)
def test_the_mark_is_used_only_where_the_kernel_cannot_stall_on_it(
    monkeypatch: pytest.MonkeyPatch, release: str, supported: bool
) -> None:
    """Before Linux 5.10 a mark the receive buffer cannot reach (small segments, whose
    overhead fills it first) closed the window without waking the reader: a peer
    sending a large message over a small-MSS path stalled for good."""
    monkeypatch.setattr(wakeups.sys, "platform", "linux")
    uname = wakeups.os.uname()
    fake = type(uname)((*uname[:2], release, *uname[3:]))
    monkeypatch.setattr(wakeups.os, "uname", lambda: fake)
    assert wakeups._supported() is supported
