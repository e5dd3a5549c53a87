"""The wscli subcommands, one module each, and the session plumbing connect and listen share.

Both commands juggle the same three things, kept here once:

* :class:`Peer` wraps one open connection as the CLI sees it: a short id, counters for
  ``/stats``, listeners that hand every event to the :class:`~wscli.output.Printer`, and
  send helpers that count and show what goes out;
* :class:`InputReader` turns stdin into messages on a thread of its own (lines, or
  NUL-delimited records with ``--null``; hex or base64 with ``--binary``), so a pipe is
  read while the connection opens and nothing typed early is lost;
* :func:`close_info` and :func:`status_for_close` say how a connection ended, for the
  explanation line and the exit status.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ..core import ConnectionClosed, WebSocket, broadcast
from ..exitcodes import ExitStatus
from ..output import CloseInfo, Printer
from ..params import decode_binary

__all__ = [
    "Peer",
    "PeerStats",
    "InputReader",
    "close_info",
    "status_for_close",
    "split_fragments",
    "terminate_as_interrupt",
    "read_stdin_into",
    "FRAGMENT_TIMEOUT",
]

#: Seconds a ``/frag`` frame may wait for room in the peer's outgoing buffer, so the
#: prompt never waits on a peer that stopped reading in the middle of the message.
FRAGMENT_TIMEOUT = 5.0


@dataclass
class PeerStats:
    """Counters of one :class:`Peer`'s connection, for ``/stats`` and ``--json``.

    Not :class:`wscli.loadgen.Stats`, which adds up a whole ``bench`` run.
    """

    opened_at: float = field(default_factory=time.monotonic)
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    latencies: list[float] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        """Name/value rows for :meth:`Printer.table`."""
        from ..params import format_duration, format_size

        rows = [
            ("open for", format_duration(time.monotonic() - self.opened_at)),
            ("received", f"{self.messages_in} messages, {format_size(self.bytes_in)}"),
            ("sent", f"{self.messages_out} messages, {format_size(self.bytes_out)}"),
        ]
        if self.latencies:
            latest = self.latencies[-1]
            low, high = min(self.latencies), max(self.latencies)
            mean = sum(self.latencies) / len(self.latencies)
            rows.append(
                (
                    "latency",
                    f"last {format_duration(latest)}, min {format_duration(low)}, "
                    f"avg {format_duration(mean)}, max {format_duration(high)} "
                    f"({len(self.latencies)} pings)",
                )
            )
        else:
            rows.append(("latency", "no pings yet (try /ping)"))
        return rows


def _size(data: str | bytes) -> int:
    return len(data.encode()) if isinstance(data, str) else len(data)


def close_info(ws: WebSocket) -> CloseInfo:
    """Describe how ``ws`` ended: who sent the first close frame, codes, clean or not."""
    rcvd, sent = ws.close_rcvd, ws.close_sent
    if rcvd is not None and sent is not None:
        by: str | None = "peer" if ws.close_rcvd_then_sent else "us"
    elif rcvd is not None:
        by = "peer"
    elif sent is not None:
        by = "us"
    else:
        by = None
    error = ws.error
    message = None
    if error is not None and not isinstance(error, ConnectionClosed):
        message = str(error) or type(error).__name__
    code = rcvd.code if rcvd is not None else (ws.close_code or 1006)
    if by == "us" and sent is not None:
        reason = sent.reason
    else:
        reason = rcvd.reason if rcvd is not None else ""
    return CloseInfo(
        code=code,
        reason=reason,
        by=by,
        clean=rcvd is not None and sent is not None,
        sent_code=None if sent is None else sent.code,
        error=message,
    )


def status_for_close(info: CloseInfo) -> ExitStatus:
    """The exit status for a connection that ended this way (see :attr:`CloseInfo.ok`)."""
    return ExitStatus.OK if info.ok else ExitStatus.CLOSED_WITH_ERROR


def split_fragments(payload: bytes, count: int) -> list[bytes]:
    """Cut ``payload`` into ``count`` nearly equal pieces (some empty when it is short)."""
    count = max(1, count)
    size, extra = divmod(len(payload), count)
    pieces, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(payload[start:end])
        start = end
    return pieces


class Peer:
    """One open connection as the CLI sees it: id, counters, printing, sending.

    Attaching listeners here (right after the connection opened) also takes the
    messages that arrived in between: the library replays its queue to the first
    ``message`` listener.

    Args:
        ws: the open connection.
        printer: where events are shown.
        id: the short id ``listen`` gives each client (``None`` for ``connect``).
        peer_name: how the other end is called in close explanations.
        show_messages: print data messages (off when ``--exec`` consumes them).
        message_hooks: called as ``hook(peer, data)`` after each message is shown.
        close_hooks: called as ``hook(peer, info)`` once the connection has ended.
        sent_hooks: called as ``hook(peer, data)`` after each message sent.
        sending_hooks: called as ``hook(peer, data)`` just before each message is handed
            to the connection; each returns ``done(sent)``, called once the message was
            sent (``True``) or not (``--record`` keeps a fast echo behind it this way).
        never_wait: :meth:`send` skips the peer (with a warning) while its outgoing
            buffer is full, instead of waiting for it.

    Hooks given here are in place before the first event can arrive; hooks added to
    the lists later may miss early messages (or the close of a short connection).
    """

    def __init__(
        self,
        ws: WebSocket,
        printer: Printer,
        *,
        id: int | None = None,
        peer_name: str = "the server",
        show_messages: bool = True,
        message_hooks: Iterable[Callable[[Peer, str | bytes], Any]] = (),
        close_hooks: Iterable[Callable[[Peer, CloseInfo], Any]] = (),
        sent_hooks: Iterable[Callable[[Peer, str | bytes], Any]] = (),
        sending_hooks: Iterable[Callable[[Peer, str | bytes], Callable[[bool], Any]]] = (),
        never_wait: bool = False,
    ) -> None:
        self.ws = ws
        #: Sends skip this peer while its buffer is full instead of waiting (a server
        #: with many clients must not let one that stopped reading stall the others).
        self.never_wait = never_wait
        self.printer = printer
        self.id = id
        self.peer_name = peer_name
        self.show_messages = show_messages
        self.stats = PeerStats()
        #: Called as ``hook(peer, data)`` on the reactor thread after each message shows.
        self.message_hooks: list[Callable[[Peer, str | bytes], Any]] = list(message_hooks)
        #: Called as ``hook(peer, info)`` once the connection has ended.
        self.close_hooks: list[Callable[[Peer, CloseInfo], Any]] = list(close_hooks)
        #: Called as ``hook(peer, data)`` on the sending thread after each message sent.
        self.sent_hooks: list[Callable[[Peer, str | bytes], Any]] = list(sent_hooks)
        #: Called as ``hook(peer, data)`` on the sending thread before each message goes.
        self.sending_hooks = list(sending_hooks)
        self.info: CloseInfo | None = None
        self.closed = threading.Event()
        self._user_pings: list[Any] = []
        self._lock = threading.Lock()
        self._holds: set[str] = set()
        self._hold_lock = threading.Lock()
        ws.on("message", self._on_message)
        ws.on("ping", self._on_ping)
        ws.on("pong", self._on_pong)
        ws.on("close", self._on_close)
        ws.on("error", self._on_error)

    @property
    def label(self) -> str:
        """``#3`` for a listen client, the URL for connect."""
        return f"#{self.id}" if self.id is not None else str(self.ws.url)

    @property
    def address(self) -> str:
        """The peer's ``host:port``."""
        remote = self.ws.remote_address
        if isinstance(remote, tuple) and len(remote) >= 2:
            host = f"[{remote[0]}]" if ":" in str(remote[0]) else str(remote[0])
            return f"{host}:{remote[1]}"
        return str(remote or "?")

    # -- events (reactor thread) ---------------------------------------------------------

    def _on_message(self, data: str | bytes, flags: Any) -> None:
        with self._lock:
            self.stats.messages_in += 1
            self.stats.bytes_in += _size(data)
        if self.show_messages:
            self.printer.message("in", data, peer=self.id)
            if self.printer.backlog_full():
                # The terminal or the pipe is behind: stop reading until it catches up.
                self.hold("output")
                self.printer.when_drained(lambda: self.release("output"))
        for hook in self.message_hooks:
            hook(self, data)

    # -- flow control (any thread) -------------------------------------------------------

    def hold(self, reason: str) -> None:
        """Stop reading from the peer for ``reason`` (``"output"``, ``"exec"``, ``"user"``).

        Reading resumes once every reason was released, so a slow terminal, a slow
        ``--exec`` process and the REPL's ``/pause`` do not undo each other.
        """
        # pause() and resume() only set a flag and wake the reactor, so they are called
        # under the lock: a hold racing the last release then ends paused, as it should.
        with self._hold_lock:
            first = not self._holds
            self._holds.add(reason)
            if first:
                self.ws.pause()

    def release(self, reason: str) -> None:
        """Undo :meth:`hold` for ``reason``; read again when nothing else holds."""
        with self._hold_lock:
            if reason not in self._holds:
                return
            self._holds.discard(reason)
            if not self._holds:
                self.ws.resume()

    def _on_ping(self, data: bytes) -> None:
        if self.printer.show_ping_pong:
            self.printer.control("in", "ping", data, peer=self.id)

    def _on_pong(self, data: bytes) -> None:
        with self._lock:
            answered = [w for w in self._user_pings if w.done()]
            self._user_pings = [w for w in self._user_pings if not w.done()]
        latency = None
        for waiter in answered:
            if waiter.latency is not None:
                self.stats.latencies.append(waiter.latency)
                latency = waiter.latency
        if answered or self.printer.show_ping_pong:
            self.printer.control("in", "pong", data, peer=self.id, latency=latency)

    def _on_error(self, error: BaseException) -> None:
        # Reported with the close explanation (close_info reads ws.error).
        pass

    def _on_close(self, code: int, reason: str) -> None:
        info = close_info(self.ws)
        self.info = info
        self.printer.closed(info, peer=self.id, peer_name=self.peer_name)
        self.closed.set()
        for hook in self.close_hooks:
            hook(self, info)

    # -- commands (any thread) -----------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Send a message (text for ``str``, binary for ``bytes``), count it and show it.

        Raises:
            ConnectionClosed: the connection is closing or closed.
        """
        if self.never_wait:
            if self.offer(data):
                return
            if self.ws.buffered_amount > self.ws.write_limit:
                self.printer.warning(f"{self.label} is not reading: message not sent")
                return
            # Skipped because it is closing or closed: say so the usual way (raises).
        done = self._handing_over(data)
        try:
            self.ws.send(data)
        except BaseException:
            done(False)
            raise
        done(True)

    def _handing_over(self, data: str | bytes) -> Callable[[bool], None]:
        """Take the places of ``data``'s line and records before it goes; return
        ``done(sent)``, which counts and shows it where its place was, or drops it.

        The places are taken before the connection has the message: its answer can be
        delivered before ``send()`` returns, and must be shown (and recorded) after it.
        """
        size = _size(data)
        show = self.show_messages and self.printer.shows_sent
        fill = self.printer.hold(size) if show else None
        dones = [hook(self, data) for hook in self.sending_hooks]

        def done(sent: bool) -> None:
            if fill is not None:
                line = functools.partial(self.printer.message, "out", data, peer=self.id)
                fill(line if sent else None)
            for each in dones:
                each(sent)
            if sent:
                self._count_sent(data, size)

        return done

    def send_from_prompt(self, data: str | bytes) -> None:
        """Send like :meth:`send`, but never wait for a peer that stopped reading.

        Raises:
            ValueError: more than ``write_limit`` bytes already wait for the peer (a
                ``listen`` client is skipped with a warning instead); nothing was sent.
            ConnectionClosed: the connection is closing or closed.
        """
        waiting = self.ws.buffered_amount
        if not self.never_wait and waiting > self.ws.write_limit:
            raise ValueError(
                f"{self.label} is not reading ({waiting} bytes wait for it): message not sent"
            )
        self.send(data)

    def offer(self, data: str | bytes) -> bool:
        """Send through the library's broadcast: never waits; ``False`` when skipped.

        A peer that has more than ``write_limit`` bytes waiting (it stopped reading)
        misses the message rather than stall the sender or make us buffer for it.
        """
        done = self._handing_over(data)
        sent = broadcast([self.ws], data) != 0
        done(sent)
        return sent

    def _count_sent(self, data: str | bytes, size: int) -> None:
        """Count a message sent (``size`` bytes) and tell the ``sent_hooks``."""
        with self._lock:
            self.stats.messages_out += 1
            self.stats.bytes_out += size
        for hook in self.sent_hooks:
            hook(self, data)

    def send_fragments(self, data: str | bytes, count: int) -> None:
        """Send one message as ``count`` frames (a text message may split a character).

        Never waits for a peer that stopped reading: with more than ``write_limit``
        bytes already waiting for it, nothing is sent (a warning for a ``listen``
        client, so the others still get it); each frame then waits at most
        :data:`FRAGMENT_TIMEOUT` seconds for room.

        Raises:
            ValueError: ``connect``'s peer is not reading; nothing was sent.
            TimeoutError: the buffer filled up mid-message; the connection failed with
                1011, since the peer must never take part of a message for all of it.
        """
        binary = isinstance(data, bytes)
        payload = data if isinstance(data, bytes) else data.encode()
        waiting = self.ws.buffered_amount
        if waiting > self.ws.write_limit:
            text = f"{self.label} is not reading ({waiting} bytes wait for it): message not sent"
            if self.never_wait:
                self.printer.warning(text)
                return
            raise ValueError(text)
        done = self._handing_over(data)
        try:
            with self.ws.stream(binary=binary, timeout=FRAGMENT_TIMEOUT) as stream:
                for piece in split_fragments(payload, count):
                    stream.write(piece)
        except BaseException as exc:
            done(False)
            if isinstance(exc, TimeoutError):
                raise TimeoutError(
                    f"{self.label} stopped reading in the middle of the message: "
                    "the connection was failed with 1011"
                ) from None
            raise
        done(True)

    def ping(self, data: bytes = b"") -> None:
        """Send a ping; its pong is shown with the round-trip time and counted."""
        waiter = self.ws.ping(data)
        with self._lock:
            self._user_pings.append(waiter)
        self.printer.control("out", "ping", data, peer=self.id)

    def pong(self, data: bytes = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat)."""
        self.ws.pong(data)
        self.printer.control("out", "pong", data, peer=self.id)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the close listener explains the end."""
        self.ws.close(code, reason)

    def wait_closed(self, timeout: float | None) -> bool:
        """Wait until the connection has ended and its end was explained."""
        return self.closed.wait(timeout)


class InputReader:
    """Read messages from a stream on a thread: lines, NUL-delimited records, hex, base64.

    The reader runs from the moment it starts, whether or not a connection is open, so
    what is written to a pipe early waits in the command's queue instead of being lost.

    Args:
        stream: the text stream (its file descriptor or binary buffer is read).
        binary: ``"hex"`` or ``"base64"`` to decode each record into a binary message.
        null: records end with NUL instead of a newline (``find -print0`` style).
        on_item: called with each message (``str`` or ``bytes``).
        on_eof: called once at end of input.
        on_error: called with a message for a record that could not be decoded.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        binary: str | None,
        null: bool,
        on_item: Callable[[str | bytes], Any],
        on_eof: Callable[[], Any],
        on_error: Callable[[str], Any],
    ) -> None:
        self.stream = stream
        self.binary = binary
        self.separator = b"\0" if null else b"\n"
        self.on_item = on_item
        self.on_eof = on_eof
        self.on_error = on_error
        self._thread = threading.Thread(target=self._run, name="wscli-stdin", daemon=True)

    def start(self) -> None:
        """Start reading on a daemon thread (a blocked read must not delay exit)."""
        self._thread.start()

    def _chunks(self) -> Iterator[bytes]:
        # os.read on the descriptor, not the buffered object: a daemon thread stuck in a
        # buffered read holds its lock, which can abort interpreter shutdown.
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None
        if fd is not None:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except InterruptedError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                yield chunk
        buffer = getattr(self.stream, "buffer", None)
        while True:
            if buffer is not None:
                chunk = buffer.read1(65536)
            else:
                chunk = self.stream.read(65536).encode()
            if not chunk:
                return
            yield chunk

    def _run(self) -> None:
        pending = b""
        try:
            for chunk in self._chunks():
                pending += chunk
                *records, pending = pending.split(self.separator)
                for record in records:
                    self._emit(record)
            if pending:
                self._emit(pending)
        finally:
            self.on_eof()

    def _emit(self, record: bytes) -> None:
        if self.separator == b"\n" and record.endswith(b"\r"):
            record = record[:-1]
        if self.binary:
            try:
                self.on_item(decode_binary(record.decode("ascii", "replace"), self.binary))
            except ValueError as exc:
                self.on_error(str(exc))
            return
        self.on_item(record.decode("utf-8", "replace"))


def read_stdin_into(
    events: queue.Queue[tuple[Any, ...]], printer: Printer, *, binary: str | None, null: bool
) -> InputReader:
    """Start reading stdin into a session's event queue: ``("item", message)`` per
    record, then ``("eof",)``; records that cannot be decoded are warnings."""
    reader = InputReader(
        sys.stdin,
        binary=binary,
        null=null,
        on_item=lambda item: events.put(("item", item)),
        on_eof=lambda: events.put(("eof",)),
        on_error=printer.warning,
    )
    reader.start()
    return reader


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a command runs, so both close with 1001 first.

    Does nothing off the main thread (signal handlers can only be set there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
