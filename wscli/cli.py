"""The click group and the one place where errors become exit statuses."""

from __future__ import annotations

import click

from . import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="wscli")
def cli() -> None:
    """A WebSocket toolkit: connect, listen, ping and benchmark from the terminal."""


def main() -> None:
    """Run the command line."""
    cli(prog_name="wscli")
