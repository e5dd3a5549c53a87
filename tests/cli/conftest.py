"""Fixtures for the command-line tests: loopback servers that record what they saw, and
helpers that run ``wscli`` in process (through ``main()``, the real error boundary) or as
a real ``python -m wscli`` process.

Every server listens on 127.0.0.1 with port 0 and every wait is bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import TIMEOUT

import wscli
from wscli.cli import main

#: A close timeout far longer than any hang guard below: a run that waited for the
#: closing handshake of a dead connection would end only after it, so "the run ended
#: within HANG_GUARD" proves it did not wait, however loaded the machine is.
LONG_CLOSE_TIMEOUT = 6 * TIMEOUT
#: How long a run that must not wait for ``LONG_CLOSE_TIMEOUT`` may take: a hang guard,
#: not a measure of speed.
HANG_GUARD = 2 * TIMEOUT

#: ``python -c`` code that runs ``wscli`` with ``LONG_CLOSE_TIMEOUT`` on every connection.
LONG_CLOSE_LAUNCHER = (
    "import sys, wscli.params as p\n"
    "given = p.client_kwargs\n"
    "p.client_kwargs = lambda **o: {**given(**o), 'close_timeout': float(sys.argv[1])}\n"
    "from wscli.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


@pytest.fixture
def long_close_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """In-process runs connect with ``LONG_CLOSE_TIMEOUT`` instead of the default."""
    import wscli.params

    given = wscli.params.client_kwargs
    monkeypatch.setattr(
        wscli.params,
        "client_kwargs",
        lambda **options: {**given(**options), "close_timeout": LONG_CLOSE_TIMEOUT},
    )
    return LONG_CLOSE_TIMEOUT


@dataclass
class Run:
    """The outcome of one in-process ``wscli`` run."""

    status: int
    stdout_bytes: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")


def run_cli(
    *args: str,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    started: Callable[[io.BytesIO], object] | None = None,
) -> Run:
    """Run ``wscli ARGS`` through ``main()`` with CliRunner's isolated streams.

    ``main()`` is the error boundary that maps exceptions to statuses, so this sees the
    exit status a shell would (``CliRunner.invoke(cli)`` would bypass the boundary).
    ``started(stderr)`` is called just before, with the stream stderr lines land in
    (for :func:`announced_port`, from another thread).
    """
    runner = CliRunner()
    status: Any = 0
    with runner.isolation(input=input, env=env) as (stdout, stderr, _output):
        if started is not None:
            started(stderr)
        try:
            main(list(args))
        except SystemExit as exc:
            status = exc.code
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = stdout.getvalue(), stderr.getvalue()
    return Run(int(status or 0), out, err.decode("utf-8", "replace"))


@dataclass
class Recorder:
    """What a test server saw: messages, requests, and how each connection ended."""

    messages: list[Any] = field(default_factory=list)
    requests: list[wscli.Request] = field(default_factory=list)
    closes: list[tuple[int, str]] = field(default_factory=list)
    clients: list[wscli.WebSocket] = field(default_factory=list)
    event: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        with self.event:
            assert self.event.wait_for(predicate, timeout), "timed out waiting for the server"

    def note(self) -> None:
        with self.event:
            self.event.notify_all()


class ScriptedServer:
    """An echo server on 127.0.0.1:0 that also obeys a few commands sent as messages.

    ``close CODE REASON`` closes with that code, ``drop`` drops the TCP connection,
    ``binary HEX`` answers with those bytes, ``say TEXT`` answers TEXT, ``ping DATA``
    pings the client; anything else is echoed.
    """

    def __init__(self, port: int = 0, **options: Any) -> None:
        self.seen = Recorder()
        self.on_message: Callable[[wscli.WebSocket, Any], bool] | None = None
        self.on_connect: Callable[[wscli.WebSocket], Any] | None = None
        self.server = wscli.Server("127.0.0.1", port, **options)
        self.server.on("connection", self._connection)

    @property
    def url(self) -> str:
        assert self.server.url is not None
        return self.server.url

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def _connection(self, ws: wscli.WebSocket, request: wscli.Request) -> None:
        self.seen.requests.append(request)
        self.seen.clients.append(ws)
        ws.on("message", lambda data, flags: self._message(ws, data))
        ws.on("close", lambda code, reason: self._closed(ws))
        self.seen.note()
        if self.on_connect is not None:
            self.on_connect(ws)

    def _closed(self, ws: wscli.WebSocket) -> None:
        rcvd = ws.close_rcvd
        self.seen.closes.append((rcvd.code, rcvd.reason) if rcvd else (1006, ""))
        self.seen.note()

    def _message(self, ws: wscli.WebSocket, data: Any) -> None:
        self.seen.messages.append(data)
        self.seen.note()
        if self.on_message is not None and self.on_message(ws, data):
            return
        with contextlib.suppress(wscli.ConnectionClosed):
            if isinstance(data, str) and data.startswith("close "):
                _, code, *reason = data.split(" ", 2)
                ws.close(int(code), reason[0] if reason else "")
            elif data == "drop":
                ws.terminate()
            elif isinstance(data, str) and data.startswith("binary "):
                ws.send(bytes.fromhex(data[7:]))
            elif isinstance(data, str) and data.startswith("say "):
                ws.send(data[4:])
            elif isinstance(data, str) and data.startswith("ping "):
                ws.ping(data[5:].encode())
            else:
                ws.send(data)

    def close(self) -> None:
        self.server.close(timeout=TIMEOUT)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted echo server (see :class:`ScriptedServer`)."""
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


@pytest.fixture
def make_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Build scripted servers with library options (subprotocols, verify_client…)."""
    servers: list[ScriptedServer] = []

    def make(**options: Any) -> ScriptedServer:
        scripted = ScriptedServer(**options)
        servers.append(scripted)
        return scripted

    yield make
    for scripted in servers:
        scripted.close()


def announced_port(
    stderr: io.BytesIO, gave_up: Callable[[], bool] = lambda: False, timeout: float = TIMEOUT
) -> int:
    """Wait for an in-process ``listen`` to say ``listening on ws://HOST:PORT``; the port.

    ``listen --port 0`` takes a port nobody holds: a port chosen in advance may be taken
    by another test's server before ``listen`` binds it, and clients would talk to that.

    Raises:
        AssertionError: no announcement within ``timeout``, or ``gave_up()`` said so.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not gave_up():
        with contextlib.suppress(ValueError):  # the run ended and its stream closed
            found = _LISTENING.search(stderr.getvalue())
            if found:
                return int(found.group(1))
        time.sleep(0.01)
    raise AssertionError("listen did not announce its address")


def free_port() -> int:
    """A port nobody listens on right now (for "cannot connect" and late servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- real processes -----------------------------------------------------------------------


def wscli_process(
    *args: str, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start ``python -m wscli ARGS`` with piped stdin, stdout and stderr."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("WSCLI_HISTORY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "wscli", *args],
        stdin=popen.pop("stdin", subprocess.PIPE),
        stdout=popen.pop("stdout", subprocess.PIPE),
        stderr=popen.pop("stderr", subprocess.PIPE),
        env=full_env,
        **popen,
    )


def reap(process: subprocess.Popen[bytes]) -> None:
    """Kill a process if it still runs, wait for it, and close its pipes."""
    if process.poll() is None:
        process.kill()
    process.wait(TIMEOUT)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.close()


def readline_within(stream: Any, timeout: float = TIMEOUT) -> bytes:
    """Read one line from a pipe, failing the test instead of hanging.

    A line already in the reader's buffer is returned at once: an earlier ``readline``
    may have read several lines from the pipe in one go, and the pipe would then never
    look readable again for the ones it kept.
    """
    import selectors

    if b"\n" in _buffered(stream):
        return bytes(stream.readline())
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        assert selector.select(timeout), "timed out waiting for a line"
    return bytes(stream.readline())


def _buffered(stream: Any) -> bytes:
    """What ``stream`` (a buffered pipe reader) holds already, without waiting for more."""
    fd = stream.fileno()
    was_blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    try:
        return bytes(stream.peek(1) or b"")
    except BlockingIOError:
        return b""
    finally:
        os.set_blocking(fd, was_blocking)


_LISTENING = re.compile(rb"listening on wss?://[^\s:]+:(\d+)")


def read_port(process: subprocess.Popen[bytes], timeout: float = TIMEOUT) -> int:
    """Read ``listening on ws://HOST:PORT`` from a listen process's stderr."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen += line
        match = _LISTENING.search(line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"no 'listening on' line; stderr so far: {seen!r}")


@contextlib.contextmanager
def listening(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run ``wscli listen --port 0 ARGS`` and yield it with its port; kill it afterwards."""
    process = wscli_process("listen", "--port", "0", *args)
    try:
        yield process, read_port(process)
    finally:
        reap(process)
