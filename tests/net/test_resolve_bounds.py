"""Name resolution inside the open deadline, against a resolver that never answers.

A caller gives up on a slow lookup at its deadline, but the system resolver cannot be
interrupted: the thread running it stays until the resolver answers. Many connects to
names a hostile or dead DNS server sits on must not pile those threads up without end,
and many connects to one name need only one lookup.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from wscli.core.sync import resolve

ATTEMPTS = 200


@pytest.fixture
def stuck_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``socket.getaddrinfo`` that blocks until the test ends; yields the names asked."""
    release = threading.Event()
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        release.wait(30)
        raise OSError("resolver released by the test")

    monkeypatch.setattr(resolve.socket, "getaddrinfo", getaddrinfo)
    try:
        yield asked
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name == "wscli-resolve":
                thread.join(5)


def resolver_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "wscli-resolve")


def test_lookups_that_never_finish_do_not_pile_up_threads(stuck_resolver: list[str]) -> None:
    for index in range(ATTEMPTS):
        with pytest.raises(TimeoutError):
            resolve.getaddrinfo(f"host{index}.invalid", 80, 0.001)
    assert resolver_threads() <= resolve.MAX_PENDING_LOOKUPS
    assert len(stuck_resolver) <= resolve.MAX_PENDING_LOOKUPS


def test_one_name_asked_many_times_is_looked_up_once(stuck_resolver: list[str]) -> None:
    for _ in range(ATTEMPTS):
        with pytest.raises(TimeoutError):
            resolve.getaddrinfo("same.invalid", 443, 0.001)
    deadline = time.monotonic() + 5
    while not stuck_resolver and time.monotonic() < deadline:
        time.sleep(0.01)  # the lookup thread may not have started yet on a busy machine
    assert stuck_resolver == ["same.invalid"]
    assert resolver_threads() == 1


def test_a_lookup_that_answers_still_gives_its_answer() -> None:
    infos = resolve.getaddrinfo("localhost", 80, 5.0)
    assert infos and all(info[4][1] == 80 for info in infos)


@pytest.mark.skipif(not hasattr(resolve.os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_inherit_the_parents_stuck_lookups(
    stuck_resolver: list[str],
) -> None:
    for index in range(resolve.MAX_PENDING_LOOKUPS):
        with pytest.raises(TimeoutError):
            resolve.getaddrinfo(f"stuck{index}.invalid", 80, 0.001)
    pid = resolve.os.fork()
    if pid == 0:  # the child: its lookups threads are gone, so every slot must be free
        free = all(resolve._slots.acquire(timeout=0) for _ in range(resolve.MAX_PENDING_LOOKUPS))
        resolve.os._exit(0 if free and not resolve._pending else 1)
    _, status = resolve.os.waitpid(pid, 0)
    assert resolve.os.waitstatus_to_exitcode(status) == 0
