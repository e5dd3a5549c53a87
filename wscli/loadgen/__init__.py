"""The load generator behind ``wscli bench``: many connections, one thread, checked echoes.

Modes, as ``wscli bench`` exposes them:

* **closed loop** (the default): each connection keeps ``pipeline`` messages in flight and
  sends the next one when an echo returns. ``pipeline=1`` measures pure latency.
* **open loop** (``rate``): messages are due at fixed times, ``rate`` per second over all
  connections, whether or not echoes came back (:mod:`.schedule`).

Every echo is compared with what was sent: each payload starts with its sequence number
and continues with a slice of a seeded pattern that shifts from message to message
(:mod:`.payloads`), so a server that drops, reorders, truncates or corrupts a message is
caught at that message. The first mismatch ends that connection: nothing after it can be
trusted. Frames are parsed by the core's protocol, with a connection's bounds
(:mod:`.verify`); errors are counted by kind (:class:`ErrorKind`) and reason.

``raw=True`` sends the same masked frames without a handshake and expects them back byte
for byte. That is what a raw TCP echo server does, and it is how a benchmark measures this
client's own ceiling against a server that costs nothing.

Latencies go to :class:`~wscli.histogram.Histogram` (log buckets, not a stored list);
timestamps are ``time.perf_counter_ns()`` (CLOCK_MONOTONIC on Linux, so several worker
processes share one clock). Several processes (``workers``, :mod:`.processes`) split the
connections and the rate between them.

Modules: :mod:`.config` (what to run), :mod:`.stats` (what it measured), :mod:`.payloads`,
:mod:`.verify` (echo checking on the core's parser), :mod:`.schedule` (the open loop),
:mod:`.worker` (the selectors loop), :mod:`.processes`, :mod:`.echo` (the embedded
echo server).
"""

from __future__ import annotations

from .config import LoadConfig
from .echo import EchoServerProcess, raise_nofile_limit, serve_echo
from .payloads import keep_freed_memory
from .processes import run_load
from .stats import ErrorKind, Problem, Stats
from .worker import MAX_UNSENT_REPLIES, Worker

__all__ = [
    "EchoServerProcess",
    "ErrorKind",
    "LoadConfig",
    "MAX_UNSENT_REPLIES",
    "Problem",
    "Stats",
    "Worker",
    "keep_freed_memory",
    "raise_nofile_limit",
    "run_load",
    "serve_echo",
]
