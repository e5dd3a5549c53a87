"""``connect --auth`` against the other ways of setting Authorization.

``--auth`` typed on the command line and ``-H 'Authorization: …'`` are two answers to one
question: a usage error names both options. ``WSCLI_AUTH`` in the environment is a
default, like ``user:pass@`` in the address: an explicit ``-H`` replaces it.
"""

from __future__ import annotations

import base64

import pytest

import wscli

from .conftest import ScriptedServer, run_cli
from .test_listen import connect_when_ready, listen


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_auth_and_an_authorization_header_together_name_both_options(
    server: ScriptedServer,
) -> None:
    run = run_cli(
        "connect", "--auth", "ann:secret", "-H", "Authorization: Bearer tok", "-x", "hi", server.url
    )
    assert run.status == 2
    [error] = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert "--auth" in error and "-H" in error and "Authorization" in error
    assert "secret" not in run.stderr and "tok" not in run.stderr
    assert server.seen.requests == []


def test_an_explicit_header_replaces_the_environment_default(server: ScriptedServer) -> None:
    run = run_cli(
        "connect",
        "-H",
        "Authorization: Bearer tok",
        "-x",
        "hi",
        server.url,
        env={"WSCLI_AUTH": "ann:secret"},
    )
    assert run.status == 0, run.stderr
    assert server.seen.requests[0].headers.get_all("Authorization") == ["Bearer tok"]


def test_auth_from_the_environment_alone_is_sent(server: ScriptedServer) -> None:
    run = run_cli("connect", "-x", "hi", server.url, env={"WSCLI_AUTH": "ann:secret"})
    assert run.status == 0, run.stderr
    assert server.seen.requests[0].headers.get_all("Authorization") == [basic("ann", "secret")]


def test_show_handshake_does_not_print_the_credentials(server: ScriptedServer) -> None:
    token = base64.b64encode(b"ann:secret").decode()
    for extra in ([], ["--json"]):
        run = run_cli(
            "connect",
            "--show-handshake",
            *extra,
            "-x",
            "hi",
            server.url,
            env={"WSCLI_AUTH": "ann:secret"},
        )
        assert run.status == 0, run.stderr
        shown = run.stdout + run.stderr
        assert "Authorization" in shown and "Basic" in shown
        assert token not in shown and "secret" not in shown
    # The server did get them.
    assert server.seen.requests[0].headers["Authorization"] == basic("ann", "secret")


def test_listen_says_when_it_requires_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WSCLI_AUTH set for a client also makes listen require it: that must not be silent."""
    monkeypatch.setenv("WSCLI_AUTH", "ann:secret")

    def scenario(url: str) -> int:
        with pytest.raises(wscli.InvalidStatus) as refused:
            connect_when_ready(url)
        return refused.value.status_code

    run, status = listen(scenario)
    assert status == 401
    [line] = [line for line in run.stderr.splitlines() if "WSCLI_AUTH" in line]
    assert "credentials" in line and "secret" not in run.stderr
