"""Hostile and broken peers over loopback: the other end misbehaves, we stay up and bounded.

Server side: raw sockets play clients that stall, drip, send garbage, reset or half-close
mid-frame, vanish mid-close, flood pings, or never read; after each, a well-behaved
client still gets its echo. Client side: a raw listening socket plays a server that never
answers, sends an endless head or garbage, announces a huge frame, or stalls mid-close;
``wscli.connect`` and ``recv`` end within their timeouts with a clear exception.

The raw-socket helpers here (:class:`RawClient`, :class:`HostileServer`, :func:`serving`)
are imported by the other modules of this issue's test set.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import queue
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT

ZERO_MASK = b"\0\0\0\0"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Short timeouts keep the suite fast; assertions allow TIMEOUT on top of them.
OPEN_TIMEOUT = 0.5
CLOSE_TIMEOUT = 0.5


# -- helpers shared with the other modules of this test set ---------------------------------


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    length: int | None = None,
) -> bytes:
    """Encode a frame as a client sends it; the zero mask leaves the payload readable."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload) if length is None else length
    if size < 126:
        header = bytes([first, 0x80 | size])
    elif size < 65536:
        header = bytes([first, 0x80 | 126]) + struct.pack("!H", size)
    else:
        header = bytes([first, 0x80 | 127]) + struct.pack("!Q", size)
    return header + ZERO_MASK + payload


def server_frame(opcode: int, payload: bytes = b"", *, length: int | None = None) -> bytes:
    """Encode an unmasked frame as a server sends it."""
    size = len(payload) if length is None else length
    if size < 126:
        header = bytes([0x80 | opcode, size])
    elif size < 65536:
        header = bytes([0x80 | opcode, 126]) + struct.pack("!H", size)
    else:
        header = bytes([0x80 | opcode, 127]) + struct.pack("!Q", size)
    return header + payload


def upgrade_request(path: str = "/", headers: list[tuple[str, str]] | None = None) -> bytes:
    """A valid RFC 6455 upgrade request, with ``headers`` appended."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers or []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class RawClient:
    """A client socket driven byte by byte, so a test can send what no library would."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        """Read more into the buffer; False at EOF."""
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def read_head(self) -> tuple[int, bytes]:
        """Read a response head; return its status code and the whole head."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed before the response head: {bytes(self.buf)!r}")
        end = self.buf.index(b"\r\n\r\n") + 4
        head = bytes(self.buf[:end])
        del self.buf[:end]
        return int(head.split(b" ", 2)[1]), head

    def upgrade(self, headers: list[tuple[str, str]] | None = None) -> RawClient:
        """Send an upgrade request and check that it is accepted."""
        self.send(upgrade_request(headers=headers))
        status, head = self.read_head()
        assert status == 101, head
        return self

    def read_frame(self) -> tuple[int, bytes]:
        """Read one unmasked frame from the server: ``(opcode, payload)``."""
        while True:
            buf = self.buf
            if len(buf) >= 2:
                length, offset = buf[1] & 0x7F, 2
                if length == 126 and len(buf) >= 4:
                    length, offset = struct.unpack("!H", buf[2:4])[0], 4
                elif length == 127 and len(buf) >= 10:
                    length, offset = struct.unpack("!Q", buf[2:10])[0], 10
                if length < 126 or offset > 2:
                    if len(buf) >= offset + length:
                        opcode = buf[0] & 0x0F
                        payload = bytes(buf[offset : offset + length])
                        del buf[: offset + length]
                        return opcode, payload
            if not self._fill():
                raise EOFError("connection closed before a whole frame")

    def read_close(self) -> int | None:
        """Read frames until a close frame; return its code (None when it has none)."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if payload else None

    def wait_eof(self, timeout: float = TIMEOUT) -> float:
        """Read and discard until the server closes the connection; return seconds taken.

        Raises:
            TimeoutError: still open after ``timeout`` seconds.
        """
        started = time.monotonic()
        deadline = started + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the server kept the connection open for {timeout} s")
            self.sock.settimeout(remaining)
            try:
                if not self.sock.recv(65536):
                    return time.monotonic() - started
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - started
            except TimeoutError:
                continue

    def reset(self) -> None:
        """Vanish abruptly: close with SO_LINGER 0, so the peer gets a TCP RST."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def half_close(self) -> None:
        """Send FIN but keep reading."""
        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class Accepted:
    """Records the server's end of each connection and the code each one closed with."""

    def __init__(self, server: wscli.Server) -> None:
        self.opened: queue.Queue[wscli.WebSocket] = queue.Queue()
        self.closed: queue.Queue[tuple[wscli.WebSocket, int]] = queue.Queue()
        server.on("connection", self._on_connection)

    def _on_connection(self, ws: wscli.WebSocket, request: Any) -> None:
        ws.on("close", lambda code, reason: self.closed.put((ws, code)))
        self.opened.put(ws)

    def next_open(self) -> wscli.WebSocket:
        return self.opened.get(timeout=TIMEOUT)

    def next_close(self, timeout: float = TIMEOUT) -> tuple[wscli.WebSocket, int]:
        return self.closed.get(timeout=timeout)


@contextlib.contextmanager
def serving(**options: Any) -> Iterator[wscli.Server]:
    """An echo server on 127.0.0.1 with the given options, closed on exit."""
    server = wscli.Server("127.0.0.1", 0, **options)
    server.on("connection", lambda ws, req: ws.on("message", lambda data, flags: ws.send(data)))
    try:
        yield server
    finally:
        server.close(timeout=TIMEOUT)


def assert_echoes(server: wscli.Server, message: str = "still here") -> None:
    """A well-behaved client connects, gets its echo, and closes cleanly."""
    with wscli.connect(server.url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        ws.send(message)
        assert ws.recv(TIMEOUT) == message


def wait_for(predicate: Callable[[], Any], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


def flood(sock: socket.socket, chunk: bytes, limit: int, stall: float = 0.5) -> int:
    """Write ``chunk`` repeatedly without reading, until ``limit`` bytes went out or the
    peer stopped taking them for ``stall`` seconds; return the bytes written."""
    sock.setblocking(False)
    sent = 0
    pending = memoryview(b"")
    last_progress = time.monotonic()
    deadline = last_progress + 4 * TIMEOUT
    while sent < limit and time.monotonic() < deadline:
        if not pending:
            pending = memoryview(chunk)
        try:
            n = sock.send(pending)
        except BlockingIOError:
            if time.monotonic() - last_progress > stall:
                break
            time.sleep(0.005)
            continue
        sent += n
        pending = pending[n:]
        last_progress = time.monotonic()
    sock.settimeout(TIMEOUT)
    return sent


class HostileServer:
    """A listening socket that answers one client however ``behave`` decides.

    ``behave(conn, response_101, stop)`` gets the accepted socket after the request was
    read, the valid 101 answer for it, and an event set when the test ends; it may send
    anything. The connection stays open (the hostile part) until the test ends.
    """

    def __init__(self, behave: Callable[[socket.socket, bytes, threading.Event], None]) -> None:
        self.behave = behave
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hostile-server", daemon=True)

    def _run(self) -> None:
        self.listener.settimeout(TIMEOUT)
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        return
                    request += data
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in request.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
                response = (
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
                self.behave(conn, response, self.stop)
            except OSError:
                return
            self.stop.wait(4 * TIMEOUT)

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        self.listener.close()
        self.thread.join(TIMEOUT)


# -- server side: the opening handshake -----------------------------------------------------


def test_stalled_handshakes_are_dropped_after_open_timeout_while_others_are_served() -> None:
    with serving(open_timeout=OPEN_TIMEOUT) as server:
        started = time.monotonic()
        stalled = [RawClient(server.port) for _ in range(20)]
        silent = [RawClient(server.port) for _ in range(5)]  # TCP only, not one byte
        for client in stalled:
            client.send(upgrade_request()[:40])
        # While they stall, a well-behaved client is served, more than once.
        for index in range(3):
            assert_echoes(server, f"served while others stall #{index}")
        drops = [client.wait_eof(OPEN_TIMEOUT + TIMEOUT) for client in stalled + silent]
        slowest = time.monotonic() - started
        for client in stalled + silent:
            client.close()
        assert slowest < OPEN_TIMEOUT + TIMEOUT
        assert wait_for(lambda: server.connection_count == 0)
        assert_echoes(server)
    print(
        f"\nstalled handshake dropped {slowest:.3f} s after connecting "
        f"(open_timeout={OPEN_TIMEOUT}; slowest wait_eof {max(drops):.3f} s)"
    )


def test_handshake_dripping_one_byte_at_a_time_is_dropped_at_open_timeout() -> None:
    """Progress does not extend the deadline: a slowloris client is still dropped."""
    with serving(open_timeout=OPEN_TIMEOUT) as server, RawClient(server.port) as client:
        request = upgrade_request()
        started = time.monotonic()
        dropped = False
        for byte in request[:-4]:
            try:
                client.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            if time.monotonic() - started > OPEN_TIMEOUT + TIMEOUT:
                break
            time.sleep(0.02)
        if not dropped:
            client.wait_eof(OPEN_TIMEOUT + TIMEOUT)
        assert time.monotonic() - started < OPEN_TIMEOUT + TIMEOUT
        assert_echoes(server)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02 binary",
        b"hello there\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Bin: \x00\x01\x02\r\n\r\n",
        b"\xff" * 20000,  # no end of head at all: refused once it passes the size limit
    ],
    ids=[
        "binary",
        "not-http",
        "http-1.0",
        "malformed-header",
        "control-chars",
        "binary-no-head-end",
    ],
)
def test_garbage_instead_of_http_gets_400_and_is_closed(garbage: bytes) -> None:
    with serving(open_timeout=TIMEOUT) as server, RawClient(server.port) as client:
        client.send(garbage)
        status, _head = client.read_head()
        assert status == 400
        client.wait_eof()
        assert_echoes(server)


def test_tls_client_hello_gets_no_answer_and_is_closed() -> None:
    """A TLS client cannot read a 400: the plain server just hangs up, at once."""
    hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(64)
    with serving(open_timeout=6 * TIMEOUT) as server, RawClient(server.port) as client:
        client.send(hello)
        received = b""
        while chunk := client.sock.recv(4096):  # up to the server's close (TIMEOUT)
            received += chunk
        assert received == b""
        assert_echoes(server)


def test_plain_http_request_gets_426() -> None:
    with serving() as server, RawClient(server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, head = client.read_head()
        assert status == 426
        assert b"upgrade: websocket" in head.lower()


@pytest.mark.parametrize("how", ["reset", "half-close"])
def test_peer_vanishing_mid_handshake_is_forgotten(how: str) -> None:
    with serving(open_timeout=TIMEOUT) as server:
        client = RawClient(server.port)
        client.send(upgrade_request()[:60])
        assert wait_for(lambda: server.connection_count == 1)
        if how == "reset":
            client.reset()
        else:
            client.half_close()
            client.wait_eof()  # the server closes its side at once, long before open_timeout
            client.close()
        assert wait_for(lambda: server.connection_count == 0)
        assert_echoes(server)


# -- server side: mid-frame and mid-close ---------------------------------------------------


@pytest.mark.parametrize("how", ["reset", "half-close"])
def test_peer_vanishing_mid_frame_closes_1006_and_server_keeps_serving(how: str) -> None:
    with serving() as server:
        accepted = Accepted(server)
        client = RawClient(server.port).upgrade()
        ws = accepted.next_open()
        client.send(client_frame(0x2, b"x" * 1000)[:500])  # header and half the payload
        if how == "reset":
            client.reset()
        else:
            client.half_close()
        closed, code = accepted.next_close()
        assert closed is ws
        assert code == 1006
        if how == "half-close":
            client.wait_eof()
            client.close()
        assert ws.ready_state == ws.CLOSED
        assert not server.clients
        assert_echoes(server)


def test_peer_that_never_answers_our_close_is_dropped_after_close_timeout() -> None:
    with serving(close_timeout=CLOSE_TIMEOUT) as server:
        accepted = Accepted(server)
        with RawClient(server.port).upgrade() as client:
            ws = accepted.next_open()
            started = time.monotonic()
            ws.close(1000, "bye")
            assert client.read_close() == 1000
            # The client neither answers nor closes: the server drops it.
            client.wait_eof(CLOSE_TIMEOUT + TIMEOUT)
            elapsed = time.monotonic() - started
            _, code = accepted.next_close()
        assert code == 1006
        assert elapsed < CLOSE_TIMEOUT + TIMEOUT
        assert_echoes(server)


def test_peer_resetting_mid_close_is_forgotten_at_once() -> None:
    with serving(close_timeout=TIMEOUT) as server:
        accepted = Accepted(server)
        client = RawClient(server.port).upgrade()
        ws = accepted.next_open()
        ws.close(1001)
        assert client.read_close() == 1001
        client.reset()
        _, code = accepted.next_close(TIMEOUT)
        assert code == 1006
        assert_echoes(server)


def test_peer_that_sends_close_but_never_closes_tcp_is_dropped_after_close_timeout() -> None:
    with serving(close_timeout=CLOSE_TIMEOUT) as server:
        accepted = Accepted(server)
        with RawClient(server.port).upgrade() as client:
            ws = accepted.next_open()
            client.send(client_frame(0x8, struct.pack("!H", 1000)))
            assert client.read_close() == 1000  # the echo
            # Our socket stays open and silent; the server's close event still comes.
            _, code = accepted.next_close(CLOSE_TIMEOUT + TIMEOUT)
            assert code == 1000
            assert ws.ready_state == ws.CLOSED
            client.wait_eof()


# -- server side: floods ----------------------------------------------------------------------


def test_ping_flood_is_answered_in_order_and_the_connection_stays_healthy() -> None:
    with serving() as server, RawClient(server.port).upgrade() as client:
        count = 5000
        payloads = [str(index).encode() for index in range(count)]
        sender = threading.Thread(
            target=client.send, args=(b"".join(client_frame(0x9, p) for p in payloads),)
        )
        sender.start()
        pongs = []
        while len(pongs) < count:
            opcode, payload = client.read_frame()
            assert opcode == 0xA
            pongs.append(payload)
        sender.join(TIMEOUT)
        assert pongs == payloads
        client.send(client_frame(0x1, b"after the flood"))
        assert client.read_frame() == (0x1, b"after the flood")
        assert_echoes(server)


def test_ping_flood_from_a_peer_that_never_reads_keeps_server_memory_bounded() -> None:
    """Pongs to a peer that reads nothing must not pile up without limit.

    Reading from that peer should pause while its outgoing buffer is over
    ``write_limit``, as it does for unread incoming messages.
    """
    write_limit = 256 * 1024
    with serving(write_limit=write_limit) as server:
        accepted = Accepted(server)
        with RawClient(server.port).upgrade() as client:
            ws = accepted.next_open()
            pings = client_frame(0x9, b"p" * 125) * 1024
            sent = flood(client.sock, pings, limit=16 * 2**20)
            assert_echoes(server, "served during the ping flood")
            buffered = ws.buffered_amount
            assert ws.ready_state == ws.OPEN
        print(
            f"\nping flood: client wrote {sent / 2**20:.1f} MiB, server buffered "
            f"{buffered / 2**20:.1f} MiB of pongs"
        )
        assert buffered <= write_limit + 2**20, (
            f"{buffered} bytes of pongs buffered for a peer that never reads"
        )


def test_fast_writer_that_never_reads_keeps_echo_server_memory_bounded() -> None:
    """An echo listener (reactor thread, never blocked) writing to a peer that never reads.

    The listener's data is buffered, so reading must stop while the buffer is over
    ``write_limit``: otherwise the peer controls how much memory the server uses.
    """
    write_limit = 256 * 1024
    with serving(write_limit=write_limit) as server:
        accepted = Accepted(server)
        with RawClient(server.port).upgrade() as client:
            ws = accepted.next_open()
            sent = flood(client.sock, client_frame(0x2, b"x" * 65536), limit=32 * 2**20)
            assert_echoes(server, "served while a peer floods")
            buffered = ws.buffered_amount
        print(
            f"\nfast writer: client wrote {sent / 2**20:.1f} MiB, server buffered "
            f"{buffered / 2**20:.1f} MiB of echoes"
        )
        assert buffered <= write_limit + 2**20, (
            f"{buffered} bytes of echoes buffered for a peer that never reads"
        )


def test_decompression_bomb_closes_1009_without_inflating_it() -> None:
    max_payload = 2**20
    with serving(per_message_deflate=True, max_payload=max_payload) as server:
        accepted = Accepted(server)
        with RawClient(server.port) as client:
            client.upgrade(headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
            ws = accepted.next_open()
            assert "permessage-deflate" in ws.extensions
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            bomb = compressor.compress(b"\0" * (64 * 2**20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
            bomb = bomb[:-4]  # RFC 7692 §7.2.1: strip the 00 00 ff ff trailer
            assert len(bomb) < 128 * 1024  # 64 MiB of zeros, well under 1 MiB on the wire
            client.send(client_frame(0x2, bomb, rsv1=True))
            assert client.read_close() == 1009
            client.wait_eof()
        accepted.next_close()
        assert isinstance(ws.error, wscli.PayloadTooBig)
        assert_echoes(server)


# -- client side: hostile servers ------------------------------------------------------------


def test_client_open_timeout_when_server_reads_the_request_and_never_answers() -> None:
    with HostileServer(lambda conn, ok, stop: None) as hostile:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            wscli.connect(hostile.url, open_timeout=OPEN_TIMEOUT)
        assert time.monotonic() - started < OPEN_TIMEOUT + TIMEOUT


def test_client_open_timeout_when_server_drips_its_answer() -> None:
    def drip(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        for byte in ok[:-4]:
            if stop.wait(0.05):
                return
            conn.sendall(bytes([byte]))

    with HostileServer(drip) as hostile:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            wscli.connect(hostile.url, open_timeout=OPEN_TIMEOUT)
        assert time.monotonic() - started < OPEN_TIMEOUT + TIMEOUT


def test_client_refuses_endless_response_head_with_handshake_error() -> None:
    """A head past the size limit is a handshake failure, not a timeout: fail at once."""

    def endless(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\n")
        while not stop.is_set():
            conn.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")

    with HostileServer(endless) as hostile:
        started = time.monotonic()
        with pytest.raises(wscli.HandshakeError, match="larger than"):
            wscli.connect(hostile.url, open_timeout=TIMEOUT)
        assert time.monotonic() - started < TIMEOUT


def test_client_refuses_malformed_response_at_once_when_server_keeps_the_connection() -> None:
    def garbage_head(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\nnot http at all\r\n\r\n")

    with HostileServer(garbage_head) as hostile:
        with pytest.raises(wscli.HandshakeError, match="malformed status line"):
            wscli.connect(hostile.url, open_timeout=TIMEOUT)


def test_client_garbage_after_upgrade_fails_with_1002_within_close_timeout() -> None:
    def garbage(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok)
        stop.wait(0.1)
        conn.sendall(b"\xff" * 100)

    with HostileServer(garbage) as hostile:
        ws = wscli.connect(hostile.url, open_timeout=TIMEOUT, close_timeout=CLOSE_TIMEOUT)
        started = time.monotonic()
        with pytest.raises(wscli.ConnectionClosedError) as info:
            ws.recv(TIMEOUT)
        assert ws.wait_closed(CLOSE_TIMEOUT + TIMEOUT)
        assert time.monotonic() - started < CLOSE_TIMEOUT + TIMEOUT
        assert info.value.sent is not None and info.value.sent.code == 1002
        assert isinstance(ws.error, wscli.ProtocolError)


@pytest.mark.parametrize(
    ("length", "code"),
    [(2**62, 1009), (2**63 + 5, 1002), (2**26 + 1, 1009)],
    ids=["huge", "invalid-64-bit", "just-over-default-max"],
)
def test_client_huge_frame_length_fails_at_the_header(length: int, code: int) -> None:
    def huge(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok)
        stop.wait(0.1)
        conn.sendall(server_frame(0x2, length=length) + b"x" * 1000)

    with HostileServer(huge) as hostile:
        ws = wscli.connect(hostile.url, open_timeout=TIMEOUT, close_timeout=CLOSE_TIMEOUT)
        with pytest.raises(wscli.ConnectionClosedError) as info:
            ws.recv(TIMEOUT)
        assert info.value.sent is not None and info.value.sent.code == code
        assert ws.wait_closed(CLOSE_TIMEOUT + TIMEOUT)


def test_client_close_completes_when_server_stalls_mid_close() -> None:
    def stall(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok)

    with HostileServer(stall) as hostile:
        ws = wscli.connect(hostile.url, open_timeout=TIMEOUT, close_timeout=CLOSE_TIMEOUT)
        started = time.monotonic()
        ws.close(1000)
        assert ws.wait_closed(CLOSE_TIMEOUT + TIMEOUT)
        assert time.monotonic() - started < CLOSE_TIMEOUT + TIMEOUT
        assert ws.close_code == 1006
        with pytest.raises(wscli.ConnectionClosedError):
            ws.recv(TIMEOUT)


def test_client_recv_raises_when_server_resets_mid_frame() -> None:
    def vanish(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok + server_frame(0x2, b"y" * 1000)[:300])
        stop.wait(0.1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    with HostileServer(vanish) as hostile:
        ws = wscli.connect(hostile.url, open_timeout=TIMEOUT, close_timeout=TIMEOUT)
        with pytest.raises(wscli.ConnectionClosedError):
            ws.recv(TIMEOUT)
        assert ws.close_code == 1006


def test_client_that_never_reads_pauses_the_flooding_server() -> None:
    """max_queue on the client: unread messages stop the reading, none is lost."""
    received: queue.Queue[int] = queue.Queue()

    def flooder(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok)
        frame = server_frame(0x2, b"z" * 4096)
        received.put(flood(conn, frame, limit=256 * 2**20))

    with HostileServer(flooder) as hostile:
        ws = wscli.connect(hostile.url, open_timeout=TIMEOUT, max_queue=16)
        sent = received.get(timeout=8 * TIMEOUT)
        assert sent < 256 * 2**20, "the client kept reading with its queue full"
        messages = sent // (4096 + 4)
        for _ in range(messages):
            assert ws.recv(TIMEOUT) == b"z" * 4096
        ws.terminate()


def test_client_ping_flood_from_server_that_never_reads_stays_bounded() -> None:
    """The client answers every ping; its pongs must not pile up without limit."""
    write_limit = 256 * 1024
    done: queue.Queue[int] = queue.Queue()

    def flooder(conn: socket.socket, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok)
        done.put(flood(conn, server_frame(0x9, b"p" * 125) * 1024, limit=16 * 2**20))

    with HostileServer(flooder) as hostile:
        ws = wscli.connect(hostile.url, open_timeout=TIMEOUT, write_limit=write_limit)
        done.get(timeout=8 * TIMEOUT)
        buffered = ws.buffered_amount
        ws.terminate()
    assert buffered <= write_limit + 2**20, (
        f"{buffered} bytes of pongs buffered for a server that never reads"
    )
