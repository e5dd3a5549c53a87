"""The REPL: slash commands through ``Repl.dispatch``, then the real thing in a pseudo-terminal."""

from __future__ import annotations

import io
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wscli
from wscli.commands import Peer
from wscli.commands.listen import ListenSession
from wscli.output import Printer
from wscli.repl import Repl, history_path, parse_close_args, standard_commands

from .conftest import TIMEOUT, ScriptedServer


class Screen:
    """A Printer writing to memory, with the text it wrote."""

    def __init__(self) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.printer = Printer(status_lines=True, stdout=self.out, stderr=self.err)

    @property
    def text(self) -> str:
        return self.out.getvalue() + self.err.getvalue()


@pytest.fixture
def screen() -> Screen:
    return Screen()


@pytest.fixture
def session(server: ScriptedServer, screen: Screen) -> Iterator[tuple[Repl, Peer]]:
    """A REPL over one real connection to the scripted echo server."""
    ws = wscli.connect(server.url)
    peer = Peer(ws, screen.printer)
    repl = Repl(screen.printer, standard_commands(screen.printer, lambda: [peer]), peer.send)
    yield repl, peer
    ws.close()
    ws.wait_closed(TIMEOUT)


def wait_until(predicate: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_plain_lines_are_sent_and_slash_slash_escapes(
    session: tuple[Repl, Peer], server: ScriptedServer
) -> None:
    repl, _ = session
    assert repl.dispatch("hello")
    assert repl.dispatch("//etc/passwd is a path")
    server.seen.wait_for(lambda: len(server.seen.messages) == 2)
    assert server.seen.messages == ["hello", "/etc/passwd is a path"]


def test_hex_b64_and_file_send_binary_or_text(
    session: tuple[Repl, Peer], server: ScriptedServer, tmp_path: Path
) -> None:
    repl, _ = session
    (tmp_path / "a.txt").write_text("text file")
    (tmp_path / "b.bin").write_bytes(b"\xff\xfe\x00")
    for line in [
        "/hex 01 ff",
        "/b64 AAE=",
        f"/file {tmp_path / 'a.txt'}",
        f"/file {tmp_path}/b.bin",
    ]:
        assert repl.dispatch(line)
    server.seen.wait_for(lambda: len(server.seen.messages) == 4)
    assert server.seen.messages == [b"\x01\xff", b"\x00\x01", "text file", b"\xff\xfe\x00"]


def test_frag_sends_one_message_in_pieces(
    session: tuple[Repl, Peer], server: ScriptedServer
) -> None:
    repl, peer = session
    assert repl.dispatch("/frag 3 héllo wörld")
    server.seen.wait_for(lambda: len(server.seen.messages) == 1)
    assert server.seen.messages == ["héllo wörld"]
    assert peer.stats.messages_out == 1


def test_ping_shows_the_pong_with_its_latency(session: tuple[Repl, Peer], screen: Screen) -> None:
    repl, peer = session
    assert repl.dispatch("/ping probe")
    wait_until(lambda: peer.stats.latencies)
    wait_until(lambda: "pong 'probe' (" in screen.text)
    assert repl.dispatch("/stats")
    assert re.search(r"latency\s+last [\d.]+ [µm]?s", screen.text)
    assert "received" in screen.text and "sent" in screen.text


def test_close_sends_the_code_and_reason(
    session: tuple[Repl, Peer], server: ScriptedServer, screen: Screen
) -> None:
    repl, peer = session
    assert repl.dispatch("/close 4000 bye now")
    assert peer.wait_closed(TIMEOUT)
    server.seen.wait_for(lambda: bool(server.seen.closes))
    assert server.seen.closes == [(4000, "bye now")]
    assert 'closed by you: 4000 (private use) "bye now"' in screen.text
    assert repl.dispatch("after close")  # an error, not an exception
    assert "nobody is connected" in screen.text or "connection is closed" in screen.text


def test_mistakes_are_reported_not_raised(session: tuple[Repl, Peer], screen: Screen) -> None:
    repl, _ = session
    for line in [
        "/hex zz",
        "/close abc",
        "/close 1005",
        "/frag x y",
        "/file /nonexistent",
        "/nope",
    ]:
        assert repl.dispatch(line)
    text = screen.text
    assert "not valid hex" in text
    assert "'abc' is not a close code" in text
    assert "close code 1005 may not be sent" in text
    assert "usage: /frag N MESSAGE" in text
    assert "cannot read /nonexistent" in text
    assert "unknown command /nope; /help lists them" in text


def test_help_json_pause_and_quit(session: tuple[Repl, Peer], screen: Screen) -> None:
    repl, peer = session
    assert repl.dispatch("/help")
    assert "/close [code [reason]]" in screen.text and "/frag N MESSAGE" in screen.text
    assert screen.printer.pretty_json
    assert repl.dispatch("/json")
    assert not screen.printer.pretty_json
    assert repl.dispatch("/pause") and peer.ws.is_paused
    assert repl.dispatch("/resume") and not peer.ws.is_paused
    assert repl.dispatch("/quit") is False


def test_binary_mode_decodes_typed_lines(server: ScriptedServer, screen: Screen) -> None:
    ws = wscli.connect(server.url)
    peer = Peer(ws, screen.printer)
    repl = Repl(screen.printer, [], peer.send, binary="hex")
    repl.dispatch("cafe")
    server.seen.wait_for(lambda: bool(server.seen.messages))
    assert server.seen.messages == [b"\xca\xfe"]
    ws.close()


def test_parse_close_args() -> None:
    assert parse_close_args("") == (1000, "")
    assert parse_close_args("4000 a reason") == (4000, "a reason")
    with pytest.raises(ValueError):
        parse_close_args("4000 " + "x" * 124)


def test_history_lives_in_the_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSCLI_HISTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", "/tmp/state")
    if os.name != "nt":
        assert history_path() == Path("/tmp/state/wscli/history")


def test_listen_commands_target_clients(screen: Screen) -> None:
    listen = ListenSession(screen.printer)
    server = listen.start("127.0.0.1", 0)
    try:
        first = wscli.connect(server.url)
        second = wscli.connect(server.url)
        wait_until(lambda: len(listen.peers()) == 2)
        repl = Repl(screen.printer, listen.slash_commands(), listen.send_all)
        repl.dispatch("/clients")
        assert re.search(r"#1\s+127\.0\.0\.1:\d+\s+/", screen.text)
        repl.dispatch("/to 2 just you")
        assert second.recv(timeout=TIMEOUT) == "just you"
        repl.dispatch("/all everyone")
        repl.dispatch("plain line")
        assert [first.recv(timeout=TIMEOUT) for _ in range(2)] == ["everyone", "plain line"]
        assert [second.recv(timeout=TIMEOUT) for _ in range(2)] == ["everyone", "plain line"]
        repl.dispatch("/kick #1 4001 out")
        with pytest.raises(wscli.ConnectionClosed):
            first.recv(timeout=TIMEOUT)  # a pulling reader sees the close in order
        assert (first.close_code, first.close_reason) == (4001, "out")
        repl.dispatch("/to 9 nobody")
        assert "no client #9" in screen.text
        second.close()
    finally:
        listen.stop()


# -- a real terminal ----------------------------------------------------------------------

pexpect = pytest.importorskip("pexpect") if sys.platform != "win32" else None


def spawn(args: list[str], tmp_path: Path) -> Any:
    # No cursor-position requests: pexpect does not answer them, and prompt-toolkit
    # would wait for each answer.
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path),
        "TERM": "xterm",
        "NO_COLOR": "1",
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    env.pop("WSCLI_HISTORY", None)
    assert pexpect is not None
    return pexpect.spawn(
        sys.executable,
        ["-m", "wscli", *args],
        env=env,
        dimensions=(30, 120),
        timeout=TIMEOUT,
        encoding="utf-8",
    )


ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"


@pytest.mark.skipif(pexpect is None, reason="needs a POSIX pseudo-terminal")
def test_repl_in_a_real_terminal(server: ScriptedServer, tmp_path: Path) -> None:
    child = spawn(["connect", server.url], tmp_path)
    try:
        child.expect("connected to ws://127.0.0.1")
        child.expect("/help lists commands")
        child.sendline("hello there")
        # The echo prints above the prompt, marked as incoming.
        child.expect(rf"<{ANSI} {ANSI}hello there")
        child.sendline("/close 4000 bye")
        child.expect(r'closed by you: 4000 \(private use\) "bye"')
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert server.seen.closes == [(4000, "bye")]
    history = (tmp_path / "wscli" / "history").read_text()
    assert "hello there" in history and "/close 4000 bye" in history


@pytest.mark.skipif(pexpect is None, reason="needs a POSIX pseudo-terminal")
def test_repl_explains_a_server_close_and_exits_5(server: ScriptedServer, tmp_path: Path) -> None:
    child = spawn(["connect", server.url], tmp_path)
    try:
        child.expect("/help lists commands")
        child.sendline("close 1011 overloaded")
        child.expect(r'closed by the server: 1011 \(internal error\) "overloaded"')
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 5


@pytest.mark.skipif(pexpect is None, reason="needs a POSIX pseudo-terminal")
def test_listen_repl_in_a_real_terminal(tmp_path: Path) -> None:
    child = spawn(["listen", "--port", "0"], tmp_path)
    try:
        child.expect(r"listening on ws://127\.0\.0\.1:(\d+)")
        port = int(child.match.group(1))
        ws = wscli.connect(f"ws://127.0.0.1:{port}/room")
        child.expect(r"#1 connected from 127\.0\.0\.1:\d+ /room")
        ws.send("hi server")
        child.expect(rf"#1 {ANSI}<{ANSI} {ANSI}hi server")
        child.sendline("hi client")
        assert ws.recv(timeout=TIMEOUT) == "hi client"
        child.sendline("/kick 1 4002 bye")
        with pytest.raises(wscli.ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
        assert ws.close_code == 4002
        child.expect(r'#1 closed by you: 4002 \(private use\) "bye"')
        # Between two prompts the terminal is briefly back in cooked mode, where the
        # line discipline would swallow a ^D; wait for the prompt to be back.
        time.sleep(0.3)
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_tab_completes_commands_paths_and_client_ids(screen: Screen, tmp_path: Path) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from wscli.repl import _SlashCompleter

    listen = ListenSession(screen.printer)
    repl = Repl(screen.printer, listen.slash_commands(), listen.send_all)
    completer = _SlashCompleter(repl)

    def complete(text: str) -> list[str]:
        document = Document(text, len(text))
        return [c.text for c in completer.get_completions(document, CompleteEvent())]

    assert complete("/cl") == ["/close", "/clients"]
    assert complete("hello") == []
    (tmp_path / "payload.json").write_text("{}")
    assert complete(f"/file {tmp_path}/pay") == [f"{tmp_path}/payload.json"]
