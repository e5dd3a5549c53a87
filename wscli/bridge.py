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
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import shutil
import subprocess
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .core import ConnectionClosed
from .params import decode_binary, encode_binary

if TYPE_CHECKING:
    from .commands import Peer
    from .output import CloseInfo, Printer

__all__ = ["Bridge", "command_argv", "peer_environment"]

#: Seconds a process may take to exit after its stdin closed, before SIGTERM (then SIGKILL).
GRACE_PERIOD = 3.0


def command_argv(command: str, shell: bool) -> list[str] | str:
    """Return what ``Popen`` runs: argv (no shell), or the string for ``/bin/sh -c``.

    Raises:
        ValueError: the command is empty, unbalanced, or its program cannot be found.
    """
    if shell:
        if not command.strip():
            raise ValueError("the --exec command is empty")
        return command
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot parse the --exec command: {exc}") from exc
    if not argv:
        raise ValueError("the --exec command is empty")
    if shutil.which(argv[0]) is None:
        raise ValueError(f"command not found: {argv[0]}")
    return argv


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
        self._inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

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
        except OSError as exc:
            self.printer.error(f"cannot run {self.argv!r}: {exc.strerror or exc}")
            with contextlib.suppress(Exception):
                peer.close(1011, "cannot start the --exec command")
            self.done.set()
            return
        threading.Thread(target=self._write, name="wscli-exec-in", daemon=True).start()
        threading.Thread(target=self._read, name="wscli-exec-out", daemon=True).start()
        if peer.closed.is_set():
            threading.Thread(target=self._reap, name="wscli-exec-reap", daemon=True).start()

    # -- connection → process ------------------------------------------------------------

    def on_message(self, peer: Peer, data: str | bytes) -> None:
        """Peer hook (reactor thread): queue a message for the process's stdin."""
        if isinstance(data, str):
            line = data.encode()
        elif self.binary:
            line = encode_binary(data, self.binary).encode()
        else:
            line = data
        self._inbox.put(line + b"\n")

    def on_close(self, peer: Peer, info: CloseInfo) -> None:
        """Peer hook: close the process's stdin, and stop it if it lingers."""
        self._inbox.put(None)
        if self.process is not None:
            threading.Thread(target=self._reap, name="wscli-exec-reap", daemon=True).start()

    def _write(self) -> None:
        process = self.process
        assert process is not None and process.stdin is not None
        while True:
            line = self._inbox.get()
            if line is None:
                break
            try:
                process.stdin.write(line)
            except (BrokenPipeError, OSError, ValueError):
                break
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
