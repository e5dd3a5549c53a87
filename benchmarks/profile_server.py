"""Profile wscli's echo server under load: where the reactor thread's time goes per message.

::

    python benchmarks/profile_server.py                     # (b): 32 B, 64 in flight
    python benchmarks/profile_server.py --size 1048576 --pipeline 1 --seconds 5

The server (:func:`wscli.loadgen.serve_echo`) runs in this process with cProfile
enabled on its reactor thread only; the load generator (``wscli bench``'s) runs in a
child process, so its work does not show. Prints the functions by own time, then the
same per echoed message. cProfile roughly doubles the cost of each Python call, so read
the shares, not the absolute times; for absolute figures use ``run.py``'s CPU per
message, or ``valgrind --tool=callgrind`` instruction counts of a fixed workload.
"""

from __future__ import annotations

import argparse
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
url, connections, pipeline, size, seconds = sys.argv[1], *map(float, sys.argv[2:])
stats = Worker(LoadConfig(url=url, connections=int(connections), messages=None,
    duration=seconds, size_min=int(size), size_max=int(size), pipeline=int(pipeline),
    binary=True, timeout=30.0)).run()
print(stats.received)
"""


def main(argv: list[str] | None = None) -> None:
    """Run the load against a profiled server and print the profile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--pipeline", type=int, default=64)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

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
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _LOAD,
                f"ws://127.0.0.1:{server.port}/",
                str(args.connections),
                str(args.pipeline),
                str(args.size),
                str(args.seconds),
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)),
            check=True,
        )
    finally:
        server.close()
        time.sleep(0.5)
    echoed = int(done.stdout.split()[-1])
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
