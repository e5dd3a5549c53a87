"""The RFC 6455 checks: handshake, framing, validation, close and ping.

Each function runs one category's checks through :meth:`Probe.run`; docs/PROBE.md lists
every check with the section of the RFC it tests and what a PASS, WARN or FAIL means.
"""

from __future__ import annotations

import base64
import functools
import os
import struct
import time
from collections.abc import Callable

from ..core.craft import craft_frame
from ..core.exceptions import InvalidHeader, NegotiationError
from ..core.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from ..core.frames import Opcode
from ..core.headers import Headers, parse_extension_header
from ..core.http11 import Request
from .report import Grade, excerpt
from .runner import CheckOutcome, Probe, describe_handshake, masked
from .wire import Handshake

__all__ = ["baseline", "handshake_checks", "framing", "validation", "close", "ping"]

_FOREIGN_EXTENSION = "x-wscli-probe"
#: How long echo detection waits for an echo after the pong, in seconds.
_ECHO_GRACE = 0.5


def baseline(probe: Probe) -> Handshake:
    """The first, ordinary handshake: what ``probe`` connects with before any check.

    Raises:
        ConnectFailed: the server cannot be reached (exit status 3).
    """
    return probe.open()


def handshake_checks(probe: Probe, first: Handshake) -> None:
    """Category ``handshake`` (RFC 6455 §4.1, §4.2)."""
    rfc = "RFC 6455 §4.2.2"

    def upgrade() -> CheckOutcome:
        if first.link is None:
            return Grade.FAIL, describe_handshake(first)
        first.link.close()
        return Grade.PASS, "101 Switching Protocols, Sec-WebSocket-Accept matches the key"

    probe.run("handshake", "upgrade", rfc, upgrade)
    probe.run("handshake", "unsupported version", "RFC 6455 §4.2.2, §4.4", _version(probe))
    probe.run("handshake", "missing key", "RFC 6455 §4.2.1", _key(probe, None))
    bad_key = base64.b64encode(b"twelve bytes").decode()
    probe.run("handshake", "invalid key", "RFC 6455 §4.2.1", _key(probe, bad_key))
    probe.run("handshake", "subprotocol", "RFC 6455 §4.2.2, §11.3.4", _subprotocol(probe))
    probe.run("handshake", "extensions", "RFC 6455 §9.1", _extensions(probe))


def _refused(result: Handshake) -> bool:
    return result.response is not None and result.response.status_code != 101


def _version(probe: Probe) -> Callable[[], CheckOutcome]:
    def check() -> CheckOutcome:
        def amend(request: Request) -> Request:
            del request.headers["Sec-WebSocket-Version"]
            request.headers["Sec-WebSocket-Version"] = "12"
            return request

        result = probe.open(amend=amend)
        result.close()
        if result.response is None:
            return Grade.WARN, f"sent version 12: {describe_handshake(result)}"
        status = result.response.status_code
        versions = ", ".join(result.response.headers.get_all("Sec-WebSocket-Version"))
        if status == 101:
            return Grade.FAIL, "sent version 12: accepted with 101"
        if not versions:
            return Grade.WARN, f"sent version 12: HTTP {status} without Sec-WebSocket-Version"
        grade = Grade.PASS if "13" in versions.replace(" ", "").split(",") else Grade.WARN
        return grade, f"sent version 12: HTTP {status}, Sec-WebSocket-Version: {excerpt(versions)}"

    return check


def _key(probe: Probe, key: str | None) -> Callable[[], CheckOutcome]:
    def check() -> CheckOutcome:
        def amend(request: Request) -> Request:
            del request.headers["Sec-WebSocket-Key"]
            if key is not None:
                request.headers["Sec-WebSocket-Key"] = key
            return request

        result = probe.open(amend=amend)
        result.close()
        what = "no Sec-WebSocket-Key" if key is None else f"Sec-WebSocket-Key: {key}"
        if result.response is not None and result.response.status_code == 101:
            return Grade.FAIL, f"sent {what}: accepted with 101"
        return Grade.PASS, f"sent {what}: {describe_handshake(result)}"

    return check


def _subprotocol(probe: Probe) -> Callable[[], CheckOutcome]:
    def check() -> CheckOutcome:
        offers = probe.target.subprotocols or ["wscli-probe-unknown"]
        result = probe.open(subprotocols=offers)
        result.close()
        offered = ", ".join(offers)
        if isinstance(result.error, NegotiationError):
            return Grade.FAIL, f"offered {offered}: {result.error}"
        if result.link is None:
            if result.error is not None and not _refused(result):
                return Grade.FAIL, f"offered {offered}: {describe_handshake(result)}"
            grade = Grade.PASS if _refused(result) else Grade.WARN
            return grade, f"offered {offered}: refused, {describe_handshake(result)}"
        protocol = result.protocol.subprotocol if result.protocol is not None else None
        return Grade.PASS, f"offered {offered}: chose {protocol or 'none'}"

    return check


def _extensions(probe: Probe) -> Callable[[], CheckOutcome]:
    def check() -> CheckOutcome:
        def amend(request: Request) -> Request:
            offer = request.headers.get("Sec-WebSocket-Extensions") or ""
            del request.headers["Sec-WebSocket-Extensions"]
            request.headers["Sec-WebSocket-Extensions"] = f"{offer}, {_FOREIGN_EXTENSION}"
            return request

        factory = ClientPerMessageDeflateFactory(client_max_window_bits=True)
        result = probe.open(amend=amend, extensions=[factory])
        result.close()
        offered = f"offered permessage-deflate and {_FOREIGN_EXTENSION}"
        if isinstance(result.error, (NegotiationError, InvalidHeader)):
            return Grade.FAIL, f"{offered}: {result.error}"
        if result.link is None or result.response is None:
            return Grade.WARN, f"{offered}: refused, {describe_handshake(result)}"
        answer = result.response.headers.get_all("Sec-WebSocket-Extensions")
        names = [
            name
            for name, _ in parse_extension_header(
                Headers([("Sec-WebSocket-Extensions", value) for value in answer])
            )
        ]
        probe.report.facts["deflate"] = "permessage-deflate" in names
        return Grade.PASS, f"{offered}: answered {excerpt(', '.join(answer)) if answer else 'none'}"

    return check


# -- framing -------------------------------------------------------------------------------


def _learn_echo(probe: Probe) -> CheckOutcome:
    link = probe.main()
    payload = b"wscli probe: do you echo?"
    reply, token = probe.exchange(link, Opcode.TEXT, payload)
    if token in reply.pongs and not reply.messages and not reply.ended:
        # A server may answer the ping before its application echoes: give it a moment.
        more = probe.collect(link, lambda r: bool(r.messages), timeout=_ECHO_GRACE)
        reply.messages += more.messages
        reply.close, reply.eof = more.close, more.eof
    for opcode, body in reply.messages:
        if opcode == Opcode.TEXT and body == payload:
            probe.report.facts["echo"] = True
            return Grade.INFO, "the server echoes messages: framing checks compare the echo"
    for opcode, body in reply.messages:
        if opcode == Opcode.TEXT and len(body) == len(payload):
            probe.report.facts["echo"] = True
            return Grade.FAIL, f"the echo of {excerpt(payload)} came back as {excerpt(body)}"
    probe.report.facts["echo"] = False
    if reply.ended:
        return Grade.FAIL, f"a 25-byte text message: {reply.describe_end()}"
    if token not in reply.pongs:
        return Grade.SKIP, "no echo and no pong: cannot tell what the server accepted"
    other = f" (answered {excerpt(reply.messages[0][1])})" if reply.messages else ""
    return Grade.INFO, f"no echo{other}: messages count as accepted when the ping after is answered"


def _roundtrip(
    probe: Probe, opcode: int, payload: bytes, fragments: int = 1, ping_between: bool = False
) -> CheckOutcome:
    link = probe.main()
    echoes = probe.report.facts.get("echo") is True
    if ping_between:
        half = len(payload) // 2
        middle = probe.token("middle")
        wire = masked(opcode, payload[:half], fin=False) + masked(Opcode.PING, middle)
        wire += masked(Opcode.CONT, payload[half:])
        token = probe.token()
        link.send(wire + masked(Opcode.PING, token))
        reply = probe.collect(
            link,
            lambda r: token in r.pongs and (not echoes or bool(r.messages)),
        )
        if not reply.ended and middle not in reply.pongs:
            probe.drop_main()
            return Grade.FAIL, "the ping between the fragments got no pong"
    else:
        reply, token = probe.exchange(link, opcode, payload, fragments=fragments)
    if reply.ended:
        probe.drop_main()
        return Grade.FAIL, f"refused: {reply.describe_end()}"
    if echoes:
        if any(body == payload for _, body in reply.messages):
            return Grade.PASS, f"echoed, {len(payload)} bytes identical"
        if reply.messages:
            body = reply.messages[-1][1]
            at = len(os.path.commonprefix([body, payload]))
            where = f"byte {at}" if at < min(len(body), len(payload)) else f"length {len(body)}"
            return Grade.FAIL, f"the echo differs from the {len(payload)} bytes sent at {where}"
        return Grade.FAIL, f"no echo within {probe.settings.timeout:g} s"
    if token in reply.pongs:
        return Grade.PASS, "accepted (the ping sent after it was answered)"
    probe.drop_main()
    return Grade.SKIP, "no answer to the ping after it"


def framing(probe: Probe) -> None:
    """Category ``framing`` (RFC 6455 §5.2, §5.4, §5.6)."""
    probe.run("framing", "echo detection", "RFC 6455 §5.6", lambda: _learn_echo(probe))
    cases: list[tuple[str, int, bytes, int, bool, str]] = [
        ("text", Opcode.TEXT, "héllo wörld €".encode(), 1, False, "RFC 6455 §5.6"),
        ("binary", Opcode.BINARY, bytes(range(256)), 1, False, "RFC 6455 §5.6"),
        ("empty text", Opcode.TEXT, b"", 1, False, "RFC 6455 §5.6"),
        ("125 bytes", Opcode.BINARY, os.urandom(125), 1, False, "RFC 6455 §5.2"),
        ("126 bytes (16-bit length)", Opcode.BINARY, os.urandom(126), 1, False, "RFC 6455 §5.2"),
        ("65535 bytes", Opcode.BINARY, os.urandom(65535), 1, False, "RFC 6455 §5.2"),
        (
            "65536 bytes (64-bit length)",
            Opcode.BINARY,
            os.urandom(65536),
            1,
            False,
            "RFC 6455 §5.2",
        ),
        (
            "fragmented text",
            Opcode.TEXT,
            "fragments, réassembled".encode(),
            4,
            False,
            "RFC 6455 §5.4",
        ),
        (
            "ping between fragments",
            Opcode.TEXT,
            b"one message, a ping inside",
            2,
            True,
            "RFC 6455 §5.4",
        ),
    ]
    for name, opcode, payload, fragments, between, rfc in cases:
        probe.run(
            "framing",
            name,
            rfc,
            functools.partial(_roundtrip, probe, opcode, payload, fragments, between),
        )


# -- validation ------------------------------------------------------------------------------


def validation(probe: Probe) -> None:
    """Category ``validation``: what the server must refuse (RFC 6455 §5, §8.1)."""
    bad_utf8 = "héllo ".encode() + b"\xed\xa0\x80 surrogate"
    split = "€".encode()
    cases: list[tuple[str, bytes, int, str, str]] = [
        (
            "invalid UTF-8",
            masked(Opcode.TEXT, bad_utf8),
            1007,
            "RFC 6455 §8.1",
            "text with ED A0 80",
        ),
        (
            "invalid UTF-8 across fragments",
            masked(Opcode.TEXT, b"ok " + split[:1], fin=False) + masked(Opcode.CONT, b"\xff"),
            1007,
            "RFC 6455 §8.1",
            "E2 then FF in the next fragment",
        ),
        ("unmasked client frame", _unmasked(), 1002, "RFC 6455 §5.1", "an unmasked text frame"),
        (
            "RSV1 without extension",
            masked(Opcode.TEXT, b"x", rsv1=True),
            1002,
            "RFC 6455 §5.2",
            "RSV1 set",
        ),
        (
            "RSV2 and RSV3",
            masked(Opcode.TEXT, b"x", rsv2=True, rsv3=True),
            1002,
            "RFC 6455 §5.2",
            "RSV2+RSV3 set",
        ),
        ("reserved data opcode", masked(0x3, b"x"), 1002, "RFC 6455 §5.2", "opcode 0x3"),
        ("reserved control opcode", masked(0xB, b"x"), 1002, "RFC 6455 §5.2", "opcode 0xB"),
        (
            "fragmented ping",
            masked(Opcode.PING, b"x", fin=False),
            1002,
            "RFC 6455 §5.5",
            "a ping with FIN 0",
        ),
        (
            "oversize ping",
            masked(Opcode.PING, b"p" * 126),
            1002,
            "RFC 6455 §5.5",
            "a 126-byte ping",
        ),
        (
            "continuation without start",
            masked(Opcode.CONT, b"x"),
            1002,
            "RFC 6455 §5.4",
            "a lone continuation",
        ),
        (
            "new message inside a fragmented one",
            masked(Opcode.TEXT, b"a", fin=False) + masked(Opcode.TEXT, b"b"),
            1002,
            "RFC 6455 §5.4",
            "text FIN 0 then text",
        ),
    ]
    for name, wire, code, rfc, what in cases:
        probe.run(
            "validation",
            name,
            rfc,
            functools.partial(probe.expect_failure, wire, code, what=what),
        )


def _unmasked() -> bytes:
    return craft_frame(Opcode.TEXT, b"unmasked", mask=None)


# -- close -----------------------------------------------------------------------------------


def _normal_close(probe: Probe) -> tuple[CheckOutcome, CheckOutcome]:
    link = probe.link()
    link.send_frame(Opcode.CLOSE, struct.pack("!H", 1000) + b"probe done")
    reply = probe.collect(link, lambda r: r.close is not None)
    if reply.close is None:
        link.close()
        end = "TCP closed" if reply.eof else f"nothing within {probe.settings.timeout:g} s"
        return (Grade.FAIL, f"sent close 1000: {end}, no close frame"), (
            Grade.SKIP,
            "no closing handshake",
        )
    code = reply.close.close_code()
    echo = (
        (Grade.PASS, f"sent close 1000: {reply.describe_end()}")
        if code in (1000, None)
        else (Grade.WARN, f"sent close 1000: {reply.describe_end()}, 1000 expected")
    )
    started = time.monotonic()
    after = probe.collect(link, lambda r: False)
    link.close()
    if after.eof:
        took = time.monotonic() - started
        return echo, (
            Grade.PASS,
            f"the server closed TCP {took * 1e3:.0f} ms after its close frame",
        )
    return echo, (
        Grade.WARN,
        f"TCP still open {probe.settings.timeout:g} s after the closing handshake",
    )


def close(probe: Probe) -> None:
    """Category ``close`` (RFC 6455 §5.5.1, §7.1, §7.4)."""
    outcomes: list[CheckOutcome] = []

    def echo() -> CheckOutcome:
        first, second = _normal_close(probe)
        outcomes.append(second)
        return first

    probe.run("close", "1000 echoed", "RFC 6455 §5.5.1", echo)
    probe.run(
        "close",
        "server closes TCP",
        "RFC 6455 §7.1.1",
        lambda: outcomes[0] if outcomes else (Grade.SKIP, "the close check did not run"),
    )
    for code in (0, 999, 1004, 1005, 1006, 1016, 5000):
        probe.run(
            "close",
            f"invalid code {code}",
            "RFC 6455 §7.4.1",
            functools.partial(
                probe.expect_failure,
                masked(Opcode.CLOSE, struct.pack("!H", code)),
                1002,
                what=f"close {code}",
            ),
        )
    probe.run(
        "close",
        "1-byte close payload",
        "RFC 6455 §5.5.1",
        lambda: probe.expect_failure(masked(Opcode.CLOSE, b"\x03"), 1002, what="a 1-byte close"),
    )


# -- ping ------------------------------------------------------------------------------------


def ping(probe: Probe) -> None:
    """Category ``ping`` (RFC 6455 §5.5.2, §5.5.3)."""

    def check(payload: bytes) -> CheckOutcome:
        link = probe.main()
        times = []
        for _ in range(3):
            token = payload or b""
            sent = time.monotonic()
            link.send_frame(Opcode.PING, token)
            reply = probe.collect(link, lambda r: bool(r.pongs))
            if reply.ended:
                probe.drop_main()
                return Grade.FAIL, f"ping of {len(token)} bytes: {reply.describe_end()}"
            if not reply.pongs:
                return Grade.FAIL, f"no pong within {probe.settings.timeout:g} s"
            if reply.pongs[0] != token:
                return Grade.FAIL, f"pong payload {excerpt(reply.pongs[0])} differs from the ping's"
            times.append(time.monotonic() - sent)
        low, high = min(times) * 1e3, max(times) * 1e3
        return Grade.PASS, f"3 pongs, same {len(payload)}-byte payload, {low:.2f}-{high:.2f} ms"

    probe.run("ping", "ping answered", "RFC 6455 §5.5.3", lambda: check(probe.token()))
    probe.run("ping", "empty ping", "RFC 6455 §5.5.2", lambda: check(b""))
    probe.run("ping", "125-byte ping", "RFC 6455 §5.5", lambda: check(os.urandom(125)))
