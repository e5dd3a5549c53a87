"""``wscli completion SHELL``: print the shell completion script.

The scripts are click's own (``_WSCLI_COMPLETE=bash_source wscli`` prints the same),
so completions follow the options as they are, subcommands included. The copies in
``completions/`` are generated from here and a test keeps them identical.
"""

from __future__ import annotations

import click

from ..exitcodes import ExitStatus

__all__ = ["command", "completion_script", "SHELLS"]

SHELLS = ("bash", "zsh", "fish")

EPILOG = """Exit status: 0 the script was printed, 2 usage error (an unknown shell).

\b
Examples:
  eval "$(wscli completion bash)"                      # in ~/.bashrc
  wscli completion zsh > "${fpath[1]}/_wscli"          # zsh, then restart it
  wscli completion fish > ~/.config/fish/completions/wscli.fish
"""


def completion_script(shell: str, root: click.Command | None = None) -> str:
    """Return the completion script for ``shell`` (bash, zsh or fish).

    Args:
        shell: the shell.
        root: the ``wscli`` group; by default the one running now.
    """
    from click.shell_completion import get_completion_class

    # The root command is the running group; importing wscli.cli here would be a cycle.
    cli = root if root is not None else click.get_current_context().find_root().command
    completion_class = get_completion_class(shell)
    if completion_class is None:  # pragma: no cover - SHELLS are all built into click
        raise click.BadParameter(f"no completion for {shell}")
    script = completion_class(cli, {}, "wscli", "_WSCLI_COMPLETE").source()
    return script if script.endswith("\n") else script + "\n"


@click.command(
    "completion",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
    short_help="Print the shell completion script.",
)
@click.argument("shell", type=click.Choice(SHELLS))
def command(shell: str) -> ExitStatus:
    """Print the completion script for SHELL (bash, zsh or fish)."""
    click.echo(completion_script(shell), nl=False)
    return ExitStatus.OK
