"""One wake-up per large payload, not one per TCP segment (``SO_RCVLOWAT``).

A 1 MiB payload arrives in 64 KiB segments, and each wake-up costs an ``epoll_wait``,
a read and the Python around them. While the rest of a large payload is awaited
(:meth:`wscli.core.protocol.Protocol.payload_buffer`), the connection sets the
socket's low-water mark to the bytes still missing: epoll then reports it readable
once they all wait, or at EOF or an error, which it always reports. Nothing else can
come first, since the payload's bytes are all the peer can send until it ends (RFC
6455 §5.4). Linux 4.20 and later grow the receive buffer to hold what the mark asks
for, but only from 5.10 does a receive buffer full before the mark is reached (small
segments, each costing far more memory than its bytes) wake the reader: before, the
window closed with nobody woken, and a peer sending a large message over a small-MSS
path stalled for good. On older kernels, other systems, TLS (the mark would count
encrypted bytes) and Unix sockets (whose poll ignores it) the connection reads as
data comes.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys

__all__ = ["initial_lowat", "set_lowat"]

#: The most one wake-up waits for: the kernel buffers about twice that for us.
LOWAT_LIMIT = 1 << 20


def _supported() -> bool:
    if sys.platform != "linux" or not hasattr(socket, "SO_RCVLOWAT"):
        return False
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    # 5.10: "tcp: fix SO_RCVLOWAT hangs with fat skbs" (5.7) and the receive window
    # check in tcp_epollin_ready (5.10), see the module docstring.
    return (major, minor) >= (5, 10)


_SUPPORTED = _supported()


def initial_lowat(sock: socket.socket) -> int:
    """Return 1 (the default mark) for a socket whose mark may be raised, else 0."""
    usable = _SUPPORTED and not isinstance(sock, ssl.SSLSocket)
    return 1 if usable and sock.family in (socket.AF_INET, socket.AF_INET6) else 0


def set_lowat(sock: socket.socket, current: int, missing: int) -> int:
    """Set ``sock``'s mark for ``missing`` payload bytes (0: none); return the new mark.

    ``current`` is the mark in force, as this returned it last (0: leave it alone).
    """
    if not current:
        return 0
    want = min(missing, LOWAT_LIMIT) if missing else 1
    if want != current:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
        except OSError:
            return 0  # the socket is closing: the next read reports why
    return want
