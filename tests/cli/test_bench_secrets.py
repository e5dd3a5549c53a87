"""``wscli bench``: it never prints the ``user:password@`` of the address it loads, and
its name lookup is bounded like every other wait."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from .conftest import Run, ScriptedServer, run_cli

URL = "ws://stuck-resolver.invalid:9/"


def test_bench_shows_the_address_without_its_credentials(server: ScriptedServer) -> None:
    url = f"ws://ann:s3cret@127.0.0.1:{server.port}/"
    for extra in ([], ["--json"]):
        run = run_cli("bench", "-c", "1", "-n", "5", *extra, url)
        assert run.status == 0, run.stderr
        shown = run.stdout + run.stderr
        assert "s3cret" not in shown
        assert f"127.0.0.1:{server.port}" in shown
    # The server did get the credentials.
    assert server.seen.requests[0].headers["Authorization"].startswith("Basic ")


def test_bench_name_resolution_is_bounded_by_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver that never answers ends the run after -W, with the usual status 3."""
    from wscli.core.sync import resolve

    release = threading.Event()

    def stuck(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        raise OSError("released")

    monkeypatch.setattr(resolve.socket, "getaddrinfo", stuck)
    outcome: list[Run] = []
    runner = threading.Thread(
        target=lambda: outcome.append(run_cli("bench", "-c", "1", "-n", "1", "-W", "0.3s", URL))
    )
    runner.start()
    runner.join(10)
    waited = runner.is_alive()
    release.set()
    runner.join(10)
    assert not waited, "bench waited for the resolver past -W"
    assert outcome[0].status == 3, outcome[0].stderr
