"""The load generator against hostile servers: bounded memory, linear work, errors by kind.

The echo checks run on the core's parser (``wscli.loadgen.verify``), so these tests feed
it the streams a hostile server would send: sans-I/O where the point is the algorithm,
over a loopback socket where the point is a buffer that fills.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import json
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import TIMEOUT

from wscli.core.protocol import DEFAULT_MAX_FRAGMENTS
from wscli.loadgen import ErrorKind
from wscli.loadgen.verify import EchoChecker, client_protocol

PAYLOAD = b"0000000000000000 a message in many frames"


def server_frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """An unmasked frame, as a server sends it, built by hand."""
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return bytes([first, len(payload)]) + payload
    if len(payload) < 65536:
        return bytes([first, 126]) + struct.pack("!H", len(payload)) + payload
    return bytes([first, 127]) + struct.pack("!Q", len(payload)) + payload


def fragmented(payload: bytes, empty: int) -> bytes:
    """``payload`` as a text message: a first frame, ``empty`` empty ones, a last one."""
    half = len(payload) // 2
    middle = server_frame(0x0, fin=False) * empty
    return server_frame(0x1, payload[:half], fin=False) + middle + server_frame(0x0, payload[half:])


def checker() -> EchoChecker:
    return EchoChecker(client_protocol([], 4096), text=True, record=lambda ns: None)


def inflight(*payloads: bytes) -> collections.deque[tuple[int, Any]]:
    return collections.deque((0, payload) for payload in payloads)


def profiled_calls(function: Any) -> int:
    """Count the Python and C function calls ``function()`` makes: work, not time."""
    calls = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls


# -- the echo checker on the core's parser ------------------------------------------------


def test_twenty_thousand_empty_fragments_are_joined_with_linear_work() -> None:
    """Work per fragment is constant: doubling the fragments doubles the calls (a
    re-summed list of fragments, as a quadratic parser does, would quadruple them)."""

    def run(empty: int) -> int:
        check = checker()
        pending = inflight(PAYLOAD)
        outcome: list[Any] = []
        calls = profiled_calls(
            lambda: outcome.append(check.receive(fragmented(PAYLOAD, empty), pending, 1))
        )
        assert outcome == [(1, len(PAYLOAD), None, None)]
        assert not pending
        return calls

    ten, twenty = run(10_000), run(20_000)
    assert 1.8 < twenty / ten < 2.2, (ten, twenty)


def test_more_fragments_than_a_connection_allows_is_a_limit() -> None:
    received, _, problem, _ = checker().receive(
        fragmented(PAYLOAD, DEFAULT_MAX_FRAGMENTS), inflight(PAYLOAD), 1
    )
    assert received == 0
    assert problem is not None and problem.kind is ErrorKind.LIMIT
    assert f"more than {DEFAULT_MAX_FRAGMENTS} frames" in problem.reason


def test_an_echo_larger_than_anything_sent_is_a_limit() -> None:
    received, _, problem, _ = checker().receive(
        server_frame(0x1, b"x" * 5000), inflight(PAYLOAD), 1
    )
    assert received == 0
    assert problem is not None and problem.kind is ErrorKind.LIMIT


def test_a_violation_right_behind_an_echo_counts_the_echo_then_the_error() -> None:
    pending = inflight(PAYLOAD, PAYLOAD)
    received, size, problem, _ = checker().receive(
        server_frame(0x1, PAYLOAD) + b"\x83\x00", pending, 1
    )
    assert (received, size) == (1, len(PAYLOAD))
    assert problem is not None and problem.kind is ErrorKind.PROTOCOL
    assert problem.reason == "protocol error from server: invalid opcode 0x3"


def test_pings_are_answered_and_a_close_is_echoed_by_the_protocol() -> None:
    check = checker()
    pending = inflight(PAYLOAD)
    stream = server_frame(0x9, b"hi") + server_frame(0x1, PAYLOAD) + server_frame(0x8, b"\x03\xe8")
    received, _, problem, close = check.receive(stream, pending, 1)
    assert (received, problem) == (1, None)
    assert close is not None and close.code == 1000
    out = b"".join(check.proto.data_to_send())
    assert out[0] == 0x8A and out[1] == 0x82  # a masked pong with the ping's 2 bytes
    assert out[8] == 0x88  # then the close echo


# -- a server that floods pings and never reads ---------------------------------------------


@contextlib.contextmanager
def ping_flooding_server(flood: int) -> Iterator[str]:
    """Upgrades, reads the first message, then sends ``flood`` bytes of empty pings and
    never reads again; the pongs it is owed pile up on the client's side."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.settimeout(TIMEOUT)
    done = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
                accept = base64.b64encode(hashlib.sha1(key + guid).digest())
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                conn.recv(4096)
                # No clock on the flood: it ends when the client leaves (whose run is
                # bounded), and only then may this end close. Closing while the client
                # still reads would reset the connection: "dropped", not "limit".
                conn.settimeout(None)
                conn.sendall(b"\x89\x00" * (flood // 2))
                done.wait(4 * TIMEOUT)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        listener.close()
        thread.join(TIMEOUT)


#: Runs one load in a fresh interpreter and reports how far its peak memory grew.
MEASURE = """
import json, resource, sys
from wscli.loadgen import LoadConfig, Worker
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
stats = Worker(LoadConfig(url=sys.argv[1], messages=1, timeout=float(sys.argv[2]))).run()
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
kinds = {kind.value: count for kind, count in stats.error_kinds.items()}
print(json.dumps({"errors": dict(stats.errors), "kinds": kinds, "lost": stats.lost, "grew": grew}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_ping_flood_from_a_server_that_never_reads_is_a_bounded_limit_error() -> None:
    flood = 6 * 2**20
    # The server never echoes, so the client's echo timeout would race the limit (how
    # fast a loaded machine parses the pings decided which came first): give it one
    # past the run's own bound, so only the limit can end the run.
    echo_timeout = 8 * TIMEOUT
    with ping_flooding_server(flood) as url:
        run = subprocess.run(
            [sys.executable, "-c", MEASURE, url, str(echo_timeout)],
            capture_output=True,
            text=True,
            timeout=4 * TIMEOUT,
        )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["kinds"] == {"limit": 1}, result
    [reason] = result["errors"]
    assert reason.startswith("limit:") and "does not read" in reason
    assert result["lost"] == 1
    # 6 MiB of pings owe 18 MiB of pongs in 3 million frames: a backlog that kept them
    # all would grow by hundreds of MiB of Python objects. The bound is a few MiB of
    # pongs plus what one read of pings produces.
    assert result["grew"] < 64 * 1024, result


def test_run_load_uses_no_more_processes_than_connections() -> None:
    """Library callers too: a worker with no connection would get a rate of 0."""
    import wscli
    from wscli.loadgen import LoadConfig, run_load

    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", lambda ws, request: ws.on("message", lambda d, f: ws.send(d)))
    try:
        url = f"ws://127.0.0.1:{server.port}/"
        config = LoadConfig(url, connections=1, messages=None, duration=0.3, rate=100, workers=3)
        stats = run_load(config)
    finally:
        server.close(timeout=2)
    assert not stats.interrupted and stats.error_count == 0
    assert stats.opened == 1 and stats.sent > 0


def test_a_load_process_that_dies_is_an_error_not_a_minute_of_waiting() -> None:
    """Kill one worker process mid-run: the run ends with the others' results and says so."""
    import multiprocessing
    import os
    import signal

    import wscli
    from wscli.loadgen import LoadConfig, run_load

    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", lambda ws, request: ws.on("message", lambda d, f: ws.send(d)))
    killed: list[int] = []

    def kill_a_worker(stats: Any) -> None:
        if not killed and stats.received > 100:
            for child in multiprocessing.active_children():
                if child.pid is not None:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)
                    break

    try:
        url = f"ws://127.0.0.1:{server.port}/"
        config = LoadConfig(url, connections=2, messages=None, duration=1.0, workers=2)
        stats = run_load(config, kill_a_worker)
    finally:
        server.close(timeout=2)
    assert killed
    assert any("load-generator process 2 exited" in reason for reason in stats.errors), stats.errors
    assert stats.received > 0  # the first process's results are kept


def test_ctrl_c_in_the_middle_of_a_batch_leaves_no_message_uncounted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGINT while a batch is half built: every message on the wire is counted.

    Ctrl-C used to raise KeyboardInterrupt wherever the loop was, here between a message
    handed to the protocol and its entry in the in-flight list, so its echo came back as
    an "unexpected message". The signal now asks for a stop between two steps.
    """
    import signal

    import wscli
    from wscli.loadgen import LoadConfig, Worker
    from wscli.loadgen.payloads import Payloads

    make = Payloads.make

    def make_then_interrupt(self: Payloads, k: int) -> bytes:
        if k == 2:  # the third message of the first batch of four
            signal.raise_signal(signal.SIGINT)
        return make(self, k)

    monkeypatch.setattr(Payloads, "make", make_then_interrupt)
    server = wscli.Server("127.0.0.1", 0)
    server.on("connection", lambda ws, request: ws.on("message", lambda d, f: ws.send(d)))
    try:
        url = f"ws://127.0.0.1:{server.port}/"
        config = LoadConfig(url, connections=1, messages=None, duration=60, pipeline=4)
        stats = Worker(config).run()
    finally:
        server.close(timeout=2)
    assert stats.interrupted
    assert dict(stats.errors) == {}
    assert stats.sent == 4
    assert stats.sent == stats.received + stats.lost
