"""Gathered writes: many queued chunks leave with one ``sendmsg`` system call.

A connection (and the load generator's connections) queue their output as a list of
chunks: frame headers, payloads, replies. Writing them one ``send`` at a time costs a
system call each; ``sendmsg`` takes up to ``IOV_MAX`` buffers at once. TLS sockets have
no ``sendmsg`` (the record layer needs one buffer), so they write one chunk per call.
A falsy chunk (``None`` or empty) marks "half-close here": a write never goes past it.
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Sequence
from typing import Any

__all__ = ["IOV_MAX", "GATHER_BYTES", "write_chunks", "drop_written"]

#: Most buffers one ``sendmsg`` is given (Linux allows 1024).
IOV_MAX = 512
#: Stop gathering once this many bytes are in one call: the kernel takes no more anyway.
GATHER_BYTES = 1 << 20


def write_chunks(sock: socket.socket, chunks: Sequence[Any], gather: bool) -> int:
    """Write from the front of ``chunks`` with one system call; return the bytes taken.

    Args:
        sock: a non-blocking socket.
        chunks: bytes-like chunks, the first of them not an end marker.
        gather: whether ``sendmsg`` may be used (not for TLS).

    Raises:
        OSError: from the socket, ``BlockingIOError`` included.
    """
    if gather and len(chunks) > 1:
        buffers: list[Any] = []
        size = 0
        for chunk in chunks:
            if not chunk or len(buffers) >= IOV_MAX or size >= GATHER_BYTES:
                break
            buffers.append(chunk)
            size += len(chunk)
        if len(buffers) > 1:
            return sock.sendmsg(buffers)
    return sock.send(chunks[0])


def drop_written(chunks: collections.deque[Any], written: int) -> None:
    """Remove ``written`` bytes from the front of ``chunks``.

    A chunk written in part keeps its tail, as a memoryview (no copy).
    """
    while written:
        chunk = chunks[0]
        if written >= len(chunk):
            written -= len(chunk)
            chunks.popleft()
        else:
            chunks[0] = memoryview(chunk)[written:]
            written = 0
