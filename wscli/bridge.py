"""``--exec``: bridge one WebSocket connection to one subprocess, like inetd did for TCP.

Each message received becomes one line on the process's stdin; each line the process
writes to stdout becomes one message. The process's stderr is ours, so its logs show.
With ``--binary hex|base64`` binary messages travel as encoded lines both ways; without
it, binary messages are written raw followed by a newline.

No shell runs unless asked (``--shell``): the command is split with ``shlex`` and run
directly, so peer data can never reach a shell parser. The environment tells the
process who it talks to::

    WSCLI_PEER_ADDRESS  host:port of the other end    WSCLI_PATH         request path
    WSCLI_PEER_HOST     its host                      WSCLI_SUBPROTOCOL  negotiated, or empty
    WSCLI_PEER_PORT     its port                      WSCLI_CLIENT_ID    listen's id for it
    WSCLI_URL           the URL (connect only)

Lifetimes are tied together: when the process exits, the connection closes (1000 for
status 0, 1011 otherwise); when the connection closes, the process's stdin is closed,
and it is terminated if it has not exited a few seconds later.

Threads: the reactor never blocks on the pipe. Messages are queued for a writer thread;
a reader thread turns stdout lines into sends.

Buffers: the queue towards the process holds at most :data:`EXEC_BACKLOG` bytes (plus
the one read that crossed it); above that the connection stops being read until the
process has taken half, so a process that stops reading costs its peer's TCP window,
not our memory. The other way, a send waits while the connection's outgoing buffer is
full, so the process blocks on its own stdout.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .core import ConnectionClosed
from .exitcodes import reason_of
from .params import decode_binary, encode_binary

if TYPE_CHECKING:
    from .commands import Peer
    from .output import CloseInfo, Printer

__all__ = ["Bridge", "peer_environment"]

#: Seconds a process may take to exit after its stdin closed, before SIGTERM (then SIGKILL).
GRACE_PERIOD = 3.0
#: Bytes of messages that may wait for the process's stdin before reading pauses.
EXEC_BACKLOG = 1024 * 1024


def peer_environment(peer: Peer, *, path: str = "", url: str | None = None) -> dict[str, str]:
    """The ``WSCLI_*`` variables that tell an ``--exec`` process about its peer."""
    remote = peer.ws.remote_address
    host, port = "", ""
    if isinstance(remote, tuple) and len(remote) >= 2:
        host, port = str(remote[0]), str(remote[1])
    env = {
        "WSCLI_PEER_ADDRESS": peer.address,
        "WSCLI_PEER_HOST": host,
        "WSCLI_PEER_PORT": port,
        "WSCLI_PATH": path,
        "WSCLI_SUBPROTOCOL": peer.ws.subprotocol or "",
    }
    if peer.id is not None:
        env["WSCLI_CLIENT_ID"] = str(peer.id)
    if url is not None:
        env["WSCLI_URL"] = url
    return env


class Bridge:
    """Connect one :class:`~wscli.commands.Peer` to one subprocess.

    Build the bridge first and give :meth:`on_message` and :meth:`on_close` to the
    ``Peer`` as hooks, so nothing that arrives before :meth:`start` is lost (it waits in
    the bridge's queue); then call :meth:`start` with the peer.

    Args:
        argv: from :func:`command_argv` (a string means "run through the shell").
        printer: for warnings and the process's exit.
        binary: ``"hex"``/``"base64"`` to encode binary messages as lines.
    """

    def __init__(
        self,
        argv: list[str] | str,
        printer: Printer,
        *,
        binary: str | None = None,
    ) -> None:
        self.argv = argv
        self.printer = printer
        self.binary = binary
        self.peer: Peer | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.done = threading.Event()
        #: Why the process could not start, when it could not.
        self.start_error: str | None = None
        self._inbox: collections.deque[bytes | None] = collections.deque()
        self._inbox_bytes = 0
        self._inbox_ready = threading.Condition()
        self._holding = False
        self._writer_done = False

    def start(self, peer: Peer, env: Mapping[str, str] | None = None) -> None:
        """Start the process and the threads that move data; close 1011 if it cannot run.

        Args:
            peer: the open connection (whose hooks include this bridge's).
            env: extra environment variables (see :func:`peer_environment`).
        """
        self.peer = peer
        try:
            self.process = subprocess.Popen(
                self.argv,
                shell=isinstance(self.argv, str),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, **(env or {})},
                bufsize=0,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            # ValueError: a NUL byte in an argument or in the environment (the request
            # path is in WSCLI_PATH); OSError: the program cannot be run.
            reason = reason_of(exc)
            self.start_error = reason
            self.printer.error(f"{peer.label}: cannot start the --exec command: {reason}")
            with contextlib.suppress(Exception):
                peer.close(1011, "cannot start the --exec command")
            with self._inbox_ready:
                self._inbox.clear()
                self._inbox_bytes = 0
            self.done.set()
            return
        threading.Thread(target=self._write, name="wscli-exec-in", daemon=True).start()
        threading.Thread(target=self._read, name="wscli-exec-out", daemon=True).start()
        if peer.closed.is_set():
            threading.Thread(target=self._reap, name="wscli-exec-reap", daemon=True).start()

    # -- connection → process ------------------------------------------------------------

    def on_message(self, peer: Peer, data: str | bytes) -> None:
        """Peer hook (reactor thread): queue a message for the process's stdin."""
        if self.start_error is not None:
            return
        if isinstance(data, str):
            line = data.encode()
        elif self.binary:
            line = encode_binary(data, self.binary).encode()
        else:
            line = data
        with self._inbox_ready:
            if self._writer_done:
                return  # the process closed its stdin: nobody will read this
            self._inbox.append(line + b"\n")
            self._inbox_bytes += len(line) + 1
            hold = self._inbox_bytes > EXEC_BACKLOG and not self._holding
            if hold:
                self._holding = True
            self._inbox_ready.notify()
        if hold:
            peer.hold("exec")

    def on_close(self, peer: Peer, info: CloseInfo) -> None:
        """Peer hook: close the process's stdin, and stop it if it lingers."""
        with self._inbox_ready:
            self._inbox.append(None)
            self._inbox_ready.notify()
        if self.process is not None:
            threading.Thread(target=self._reap, name="wscli-exec-reap", daemon=True).start()

    @property
    def backlog(self) -> int:
        """Bytes of messages waiting for the process's stdin."""
        return self._inbox_bytes

    def _next_line(self) -> bytes | None:
        """Writer thread: the next line for the process; resume reading below half."""
        release = False
        with self._inbox_ready:
            while not self._inbox:
                self._inbox_ready.wait()
            line = self._inbox.popleft()
            if line is not None:
                self._inbox_bytes -= len(line)
            if self._holding and self._inbox_bytes <= EXEC_BACKLOG // 2:
                self._holding = False
                release = True
        if release and self.peer is not None:
            self.peer.release("exec")
        return line

    def _write(self) -> None:
        process = self.process
        assert process is not None and process.stdin is not None
        while True:
            line = self._next_line()
            if line is None:
                break
            try:
                process.stdin.write(line)
            except (BrokenPipeError, OSError, ValueError):
                break
        with self._inbox_ready:
            # The process is gone: drop what it will never read, and read again.
            self._writer_done = True
            self._inbox.clear()
            self._inbox_bytes = 0
            if self._holding and self.peer is not None:
                self._holding = False
                self.peer.release("exec")
        with contextlib.suppress(OSError, ValueError):
            process.stdin.close()

    def _reap(self) -> None:
        """After the connection closed: give the process time to exit, then stop it."""
        process = self.process
        if process is None:
            return
        try:
            process.wait(GRACE_PERIOD)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(GRACE_PERIOD)
            except subprocess.TimeoutExpired:
                process.kill()

    # -- process → connection ------------------------------------------------------------

    def _read(self) -> None:
        process, peer = self.process, self.peer
        assert process is not None and process.stdout is not None and peer is not None
        connection_open = True
        for raw in iter(process.stdout.readline, b""):
            if not connection_open:
                continue  # drain, so the process never blocks on a full pipe
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if line.endswith(b"\r"):
                line = line[:-1]
            try:
                data: str | bytes
                if self.binary:
                    data = decode_binary(line.decode("ascii", "replace"), self.binary)
                else:
                    data = line.decode("utf-8", "replace")
                peer.send(data)
            except ValueError as exc:
                self.printer.warning(f"--exec output skipped: {exc}")
            except ConnectionClosed:
                connection_open = False
        self.returncode = process.wait()
        if not peer.closed.is_set():
            with contextlib.suppress(Exception):
                if self.returncode == 0:
                    peer.close(1000, "")
                else:
                    peer.close(1011, f"process exited with status {self.returncode}")
        if self.returncode != 0:
            self.printer.info(f"{peer.label}: --exec process exited with status {self.returncode}")
        self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the process to exit; return False on timeout."""
        return self.done.wait(timeout)

    @property
    def pid(self) -> Any:
        """The process id, once started."""
        return None if self.process is None else self.process.pid
