"""Run the benchmark matrix: wscli's echo server against websockets', side by side.

One command, from the repository root::

    python benchmarks/run.py                  # everything, about six minutes
    python benchmarks/run.py --only b c       # some scenarios
    python benchmarks/run.py --rounds 5 --seconds 3 --markdown results.md

What it does, in one run, because these machines are noisy and only figures taken side
by side compare:

1. starts each echo server in a process of its own (``benchmarks/servers.py``): wscli,
   websockets' threaded (sync) and asyncio servers, a raw TCP echo (the ceiling: no
   WebSocket at all), and node's ``ws`` when node and the package are installed;
2. drives every server with the same load generators: ``wscli bench``'s
   (:mod:`wscli.loadgen`), from this process, and node's ``ws`` client
   (``node_client.js``, when node and ws are installed; ``--clients`` picks). The raw
   TCP row is each generator's own ceiling: it shows how much more the generator can
   drive than any WebSocket server answers;
3. for each scenario, runs ``--rounds`` rounds; each round measures every server once
   with each generator, in a rotated order, for ``--seconds``; it reports the median
   messages per second, the median p50/p99, the median of the per-round ratios to
   websockets-sync, and the server's CPU time per echoed message with the median of
   its per-round ratio to picows';
4. opens 1,000 and 10,000 idle connections to fresh servers and reports what each
   connection costs in server memory (RSS growth / connections held);
5. measures the frame codec alone (``benchmarks/bench_codec.py``).

Scenarios: (a) 1 connection, 1 message in flight, 32 bytes: latency; (b) 1 connection,
64 in flight, 32 bytes: small-message throughput; (c) 8 connections x 16 in flight x
1 KiB; (d) 1 MiB messages, 1 connection, 1 in flight: bulk; (e) idle connections.
Messages are binary. While (a) runs, one lowest-priority busy loop per CPU
(``nice -n 19``) keeps every vCPU awake: on a virtual machine an idle vCPU takes tens
of microseconds to wake, and (a) would compare wake-up times, not code.

Node's ``ws`` (optional): ``mkdir -p /tmp/nodebench && cd /tmp/nodebench && npm install
ws`` (or point ``WSCLI_NODE_MODULES`` at a directory holding ``node_modules/ws``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_codec  # noqa: E402
from servers import ServerProcess, node_modules_dir, raise_nofile_limit  # noqa: E402

from wscli.loadgen import LoadConfig, Stats, Worker  # noqa: E402

__all__ = ["main", "SCENARIOS"]

BASELINE = "websockets-sync"
CLIENT_TITLES = {
    "wscli": "wscli bench's (Python, one selectors loop)",
    "node": "node's ws client (benchmarks/node_client.js)",
}


@dataclass(frozen=True)
class Scenario:
    """One row of the matrix."""

    key: str
    title: str
    connections: int
    pipeline: int
    size: int
    target: float  # required ratio of wscli's messages/s to websockets-sync's
    busy_loops: bool = False


SCENARIOS = {
    "a": Scenario("a", "latency: 1 conn, 1 in flight, 32 B", 1, 1, 32, 1.2, busy_loops=True),
    "b": Scenario("b", "small messages: 1 conn, 64 in flight, 32 B", 1, 64, 32, 2.0),
    "c": Scenario("c", "8 conns x 16 in flight x 1 KiB", 8, 16, 1024, 2.0),
    "d": Scenario("d", "bulk: 1 conn, 1 in flight, 1 MiB", 1, 1, 1 << 20, 1.0),
}
IDLE_COUNTS = (1000, 10000)


@dataclass
class Sample:
    """One measurement of one server in one round."""

    rate: float
    p50: float
    p99: float
    server_cpu: float
    errors: int
    cpu_per_message: float = 0.0  # server CPU seconds / every message it echoed


@dataclass
class Cell:
    """All rounds of one server in one scenario."""

    samples: list[Sample] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(s, name) for s in self.samples) if self.samples else 0.0


# -- measuring ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(server: ServerProcess, scenario: Scenario, seconds: float, client: str) -> Sample:
    """Run one scenario against one server for ``seconds`` with one load generator."""
    if client == "node":
        return drive_node(server, scenario, seconds)
    config = LoadConfig(
        url=server.url,
        connections=scenario.connections,
        messages=None,
        duration=seconds,
        size_min=scenario.size,
        size_max=scenario.size,
        pipeline=scenario.pipeline,
        binary=True,
        raw=server.raw,
        timeout=30.0,
    )
    before = cpu_seconds(server.pid)
    started = time.monotonic()
    stats = Worker(config).run()
    elapsed = time.monotonic() - started
    used = cpu_seconds(server.pid) - before
    return Sample(
        rate=stats.messages_per_second,
        p50=stats.latency.percentile(50),
        p99=stats.latency.percentile(99),
        server_cpu=used / elapsed if elapsed else 0.0,
        errors=stats.error_count + stats.lost + stats.failed,
        cpu_per_message=used / stats.received if stats.received else 0.0,
    )


def drive_node(server: ServerProcess, scenario: Scenario, seconds: float) -> Sample:
    """The same scenario driven by ``node_client.js`` (node's ``ws`` client)."""
    modules = node_modules_dir()
    assert modules is not None
    command = [
        "node",
        os.path.join(HERE, "node_client.js"),
        server.url,
        str(scenario.connections),
        str(scenario.pipeline),
        str(scenario.size),
        str(seconds),
        *(["raw"] if server.raw else []),
    ]
    env = dict(os.environ, NODE_PATH=os.path.join(modules, "node_modules"))
    before = cpu_seconds(server.pid)
    started = time.monotonic()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False
    )
    elapsed = time.monotonic() - started
    used = cpu_seconds(server.pid) - before
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"node client failed: {done.stderr.strip()[-500:]}") from None
    return Sample(
        rate=report["messages"] / report["seconds"] if report["seconds"] else 0.0,
        p50=report["p50"],
        p99=report["p99"],
        server_cpu=used / elapsed if elapsed else 0.0,
        errors=report["errors"],
        cpu_per_message=used / report["echoed"] if report["echoed"] else 0.0,
    )


@contextlib.contextmanager
def busy_loops(enabled: bool) -> Iterator[None]:
    """One ``nice -n 19`` busy loop per CPU while the block runs, to keep vCPUs awake."""
    processes: list[subprocess.Popen[bytes]] = []
    if enabled:
        for _ in range(os.cpu_count() or 1):
            processes.append(
                subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
            )
        time.sleep(0.2)
    try:
        yield
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


Results = dict[str, dict[str, dict[str, Cell]]]
"""results[client][scenario key][server kind]"""


def run_matrix(
    kinds: list[str], keys: list[str], clients: list[str], rounds: int, seconds: float, log: Any
) -> Results:
    """Measure every scenario in ``keys`` against every server kind with every load
    generator, ``rounds`` times; the order of servers rotates from round to round."""
    results: Results = {client: {} for client in clients}
    servers = {kind: ServerProcess(kind) for kind in kinds}
    try:
        for key in keys:
            scenario = SCENARIOS[key]
            for client in clients:
                results[client][key] = {kind: Cell() for kind in kinds}
            with busy_loops(scenario.busy_loops):
                for kind in kinds:  # warm up: first connections, allocator, caches
                    drive(servers[kind], scenario, min(0.5, seconds), clients[0])
                for round_number in range(rounds):
                    shift = round_number % len(kinds)
                    order = clients if round_number % 2 == 0 else clients[::-1]
                    for client in order:
                        cells = results[client][key]
                        for kind in kinds[shift:] + kinds[:shift]:
                            sample = drive(servers[kind], scenario, seconds, client)
                            cells[kind].samples.append(sample)
                            log(
                                f"  ({key}) round {round_number + 1} {client:<5} {kind:<16} "
                                f"{sample.rate:>10,.0f} msg/s  p50 {sample.p50 * 1e6:7.0f} us  "
                                f"server cpu {sample.server_cpu * 100:3.0f}%  "
                                f"{sample.cpu_per_message * 1e6:8.1f} us/msg"
                            )
    finally:
        for server in servers.values():
            server.close()
    return results


@dataclass
class Idle:
    """What holding ``count`` idle connections cost one server."""

    kind: str
    count: int
    held: int = 0
    failed: int = 0
    per_connection: float = 0.0
    threads: int = 0
    seconds: float = 0.0
    note: str = ""


def measure_idle(kind: str, count: int, limit: float, log: Any) -> Idle:
    """Open ``count`` connections (each echoes one message), then read the server's RSS."""
    result = Idle(kind, count)
    with ServerProcess(kind) as server:
        time.sleep(0.3)
        baseline = server.rss()
        config = LoadConfig(
            url=server.url,
            connections=count,
            messages=1,
            pipeline=1,
            size_min=32,
            size_max=32,
            binary=True,
            raw=server.raw,
            hold=limit + 60,
            timeout=30.0,
        )
        worker = Worker(config)
        started = time.monotonic()
        state: dict[str, float] = {}

        def tick(stats: Stats) -> None:
            now = time.monotonic()
            if "measured" in state:
                return
            settled = stats.opened + stats.failed >= count and (
                stats.received + stats.lost >= stats.opened
            )
            if settled and "settled" not in state:
                state["settled"] = now
            if (settled and now - state["settled"] >= 1.0) or now - started > limit:
                state["measured"] = now
                result.held = stats.received if server.alive() else 0
                result.failed = count - result.held
                result.threads = server.threads() if server.alive() else 0
                grown = server.rss() - baseline if server.alive() else 0
                result.per_connection = grown / result.held if result.held else 0.0
                result.seconds = now - started
                if not settled:
                    result.note = f"gave up after {limit:g} s"
                if stats.errors:
                    reason, n = stats.errors.most_common(1)[0]
                    result.note = (result.note + "; " if result.note else "") + f"{n} x {reason}"
                worker.stop()

        worker.run(tick)
        if not server.alive():
            result.note = (result.note + "; " if result.note else "") + "server died"
    log(
        f"  (e) {kind:<20} {count:>6} connections: {result.held} held, "
        f"{result.per_connection / 1024:.1f} KiB each, {result.threads} threads "
        f"{result.note}"
    )
    return result


# -- reporting -------------------------------------------------------------------------------


def environment() -> list[str]:
    """Lines describing the machine and the software measured."""
    from wscli.core.masking import HAVE_SPEEDUPS

    try:
        import websockets

        websockets_version = websockets.__version__
    except ImportError:  # pragma: no cover
        websockets_version = "missing"
    model = ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                "",
            )
    node = "not installed"
    if node_modules_dir() is not None:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return [
        f"- machine: {os.cpu_count()} CPUs ({model or platform.machine()}), "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, wscli C masking: "
        f"{'yes' if HAVE_SPEEDUPS else 'no'}, websockets {websockets_version}, node {node}",
        f"- CPU idle just before the run: {cpu_idle_percent():.0f} %",
    ]


def cpu_idle_percent(seconds: float = 2.0) -> float:
    """How idle the machine is (all CPUs, from /proc/stat): other work skews every figure.

    The load average would mislead: it still counts the thousands of threads a
    threaded server ran minutes ago.
    """

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    idle_before, total_before = sample()
    time.sleep(seconds)
    idle_after, total_after = sample()
    total = total_after - total_before
    return 100.0 * (idle_after - idle_before) / total if total else 0.0


def ratio_cell(cells: dict[str, Cell], kind: str) -> float | None:
    """Median over rounds of (kind's rate / websockets-sync's rate in the same round)."""
    if BASELINE not in cells or not cells[kind].samples:
        return None
    ratios = [
        mine.rate / base.rate
        for mine, base in zip(cells[kind].samples, cells[BASELINE].samples, strict=True)
        if base.rate
    ]
    return statistics.median(ratios) if ratios else None


def matrix_markdown(results: dict[str, dict[str, Cell]], kinds: list[str]) -> list[str]:
    """The main table: msg/s and p50 per server, ratios to websockets-sync, the verdict."""
    header = "| scenario | " + " | ".join(kinds) + " | wscli / websockets-sync | target |"
    lines = [header, "|---" * (len(kinds) + 3) + "|"]
    for key, cells in results.items():
        scenario = SCENARIOS[key]
        row = [f"({key}) {scenario.title}"]
        for kind in kinds:
            cell = cells[kind]
            text = f"{cell.median('rate'):,.0f}/s, p50 {cell.median('p50') * 1e6:,.0f} µs"
            ratio = ratio_cell(cells, kind)
            if ratio is not None and kind != BASELINE:
                text += f" (**{ratio:.2f}x**)"
            if cell.median("errors"):
                text += f", {cell.median('errors'):.0f} errors"
            row.append(text)
        ratio = ratio_cell(cells, "wscli") if "wscli" in cells else None
        verdict = "n/a"
        if ratio is not None:
            ok = ratio >= scenario.target
            if key == "a":
                ok = ok and cells["wscli"].median("p50") <= cells[BASELINE].median("p50")
            verdict = "met" if ok else "missed"
        target = f">= {scenario.target:g}x" + (", p50 no worse" if key == "a" else "")
        row.append(f"{ratio:.2f}x" if ratio is not None else "n/a")
        row.append(f"{target}: {verdict}")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def cpu_per_message(cell: Cell) -> float:
    """Median over rounds of the server's CPU seconds per echoed message.

    Once the load generator saturates a core, msg/s stops separating fast servers; the
    CPU each one spends per message still does.
    """
    values = [s.cpu_per_message for s in cell.samples if s.cpu_per_message]
    return statistics.median(values) if values else 0.0


def cpu_ratio(cells: dict[str, Cell], kind: str, base: str) -> float | None:
    """Median over rounds of (kind's CPU per message / base's in the same round)."""
    if kind not in cells or base not in cells:
        return None
    ratios = [
        mine.cpu_per_message / other.cpu_per_message
        for mine, other in zip(cells[kind].samples, cells[base].samples, strict=True)
        if other.cpu_per_message
    ]
    return statistics.median(ratios) if ratios else None


def cpu_markdown(results: dict[str, dict[str, Cell]], kinds: list[str]) -> list[str]:
    """Server CPU per message, CPU use (% of one core) and p99 latency per scenario, and
    the CPU targets: wscli / picows <= 1.0 everywhere, bulk <= 0.5x websockets-sync."""
    lines = [
        "| scenario | " + " | ".join(kinds) + " | wscli / picows | target |",
        "|---" * (len(kinds) + 3) + "|",
    ]
    for key, cells in results.items():
        row = [f"({key})"] + [
            f"**{cpu_per_message(cells[kind]) * 1e6:,.1f} µs/msg**, "
            f"{cells[kind].median('server_cpu') * 100:.0f}%, p99 "
            f"{cells[kind].median('p99') * 1e6:,.0f} µs"
            for kind in kinds
        ]
        ratio = cpu_ratio(cells, "wscli", "picows")
        row.append(f"{ratio:.2f}x" if ratio is not None else "n/a")
        verdicts = []
        if ratio is not None:
            verdicts.append(f"<= 1.0x picows: {'met' if ratio <= 1.0 else 'missed'}")
        if key == "a" and "wscli" in cells and "picows" in cells:
            ok = cells["wscli"].median("p50") <= cells["picows"].median("p50")
            verdicts.append(f"p50 no worse than picows: {'met' if ok else 'missed'}")
        bulk = cpu_ratio(cells, "wscli", BASELINE) if key == "d" else None
        if bulk is not None:
            verdicts.append(
                f"<= 0.5x {BASELINE}: {'met' if bulk <= 0.5 else 'missed'} ({bulk:.2f}x)"
            )
        row.append("; ".join(verdicts) or "n/a")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def idle_markdown(idle: list[Idle]) -> list[str]:
    """The idle-connection table."""
    lines = [
        "| server | connections | held | KiB per connection | threads | time | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in idle:
        lines.append(
            f"| {item.kind} | {item.count:,} | {item.held:,} | "
            f"{item.per_connection / 1024:.1f} | {item.threads:,} | {item.seconds:.1f} s | "
            f"{item.note} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print Markdown tables (also to ``--markdown`` FILE)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[*SCENARIOS, "e", "codec"],
        help="run only these parts (default: a b c d e codec)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--servers", nargs="+", help="server kinds (default: all available)")
    parser.add_argument(
        "--clients",
        nargs="+",
        choices=list(CLIENT_TITLES),
        help="load generators (default: wscli, and node when node's ws is installed)",
    )
    parser.add_argument(
        "--idle-limit",
        type=float,
        default=90.0,
        help="seconds allowed to open the idle connections",
    )
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables here")
    args = parser.parse_args(argv)
    parts = args.only or [*SCENARIOS, "e", "codec"]
    kinds = args.servers or ["wscli", "websockets-sync", "websockets-asyncio", "raw-tcp"]
    if args.servers is None and importlib.util.find_spec("picows") is not None:
        kinds[3:3] = ["picows", "picows-uvloop"]
    if args.servers is None and node_modules_dir() is not None:
        kinds.append("node-ws")
    elif "node-ws" in kinds and node_modules_dir() is None:
        sys.exit(
            "node-ws needs node and ws: mkdir -p /tmp/nodebench && cd /tmp/nodebench "
            "&& npm install ws"
        )
    clients = args.clients or ["wscli", *(["node"] if node_modules_dir() else [])]
    if "node" in clients and node_modules_dir() is None:
        sys.exit("the node client needs node and ws (see benchmarks/README.md)")
    raise_nofile_limit()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    out = [
        "# wscli benchmark",
        "",
        f"`python benchmarks/{' '.join(['run.py', *sys.argv[1:]])}`",
        "",
        *environment(),
        "",
    ]
    keys = [key for key in SCENARIOS if key in parts]
    if keys:
        log(
            f"matrix: {', '.join(keys)} x {', '.join(kinds)} x clients "
            f"{', '.join(clients)}, {args.rounds} rounds of "
            f"{args.seconds:g} s"
        )
        results = run_matrix(kinds, keys, clients, args.rounds, args.seconds, log)
        for client in clients:
            out += [
                f"## Load generator: {CLIENT_TITLES[client]}",
                "",
                f"### Messages per second (median of {args.rounds} rounds of {args.seconds:g} s)",
                "",
                "Each cell: echoes verified per second and median latency; in bold, the "
                "median of the per-round ratios to websockets-sync. raw-tcp echoes bytes "
                "without WebSocket: it is the load generator's own ceiling.",
                "",
                *matrix_markdown(results[client], kinds),
                "",
                "### Server CPU per echoed message",
                "",
                "Median over rounds, lower is better (server CPU seconds over every "
                "message it echoed), then server CPU use (% of one core) and p99 latency; "
                "the ratio is the median of per-round ratios:",
                "",
                *cpu_markdown(results[client], kinds),
                "",
            ]
    if "e" in parts:
        idle = [
            measure_idle(kind, count, args.idle_limit, log)
            for count in IDLE_COUNTS
            for kind in kinds
        ]
        out += [
            "## (e) Idle connections: server memory per connection",
            "",
            "Each connection opens, echoes one 32-byte message, then idles; memory is "
            "the server's RSS growth divided by the connections held.",
            "",
            *idle_markdown(idle),
            "",
        ]
    if "codec" in parts:
        log("codec")
        out += [
            "## Frame codec alone (same process, same buffers)",
            "",
            bench_codec.markdown(bench_codec.codec_table(bench_codec.DEFAULT_SIZES)),
            "",
        ]
    out.append(f"CPU idle just after the run: {cpu_idle_percent():.0f} %")
    text = "\n".join(out)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(text + "\n")


if __name__ == "__main__":
    main()
