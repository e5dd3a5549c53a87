"""Fixtures for the ws-style API tests: loopback servers that stop by themselves."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from helpers import TIMEOUT

import wscli

__all__ = ["TIMEOUT", "wait_for"]


def wait_for(predicate: Callable[[], object], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


@pytest.fixture
def server() -> Iterator[wscli.Server]:
    """A server on 127.0.0.1 with no listeners: each test adds its own."""
    server = wscli.Server("127.0.0.1", 0)
    yield server
    server.close(timeout=TIMEOUT)
