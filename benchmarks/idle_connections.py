"""Idle connections: what each one costs a server in memory, wscli against websockets.

Run from the repository root (Linux: it reads ``/proc``)::

    python benchmarks/idle_connections.py                 # 1,000 and 10,000, both servers
    python benchmarks/idle_connections.py --counts 5000 --kinds wscli

For each server kind and each count, side by side in one run:

1. a fresh echo server starts in a process of its own (``benchmarks/servers.py``: wscli's
   ``Server`` on its reactor thread, or websockets' threaded server, a thread per
   connection); its resident memory (RSS) is read once it is up;
2. a client process (this file with ``--client``) opens that many WebSocket connections
   with raw non-blocking sockets, a few hundred handshakes in flight at a time, and
   holds them open without sending anything more;
3. once every handshake has finished or failed, the server's RSS is read again, and a
   probe client checks that the server still answers an echo. The cost of a connection
   is the RSS growth divided by the connections held.

A server that cannot keep up (websockets' threaded server needs one thread per
connection) shows as failed handshakes, timeouts, or a probe that gets no answer; the
report says which. Both processes raise their open-file limit to the hard limit, which
must exceed the count plus a few dozen.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import ServerProcess, raise_nofile_limit  # noqa: E402

KINDS = ("wscli", "websockets-sync")
IN_FLIGHT = 256  # handshakes under way at once: keeps the listen backlog from overflowing


# -- the client process --------------------------------------------------------------------


def _request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def open_idle(port: int, count: int, limit: float) -> tuple[list[socket.socket], dict[str, Any]]:
    """Open ``count`` upgraded connections within ``limit`` seconds; keep them open."""
    selector = selectors.DefaultSelector()
    held: list[socket.socket] = []
    errors: dict[str, int] = {}
    heads: dict[socket.socket, bytes] = {}
    started = time.monotonic()
    deadline = started + limit
    launched = in_flight = 0

    def failed(sock: socket.socket, why: str) -> None:
        nonlocal in_flight
        errors[why] = errors.get(why, 0) + 1
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(sock)
        heads.pop(sock, None)
        sock.close()
        in_flight -= 1

    while (launched < count or in_flight) and time.monotonic() < deadline:
        while launched < count and in_flight < IN_FLIGHT:
            launched += 1
            try:
                sock = socket.socket()
            except OSError as exc:
                errors[f"socket: {exc.strerror}"] = errors.get(f"socket: {exc.strerror}", 0) + 1
                continue
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", port))
            in_flight += 1
            if code not in (0, errno.EINPROGRESS):
                failed(sock, f"connect: {os.strerror(code)}")
                continue
            heads[sock] = b""
            selector.register(sock, selectors.EVENT_WRITE)
        for key, mask in selector.select(0.2):
            sock = key.fileobj  # type: ignore[assignment]
            assert isinstance(sock, socket.socket)
            try:
                if mask & selectors.EVENT_WRITE:
                    sock.sendall(_request(port))
                    selector.modify(sock, selectors.EVENT_READ)
                    continue
                data = sock.recv(4096)
            except OSError as exc:
                failed(sock, exc.strerror or type(exc).__name__)
                continue
            if not data:
                failed(sock, "closed by the server during the handshake")
                continue
            head = heads[sock] + data
            if b"\r\n\r\n" not in head:
                heads[sock] = head
                continue
            selector.unregister(sock)
            del heads[sock]
            in_flight -= 1
            status = head.split(b" ", 2)[1]
            if status != b"101":
                errors[f"HTTP {status.decode()}"] = errors.get(f"HTTP {status.decode()}", 0) + 1
                sock.close()
                continue
            held.append(sock)
    for sock in list(heads):
        failed(sock, f"no answer within {limit:g} s")
    errors_total = sum(errors.values())
    if launched < count:
        errors[f"not attempted within {limit:g} s"] = count - launched
        errors_total += count - launched
    selector.close()
    return held, {
        "held": len(held),
        "failed": errors_total,
        "errors": errors,
        "seconds": round(time.monotonic() - started, 2),
    }


def client_main(port: int, count: int, limit: float) -> None:
    """Open the connections, report them as one JSON line, hold them until stdin ends."""
    raise_nofile_limit()
    held, report = open_idle(port, count, limit)
    print(json.dumps(report), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()
    for sock in held:
        sock.close()


# -- the orchestrating process -----------------------------------------------------------


@dataclass
class Result:
    kind: str
    count: int
    held: int = 0
    failed: int = 0
    seconds: float = 0.0
    baseline_rss: int = 0
    grown_rss: int = 0
    threads: int = 0
    probe: str = ""
    note: str = ""

    @property
    def per_connection(self) -> float:
        return self.grown_rss / self.held if self.held else 0.0


def probe(url: str, timeout: float) -> str:
    """Check that the server still answers one echo; say how long it took, or why not."""
    import wscli

    started = time.monotonic()
    try:
        with wscli.connect(url, open_timeout=timeout, close_timeout=timeout) as ws:
            ws.send("probe")
            if ws.recv(timeout) != "probe":
                return "wrong echo"
    except Exception as exc:
        return f"no answer: {type(exc).__name__}: {exc}"
    return f"echo in {(time.monotonic() - started) * 1000:.1f} ms"


def settle_rss(server: ServerProcess, seconds: float = 3.0) -> int:
    """Read the RSS until it stops growing (threads may still be starting)."""
    last = server.rss()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = server.rss() if server.alive() else last
        if now <= last:
            return now
        last = now
    return last


@contextlib.contextmanager
def _server_stderr(path: str) -> Any:
    """Send what a server process writes to stderr (tracebacks of dropped clients) to
    ``path``: the child inherits file descriptor 2 as it is while it starts."""
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def measure(kind: str, count: int, limit: float, server_log: str = os.devnull) -> Result:
    result = Result(kind, count)
    with _server_stderr(server_log):
        server = ServerProcess(kind)
    with server:
        time.sleep(0.3)
        result.baseline_rss = settle_rss(server)
        client = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--client",
                str(server.port),
                str(count),
                str(limit),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=raise_nofile_limit,
        )
        try:
            assert client.stdout is not None
            line = client.stdout.readline()
            if not line:
                result.note = "client process failed"
                return result
            report = json.loads(line)
            result.held, result.failed = report["held"], report["failed"]
            result.seconds = report["seconds"]
            if report["errors"]:
                result.note = "; ".join(f"{n} x {why}" for why, n in report["errors"].items())
            if server.alive():
                result.grown_rss = settle_rss(server) - result.baseline_rss
                result.threads = server.threads()
                result.probe = probe(server.url, timeout=10.0)
            else:
                result.note = (result.note + "; " if result.note else "") + "server died"
        finally:
            with contextlib.suppress(OSError):
                assert client.stdin is not None
                client.stdin.close()
            try:
                client.wait(30)
            except subprocess.TimeoutExpired:
                client.kill()
                client.wait(5)
            if client.stdout is not None:
                client.stdout.close()
    return result


def table(results: list[Result]) -> str:
    lines = [
        "| server | connections | held | failed | open time | server RSS growth | "
        "per connection | server threads | probe while held | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.kind} | {r.count:,} | {r.held:,} | {r.failed:,} | {r.seconds:.1f} s | "
            f"{r.grown_rss / 2**20:.1f} MiB | {r.per_connection / 1024:.1f} KiB | "
            f"{r.threads:,} | {r.probe} | {r.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument(
        "--limit", type=float, default=60.0, help="seconds allowed to open each set of connections"
    )
    parser.add_argument(
        "--server-log", default=os.devnull, help="where the servers' stderr goes (default: nowhere)"
    )
    parser.add_argument(
        "--client", nargs=3, metavar=("PORT", "COUNT", "LIMIT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.client:
        client_main(int(args.client[0]), int(args.client[1]), float(args.client[2]))
        return
    soft = raise_nofile_limit()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    print(
        f"open-file limit: {soft} (hard {hard}); python {sys.version.split()[0]}; "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    results = []
    for count in args.counts:
        for kind in args.kinds:
            print(f"{kind}: {count:,} idle connections ...", flush=True)
            result = measure(kind, count, args.limit, args.server_log)
            print(
                f"  held {result.held:,}, failed {result.failed:,}, "
                f"{result.per_connection / 1024:.1f} KiB each, {result.threads} threads; "
                f"probe: {result.probe} {result.note}",
                flush=True,
            )
            results.append(result)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
