"""The embedded echo server: what ``wscli bench`` measures when it is given no URL.

``python -m wscli.loadgen --echo-server`` prints its port, then serves until its stdin
closes; :class:`EchoServerProcess` starts and stops it.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

__all__ = ["EchoServerProcess", "serve_echo", "raise_nofile_limit", "main"]


class EchoServerProcess:
    """A wscli echo server in a child process, for ``wscli bench`` without a URL.

    The server gets a process of its own so that it has an interpreter lock of its own:
    in the benchmark's process it would share one with the load generator, and measure
    the two together.

    Args:
        compression: accept permessage-deflate.
        host: the address to bind.

    Raises:
        OSError: the server did not start.
    """

    def __init__(self, compression: bool = False, host: str = "127.0.0.1") -> None:
        import subprocess

        args = [sys.executable, "-m", "wscli.loadgen", "--echo-server", "--host", host]
        if compression:
            args.append("--compression")
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.close()
            raise OSError("the embedded echo server did not start")
        self.port = int(line)
        self.url = f"ws://{host}:{self.port}/"

    @property
    def pid(self) -> int:
        """The server process's id."""
        return self.process.pid

    def close(self) -> None:
        """Stop the server process (closing its stdin asks it to shut down)."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(5)
        except Exception:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> EchoServerProcess:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def serve_echo(host: str = "127.0.0.1", port: int = 0, compression: bool = False) -> Any:
    """Start a wscli echo server on its own reactor thread and return the Server.

    Messages are echoed from the reactor thread as they arrive; with no thread per
    connection, this is wscli's fastest shape of echo server.
    """
    from ..core.sync.server import Server

    server = Server(
        host,
        port,
        per_message_deflate=compression,
        max_payload=256 * 2**20,
        max_queue=4096,
        close_timeout=2.0,
    )

    def on_connection(ws: Any, request: Any) -> None:
        send = ws.send
        ws.on("message", lambda data, flags: send(data, binary=flags.binary))

    server.on("connection", on_connection)
    return server


def raise_nofile_limit() -> None:
    """Raise this process's open-file limit to its hard limit (many connections)."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str]) -> None:
    """``python -m wscli.loadgen --echo-server``: print the port, serve until stdin closes."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m wscli.loadgen")
    parser.add_argument("--echo-server", action="store_true", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--compression", action="store_true")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    server = serve_echo(args.host, args.port, args.compression)
    print(server.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()
    server.close(timeout=2.0)
