"""draft-hixie-thewebsocketprotocol-76, the server side, behind the :class:`Protocol` API.

Browsers of 2010-2011 (Safari 5, Chrome 6-13, Firefox 4 betas, Opera 11) spoke this
draft. It differs from RFC 6455 in three places:

* **Handshake** (hixie-76 §1.3, §5.2). The client sends ``Sec-WebSocket-Key1`` and
  ``Sec-WebSocket-Key2`` and then, after the blank line that ends the head, 8 more
  bytes (*key3*) that no ``Content-Length`` announces: the request parser must wait for
  them. Each key hides a number: its digits read as a decimal integer, divided by the
  count of spaces in it. The server answers ``101 WebSocket Protocol Handshake`` with
  ``Sec-WebSocket-Origin`` and ``Sec-WebSocket-Location``, followed by a 16-byte body:
  the MD5 of the two numbers (32-bit big-endian each) and key3.
* **Framing** (§4.2, §5.3). Text travels as ``0x00``, UTF-8 bytes, ``0xFF``. Frames
  whose type byte has its high bit set carry a length in 7-bit groups and are
  discarded, except ``0xFF 0x00``, which starts or answers the closing handshake.
  There is no masking, no binary message, no ping or pong, no close code.
* **Closing** (§4.2, §5.3). Either side sends ``0xFF 0x00``; the other answers it, and
  the server then closes the TCP connection.

:func:`enable_hixie76` turns a fresh :class:`~wscli.core.server.ServerProtocol` into a
:class:`Hixie76ServerProtocol`, which behaves exactly like its parent until a request
carrying ``Sec-WebSocket-Key1``/``Key2`` arrives. The I/O layer above sees the same
methods and events, so nothing there changes: a clean closing handshake is reported as
a :class:`~wscli.core.frames.Close` with code 1000, the nearest RFC 6455 meaning.
"""

from __future__ import annotations

import hashlib
import struct

from ..events import Message
from ..exceptions import HandshakeError, InvalidState
from ..frames import Close, CloseCode
from ..headers import Headers
from ..http11 import Request, Response, parse_request
from ..protocol import State
from ..server import Refusal, ServerProtocol

__all__ = [
    "HIXIE76",
    "Hixie76ServerProtocol",
    "enable_hixie76",
    "key_number",
    "challenge_response",
]

#: What ``protocol_version`` reports for a hixie-76 connection.
HIXIE76 = "hixie-76"

_CLOSING_FRAME = b"\xff\x00"
_KEY3_SIZE = 8


def key_number(key: str) -> int:
    """Decode one ``Sec-WebSocket-Key1/2`` value into its 32-bit number (hixie-76 §5.2).

    Raises:
        ValueError: the key has no spaces (a sign of a cross-protocol attack, says the
            draft), its number is not a multiple of the spaces, or the result does
            not fit in 32 bits.
    """
    digits = "".join(c for c in key if "0" <= c <= "9")
    spaces = key.count(" ")
    if not digits:
        raise ValueError("key has no digits")
    if spaces == 0:
        raise ValueError("key has no spaces")
    number = int(digits)
    if number % spaces:
        raise ValueError("key number is not a multiple of its spaces")
    part = number // spaces
    if part > 0xFFFFFFFF:
        raise ValueError("key number does not fit in 32 bits")
    return part


def challenge_response(key1: str, key2: str, key3: bytes) -> bytes:
    """Compute the 16-byte body of the server's answer (hixie-76 §5.2, step 4 ff.).

    Raises:
        ValueError: a key is malformed (see :func:`key_number`) or key3 is not 8 bytes.
    """
    if len(key3) != _KEY3_SIZE:
        raise ValueError("key3 must be 8 bytes")
    challenge = struct.pack(">II", key_number(key1), key_number(key2)) + key3
    return hashlib.md5(challenge).digest()


class Hixie76ServerProtocol(ServerProtocol):
    """A server protocol that also speaks hixie-76 to clients that ask for it.

    Construct it as a :class:`~wscli.core.server.ServerProtocol`, or convert a fresh
    one with :func:`enable_hixie76`. :attr:`version` becomes ``"hixie-76"`` once such a
    request is read; until then, and for RFC 6455 and hybi-08 clients, every method
    is the parent's.

    Args:
        secure: whether the connection runs over TLS, which decides the scheme of
            ``Sec-WebSocket-Location`` (``wss`` or ``ws``). Other arguments are
            :class:`~wscli.core.server.ServerProtocol`'s.
    """

    #: Whether this connection speaks hixie-76 (class defaults let enable_hixie76 convert).
    hixie = False
    secure = False

    def __init__(self, *args: object, secure: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.secure = secure

    # -- handshake ----------------------------------------------------------------------

    def _receive_handshake(self) -> None:
        if self.request is not None:
            return
        try:
            parsed = parse_request(
                self._buf, max_size=self.max_head_size, max_headers=self.max_headers
            )
        except HandshakeError:
            super()._receive_handshake()  # refuses with 400, as for any client
            return
        if parsed is None:
            return
        request, used = parsed
        headers = request.headers
        if "Sec-WebSocket-Key1" not in headers and "Sec-WebSocket-Key2" not in headers:
            super()._receive_handshake()
            return
        # hixie-76 §4.1 step 38 / §5.2: key3, 8 bytes, follows the head unannounced.
        if len(self._buf) < used + _KEY3_SIZE:
            return
        request.body = bytes(self._buf[used : used + _KEY3_SIZE])
        del self._buf[: used + _KEY3_SIZE]
        self.handshake_size = used + _KEY3_SIZE
        self.hixie = True
        self.version = HIXIE76
        self.request = request
        if self._debug:
            self.logger.debug("< %s %s (hixie-76)", request.method, request.path)
        self._events.append(request)

    def accept(self, request: Request) -> Response:
        """Check a hixie-76 request and build the answer with its challenge response.

        Requests of the other versions are the parent's business.
        """
        if not self.hixie:
            return super().accept(request)
        try:
            body = self._check_hixie_request(request)
            origin = self._hixie_origin(request)
            protocol = self._hixie_subprotocol(request)
        except Refusal as exc:
            self.handshake_exc = HandshakeError(str(exc))
            return self.reject(exc.status, f"Failed to open a WebSocket connection: {exc}.\n")
        headers = Headers()
        headers["Upgrade"] = "WebSocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Origin"] = origin or "null"
        scheme = "wss" if self.secure else "ws"
        headers["Sec-WebSocket-Location"] = f"{scheme}://{request.headers['Host']}{request.path}"
        if protocol is not None:
            headers["Sec-WebSocket-Protocol"] = protocol
        self.subprotocol = protocol
        return Response(101, "WebSocket Protocol Handshake", headers, body)

    def _check_hixie_request(self, request: Request) -> bytes:
        self._check_upgrade(request)
        headers = request.headers
        keys = [headers.get_all("Sec-WebSocket-Key1"), headers.get_all("Sec-WebSocket-Key2")]
        if any(len(values) != 1 for values in keys):
            raise Refusal(400, "hixie-76 needs one Sec-WebSocket-Key1 and one Key2 header")
        try:
            return challenge_response(keys[0][0], keys[1][0], request.body)
        except ValueError as exc:
            raise Refusal(400, f"invalid hixie-76 key: {exc}") from exc

    def _hixie_origin(self, request: Request) -> str | None:
        values = request.headers.get_all("Origin")
        if len(values) > 1:
            raise Refusal(400, "repeated Origin header")
        origin = values[0] if values else None
        if self.origins is not None and origin not in self.origins:
            raise Refusal(403, f"origin {origin or '(none)'} is not allowed")
        return origin

    def _hixie_subprotocol(self, request: Request) -> str | None:
        # hixie-76 names one subprotocol, and the server echoes it or leaves it out.
        offered = request.headers.get("Sec-WebSocket-Protocol")
        if not offered:
            return None
        if self.select_subprotocol is not None:
            chosen = self.select_subprotocol([offered], request)
            if chosen is not None and chosen != offered:
                raise Refusal(500, f"selected subprotocol {chosen} wasn't offered")
            return chosen
        if self.available_subprotocols is not None:
            return offered if offered in self.available_subprotocols else None
        return offered if self.accept_any_subprotocol else None

    # -- framing --------------------------------------------------------------------------

    def _parse(self, data: bytes | bytearray | memoryview | None = None) -> None:
        if not self.hixie:
            super()._parse(data)
            return
        if data is not None:
            self._buf += data
        buf = self._buf
        pos = 0
        try:
            while not self._discard and pos < len(buf):
                step = self._parse_frame(buf, pos)
                if step is None:
                    break
                pos = step
        finally:
            if self._discard:
                self._buf = bytearray()
            elif pos:
                del buf[:pos]

    def _parse_frame(self, buf: bytearray, pos: int) -> int | None:
        """Handle the frame at ``pos``; return where the next starts, None if incomplete."""
        frame_type = buf[pos]
        limit = self.max_size
        if frame_type & 0x80:
            # hixie-76 §5.3: a length in 7-bit groups, high bit meaning "more follows".
            length = 0
            index = pos + 1
            while True:
                if index >= len(buf):
                    return None
                byte = buf[index]
                index += 1
                length = (length << 7) | (byte & 0x7F)
                if limit is not None and length > limit:
                    self._fail(CloseCode.MESSAGE_TOO_BIG, "frame too big")
                    return None
                if not byte & 0x80:
                    break
            if frame_type == 0xFF and length == 0:
                self._closing_frame_received()
                return index
            if len(buf) - index < length:
                return None
            return index + length  # §5.3: other length-prefixed frames are discarded
        end = buf.find(b"\xff", pos + 1)
        if end < 0:
            if limit is not None and len(buf) - pos - 1 > limit:
                self._fail(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return None
        if frame_type == 0x00:
            # §5.3 leaves invalid UTF-8 to the server; replacing it keeps the stream going.
            text = bytes(buf[pos + 1 : end]).decode("utf-8", "replace")
            if self._debug:
                self.logger.debug("< TEXT %r (hixie-76)", text[:80])
            self._events.append(Message(text))
        return end + 1  # §5.3: sentinel frames of other types are discarded

    def _closing_frame_received(self) -> None:
        if self._debug:
            self.logger.debug("< CLOSE (hixie-76)")
        # No close code exists in hixie-76; a clean closing handshake is a normal closure.
        close = Close(CloseCode.NORMAL_CLOSURE, "")
        self.close_rcvd = close
        if self.state is State.OPEN:
            # §5.3: answer the closing frame, then close the connection.
            self.close_sent = close
            self.close_rcvd_then_sent = True
            self._out.append(_CLOSING_FRAME)
            self.state = State.CLOSING
        self._discard = True
        self._events.append(close)
        self._send_eof()

    # -- sending ---------------------------------------------------------------------------

    def send_text(self, data: bytes, fin: bool = True, *, compress: bool | None = None) -> None:
        """Send a text frame: ``0x00``, the UTF-8 bytes, ``0xFF`` (hixie-76 §4.2).

        Raises:
            InvalidState: the connection is not open, or ``fin`` is False (hixie-76
                has no fragments).
            ValueError: ``data`` holds a 0xFF byte, which UTF-8 never does.
        """
        if not self.hixie:
            super().send_text(data, fin, compress=compress)
            return
        self._check_open()
        if not fin:
            raise InvalidState("hixie-76 has no fragmented messages")
        if b"\xff" in data:
            raise ValueError("text must be utf-8, which never contains 0xff")
        if self._debug:
            self.logger.debug("> TEXT %r (hixie-76)", data[:80])
        self._out.append(b"\x00" + bytes(data) + b"\xff")

    def send_binary(self, data: bytes, fin: bool = True, *, compress: bool | None = None) -> None:
        """Send a binary message; hixie-76 defines none, so that raises.

        Raises:
            InvalidState: on a hixie-76 connection, always.
        """
        if not self.hixie:
            super().send_binary(data, fin, compress=compress)
            return
        raise InvalidState("hixie-76 has no binary messages")

    def send_continuation(self, data: bytes, fin: bool) -> None:
        """Send a fragment; hixie-76 has none, so that raises there."""
        if not self.hixie:
            super().send_continuation(data, fin)
            return
        raise InvalidState("hixie-76 has no fragmented messages")

    def send_ping(self, data: bytes = b"") -> None:
        """Send a ping; hixie-76 has none, so that raises there."""
        if not self.hixie:
            super().send_ping(data)
            return
        raise InvalidState("hixie-76 has no ping or pong")

    def send_pong(self, data: bytes = b"") -> None:
        """Send a pong; hixie-76 has none, so that raises there."""
        if not self.hixie:
            super().send_pong(data)
            return
        raise InvalidState("hixie-76 has no ping or pong")

    def send_close(self, code: int | None = None, reason: str = "") -> None:
        """Start the closing handshake with ``0xFF 0x00``; the code and reason stay local.

        Raises:
            InvalidState: the connection is not open.
            ValueError: the code may not be sent, or the reason is too long.
        """
        if not self.hixie:
            super().send_close(code, reason)
            return
        self._check_open()
        close = Close(CloseCode.NORMAL_CLOSURE if code is None else code, reason)
        close.check()
        if self._debug:
            self.logger.debug("> CLOSE (hixie-76)")
        self.close_sent = close
        self.close_rcvd_then_sent = False
        self._out.append(_CLOSING_FRAME)
        self.state = State.CLOSING

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection: hixie-76 has no close code to send, so just close TCP."""
        if not self.hixie:
            super().fail(code, reason)
            return
        if self.state is State.OPEN:
            self.state = State.CLOSING
        self._discard = True
        self._send_eof()


def enable_hixie76(proto: ServerProtocol, *, secure: bool = False) -> Hixie76ServerProtocol:
    """Let a fresh server protocol accept hixie-76 clients too; returns the same object.

    The object keeps its identity (the I/O layer already holds it) and becomes a
    :class:`Hixie76ServerProtocol`.

    Args:
        proto: a server protocol that has not read anything yet.
        secure: whether the connection runs over TLS (for ``Sec-WebSocket-Location``).

    Raises:
        InvalidState: the protocol already received its request.
    """
    if proto.request is not None or proto.state is not State.CONNECTING:
        raise InvalidState("enable hixie-76 before the request arrives")
    proto.__class__ = Hixie76ServerProtocol
    assert isinstance(proto, Hixie76ServerProtocol)
    proto.secure = secure
    return proto
