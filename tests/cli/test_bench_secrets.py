"""``wscli bench`` never prints the ``user:password@`` of the address it loads."""

from __future__ import annotations

from .conftest import ScriptedServer, run_cli


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
