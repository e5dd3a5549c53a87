"""A/B two (or more) source trees of wscli's echo server under the same load.

For trying a change to ``wscli.core``: copy the tree, change it, then::

    python benchmarks/compare.py /path/to/before /path/to/after --pipeline 64
    python benchmarks/compare.py . /tmp/patched --size 1MiB --pipeline 2 --rounds 8

Each tree's ``wscli`` package serves from a process of its own (``PYTHONPATH`` points at
the tree); the load generator is this checkout's. Rounds alternate the order of the
servers, and the verdict is the median over rounds of each tree's rate divided by the
first tree's rate in the same round: on a noisy machine, only ratios taken side by side
mean anything. It also prints each server's CPU time per echoed message (user + system,
from ``/proc``, Linux only) and the median latency, with the same per-round ratios: with
one message in flight (``--pipeline 1``) the rate is mostly the kernel's round trip,
and CPU per message is what tells two trees apart. ``--busy-loops`` keeps every vCPU
awake during the run, as ``run.py`` does for its scenario (a).

``--clients`` turns it around, for a change to the load generator (or to the core's
parser, which the generator uses): one server (this checkout's) and each tree's
``wscli.loadgen`` in a process of its own, rounds alternating as above; it also prints
each tree's client CPU time per message, which the machine's noise disturbs far less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wscli.loadgen import LoadConfig, Worker  # noqa: E402

__all__ = ["main"]


def _size(text: str) -> int:
    units = {"kib": 1024, "mib": 2**20, "k": 1000, "m": 10**6}
    lower = text.lower()
    for unit, scale in units.items():
        if lower.endswith(unit):
            return int(float(lower[: -len(unit)]) * scale)
    return int(lower)


def main(argv: list[str] | None = None) -> None:
    """Print each tree's median messages per second and its ratio to the first tree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="directories that contain a wscli package")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--pipeline", type=int, default=64)
    parser.add_argument("--size", type=_size, default=32)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--clients", action="store_true", help="compare the trees' load generators instead"
    )
    parser.add_argument(
        "--busy-loops", action="store_true", help="one nice -n 19 busy loop per CPU meanwhile"
    )
    args = parser.parse_args(argv)
    if args.clients:
        _compare_clients(args)
        return
    from run import busy_loops

    with busy_loops(args.busy_loops):
        _compare_servers(args)


def _compare_servers(args: argparse.Namespace) -> None:
    """Each tree's echo server under this checkout's load generator, alternating rounds."""
    from run import cpu_seconds

    servers = []
    try:
        for tree in args.trees:
            env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
            process = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "servers.py"), "wscli"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd="/",
            )
            assert process.stdout is not None
            servers.append((tree, process, int(process.stdout.readline())))
        rates: dict[str, list[float]] = {tree: [] for tree in args.trees}
        cpus: dict[str, list[float]] = {tree: [] for tree in args.trees}
        p50s: dict[str, list[float]] = {tree: [] for tree in args.trees}
        for round_number in range(args.rounds + 1):  # round 0 warms up
            shift = round_number % len(servers)
            for tree, process, port in servers[shift:] + servers[:shift]:
                config = LoadConfig(
                    url=f"ws://127.0.0.1:{port}/",
                    connections=args.connections,
                    messages=None,
                    duration=args.seconds,
                    size_min=args.size,
                    size_max=args.size,
                    pipeline=args.pipeline,
                    binary=True,
                )
                before = cpu_seconds(process.pid)
                stats = Worker(config).run()
                used = cpu_seconds(process.pid) - before
                if round_number:
                    rates[tree].append(stats.messages_per_second)
                    cpus[tree].append(used / max(1, stats.received))
                    p50s[tree].append(stats.latency.percentile(50))
        first, first_cpu = rates[args.trees[0]], cpus[args.trees[0]]
        for tree in args.trees:
            ratios = [mine / base for mine, base in zip(rates[tree], first, strict=True)]
            cpu_ratios = [
                mine / base if base else 0.0
                for mine, base in zip(cpus[tree], first_cpu, strict=True)
            ]
            print(
                f"{tree}: median {statistics.median(rates[tree]):,.0f} msg/s, "
                f"x{statistics.median(ratios):.2f} vs {args.trees[0]} "
                f"(rounds: {', '.join(f'{r:,.0f}' for r in rates[tree])}); "
                f"server CPU {statistics.median(cpus[tree]) * 1e6:.2f} us/msg, "
                f"x{statistics.median(cpu_ratios):.2f} "
                f"(range x{min(cpu_ratios):.2f}-x{max(cpu_ratios):.2f}); "
                f"p50 {statistics.median(p50s[tree]) * 1e6:.0f} us"
            )
    finally:
        for _, process, _ in servers:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(10)


#: Run in a fresh interpreter whose ``PYTHONPATH`` is one tree: one timed load.
_CLIENT = """
import json, resource, sys
from wscli.loadgen import LoadConfig, Worker
before = resource.getrusage(resource.RUSAGE_SELF)
stats = Worker(LoadConfig(**json.loads(sys.argv[1]))).run()
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
print(json.dumps([stats.messages_per_second, cpu / max(1, stats.received), stats.error_count]))
"""


def _compare_clients(args: argparse.Namespace) -> None:
    """Each tree's load generator against one server, in alternating rounds."""
    process = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "servers.py"), "wscli"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)),
        cwd="/",
    )
    assert process.stdout is not None and process.stdin is not None
    port = int(process.stdout.readline())
    load = {
        "url": f"ws://127.0.0.1:{port}/",
        "connections": args.connections,
        "messages": None,
        "duration": args.seconds,
        "size_min": args.size,
        "size_max": args.size,
        "pipeline": args.pipeline,
        "binary": True,
    }
    rates: dict[str, list[float]] = {tree: [] for tree in args.trees}
    cpus: dict[str, list[float]] = {tree: [] for tree in args.trees}
    try:
        for round_number in range(args.rounds + 1):  # round 0 warms up
            shift = round_number % len(args.trees)
            for tree in args.trees[shift:] + args.trees[:shift]:
                run = subprocess.run(
                    [sys.executable, "-c", _CLIENT, json.dumps(load)],
                    capture_output=True,
                    text=True,
                    env=dict(os.environ, PYTHONPATH=os.path.abspath(tree)),
                    cwd="/",
                    check=True,
                )
                rate, cpu, errors = json.loads(run.stdout.splitlines()[-1])
                if errors:
                    raise SystemExit(f"{tree}: {errors} errors")
                if round_number:
                    rates[tree].append(rate)
                    cpus[tree].append(cpu)
    finally:
        process.stdin.close()
        process.wait(10)
    first = rates[args.trees[0]]
    for tree in args.trees:
        ratios = [mine / base for mine, base in zip(rates[tree], first, strict=True)]
        print(
            f"{tree}: median {statistics.median(rates[tree]):,.0f} msg/s, "
            f"x{statistics.median(ratios):.2f} vs {args.trees[0]} "
            f"(range x{min(ratios):.2f}-x{max(ratios):.2f}), "
            f"client CPU {statistics.median(cpus[tree]) * 1e6:.2f} us/msg"
        )


if __name__ == "__main__":
    main()
