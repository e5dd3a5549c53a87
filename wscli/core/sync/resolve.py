"""Name resolution and TCP connection inside one deadline.

``socket.create_connection(address, timeout)`` bounds each connect attempt but not the
``getaddrinfo`` before it, which waits as long as the system resolver does (tens of
seconds against a dead DNS server). :func:`create_connection` behaves the same but
counts resolution against the timeout too: a name is resolved on a short-lived helper
thread that the caller stops waiting for at the deadline, and every connect attempt
gets only what is left. Address literals skip the thread.

The system resolver cannot be interrupted, so a helper thread lives until the resolver
answers, whatever the deadline said. Against a DNS server that sits on queries, many
connects would leave one thread each behind; so callers asking for the same name and
port share one lookup, and at most :data:`MAX_PENDING_LOOKUPS` lookups run at once
(a caller that finds none free waits for one within its own deadline).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from typing import Any

from .timings import PhaseClock

__all__ = ["getaddrinfo", "create_connection", "MAX_PENDING_LOOKUPS"]

AddrInfo = tuple[Any, ...]

#: Name lookups (helper threads) running at once, whoever waits for them.
MAX_PENDING_LOOKUPS = 16


class _Lookup:
    """One name lookup on its helper thread, and everyone waiting for its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: list[AddrInfo] | None = None
        self.error: BaseException | None = None


_lock = threading.Lock()
_slots = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)
_pending: dict[tuple[str, int], _Lookup] = {}


def _reset_after_fork() -> None:
    """A forked child has none of its parent's lookup threads: start with every slot free."""
    global _lock, _slots, _pending
    _lock = threading.Lock()
    _slots = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)
    _pending = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _run(key: tuple[str, int], lookup: _Lookup) -> None:
    try:
        lookup.result = socket.getaddrinfo(key[0], key[1], type=socket.SOCK_STREAM)
    except Exception as exc:
        lookup.error = exc
    finally:
        with _lock:
            if _pending.get(key) is lookup:
                del _pending[key]
        _slots.release()
        lookup.done.set()


def _join_or_start(key: tuple[str, int], deadline: float) -> _Lookup | None:
    """The lookup of ``key`` running now, or a new one; ``None`` if no slot came in time."""
    with _lock:
        lookup = _pending.get(key)
    if lookup is not None:
        return lookup
    if not _slots.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
        return None
    with _lock:
        lookup = _pending.get(key)
        if lookup is not None:
            _slots.release()
            return lookup
        lookup = _pending[key] = _Lookup()
    threading.Thread(target=_run, args=(key, lookup), name="wscli-resolve", daemon=True).start()
    return lookup


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def getaddrinfo(host: str, port: int, timeout: float | None) -> list[AddrInfo]:
    """Resolve ``host`` for a TCP connection, giving up after ``timeout`` seconds.

    Raises:
        socket.gaierror: the name does not resolve.
        TimeoutError: the resolver did not answer in time (its thread is left to end
            on its own; it holds nothing but the answer), or every lookup slot stayed
            taken by lookups still waiting for the resolver.
    """
    if timeout is None or _is_address(host):
        # An address literal resolves at once, without asking any server.
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    deadline = time.monotonic() + max(timeout, 0.0)
    lookup = _join_or_start((host, port), deadline)
    if lookup is None:
        raise TimeoutError(
            f"resolving {host}: {MAX_PENDING_LOOKUPS} name lookups are still waiting for "
            f"the resolver after {timeout:.3g} seconds"
        )
    if not lookup.done.wait(max(deadline - time.monotonic(), 0.0)):
        raise TimeoutError(f"resolving {host} took more than {timeout:.3g} seconds")
    if lookup.error is not None:
        raise lookup.error
    assert lookup.result is not None
    return list(lookup.result)


def create_connection(
    address: tuple[str, int], timeout: float | None, clock: PhaseClock | None = None
) -> socket.socket:
    """Like ``socket.create_connection``, with resolution inside ``timeout`` too.

    ``clock``, when given, records how long resolving (``dns``, for a name only)
    and connecting (``tcp``, every address tried) took.

    Raises:
        socket.gaierror: the name does not resolve.
        TimeoutError: resolution and connecting took more than ``timeout`` in all.
        OSError: every address refused or failed (the last error).
    """
    host, port = address
    deadline = None if timeout is None else time.monotonic() + timeout
    started = time.perf_counter()
    infos = getaddrinfo(host, port, timeout)
    if clock is not None and not _is_address(host):
        started = clock.end("dns", started)
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError(f"connecting to {host}:{port} took more than {timeout:.3g} seconds")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        if clock is not None:
            clock.end("tcp", started)
        return sock
    raise last if last is not None else OSError(f"no address for {host}")
