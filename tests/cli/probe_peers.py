"""Purpose-built servers for the probe tests: a small, correct raw server with one fault each.

:class:`RawServer` speaks RFC 6455 by hand over a plain socket (its own handshake and
frame parsing, independent of the code under test, built with ``tests/helpers``): it
echoes messages, answers pings, fails the connection with the right code on what the
RFC forbids and closes cleanly. Each fault (:class:`Faults`) breaks exactly one of those
behaviours, so a test can check that the probe catches that fault and only that one.
Every socket read has a timeout and every thread is joined by :meth:`RawServer.close`.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import hashlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from helpers import TIMEOUT, build_frame, xor_mask

__all__ = ["Faults", "RawServer", "raw_server", "EVIL_REASON"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A close reason meant to retitle the terminal and fake a line of the report.
EVIL_REASON = b"\x1b]0;owned\x07\nPASS  fake\x1b[2J"
_RESERVED_OPCODES = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}


@dataclass(frozen=True)
class Faults:
    """What the server gets wrong (all ``False``: a correct server)."""

    wrong_accept: bool = False  #: a Sec-WebSocket-Accept for another key
    any_version: bool = False  #: upgrades whatever Sec-WebSocket-Version says
    no_key_check: bool = False  #: upgrades without a valid Sec-WebSocket-Key
    foreign_subprotocol: bool = False  #: chooses a subprotocol nobody offered
    foreign_extension: bool = False  #: accepts an extension nobody offered
    bad_deflate_answer: bool = False  #: answers permessage-deflate with window bits 7
    corrupt_echo: bool = False  #: echoes messages with their first byte changed
    ignore_errors: bool = False  #: carries on after frames the RFC forbids
    silent_on_errors: bool = False  #: says and does nothing after a forbidden frame
    no_close_echo: bool = False  #: never answers a close frame
    wrong_pong: bool = False  #: pongs with another payload
    no_pong: bool = False  #: never answers a ping
    refuse_64_bit_lengths: bool = False  #: closes with 1009 on frames over 65,535 bytes
    fake_deflate: bool = False  #: agrees to permessage-deflate, then refuses RSV1 frames
    accept_bad_close_codes: bool = False  #: echoes any close code
    flood: bool = False  #: sends data frames without end once open
    huge_frame: bool = False  #: announces a 1 TiB frame once open
    never_answer: bool = False  #: accepts TCP, never answers the upgrade
    refuse: bool = False  #: answers every upgrade with 403
    garbage: bool = False  #: answers the upgrade with bytes that are not HTTP
    evil_reason: bool = False  #: close reasons carry terminal escapes and a line break


class RawServer:
    """A hand-written WebSocket echo server on 127.0.0.1 with the given faults."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.connections = 0
        self.accept_thread = threading.Thread(target=self._accept, daemon=True)
        self.accept_thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def close(self) -> None:
        self.stopping.set()
        self.accept_thread.join(TIMEOUT)
        for thread in self.threads:
            thread.join(TIMEOUT)
        self.sock.close()

    # -- one connection -------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        with conn:
            try:
                head = self._read_head(conn)
                if head is None or self.faults.never_answer:
                    self._wait_until_stopped(conn)
                    return
                if not self._upgrade(conn, head):
                    return
                if self.faults.flood:
                    frame = build_frame(2, b"f" * 16384)
                    while not self.stopping.is_set():
                        conn.sendall(frame)
                    return
                if self.faults.huge_frame:
                    conn.sendall(build_frame(2, b"", length=2**40))
                    self._wait_until_stopped(conn)
                    return
                self._frames(conn)
            except OSError:
                return

    def _wait_until_stopped(self, conn: socket.socket) -> None:
        while not self.stopping.is_set():
            try:
                if not conn.recv(65536):
                    return
            except TimeoutError:
                continue

    def _read_head(self, conn: socket.socket) -> dict[str, str] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            if self.stopping.is_set() or len(data) > 200_000:
                return None
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return None
            data += chunk
        lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = (headers[key] + ", " if key in headers else "") + value.strip()
        return headers

    def _upgrade(self, conn: socket.socket, headers: dict[str, str]) -> bool:
        faults = self.faults
        key = headers.get("sec-websocket-key", "")
        version = headers.get("sec-websocket-version", "")
        if faults.garbage:
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\r\n\r\n")
            return False
        if faults.refuse or len(headers.get("x-wscli-probe-padding", "")) > 8192:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return False
        if headers.get("origin", "").endswith(".invalid"):
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return False
        if version != "13" and not faults.any_version:
            conn.sendall(
                b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                b"Content-Length: 0\r\n\r\n"
            )
            return False
        valid_key = False
        with contextlib.suppress(ValueError):
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        if not valid_key and not faults.no_key_check:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        accept_for = "another key" if faults.wrong_accept else key
        accept = base64.b64encode(hashlib.sha1((accept_for + GUID).encode()).digest()).decode()
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept}",
        ]
        if faults.foreign_subprotocol and "sec-websocket-protocol" in headers:
            lines.append("Sec-WebSocket-Protocol: nobody-offered-this")
        offers = headers.get("sec-websocket-extensions", "")
        if faults.foreign_extension and offers:
            lines.append("Sec-WebSocket-Extensions: x-nobody-offered-this")
        elif faults.fake_deflate and "permessage-deflate" in offers:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate")
        elif faults.bad_deflate_answer and "permessage-deflate" in offers:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7")
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return True

    def _reason(self) -> bytes:
        return EVIL_REASON if self.faults.evil_reason else b""

    def _recv_exact(self, conn: socket.socket, buf: bytearray, size: int) -> bool:
        while len(buf) < size:
            if self.stopping.is_set():
                return False
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return False
            buf += chunk
        return True

    def _frames(self, conn: socket.socket) -> None:
        buf = bytearray()
        message: bytearray | None = None
        opcode_of_message = 0
        decoder = codecs.getincrementaldecoder("utf-8")()
        while True:
            if not self._recv_exact(conn, buf, 2):
                return
            first, second = buf[0], buf[1]
            fin, rsv, opcode = first & 0x80, first & 0x70, first & 0x0F
            masked, length, pos = second & 0x80, second & 0x7F, 2
            if length == 126:
                if not self._recv_exact(conn, buf, 4):
                    return
                length, pos = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if not self._recv_exact(conn, buf, 10):
                    return
                length, pos = struct.unpack_from("!Q", buf, 2)[0], 10
            if length > 32 * 2**20:
                return
            need = pos + (4 if masked else 0) + length
            if not self._recv_exact(conn, buf, need):
                return
            mask = bytes(buf[pos : pos + 4]) if masked else b""
            payload = bytes(buf[need - length : need])
            del buf[:need]
            if masked:
                payload = xor_mask(payload, mask)
            error = _violation(fin, rsv, opcode, masked, length, payload, message is not None)
            if error is not None and not (self.faults.accept_bad_close_codes and opcode == 8):
                if self.faults.silent_on_errors:
                    self._wait_until_stopped(conn)
                    return
                if not self.faults.ignore_errors:
                    conn.sendall(build_frame(8, struct.pack("!H", error) + self._reason()))
                    return
            if opcode == 8:
                if not self.faults.no_close_echo:
                    conn.sendall(build_frame(8, payload[:2]))
                    return
                continue
            if length > 65535 and self.faults.refuse_64_bit_lengths:
                conn.sendall(build_frame(8, struct.pack("!H", 1009)))
                return
            if opcode == 9:
                if self.faults.no_pong:
                    continue
                conn.sendall(build_frame(10, b"wrong" if self.faults.wrong_pong else payload))
                continue
            if opcode in (1, 2):
                message, opcode_of_message = bytearray(), opcode
                decoder = codecs.getincrementaldecoder("utf-8")()
            elif opcode != 0 or message is None:
                continue
            message += payload
            if opcode_of_message == 1 and not self.faults.ignore_errors:
                try:
                    decoder.decode(payload, final=bool(fin))
                except UnicodeDecodeError:  # RFC 6455 §8.1, as soon as it is known
                    conn.sendall(build_frame(8, struct.pack("!H", 1007)))
                    return
            if fin:
                data = bytes(message)
                message = None
                if self.faults.corrupt_echo and data:
                    data = bytes([data[0] ^ 1]) + data[1:]
                conn.sendall(build_frame(opcode_of_message, data))


def _violation(
    fin: int, rsv: int, opcode: int, masked: int, length: int, payload: bytes, in_message: bool
) -> int | None:
    """The close code a frame calls for (RFC 6455 §5, §7.4), or ``None`` when it is valid."""
    if not masked or rsv or opcode in _RESERVED_OPCODES:
        return 1002
    if opcode >= 8 and (not fin or length > 125):
        return 1002
    if opcode == 0 and not in_message:
        return 1002
    if opcode in (1, 2) and in_message:
        return 1002
    if opcode == 8:
        if len(payload) == 1:
            return 1002
        if len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            if not (
                code in {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011}
                or 3000 <= code < 5000
            ):
                return 1002
    return None


@contextlib.contextmanager
def raw_server(**faults: bool) -> Iterator[RawServer]:
    """A :class:`RawServer` with these faults, closed and joined afterwards."""
    server = RawServer(Faults(**faults))
    try:
        yield server
    finally:
        server.close()
