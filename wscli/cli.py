"""The click group, global options, and the one place where errors become exit statuses.

Commands live in ``wscli.commands.<name>`` and are imported only when invoked, so
``wscli --help`` stays fast and a broken optional import cannot take down the others.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from . import __version__
from .core.logs import TracebackFormatter
from .exitcodes import EXIT_STATUS_HELP, ExitStatus, describe_error, status_for

__all__ = ["cli", "main", "COMMANDS", "StderrHandler"]

#: command name -> (module, one-line help shown by ``wscli --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "connect": ("wscli.commands.connect", "Connect to a WebSocket server: REPL or pipe."),
    "listen": ("wscli.commands.listen", "Serve WebSocket clients: REPL or pipe."),
    "ping": ("wscli.commands.ping", "Measure round trips with ping/pong, like ping(8)."),
    "replay": ("wscli.commands.replay", "Replay a recorded conversation and check the answers."),
    "probe": ("wscli.commands.probe", "Check a server's conformance, limits and security."),
    "bench": ("wscli.commands.bench", "Load-test an echo server (or an embedded one)."),
    "completion": ("wscli.commands.completion", "Print the shell completion script."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


EPILOG = f"""{EXIT_STATUS_HELP}

\b
Examples:
  wscli connect wss://echo.websocket.org
  wscli listen --port 8080 --echo
  wscli probe ws://localhost:8080
  seq 3 | wscli connect ws://localhost:8080 | tee replies.txt
"""


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)
@click.version_option(__version__, "-V", "--version", prog_name="wscli")
@click.option("--traceback", is_flag=True, help="Show the full traceback of an error.")
@click.option("-v", "--verbose", count=True, help="-v: handshakes and events; -vv: every frame.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool, verbose: int) -> None:
    """A WebSocket toolkit: connect, listen, ping, probe and benchmark from the terminal."""
    ctx.ensure_object(dict)
    ctx.obj["traceback"] = traceback
    ctx.obj["verbose"] = verbose
    if verbose:
        _log_to_stderr(verbose)


class _EscapingFormatter(TracebackFormatter):
    """Log lines carry peer data (frames, headers): escape control characters."""

    def format(self, record: logging.LogRecord) -> str:
        from .output import escape_control

        return escape_control(super().format(record), keep_newlines=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """The handler ``-v`` adds to ``wscli.core``: log lines to stderr, escaped.

    It writes to whatever ``sys.stderr`` is at the time (prompt-toolkit patches it).
    One is enough: ``-v`` adds one only if the logger has none yet.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _log_to_stderr(verbose: int) -> None:
    """-v: the library's INFO (handshakes, events); -vv: DEBUG (every frame)."""
    logger = logging.getLogger("wscli.core")
    if any(isinstance(handler, StderrHandler) for handler in logger.handlers):
        return
    handler = StderrHandler()
    handler.setFormatter(_EscapingFormatter("%(relativeCreated)8.0fms %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def main(argv: list[str] | None = None) -> Any:
    """Run the command line; the single boundary where exceptions become exit statuses.

    Never returns: it always ends with ``sys.exit(status)``.
    """
    args = sys.argv[1:] if argv is None else argv
    show_traceback = "--traceback" in args
    try:
        # Every command returns its exit status (an ExitStatus; ping(8)'s for ping);
        # without standalone mode click hands it back here, the one place that exits.
        status = cli.main(args=args, prog_name="wscli", standalone_mode=False)
        sys.exit(status if isinstance(status, int) else ExitStatus.OK)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # The reader of our stdout went away: end quietly (and keep Python from
        # complaining again when it flushes stdout at exit).
        _silence_stdout()
        sys.exit(ExitStatus.OK)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitStatus.INTERRUPTED)
    except Exception as exc:
        if show_traceback:
            raise
        click.echo(f"wscli: {describe_error(exc)}", err=True)
        sys.exit(status_for(exc))


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # no file descriptor behind stdout (a test runner's stream): nothing to do
    finally:
        os.close(devnull)
