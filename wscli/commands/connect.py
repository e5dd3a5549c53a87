"""``wscli connect URL``: talk to a WebSocket server from a terminal, a pipe or a script.

How it runs depends on what it is connected to:

* **a terminal** (stdin and stdout both): a REPL. Messages arrive above the prompt;
  lines typed are sent; slash commands do the rest (``/help``);
* **a pipe**: each stdin line is one message and each message received is one stdout
  line, flushed at once. At end of input, close with 1000 and keep receiving for
  ``--wait`` (by default until the close handshake ends);
* ``-x MSG``: send these instead of reading stdin, then as at end of input;
* ``--exec CMD``: a subprocess speaks for us (see :mod:`wscli.bridge`).

``--count`` and ``--expect`` turn it into a check for scripts: stop at the Nth message
or the first match, exit 6 when the connection ends or ``--timeout`` passes first.
``--reconnect`` survives drops, backing off with jitter and sending the ``-x`` messages
again on each new connection.

The run itself is :class:`~wscli.commands.session.ClientSession`; this module turns the
options into its :class:`~wscli.commands.session.ConnectConfig`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import Any

import click
from click.core import ParameterSource

from .. import params
from ..escape import is_terminal
from ..exitcodes import EXIT_STATUS_HELP, ExitStatus
from ..output import Printer
from .session import ClientSession, ConnectConfig, backoff_delay

__all__ = ["command", "ConnectConfig", "ClientSession", "backoff_delay"]

EPILOG = f"""\b
On a terminal: type to send; /help lists /ping /close /hex /file /frag /stats …
In a pipe: one message per line each way; at end of input, close 1000 and
wait for the close handshake (or --wait). --json: one JSON object per event.

{EXIT_STATUS_HELP}

\b
Examples:
  wscli connect wss://echo.websocket.org
  echo '{{"op":"ping"}}' | wscli connect --json wss://echo.websocket.org | jq -r .data
  wscli connect --record session.ndjson ws://localhost:8080
  wscli connect -x status --expect '"ok"' -t 5s ws://localhost:8080/health
"""


def _compile_expect(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as exc:
        raise click.BadParameter(f"not a regular expression: {exc}") from exc


@click.command(
    "connect",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
    short_help="Connect to a WebSocket server: REPL or pipe.",
)
@click.argument("url")
@params.client_options
@click.option(
    "--auth",
    metavar="USER:PASS|@FILE",
    envvar=params.AUTH_ENVVAR,
    show_envvar=True,
    callback=params.auth_callback,
    help="HTTP Basic credentials (user:pass in the URL works too). "
    + params.SECRET_HELP.format(envvar=params.AUTH_ENVVAR),
)
@click.option(
    "-p",
    "--protocol-version",
    type=click.Choice(["13", "8"]),
    default="13",
    show_default=True,
    help="WebSocket protocol version (8 is draft hybi-08).",
)
@click.option(
    "-x",
    "--execute",
    multiple=True,
    metavar="MSG",
    help="Send MSG instead of reading stdin, then close (repeatable).",
)
@click.option(
    "-w",
    "--wait",
    type=params.Duration(allow_forever=True),
    default=None,
    help="Keep receiving this long after the last message sent (-1: until the "
    "server closes). Default: close at once and wait for the close handshake.",
)
@params.ping_interval_option("the server")
@click.option(
    "--close-code",
    type=params.CLOSE_CODE,
    default=1000,
    show_default=True,
    help="Close code sent at the end of input, after -x, on /quit.",
)
@click.option(
    "--close-reason",
    default="",
    metavar="TEXT",
    callback=params.close_reason_callback,
    help="Close reason sent with it (at most 123 bytes of UTF-8).",
)
@params.message_output_options
@click.option(
    "--show-handshake",
    is_flag=True,
    help="Show request and response headers, subprotocol and extensions.",
)
@click.option(
    "--count",
    type=click.IntRange(1),
    default=None,
    metavar="N",
    help="Exit after N messages received (status 6 if the connection ends first).",
)
@click.option(
    "--expect",
    callback=_compile_expect,
    metavar="REGEX",
    help="Exit 0 at the first message matching REGEX; 6 if none does in time.",
)
@click.option(
    "-t",
    "--timeout",
    type=params.DURATION,
    default=None,
    help="End the run after this long (then --count/--expect count as unmet).",
)
@click.option(
    "--reconnect",
    is_flag=True,
    help="Reconnect after a drop, with backoff and jitter; replays -x messages.",
)
@params.exec_options("Bridge the connection to CMD: messages to its stdin, its stdout lines back.")
@click.option(
    "--record",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write the conversation to FILE (NDJSON, see docs/RECORDING.md) for "
    "`wscli replay` and `listen --replay`. Secrets are left out.",
)
@click.option(
    "--redact",
    multiple=True,
    metavar="NAME",
    help="Also keep this request header or URL query parameter out of --record (repeatable).",
)
@click.pass_context
def command(ctx: click.Context, /, url: str, **options: Any) -> ExitStatus:
    """Connect to a WebSocket server at URL.

    On a terminal this opens a REPL; in a pipe it sends each stdin line as a
    message and writes each message received to stdout. URL may be ws://,
    wss://, ws+unix://PATH:/request, or a bare host:port.
    """
    root = ctx.find_root().obj or {}
    kwargs = params.client_kwargs(**options)
    if options["auth"] is not None:
        given = any(name.lower() == "authorization" for name, _ in kwargs["headers"])
        from_env = ctx.get_parameter_source("auth") is ParameterSource.ENVIRONMENT
        if given and not from_env:
            raise click.UsageError(
                "--auth and -H 'Authorization: ...' both set the Authorization header; give one"
            )
        if not given:
            # $WSCLI_AUTH is a default: an explicit -H Authorization replaces it.
            auth = params.basic_authorization(*options["auth"])
            kwargs["headers"].append(("Authorization", auth))
    kwargs["protocol_version"] = int(options["protocol_version"])
    kwargs.update(params.keepalive_kwargs(options["ping_interval"]))
    exec_argv = params.exec_argv(options["exec_command"], options["shell"])
    config = ConnectConfig(
        url=url,
        kwargs=kwargs,
        execute=options["execute"],
        wait=options["wait"],
        close_code=options["close_code"],
        close_reason=options["close_reason"],
        count=options["count"],
        expect=options["expect"],
        timeout=options["timeout"],
        reconnect=options["reconnect"],
        show_handshake=options["show_handshake"],
        binary=options["binary"],
        null=options["null"],
        exec_argv=exec_argv,
        redact=tuple(options["redact"]),
    )
    if options["record"] is not None:
        if config.reconnect:
            raise click.BadParameter(
                "records one connection: not with --reconnect", param_hint="--record"
            )
        config.record_name = options["record"]
        try:
            # Owner-only when created (a recording holds the conversation: tokens in
            # messages, the URL); a file that exists keeps the mode its owner gave it.
            config.record = open(  # noqa: SIM115 (closed below)
                options["record"], "wb", opener=_private_opener
            )
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise click.BadParameter(f"cannot write it: {reason}", param_hint="--record") from exc
    terminal = is_terminal(sys.stdin) and is_terminal(sys.stdout)
    printer = Printer.from_options(
        interactive=terminal,
        as_json=options["as_json"],
        no_color=options["no_color"],
        binary=options["binary"],
        null=options["null"],
        show_ping_pong=options["show_ping_pong"],
        verbose=root.get("verbose", 0),
        full=options["full"],
        threaded=True,
    )
    repl = terminal and not config.execute and exec_argv is None
    session = ClientSession(config, printer, interactive=repl)
    try:
        return session.run()
    finally:
        printer.close()
        if config.record is not None:
            with contextlib.suppress(OSError):
                config.record.close()


def _private_opener(path: str, flags: int) -> int:
    """``open()``'s opener for a file created ``0600`` (the umask can only narrow it)."""
    return os.open(path, flags, 0o600)
