"""A :class:`Worker` drives a share of the load from one ``selectors`` loop.

Why not :func:`wscli.connect`? A benchmark client must outrun the servers it measures.
The threaded layer hands every message across a lock and a listener call, which is right
for applications and wasteful here. So a worker drives its connections from one loop on
the calling thread, and one recv and one send system call move a whole batch of
messages. Everything about WebSocket itself is the core's:
:class:`~wscli.core.client.ClientProtocol` checks the handshake and negotiates
extensions, and a :class:`~wscli.core.protocol.Protocol` frames and masks what goes out
and parses what comes in (:mod:`.verify`).

Bounds, as for a library connection: an echo is never larger than the largest message
sent, a message spans at most ``DEFAULT_MAX_FRAGMENTS`` frames, and replies the server
does not read (pongs to its pings) may pile up to :data:`MAX_UNSENT_REPLIES` bytes before
the connection is dropped with a ``limit`` error.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import selectors
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from ..core.client import ClientProtocol
from ..core.exceptions import HandshakeError, InvalidStatus
from ..core.extensions.permessage_deflate import client_factory_from_options
from ..core.frames import MAX_CONTROL_PAYLOAD, Close
from ..core.http11 import parse_response
from ..core.protocol import Protocol, State
from ..core.sync.outbuffer import OutBuffer
from ..core.sync.resolve import getaddrinfo
from ..core.uri import WebSocketURI, parse_uri
from .config import LoadConfig
from .interrupts import sigint_between_steps
from .payloads import LARGE_MESSAGE, Payloads, keep_freed_memory
from .schedule import OpenLoop
from .series import SeriesRecorder
from .stats import ErrorKind, Problem, Stats
from .verify import EchoChecker, check_raw, client_protocol

__all__ = ["Worker", "MAX_UNSENT_REPLIES"]

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_RECV_SIZE = 1 << 18
#: Handshakes in progress at once when no ramp is given: a burst of 10,000 SYNs would
#: overflow the server's listen backlog and turn into one-second SYN retransmits.
_MAX_CONNECTING = 128
#: How often a worker checks timeouts and reports progress, in seconds.
TICK = 0.1
#: Open loop: poll rather than sleep when the next message is due sooner than this.
_SPIN_NS = 2_000_000
#: Bytes of output beyond the messages in flight (pongs, mostly) that may wait for a
#: server that does not read them: a library connection's default ``write_limit``.
MAX_UNSENT_REPLIES = 4 * 2**20

#: Output of more chunks than this, averaging under _SMALL_CHUNK bytes, is joined into one.
_COALESCE = 64
_SMALL_CHUNK = 256

# Connection states.
_TCP, _TLS, _UPGRADE, _OPEN, _CLOSING, _DONE = range(6)


class _Conn:
    """One connection's state inside a :class:`Worker`."""

    __slots__ = (
        "index",
        "sock",
        "proto",
        "checker",
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
    )

    def __init__(self, index: int, remaining: int | None) -> None:
        self.index = index
        self.sock: Any = None  # a socket, or an SSLSocket for wss://
        #: Frames what we send and parses what comes in.
        self.proto: Protocol | None = None
        #: Checks the echoes the protocol parses (not in raw mode).
        self.checker: EchoChecker | None = None
        #: The opening handshake, until it is done.
        self.handshake: ClientProtocol | None = None
        self.state = _TCP
        #: (timestamp_ns, payload) of each message in flight, oldest first.
        self.inflight: collections.deque[tuple[int, Any]] = collections.deque()
        #: Open loop: due times of messages that wait for room in the pipeline.
        self.backlog: collections.deque[int] = collections.deque()
        #: Messages this connection still has to send (closed loop); None: until told.
        self.remaining = remaining
        #: What waits to be written, and how much of it.
        self.out = OutBuffer()
        self.interest = 0
        self.started_ns = 0
        #: Received bytes not parsed yet (the handshake response, raw echoes).
        self.rbuf = bytearray()
        self.tls = False
        #: When the current step (handshake, close) times out.
        self.deadline_ns = 0
        #: When an idle connection held with ``hold`` should close.
        self.done_at_ns = 0
        self.close_rcvd: Close | None = None


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
        self._payloads = Payloads(config)
        self._text = not config.binary
        # An echo is never larger than what was sent; anything bigger is a broken server.
        self._max_size = max(config.size_max, MAX_CONTROL_PAYLOAD) + 1024
        # What may wait unwritten: the messages in flight, plus the replies bound.
        self._max_unsent = config.pipeline * (config.size_max + 14) + MAX_UNSENT_REPLIES
        self._sel = selectors.DefaultSelector()
        self._buffer = bytearray(_RECV_SIZE)
        self._view = memoryview(self._buffer)
        self._live: list[_Conn] = []
        self._index_base = index_base
        self._seq = 0
        self._stopping = False
        self._stop_requested = False
        #: Ctrl-Cs taken while :meth:`run` handles SIGINT (see _sigint_between_steps).
        self._interrupts = 0
        self._address: Any = None
        self._family = socket.AF_INET
        self._to_start = config.connections
        self._started = 0
        self._connecting = 0
        self._start_ns = 0
        self._send_deadline_ns: int | None = None
        self._open_loop: OpenLoop | None = None
        self._timeout_ns = int(config.timeout * 1e9)

    # -- public ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the run to end: stop sending, close every connection, return soon."""
        self._stop_requested = True

    def run(
        self, tick: Callable[[Stats], Any] | None = None, *, epoch_ns: int | None = None
    ) -> Stats:
        """Run the load to its end and return what it measured.

        Args:
            tick: called with the current :class:`Stats` about ten times a second, on
                this thread (the live display, or a worker process's report).
            epoch_ns: ``time.perf_counter_ns()`` of second 0 of the per-second series
                (workers of one run share it); by default, when this run starts.

        Ctrl-C ends the run early: connections are closed (briefly waiting for the
        closing handshakes) and the stats returned have ``interrupted`` set.
        """
        config = self.config
        self._resolve()
        if config.size_max >= LARGE_MESSAGE:
            keep_freed_memory()
        self._start_ns = time.perf_counter_ns()
        if config.duration is not None:
            self._send_deadline_ns = self._start_ns + int(config.duration * 1e9)
        if config.rate is not None:
            total = None if config.messages is None else config.messages * config.connections
            self._open_loop = OpenLoop(config.rate, total, self._send_deadline_ns)
        tick_ns = int(TICK * 1e9)
        next_tick = self._start_ns + tick_ns
        recorder = SeriesRecorder(
            self._start_ns if epoch_ns is None else epoch_ns, self._open_connections
        )
        try:
            with sigint_between_steps(self._interrupted):
                while True:
                    if self._interrupts:
                        self.stats.interrupted = True
                        self._shutdown_quickly()
                        break
                    now = time.perf_counter_ns()
                    if self._to_start:
                        self._start_connections(now)
                    if self._open_loop is not None and not self._stopping:
                        self._schedule(self._open_loop, now)
                    if now >= next_tick:
                        next_tick = now + tick_ns
                        self._check_timers(now)
                        recorder.tick(self.stats, now)
                        if tick is not None:
                            tick(self.stats)
                    if self._stop_requested and not self._stopping:
                        self._begin_stop(now)
                    if not self._live and not self._to_start:
                        break
                    self._poll(self._select_timeout(now, next_tick))
                if self._interrupts:
                    # Ctrl-C as the last connection finished: the run is complete, but
                    # the user asked to stop, and is told it was interrupted.
                    self.stats.interrupted = True
        except KeyboardInterrupt:
            # Only where SIGINT could not be taken over (another thread, the caller's
            # own handler): the step it interrupted may be half done.
            self.stats.interrupted = True
            self._shutdown_quickly()
        finally:
            for conn in list(self._live):
                self._drop(conn)
            self._sel.close()
            recorder.finish(self.stats, time.perf_counter_ns())
        return self.stats

    def _interrupted(self) -> None:
        self._interrupts += 1

    def _open_connections(self) -> int:
        return sum(1 for conn in self._live if _OPEN <= conn.state < _DONE)

    # -- connecting --------------------------------------------------------------------

    def _resolve(self) -> None:
        uri = self._uri
        if uri.unix_path is not None:
            self._family, self._address = socket.AF_UNIX, uri.unix_path
            return
        # Within -W like every other wait: a resolver that never answers ends the run.
        infos = getaddrinfo(uri.host, uri.port, self.config.timeout)
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
            self._fail(conn, Problem(ErrorKind.CONNECT, f"connect: {_os_reason(exc)}"))
            return
        conn.sock = sock
        sock.setblocking(False)
        if self._family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(self._address)
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            self._fail(conn, Problem(ErrorKind.CONNECT, f"connect: {os.strerror(code).lower()}"))
            return
        self._want(conn, _WRITE)

    def _advance(self, conn: _Conn, mask: int) -> None:
        """Move a connection that is not open yet through TCP, TLS and the upgrade."""
        if conn.state == _TCP:
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                reason = f"connect: {os.strerror(code).lower()}"
                self._fail(conn, Problem(ErrorKind.CONNECT, reason))
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
                self._fail(conn, Problem(ErrorKind.CONNECT, f"tls: {exc.reason or exc}"))
                return
            except OSError as exc:
                self._fail(conn, Problem(ErrorKind.CONNECT, f"tls: {_os_reason(exc)}"))
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
            conn.proto = client_protocol([], self._max_size)
            self._opened(conn, time.perf_counter_ns())
            return
        extensions = []
        if config.compression:
            factory = client_factory_from_options(True)
            if factory is not None:
                extensions.append(factory)
        handshake = ClientProtocol(self._uri, extensions=extensions, headers=config.headers or None)
        handshake.send_request(handshake.connect())
        conn.out.queue(handshake.data_to_send(), from_reactor=False)
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
            self._fail(conn, _handshake_problem(exc))
            return
        extensions = handshake.extensions
        conn.handshake = None
        proto = client_protocol(extensions, self._max_size)
        conn.proto = proto
        conn.checker = EchoChecker(proto, text=self._text, record=self.stats.latency.record_ns)
        if extensions and not self.stats.extensions:
            self.stats.extensions = ", ".join(e.describe() for e in extensions)
        # Frames right behind the response go to the protocol once the connection is open.
        leftover = bytes(conn.rbuf[used:])
        conn.rbuf = bytearray()
        self._opened(conn, now)
        if conn.state == _OPEN and leftover:
            self._receive(conn, leftover, now)

    def _opened(self, conn: _Conn, now: int) -> None:
        conn.state = _OPEN
        if self._open_loop is not None:
            self._open_loop.start(now)
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
                self._lost(conn, Problem(ErrorKind.DROPPED, f"connection {_os_reason(exc)}"))
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

    def _receive(self, conn: _Conn, data: bytes | memoryview, now: int) -> None:
        """Check the echoes in ``data``, then refill the pipeline and write."""
        checker = conn.checker
        assert checker is not None
        received, size, problem, close = checker.receive(data, conn.inflight, now)
        stats = self.stats
        if received:
            stats.received += received
            stats.bytes_received += size
            stats.last_ns = now
        if problem is not None:
            if problem.kind is ErrorKind.MISMATCH:
                self._mismatch(conn, problem)
            else:
                self._lost(conn, problem)
            return
        if close is not None:
            conn.close_rcvd = close
            self._close_received(conn, close, now)
        if conn.state == _DONE:
            return
        if received and conn.state == _OPEN:
            self._fill(conn, now)
        self._flush(conn)
        if conn.out.size > self._max_unsent:
            reason = f"limit: over {self._max_unsent} bytes of replies the server does not read"
            self._lost(conn, Problem(ErrorKind.LIMIT, reason))
            return
        self._after_send(conn, now)

    def _receive_raw(self, conn: _Conn, data: memoryview, now: int) -> None:
        """Raw mode: the bytes that come back must be the frames sent, in order."""
        conn.rbuf += data
        stats = self.stats
        received, size, mismatch = check_raw(conn.rbuf, conn.inflight, stats.latency.record_ns, now)
        if received:
            stats.received += received
            stats.bytes_received += size
            stats.last_ns = now
        if mismatch:
            self._mismatch(conn, Problem(ErrorKind.MISMATCH, "echo mismatch"))
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
                conn.out.queue([frame], from_reactor=False)
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
        if proto is not None:
            chunks = proto.data_to_send()
            if len(chunks) > _COALESCE and all(chunks):
                size = sum(map(len, chunks))
                if size < len(chunks) * _SMALL_CHUNK:
                    # Many small chunks (pongs to a ping flood) cost far more as objects
                    # than as bytes: keep one copy instead.
                    chunks = [b"".join(chunks)]
            if chunks:
                conn.out.queue(chunks, from_reactor=False)
        out = conn.out
        if out:
            error = out.write(conn.sock, conn.tls)
            if error is not None:
                self._lost(conn, Problem(ErrorKind.DROPPED, f"connection {_os_reason(error)}"))
                return
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

    def _schedule(self, loop: OpenLoop, now: int) -> None:
        """Hand the messages that are due to connections, round robin (open loop)."""
        due = loop.due(now)
        if not due:
            return
        targets = [c for c in self._live if c.state == _OPEN]
        if not targets:
            return
        touched = {}
        for conn, due_ns in loop.assign(due, targets):
            conn.backlog.append(due_ns)
            touched[id(conn)] = conn
        for conn in touched.values():
            self._fill(conn, now)
            self._flush(conn)

    def _select_timeout(self, now: int, next_tick: int) -> float:
        wake = next_tick
        config = self.config
        loop = self._open_loop
        if loop is not None and not self._stopping:
            due = loop.next_due_ns()
            if due is not None:
                if due - now < _SPIN_NS:
                    # epoll sleeps in whole milliseconds: a message due sooner would
                    # leave late and its latency would count our lateness. Poll instead.
                    return 0.0
                wake = min(wake, due - _SPIN_NS)
        if config.ramp is not None and self._to_start:
            wake = min(wake, self._start_ns + int(self._started * 1e9 / config.ramp))
        return max(0.0, (wake - now) / 1e9)

    # -- ending ------------------------------------------------------------------------

    def _work_left(self, conn: _Conn, now: int) -> bool:
        if conn.inflight or conn.backlog:
            return True
        if self._stopping:
            return False
        if self._open_loop is not None:
            return not self._open_loop.finished(now)
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
        """The server's close frame (the protocol has answered it)."""
        if conn.state == _CLOSING:
            return  # the answer to our close: wait for the server's EOF
        if self._work_left(conn, now):
            self._count_lost(conn)
            self.stats.add_error(Problem(ErrorKind.CLOSED, f"closed by server: {close}"))
        conn.state = _CLOSING
        conn.deadline_ns = now + self._timeout_ns

    def _eof(self, conn: _Conn, now: int) -> None:
        if conn.state < _OPEN:
            problem = Problem(ErrorKind.HANDSHAKE, "handshake: connection closed by server")
            self._fail(conn, problem)
            return
        if conn.state == _CLOSING and conn.close_rcvd is not None:
            self.stats.closed += 1
            self._drop(conn)
            return
        if self.config.raw and not self._work_left(conn, now):
            self._drop(conn)
            return
        self._lost(conn, Problem(ErrorKind.DROPPED, "connection dropped (no close frame)"))

    def _mismatch(self, conn: _Conn, problem: Problem) -> None:
        """An echo was wrong: nothing after it can be trusted; say why and close."""
        self.stats.add_error(problem)
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

    def _lost(self, conn: _Conn, problem: Problem) -> None:
        """An open connection broke: count what it had in flight, drop it."""
        if conn.state < _OPEN:
            self._fail(conn, problem)
            return
        if conn.state != _CLOSING or conn.inflight or problem.kind is not ErrorKind.DROPPED:
            self.stats.add_error(problem)
        self._count_lost(conn)
        self._drop(conn)

    def _fail(self, conn: _Conn, problem: Problem) -> None:
        """A connection could not be opened."""
        if conn.state < _OPEN:
            self._connecting -= 1
            self.stats.failed += 1
        self.stats.add_error(problem)
        self._count_lost(conn)
        self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        if conn.state == _DONE:
            return
        if conn.state >= _OPEN:
            self.stats.ended += 1
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
        conn.out.clear()
        conn.rbuf = bytearray()
        conn.proto = None
        conn.checker = None
        conn.handshake = None

    def _check_timers(self, now: int) -> None:
        """Every tick: handshake, echo and close timeouts; held connections; stragglers."""
        timeout = self.config.timeout
        for conn in list(self._live):
            state = conn.state
            if state < _OPEN:
                if now >= conn.deadline_ns:
                    reason = f"handshake: timed out after {timeout:g} s"
                    self._fail(conn, Problem(ErrorKind.HANDSHAKE, reason))
            elif state == _OPEN:
                if conn.inflight and now - conn.inflight[0][0] >= self._timeout_ns:
                    self._count_lost(conn)
                    reason = f"no echo within {timeout:g} s"
                    self.stats.add_error(Problem(ErrorKind.TIMEOUT, reason))
                    self._close(conn, now)
                elif not conn.inflight:
                    if self.config.rate is None and conn.remaining is None:
                        self._fill(conn, now)
                        self._flush(conn)
                    self._after_send(conn, now)
            elif state == _CLOSING and now >= conn.deadline_ns:
                self.stats.add_error(Problem(ErrorKind.TIMEOUT, "closing handshake timed out"))
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
        """After Ctrl-C: stop sending, and wait at most a second for echoes and closes.

        Connections with echoes still in flight close once those arrive (the same path
        as the end of ``-d``), so an echo that comes back is counted, not taken for an
        unexpected message; what has not come back within the second is lost.
        """
        self._begin_stop(time.perf_counter_ns())
        deadline = time.monotonic() + 1.0
        interrupts = self._interrupts
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C ends the wait
            while self._live and time.monotonic() < deadline and self._interrupts == interrupts:
                self._poll(0.05)
        # Every connection still here, open or already closing, counts what it still
        # waits for as lost, so that sent == verified + lost holds after Ctrl-C too.
        for conn in list(self._live):
            self._count_lost(conn)


def _os_reason(exc: OSError) -> str:
    text = exc.strerror or str(exc) or type(exc).__name__
    return text.lower()


def _handshake_problem(exc: BaseException) -> Problem:
    if isinstance(exc, InvalidStatus):
        return Problem(ErrorKind.REFUSED, f"handshake: HTTP {exc.status_code}")
    return Problem(ErrorKind.HANDSHAKE, f"handshake: {exc}")
