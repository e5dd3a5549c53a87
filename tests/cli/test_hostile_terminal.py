"""Hostile servers against a real terminal: nothing a peer sends may drive the terminal.

stdout is a pseudo-terminal while stdin is ``/dev/null`` (``wscli connect URL </dev/null``),
the case where the REPL is off and output used to be written raw.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time

import pytest

from .conftest import HANG_GUARD, LONG_CLOSE_LAUNCHER, LONG_CLOSE_TIMEOUT, TIMEOUT, ScriptedServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals")

#: What a hostile server sends: clear screen, window title, clipboard (OSC 52), C1 CSI,
#: bidi override, Arabic letter mark, line separator, zero-width space, a tag character.
HOSTILE = "A\x1b[2J\x1b]0;owned\x07\x1b]52;c;ZXZpbA==\x07\x9b31m\u202e\u061c\u2028\u200b\U000e0041Z"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u061c", "\u2028", "\u200b", "\U000e0041")


def run_on_terminal(*args: str) -> tuple[int, str, str]:
    """Run ``python -m wscli ARGS`` with stdout on a pseudo-terminal and stdin /dev/null."""
    master, slave = os.openpty()
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("WSCLI_HISTORY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "wscli", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + TIMEOUT * 2
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif process.poll() is not None:
                break
        status = process.wait(TIMEOUT)
        assert process.stderr is not None
        err = process.stderr.read().decode("utf-8", "replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
        os.close(master)
        if process.stderr is not None:
            process.stderr.close()
    return status, b"".join(chunks).decode("utf-8", "replace"), err


def test_text_and_binary_reach_a_terminal_escaped_when_stdin_is_not_one(
    server: ScriptedServer,
) -> None:
    binary = HOSTILE.encode()
    status, out, err = run_on_terminal(
        "connect", "-x", "say " + HOSTILE, "-x", "binary " + binary.hex(), "-w", "1", server.url
    )
    assert status == 0, err
    for raw in RAW:
        assert raw not in out
    # Both messages arrive, each visibly escaped.
    assert out.count("A\\x1b[2J\\x1b]0;owned\\x07") == 2, out
    assert "\\u202e\\u061c\\u2028\\u200b\\U000e0041Z" in out


def test_json_on_a_terminal_escapes_hidden_characters_and_stays_valid(
    server: ScriptedServer,
) -> None:
    status, out, err = run_on_terminal("connect", "--json", "-x", "say " + HOSTILE, server.url)
    assert status == 0, err
    for raw in RAW:
        assert raw not in out
    records = [json.loads(line) for line in out.replace("\r\n", "\n").splitlines() if line]
    incoming = [r["data"] for r in records if r.get("dir") == "in"]
    assert incoming == [HOSTILE]  # lossless: the escapes are JSON's own


def test_long_message_on_a_terminal_is_cut_with_a_note(server: ScriptedServer) -> None:
    status, out, err = run_on_terminal("connect", "-x", "say " + "x" * 20000, server.url)
    assert status == 0, err
    assert "x" * 8192 in out and "x" * 8193 not in out
    assert "11808 more bytes not shown" in out
    status, out, err = run_on_terminal("connect", "--full", "-x", "say " + "x" * 20000, server.url)
    assert status == 0, err
    assert "x" * 20000 in out


def test_listen_on_a_terminal_escapes_what_clients_send() -> None:
    import threading

    import wscli

    from .conftest import read_port

    result: dict[str, object] = {}

    def client(port: int) -> None:
        with wscli.connect(f"ws://127.0.0.1:{port}") as ws:
            ws.send(HOSTILE.encode())
            ws.send(HOSTILE)
        result["sent"] = True

    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "wscli", "listen", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(slave)
    out = b""
    try:
        # The port it announces, not one chosen in advance that another test could take.
        thread = threading.Thread(target=client, args=(read_port(process),))
        thread.start()
        thread.join(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while out.count(b"U000e0041Z") < 2 and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                out += os.read(master, 65536)
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        os.close(master)
        assert process.stderr is not None
        process.stderr.close()
    assert result.get("sent")
    text = out.decode("utf-8", "replace")
    for raw in RAW:
        assert raw not in text
    assert text.count("A\\x1b[2J") == 2, text


def test_quit_against_a_stalled_server_ends_at_once() -> None:
    """The REPL on a real terminal: /quit while the server answers nothing."""
    import fcntl
    import struct
    import termios

    from .test_exit_statuses import handshake_then, raw_server, stall

    with raw_server(handshake_then(stall)) as port:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        env = {**os.environ, "NO_COLOR": "1", "WSCLI_HISTORY": os.devnull, "TERM": "xterm"}
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                LONG_CLOSE_LAUNCHER,
                str(LONG_CLOSE_TIMEOUT),
                "connect",
                f"ws://127.0.0.1:{port}",
            ],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
        )
        os.close(slave)
        out = b""
        try:
            deadline = time.monotonic() + TIMEOUT
            while b"/help lists commands" not in out and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    out += os.read(master, 65536)
            assert b"/help lists commands" in out, out
            started = time.monotonic()
            os.write(master, b"/quit\r")
            deadline = started + HANG_GUARD
            while process.poll() is None and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    with contextlib.suppress(OSError):
                        out += os.read(master, 65536)
            status = process.wait(TIMEOUT)
            elapsed = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(TIMEOUT)
            os.close(master)
    assert status == 5, out
    assert b"never answered the close" in out
    assert elapsed < HANG_GUARD  # it did not wait for LONG_CLOSE_TIMEOUT
