"""The checks beyond the core protocol: compression, security, and the limits a server sets.

Compression follows RFC 7692; security looks for what makes a server risky to expose
(a foreign ``Origin`` accepted, plain ``ws://`` next to ``wss://``, huge headers); limits
are discovered, not graded (INFO), except a refusal with the wrong close code.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from dataclasses import replace

from ..core.exceptions import ConnectFailed, InvalidHeader, NegotiationError
from ..core.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from ..core.frames import Opcode
from ..core.http11 import Request
from ..core.uri import WebSocketURI
from ..params import format_size
from .report import Grade, excerpt
from .runner import CheckOutcome, Probe, describe_handshake
from .wire import Link, handshake

__all__ = ["compression", "security", "limits", "FOREIGN_ORIGIN", "CSWSH_LINK"]

#: The Origin a cross-site page would send: a site the server cannot be expecting.
FOREIGN_ORIGIN = "https://wscli-probe.invalid"
#: Where the report sends readers about cross-site WebSocket hijacking.
CSWSH_LINK = "https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/11-Client-side_Testing/10-Testing_WebSockets"

_OFFERS: list[tuple[str, dict[str, object]]] = [
    ("offer: plain", {}),
    ("offer: server_no_context_takeover", {"server_no_context_takeover": True}),
    ("offer: client_no_context_takeover", {"client_no_context_takeover": True}),
    ("offer: server_max_window_bits=10", {"server_max_window_bits": 10}),
    ("offer: client_max_window_bits", {"client_max_window_bits": True}),
]


def compression(probe: Probe) -> None:
    """Category ``compression`` (RFC 7692 §5, §7)."""
    negotiated: list[bool] = []

    def offer(params: dict[str, object], roundtrip: bool) -> CheckOutcome:
        if negotiated and not negotiated[0]:
            return Grade.SKIP, "the server does not negotiate permessage-deflate"
        factory = ClientPerMessageDeflateFactory(**params)  # type: ignore[arg-type]
        result = probe.open(extensions=[factory])
        offered = "; ".join(
            name if value is None else f"{name}={value}"
            for name, value in factory.get_request_params()
        )
        offered = "permessage-deflate" + (f"; {offered}" if offered else "")
        if isinstance(result.error, (NegotiationError, InvalidHeader)):
            result.close()
            return Grade.FAIL, f"offered {offered}: invalid answer: {result.error}"
        link = result.link
        if link is None or result.response is None:
            return Grade.WARN, f"offered {offered}: refused, {describe_handshake(result)}"
        answer = ", ".join(result.response.headers.get_all("Sec-WebSocket-Extensions"))
        if not negotiated:
            negotiated.append(bool(link.extensions))
        if not link.extensions:
            link.close()
            return Grade.PASS, f"offered {offered}: declined (valid)"
        if not roundtrip:
            link.close()
            return Grade.PASS, f"offered {offered}: answered {excerpt(answer)}"
        try:
            payload = ("wscli probe compresses this " * 40).encode()
            reply, token = probe.exchange(link, Opcode.TEXT, payload, compress=True)
        finally:
            link.close()
        if reply.ended:
            return Grade.FAIL, f"a compressed message: {reply.describe_end()}"
        if probe.report.facts.get("echo") is True:
            if any(body == payload for _, body in reply.messages):
                return Grade.PASS, f"answered {excerpt(answer)}; compressed message echoed intact"
            return Grade.FAIL, "a compressed message was not echoed intact"
        if token in reply.pongs:
            return Grade.PASS, f"answered {excerpt(answer)}; compressed message accepted"
        return Grade.SKIP, f"answered {excerpt(answer)}; no answer to the ping after a message"

    for index, (name, params) in enumerate(_OFFERS):
        probe.run(
            "compression",
            name + (" + round trip" if index == 0 else ""),
            "RFC 7692 §7.1",
            functools.partial(offer, params, index == 0),
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def security(probe: Probe, server_header: str | None) -> None:
    """Category ``security``."""
    uri = probe.target.uri

    def origin() -> CheckOutcome:
        headers = [(n, v) for n, v in probe.target.headers if n.lower() != "origin"]
        target = replace(probe.target, headers=headers)
        result = handshake(target, probe.budget, origin=FOREIGN_ORIGIN)
        result.close()
        if result.link is not None:
            return (
                Grade.WARN,
                f"Origin: {FOREIGN_ORIGIN} accepted: any web page can open it with its "
                f"visitors' cookies (cross-site WebSocket hijacking: {CSWSH_LINK} )",
            )
        return Grade.PASS, f"Origin: {FOREIGN_ORIGIN} refused: {describe_handshake(result)}"

    def plain() -> CheckOutcome:
        if not uri.secure:
            if _is_loopback(uri.host):
                return Grade.INFO, "plain ws:// on loopback"
            return Grade.WARN, "the URL is plain ws://: anyone on the path reads and alters it"
        port = 80 if uri.port == 443 else uri.port
        plain_uri = WebSocketURI(False, uri.host, port, uri.path, uri.query)
        try:
            result = probe.open(uri=plain_uri)
        except ConnectFailed as exc:
            return Grade.PASS, f"no plain ws:// on port {port} ({exc})"
        result.close()
        if result.link is not None:
            return Grade.WARN, f"ws://{uri.host}:{port} also upgrades, unencrypted"
        return Grade.PASS, f"ws://{uri.host}:{port}: {describe_handshake(result)}"

    def big_header() -> CheckOutcome:
        def amend(request: Request) -> Request:
            request.headers["X-Wscli-Probe-Padding"] = "a" * 65536
            return request

        result = probe.open(amend=amend)
        result.close()
        if result.response is None:
            if result.timed_out:
                return Grade.WARN, f"a 64 KiB header: no answer within {probe.settings.timeout:g} s"
            return Grade.PASS, "a 64 KiB header: the connection was closed"
        status = result.response.status_code
        if status == 101:
            return (
                Grade.WARN,
                "a 64 KiB header: accepted with 101 (check the server's header limit)",
            )
        if status >= 500:
            return Grade.WARN, f"a 64 KiB header: HTTP {status} (a server error)"
        return Grade.PASS, f"a 64 KiB header: {describe_handshake(result)}"

    def identity() -> CheckOutcome:
        if server_header is None:
            return Grade.INFO, "no Server header"
        return Grade.INFO, f"Server: {excerpt(server_header)}"

    probe.run("security", "foreign Origin", "RFC 6455 §10.2", origin)
    probe.run("security", "plain ws:// offered", "RFC 6455 §10.7", plain)
    probe.run("security", "64 KiB header", "RFC 7230 §3.2.5", big_header)
    probe.run("security", "Server header", "RFC 7231 §7.4.2", identity)


# -- limits ----------------------------------------------------------------------------------


def _accepts(probe: Probe, size: int, link_box: list[Link]) -> tuple[bool, str]:
    """Send a ``size``-byte binary message; whether it was accepted, and how it ended if not."""
    link = link_box[0] if link_box else None
    if link is None or link.closed:
        link = probe.link()
        link_box[:] = [link]
    payload = b"\x00" * size
    timeout = probe.settings.timeout + size / (50 * 2**20)  # room for slow links
    reply, token = probe.exchange(link, Opcode.BINARY, payload, timeout=timeout)
    if token in reply.pongs and not reply.ended:
        return True, ""
    link.close()
    if reply.ended:
        return False, reply.describe_end()
    return False, f"no answer within {timeout:.1f} s"


def limits(probe: Probe) -> None:
    """Category ``limits``: discovered, bounded by ``--max-probe-size`` and ``--idle``."""
    bound = probe.settings.max_probe_size

    def largest() -> CheckOutcome:
        box: list[Link] = []
        try:
            return _largest(box)
        finally:
            for link in box:
                link.close()

    def _largest(box: list[Link]) -> CheckOutcome:
        good, bad, how = 0, 0, ""
        size = min(65536, bound)
        while size <= bound:
            ok, end = _accepts(probe, size, box)
            if not ok:
                bad, how = size, end
                break
            good = size
            if size == bound:
                break
            size = min(size * 2, bound)
        if not bad:
            return Grade.INFO, f"accepts a {format_size(good)} message (the probe's bound)"
        for _ in range(4):
            if bad - good <= max(1024, good // 16):
                break
            middle = (good + bad) // 2
            ok, end = _accepts(probe, middle, box)
            if ok:
                good = middle
            else:
                # The evidence quotes the refusal of the size it names.
                bad, how = middle, end
        if good:
            text = f"largest accepted about {format_size(good)}; {format_size(bad)} got {how}"
        else:  # the bisection steps ran out before reaching an accepted size
            text = f"accepts less than {format_size(bad)}; {format_size(bad)} got {how}"
        grade = Grade.INFO if "1009" in how else Grade.WARN
        if grade is Grade.WARN:
            text += " (1009 expected)"
        return grade, text

    def idle() -> CheckOutcome:
        link = probe.link()
        started = time.monotonic()
        reply = probe.collect(link, lambda r: False, timeout=probe.settings.idle)
        link.close()
        took = time.monotonic() - started
        pings = link.pings_received
        pinged = f"; it sent {pings} ping(s)" if pings else ""
        if reply.ended:
            return (
                Grade.INFO,
                f"an idle connection dropped after {took:.1f} s: {reply.describe_end()}{pinged}",
            )
        return (
            Grade.INFO,
            f"an idle connection stayed open {probe.settings.idle:g} s (--idle){pinged}",
        )

    def fragments() -> CheckOutcome:
        counts = [1024, 128, 16]
        for count in counts:
            link = probe.link()
            try:
                reply, token = probe.exchange(link, Opcode.BINARY, b"f" * count, fragments=count)
            finally:
                link.close()
            if token in reply.pongs and not reply.ended:
                if count == counts[0]:
                    return Grade.INFO, f"accepts a message in {count} fragments"
                return Grade.INFO, f"accepts {count} fragments per message, refuses more"
        return Grade.WARN, f"refused a message in {counts[-1]} fragments"

    probe.run("limits", "largest message", "RFC 6455 §7.4.1 (1009)", largest)
    probe.run("limits", "idle connection", "RFC 6455 §5.5.2", idle)
    probe.run("limits", "fragments per message", "RFC 6455 §5.4", fragments)
