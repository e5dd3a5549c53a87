"""A raw-socket peer that records exactly what wscli wrote, byte for byte.

The handshake security tests (header injection, redirects, proxies) judge wscli by its
bytes on the wire, not by what the library says it did: :class:`RecordingServer`
accepts connections on 127.0.0.1, keeps each request head it reads, and answers with
whatever its ``answer`` function returns, so a test can play a redirecting, refusing
or accepting server without any WebSocket code on its side.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

from helpers import TIMEOUT

__all__ = ["RecordingServer", "upgrade_answer", "redirect_answer", "header_lines", "GUID"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Answer = Callable[[bytes], bytes | None]


def header_lines(head: bytes) -> list[bytes]:
    """The header lines of a request head, without the request line."""
    return head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]


def header_names(head: bytes) -> list[str]:
    """The lower-cased header names of a request head, in order."""
    return [line.split(b":", 1)[0].decode("latin-1").lower() for line in header_lines(head)]


def upgrade_answer(head: bytes) -> bytes:
    """A 101 for the request ``head`` (RFC 6455 §4.2.2), accepting its key."""
    key = b""
    for line in header_lines(head):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def redirect_answer(location: str, status: int = 302) -> Answer:
    """An answer function that redirects every request to ``location``."""
    raw = (
        f"HTTP/1.1 {status} Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return lambda head: raw


class RecordingServer:
    """Accept on 127.0.0.1, record each request head, answer with ``answer(head)``.

    ``answer`` returns the raw bytes to send (``None`` sends nothing and closes). After
    a 101 the connection stays open until the client sends something, which is taken
    for its close and answered with a close 1000.
    Use as a context manager; every wait is bounded by ``TIMEOUT``.
    """

    def __init__(self, answer: Answer = upgrade_answer) -> None:
        self.answer = answer
        self.heads: list[bytes] = []
        self.accepted = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(TIMEOUT)
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            except OSError:
                pass
            with self._lock:
                self.heads.append(head)
            reply = self.answer(head) if head else None
            if reply is None:
                return
            try:
                conn.sendall(reply)
                if reply.startswith(b"HTTP/1.1 101") and conn.recv(4096):
                    # Whatever the client sends first (its close, at the end of a
                    # ``with`` block) gets a close 1000 back, so it need not wait.
                    conn.sendall(b"\x88\x02\x03\xe8")
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(TIMEOUT)

    def __enter__(self) -> RecordingServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
