"""OutBuffer: what it writes when the socket takes all, part, or nothing of it."""

from __future__ import annotations

from typing import Any

import pytest

from wscli.core.sync.outbuffer import OutBuffer


class Socket:
    """Takes at most ``room`` bytes per call (None: all of it); records what it took."""

    def __init__(self, room: int | None = None, error: OSError | None = None) -> None:
        self.room = room
        self.error = error
        self.taken = bytearray()
        self.calls = 0
        self.shut = False

    def _take(self, data: bytes) -> int:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.room == 0:
            raise BlockingIOError
        n = len(data) if self.room is None else min(self.room, len(data))
        self.taken += data[:n]
        return n

    def send(self, data: Any) -> int:
        return self._take(bytes(data))

    def sendmsg(self, buffers: list[Any]) -> int:
        return self._take(b"".join(bytes(b) for b in buffers))

    def shutdown(self, how: int) -> None:
        self.shut = True


def test_one_chunk_the_socket_takes_whole_empties_every_count() -> None:
    out = OutBuffer()
    assert not out and not out.waiting
    out.queue([b"hello"], from_reactor=True)
    assert out and out.waiting and out.size == 5 and out.reactor_size == 5
    sock = Socket()
    assert out.write(sock, False) is None  # type: ignore[arg-type]
    assert bytes(sock.taken) == b"hello" and sock.calls == 1
    assert not out and out.size == 0 and out.reactor_size == 0


@pytest.mark.parametrize("room", [1, 3, 7])
def test_one_chunk_taken_in_parts_leaves_in_order_with_counts_and_callbacks(room: int) -> None:
    out = OutBuffer()
    done: list[object] = []
    payload = bytes(range(50))
    out.queue([payload], from_reactor=True)
    out.add_callback(done.append, 0)
    assert out.callbacks_waiting
    sock = Socket(room)
    while out:
        before = out.size
        assert out.write(sock, False) is None  # type: ignore[arg-type]
        assert out.size == before - min(room, before)
        if out:
            # Counted down by whole batches queued, once their last byte left.
            assert out.reactor_size == len(payload)
            assert out.due_callbacks() == []  # not before the last byte left
    assert bytes(sock.taken) == payload and out.reactor_size == 0
    assert out.due_callbacks() == [done.append]
    assert not out.callbacks_waiting


def test_a_socket_that_takes_nothing_keeps_everything() -> None:
    out = OutBuffer()
    out.queue([b"abc"], from_reactor=False)
    sock = Socket(0)
    assert out.write(sock, False) is None  # type: ignore[arg-type]
    assert out.waiting and out.size == 3 and out.reactor_size == 0
    sock.room = None
    out.write(sock, False)  # type: ignore[arg-type]
    assert bytes(sock.taken) == b"abc" and not out


def test_many_chunks_and_a_half_close_go_in_order() -> None:
    out = OutBuffer()
    out.queue([b"one", b"two"], from_reactor=True)
    out.queue([b"three", b""], from_reactor=False)  # b"": half-close after it
    sock = Socket(4)
    while out:
        out.write(sock, False)  # type: ignore[arg-type]
    assert bytes(sock.taken) == b"onetwothree" and sock.shut
    assert out.size == 0 and out.reactor_size == 0


def test_a_broken_socket_empties_the_buffer_and_returns_the_error() -> None:
    out = OutBuffer()
    done: list[object] = []
    out.queue([b"lost"], from_reactor=True)
    out.add_callback(done.append, 0)
    error = BrokenPipeError()
    assert out.write(Socket(error=error), False) is error  # type: ignore[arg-type]
    assert not out and out.size == 0 and out.reactor_size == 0
    assert out.clear() == [done.append] and not out.callbacks_waiting


@pytest.mark.parametrize("room", [5, 37, 4096])
def test_a_long_backlog_of_small_chunks_leaves_in_order_with_exact_reactor_counts(
    room: int,
) -> None:
    # Thousands of chunks queued in batches, some by the reactor thread, written by a
    # socket that takes a few bytes at a time: the front of the lists is dropped as
    # it goes (compaction), and nothing is lost, repeated or miscounted.
    out = OutBuffer()
    batches: list[tuple[int, int, bool]] = []  # (end offset, size, from the reactor)
    expected = bytearray()
    for n in range(1500):
        batch = [bytes([n % 251]) * (1 + n % 7) for _ in range(1 + n % 3)]
        from_reactor = n % 4 != 0
        out.queue(batch, from_reactor=from_reactor)
        expected += b"".join(batch)
        batches.append((len(expected), sum(map(len, batch)), from_reactor))
    sock = Socket(room)
    while out:
        out.write(sock, False)  # type: ignore[arg-type]
        flushed = len(sock.taken)
        assert out.size == len(expected) - flushed
        assert out.reactor_size == sum(
            size for end, size, from_reactor in batches if from_reactor and end > flushed
        )
    assert bytes(sock.taken) == bytes(expected)
    assert out.size == 0 and out.reactor_size == 0


def test_queueing_while_a_backlog_waits_keeps_order() -> None:
    out = OutBuffer()
    sock = Socket(3)
    sent = bytearray()
    for n in range(300):
        out.queue([f"<{n}>".encode()], from_reactor=n % 2 == 0)
        sent += f"<{n}>".encode()
        out.write(sock, False)  # type: ignore[arg-type]
    sock.room = None
    out.write(sock, False)  # type: ignore[arg-type]
    assert bytes(sock.taken) == bytes(sent) and not out and out.reactor_size == 0


def test_chunks_that_left_are_let_go_while_a_backlog_still_waits() -> None:
    """A slow reader keeps the queue from emptying: what it took must not stay in memory.

    Otherwise every chunk sent since the queue was last empty stays referenced and a
    peer reading slowly makes us hold far more than ``write_limit`` (the unsent bytes).
    """
    import weakref

    out = OutBuffer()
    sock = Socket(room=4096 * 3 + 100)  # takes a few chunks per write, never all
    refs: list[weakref.ref[memoryview]] = []
    for _ in range(20):
        batch = [memoryview(bytes(4096)) for _ in range(40)]
        refs.extend(weakref.ref(chunk) for chunk in batch)
        out.queue(batch, from_reactor=False)  # type: ignore[arg-type]
        del batch
        for _ in range(3):
            assert out.write(sock, False) is None  # type: ignore[arg-type]
    sent_whole = len(sock.taken) // 4096
    assert 0 < sent_whole < len(refs)  # a backlog is still waiting
    alive = [index for index, ref in enumerate(refs[:sent_whole]) if ref() is not None]
    assert alive == []
    assert all(ref() is not None for ref in refs[sent_whole + 1 :])  # unsent: kept


@pytest.mark.parametrize("seed", range(4))
def test_reactor_counts_stay_exact_as_batches_mix_and_the_buffer_empties(seed: int) -> None:
    # Reactor output queued into an empty buffer gets its mark only once another batch
    # joins it (the per-message case never makes one): whatever comes next, user
    # output, more reactor output or a write that empties the buffer, reactor_size
    # is what it was with a mark per batch, counted down as each batch's last byte left.
    import random

    rng = random.Random(seed)
    out = OutBuffer()
    sock = Socket()
    batches: list[tuple[int, int, bool]] = []  # (end offset, size, from the reactor)
    expected = bytearray()
    for n in range(2000):
        if rng.random() < 0.5:
            batch = [bytes([n % 251]) * rng.randint(1, 9) for _ in range(rng.randint(1, 3))]
            from_reactor = rng.random() < 0.7
            out.queue(batch, from_reactor=from_reactor)
            expected += b"".join(batch)
            batches.append((len(expected), sum(map(len, batch)), from_reactor))
        else:
            sock.room = rng.choice([None, 0, 1, 4, 13])
            out.write(sock, False)  # type: ignore[arg-type]
        flushed = len(sock.taken)
        assert out.size == len(expected) - flushed
        assert out.waiting == (flushed < len(expected))
        assert out.reactor_size == sum(
            size for end, size, from_reactor in batches if from_reactor and end > flushed
        )
    sock.room = None
    out.write(sock, False)  # type: ignore[arg-type]
    assert bytes(sock.taken) == bytes(expected)
    assert out.size == 0 and out.reactor_size == 0 and not out


def test_an_unmarked_batch_followed_by_user_output_counts_down_when_it_left() -> None:
    out = OutBuffer()
    out.queue([b"pong!"], from_reactor=True)  # into an empty buffer: no mark yet
    out.queue([b"user"], from_reactor=False)
    sock = Socket(3)
    out.write(sock, False)  # type: ignore[arg-type]
    assert out.reactor_size == 5  # the reactor batch has not all left
    out.write(sock, False)  # type: ignore[arg-type]
    assert out.reactor_size == 0 and out.size == 3  # it has; the user's bytes wait
    sock.room = None
    out.write(sock, False)  # type: ignore[arg-type]
    assert bytes(sock.taken) == b"pong!user" and not out
