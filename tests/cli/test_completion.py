"""Shell completion: the committed scripts match what click generates, and they work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wscli.cli import cli
from wscli.commands.completion import SHELLS, completion_script

from .conftest import TIMEOUT, run_cli

COMPLETIONS = Path(__file__).resolve().parents[2] / "completions"


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_script_is_up_to_date(shell: str) -> None:
    committed = (COMPLETIONS / f"wscli.{shell}").read_text()
    assert committed == completion_script(shell, cli), (
        f"completions/wscli.{shell} is stale: run `wscli completion {shell} > "
        f"completions/wscli.{shell}`"
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_command_prints_the_script(shell: str) -> None:
    run = run_cli("completion", shell)
    assert run.status == 0
    assert run.stdout == completion_script(shell, cli)
    assert "_WSCLI_COMPLETE" in run.stdout


def test_unknown_shell_is_a_usage_error() -> None:
    run = run_cli("completion", "tcsh")
    assert run.status == 2


def test_help_ends_with_examples() -> None:
    run = run_cli("completion", "--help")
    assert "Examples:" in run.stdout


def complete(words: str) -> list[str]:
    """Ask the program for bash completions of ``words`` as the bash script would."""
    env = {
        **os.environ,
        "_WSCLI_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    result = subprocess.run(
        [sys.executable, "-m", "wscli"], env=env, capture_output=True, timeout=TIMEOUT, text=True
    )
    return [line.split(",", 1)[1] for line in result.stdout.splitlines()]


def test_completion_offers_commands_and_their_options() -> None:
    assert "connect" in complete("wscli con")
    assert "--show-handshake" in complete("wscli connect --show-h")
    assert {"hex", "base64"} <= set(complete("wscli connect --binary "))
    assert "--broadcast" in complete("wscli listen --bro")
