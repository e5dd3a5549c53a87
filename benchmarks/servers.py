"""The echo servers the benchmark compares, each started in a process of its own.

Run one by hand::

    python benchmarks/servers.py wscli            # prints the port, serves until stdin closes
    python benchmarks/servers.py websockets-sync --port 8765

Kinds:

* ``wscli``: :func:`wscli.loadgen.serve_echo`, i.e. ``wscli.Server`` echoing from its
  ``message`` listener on the reactor thread (the server ``wscli bench`` embeds);
* ``websockets-sync``: websockets' threaded server (``websockets.sync.server.serve``),
  a thread per connection running ``for message in ws: ws.send(message)``;
* ``websockets-asyncio``: websockets' asyncio server, ``async for``/``await send``;
* ``raw-tcp``: echoes TCP bytes without speaking WebSocket at all, from one ``selectors``
  thread: the ceiling a Python server could reach on this machine (clients must run in
  raw mode: no handshake, frames come back masked);
* ``picows`` / ``picows-uvloop``: picows (a Cython WebSocket library for asyncio) on the
  default event loop or on uvloop; its API hands over frames, so the echo listener below
  assembles fragmented messages, leaves pings to picows' automatic pong and answers a close
  with the same code (``pip install picows uvloop``);
* ``node-ws``: Node.js's ``ws`` package (needs ``node`` and ``npm install ws`` in the
  directory given by ``--node-modules``): a fast non-Python reference.

Every server disables compression and keepalive pings, accepts 256 MiB messages, and
raises its open-file limit for the 10,000-connection case.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import threading
from typing import Any

__all__ = ["KINDS", "ServerProcess", "node_modules_dir", "raise_nofile_limit"]

KINDS = (
    "wscli",
    "websockets-sync",
    "websockets-asyncio",
    "picows",
    "picows-uvloop",
    "raw-tcp",
    "node-ws",
)

_MAX_SIZE = 256 * 2**20

_NODE_SERVER = r"""
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] || 0),
  perMessageDeflate: false, maxPayload: MAX_PAYLOAD });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(String(wss.address().port)));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
""".replace("MAX_PAYLOAD", str(_MAX_SIZE))


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def node_modules_dir() -> str | None:
    """Return a directory holding ``node_modules/ws`` (``$WSCLI_NODE_MODULES`` or
    ``/tmp/nodebench``), or None when node or ws is missing."""
    if shutil.which("node") is None:
        return None
    for candidate in (os.environ.get("WSCLI_NODE_MODULES"), "/tmp/nodebench"):
        if candidate and os.path.isdir(os.path.join(candidate, "node_modules", "ws")):
            return candidate
    return None


# -- the servers, each run in this file's own process ----------------------------------


def _serve_wscli(port: int) -> Any:
    from wscli.loadgen import serve_echo

    server = serve_echo("127.0.0.1", port)
    return server.port, server.close


def _serve_websockets_sync(port: int) -> Any:
    from websockets.sync.server import serve

    def echo(ws: Any) -> None:
        for message in ws:
            ws.send(message)

    server = serve(
        echo, "127.0.0.1", port, compression=None, max_size=_MAX_SIZE, ping_interval=None
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.socket.getsockname()[1], server.shutdown


def _serve_websockets_asyncio(port: int) -> Any:
    import asyncio

    from websockets.asyncio.server import serve

    ready: list[int] = []
    started = threading.Event()
    stop: list[Any] = []

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(
            echo, "127.0.0.1", port, compression=None, max_size=_MAX_SIZE, ping_interval=None
        ) as server:
            ready.append(server.sockets[0].getsockname()[1])
            done = asyncio.get_running_loop().create_future()
            stop.append(lambda: done.get_loop().call_soon_threadsafe(done.set_result, None))
            started.set()
            await done

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    started.wait(10)
    return ready[0], lambda: (stop[0](), thread.join(5))


def _picows_echo_listener() -> Any:
    """A picows listener that echoes whole messages, assembling fragmented ones."""
    from picows import WSListener, WSMsgType

    class Echo(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.kind: Any = None
            self.parts: list[bytes] = []

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif kind is WSMsgType.CONTINUATION:
                self.parts.append(frame.get_payload_as_bytes())
                if frame.fin:
                    transport.send(self.kind, b"".join(self.parts))
                    self.parts = []
            elif kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                if frame.fin:
                    # send() copies into picows' write buffer, so the view is safe here.
                    transport.send(kind, frame.get_payload_as_memoryview())
                else:
                    self.kind = kind
                    self.parts = [frame.get_payload_as_bytes()]

    return Echo


def _serve_picows(port: int, use_uvloop: bool = False) -> Any:
    import asyncio

    from picows import ws_create_server

    listener = _picows_echo_listener()
    ready: list[int] = []
    started = threading.Event()
    stop: list[Any] = []

    async def main() -> None:
        server = await ws_create_server(
            lambda request: listener(),
            "127.0.0.1",
            port,
            max_frame_size=_MAX_SIZE,
            enable_auto_pong=True,
        )
        ready.append(server.sockets[0].getsockname()[1])
        done = asyncio.get_running_loop().create_future()
        stop.append(lambda: done.get_loop().call_soon_threadsafe(done.set_result, None))
        started.set()
        async with server:
            await done

    def run() -> None:
        if use_uvloop:
            import uvloop

            uvloop.run(main())
        else:
            asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    return ready[0], lambda: (stop[0](), thread.join(5))


def _serve_raw_tcp(port: int) -> Any:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    pending: dict[socket.socket, bytearray] = {}
    stopping = threading.Event()
    # One receive buffer for every socket: nothing is allocated per read.
    buffer = bytearray(262144)
    view = memoryview(buffer)

    def loop() -> None:
        while not stopping.is_set():
            for key, mask in selector.select(0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        for _ in range(64):
                            client, _ = listener.accept()
                            client.setblocking(False)
                            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                            selector.register(client, selectors.EVENT_READ, b"")
                    continue
                if mask & selectors.EVENT_WRITE:
                    backlog = pending[sock]
                    with contextlib.suppress(BlockingIOError):
                        del backlog[: sock.send(backlog)]
                    if not backlog:
                        del pending[sock]
                        selector.modify(sock, selectors.EVENT_READ, b"")
                    continue
                try:
                    size = sock.recv_into(buffer)
                except (BlockingIOError, ConnectionError):
                    continue
                if not size:
                    selector.unregister(sock)
                    pending.pop(sock, None)
                    sock.close()
                    continue
                data = view[:size]
                if sock in pending:
                    pending[sock] += data
                    continue
                try:
                    sent = sock.send(data)
                except BlockingIOError:
                    sent = 0
                except ConnectionError:
                    continue
                if sent < size:
                    pending[sock] = bytearray(data[sent:])
                    selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, b"")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return listener.getsockname()[1], lambda: (stopping.set(), thread.join(2))


_SERVERS = {
    "wscli": _serve_wscli,
    "websockets-sync": _serve_websockets_sync,
    "websockets-asyncio": _serve_websockets_asyncio,
    "picows": _serve_picows,
    "picows-uvloop": lambda port: _serve_picows(port, use_uvloop=True),
    "raw-tcp": _serve_raw_tcp,
}


def main(argv: list[str] | None = None) -> None:
    """Start one server, print its port on stdout, serve until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=[k for k in KINDS if k != "node-ws"])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    raise_nofile_limit()
    port, stop = _SERVERS[args.kind](args.port)
    print(port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()
    stop()


# -- the parent's handle on a server process --------------------------------------------


class ServerProcess:
    """One echo server in a child process; ``url``, ``pid``, ``rss()``, ``close()``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "node-ws":
            modules = node_modules_dir()
            if modules is None:
                raise RuntimeError(
                    "node-ws needs node and the ws package: "
                    "mkdir -p /tmp/nodebench && cd /tmp/nodebench && npm install ws"
                )
            command = ["node", "-e", _NODE_SERVER, "0"]
            env = dict(os.environ, NODE_PATH=os.path.join(modules, "node_modules"))
            cwd: str | None = modules
        else:
            command = [sys.executable, os.path.abspath(__file__), kind]
            env = dict(os.environ)
            cwd = None
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
            preexec_fn=raise_nofile_limit,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.close()
            raise RuntimeError(f"{kind} server did not start")
        self.port = int(line)
        self.raw = kind == "raw-tcp"
        self.url = f"ws://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def rss(self) -> int:
        """The server's resident memory in bytes (Linux /proc)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0  # pragma: no cover

    def threads(self) -> int:
        """How many threads the server runs (Linux /proc)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
        return 0  # pragma: no cover

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def close(self) -> None:
        """Ask the server to stop (stdin EOF), then make sure it did."""
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


if __name__ == "__main__":
    main()
