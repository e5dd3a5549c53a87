"""Fixtures for the threaded layer: loopback servers that stop by themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers import TIMEOUT

import wscli


@pytest.fixture
def echo_server() -> Iterator[wscli.Server]:
    """A server on 127.0.0.1 that echoes every message."""
    server = wscli.Server("127.0.0.1", 0)

    def on_connection(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: ws.send(data))

    server.on("connection", on_connection)
    yield server
    server.close(timeout=TIMEOUT)
