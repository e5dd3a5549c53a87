"""Blocking calls made on the thread that would have to end the wait.

A listener runs on its connection's reactor thread. If it calls ``recv()``,
``wait_closed()``, ``wait_open()`` or a ping's ``wait()`` on that connection and has to
wait, nothing can ever end the wait: the thread that would read the message or the
pong, see the close or finish the handshake is the one waiting, and every other
connection of that reactor stops too.
Those calls refuse at once with ``InvalidState`` instead.
"""

from __future__ import annotations

import queue
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT


@pytest.mark.parametrize("call", ["recv", "wait_closed", "wait_open", "ping"])
def test_a_wait_on_the_connections_own_reactor_thread_is_refused_at_once(call: str) -> None:
    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", lambda ws, request: ws.send("first"))
    outcome: queue.Queue[Any] = queue.Queue()
    client = wscli.WebSocket(server.url)

    def on_message(data: Any, flags: Any) -> None:
        try:
            if call == "recv":
                outcome.put(client.recv(timeout=TIMEOUT))
            elif call == "wait_closed":
                outcome.put(client.wait_closed(timeout=TIMEOUT))
            elif call == "ping":
                outcome.put(client.ping().wait(TIMEOUT))
            else:
                outcome.put(client.wait_open(timeout=TIMEOUT))
        except BaseException as exc:
            outcome.put(exc)

    client.on("message", on_message)
    try:
        result = outcome.get(timeout=TIMEOUT)
        if call == "wait_open":
            assert result is None  # already open: nothing to wait for
        else:
            assert isinstance(result, wscli.InvalidState), result
        # The reactor was not held: the connection still works.
        client.send("still here")
        with wscli.connect(server.url, open_timeout=TIMEOUT) as other:
            assert other.recv(TIMEOUT) == "first"
    finally:
        client.close()
        server.close(timeout=TIMEOUT)
