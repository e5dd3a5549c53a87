"""``/pause`` and output back-pressure hold a connection's reading for separate reasons.

The terminal catching up releases only its own hold: a connection the user paused
stays paused until ``/resume``, and the other way round.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import wscli
from wscli.commands import Peer
from wscli.output import Printer
from wscli.repl import Repl, standard_commands

from .conftest import TIMEOUT, ScriptedServer


def _printer() -> Printer:
    return Printer(status_lines=True, stdout=io.StringIO(), stderr=io.StringIO())


def test_output_catching_up_does_not_undo_pause(server: ScriptedServer) -> None:
    printer = _printer()
    ws = wscli.connect(server.url)
    try:
        peer = Peer(ws, printer)
        repl = Repl(printer, standard_commands(printer, lambda: [peer]), peer.send)
        assert repl.dispatch("/pause") and ws.is_paused
        peer.hold("output")  # the terminal fell behind…
        peer.release("output")  # …and caught up
        assert ws.is_paused, "the terminal catching up resumed a connection the user paused"
        peer.hold("output")
        assert repl.dispatch("/resume")
        assert ws.is_paused, "/resume read on while the terminal is still behind"
        peer.release("output")
        assert not ws.is_paused
    finally:
        ws.close()
        ws.wait_closed(TIMEOUT)


class _SlowResumeWebSocket:
    """Enough of a WebSocket for a Peer; ``resume()`` stalls until told to go on."""

    def __init__(self) -> None:
        self.paused = False
        self.in_resume = threading.Event()
        self.go = threading.Event()
        self.url = "ws://test"
        self.remote_address = None

    def on(self, name: str, listener: Any) -> _SlowResumeWebSocket:
        return self

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.in_resume.set()
        self.go.wait(TIMEOUT)
        self.paused = False


def test_hold_racing_the_last_release_leaves_the_connection_paused() -> None:
    """The last release and a new hold on two threads: the flag ends as the holds say."""
    ws = _SlowResumeWebSocket()
    peer = Peer(ws, _printer())  # type: ignore[arg-type]
    peer.hold("user")
    releasing = threading.Thread(target=peer.release, args=("user",))
    releasing.start()
    assert ws.in_resume.wait(TIMEOUT)
    holding = threading.Thread(target=peer.hold, args=("output",))
    holding.start()
    holding.join(0.2)  # long enough for a hold that does not wait for the release
    ws.go.set()
    releasing.join(TIMEOUT)
    holding.join(TIMEOUT)
    assert not releasing.is_alive() and not holding.is_alive()
    assert ws.paused, "reading resumed while the output hold was in place"
