"""One run of ``wscli connect``: the connection (and its successors), input, and the end.

:class:`ClientSession` owns every decision of a run: connect (retrying with
``--reconnect``, within the ``--timeout`` deadline), send what stdin, ``-x`` or the REPL
give, check ``--count``/``--expect``, close, and pick the exit status. The command in
:mod:`wscli.commands.connect` only parses options into a :class:`ConnectConfig`.

Threads: the library calls our listeners on its reactor thread. They only print and
post events to a queue; the main thread owns every decision (send, close, reconnect,
exit), so the flow of a run reads top to bottom in :meth:`ClientSession.run_pipe`.
"""

from __future__ import annotations

import contextlib
import math
import queue
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from .. import params
from ..core import (
    ConnectFailed,
    ConnectionClosed,
    InvalidStatus,
    connect,
)
from ..exitcodes import ExitStatus, describe_error, reason_of
from ..output import CloseInfo, Printer
from . import Peer, read_stdin_into, status_for_close, terminate_as_interrupt

__all__ = ["ConnectConfig", "ClientSession", "backoff_delay", "QUIT_GRACE"]

#: Reconnection backoff: first delay, growth factor and ceiling, in seconds.
BACKOFF_INITIAL, BACKOFF_FACTOR, BACKOFF_MAX = 0.5, 2.0, 30.0
#: A connection that stayed open this long resets the backoff.
BACKOFF_RESET_AFTER = 10.0
#: Without --wait, end of input closes once replies settle: this long with nothing
#: received, and at most SETTLE_MAX after the end of input. Many servers read a message
#: and the close behind it in one go and then refuse to answer the message, so closing
#: at once would lose the replies a pipe is usually run for.
SETTLE_QUIET, SETTLE_MAX = 0.3, 2.0
#: Once the run must end (``/quit``, ``--timeout``, a failed write), the server gets
#: this long to answer our close before the connection is dropped: a stalled server
#: must not keep a finished run waiting for the library's whole close timeout.
QUIT_GRACE = 1.0
#: Characters of a refused upgrade's body shown on stderr (escaped, on one line).
REFUSAL_BODY_SHOWN = 500


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0-based).

    Exponential with "equal jitter": half the step is fixed, half random, so clients
    dropped together by a restarting server do not all come back in the same instant.
    """
    step = min(BACKOFF_MAX, BACKOFF_INITIAL * BACKOFF_FACTOR**attempt)
    return step / 2 + (rng or random).uniform(0, step / 2)


@dataclass
class ConnectConfig:
    """Everything ``connect`` was asked to do, parsed and checked."""

    url: str
    kwargs: dict[str, Any]
    execute: tuple[str, ...] = ()
    wait: float | None = None
    close_code: int = 1000
    close_reason: str = ""
    count: int | None = None
    expect: re.Pattern[str] | None = None
    timeout: float | None = None
    reconnect: bool = False
    show_handshake: bool = False
    binary: str | None = None
    null: bool = False
    exec_argv: list[str] | str | None = None
    #: ``--record``: the open file and its name, and the names to keep out of it.
    record: Any = None
    record_name: str = ""
    redact: tuple[str, ...] = ()

    @property
    def expecting(self) -> bool:
        """Whether ``--count`` or ``--expect`` decide the exit status."""
        return self.count is not None or self.expect is not None


class ClientSession:
    """One run of ``connect``: the connection (and its successors), input, and the end.

    Args:
        config: what to do.
        printer: where to show it.
        interactive: run the REPL (stdin and stdout are terminals, no ``-x``).
    """

    def __init__(self, config: ConnectConfig, printer: Printer, *, interactive: bool) -> None:
        self.config = config
        self.printer = printer
        self.interactive = interactive
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.peer: Peer | None = None
        self.repl: Any = None
        #: With --exec: the process bridge, built before the connection so that it sees
        #: every message from the first one on.
        self.bridge: Any = None
        self._lock = threading.Lock()
        self._pending: list[str | bytes] = []
        self._stop = threading.Event()
        self._received = 0
        self._matched = False
        self._count_reached = False
        self._timed_out = False
        self._broken = False
        self._output_error: OSError | None = None
        self._attempt = 0
        self._last_activity = time.monotonic()
        #: ``--timeout`` as a deadline for the whole run (handshakes and reconnects too).
        self._deadline: float | None = None
        #: With --record: writes the first connection's conversation (see wscli.recording).
        self.recorder: Any = None
        printer.on_broken_pipe(lambda: self.events.put(("broken",)))
        printer.on_output_error(lambda exc: self.events.put(("output_error", exc)))

    # -- connecting ----------------------------------------------------------------------

    def _retryable(self, exc: BaseException) -> bool:
        if not self.config.reconnect or self._stop.is_set():
            return False
        if isinstance(exc, InvalidStatus):
            # Retry what may pass: server errors and rate limits, not 401/403/404.
            return exc.status_code >= 500 or exc.status_code == 429
        return isinstance(exc, (ConnectFailed, TimeoutError, ConnectionError))

    def open(self) -> Peer | None:
        """Connect (retrying with ``--reconnect``), attach listeners, send what waited.

        Returns:
            the new peer, or ``None`` when the session was stopped while retrying.

        Raises:
            Exception: why the connection failed, when not retrying (mapped to an exit
                status by the CLI's error boundary).
        """
        config = self.config
        while True:
            kwargs = config.kwargs
            remaining = self._remaining()
            if remaining is not None:
                if remaining <= 0:
                    self._timed_out = True
                    return None
                open_timeout = kwargs.get("open_timeout") or math.inf
                kwargs = {**kwargs, "open_timeout": min(open_timeout, remaining)}
            try:
                ws = connect(config.url, **kwargs)
            except Exception as exc:
                if isinstance(exc, TimeoutError) and self._remaining() == 0.0:
                    self._timed_out = True
                    return None
                if isinstance(exc, InvalidStatus):
                    self._explain_refusal(exc)
                error = self._connect_error(exc)
                if not self._retryable(error):
                    if error is exc:
                        raise
                    raise error from exc
                delay = backoff_delay(self._attempt)
                self._attempt += 1
                self.printer.warning(f"{_one_line(error)}; retrying in {delay:.1f}s")
                if self._stop.wait(delay):
                    return None
                continue
            break
        if config.show_handshake:
            self.printer.handshake(
                ws.request,
                ws.response,
                subprotocol=ws.subprotocol,
                extensions=ws.extensions,
                tls=getattr(ws, "tls", None),
            )
        show = config.exec_argv is None or self.printer.as_json or self.printer.interactive
        bridge = self.bridge
        message_hooks: list[Any] = [self._on_message] + ([bridge.on_message] if bridge else [])
        close_hooks: list[Any] = [self._on_close] + ([bridge.on_close] if bridge else [])
        sending_hooks: list[Any] = []
        if config.record is not None and self.recorder is None:
            self.recorder = recorder = self._start_recording(ws)
            message_hooks.insert(0, lambda _peer, data: recorder.message("in", data))
            # Its place is taken before it goes: an echo can be back before send() returns.
            sending_hooks.append(lambda _peer, data: recorder.sending(data))
            close_hooks.insert(
                0,
                lambda _peer, info: recorder.close(
                    info.shown_code, info.reason, by=info.by, clean=info.clean
                ),
            )
        peer = Peer(
            ws,
            self.printer,
            show_messages=show,
            message_hooks=message_hooks,
            close_hooks=close_hooks,
            sending_hooks=sending_hooks,
        )
        self.printer.opened(
            f"connected to {ws.url}",
            subprotocol=ws.subprotocol,
            extensions=list(ws.extensions),
            url=ws.url,
        )
        with self._lock:
            self.peer = peer
            pending, self._pending = self._pending, []
        for item in pending:
            self.send(item)
        return peer

    def _start_recording(self, ws: Any) -> Any:
        """Write the recording's header (secrets left out) and return the recorder."""
        from .. import __version__
        from ..recording import Header, Recorder, redact_headers, redact_url

        config = self.config
        name = config.record_name

        def failed(exc: OSError) -> None:
            error = OSError(exc.errno, exc.strerror or str(exc), name)
            self.events.put(("output_error", error))
            if self.repl is not None:
                self.printer.error(f"cannot write to {name}: {(exc.strerror or str(exc)).lower()}")
                self.finish(1001, "")
                self.repl.stop()

        recorder = Recorder(config.record, on_error=failed)
        recorder.header(
            Header(
                url=redact_url(str(ws.url), config.redact),
                subprotocol=ws.subprotocol,
                extensions=tuple(ws.extensions),
                headers=tuple(redact_headers(config.kwargs.get("headers") or (), config.redact)),
                wscli=__version__,
            )
        )
        return recorder

    def _remaining(self) -> float | None:
        """Seconds left before ``--timeout`` (0.0 once passed), ``None`` without one."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def _connect_error(self, exc: BaseException) -> BaseException:
        """Name a connection the server closed during the opening handshake as such.

        The library reports it as an end of stream, a reset or a closed connection;
        for the user it means "cannot connect" (exit 3), and a ``ws://`` URL aimed at
        a ``wss://`` server is its most common cause.
        """
        closed = isinstance(exc, (EOFError, ConnectionClosed)) or (
            isinstance(exc, ConnectionError) and not isinstance(exc, ConnectFailed)
        )
        if not closed:
            return exc
        secure = self.config.url.lower().startswith(("wss://", "ws+unix://"))
        hint = "" if secure else " (is it a wss:// server?)"
        return ConnectFailed(f"the server closed the connection during the handshake{hint}")

    def _explain_refusal(self, exc: InvalidStatus) -> None:
        """Show why the server refused: its body (escaped, capped), with --show-handshake
        the request and response heads, and a hint at -L for a redirect not followed."""
        response = exc.response
        if self.config.show_handshake:
            self.printer.handshake(exc.request, response)
        body = bytes(response.body or b"").decode("utf-8", "replace").strip()
        if body:
            cut = body[:REFUSAL_BODY_SHOWN]
            more = f" … ({len(body) - len(cut)} more characters)" if len(cut) < len(body) else ""
            self.printer.notice(f"the server said: {cut}{more}")
        location = response.headers.get("Location")
        following = bool(self.config.kwargs.get("follow_redirects"))
        if 300 <= response.status_code < 400 and location and not following:
            self.printer.notice(f"the server redirects to {location}; -L follows redirects")

    def _reconnect_delay(self, peer: Peer) -> float:
        if time.monotonic() - peer.stats.opened_at >= BACKOFF_RESET_AFTER:
            self._attempt = 0
        delay = backoff_delay(self._attempt)
        self._attempt += 1
        return delay

    def _should_reconnect(self, peer: Peer | None = None) -> bool:
        """Reconnect after any end we did not ask for, except a clean 1000 from the server.

        A server that says "normal closure" is done with us; a drop, "going away",
        "service restart" or an error code is what ``--reconnect`` is for.
        """
        if not self.config.reconnect or self._stop.is_set() or self._finished_early():
            return False
        subject = peer or self.peer
        info = subject.info if subject is not None else None
        return not (info is not None and info.by == "peer" and info.clean and info.code == 1000)

    def _finished_early(self) -> bool:
        return self._matched or self._count_reached or self._timed_out or self._broken

    # -- sending and events --------------------------------------------------------------

    def send(self, item: str | bytes) -> None:
        """Send a message now, or keep it for the next connection if none is open."""
        with self._lock:
            peer = self.peer
            if peer is None or peer.closed.is_set():
                if self.config.reconnect and not self._stop.is_set():
                    self._pending.append(item)
                    if self.interactive:
                        self.printer.info("not connected: sending once reconnected")
                    return
        if peer is None:
            self._pending.append(item)
            return
        waiting = peer.ws.buffered_amount
        if self.interactive and waiting > peer.ws.write_limit:
            # The prompt never waits on a server that stopped reading (a pipe does:
            # there, waiting is how stdin is slowed down to the server's pace).
            self.printer.error(
                f"the server is not reading ({waiting} bytes wait for it): message not sent"
            )
            return
        try:
            peer.send(item)
        except ConnectionClosed:
            if self.config.reconnect and not self._stop.is_set():
                with self._lock:
                    self._pending.append(item)
            elif self.interactive:
                self.printer.error("the connection is closed")

    def _targets(self) -> list[Peer]:
        peer = self.peer
        return [peer] if peer is not None and not peer.closed.is_set() else []

    def _on_message(self, peer: Peer, data: str | bytes) -> None:
        """Reactor thread: check ``--count`` and ``--expect``."""
        config = self.config
        self._received += 1
        self._last_activity = time.monotonic()
        done = False
        if config.expect is not None and not self._matched:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            if config.expect.search(text):
                self._matched = done = True
        if config.count is not None and self._received >= config.count:
            self._count_reached = done = True
        if done:
            self.events.put(("done",))
            if self.repl is not None:
                self.finish()

    def _on_close(self, peer: Peer, info: CloseInfo) -> None:
        """Reactor thread: tell the main thread; in the REPL, reconnect or stop it."""
        self.events.put(("closed", peer))
        if self.repl is None:
            return
        if self._should_reconnect(peer):
            threading.Thread(
                target=self._reconnect_in_background, args=(peer,), daemon=True
            ).start()
        else:
            self.repl.stop()

    def _reconnect_in_background(self, peer: Peer) -> None:
        delay = self._reconnect_delay(peer)
        self.printer.warning(f"reconnecting in {delay:.1f}s")
        if self._stop.wait(delay):
            return
        try:
            self.open()
        except Exception as exc:
            self.printer.error(f"cannot reconnect: {_one_line(exc)}")
            if self.repl is not None:
                self.repl.stop()

    def finish(self, code: int | None = None, reason: str | None = None) -> None:
        """Decide to end: no more reconnects; close the connection if it is open."""
        self._stop.set()
        peer = self.peer
        if peer is not None and not peer.closed.is_set():
            with contextlib.suppress(Exception):
                peer.close(
                    self.config.close_code if code is None else code,
                    self.config.close_reason if reason is None else reason,
                )

    def interrupt(self) -> None:
        """Ctrl-C or SIGTERM: close with 1001 (going away) and give it two seconds."""
        self.finish(1001, "")
        peer = self.peer
        if peer is not None:
            with contextlib.suppress(KeyboardInterrupt):
                peer.wait_closed(2.0)

    # -- the end -------------------------------------------------------------------------

    def status(self) -> ExitStatus:
        """The exit status of the run, once it ended (and the reason, on stderr)."""
        config = self.config
        if self._output_error is not None:
            where = self._output_error.filename or "stdout"
            self.printer.error(f"cannot write to {where}: {reason_of(self._output_error)}")
            return ExitStatus.ERROR
        if self._broken:
            return ExitStatus.OK
        if self.bridge is not None and self.bridge.returncode not in (None, 0):
            self.printer.error(f"the --exec process exited with status {self.bridge.returncode}")
            return ExitStatus.CLOSED_WITH_ERROR
        if config.expecting:
            if config.expect is not None and self._matched:
                return ExitStatus.OK
            if config.expect is None and self._count_reached:
                return ExitStatus.OK
            self.printer.error(self._unmet())
            return ExitStatus.EXPECTATION_NOT_MET
        peer = self.peer
        if peer is None and self._timed_out:
            what = params.format_duration(config.timeout or 0)
            self.printer.error(f"cannot connect: no connection within {what} (--timeout)")
            return ExitStatus.CANNOT_CONNECT
        if peer is None:
            return ExitStatus.INTERRUPTED if self._stop.is_set() else ExitStatus.ERROR
        if peer.info is None:
            return ExitStatus.ERROR
        return status_for_close(peer.info)

    def _unmet(self) -> str:
        config = self.config
        if config.expect is not None:
            what = f"no message matched /{config.expect.pattern}/"
        else:
            what = f"received {self._received} of {config.count} messages"
        if self._timed_out:
            return f"{what} within {params.format_duration(config.timeout or 0)}"
        if self._count_reached:
            return f"{what} in the first {config.count} messages"
        return f"{what} before the connection closed"

    def _wait_closed(self, grace: float | None = None) -> None:
        """Wait for the close handshake: ``grace`` seconds, then drop the connection."""
        peer = self.peer
        if peer is None:
            return
        limit = (peer.ws.close_timeout or 10.0) + 2.0 if grace is None else grace
        if not peer.wait_closed(limit):
            peer.ws.terminate()
            peer.wait_closed(2.0)

    # -- the three ways to run -----------------------------------------------------------

    def run(self) -> ExitStatus:
        """Run until the connection ends as asked; return the exit status."""
        if self.config.timeout is not None:
            self._deadline = time.monotonic() + self.config.timeout
        self._start_timeout()
        ended = threading.Event()
        threading.Thread(
            target=self._drop_dead_connections, args=(ended,), name="wscli-watch", daemon=True
        ).start()
        with terminate_as_interrupt():
            try:
                if self.config.exec_argv is not None:
                    return self.run_exec()
                if self.interactive:
                    return self.run_repl()
                return self.run_pipe()
            except KeyboardInterrupt:
                self.interrupt()
                raise
            finally:
                ended.set()

    def _drop_dead_connections(self, ended: threading.Event) -> None:
        """Drop a connection that is over but whose TCP close would be waited for.

        When the library fails the connection itself (a protocol error, a keepalive
        timeout) it sends its close frame and then waits up to ``close_timeout`` for
        the peer, which is broken or gone; after a complete closing handshake it waits
        for the server to close TCP. Neither wait helps the user: give the peer
        :data:`QUIT_GRACE`, then drop it, so the run ends at once.
        """
        since: float | None = None
        watched: Peer | None = None
        while not ended.wait(0.1):
            peer = self.peer
            if peer is not watched:
                watched, since = peer, None
            if peer is None or peer.closed.is_set():
                continue
            ws = peer.ws
            over = ws.close_sent is not None and (
                ws.close_rcvd is not None or not self._stop.is_set()
            )
            if not over:
                continue
            now = time.monotonic()
            if since is None:
                since = now
            elif now - since >= QUIT_GRACE:
                ws.terminate()
                since = math.inf

    def _start_timeout(self) -> None:
        timeout = self.config.timeout
        if timeout is None:
            return

        def expire() -> None:
            if not self._stop.is_set():
                self._timed_out = True
                self._stop.set()  # no more reconnects; wakes a backoff wait
                self.events.put(("timeout",))
                if self.repl is not None:
                    self.finish()
                    self.repl.stop()

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()

    def _replay(self) -> None:
        for message in self.config.execute:
            self.send(message)
        if self.config.execute:
            self.events.put(("eof",))

    def run_pipe(self) -> ExitStatus:
        """Pipe (and ``-x``) mode: the main thread reads the event queue until the end."""
        config = self.config
        if not config.execute:
            read_stdin_into(self.events, self.printer, binary=config.binary, null=config.null)
        if self.open() is None:
            return self.status()
        self._replay()
        wait = config.wait
        if wait is None and config.expecting:
            wait = math.inf  # the expectation decides when to stop
        linger: float | None = None  # close at this time (after end of input)
        settle: float | None = None  # or once replies settle, by this time at the latest
        drop: float | None = None  # the run is over: drop the connection at this time
        while True:
            now = time.monotonic()
            if settle is not None:
                linger = min(settle, self._last_activity + SETTLE_QUIET)
            if linger is not None and now >= linger:
                linger = settle = None
                self.finish()
            if drop is not None and now >= drop:
                drop = None
                self._drop()
            timeout = 1.0 if linger is None else max(0.0, min(1.0, linger - now))
            if drop is not None:
                timeout = max(0.0, min(timeout, drop - now))
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                continue
            kind = event[0]
            if kind == "item":
                self._last_activity = time.monotonic()
                self.send(event[1])
            elif kind == "eof":
                if wait is None:
                    settle = time.monotonic() + SETTLE_MAX
                elif not math.isinf(wait):
                    linger = time.monotonic() + wait
            elif kind in ("done", "timeout"):
                self.finish()
                if kind == "timeout":
                    drop = time.monotonic() + QUIT_GRACE
            elif kind == "broken":
                self._broken = True
                self.finish(1001, "")
            elif kind == "output_error":
                self._output_error = event[1]
                self.finish(1001, "")
                drop = time.monotonic() + QUIT_GRACE
            elif kind == "closed":
                closed: Peer = event[1]
                if closed is not self.peer:
                    continue
                if not self._should_reconnect(closed):
                    return self.status()
                delay = self._reconnect_delay(closed)
                self.printer.warning(f"reconnecting in {delay:.1f}s")
                if self._stop.wait(delay) or self.open() is None:
                    return self.status()
                self._replay()

    def _drop(self) -> None:
        """Drop the connection now (the run is over and the server did not answer)."""
        peer = self.peer
        if peer is not None and not peer.closed.is_set():
            peer.ws.terminate()

    def run_repl(self) -> ExitStatus:
        """Terminal mode: the prompt on the main thread, events printed above it."""
        from ..repl import Repl, standard_commands

        if self.open() is None:
            return self.status()
        commands = standard_commands(self.printer, self._targets, on_close=self._stop.set)
        self.repl = Repl(self.printer, commands, self.send, binary=self.config.binary)
        self.printer.info("type a message and press Enter to send it; /help lists commands")
        peer = self.peer
        if peer is not None and peer.closed.is_set():
            # It ended before the prompt existed: do now what _on_close could not.
            if self._should_reconnect(peer):
                threading.Thread(
                    target=self._reconnect_in_background, args=(peer,), daemon=True
                ).start()
            else:
                self.repl.stop()
        self.repl.run()
        self.finish()
        self._wait_closed(QUIT_GRACE)
        return self.status()

    def run_exec(self) -> ExitStatus:
        """``--exec``: a subprocess reads what arrives and writes what to send."""
        from ..bridge import GRACE_PERIOD, Bridge, peer_environment

        assert self.config.exec_argv is not None
        bridge = self.bridge = Bridge(
            self.config.exec_argv, self.printer, binary=self.config.binary
        )
        peer = self.open()
        if peer is None:
            return self.status()
        path = peer.ws.request.path if peer.ws.request is not None else "/"
        bridge.start(peer, peer_environment(peer, path=path, url=str(peer.ws.url)))
        drop: float | None = None
        while not peer.closed.wait(0.2):
            if drop is not None and time.monotonic() >= drop:
                self._drop()
            with contextlib.suppress(queue.Empty):
                event = self.events.get_nowait()
                if event[0] in ("done", "timeout", "output_error"):
                    if event[0] == "output_error":
                        self._output_error = event[1]
                    self.finish()
                    if event[0] != "done":
                        drop = time.monotonic() + QUIT_GRACE
        bridge.wait(GRACE_PERIOD * 2 + 1.0)
        return self.status()


def _one_line(exc: BaseException) -> str:
    return describe_error(exc)
