"""``/frag N MSG`` to a peer that stopped reading never freezes the prompt.

The peer's outgoing buffer is already past ``write_limit``: the REPL says the message
was not sent and comes back at once, instead of waiting for a reader that never reads.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest

import wscli
from wscli.commands import Peer
from wscli.output import Printer
from wscli.repl import Repl, standard_commands

from .conftest import TIMEOUT


@pytest.fixture
def stalled() -> Iterator[wscli.WebSocket]:
    """A client connection whose server never reads, with its buffer past write_limit."""
    server = wscli.Server("127.0.0.1", 0, close_timeout=0.5)  # it never reads the close
    server.on("connection", lambda ws, request: ws.pause())
    ws = wscli.connect(server.url, write_limit=2**16, open_timeout=TIMEOUT, close_timeout=0.5)
    chunk = b"x" * 2**16
    for _ in range(2048):  # at most 128 MiB: far more than loopback socket buffers hold
        ws.offer(chunk)
        if ws.buffered_amount > ws.write_limit:
            break
    assert ws.buffered_amount > ws.write_limit
    try:
        yield ws
    finally:
        ws.terminate()
        server.close(timeout=TIMEOUT)


def _dispatch_in_thread(repl: Repl, line: str) -> threading.Thread:
    thread = threading.Thread(target=repl.dispatch, args=(line,), daemon=True)
    thread.start()
    thread.join(TIMEOUT)  # a hang guard, not a measure
    return thread


@pytest.mark.parametrize("never_wait", [False, True], ids=["connect", "listen"])
def test_frag_to_a_stalled_peer_returns_with_a_message(
    stalled: wscli.WebSocket, never_wait: bool
) -> None:
    err = io.StringIO()
    printer = Printer(status_lines=True, stdout=io.StringIO(), stderr=err)
    peer = Peer(stalled, printer, id=1 if never_wait else None, never_wait=never_wait)
    repl = Repl(printer, standard_commands(printer, lambda: [peer]), peer.send)
    thread = _dispatch_in_thread(repl, "/frag 3 hello there")
    assert not thread.is_alive(), "/frag blocked the prompt"
    assert "not reading" in err.getvalue(), err.getvalue()
    assert peer.stats.messages_out == 0
    # The connection is still usable: nothing half-sent holds the send side.
    assert stalled.ready_state == stalled.OPEN


def test_typed_line_to_a_stalled_server_returns_with_a_message(stalled: wscli.WebSocket) -> None:
    """``connect``'s prompt: a plain line to a server past its limit is not sent, at once."""
    from wscli.commands.session import ClientSession, ConnectConfig

    err = io.StringIO()
    printer = Printer(status_lines=True, stdout=io.StringIO(), stderr=err)
    session = ClientSession(ConnectConfig(url="ws://unused", kwargs={}), printer, interactive=True)
    session.peer = Peer(stalled, printer)
    thread = threading.Thread(target=session.send, args=("hello",), daemon=True)
    thread.start()
    thread.join(TIMEOUT)  # a hang guard, not a measure
    assert not thread.is_alive(), "a typed line blocked the prompt"
    assert "not reading" in err.getvalue(), err.getvalue()
    assert session.peer.stats.messages_out == 0


@pytest.mark.parametrize("command", ["/hex 01 02", "/b64 AAE=", "/frag 2 hi"])
def test_slash_sends_to_a_stalled_server_return_with_a_message(
    stalled: wscli.WebSocket, command: str
) -> None:
    err = io.StringIO()
    printer = Printer(status_lines=True, stdout=io.StringIO(), stderr=err)
    peer = Peer(stalled, printer)
    repl = Repl(printer, standard_commands(printer, lambda: [peer]), peer.send)
    thread = _dispatch_in_thread(repl, command)
    assert not thread.is_alive(), f"{command} blocked the prompt"
    assert "not reading" in err.getvalue(), err.getvalue()
    assert peer.stats.messages_out == 0
