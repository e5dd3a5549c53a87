"""Name resolution and TCP connection inside one deadline.

``socket.create_connection(address, timeout)`` bounds each connect attempt but not the
``getaddrinfo`` before it, which waits as long as the system resolver does (tens of
seconds against a dead DNS server). :func:`create_connection` behaves the same but
counts resolution against the timeout too: a name is resolved on a short-lived helper
thread that the caller stops waiting for at the deadline, and every connect attempt
gets only what is left. Address literals skip the thread.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

__all__ = ["getaddrinfo", "create_connection"]

AddrInfo = tuple[Any, ...]


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
            on its own; it holds nothing but the answer).
    """
    if timeout is None or _is_address(host):
        # An address literal resolves at once, without asking any server.
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    outcome: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:
            outcome.append(exc)
        done.set()

    threading.Thread(target=run, name="wscli-resolve", daemon=True).start()
    if not done.wait(max(timeout, 0.0)):
        raise TimeoutError(f"resolving {host} took more than {timeout:.3g} seconds")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: list[AddrInfo] = outcome[0]
    return result


def create_connection(address: tuple[str, int], timeout: float | None) -> socket.socket:
    """Like ``socket.create_connection``, with resolution inside ``timeout`` too.

    Raises:
        socket.gaierror: the name does not resolve.
        TimeoutError: resolution and connecting took more than ``timeout`` in all.
        OSError: every address refused or failed (the last error).
    """
    host, port = address
    deadline = None if timeout is None else time.monotonic() + timeout
    infos = getaddrinfo(host, port, timeout)
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
        return sock
    raise last if last is not None else OSError(f"no address for {host}")
