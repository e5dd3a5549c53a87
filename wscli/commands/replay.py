"""``wscli replay FILE [URL]``: play a recorded conversation again and check the answers.

A recording made with ``connect --record`` becomes a regression test: the client's
messages are sent again with their spacing, and what the server answers is compared with
what it answered then. Exit 0 when it matches, 6 when it does not (the first difference
is shown), the usual statuses when the server cannot be reached or refuses.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from .. import params
from ..core import connect
from ..escape import is_terminal
from ..exitcodes import EXIT_STATUS_HELP, ExitStatus
from ..matching import Matcher, describe_message
from ..output import Printer
from ..recording import REDACTED, Header, RecordingError, read_recording
from ..replay import Replayer, ReplayResult

__all__ = ["command", "compile_patterns", "matching_options"]

EPILOG = f"""\b
Exit status of replay: 0 the server answered as recorded, 6 it did not (a message
differs, is missing or extra, or the close differs); a recording that cannot be
read is a usage error (2, with its line number).

{EXIT_STATUS_HELP}

\b
Examples:
  wscli connect --record chat.ndjson ws://localhost:8080
  wscli replay chat.ndjson
  wscli replay --no-delay --ignore-json ts --ignore-json data.id chat.ndjson ws://staging:8080
  wscli replay --json --unordered 4 chat.ndjson | jq 'select(.type == "result")'
"""


def compile_patterns(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[re.Pattern[str]]:
    """Compile ``--ignore-regex`` values (a bad one is a usage error)."""
    patterns = []
    for value in values:
        try:
            patterns.append(re.compile(value))
        except re.error as exc:
            raise click.BadParameter(f"not a regular expression: {value!r}: {exc}") from exc
    return patterns


def matching_options(function: Any) -> Any:
    """``--ignore-json``, ``--ignore-regex``, ``--speed``, ``--no-delay``: shared with listen."""
    for option in reversed(
        [
            click.option(
                "--ignore-json",
                multiple=True,
                metavar="PATH",
                help="Leave this JSON field out of comparisons (repeatable; dotted: data.id, "
                "items.*.ts).",
            ),
            click.option(
                "--ignore-regex",
                multiple=True,
                metavar="RE",
                callback=compile_patterns,
                help="Blank what RE matches in both messages before comparing (repeatable).",
            ),
            click.option(
                "--speed",
                type=click.FloatRange(min=0.001),
                default=1.0,
                show_default=True,
                help="Play recorded delays this many times faster.",
            ),
            click.option("--no-delay", is_flag=True, help="Ignore recorded delays."),
        ]
    ):
        function = option(function)
    return function


@click.command(
    "replay",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
    short_help="Replay a recorded conversation and check the answers.",
)
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=False))
@click.argument("url", required=False)
@params.client_options
@matching_options
@click.option(
    "--unordered",
    type=click.IntRange(2),
    default=None,
    metavar="N",
    help="Accept answers out of order within a window of N expected messages.",
)
@click.option(
    "-t",
    "--timeout",
    type=params.DURATION,
    default=10.0,
    show_default=True,
    help="Longest wait for one answer or for the close (then: a mismatch).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event, for CI.")
@click.option("-q", "--quiet", is_flag=True, help="Only the result line (and differences).")
@click.pass_context
def command(ctx: click.Context, /, file: str, url: str | None, **options: Any) -> ExitStatus:
    """Replay the client side of recording FILE and compare the server's answers.

    Connects to URL, or to the recorded one, sends what the client sent with its
    recorded spacing, and checks that every answer is what was recorded.
    """
    root = ctx.find_root().obj or {}
    printer = Printer(
        as_json=options["as_json"],
        verbose=root.get("verbose", 0),
        status_lines=not options["quiet"],
        color=False if not is_terminal(sys.stderr) else None,
    )
    try:
        stream = open(file, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise click.BadParameter(f"cannot read it: {reason}", param_hint="FILE") from exc
    with stream:
        entries = read_recording(stream, file)
        try:
            header = next(entries)
        except RecordingError as exc:
            raise click.UsageError(str(exc)) from None
        assert isinstance(header, Header)
        kwargs = params.client_kwargs(**options)
        recorded_headers = [(n, v) for n, v in header.headers]
        given = {name.lower() for name, _ in kwargs["headers"]}
        kwargs["headers"] = kwargs["headers"] + [
            (n, v) for n, v in recorded_headers if n.lower() not in given
        ]
        if header.subprotocol and "protocols" not in kwargs:
            kwargs["protocols"] = [header.subprotocol]
        target = url or header.url
        if url is None and REDACTED in header.url:
            printer.warning("the recorded URL had secrets, now REDACTED: give the URL to send them")
        ws = connect(target, **kwargs)
        printer.info(f"replaying {file} against {ws.url}")
        matcher = Matcher(options["ignore_json"], options["ignore_regex"])
        replayer = Replayer(
            ws,
            matcher,
            speed=options["speed"],
            no_delay=options["no_delay"],
            timeout=options["timeout"],
            window=options["unordered"] or 1,
            on_sent=lambda data: _show(printer, "out", data),
            on_received=lambda data: _show(printer, "in", data),
        )
        try:
            result = replayer.run(entries)
        except RecordingError as exc:
            ws.terminate()
            raise click.UsageError(str(exc)) from None
        except KeyboardInterrupt:
            ws.close(1001, "")  # going away, then the usual 130
            raise
        finally:
            if not ws.wait_closed(2.0):
                ws.terminate()
    _report(printer, result)
    printer.flush()
    return ExitStatus.OK if result.matched else ExitStatus.EXPECTATION_NOT_MET


def _show(printer: Printer, direction: str, data: str | bytes) -> None:
    if printer.as_json:
        printer.message(direction, data)
    elif printer.verbose:
        arrow = ">" if direction == "out" else "<"
        printer.info(f"{arrow} {describe_message(data)}")


def _report(printer: Printer, result: ReplayResult) -> None:
    difference = result.difference
    counts = f"{result.sent} sent, {result.received} received"
    if printer.as_json:
        if difference is not None:
            fields: dict[str, Any] = {"line": difference.line, "summary": difference.summary}
            fields["details"] = difference.details
            for name in ("expected", "received"):
                value = getattr(difference, name)
                if isinstance(value, bytes):
                    fields[name] = {"base64": params.encode_binary(value, "base64")}
                elif value is not None:
                    fields[name] = value
            printer.event("mismatch", **fields)
        printer.event(
            "result",
            match=result.matched,
            sent=result.sent,
            received=result.received,
        )
        return
    if difference is None:
        printer.notice(f"match: the server answered as recorded ({counts})", style="green")
        return
    printer.error(f"mismatch: {difference.summary}")
    for line in difference.details:
        printer.notice(f"  {line}")
    printer.notice(f"({counts} before the difference)")
