"""Fixtures for the threaded layer: loopback servers that stop by themselves."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

import wscli

#: Seconds every wait may take; slow machines can scale it.
TIMEOUT = 5.0 * float(os.environ.get("WSCLI_TEST_TIMEOUT_FACTOR", "1"))


@pytest.fixture
def echo_server() -> Iterator[wscli.Server]:
    """A server on 127.0.0.1 that echoes every message."""
    server = wscli.Server("127.0.0.1", 0)

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: ws.send(data))

    server.on("connection", on_connection)
    yield server
    server.close(timeout=TIMEOUT)
