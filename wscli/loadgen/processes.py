"""Several worker processes: for machines where one Python thread cannot saturate a server.

One worker runs on the calling thread; the others are spawned processes that wait for
"go", run their share (:meth:`LoadConfig.share`), and report their stats every tick over
a pipe. The caller sees the merged stats.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from .config import LoadConfig
from .stats import ErrorKind, Problem, Stats
from .worker import TICK, Worker

__all__ = ["run_load"]


def _worker_main(config: LoadConfig, index_base: int, pipe: Any) -> None:
    """Entry point of a worker process: wait for "go", run, report over ``pipe``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    worker = Worker(config, index_base)
    pipe.send(("ready", None))
    message = pipe.recv()
    if not isinstance(message, tuple) or message[0] != "go":
        return
    epoch_ns = message[1]

    def tick(stats: Stats) -> None:
        if pipe.poll():
            message = pipe.recv()
            if message == "stop":
                worker.stop()
        pipe.send(("tick", stats.to_dict(series=False)))

    try:
        stats = worker.run(tick, epoch_ns=epoch_ns)
    except Exception as exc:  # the parent says why, once, at its error boundary
        with contextlib.suppress(OSError):  # a parent that already ended needs no news
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    pipe.send(("done", stats.to_dict()))


def run_load(config: LoadConfig, tick: Callable[[Stats], Any] | None = None) -> Stats:
    """Run ``config`` with ``config.workers`` processes and return the merged stats.

    Args:
        config: the whole load.
        tick: called about ten times a second with the merged stats so far.
    """
    if config.workers > config.connections:
        # A process without a connection would have nothing (and no rate) to run.
        config = dataclasses.replace(config, workers=max(1, config.connections))
    if config.workers <= 1:
        return Worker(config).run(tick)
    context = multiprocessing.get_context("spawn")
    children = []
    base = config.share(0).connections
    for number in range(1, config.workers):
        share = config.share(number)
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_worker_main, args=(share, base, child_end), daemon=True)
        process.start()
        child_end.close()
        children.append((process, parent_end))
        base += share.connections
    latest: dict[int, Stats] = {}
    finished: dict[int, Stats] = {}
    try:
        for _, pipe in children:
            pipe.recv()  # ready
        local = Worker(config.share(0))
        # Second 0 of every worker's series: one epoch on CLOCK_MONOTONIC, shared.
        epoch_ns = time.perf_counter_ns()
        for _, pipe in children:
            pipe.send(("go", epoch_ns))

        dead: dict[int, str] = {}

        def collect() -> None:
            for number, (process, pipe) in enumerate(children):
                while number not in finished and number not in dead and pipe.poll():
                    try:
                        kind, data = pipe.recv()
                    except (EOFError, OSError):
                        # The process died (killed, or a bug): it sends nothing more,
                        # so stop waiting for it; the run says so in its errors.
                        process.join(1)
                        dead[number] = f"exited with status {process.exitcode}"
                        break
                    if kind == "failed":
                        dead[number] = f"failed ({data})"
                        break
                    stats = Stats.from_dict(data)
                    latest[number] = stats
                    if kind == "done":
                        finished[number] = stats

        def merged(own: Stats, series: bool = False) -> Stats:
            total = Stats(config.connections)
            total.connections = 0
            total.merge(own, series=series)
            for stats in latest.values():
                total.merge(stats, series=series)
            return total

        def local_tick(own: Stats) -> None:
            collect()
            if tick is not None:
                tick(merged(own))

        try:
            own = local.run(local_tick, epoch_ns=epoch_ns)
        except KeyboardInterrupt:  # pragma: no cover - run() handles it
            own = local.stats
        if own.interrupted:
            for _, pipe in children:
                with contextlib.suppress(OSError):
                    pipe.send("stop")
        deadline = time.monotonic() + config.timeout + (config.duration or 0) + 60
        while len(finished) + len(dead) < len(children) and time.monotonic() < deadline:
            collect()
            if tick is not None:
                tick(merged(own))
            time.sleep(TICK)
        total = merged(own, series=True)
        total.connections = config.connections
        for number, what in dead.items():
            reason = f"load-generator process {number + 2} {what}"  # 1: this one
            total.add_error(Problem(ErrorKind.DROPPED, f"{reason}: its last results are missing"))
        return total
    finally:
        for process, pipe in children:
            pipe.close()
            process.join(2)
            if process.is_alive():
                process.terminate()
                process.join(1)
