"""One rule for a normal close, shared by the library and the command line.

``OK_CLOSE_CODES`` (1000, 1001, and 1005 for a close frame without a code) decides both
whether iteration over a connection ends quietly and whether ``wscli`` exits 0.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading
from collections.abc import Iterator

import pytest
from helpers import TIMEOUT

import wscli
from wscli.core.frames import OK_CLOSE_CODES
from wscli.output import CloseInfo


@contextlib.contextmanager
def closing_server(close_payload: bytes) -> Iterator[str]:
    """Upgrades, sends one close frame with ``close_payload``, reads the answer, hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
                accept = base64.b64encode(hashlib.sha1(key + guid).digest())
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                    + accept
                    + b"\r\n\r\n"
                    + bytes([0x88, len(close_payload)])
                    + close_payload
                )
                conn.recv(4096)  # the client's answering close frame

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(TIMEOUT)


@pytest.mark.parametrize(
    ("payload", "normal"),
    [(b"\x03\xe8", True), (b"\x03\xe9", True), (b"", True), (b"\x03\xf3", False)],
    ids=["1000", "1001", "no-code", "1011"],
)
def test_iteration_ends_quietly_exactly_on_the_ok_codes(payload: bytes, normal: bool) -> None:
    with closing_server(payload) as url, wscli.connect(url, open_timeout=TIMEOUT) as ws:
        if normal:
            assert list(ws) == []
        else:
            with pytest.raises(wscli.ConnectionClosedError):
                list(ws)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1005, 1006, 1008, 1011, 3000, 4000])
def test_the_command_line_counts_the_same_codes_as_success(code: int) -> None:
    info = CloseInfo(code, by="peer", clean=True)
    assert info.ok is (code in OK_CLOSE_CODES)
