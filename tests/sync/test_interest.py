"""What a connection's socket is watched for, after every round of I/O.

``Connection._events_handled`` (the end of every read) takes a shortcut in the steady
state (open, reading, nothing to write): these tests flip each condition it checks,
alone and without the call that normally follows the flip, and check the socket's
watch after the next round.
"""

from __future__ import annotations

import queue
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wscli.core.protocol import Protocol, Side
from wscli.core.sync.connection import Connection
from wscli.core.sync.reactor import EVENT_READ, EVENT_WRITE, Reactor

from .conftest import TIMEOUT


@pytest.fixture
def served() -> Iterator[tuple[Connection, socket.socket, Reactor]]:
    """An open server-side connection on a socketpair, served by its own reactor."""
    reactor = Reactor("test-interest").start()
    ours, peer = socket.socketpair()
    connection = Connection(ours, Protocol(Side.SERVER), reactor, write_limit=16)
    on_reactor(reactor, connection._start)
    try:
        yield connection, peer, reactor
    finally:
        on_reactor(reactor, connection.terminate)
        reactor.stop(TIMEOUT)
        peer.close()


def on_reactor(reactor: Reactor, call: Callable[[], Any]) -> Any:
    """Run ``call`` on the reactor thread and return what it returned."""
    done: queue.Queue[Any] = queue.Queue()
    reactor.call_soon(lambda: done.put(call()))
    return done.get(timeout=TIMEOUT)


def watched_after_a_round(connection: Connection, reactor: Reactor) -> int:
    def round_then_watch() -> int:
        connection._events_handled()
        return reactor.watched(connection._sock)

    return int(on_reactor(reactor, round_then_watch))


@pytest.mark.parametrize(
    ("name", "holding"),
    [
        ("_paused", True),
        ("_queue_paused", True),
        ("_paused_for", {object()}),
        ("_reading", False),
    ],
)
def test_a_flag_that_holds_reading_takes_effect_at_the_next_round(
    served: tuple[Connection, socket.socket, Reactor], name: str, holding: Any
) -> None:
    connection, _, reactor = served
    assert watched_after_a_round(connection, reactor) == EVENT_READ
    steady = getattr(connection, name)
    setattr(connection, name, holding)  # flipped without its own _update_interest call
    assert watched_after_a_round(connection, reactor) == 0
    setattr(connection, name, steady)
    assert watched_after_a_round(connection, reactor) == EVENT_READ


def test_reactor_output_past_write_limit_stops_reading_and_watches_writes(
    served: tuple[Connection, socket.socket, Reactor],
) -> None:
    connection, peer, reactor = served
    size = 4 * 2**20  # more than the socketpair takes at once; write_limit is 16

    def queue_a_reply() -> None:
        with connection._lock:
            connection._out.queue([b"x" * size], from_reactor=True)

    on_reactor(reactor, queue_a_reply)
    assert watched_after_a_round(connection, reactor) == EVENT_WRITE
    received = 0
    peer.settimeout(TIMEOUT)
    while received < size:
        received += len(peer.recv(size))  # the reactor writes the rest meanwhile
    assert watched_after_a_round(connection, reactor) == EVENT_READ
