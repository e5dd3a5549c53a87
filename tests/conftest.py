"""Fixtures shared by every test package; keep this small and free of sockets.

pytest puts this directory on ``sys.path`` (rootdir conftest, default import mode), so
test modules import the helpers as ``from helpers import ...``.
"""

from __future__ import annotations

import signal

import pytest
from helpers import protocol

from wscli.core.protocol import Protocol, Side


def pytest_configure(config: pytest.Config) -> None:
    """Give Ctrl-C back its meaning when the run was started with SIGINT ignored.

    A shell starts a background job (``pytest &`` in a script, ``nohup``) with SIGINT
    ignored, and Python then installs no handler for it. The tests that stop ``listen``
    or ``bench`` the way a person does, with SIGINT to the main thread or to a child
    ``wscli`` (children inherit the ignored signal), would then wait for their timeout.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=[Side.SERVER, Side.CLIENT], ids=["server", "client"])
def side(request: pytest.FixtureRequest) -> Side:
    """Each end of the connection in turn."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def open_server() -> Protocol:
    """An OPEN server-side protocol (no handshake)."""
    return protocol(Side.SERVER)


@pytest.fixture
def open_client() -> Protocol:
    """An OPEN client-side protocol (no handshake) that masks with ``FIXED_MASK``."""
    return protocol(Side.CLIENT)
