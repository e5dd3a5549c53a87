"""The load generator behind ``wscli bench``: many connections, one thread, checked echoes.

Why not :func:`wscli.connect`? A benchmark client must outrun the servers it measures.
The threaded layer hands every message across a lock and a listener call, which is right
for applications and wasteful here. So a :class:`Worker` drives its connections from one
``selectors`` loop on the calling thread, and one recv and one send system call move a
whole batch of messages. It uses the library's sans-I/O pieces where they cost nothing:
:class:`~wscli.core.client.ClientProtocol` checks the handshake and negotiates
extensions, a :class:`~wscli.core.protocol.Protocol` frames and masks what goes out
(and, with permessage-deflate, decodes what comes in). Without extensions the worker
parses the server's frames itself and compares each echo where it lies in the receive
buffer: no copy of the payload, which matters at 1 MiB, and every rule a client must
check still checked (unmasked frames, no reserved bits, known opcodes, whole control
frames, continuations only inside a message, pings answered, closes echoed).

Modes, as ``wscli bench`` exposes them:

* **closed loop** (the default): each connection keeps ``pipeline`` messages in flight and
  sends the next one when an echo returns. ``pipeline=1`` measures pure latency.
* **open loop** (``rate``): messages are due at fixed times, ``rate`` per second over all
  connections, whether or not echoes came back. Latency is measured from the time a
  message was *due*, not the time it could be sent, so a stalled server shows up in the
  latency instead of quietly slowing the client down (no coordinated omission).

Every echo is compared with what was sent: each payload starts with its sequence number
and continues with a slice of a seeded pattern that shifts from message to message, so a
server that drops, reorders, truncates or corrupts a message is caught at that message.
The first mismatch ends that connection: nothing after it can be trusted.

``raw=True`` sends the same masked frames without a handshake and expects them back byte
for byte. That is what a raw TCP echo server does, and it is how a benchmark measures this
client's own ceiling against a server that costs nothing.

Latencies go to :class:`~wscli.histogram.Histogram` (log buckets, not a stored list);
timestamps are ``time.perf_counter_ns()`` (CLOCK_MONOTONIC on Linux, so several worker
processes share one clock). Several processes (``workers``) split the connections and the
rate between them, for machines where one Python thread cannot saturate the server.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import multiprocessing
import os
import random
import selectors
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from .core.client import ClientProtocol
from .core.events import Message
from .core.exceptions import HandshakeError, InvalidStatus, ProtocolError
from .core.extensions.permessage_deflate import client_factory_from_options
from .core.frames import Close
from .core.http11 import parse_response
from .core.protocol import Protocol, Side, State
from .core.uri import WebSocketURI, parse_uri
from .histogram import Histogram

__all__ = [
    "LoadConfig",
    "Stats",
    "Worker",
    "run_load",
    "EchoServerProcess",
]

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_RECV_SIZE = 1 << 18
_IOV_MAX = 512
#: Handshakes in progress at once when no ramp is given: a burst of 10,000 SYNs would
#: overflow the server's listen backlog and turn into one-second SYN retransmits.
_MAX_CONNECTING = 128
#: How often a worker checks timeouts and reports progress, in seconds.
_TICK = 0.1
#: Open loop: poll rather than sleep when the next message is due sooner than this.
_SPIN_NS = 2_000_000

#: Messages this large make the generator keep freed memory (see keep_freed_memory).
_LARGE_MESSAGE = 128 * 1024

# Connection states.
_TCP, _TLS, _UPGRADE, _OPEN, _CLOSING, _DONE = range(6)


@dataclass
class LoadConfig:
    """What to run; ``wscli bench`` builds one from its options.

    Attributes:
        url: the echo server (``ws://``, ``wss://``, ``ws+unix://``).
        connections: how many connections to open.
        messages: messages per connection; ``None`` with ``duration``.
        duration: seconds to send for; ``None`` with ``messages``.
        size_min, size_max: payload size in bytes, drawn uniformly per message.
        pipeline: messages in flight per connection (closed loop); a cap in open loop.
        rate: messages per second over all connections (open loop); ``None`` for closed.
        binary: send binary messages rather than text.
        compression: offer permessage-deflate.
        ramp: connections opened per second; ``None`` opens them as fast as possible.
        timeout: seconds for each opening handshake and each echo.
        hold: seconds to keep a connection open, idle, after its messages are done.
        raw: no handshake; expect masked frames echoed byte for byte (raw TCP echo).
        workers: processes that share the load.
        headers: extra request headers.
        ssl_context: TLS settings for ``wss://``.
        seed: seeds payload contents and sizes, so runs are repeatable.
    """

    url: str
    connections: int = 1
    messages: int | None = 1000
    duration: float | None = None
    size_min: int = 32
    size_max: int = 32
    pipeline: int = 1
    rate: float | None = None
    binary: bool = False
    compression: bool = False
    ramp: float | None = None
    timeout: float = 10.0
    hold: float = 0.0
    raw: bool = False
    workers: int = 1
    headers: list[tuple[str, str]] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None
    seed: int = 0

    def share(self, worker: int) -> LoadConfig:
        """Return the part of the load that worker number ``worker`` runs."""
        count = self.connections // self.workers + (worker < self.connections % self.workers)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(connections=count, workers=1, seed=self.seed + worker)
        if self.rate is not None:
            values["rate"] = self.rate * count / max(1, self.connections)
        if self.ramp is not None:
            values["ramp"] = self.ramp * count / max(1, self.connections)
        return LoadConfig(**values)


class Stats:
    """What a run measured; workers' stats add up with :meth:`merge`."""

    COUNTERS = (
        "connections",
        "opened",
        "failed",
        "closed",
        "sent",
        "received",
        "lost",
        "bytes_sent",
        "bytes_received",
    )

    def __init__(self, connections: int = 0) -> None:
        #: Connections the run meant to open.
        self.connections = connections
        #: Connections whose opening handshake succeeded.
        self.opened = 0
        #: Connections that never opened (TCP, TLS or handshake failed).
        self.failed = 0
        #: Connections that ended with a clean closing handshake.
        self.closed = 0
        #: Messages sent, echoes received and verified, messages never echoed.
        self.sent = 0
        self.received = 0
        self.lost = 0
        #: Payload bytes sent and echoed back.
        self.bytes_sent = 0
        self.bytes_received = 0
        self.latency = Histogram()
        self.handshake = Histogram()
        #: Error reason -> how many times it happened.
        self.errors: collections.Counter[str] = collections.Counter()
        #: perf_counter_ns of the first message sent and the last echo received.
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.interrupted = False
        #: Extensions the server accepted, as negotiated (from the first connection).
        self.extensions = ""

    @property
    def elapsed(self) -> float:
        """Seconds from the first message sent to the last echo received."""
        if self.first_ns is None or self.last_ns is None:
            return 0.0
        return max(0, self.last_ns - self.first_ns) / 1e9

    @property
    def messages_per_second(self) -> float:
        """Verified echoes per second over :attr:`elapsed`."""
        return self.received / self.elapsed if self.elapsed else 0.0

    @property
    def bytes_per_second(self) -> float:
        """Echoed payload bytes per second (one direction) over :attr:`elapsed`."""
        return self.bytes_received / self.elapsed if self.elapsed else 0.0

    @property
    def error_count(self) -> int:
        """All errors, of every reason."""
        return sum(self.errors.values())

    def merge(self, other: Stats) -> None:
        """Add ``other``'s counts, histograms and errors to these."""
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        self.handshake.merge(other.handshake)
        self.errors.update(other.errors)
        if other.first_ns is not None:
            self.first_ns = (
                other.first_ns if self.first_ns is None else min(self.first_ns, other.first_ns)
            )
        if other.last_ns is not None:
            self.last_ns = (
                other.last_ns if self.last_ns is None else max(self.last_ns, other.last_ns)
            )
        self.interrupted = self.interrupted or other.interrupted
        self.extensions = self.extensions or other.extensions

    def to_dict(self) -> dict[str, Any]:
        """Return a picklable, JSON-friendly form (for worker processes)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in self.COUNTERS}
        data.update(
            latency=self.latency.to_dict(),
            handshake=self.handshake.to_dict(),
            errors=dict(self.errors),
            first_ns=self.first_ns,
            last_ns=self.last_ns,
            interrupted=self.interrupted,
            extensions=self.extensions,
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        """Rebuild stats sent by :meth:`to_dict`."""
        stats = cls()
        for name in cls.COUNTERS:
            setattr(stats, name, data[name])
        stats.latency = Histogram.from_dict(data["latency"])
        stats.handshake = Histogram.from_dict(data["handshake"])
        stats.errors = collections.Counter(data["errors"])
        stats.first_ns = data["first_ns"]
        stats.last_ns = data["last_ns"]
        stats.interrupted = data["interrupted"]
        stats.extensions = data["extensions"]
        return stats


class _Payloads:
    """Builds message ``k``'s payload: what is sent, and so what must come back.

    The payload starts with ``k`` (8 bytes little-endian, or 16 hex digits for text) and
    goes on with a slice of a seeded pattern starting at ``k % 251``: consecutive messages
    differ everywhere, which catches a server that echoes stale or shifted data.
    """

    def __init__(self, config: LoadConfig) -> None:
        rng = random.Random(config.seed)
        self.binary = config.binary
        self.size_min = config.size_min
        self.size_max = config.size_max
        self.fixed = config.size_min == config.size_max
        self.sizes = random.Random(config.seed + 7919)
        length = config.size_max + 256
        if config.binary:
            self.pattern = rng.randbytes(length)
        else:
            alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.:{}[]"
            self.pattern = bytes(rng.choices(alphabet, k=length))
        self.view = memoryview(self.pattern)

    def make(self, k: int) -> bytes:
        """Return message ``k``'s payload (UTF-8 text unless ``binary``)."""
        size = self.size_min if self.fixed else self.sizes.randint(self.size_min, self.size_max)
        prefix = k.to_bytes(8, "little") if self.binary else b"%016x" % k
        if size <= len(prefix):
            return prefix[:size]
        offset = k % 251
        # One copy: slicing the pattern and then concatenating would make two.
        return b"".join((prefix, self.view[offset : offset + size - len(prefix)]))


class _Conn:
    """One connection's state inside a :class:`Worker`."""

    __slots__ = (
        "index",
        "sock",
        "proto",
        "handshake",
        "state",
        "inflight",
        "backlog",
        "remaining",
        "out",
        "interest",
        "started_ns",
        "rbuf",
        "tls",
        "deadline_ns",
        "done_at_ns",
        "close_rcvd",
        "lean",
        "fragments",
        "fragment_opcode",
    )

    def __init__(self, index: int, remaining: int | None) -> None:
        self.index = index
        self.sock: Any = None  # a socket, or an SSLSocket for wss://
        #: Frames what we send; with extensions negotiated, also parses what comes in.
        self.proto: Protocol | None = None
        #: The opening handshake, until it is done.
        self.handshake: ClientProtocol | None = None
        self.state = _TCP
        #: (timestamp_ns, payload) of each message in flight, oldest first.
        self.inflight: collections.deque[tuple[int, Any]] = collections.deque()
        #: Open loop: due times of messages that wait for room in the pipeline.
        self.backlog: collections.deque[int] = collections.deque()
        #: Messages this connection still has to send (closed loop); None: until told.
        self.remaining = remaining
        self.out: list[Any] = []
        self.interest = 0
        self.started_ns = 0
        #: Received bytes not parsed yet (handshake, lean frames, raw echoes).
        self.rbuf = bytearray()
        self.tls = False
        #: When the current step (handshake, close) times out.
        self.deadline_ns = 0
        #: When an idle connection held with ``hold`` should close.
        self.done_at_ns = 0
        self.close_rcvd: Close | None = None
        #: Parse incoming frames here (no extension negotiated) rather than in ``proto``.
        self.lean = False
        self.fragments: list[bytes] | None = None
        self.fragment_opcode = 0


class Worker:
    """Runs a share of the load on the calling thread; see the module docstring.

    Args:
        config: the load; its ``connections`` are all this worker's.
        index_base: number of this worker's first connection (for error messages).
    """

    def __init__(self, config: LoadConfig, index_base: int = 0) -> None:
        self.config = config
        self.stats = Stats(config.connections)
        self._uri: WebSocketURI = parse_uri(config.url)
        self._payloads = _Payloads(config)
        self._opcode = 2 if config.binary else 1
        # An echo is never larger than what was sent; anything bigger is a broken server.
        self._max_frame = max(config.size_max, 125) + 1024
        self._sel = selectors.DefaultSelector()
        self._buffer = bytearray(_RECV_SIZE)
        self._view = memoryview(self._buffer)
        self._live: list[_Conn] = []
        self._index_base = index_base
        self._seq = 0
        self._stopping = False
        self._stop_requested = False
        self._address: Any = None
        self._family = socket.AF_INET
        self._to_start = config.connections
        self._started = 0
        self._connecting = 0
        self._start_ns = 0
        self._send_deadline_ns: int | None = None
        self._rate_start_ns: int | None = None  # open loop: when the first connection opened
        self._rate_next = 0  # open loop: number of messages scheduled so far
        self._rate_total: int | None = None
        self._rate_rr = 0
        self._timeout_ns = int(config.timeout * 1e9)

    # -- public ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the run to end: stop sending, close every connection, return soon."""
        self._stop_requested = True

    def run(self, tick: Callable[[Stats], Any] | None = None) -> Stats:
        """Run the load to its end and return what it measured.

        Args:
            tick: called with the current :class:`Stats` about ten times a second, on
                this thread (the live display, or a worker process's report).

        Ctrl-C ends the run early: connections are closed (briefly waiting for the
        closing handshakes) and the stats returned have ``interrupted`` set.
        """
        config = self.config
        self._resolve()
        if config.size_max >= _LARGE_MESSAGE:
            keep_freed_memory()
        self._start_ns = time.perf_counter_ns()
        if config.duration is not None:
            self._send_deadline_ns = self._start_ns + int(config.duration * 1e9)
        if config.rate is not None and config.messages is not None:
            self._rate_total = config.messages * config.connections
        tick_ns = int(_TICK * 1e9)
        next_tick = self._start_ns + tick_ns
        try:
            while True:
                now = time.perf_counter_ns()
                if self._to_start:
                    self._start_connections(now)
                if config.rate is not None and not self._stopping:
                    self._schedule(now)
                if now >= next_tick:
                    next_tick = now + tick_ns
                    self._check_timers(now)
                    if tick is not None:
                        tick(self.stats)
                if self._stop_requested and not self._stopping:
                    self._begin_stop(now)
                if not self._live and not self._to_start:
                    break
                self._poll(self._select_timeout(now, next_tick))
        except KeyboardInterrupt:
            self.stats.interrupted = True
            self._shutdown_quickly()
        finally:
            for conn in list(self._live):
                self._drop(conn)
            self._sel.close()
        return self.stats

    # -- connecting --------------------------------------------------------------------

    def _resolve(self) -> None:
        uri = self._uri
        if uri.unix_path is not None:
            self._family, self._address = socket.AF_UNIX, uri.unix_path
            return
        infos = socket.getaddrinfo(uri.host, uri.port, type=socket.SOCK_STREAM)
        self._family, _, _, _, self._address = infos[0]

    def _start_connections(self, now: int) -> None:
        config = self.config
        if self._stopping:
            self._to_start = 0
            return
        if config.ramp is not None:
            allowed = 1 + int((now - self._start_ns) / 1e9 * config.ramp)
            due = min(config.connections, allowed) - self._started
        else:
            due = min(self._to_start, _MAX_CONNECTING - self._connecting)
        for _ in range(max(0, due)):
            self._open_one(now)

    def _open_one(self, now: int) -> None:
        config = self.config
        remaining = None
        if config.rate is None and config.messages is not None:
            remaining = config.messages
        conn = _Conn(self._index_base + self._started, remaining)
        self._started += 1
        self._to_start -= 1
        self._connecting += 1
        self._live.append(conn)
        conn.started_ns = now
        conn.deadline_ns = now + self._timeout_ns
        try:
            sock = socket.socket(self._family, socket.SOCK_STREAM)
        except OSError as exc:
            self._fail(conn, f"connect: {_os_reason(exc)}")
            return
        conn.sock = sock
        sock.setblocking(False)
        if self._family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(self._address)
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            self._fail(conn, f"connect: {os.strerror(code).lower()}")
            return
        self._want(conn, _WRITE)

    def _advance(self, conn: _Conn, mask: int) -> None:
        """Move a connection that is not open yet through TCP, TLS and the upgrade."""
        if conn.state == _TCP:
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._fail(conn, f"connect: {os.strerror(code).lower()}")
                return
            if not self._uri.secure:
                self._begin_upgrade(conn)
                return
            context = self.config.ssl_context or ssl.create_default_context()
            conn.sock = context.wrap_socket(
                conn.sock, server_hostname=self._uri.host, do_handshake_on_connect=False
            )
            conn.tls = True
            conn.state = _TLS
        if conn.state == _TLS:
            try:
                conn.sock.do_handshake()
            except ssl.SSLWantReadError:
                self._want(conn, _READ)
                return
            except ssl.SSLWantWriteError:
                self._want(conn, _WRITE)
                return
            except ssl.SSLError as exc:
                self._fail(conn, f"tls: {exc.reason or exc}")
                return
            except OSError as exc:
                self._fail(conn, f"tls: {_os_reason(exc)}")
                return
            self._begin_upgrade(conn)
            return
        if conn.state == _UPGRADE:
            if mask & _WRITE:
                self._flush(conn)
            if mask & _READ and conn.state == _UPGRADE:
                self._read(conn)

    def _begin_upgrade(self, conn: _Conn) -> None:
        config = self.config
        if config.raw:
            conn.proto = Protocol(Side.CLIENT)
            self._opened(conn, time.perf_counter_ns())
            return
        extensions = []
        if config.compression:
            factory = client_factory_from_options(True)
            if factory is not None:
                extensions.append(factory)
        handshake = ClientProtocol(self._uri, extensions=extensions, headers=config.headers or None)
        handshake.send_request(handshake.connect())
        conn.out.extend(handshake.data_to_send())
        conn.handshake = handshake
        conn.state = _UPGRADE
        self._flush(conn)

    def _receive_upgrade(self, conn: _Conn, now: int) -> None:
        """Parse the server's answer to the upgrade; open, or fail the connection."""
        handshake = conn.handshake
        assert handshake is not None
        try:
            parsed = parse_response(conn.rbuf)
            if parsed is None:
                return
            response, used = parsed
            handshake.process_response(response)
        except HandshakeError as exc:
            self._fail(conn, _handshake_reason(exc))
            return
        del conn.rbuf[:used]
        extensions = handshake.extensions
        conn.handshake = None
        conn.proto = Protocol(Side.CLIENT, extensions=extensions, max_size=self._max_frame)
        conn.lean = not extensions
        if extensions and not self.stats.extensions:
            self.stats.extensions = ", ".join(e.describe() for e in extensions)
        # Frames right behind the response: the lean parser finds them in rbuf, the
        # protocol is handed them.
        leftover = b""
        if not conn.lean:
            leftover, conn.rbuf = bytes(conn.rbuf), bytearray()
        self._opened(conn, now)
        if conn.state == _OPEN and (leftover or conn.rbuf):
            self._receive(conn, memoryview(leftover), now)

    def _opened(self, conn: _Conn, now: int) -> None:
        conn.state = _OPEN
        if self._rate_start_ns is None:
            self._rate_start_ns = now
        self._connecting -= 1
        stats = self.stats
        stats.opened += 1
        stats.handshake.record_ns(now - conn.started_ns)
        self._fill(conn, now)
        self._flush(conn)
        self._after_send(conn, now)

    # -- the hot path ------------------------------------------------------------------

    def _poll(self, timeout: float) -> None:
        for key, mask in self._sel.select(timeout):
            conn = key.data
            if conn.state >= _OPEN:
                if mask & _READ:
                    self._read(conn)
                if mask & _WRITE and conn.state != _DONE:
                    self._flush(conn)
            else:
                self._advance(conn, mask)

    def _read(self, conn: _Conn) -> None:
        sock = conn.sock
        view = self._view
        while True:
            try:
                n = sock.recv_into(view)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError as exc:
                self._lost(conn, f"connection {_os_reason(exc)}")
                return
            now = time.perf_counter_ns()
            if not n:
                self._eof(conn, now)
                return
            if conn.state == _UPGRADE:
                conn.rbuf += view[:n]
                self._receive_upgrade(conn, now)
            elif self.config.raw:
                self._receive_raw(conn, view[:n], now)
            else:
                self._receive(conn, view[:n], now)
            if not conn.tls or conn.state == _DONE or not sock.pending():
                return

    def _receive(self, conn: _Conn, data: memoryview, now: int) -> None:
        """Check the echoes in ``data``, then refill the pipeline and write."""
        if conn.lean:
            received, size, problem = self._parse_frames(conn, data, now)
        else:
            received, size, problem = self._parse_events(conn, data, now)
        stats = self.stats
        if received:
            stats.received += received
            stats.bytes_received += size
            stats.last_ns = now
        if problem is not None:
            if problem.startswith(("echo mismatch", "unexpected")):
                self._mismatch(conn, problem)
            else:
                self._lost(conn, problem)
            return
        if conn.state == _DONE:
            return
        if received and conn.state == _OPEN:
            self._fill(conn, now)
        self._flush(conn)
        self._after_send(conn, now)

    def _parse_frames(self, conn: _Conn, data: memoryview, now: int) -> tuple[int, int, str | None]:
        """Parse the server's frames in place and compare each echo with what was sent.

        The payload is compared where it lies in the receive buffer (``startswith`` at an
        offset: one ``memcmp``), so a 1 MiB echo costs no copy. Returns how many echoes
        were verified, their payload bytes, and the problem that stopped parsing, if any.
        """
        rbuf = conn.rbuf
        rbuf += data
        n = len(rbuf)
        pos = 0
        inflight = conn.inflight
        record = self.stats.latency.record_ns
        expected_opcode = self._opcode
        received = 0
        size = 0
        problem = None
        while n - pos >= 2:
            b0 = rbuf[pos]
            b1 = rbuf[pos + 1]
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (rbuf[pos + 2] << 8) | rbuf[pos + 3]
                start = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(rbuf[pos + 2 : pos + 10], "big")
                start = pos + 10
            if b1 & 0x80:
                problem = "protocol error from server: masked frame"  # RFC 6455 §5.1
                break
            if b0 & 0x70:
                problem = "protocol error from server: reserved bits set"
                break
            if length > self._max_frame:
                problem = f"protocol error from server: {length}-byte frame"
                break
            end = start + length
            if end > n:
                break
            opcode = b0 & 0x0F
            if opcode == expected_opcode and b0 & 0x80 and conn.fragments is None:
                pos = end
                if not inflight:
                    problem = "unexpected message (nothing in flight)"
                    break
                sent_ns, payload = inflight[0]
                if length != len(payload):
                    problem = "echo mismatch: wrong length"
                    break
                if not rbuf.startswith(payload, start):
                    problem = "echo mismatch: wrong content"
                    break
                inflight.popleft()
                record(now - sent_ns)
                received += 1
                size += length
                continue
            pos = end
            problem, message = self._other_frame(
                conn, opcode, b0 & 0x80, bytes(rbuf[start:end]), now
            )
            if problem is None and message is not None:
                problem = self._check_message(conn, message, now)
                if problem is None:
                    received += 1
                    size += len(message)
            if problem is not None or conn.close_rcvd is not None:
                break
        if problem is not None or conn.close_rcvd is not None:
            conn.rbuf = bytearray()  # nothing after a close frame or an error is read
        elif pos:
            del rbuf[:pos]
        return received, size, problem

    def _other_frame(
        self, conn: _Conn, opcode: int, fin: int, payload: bytes, now: int
    ) -> tuple[str | None, bytes | None]:
        """Handle a frame that is not a whole data message: fragments and control frames.

        Returns the problem, if the frame is one, and the message a final fragment ends.
        """
        if opcode >= 8:
            return self._control_frame(conn, opcode, fin, payload, now), None
        if opcode in (1, 2):
            if conn.fragments is not None:
                return "protocol error from server: expected a continuation frame", None
            conn.fragments = [payload]
            conn.fragment_opcode = opcode
        elif opcode == 0:
            if conn.fragments is None:
                return "protocol error from server: unexpected continuation frame", None
            conn.fragments.append(payload)
        else:
            return f"protocol error from server: opcode {opcode:#x}", None
        if sum(len(part) for part in conn.fragments) > self._max_frame:
            return "protocol error from server: message too big", None
        if not fin:
            return None, None
        message = b"".join(conn.fragments)
        conn.fragments = None
        if conn.fragment_opcode != self._opcode:
            kind = "text" if conn.fragment_opcode == 1 else "binary"
            return f"echo mismatch: got a {kind} message", None
        return None, message

    def _control_frame(
        self, conn: _Conn, opcode: int, fin: int, payload: bytes, now: int
    ) -> str | None:
        """Answer pings, note pongs, take a close; return the problem when there is one."""
        if not fin or len(payload) > 125:
            return "protocol error from server: bad control frame"  # RFC 6455 §5.5
        proto = conn.proto
        assert proto is not None
        if opcode == 9:
            if proto.state is State.OPEN:
                proto.send_pong(payload)
            return None
        if opcode == 10:
            return None
        if opcode != 8:
            return f"protocol error from server: opcode {opcode:#x}"
        try:
            close = Close.parse(payload)
        except ProtocolError as exc:
            return f"protocol error from server: {exc}"
        conn.close_rcvd = close
        if proto.state is State.OPEN:
            # RFC 6455 §5.5.1: answer with a close frame.
            proto.send_close(None if close.code == 1005 else close.code)
        self._close_received(conn, close, now)
        return None

    def _check_message(self, conn: _Conn, message: bytes, now: int) -> str | None:
        """Compare one whole echo (already joined or decoded) with the oldest message sent."""
        inflight = conn.inflight
        if not inflight:
            return "unexpected message (nothing in flight)"
        sent_ns, payload = inflight[0]
        if len(message) != len(payload):
            return "echo mismatch: wrong length"
        if message != payload:
            return "echo mismatch: wrong content"
        inflight.popleft()
        self.stats.latency.record_ns(now - sent_ns)
        return None

    def _parse_events(self, conn: _Conn, data: memoryview, now: int) -> tuple[int, int, str | None]:
        """With an extension negotiated, let the protocol decode; compare its messages."""
        proto = conn.proto
        assert proto is not None
        proto.receive_data(data)
        received = 0
        size = 0
        for event in proto.events_received():
            kind = type(event)
            if kind is Message:
                message = event.data
                if isinstance(message, str) != (self._opcode == 1):
                    kind_name = "text" if isinstance(message, str) else "binary"
                    return received, size, f"echo mismatch: got a {kind_name} message"
                raw = message.encode() if isinstance(message, str) else message
                problem = self._check_message(conn, raw, now)
                if problem is not None:
                    return received, size, problem
                received += 1
                size += len(raw)
            elif kind is Close:
                conn.close_rcvd = event
                self._close_received(conn, event, now)
        if proto.error is not None:
            return received, size, f"protocol error from server: {proto.error}"
        return received, size, None

    def _receive_raw(self, conn: _Conn, data: memoryview, now: int) -> None:
        """Raw mode: the bytes that come back must be the frames sent, in order."""
        rbuf = conn.rbuf
        rbuf += data
        inflight = conn.inflight
        stats = self.stats
        record = stats.latency.record_ns
        received = 0
        size = 0
        pos = 0
        mismatch = False
        while inflight:
            sent_ns, (frame, length) = inflight[0]
            if len(rbuf) - pos < len(frame):
                break
            if not rbuf.startswith(frame, pos):
                mismatch = True
                break
            pos += len(frame)
            inflight.popleft()
            record(now - sent_ns)
            received += 1
            size += length
        if pos:
            del rbuf[:pos]
        if received:
            stats.received += received
            stats.bytes_received += size
            stats.last_ns = now
        if mismatch:
            self._mismatch(conn, "echo mismatch")
            return
        if received:
            self._fill(conn, now)
            self._flush(conn)
            self._after_send(conn, now)

    def _fill(self, conn: _Conn, now: int) -> None:
        """Queue new messages up to the pipeline depth (or the open loop's backlog)."""
        config = self.config
        room = config.pipeline - len(conn.inflight)
        if room <= 0 or conn.state != _OPEN:
            return
        proto = conn.proto
        assert proto is not None
        backlog = conn.backlog
        stamps: list[int] = []
        if config.rate is not None:
            count = min(room, len(backlog))
            stamps = [backlog.popleft() for _ in range(count)]
        elif self._stopping:
            count = 0
        elif conn.remaining is not None:
            count = min(room, conn.remaining)
            conn.remaining -= count
        elif self._send_deadline_ns is not None and now >= self._send_deadline_ns:
            count = 0
        else:
            count = room
        if count <= 0:
            return
        make = self._payloads.make
        seq = self._seq
        payloads: list[Any] = []
        size = 0
        raw = config.raw
        send = proto.send_binary if config.binary else proto.send_text
        for k in range(seq, seq + count):
            data = make(k)
            size += len(data)
            send(data)
            if raw:
                frame = b"".join(proto.data_to_send())
                conn.out.append(frame)
                payloads.append((frame, len(data)))
            else:
                payloads.append(data)
        self._seq = seq + count
        stats = self.stats
        stats.sent += count
        stats.bytes_sent += size
        sent_ns = time.perf_counter_ns()
        if stats.first_ns is None:
            stats.first_ns = sent_ns
        inflight = conn.inflight
        if stamps:
            inflight.extend(zip(stamps, payloads, strict=True))
        else:
            for payload in payloads:
                inflight.append((sent_ns, payload))

    def _flush(self, conn: _Conn) -> None:
        """Write what the protocol has for this connection; the rest waits for EVENT_WRITE."""
        proto = conn.proto
        out = conn.out
        if proto is not None:
            chunks = proto.data_to_send()
            if chunks:
                out.extend(chunks)
        sock = conn.sock
        while out:
            first = out[0]
            if not len(first):
                del out[0]
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                continue
            try:
                if conn.tls or len(out) == 1:
                    sent = sock.send(first)
                else:
                    batch: list[Any] = []
                    for chunk in out:
                        if not len(chunk) or len(batch) >= _IOV_MAX:
                            break
                        batch.append(chunk)
                    sent = sock.sendmsg(batch)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                break
            except OSError as exc:
                self._lost(conn, f"connection {_os_reason(exc)}")
                return
            while sent:
                chunk = out[0]
                if sent >= len(chunk):
                    sent -= len(chunk)
                    del out[0]
                else:
                    out[0] = memoryview(chunk)[sent:]
                    sent = 0
            if out and len(out[0]):
                break
        self._want(conn, _READ | (_WRITE if out else 0))

    def _want(self, conn: _Conn, events: int) -> None:
        if conn.state == _DONE or conn.sock is None:
            return
        if events == conn.interest:
            return
        if conn.interest == 0:
            self._sel.register(conn.sock, events, conn)
        elif events == 0:
            self._sel.unregister(conn.sock)
        else:
            self._sel.modify(conn.sock, events, conn)
        conn.interest = events

    # -- open loop -----------------------------------------------------------------------

    def _schedule(self, now: int) -> None:
        """Hand the messages that are due to connections, round robin (open loop)."""
        config = self.config
        assert config.rate is not None
        start = self._rate_start_ns
        if start is None:
            return
        due = int((now - start) / 1e9 * config.rate) + 1
        if self._rate_total is not None:
            due = min(due, self._rate_total)
        if self._send_deadline_ns is not None and now >= self._send_deadline_ns:
            due = min(due, int((self._send_deadline_ns - start) / 1e9 * config.rate) + 1)
        if due <= self._rate_next:
            return
        targets = [c for c in self._live if c.state == _OPEN]
        if not targets:
            return
        interval = 1e9 / config.rate
        touched = {}
        for k in range(self._rate_next, due):
            conn = targets[self._rate_rr % len(targets)]
            self._rate_rr += 1
            conn.backlog.append(start + int(k * interval))
            touched[id(conn)] = conn
        self._rate_next = due
        for conn in touched.values():
            self._fill(conn, now)
            self._flush(conn)

    def _rate_finished(self, now: int) -> bool:
        if self._rate_total is not None:
            return self._rate_next >= self._rate_total
        return self._send_deadline_ns is not None and now >= self._send_deadline_ns

    def _select_timeout(self, now: int, next_tick: int) -> float:
        wake = next_tick
        config = self.config
        start = self._rate_start_ns
        if config.rate is not None and not self._stopping and start is not None:
            due = start + int(self._rate_next * 1e9 / config.rate)
            if due - now < _SPIN_NS:
                # epoll sleeps in whole milliseconds: a message due sooner would leave
                # late and its latency would count our lateness. Poll instead.
                return 0.0
            wake = min(wake, due - _SPIN_NS)
        if config.ramp is not None and self._to_start:
            wake = min(wake, self._start_ns + int(self._started * 1e9 / config.ramp))
        return max(0.0, (wake - now) / 1e9)

    # -- ending ------------------------------------------------------------------------

    def _work_left(self, conn: _Conn, now: int) -> bool:
        config = self.config
        if conn.inflight or conn.backlog:
            return True
        if self._stopping:
            return False
        if config.rate is not None:
            return not self._rate_finished(now)
        if conn.remaining is not None:
            return conn.remaining > 0
        return self._send_deadline_ns is None or now < self._send_deadline_ns

    def _after_send(self, conn: _Conn, now: int) -> None:
        """Close a connection once it has nothing left to send or wait for."""
        if conn.state != _OPEN or self._work_left(conn, now):
            return
        hold = self.config.hold
        if hold > 0 and not self._stopping:
            if not conn.done_at_ns:
                conn.done_at_ns = now + int(hold * 1e9)
            if now < conn.done_at_ns:
                return
        self._close(conn, now)

    def _close(self, conn: _Conn, now: int, reason: str = "") -> None:
        """Start the closing handshake (raw mode: just close the socket)."""
        if self.config.raw:
            self.stats.closed += 1
            self._drop(conn)
            return
        proto = conn.proto
        assert proto is not None
        conn.state = _CLOSING
        conn.deadline_ns = now + self._timeout_ns
        if proto.state is State.OPEN:
            proto.send_close(1000, reason)
        self._flush(conn)

    def _close_received(self, conn: _Conn, close: Close, now: int) -> None:
        if conn.state == _CLOSING:
            return  # the answer to our close: wait for the server's EOF
        if self._work_left(conn, now):
            self._count_lost(conn)
            self.stats.errors[f"closed by server: {close}"] += 1
        conn.state = _CLOSING
        conn.deadline_ns = now + self._timeout_ns

    def _eof(self, conn: _Conn, now: int) -> None:
        if conn.state < _OPEN:
            self._fail(conn, "handshake: connection closed by server")
            return
        if conn.state == _CLOSING and conn.close_rcvd is not None:
            self.stats.closed += 1
            self._drop(conn)
            return
        if self.config.raw and not self._work_left(conn, now):
            self._drop(conn)
            return
        self._lost(conn, "connection dropped (no close frame)")

    def _mismatch(self, conn: _Conn, reason: str) -> None:
        """An echo was wrong: nothing after it can be trusted; say why and close."""
        self.stats.errors[reason] += 1
        conn.inflight.clear()
        conn.backlog.clear()
        conn.remaining = 0
        if self.config.raw or conn.proto is None or conn.proto.state is not State.OPEN:
            self._drop(conn)
            return
        self._close(conn, time.perf_counter_ns(), "echo mismatch")

    def _count_lost(self, conn: _Conn) -> None:
        self.stats.lost += len(conn.inflight) + len(conn.backlog)
        conn.inflight.clear()
        conn.backlog.clear()

    def _lost(self, conn: _Conn, reason: str) -> None:
        """An open connection broke: count what it had in flight, drop it."""
        if conn.state < _OPEN:
            self._fail(conn, reason)
            return
        if conn.state != _CLOSING or conn.inflight:
            self.stats.errors[reason] += 1
        self._count_lost(conn)
        self._drop(conn)

    def _fail(self, conn: _Conn, reason: str) -> None:
        """A connection could not be opened."""
        if conn.state < _OPEN:
            self._connecting -= 1
            self.stats.failed += 1
        self.stats.errors[reason] += 1
        self._count_lost(conn)
        self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        if conn.state == _DONE:
            return
        conn.state = _DONE
        if conn.sock is not None:
            if conn.interest:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._sel.unregister(conn.sock)
            conn.interest = 0
            with contextlib.suppress(OSError):
                conn.sock.close()
        with contextlib.suppress(ValueError):
            self._live.remove(conn)
        conn.out = []
        conn.rbuf = bytearray()
        conn.proto = None
        conn.handshake = None

    def _check_timers(self, now: int) -> None:
        """Every tick: handshake, echo and close timeouts; held connections; stragglers."""
        timeout = self.config.timeout
        for conn in list(self._live):
            state = conn.state
            if state < _OPEN:
                if now >= conn.deadline_ns:
                    self._fail(conn, f"handshake: timed out after {timeout:g} s")
            elif state == _OPEN:
                if conn.inflight and now - conn.inflight[0][0] >= self._timeout_ns:
                    self._count_lost(conn)
                    self.stats.errors[f"no echo within {timeout:g} s"] += 1
                    self._close(conn, now)
                elif not conn.inflight:
                    if self.config.rate is None and conn.remaining is None:
                        self._fill(conn, now)
                        self._flush(conn)
                    self._after_send(conn, now)
            elif state == _CLOSING and now >= conn.deadline_ns:
                self.stats.errors["closing handshake timed out"] += 1
                self._drop(conn)

    def _begin_stop(self, now: int) -> None:
        self._stopping = True
        self._to_start = 0
        for conn in list(self._live):
            if conn.state < _OPEN:
                self._connecting -= 1
                self.stats.failed += 1
                self._drop(conn)
            elif conn.state == _OPEN:
                conn.backlog.clear()
                conn.remaining = 0 if conn.remaining is not None else None
                if not conn.inflight:
                    self._close(conn, now)

    def _shutdown_quickly(self) -> None:
        """After Ctrl-C: send close frames and wait at most a second for the answers."""
        now = time.perf_counter_ns()
        self._begin_stop(now)
        for conn in list(self._live):
            if conn.state == _OPEN:
                self._count_lost(conn)
                self._close(conn, now)
        deadline = time.monotonic() + 1.0
        with contextlib.suppress(KeyboardInterrupt):
            while self._live and time.monotonic() < deadline:
                self._poll(0.05)


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory instead of returning it to the OS; tell if it did.

    Every large message the generator builds (a payload, its masked copy) is a fresh
    allocation. By default glibc gives big blocks back to the kernel when they are
    freed (mmap/munmap, heap trimming), so the next message pays a page fault per 4 KiB,
    which on a virtual machine costs more than the copy itself: ~1 ms per MiB measured
    here. Raising the mmap and trim thresholds keeps that memory mapped and reused.
    This changes this process only, and only on glibc; elsewhere it does nothing.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 * 2**20) and mallopt(m_trim_threshold, 512 * 2**20))


def _os_reason(exc: OSError) -> str:
    text = exc.strerror or str(exc) or type(exc).__name__
    return text.lower()


def _handshake_reason(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"handshake: HTTP {exc.status_code}"
    return f"handshake: {exc}"


# -- several processes -------------------------------------------------------------------


def _worker_main(config: LoadConfig, index_base: int, pipe: Any) -> None:
    """Entry point of a worker process: wait for "go", run, report over ``pipe``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    worker = Worker(config, index_base)
    pipe.send(("ready", None))
    if pipe.recv() != "go":
        return

    def tick(stats: Stats) -> None:
        if pipe.poll():
            message = pipe.recv()
            if message == "stop":
                worker.stop()
        pipe.send(("tick", stats.to_dict()))

    stats = worker.run(tick)
    pipe.send(("done", stats.to_dict()))


def run_load(config: LoadConfig, tick: Callable[[Stats], Any] | None = None) -> Stats:
    """Run ``config`` with ``config.workers`` processes and return the merged stats.

    One worker runs on the calling thread; the others are spawned processes that report
    their stats every tick. ``tick`` sees the merged stats.
    """
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
        for _, pipe in children:
            pipe.send("go")
        local = Worker(config.share(0))

        def collect() -> None:
            for number, (_, pipe) in enumerate(children):
                while number not in finished and pipe.poll():
                    kind, data = pipe.recv()
                    stats = Stats.from_dict(data)
                    latest[number] = stats
                    if kind == "done":
                        finished[number] = stats

        def merged(own: Stats) -> Stats:
            total = Stats(config.connections)
            total.connections = 0
            total.merge(own)
            for stats in latest.values():
                total.merge(stats)
            return total

        def local_tick(own: Stats) -> None:
            collect()
            if tick is not None:
                tick(merged(own))

        try:
            own = local.run(local_tick)
        except KeyboardInterrupt:  # pragma: no cover - run() handles it
            own = local.stats
        if own.interrupted:
            for _, pipe in children:
                with contextlib.suppress(OSError):
                    pipe.send("stop")
        deadline = time.monotonic() + config.timeout + (config.duration or 0) + 60
        while len(finished) < len(children) and time.monotonic() < deadline:
            collect()
            if tick is not None:
                tick(merged(own))
            time.sleep(_TICK)
        total = merged(own)
        total.connections = config.connections
        return total
    finally:
        for process, pipe in children:
            pipe.close()
            process.join(2)
            if process.is_alive():
                process.terminate()
                process.join(1)


# -- the embedded echo server ------------------------------------------------------------


class EchoServerProcess:
    """A wscli echo server in a child process, for ``wscli bench`` without a URL.

    The server gets a process of its own so that it has an interpreter lock of its own:
    in the benchmark's process it would share one with the load generator, and measure
    the two together.

    Args:
        compression: accept permessage-deflate.
        host: the address to bind.
    """

    def __init__(self, compression: bool = False, host: str = "127.0.0.1") -> None:
        import subprocess

        args = [sys.executable, "-m", "wscli.loadgen", "--echo-server", "--host", host]
        if compression:
            args.append("--compression")
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.close()
            raise OSError("the embedded echo server did not start")
        self.port = int(line)
        self.url = f"ws://{host}:{self.port}/"

    @property
    def pid(self) -> int:
        """The server process's id."""
        return self.process.pid

    def close(self) -> None:
        """Stop the server process (closing its stdin asks it to shut down)."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(5)
        except Exception:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> EchoServerProcess:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def serve_echo(host: str = "127.0.0.1", port: int = 0, compression: bool = False) -> Any:
    """Start a wscli echo server on its own reactor thread and return the Server.

    Messages are echoed from the reactor thread as they arrive; with no thread per
    connection, this is wscli's fastest shape of echo server.
    """
    from .core.sync.server import Server

    server = Server(
        host,
        port,
        per_message_deflate=compression,
        max_payload=256 * 2**20,
        max_queue=4096,
        close_timeout=2.0,
    )

    def on_connection(ws: Any, request: Any) -> None:
        send = ws.send
        ws.on("message", lambda data, flags: send(data, binary=flags.binary))

    server.on("connection", on_connection)
    return server


def _raise_nofile_limit() -> None:
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _echo_server_main(argv: list[str]) -> None:
    """``python -m wscli.loadgen --echo-server``: print the port, serve until stdin closes."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m wscli.loadgen")
    parser.add_argument("--echo-server", action="store_true", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--compression", action="store_true")
    args = parser.parse_args(argv)
    _raise_nofile_limit()
    server = serve_echo(args.host, args.port, args.compression)
    print(server.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.read()
    server.close(timeout=2.0)


def raise_nofile_limit() -> None:
    """Raise this process's open-file limit to its hard limit (many connections)."""
    _raise_nofile_limit()


if __name__ == "__main__":
    _echo_server_main(sys.argv[1:])
