"""The probe's run: which checks run, in what order, and the primitives they share.

A :class:`Probe` holds what every check needs (the target, the budget, the report, the
"main" connection that harmless checks share) and the three questions most checks ask:

* :meth:`Probe.collect`: read what the server sends until a condition holds, the
  server closes, or the check's time is up; data frames are put back together into
  messages (and decompressed when permessage-deflate was negotiated);
* :meth:`Probe.exchange`: send a message, then a ping, and see whether the message
  was accepted (the pong came, nothing closed) and echoed;
* :meth:`Probe.expect_failure`: after something RFC 6455 forbids, did the server fail
  the connection with the right close code (PASS), with another or none (WARN), or
  carry on (FAIL)?

Each check runs through :meth:`Probe.run`, which turns the budget running out into
SKIP and a flood or an unreachable server into FAIL, so no check can stop the others.
A server that stops accepting connections mid-run (it crashed on what a check sent, or
it limits connections) fails the check that found out, naming the check before it; the
checks after it are skipped rather than each failing with the same refusal.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..core.craft import RawFrame, craft_frame
from ..core.exceptions import ConnectFailed, WebSocketError
from ..core.extensions.base import ClientExtensionFactory
from ..core.frames import Frame, Opcode, close_code_name
from ..core.http11 import Request
from ..core.uri import WebSocketURI
from .report import Grade, Report, excerpt
from .wire import EOF, TIMEOUT, Budget, Flooded, Handshake, Link, OutOfBudget, Target, handshake

__all__ = ["Probe", "Reply", "Settings", "CheckOutcome", "masked", "describe_handshake"]

#: What a check function returns: its grade and one line of evidence.
CheckOutcome = tuple[Grade, str]

_MAX_MESSAGES = 64
#: Pongs and oddities one wait keeps: a server sending tiny frames without end must not
#: leave a Python object per frame behind. Pongs carrying one of the run's own ping
#: payloads are kept past the bound (at most once each), so no wait misses its answer.
_MAX_PONGS = 64
_MAX_ODD = 16
#: How long a server that answered the ping after a forbidden frame has to close anyway
#: (at most half the check's timeout).
_GRACE = 1.0


@dataclass
class Settings:
    """What the command line chose, beyond the target."""

    timeout: float = 3.0
    max_time: float = 20.0
    max_connections: int = 50
    idle: float = 2.0
    max_probe_size: int = 16 * 2**20
    only: frozenset[str] | None = None
    skip: frozenset[str] = frozenset()


@dataclass
class Reply:
    """What the server sent back during one wait."""

    messages: list[tuple[int, bytes]] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close: RawFrame | None = None
    eof: bool = False
    timed_out: bool = False
    odd: list[str] = field(default_factory=list)  #: frames the server should not send
    send_failed: bool = False  #: what the probe sent did not all go out
    elapsed: float = 0.0

    def note(self, what: str) -> None:
        """Remember a frame the server should not have sent (the first few only)."""
        if len(self.odd) < _MAX_ODD:
            self.odd.append(what)

    @property
    def ended(self) -> bool:
        """Whether the server closed (a close frame or TCP)."""
        return self.close is not None or self.eof

    def describe_end(self) -> str:
        """How the connection ended, for evidence: ``close 1002 'reason'`` or ``TCP closed``."""
        if self.close is not None:
            code = self.close.close_code()
            if code is None:
                return "a close frame without a code"
            reason = self.close.payload[2:]
            text = f"close {code} ({close_code_name(code)})"
            return text + (f" {excerpt(reason, 40)}" if reason else "")
        if self.send_failed:
            return "the server stopped reading (a write did not finish in time)"
        if self.eof:
            return "TCP closed without a close frame"
        return "nothing"


class Probe:
    """One run of ``wscli probe`` against one URL."""

    def __init__(self, target: Target, settings: Settings, report: Report) -> None:
        self.target = target
        self.settings = settings
        self.report = report
        self.budget = Budget.start(settings.timeout, settings.max_time, settings.max_connections)
        self._main: Link | None = None
        self._token = 0
        self._tokens: set[bytes] = set()
        #: Why the server can no longer be reached, once a check found out.
        self._gone: str | None = None

    # -- running checks ------------------------------------------------------------------

    def wanted(self, category: str) -> bool:
        """Whether ``--only``/``--skip`` let this category run."""
        only = self.settings.only
        return (only is None or category in only) and category not in self.settings.skip

    def run(self, category: str, name: str, rfc: str, check: Callable[[], CheckOutcome]) -> Grade:
        """Run one check and record its result; nothing it raises stops the run."""
        started = time.monotonic()
        if self._gone is not None:
            self.report.add(category, name, Grade.SKIP, self._gone, rfc, 0.0)
            return Grade.SKIP
        try:
            grade, evidence = check()
        except OutOfBudget as exc:
            grade, evidence = Grade.SKIP, str(exc)
        except Flooded as exc:
            grade, evidence = Grade.FAIL, f"flooded the probe: {exc}"
            self.drop_main()
        except ConnectFailed as exc:
            previous = self.report.results[-1].name if self.report.results else None
            after = f" (after the check {previous!r})" if previous else ""
            grade, evidence = Grade.FAIL, f"cannot connect any more{after}: {exc}"
            self._gone = f"not run: the server stopped accepting connections during {name!r}"
        except (OSError, WebSocketError, ValueError) as exc:
            grade, evidence = Grade.FAIL, f"{type(exc).__name__}: {exc}"
            self.drop_main()
        self.report.connections = self.budget.opened
        self.report.add(category, name, grade, evidence, rfc, time.monotonic() - started)
        return grade

    # -- connections -----------------------------------------------------------------------

    def open(
        self,
        *,
        amend: Callable[[Request], Request | bytes] | None = None,
        subprotocols: Sequence[str] | None = None,
        extensions: Sequence[ClientExtensionFactory] = (),
        uri: WebSocketURI | None = None,
    ) -> Handshake:
        """Open a connection with the target's settings (see :func:`wire.handshake`)."""
        return handshake(
            self.target,
            self.budget,
            amend=amend,
            subprotocols=subprotocols,
            extensions=extensions,
            uri=uri,
        )

    def link(self) -> Link:
        """Open a connection that must upgrade; raise when it cannot."""
        result = self.open()
        if result.link is None:
            raise ConnectFailed(describe_handshake(result))
        return result.link

    def main(self) -> Link:
        """The shared connection for checks that leave it open; reopened when it closed."""
        if self._main is None or self._main.closed:
            self._main = self.link()
        return self._main

    def drop_main(self) -> None:
        """Forget the shared connection (a check left it in an unknown state)."""
        if self._main is not None:
            self._main.close()
            self._main = None

    def token(self, what: str = "ping") -> bytes:
        """A payload no other ping of the run carries."""
        self._token += 1
        token = f"wscli-probe {what} {self._token}".encode()
        self._tokens.add(token)
        return token

    # -- reading -------------------------------------------------------------------------

    def collect(
        self,
        link: Link,
        until: Callable[[Reply], bool],
        *,
        timeout: float | None = None,
    ) -> Reply:
        """Read until ``until(reply)``, a close, EOF or the timeout (the check's by default)."""
        started = time.monotonic()
        deadline = started + (self.settings.timeout if timeout is None else timeout)
        reply = Reply()
        parts: list[bytes] = []
        opcode: int | None = None
        compressed = False
        while not until(reply):
            item = link.next_frame(deadline)
            if item is EOF:
                reply.eof = True
                break
            if item is TIMEOUT:
                reply.timed_out = True
                break
            assert isinstance(item, RawFrame)
            frame = item
            if frame.masked:
                reply.note(f"a masked frame (opcode 0x{frame.opcode:x})")
            if frame.opcode == Opcode.CLOSE:
                reply.close = frame
                link.send_frame(Opcode.CLOSE, frame.payload[:2])
                break
            if frame.opcode == Opcode.PONG:
                payload = frame.payload
                if len(reply.pongs) < _MAX_PONGS or (
                    payload in self._tokens and payload not in reply.pongs
                ):
                    reply.pongs.append(payload)
                continue
            if frame.opcode not in (Opcode.CONT, Opcode.TEXT, Opcode.BINARY):
                reply.note(f"a frame with reserved opcode 0x{frame.opcode:x}")
                continue
            if frame.opcode != Opcode.CONT:
                opcode, parts, compressed = frame.opcode, [], bool(frame.rsv & 4)
            payload = self._decode(link, frame, compressed)
            if opcode is None:
                reply.note("a continuation frame with no message started")
                continue
            parts.append(payload)
            if frame.fin:
                if len(reply.messages) < _MAX_MESSAGES:
                    reply.messages.append((opcode, b"".join(parts)))
                opcode, parts = None, []
        reply.elapsed = time.monotonic() - started
        return reply

    def _decode(self, link: Link, frame: RawFrame, compressed: bool) -> bytes:
        if not compressed or not link.extensions:
            return frame.payload
        decoded = Frame(
            Opcode(frame.opcode), frame.payload, frame.fin, bool(frame.rsv & 4), False, False
        )
        for extension in reversed(link.extensions):
            decoded = extension.decode(decoded, max_size=self.target.max_payload)
        return decoded.data

    # -- the shared questions ---------------------------------------------------------------

    def send_message(
        self, link: Link, opcode: int, payload: bytes, fragments: int = 1, compress: bool = False
    ) -> bool:
        """Send one message (in ``fragments`` frames, compressed when asked)."""
        if compress:
            frame = Frame(Opcode(opcode), payload)
            for extension in link.extensions:
                frame = extension.encode(frame, compress=True)
            return link.send_frame(opcode, frame.data, rsv1=frame.rsv1)
        size = max(1, -(-len(payload) // fragments)) if payload else 0
        pieces = [payload[i : i + size] for i in range(0, len(payload), size)] if size else [b""]
        while len(pieces) < fragments:
            pieces.append(b"")
        wire = bytearray()
        for index, piece in enumerate(pieces):
            first = index == 0
            wire += masked(opcode if first else Opcode.CONT, piece, fin=index == len(pieces) - 1)
        return link.send(bytes(wire))

    def exchange(
        self,
        link: Link,
        opcode: int,
        payload: bytes,
        *,
        fragments: int = 1,
        compress: bool = False,
        timeout: float | None = None,
    ) -> tuple[Reply, bytes]:
        """Send a message then a ping; read until the pong (and the echo, if one is due).

        Returns the reply and the ping's payload, so the caller can tell "accepted"
        (the pong came back, nothing closed) from "refused".
        """
        token = self.token()
        echoes = self.report.facts.get("echo") is True
        sent = self.send_message(link, opcode, payload, fragments, compress)
        sent = link.send_frame(Opcode.PING, token) and sent

        def done(reply: Reply) -> bool:
            if token not in reply.pongs:
                return False
            # An echo that differs still ends the wait: the caller compares.
            return not echoes or bool(reply.messages)

        reply = self.collect(link, done, timeout=timeout)
        if link.send_failed:
            reply.eof = reply.send_failed = True
        elif not sent and not reply.ended:
            reply.eof = True
        return reply, token

    def expect_failure(
        self, wire: bytes, expected: int, *, link: Link | None = None, what: str = ""
    ) -> CheckOutcome:
        """Send ``wire`` (then a ping) on a fresh connection and grade the reaction.

        PASS: a close frame with ``expected``; WARN: another code, no code, or TCP closed
        without a close frame; FAIL: the server answered the ping after it, or did
        nothing in the check's time.
        """
        link = link or self.link()
        try:
            token = self.token()
            link.send(wire)
            if wire and wire[0] & 0x0F == Opcode.CLOSE:
                link.close_sent = True
            link.send_frame(Opcode.PING, token)
            reply = self.collect(link, lambda r: token in r.pongs)
            if token in reply.pongs and not reply.ended:
                # Answering a ping that was already on its way proves little: a server
                # may check a message only when its application reads it. Carrying on
                # means no close comes after the pong either.
                grace = min(_GRACE, self.settings.timeout / 2)
                later = self.collect(link, lambda r: False, timeout=grace)
                reply.close, reply.eof = later.close, later.eof
        finally:
            link.close()
        sent = f"sent {what}: " if what else ""
        if reply.close is not None:
            code = reply.close.close_code()
            if code == expected:
                return Grade.PASS, f"{sent}{reply.describe_end()}"
            return Grade.WARN, f"{sent}{reply.describe_end()}, {expected} expected"
        if reply.eof:
            return Grade.WARN, f"{sent}TCP closed without a close frame, {expected} expected"
        if token in reply.pongs:
            return Grade.FAIL, (
                f"{sent}the server carried on (answered the ping sent after it, "
                f"no close {min(_GRACE, self.settings.timeout / 2):g} s later)"
            )
        return Grade.FAIL, f"{sent}no close within {self.settings.timeout:g} s"

    def close(self) -> None:
        """Close the shared connection."""
        self.drop_main()


def masked(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
) -> bytes:
    """A client frame as given, masked with a fresh random key."""
    return craft_frame(
        opcode, payload, fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3, mask=os.urandom(4)
    )


def describe_handshake(result: Handshake) -> str:
    """One line on how a handshake that did not open went."""
    if result.timed_out:
        return "no answer to the upgrade in time"
    if result.response is not None:
        response = result.response
        text = f"HTTP {response.status_code} {excerpt(response.reason_phrase, 40)}"
        if result.error is not None and response.status_code == 101:
            text += f" but {result.error}"
        return text
    if result.error is not None:
        return str(result.error)
    return "the server closed TCP without an answer"
