"""Replaying the client side of a recording against a server, and checking its answers.

The recording is read one line at a time. Outgoing messages are sent with their recorded
spacing (divided by ``speed``, or none with ``no_delay``), counted from the moment the
message before them was handled, so a slow answer shifts what follows instead of piling
sends up. Before a message is sent, every answer recorded before it must have arrived:
the recorded order of the conversation is kept.

Answers are compared with a :class:`~wscli.matching.Matcher`. In order by default; with
``window`` N > 1, an answer may match any of the next N expected ones (servers that
answer concurrent requests out of order). Every wait is bounded by ``timeout``: a server
that stops answering ends the replay as a mismatch that says what was awaited. The
first difference ends the replay.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .core import ConnectionClosed
from .matching import Matcher, describe_message
from .recording import Entry, Header

__all__ = ["Difference", "ReplayResult", "Replayer"]


@dataclass
class Difference:
    """Where the conversation stopped matching.

    Attributes:
        line: the line of the recording that was expected (``None`` for an extra message).
        summary: one line: what happened.
        details: lines that show the difference (escaped for a terminal).
        expected, received: the messages, when there were two to compare.
    """

    line: int | None
    summary: str
    details: list[str] = field(default_factory=list)
    expected: str | bytes | None = None
    received: str | bytes | None = None


@dataclass
class ReplayResult:
    """How a replay went: counts, and the difference that ended it (if any)."""

    sent: int = 0
    received: int = 0
    difference: Difference | None = None

    @property
    def matched(self) -> bool:
        """Whether the server answered the whole conversation as recorded."""
        return self.difference is None


class Replayer:
    """Play the client side of a recording over an open connection.

    Args:
        ws: the open connection (its ``recv`` is used; no ``message`` listener may take
            messages away from it).
        matcher: how messages are compared.
        speed: recorded delays are divided by this.
        no_delay: send each message as soon as the answers before it arrived.
        timeout: the longest wait for one answer or for the close, in seconds.
        window: how many expected answers one received may match (1: in order).
        on_sent, on_received: called with each message, for output.
        sleep: waits between sends (tests inject one).
    """

    def __init__(
        self,
        ws: Any,
        matcher: Matcher,
        *,
        speed: float = 1.0,
        no_delay: bool = False,
        timeout: float = 10.0,
        window: int = 1,
        on_sent: Callable[[str | bytes], Any] | None = None,
        on_received: Callable[[str | bytes], Any] | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.ws = ws
        self.matcher = matcher
        self.speed = speed
        self.no_delay = no_delay
        self.timeout = timeout
        self.window = max(1, window)
        self.on_sent = on_sent
        self.on_received = on_received
        self.sleep = sleep
        self.result = ReplayResult()
        self._expected: collections.deque[Entry] = collections.deque()
        self._anchor_wall = time.monotonic()
        self._anchor_recorded = 0.0

    def run(self, entries: Iterator[Header | Entry]) -> ReplayResult:
        """Replay ``entries`` (the header already taken); return how it went.

        Raises:
            RecordingError: a damaged line (from the reader), when it is reached.
        """
        self._anchor_wall = time.monotonic()
        close: Entry | None = None
        for entry in entries:
            if not isinstance(entry, Entry):
                continue
            if entry.kind == "close":
                close = entry
                break
            if entry.dir == "in":
                self._expected.append(entry)
                while len(self._expected) >= self.window and self._receive_one():
                    pass
            else:
                while self._expected and self._receive_one():
                    pass
                if self.result.difference is not None:
                    break
                self._wait_until(entry.time)
                if not self._send(entry):
                    break
            if self.result.difference is not None:
                break
        if self.result.difference is None:
            while self._expected and self._receive_one():
                pass
        if self.result.difference is None:
            self._finish(close)
        else:
            self._close(1000)
        return self.result

    # -- sending -------------------------------------------------------------------------

    def _wait_until(self, recorded: float) -> None:
        if self.no_delay:
            return
        due = self._anchor_wall + max(0.0, recorded - self._anchor_recorded) / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            self.sleep(delay)

    def _send(self, entry: Entry) -> bool:
        try:
            self.ws.send(entry.data, timeout=self.timeout)
        except ConnectionClosed as exc:
            self._differ(
                entry.line,
                f"the server closed the connection ({_close_text(exc)}) before line "
                f"{entry.line} could be sent",
            )
            return False
        except TimeoutError:
            self._differ(entry.line, f"the server did not read line {entry.line} in time")
            return False
        self.result.sent += 1
        self._anchor(entry.time)
        if self.on_sent is not None:
            self.on_sent(entry.data)
        return True

    def _anchor(self, recorded: float) -> None:
        self._anchor_wall = time.monotonic()
        self._anchor_recorded = recorded

    # -- receiving -----------------------------------------------------------------------

    def _receive_one(self) -> bool:
        """Receive one message and match it; ``False`` once a difference was found."""
        awaited = self._expected[0]
        try:
            data = self.ws.recv(timeout=self.timeout)
        except TimeoutError:
            self._differ(
                awaited.line,
                f"no message within {self.timeout:g}s; line {awaited.line} expected "
                f"{describe_message(awaited.data)}",
                expected=awaited.data,
            )
            return False
        except ConnectionClosed as exc:
            self._differ(
                awaited.line,
                f"the server closed the connection ({_close_text(exc)}) while line "
                f"{awaited.line} was expected: {describe_message(awaited.data)}",
                expected=awaited.data,
            )
            return False
        self.result.received += 1
        if self.on_received is not None:
            self.on_received(data)
        candidates = list(self._expected)[: self.window]
        for entry in candidates:
            if self.matcher.matches(entry.data, data):
                self._expected.remove(entry)
                self._anchor(entry.time)
                return True
        where = "" if self.window == 1 else f" (nor any of the next {len(candidates) - 1})"
        self._differ(
            awaited.line,
            f"line {awaited.line}: the message received differs from the recording{where}",
            details=self.matcher.differences(awaited.data, data),
            expected=awaited.data,
            received=data,
        )
        return False

    def _differ(
        self,
        line: int | None,
        summary: str,
        *,
        details: list[str] | None = None,
        expected: str | bytes | None = None,
        received: str | bytes | None = None,
    ) -> None:
        if self.result.difference is None:
            self.result.difference = Difference(line, summary, details or [], expected, received)

    # -- the end -------------------------------------------------------------------------

    def _finish(self, close: Entry | None) -> None:
        """End as recorded: wait for the server's close, or close as the client did.

        Either way, a message that arrives before the server's close is one the
        recording does not have, and a difference.
        """
        if close is not None and close.by == "peer":
            self._drain(close)
            return
        code = close.code if close is not None and close.code not in (None, 1005, 1006) else 1000
        reason = close.reason if close is not None and close.code == code else ""
        self._close(code or 1000, reason)
        self._drain(None)

    def _drain(self, close: Entry | None) -> None:
        """Receive until the connection ends: anything received is an extra message."""
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                data = self.ws.recv(timeout=max(0.0, remaining))
            except TimeoutError:
                if close is not None:
                    self._differ(
                        close.line,
                        f"line {close.line}: the server did not close the connection "
                        f"within {self.timeout:g}s (recorded: {close.code})",
                    )
                    self._close(1000)
                else:
                    self.ws.terminate()
                return
            except ConnectionClosed as exc:
                received = getattr(exc, "rcvd", None)
                code = received.code if received is not None else 1006
                if close is not None and code != close.code:
                    self._differ(
                        close.line,
                        f"line {close.line}: the server closed with {code}, recorded: {close.code}",
                    )
                return
            self.result.received += 1
            if self.on_received is not None:
                self.on_received(data)
            self._differ(
                None,
                "the server sent a message the recording does not have",
                details=[f"received {describe_message(data)}"],
                received=data,
            )
            if close is not None:
                self._close(1000)
                close = None

    def _close(self, code: int, reason: str = "") -> None:
        try:
            self.ws.close(code, reason)
        except Exception:  # closing an already closed connection: nothing to do
            return


def _close_text(exc: ConnectionClosed) -> str:
    received = getattr(exc, "rcvd", None)
    if received is None:
        return "no close frame"
    text = str(received.code)
    if received.reason:
        text += f' "{received.reason}"'
    return text
