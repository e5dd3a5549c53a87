"""Keepalive while the application holds reading.

A connection that is not read cannot see the pong that answers its keepalive ping. When
the application chose that (``pause()``, or a full ``recv()`` queue it does not read),
or another connection's slow reader holds it (a relay), a late pong says nothing about
the peer: the connection must not be failed with 1011 for it. A peer that stops
reading what we send is another matter: that pause is the peer's doing, and keepalive
still ends it.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import wscli

from .conftest import TIMEOUT
from .test_faults import RawClient

#: Keepalive rounds come often, so many of them pass while reading is held...
PING_INTERVAL = 0.05
#: ...but a pong gets long enough to cross loopback on a busy machine once reading resumes.
PING_TIMEOUT = 0.25
#: How long reading is held: several ping timeouts, each of which used to fail the connection.
HOLD = 4 * PING_TIMEOUT


def test_paused_connection_is_not_failed_by_its_keepalive() -> None:
    server = wscli.Server("127.0.0.1", 0, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
    opened: queue.Queue[wscli.WebSocket] = queue.Queue()

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        ws.pause()
        ws.on("message", lambda data, flags: ws.send(data))
        opened.put(ws)

    server.on("connection", on_connection)
    try:
        with wscli.connect(server.url) as client:
            ws = opened.get(timeout=TIMEOUT)
            # Many keepalive rounds pass while the server reads nothing.
            threading.Event().wait(HOLD)
            assert not ws.finished, f"closed with {ws.close_code}: {ws.error}"
            ws.resume()
            client.send("still here")
            assert client.recv(TIMEOUT) == "still here"
            assert ws.error is None
    finally:
        server.close(timeout=TIMEOUT)


def test_connection_with_a_full_unread_queue_is_not_failed_by_its_keepalive() -> None:
    server = wscli.Server("127.0.0.1", 0)
    server.on(
        "connection",
        lambda ws, request: [ws.send(f"m{index}") for index in range(8)],
    )
    try:
        with wscli.connect(
            server.url, max_queue=2, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT
        ) as client:
            threading.Event().wait(HOLD)  # the application reads nothing for a while
            assert [client.recv(TIMEOUT) for _ in range(8)] == [f"m{i}" for i in range(8)]
            assert not client.finished, f"closed with {client.close_code}: {client.error}"
            assert client.error is None
    finally:
        server.close(timeout=TIMEOUT)


def test_resume_racing_the_keepalive_check_gives_the_unread_pong_its_time() -> None:
    # resume() is called while the reactor thread is busy elsewhere, long enough for a
    # keepalive check to fall due: in the round that follows, the check runs before the
    # socket is read again, so the pong that waited unread during the pause is not seen
    # yet. That pong answered in time; the connection must not be failed for it.
    server = wscli.Server("127.0.0.1", 0, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
    paused: queue.Queue[wscli.WebSocket] = queue.Queue()
    blocking = threading.Event()

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        if request.path == "/paused":
            ws.pause()
            ws.on("message", lambda data, flags: ws.send(data))
            paused.put(ws)
        else:

            def block(data: Any, flags: Any) -> None:
                blocking.set()
                threading.Event().wait(3 * PING_TIMEOUT)  # holds the reactor thread

            ws.on("message", block)

    server.on("connection", on_connection)
    try:
        with (
            wscli.connect(server.url + "/paused") as client,
            wscli.connect(server.url + "/blocker") as blocker,
        ):
            ws = paused.get(timeout=TIMEOUT)
            threading.Event().wait(HOLD)  # keepalive pings go out; their pongs wait unread
            blocker.send("block")
            assert blocking.wait(TIMEOUT)
            ws.resume()  # while the reactor thread is held past a keepalive check
            client.send("still here")
            assert client.recv(TIMEOUT) == "still here"
            assert not ws.finished, f"closed with {ws.close_code}: {ws.error}"
            assert ws.error is None
    finally:
        server.close(timeout=TIMEOUT)


def test_a_silent_peer_is_still_failed_once_reading_resumes() -> None:
    # The other side of the rule above: once reading is back, a pong that does not come
    # within ping_timeout fails the connection, however long the pause was.
    server = wscli.Server(
        "127.0.0.1",
        0,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        close_timeout=PING_TIMEOUT,  # the silent peer will not answer the close either
    )
    paused: queue.Queue[wscli.WebSocket] = queue.Queue()
    closed: queue.Queue[int] = queue.Queue()

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        ws.pause()
        ws.on("close", lambda code, reason: closed.put(code))
        paused.put(ws)

    server.on("connection", on_connection)
    try:
        with RawClient(server.port).upgrade():  # reads nothing, answers no ping
            ws = paused.get(timeout=TIMEOUT)
            threading.Event().wait(HOLD)
            assert not ws.finished
            ws.resume()
            # It sent 1011; the silent peer never answers the close: the code seen is 1006.
            assert closed.get(timeout=TIMEOUT) == 1006
            assert isinstance(ws.error, TimeoutError), ws.error
            assert "keepalive" in str(ws.error)
    finally:
        server.close(timeout=TIMEOUT)
