"""Mock servers for ``wscli listen``: ``--replay FILE`` (a recording's server side) and
``--rules FILE`` (hand-written rules, see :mod:`wscli.rules`).

Every client gets its own :class:`MockClient`. Everything a mock does runs on the
server's reactor thread: messages arrive through the connection's listeners, delays and
repeats are the reactor's timers (:meth:`Reactor.call_later`), and replies go out through
a send that never blocks (the library's broadcast path: a client that stops reading misses
replies instead of stalling the others). So a slow or silent client never holds up
another, and an idle client costs its state, not a thread.

Bounds: a client has at most :data:`MAX_PENDING` replies scheduled; past that, or while
a replay waits to send what comes before, its further messages wait in an inbox of
:data:`MAX_INBOX`, and a full inbox stops reading from that client (its TCP window
closes) until the mock catches up.

A ``--replay`` recording is read and checked once, before the server listens, into a
script every client shares (:attr:`MockSetup.script`): no client's turn reads a file on
the reactor thread, a client costs an index into the script rather than an open file,
and a damaged line is a usage error before anyone connects. The price is memory, so the
script is bounded: :data:`MOCK_MAX_BYTES` of file and :data:`MOCK_MAX_LINE` per line
(``wscli replay``, which streams, takes longer recordings).
"""

from __future__ import annotations

import collections
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from .core.sync.reactor import Reactor, TimerHandle
from .matching import Matcher, describe_message
from .recording import Entry, Header, RecordingError, read_recording
from .rules import Rule, load_rules, render_json, render_text

__all__ = [
    "MockClient",
    "MockSetup",
    "ReplayMock",
    "RulesMock",
    "MAX_PENDING",
    "MAX_INBOX",
    "MOCK_MAX_BYTES",
    "MOCK_MAX_LINE",
    "load_script",
]

#: Replies (timers) one client may have scheduled at once.
MAX_PENDING = 256
#: Messages from one client that may wait before reading from it stops…
MAX_INBOX = 64
#: …or bytes of them, whichever comes first.
MAX_INBOX_BYTES = 4 * 2**20

#: The largest recording ``listen --replay`` keeps in memory (its file size)…
MOCK_MAX_BYTES = 64 * 2**20
#: …and its longest line (a message of up to 12 MiB, base64 and all).
MOCK_MAX_LINE = 16 * 2**20

#: ``send(peer, data) -> bool``: a send that never blocks (``False``: skipped).
Send = Callable[[Any, "str | bytes"], bool]


class MockClient:
    """What one client of a mock is owed: its timers, its inbox, its peer.

    Call :meth:`bind` once the peer exists; messages that arrive before wait in the
    inbox. All other methods run on the reactor thread.

    Args:
        reactor: the server's reactor (timers run there).
        send: the non-blocking send of the listen session.
        warn: where problems with this client are reported (one line each).
    """

    def __init__(self, reactor: Reactor, send: Send, warn: Callable[[str], Any]) -> None:
        self.reactor = reactor
        self.send = send
        self.warn = warn
        self.peer: Any = None
        self.timers: set[TimerHandle] = set()
        self.inbox: collections.deque[str | bytes] = collections.deque()
        self._inbox_bytes = 0
        self.closed = False
        self._holding = False
        self._skipped = False

    @property
    def label(self) -> str:
        """How lines about this client name it."""
        return self.peer.label if self.peer is not None else "a client"

    def bind(self, peer: Any) -> None:
        """Attach the client's peer and start (the replay's first messages go out)."""
        self.peer = peer
        self.start()
        self._drain_inbox()

    def start(self) -> None:
        """Called once bound: a subclass begins here."""

    def on_message(self, peer: Any, data: str | bytes) -> None:
        """A message listener (reactor thread): handle it now or keep it in the inbox."""
        if self.closed:
            return
        if self.peer is None or self.inbox or not self.ready():
            self._keep(data)
            return
        self.handle(data)

    def on_close(self, peer: Any, info: Any) -> None:
        """The client left: cancel what was scheduled for it and let go of its inbox."""
        self.closed = True
        for handle in list(self.timers):
            handle.cancel()
        self.timers.clear()
        self.inbox.clear()
        self._inbox_bytes = 0
        self.finish()

    def finish(self) -> None:
        """Called once the client left: a subclass releases what it holds."""

    def ready(self) -> bool:
        """Whether a message can be handled now (rather than kept in the inbox)."""
        return len(self.timers) < MAX_PENDING

    def handle(self, data: str | bytes) -> None:
        """Answer one message (a subclass decides how)."""
        raise NotImplementedError

    def _keep(self, data: str | bytes) -> None:
        self.inbox.append(data)
        self._inbox_bytes += len(data)
        self._hold_if_full()

    def _hold_if_full(self) -> None:
        full = len(self.inbox) >= MAX_INBOX or self._inbox_bytes >= MAX_INBOX_BYTES
        if full and not self._holding and self.peer is not None:
            self._holding = True
            self.peer.hold("mock")

    def _drain_inbox(self) -> None:
        while self.inbox and not self.closed and self.ready():
            data = self.inbox.popleft()
            self._inbox_bytes -= len(data)
            self.handle(data)
        low = len(self.inbox) < MAX_INBOX // 2 and self._inbox_bytes < MAX_INBOX_BYTES // 2
        if self._holding and low and self.peer is not None:
            self._holding = False
            self.peer.release("mock")

    def later(self, delay: float, action: Callable[..., Any], *args: Any) -> None:
        """Run ``action(*args)`` on the reactor after ``delay`` s, unless the client left."""
        box: list[TimerHandle] = []

        def fire() -> None:
            self.timers.discard(box[0])
            if self.closed:
                return
            action(*args)
            self._drain_inbox()

        handle = self.reactor.call_later(max(0.0, delay), fire)
        box.append(handle)
        self.timers.add(handle)

    def reply(self, data: str | bytes) -> None:
        """Send without blocking; a client that does not read misses it (said once)."""
        if not self.closed and not self.send(self.peer, data) and not self._skipped:
            self._skipped = True
            self.warn(f"{self.label} is not reading: replies for it are skipped")

    def close(self, code: int, reason: str = "") -> None:
        """Close this client's connection (the closing handshake runs on the reactor)."""
        if not self.closed:
            try:
                self.peer.close(code, reason)
            except Exception:  # already closing: its close will be reported
                return


class ReplayMock(MockClient):
    """Play the server side of a recording to one client.

    When the client sends what the recorded client sent (compared by ``matcher``), the
    recorded answers follow with their recorded delays (divided by ``speed``), and
    messages the server sent on its own go out at their times. A message that does not
    match is reported and ignored: the mock keeps waiting for the expected one.
    """

    def __init__(
        self,
        reactor: Reactor,
        send: Send,
        warn: Callable[[str], Any],
        *,
        script: Sequence[Entry],
        matcher: Matcher,
        speed: float = 1.0,
        no_delay: bool = False,
    ) -> None:
        super().__init__(reactor, send, warn)
        self.script = script
        self.matcher = matcher
        self.speed = speed
        self.no_delay = no_delay
        self._next = 0
        self._awaiting: Entry | None = None
        self._sending = False
        self._anchor_wall = time.monotonic()
        self._anchor_recorded = 0.0

    def start(self) -> None:
        self._anchor_wall = time.monotonic()
        self._advance()

    def ready(self) -> bool:
        return self._awaiting is not None and not self._sending

    def handle(self, data: str | bytes) -> None:
        entry = self._awaiting
        if entry is None:
            self._keep(data)
            return
        if not self.matcher.matches(entry.data, data):
            details = "; ".join(self.matcher.differences(entry.data, data))
            self.warn(
                f"{self.label}: line {entry.line} expected {describe_message(entry.data)}; "
                f"ignored what differs: {details}"
            )
            return
        self._awaiting = None
        self._anchor(entry.time)
        self._advance()

    def _anchor(self, recorded: float) -> None:
        self._anchor_wall = time.monotonic()
        self._anchor_recorded = recorded

    def _delay(self, recorded: float) -> float:
        if self.no_delay:
            return 0.0
        due = self._anchor_wall + max(0.0, recorded - self._anchor_recorded) / self.speed
        return due - time.monotonic()

    def _advance(self) -> None:
        """Go through the recording until the client must speak or a send must wait."""
        while not self.closed and self._next < len(self.script):
            entry = self.script[self._next]
            self._next += 1
            if entry.kind == "close":
                if entry.by == "peer" and entry.code is not None:
                    self._sending = True
                    self.later(self._delay(entry.time), self.close, entry.code, entry.reason)
                return
            if entry.dir == "out":
                self._awaiting = entry
                return
            delay = self._delay(entry.time)
            if delay > 0:
                self._sending = True
                self.later(delay, self._send_then_advance, entry)
                return
            self.reply(entry.data)
            self._anchor(entry.time)

    def _send_then_advance(self, entry: Entry) -> None:
        self._sending = False
        self.reply(entry.data)
        self._anchor(entry.time)
        self._advance()


class RulesMock(MockClient):
    """Answer one client from rules: the first rule that matches, else the default."""

    def __init__(
        self,
        reactor: Reactor,
        send: Send,
        warn: Callable[[str], Any],
        *,
        rules: list[Rule],
        default: Rule | None,
    ) -> None:
        super().__init__(reactor, send, warn)
        self.rules = rules
        self.default = default
        self._unmatched_said = False

    def handle(self, data: str | bytes) -> None:
        try:
            self._handle(data)
        except RecursionError:  # a request's JSON nested too deep to serialize again
            self.warn(f"{self.label}: a request nested too deeply to answer")

    def _handle(self, data: str | bytes) -> None:
        for rule in self.rules:
            values = rule.match(data)
            if values is not None:
                self._answer(rule, values)
                return
        if self.default is not None:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            values = {"text": text}
            if isinstance(data, str):
                try:
                    values["json"] = json.loads(data)
                except (ValueError, RecursionError):
                    pass
            self._answer(self.default, values)
            return
        if not self._unmatched_said:
            self._unmatched_said = True
            self.warn(f"{self.label}: no rule matches {describe_message(data)} (and no [default])")

    def _messages(self, rule: Rule, values: dict[str, Any]) -> list[str]:
        reply = rule.reply
        if reply.json_value is not None:
            rendered = render_json(reply.json_value, values)
            return [json.dumps(rendered, ensure_ascii=False)]
        return [render_text(template, values) for template in reply.texts]

    def _answer(self, rule: Rule, values: dict[str, Any]) -> None:
        messages = self._messages(rule, values)
        reply = rule.reply
        if reply.delay > 0:
            self.later(reply.delay, self._send_round, rule, messages, reply.repeat)
        else:
            self._send_round(rule, messages, reply.repeat)

    def _send_round(self, rule: Rule, messages: list[str], left: int) -> None:
        """Send one round of the rule's messages; schedule the next, or close after the last."""
        for message in messages:
            self.reply(message)
        reply = rule.reply
        if left > 1:
            self.later(reply.interval, self._send_round, rule, messages, left - 1)
        elif reply.close is not None:
            self.close(reply.close, reply.close_reason)


def load_script(
    path: str, *, max_bytes: int | None = None, max_line: int | None = None
) -> tuple[Header, tuple[Entry, ...]]:
    """Read and check a whole recording for ``listen --replay``: its header and events.

    Args:
        path: the recording.
        max_bytes, max_line: its bounds (default :data:`MOCK_MAX_BYTES` and
            :data:`MOCK_MAX_LINE`, read when called).

    Raises:
        RecordingError: the file is damaged (its line is named) or past a bound.
        OSError: the file cannot be opened.
    """
    max_bytes = MOCK_MAX_BYTES if max_bytes is None else max_bytes
    max_line = MOCK_MAX_LINE if max_line is None else max_line
    too_large = (
        f"{path}: larger than {max_bytes} bytes: a mock keeps its recording in memory "
        "(wscli replay streams longer ones)"
    )
    with open(path, "rb") as stream:
        if os.fstat(stream.fileno()).st_size > max_bytes:
            raise RecordingError(too_large)
        events = read_recording(stream, path, max_line=max_line)
        header = next(events)
        entries: list[Entry] = []
        for entry in events:
            if stream.tell() > max_bytes:  # the file grew while it was read
                raise RecordingError(too_large)
            if isinstance(entry, Entry):
                entries.append(entry)
    if not isinstance(header, Header):  # pragma: no cover (the reader yields it first)
        raise RecordingError(f"{path} line 1: not a recording header")
    return header, tuple(entries)


class MockSetup:
    """What ``listen --replay FILE`` or ``--rules FILE`` needs, checked before it listens.

    Args:
        replay_file: the recording to play (or ``None``).
        rules_file: the rule file to answer from (or ``None``); exactly one is given.
        matcher: how a replay compares the client's messages.
        speed, no_delay: a replay's timing.
        max_bytes, max_line: the bounds of a replayed recording (see :func:`load_script`).

    Raises:
        RulesError: the rule file cannot be used (its line and key are named).
        RecordingError: the recording cannot be read or is past a bound (its line is named).
        OSError: the file cannot be opened.
    """

    def __init__(
        self,
        *,
        replay_file: str | None,
        rules_file: str | None,
        matcher: Matcher,
        speed: float = 1.0,
        no_delay: bool = False,
        max_bytes: int | None = None,
        max_line: int | None = None,
    ) -> None:
        self.replay_file = replay_file
        self.matcher = matcher
        self.speed = speed
        self.no_delay = no_delay
        self.rules: list[Rule] = []
        self.default: Rule | None = None
        #: The recording's events, shared (read only) by every client's replay.
        self.script: tuple[Entry, ...] = ()
        #: The subprotocol the recorded server agreed to (offered when ``-s`` is not).
        self.subprotocols: list[str] = []
        if rules_file is not None:
            self.rules, self.default = load_rules(rules_file)
        elif replay_file is not None:
            header, self.script = load_script(replay_file, max_bytes=max_bytes, max_line=max_line)
            if header.subprotocol:
                self.subprotocols = [header.subprotocol]
        #: The server's reactor: its timers are the mock's.
        self.reactor = Reactor("wscli-server-reactor")

    def client_factory(self, send: Send, warn: Callable[[str], Any]) -> Callable[[], MockClient]:
        """A builder of one :class:`MockClient` per connection."""
        if self.replay_file is None:
            return lambda: RulesMock(
                self.reactor, send, warn, rules=self.rules, default=self.default
            )
        script = self.script
        return lambda: ReplayMock(
            self.reactor,
            send,
            warn,
            script=script,
            matcher=self.matcher,
            speed=self.speed,
            no_delay=self.no_delay,
        )
