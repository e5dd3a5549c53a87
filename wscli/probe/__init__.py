"""``wscli probe``: grade a WebSocket server's conformance, limits and security in seconds.

The pieces, from the wire up:

* :mod:`~wscli.probe.wire`: raw probe connections (the library's client handshake,
  then crafted frames out and a bounded frame reader in), and the run's budget;
* :mod:`~wscli.probe.runner`: the :class:`Probe` and the questions checks share;
* :mod:`~wscli.probe.protocol_checks` and :mod:`~wscli.probe.more_checks`: the
  checks, by category;
* :mod:`~wscli.probe.report`: grades, results, the report.

:func:`run` is the whole run; the command in :mod:`wscli.commands.probe` prints it.
Each check is documented in docs/PROBE.md with the RFC section it tests.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.exceptions import ConnectFailed, HandshakeError, InvalidStatus
from .more_checks import compression, limits, security
from .protocol_checks import baseline, close, framing, handshake_checks, ping, validation
from .report import CATEGORIES, Grade, Report, Result
from .runner import Probe, Settings
from .wire import Target

__all__ = ["run", "Settings", "Target", "Report", "Result", "Grade", "CATEGORIES"]


def run(
    target: Target, settings: Settings, listener: Callable[[Result], None] | None = None
) -> Report:
    """Probe ``target``: every wanted category in order; ``listener`` sees each result.

    Raises:
        ConnectFailed: the server cannot be reached, or does not answer the upgrade.
        InvalidStatus: the server refused the first, ordinary upgrade.
        HandshakeError: the server's answer to it is not HTTP.
    """
    report = Report(str(target.uri), listener=listener)
    probe = Probe(target, settings, report)
    try:
        first = baseline(probe)
        if first.response is None:
            if isinstance(first.error, HandshakeError):
                raise first.error  # not HTTP at all: status 4, with what was wrong
            if first.timed_out:
                raise ConnectFailed(f"no answer to the upgrade within {settings.timeout:g} s")
            raise ConnectFailed(f"the server closed the connection: {first.error or 'no answer'}")
        if isinstance(first.error, InvalidStatus):
            raise first.error
        server_header = first.response.headers.get("Server")
        if probe.wanted("handshake"):
            handshake_checks(probe, first)
        else:
            first.close()
        steps: list[tuple[str, Callable[[], None]]] = [
            ("framing", lambda: framing(probe)),
            ("validation", lambda: validation(probe)),
            ("close", lambda: close(probe)),
            ("ping", lambda: ping(probe)),
            ("compression", lambda: compression(probe)),
            ("security", lambda: security(probe, server_header)),
            ("limits", lambda: limits(probe)),
        ]
        for category, step in steps:
            if probe.wanted(category):
                step()
    finally:
        probe.close()
        report.connections = probe.budget.opened
    return report
