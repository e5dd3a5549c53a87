"""Which WebSocket client suits Locust's gevent users, and what one Locust worker does.

Runs, side by side against one embedded wscli echo server (its own process), each for
``--seconds`` with ``--users`` connections in closed loop (one message in flight each,
32-byte text, every echo checked):

* ``greenlet``: :class:`wscli.locust.client.WebSocketClient` (the sans-I/O core over
  the greenlet's own patched socket), one greenlet per connection, under
  ``gevent.monkey.patch_all()``;
* ``reactor``: :func:`wscli.connect` (the threaded layer: a reactor thread that gevent's
  patching turns into one more greenlet, and ``recv()`` waiting on a patched condition);
* ``locust``: one headless Locust process running ``examples/locustfile.py`` (the
  ``greenlet`` client plus Locust's statistics);
* ``locust-2w``: one Locust master and two workers (the users split between them);
  its messages per second are per worker;
* ``bench``: ``wscli bench`` with the same connections, one process.

Each client runs in a fresh process, since gevent's patching is process-wide. Reported:
messages per second, and messages per CPU-second of the load process (what one worker
core gives). Usage::

    python benchmarks/locust_clients.py [--users 50] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The body of a client process: argv = [variant, url, users, seconds]; prints JSON.
_CLIENT = r"""
from gevent import monkey
monkey.patch_all()
import json, sys, time
import gevent
variant, url, users, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
counts = []

def greenlet_user(n):
    from wscli.locust.client import WebSocketClient
    client = WebSocketClient(url, open_timeout=10)
    client.connect()
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        message = "%016x" % count + "x" * 16
        client.send(message)
        assert client.recv(10) == message
        count += 1
    client.close()
    counts.append(count)

def reactor_user(n):
    import wscli
    ws = wscli.connect(url)
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        message = "%016x" % count + "x" * 16
        ws.send(message)
        assert ws.recv(timeout=10) == message
        count += 1
    ws.close()
    counts.append(count)

target = greenlet_user if variant == "greenlet" else reactor_user
cpu = time.process_time()
started = time.monotonic()
gevent.joinall([gevent.spawn(target, n) for n in range(users)], timeout=seconds + 30)
print(json.dumps({"messages": sum(counts), "users_done": len(counts),
                  "wall": time.monotonic() - started, "cpu": time.process_time() - cpu}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_client(variant: str, url: str, users: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CLIENT, variant, url, str(users), str(seconds)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=seconds + 120,
        check=True,
    )
    data: dict[str, float] = json.loads(out.stdout)
    return data


def run_locust(url: str, users: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        before = _child_cpu()
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "examples" / "locustfile.py")]
            + ["--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s"]
            + ["--host", url, "--json-file", "result", "--only-summary"],
            capture_output=True,
            env=_env(),
            cwd=tmp,
            timeout=seconds + 120,
            check=True,
        )
        wall = time.monotonic() - started
        entries = json.loads((Path(tmp) / "result.json").read_text())
    echoes = sum(e["num_requests"] for e in entries if e["name"] == "echo")
    failures = sum(e["num_failures"] for e in entries)
    # The spawn takes a moment and the run time counts from the first user.
    return {
        "messages": echoes,
        "failures": failures,
        "wall": float(seconds),
        "cpu": _child_cpu() - before,
        "process_wall": wall,
    }


def run_distributed(url: str, users: int, seconds: float) -> dict[str, float]:
    """A master and two workers on loopback; per-worker rate and CPU."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    common = ["-m", "locust", "-f", str(ROOT / "examples" / "locustfile.py"), "--host", url]
    with tempfile.TemporaryDirectory() as tmp:
        before = _child_cpu()
        workers = [
            subprocess.Popen(
                [sys.executable, *common, "--worker", "--master-port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=_env(),
                cwd=tmp,
            )
            for _ in range(2)
        ]
        try:
            subprocess.run(
                [sys.executable, *common, "--master", "--headless", "--expect-workers", "2"]
                + ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
                + ["-u", str(users), "-r", str(users), "-t", f"{seconds:g}s"]
                + ["--json-file", "result", "--only-summary"],
                capture_output=True,
                env=_env(),
                cwd=tmp,
                timeout=seconds + 120,
                check=True,
            )
            for worker in workers:
                worker.wait(timeout=30)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        entries = json.loads((Path(tmp) / "result.json").read_text())
    echoes = sum(e["num_requests"] for e in entries if e["name"] == "echo")
    # Per worker: half the echoes over half the CPU of all three processes.
    return {"messages": echoes / 2, "wall": float(seconds), "cpu": (_child_cpu() - before) / 2}


def run_bench(url: str, users: int, seconds: float) -> dict[str, float]:
    """``wscli bench`` in its own process; CPU counted as for the others."""
    before = _child_cpu()
    out = subprocess.run(
        [sys.executable, "-m", "wscli", "bench", "-c", str(users), "-d", f"{seconds:g}s"]
        + ["--json", url],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=seconds + 120,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "messages": data["messages"]["verified"],
        "wall": float(data["messages"]["seconds"]),
        "cpu": _child_cpu() - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from wscli.loadgen.echo import EchoServerProcess

    server = EchoServerProcess()
    try:
        rows = {
            "greenlet": run_client("greenlet", server.url, args.users, args.seconds),
            "reactor": run_client("reactor", server.url, args.users, args.seconds),
            "locust": run_locust(server.url, args.users, args.seconds),
            "locust-2w": run_distributed(server.url, args.users, args.seconds),
            "bench": run_bench(server.url, args.users, args.seconds),
        }
    finally:
        server.close()
    print(f"{args.users} connections, {args.seconds:g} s each, 32 B text, 1 in flight")
    print(f"{'client':10} {'msg/s':>10} {'msg/CPU-s':>10}")
    for name, row in rows.items():
        rate = row["messages"] / row["wall"]
        per_cpu = row["messages"] / row["cpu"] if row["cpu"] else float("nan")
        print(f"{name:10} {rate:10,.0f} {per_cpu:10,.0f}")


if __name__ == "__main__":
    main()
