"""Profile wscli's echo server under load: where the reactor thread's time goes per message.

::

    python benchmarks/profile_server.py                     # (b): 32 B, 64 in flight
    python benchmarks/profile_server.py --size 1048576 --pipeline 1 --seconds 5
    python benchmarks/profile_server.py --calls --pipeline 1  # calls per echo in (a)
    python benchmarks/profile_server.py --opcodes --pipeline 1 --size 1048576 --messages 100

The server (:func:`wscli.loadgen.serve_echo`) runs in this process with cProfile
enabled on its reactor thread only; the load generator (``wscli bench``'s) runs in a
child process, so its work does not show. Prints the functions by own time, then the
same per echoed message. cProfile roughly doubles the cost of each Python call, so read
the shares, not the absolute times; for absolute figures use ``run.py``'s CPU per
message, or ``valgrind --tool=callgrind`` instruction counts of a fixed workload.

``--calls`` counts instead of timing: every Python function call and every call of a
built-in on the reactor thread (``sys.setprofile``), per echoed message, exactly. It
runs two loads, of N and 5N messages, and divides the difference by 4N, so the
handshakes and closes cancel out; then it lists the functions called per echo.

``--opcodes`` counts the bytecodes the reactor thread runs, the same way, by function
(``sys.settrace`` with ``f_trace_opcodes``): where the interpreter's work per message
goes, independent of the machine's noise. Tracing makes the run slow, but the count
is exact: every bytecode run on the reactor thread is counted once.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wscli.core.sync import reactor as reactor_module  # noqa: E402
from wscli.loadgen import serve_echo  # noqa: E402

__all__ = ["main"]

_LOAD = """
import sys
from wscli.loadgen import LoadConfig, Worker
url, connections, pipeline, size, seconds, messages = sys.argv[1], *map(float, sys.argv[2:])
stats = Worker(LoadConfig(url=url, connections=int(connections),
    messages=int(messages) or None, duration=None if messages else seconds,
    size_min=int(size), size_max=int(size), pipeline=int(pipeline),
    binary=True, timeout=30.0)).run()
print(stats.received)
"""


def _load(port: int, args: argparse.Namespace, messages: int = 0) -> int:
    """Run the load generator in a child process; return how many echoes came back."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD,
            f"ws://127.0.0.1:{port}/",
            str(args.connections),
            str(args.pipeline),
            str(args.size),
            str(args.seconds),
            str(messages),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)),
        check=True,
    )
    return int(done.stdout.split()[-1])


def count_calls(args: argparse.Namespace) -> None:
    """Print the calls the reactor thread makes per echoed message, exactly."""
    counts: collections.Counter[str] = collections.Counter()
    root = os.path.dirname(HERE) + os.sep

    def count(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            counts[f"{code.co_filename.removeprefix(root)}:{code.co_name}"] += 1
        elif event == "c_call":
            counts[f"built-in {getattr(arg, '__qualname__', arg)}"] += 1

    per_echo = _per_echo(args, counts, lambda: sys.setprofile(count))
    python = sum(n for name, n in per_echo.items() if not name.startswith("built-in "))
    builtin = sum(n for name, n in per_echo.items() if name.startswith("built-in "))
    print(
        f"{args.size} B, {args.pipeline} in flight: per echo {python:.1f} Python calls "
        f"and {builtin:.1f} calls of built-ins ({python + builtin:.1f} in all)"
    )
    _print_counts(per_echo, 0.05)


def count_opcodes(args: argparse.Namespace) -> None:
    """Print the bytecodes the reactor thread runs per echoed message, by function."""
    counts: collections.Counter[str] = collections.Counter()
    root = os.path.dirname(HERE) + os.sep

    def call(frame: Any, event: str, arg: Any) -> Any:
        # Only "call" events reach the global trace function; each frame then gets a
        # local one that sees its opcodes (f_trace_opcodes) and counts them.
        code = frame.f_code
        name = f"{code.co_filename.removeprefix(root)}:{code.co_firstlineno}:{code.co_name}"
        frame.f_trace_opcodes = True

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[name] += 1
            return local

        return local

    per_echo = _per_echo(args, counts, lambda: sys.settrace(call))
    total = sum(per_echo.values())
    print(f"{args.size} B, {args.pipeline} in flight: {total:.1f} bytecodes per echo")
    _print_counts(per_echo, 0.5)


def _per_echo(
    args: argparse.Namespace, counts: collections.Counter[str], install: Any
) -> dict[str, float]:
    """Run loads of N and 5N messages with ``install()`` called on the reactor thread;
    return each counter's growth per echo of the difference (handshakes cancel out)."""
    run = reactor_module.Reactor._run

    def counted_run(self: Any) -> None:
        install()
        run(self)

    reactor_module.Reactor._run = counted_run  # type: ignore[method-assign]
    server = serve_echo("127.0.0.1", 0)
    try:
        first = _load(server.port, args, args.messages)
        time.sleep(0.3)  # the close finishes on the reactor thread
        before = counts.copy()
        second = _load(server.port, args, 5 * args.messages)
        time.sleep(0.3)
    finally:
        server.close()
        reactor_module.Reactor._run = run  # type: ignore[method-assign]
    sys.setprofile(None)
    sys.settrace(None)
    echoes = second - first
    return {
        name: (counts[name] - 2 * before.get(name, 0)) / echoes
        for name in counts
        if counts[name] - 2 * before.get(name, 0) > 0
    }


def _print_counts(per_echo: dict[str, float], smallest: float) -> None:
    for name, n in sorted(per_echo.items(), key=lambda item: -item[1]):
        if n >= smallest:
            print(f"  {n:7.2f}  {name}")


def main(argv: list[str] | None = None) -> None:
    """Run the load against a profiled server and print the profile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--pipeline", type=int, default=64)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--calls", action="store_true", help="count calls per echo instead")
    parser.add_argument(
        "--opcodes", action="store_true", help="count bytecodes per echo, by function, instead"
    )
    parser.add_argument("--messages", type=int, default=1000, help="N, for --calls and --opcodes")
    args = parser.parse_args(argv)
    if args.calls:
        count_calls(args)
        return
    if args.opcodes:
        count_opcodes(args)
        return

    profile = cProfile.Profile()
    run = reactor_module.Reactor._run

    def profiled_run(self: Any) -> None:
        profile.enable()
        try:
            run(self)
        finally:
            profile.disable()

    reactor_module.Reactor._run = profiled_run  # type: ignore[method-assign]
    server = serve_echo("127.0.0.1", 0)
    try:
        echoed = _load(server.port, args)
    finally:
        server.close()
        time.sleep(0.5)
    print(f"{echoed:,} messages echoed in {args.seconds:g} s")
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(args.top)
    # Own time of every function but the wait in epoll: the reactor thread's work.
    busy = sum(
        entry[2]
        for (_, _, name), entry in stats.stats.items()  # type: ignore[attr-defined]
        if "select.epoll" not in name
    )
    print(f"reactor thread busy (profiled, epoll wait excluded): {busy / echoed * 1e6:.2f} µs/msg")


if __name__ == "__main__":
    main()
