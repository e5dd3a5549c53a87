"""The REPL's ``/frame``: one raw frame as typed, valid or not, on a real connection."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

import wscli
from wscli.commands import Peer
from wscli.output import Printer
from wscli.repl import Repl, standard_commands

from .conftest import TIMEOUT, ScriptedServer


@pytest.fixture
def session(server: ScriptedServer) -> Iterator[tuple[Repl, Peer, io.StringIO]]:
    err = io.StringIO()
    printer = Printer(status_lines=True, stdout=io.StringIO(), stderr=err)
    ws = wscli.connect(server.url)
    peer = Peer(ws, printer)
    yield Repl(printer, standard_commands(printer, lambda: [peer]), peer.send), peer, err
    ws.close()
    ws.wait_closed(TIMEOUT)


def test_frame_sends_fragments_by_name_and_hex(
    session: tuple[Repl, Peer, io.StringIO], server: ScriptedServer
) -> None:
    repl, _, err = session
    assert repl.dispatch("/frame op=text fin=0 payload 'hé'")
    assert repl.dispatch("/frame op=0x0 hex 6c 6c 6f")
    server.seen.wait_for(lambda: len(server.seen.messages) == 1)
    assert server.seen.messages == ["héllo"]
    assert "sent a crafted frame: op=0x1 fin=0 len=3" in err.getvalue()


def test_frame_with_a_reserved_bit_gets_the_connection_failed_with_1002(
    session: tuple[Repl, Peer, io.StringIO], server: ScriptedServer
) -> None:
    repl, peer, _ = session
    assert repl.dispatch("/frame op=1 rsv1=1 payload abc")
    server.seen.wait_for(lambda: server.seen.closes)
    assert peer.ws.wait_closed(TIMEOUT)
    assert peer.ws.close_rcvd is not None and peer.ws.close_rcvd.code == 1002
    assert server.seen.messages == []


def test_a_bad_frame_spec_is_a_one_line_error_and_sends_nothing(
    session: tuple[Repl, Peer, io.StringIO], server: ScriptedServer
) -> None:
    repl, _, err = session
    assert repl.dispatch("/frame op=99 payload x")
    assert "between 0 and 15" in err.getvalue()
    assert repl.dispatch("hello")
    server.seen.wait_for(lambda: server.seen.messages)
    assert server.seen.messages == ["hello"]
