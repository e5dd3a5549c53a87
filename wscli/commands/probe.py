"""``wscli probe URL``: a report card of a server's conformance, limits and security.

The work is in :mod:`wscli.probe`; this module parses options, prints each result as it
comes (one line each, the server's words escaped for the terminal) and the summary, or
one JSON report with ``--json``, and picks the exit status: 0 when no check failed, 6
when one did, 3 when the server cannot be reached and 4 when it refuses the upgrade.
"""

from __future__ import annotations

from typing import Any

import click

from ..core.sync.tls import client_ssl_context
from ..core.uri import parse_uri
from ..escape import escape_control
from ..exitcodes import ExitStatus
from ..output import Printer
from ..params import (
    DURATION,
    Size,
    header_option,
    no_color_option,
    subprotocol_option,
    tls_options,
    warn_no_check,
)
from ..probe import CATEGORIES, Grade, Result, Settings, Target, run

__all__ = ["command", "MIN_PROBE_SIZE"]

#: The smallest --max-probe-size: the framing checks' largest message, plus room.
MIN_PROBE_SIZE = 65536

EPILOG = f"""\b
Exit status: 0 no check failed, 6 a check failed, 2 usage error, 3 cannot connect
(DNS, TCP, TLS, no answer to the upgrade), 4 the first upgrade was refused.

\b
Categories: {", ".join(CATEGORIES)}.
Each check and the RFC section it tests: docs/PROBE.md.

\b
Examples:
  wscli probe ws://127.0.0.1:8080
  wscli probe wss://example.com/socket --only handshake,validation
  wscli probe ws://localhost:8080/chat -s chat.v1 --skip limits --json | jq .fail
"""


def _categories(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    names = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = sorted(names - set(CATEGORIES))
    if unknown:
        raise click.BadParameter(
            f"unknown category {', '.join(unknown)}; choose from {', '.join(CATEGORIES)}"
        )
    return names


@click.command(epilog=EPILOG)
@click.argument("url")
@click.option(
    "--only", metavar="CATEGORY,…", callback=_categories, help="Run only these categories."
)
@click.option("--skip", metavar="CATEGORY,…", callback=_categories, help="Skip these categories.")
@click.option(
    "--timeout",
    type=DURATION,
    default="3s",
    show_default=True,
    help="Time each check waits for the server.",
)
@click.option(
    "--max-time",
    type=DURATION,
    default="20s",
    show_default=True,
    help="Time for the whole run; checks left when it is up are skipped.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Connections opened at most, one at a time.",
)
@click.option(
    "--idle",
    type=DURATION,
    default="2s",
    show_default=True,
    help="How long the idle-connection check waits to see whether the server drops it.",
)
@click.option(
    "--max-probe-size",
    type=Size(),
    default="16MiB",
    show_default=True,
    help="Largest message the limits check sends (and frame it reads).",
)
@header_option
@subprotocol_option
@tls_options
@click.option(
    "--json", "as_json", is_flag=True, help="Write the whole report as one JSON object to stdout."
)
@no_color_option
def command(
    url: str,
    only: frozenset[str] | None,
    skip: frozenset[str] | None,
    timeout: float,
    max_time: float,
    max_connections: int,
    idle: float,
    max_probe_size: int,
    headers: tuple[tuple[str, str], ...],
    subprotocols: tuple[str, ...],
    as_json: bool,
    no_color: bool,
    ca: str | None,
    cert: str | None,
    key: str | None,
    passphrase: str | None,
    no_check: bool,
    sni: str | None,
) -> ExitStatus:
    """Check a WebSocket server's conformance, limits and security.

    Opens at most --max-connections short connections, one at a time, and grades
    each check PASS, WARN, FAIL, SKIP (or INFO for a fact such as a limit) with one
    line of evidence: what was sent and what came back. Categories: handshake,
    framing, validation, close, ping, compression, security, limits.
    """
    uri = parse_uri(url)
    if uri.unix_path is not None:
        raise click.BadParameter("probe speaks TCP only", param_hint="URL")
    context = None
    if uri.secure:
        context = client_ssl_context(
            ca=ca, cert=cert, key=key, passphrase=passphrase, reject_unauthorized=not no_check
        )
        if no_check:
            warn_no_check()
    for value, hint in ((timeout, "--timeout"), (max_time, "--max-time")):
        if value <= 0:
            raise click.BadParameter("must be more than 0", param_hint=hint)
    if max_probe_size < MIN_PROBE_SIZE:
        # The framing checks send (and read back) 65,536-byte messages.
        raise click.BadParameter("must be at least 64KiB", param_hint="--max-probe-size")
    target = Target(
        uri,
        headers=list(headers),
        subprotocols=list(subprotocols),
        ssl_context=context,
        server_hostname=sni,
        max_payload=max_probe_size,
    )
    settings = Settings(
        timeout=timeout,
        max_time=max_time,
        max_connections=max_connections,
        idle=idle,
        max_probe_size=max_probe_size,
        only=only,
        skip=skip or frozenset(),
    )
    printer = Printer.from_options(interactive=False, as_json=as_json, no_color=no_color)
    listener = None if as_json else _Lines(printer)
    report = run(target, settings, listener)
    if as_json:
        printer.event("probe", **report.as_dict())
    else:
        counts = report.counts()
        summary = ", ".join(f"{counts[g.value]} {g.value}" for g in Grade if counts[g.value])
        data = report.summary()
        printer.out(
            f"{uri}: {summary or 'no checks'}; {report.connections} connections, "
            f"{data['time_ms'] / 1e3:.1f} s"
        )
    printer.flush()
    if printer.output_error is not None:  # `> /dev/full`: the report is lost
        error = printer.output_error
        printer.error(f"cannot write to stdout: {error.strerror or error}")
        return ExitStatus.ERROR
    return ExitStatus.CHECK_FAILED if report.failed else ExitStatus.OK


class _Lines:
    """Print each result as it comes: grade, category, check, evidence (escaped)."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer

    def __call__(self, result: Result) -> None:
        evidence = escape_control(result.evidence, keep_newlines=False)
        grade, category = result.grade.value, result.category
        self.printer.out(f"{grade:<4}  {category:<11}  {result.name}: {evidence}")
