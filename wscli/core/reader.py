"""The receiving half of :class:`~wscli.core.protocol.Protocol`: frames in, messages out.

:class:`MessageReader` owns the bytes received and not yet parsed, the frame arriving in
pieces and the message being reassembled. It checks each frame header against the
rules of RFC 6455 §5 (masking, opcodes, reserved bits, fragmentation, size limits),
validates text as UTF-8 while it arrives (§8.1), decodes extensions, and appends each
whole :class:`~wscli.core.events.Message` to the event queue. (It judges what it reads;
:class:`wscli.core.craft.FrameReader` splits a peer's frames without judging them.)

It is a base class rather than a separate object because the parser is the per-message
hot path: the state machine and the parser share one set of slots, with no indirection
between them. What the reader cannot decide alone it hands to the protocol through two
methods the protocol implements: :meth:`MessageReader._fail` (the peer broke the rules)
and :meth:`MessageReader._handle_control` (a ping, pong or close frame arrived).

When the C extension is in use, runs of whole, simple data frames go through its
``parse_frames`` (see :mod:`wscli.core.masking`); the Python parser below gives the same
events and bytes and handles everything else.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import masking
from .events import Message
from .exceptions import PayloadTooBig, ProtocolError
from .extensions.base import Extension, decode_frame
from .frames import CloseCode, Frame, Opcode, control_frame_error
from .masking import SPEEDUPS, apply_mask
from .utf8 import new_decoder, pending_is_invalid

if TYPE_CHECKING:
    import logging

__all__ = ["MessageReader", "JOIN_LIMIT"]

#: Payloads at least this large go out as their own chunk, not copied after the header;
#: received, they are unmasked straight into the buffer handed out (PayloadBuffer) once
#: 1/_PREALLOCATE_RATIO of them arrived: a peer cannot make us reserve 16x what it sent.
#: (Not 8x: the first read of a 1 MiB frame on loopback is two 65,483-byte segments,
#: just short of an eighth, and the frame was then copied through self._buf.)
JOIN_LIMIT = 65536
_PREALLOCATE_RATIO = 16
_START_MIN = JOIN_LIMIT // _PREALLOCATE_RATIO
# The C fast path for runs of whole, simple data frames, when the extension is in use.
_parse_frames: Callable[..., int] | None = getattr(SPEEDUPS, "parse_frames", None)
# And where it stops at a large binary frame still arriving, the start of its payload
# buffer (what the general parser below would do, without its Python).
_start_payload: Callable[..., Any] = getattr(SPEEDUPS, "start_payload", None) or (
    lambda *args: None
)
# It builds each Message by setting this slot of a new instance, without calling the
# class: what Message(data) does (Message.__init__ only sets it), at a tenth of the cost.
_MESSAGE_DATA: Any = vars(Message)["data"]

# The opcodes as plain ints for the frame parser: comparing with an IntEnum member costs a
# class attribute lookup each time, several times per frame.
_CONT, _TEXT, _BINARY = int(Opcode.CONT), int(Opcode.TEXT), int(Opcode.BINARY)


class MessageReader:
    """Parse received bytes into frames and reassemble messages, for a protocol.

    Args:
        expect_mask: ``0x80`` when the peer must mask its frames (we are the server),
            ``0`` when it must not (RFC 6455 §5.1).
        max_size: largest incoming message in bytes (after decompression); ``None``
            for no limit.
        max_fragments: most frames one incoming message may span; ``None`` for no limit.
    """

    #: Whether runs of whole, simple data frames go through the C fast path (when the
    #: extension is in use). Set it False on an instance to parse with the general
    #: Python parser only: both give the same events and bytes (the tests compare them).
    use_speedups: bool = _parse_frames is not None

    # The reader's share of the protocol's slots (see Protocol.__slots__).
    __slots__ = (
        "_buf",
        "_decoder",
        "_discard",
        "_events",
        "_expect_mask",
        "_large",
        "_large_first",
        "_msg_compressed",
        "_msg_frames",
        "_msg_parts",
        "_msg_size",
        "_msg_text",
        "_partial",
        "_rsv_allowed",
        "max_fragments",
        "max_size",
    )

    # Set by the protocol, which owns them: the negotiated extensions and the logger.
    extensions: list[Extension]
    logger: logging.Logger | logging.LoggerAdapter[Any]
    _debug: bool

    def __init__(
        self, *, expect_mask: int, max_size: int | None, max_fragments: int | None
    ) -> None:
        self.max_size = max_size
        self.max_fragments = max_fragments
        self._buf = bytearray()
        self._events: list[Any] = []
        # Set once the rest of the input is to be ignored (a close frame or a violation).
        self._discard = False
        self._expect_mask = expect_mask
        # The reserved bits the negotiated extensions may set (set_extensions updates it).
        self._rsv_allowed = 0

        # Message being received.
        self._msg_text: bool | None = None
        self._msg_parts: list[Any] = []
        self._msg_size = 0
        self._msg_frames = 0
        self._msg_compressed = False
        self._decoder: codecs.IncrementalDecoder | None = None
        # Text frame being received piece by piece (validated as it arrives):
        # [fin, mask, remaining, offset, opcode, rsv].
        self._partial: list[Any] | None = None
        # Large payload being received into its own buffer (masking.PayloadBuffer), and
        # the first byte of its frame (FIN, RSV bits, opcode).
        self._large: masking.PythonPayloadBuffer | None = None
        self._large_first = 0

    # -- what the protocol decides ----------------------------------------------------

    def _fail(self, code: int, reason: str) -> bool:
        """Fail the connection because the peer broke the protocol; returns False."""
        raise NotImplementedError

    def _handle_control(self, opcode: int, payload: bytes) -> None:
        """Act on a whole, valid ping, pong or close frame."""
        raise NotImplementedError

    # -- the frame parser ---------------------------------------------------------------

    def _parse(self, data: bytes | bytearray | memoryview | None = None) -> None:
        """Parse ``self._buf``, or ``data`` when given (``self._buf`` being empty then).

        ``data`` is the caller's: nothing taken from it may keep a reference to it
        (every payload is copied out), and what is left of an incomplete frame is
        copied into ``self._buf``.
        """
        buf: Any = self._buf if data is None else data
        n = len(buf)
        pos = 0
        expect_mask = self._expect_mask
        fast = _parse_frames if self.use_speedups and not self._debug else None
        max_size = -1 if self.max_size is None else self.max_size
        try:
            while not self._discard:
                if self._partial is not None:
                    pos = self._continue_partial(buf, pos)
                    if self._partial is not None:
                        break
                    continue
                if fast is not None and self._msg_text is None:
                    # Whole, simple data frames, up to one the general parser must see.
                    end: int = fast(buf, pos, expect_mask, max_size, _MESSAGE_DATA, self._events)
                    if end != pos:
                        pos = end
                        self._msg_frames = 1
                    if n - pos >= _START_MIN:
                        large = _start_payload(
                            buf,
                            pos,
                            expect_mask,
                            max_size,
                            JOIN_LIMIT,
                            _PREALLOCATE_RATIO,
                            masking.PayloadBuffer,
                        )
                        if large is not None:
                            self._large = large
                            self._large_first = 0x82
                            pos = n
                            break
                if n - pos < 2:
                    break
                b0 = buf[pos]
                b1 = buf[pos + 1]
                length = b1 & 0x7F
                hlen = 2
                if length == 126:
                    if n - pos < 4:
                        break
                    length = (buf[pos + 2] << 8) | buf[pos + 3]
                    hlen = 4
                elif length == 127:
                    if n - pos < 10:
                        break
                    length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                    hlen = 10
                    if length >> 63:
                        self._fail(CloseCode.PROTOCOL_ERROR, "invalid frame length")
                        break
                masked = b1 & 0x80
                if masked != expect_mask:
                    self._fail(
                        CloseCode.PROTOCOL_ERROR,
                        "unmasked frame from client" if expect_mask else "masked frame from server",
                    )
                    break
                mask = None
                if masked:
                    if n - pos < hlen + 4:
                        break
                    mask = bytes(buf[pos + hlen : pos + hlen + 4])
                    hlen += 4
                opcode = b0 & 0x0F
                fin = b0 & 0x80
                rsv = b0 & 0x70
                if opcode & 0x08:
                    problem = control_frame_error(opcode, fin, rsv, length)
                    if problem is not None:
                        self._fail(CloseCode.PROTOCOL_ERROR, problem)
                        break
                elif not self._check_data(opcode, rsv, length):
                    break
                start = pos + hlen
                end = start + length
                if end > n:
                    if opcode < 8 and not self._msg_compressed_next(opcode, rsv):
                        if opcode == _TEXT or (opcode == 0 and self._msg_text):
                            self._msg_frames = self._msg_frames + 1 if opcode == 0 else 1
                            # Validate text as it arrives rather than when it ends.
                            self._begin_message(opcode, rsv)
                            self._msg_size += length
                            self._partial = [fin, mask, length, 0, opcode, rsv]
                            pos = start
                            continue
                        if length >= JOIN_LIMIT and (n - start) * _PREALLOCATE_RATIO >= length:
                            # One buffer for the whole payload, filled as it arrives:
                            # with what is here (all of it belongs to the payload), then
                            # through receive_data or payload_buffer().
                            large = self._large = masking.PayloadBuffer(length, mask)
                            self._large_first = b0
                            pos = large.fill(buf, start)
                    break
                if opcode < 8:
                    self._msg_frames = self._msg_frames + 1 if opcode == 0 else 1
                if length < JOIN_LIMIT:
                    payload = bytes(buf[start:end])
                    if mask is not None and length:
                        payload = apply_mask(payload, mask)
                else:
                    # One copy for large payloads: unmask (or copy) straight out of the
                    # buffer instead of slicing it first.
                    with memoryview(buf) as view:
                        chunk = view[start:end]
                        payload = apply_mask(chunk, mask) if mask is not None else bytes(chunk)
                        chunk.release()
                pos = end
                if opcode & 0x08:
                    self._handle_control(opcode, payload)
                else:
                    self._handle_data(opcode, fin, rsv, payload)
        finally:
            if self._discard:
                self._buf = bytearray()
            elif data is not None:
                if pos < n:
                    self._buf = bytearray(buf[pos:])
            elif pos:
                del buf[:pos]

    def _check_data(self, opcode: int, rsv: int, length: int) -> bool:
        if opcode > _BINARY:
            return self._fail(CloseCode.PROTOCOL_ERROR, f"invalid opcode {opcode:#x}")
        if rsv & ~self._rsv_allowed:
            return self._fail(CloseCode.PROTOCOL_ERROR, "reserved bits must be 0")
        if opcode == _CONT:
            if self._msg_text is None:
                return self._fail(CloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
            if rsv & 0x40:
                # RFC 7692 §6: RSV1 marks the first frame of a compressed message only.
                return self._fail(CloseCode.PROTOCOL_ERROR, "rsv1 set on a continuation frame")
            if self.max_fragments is not None and self._msg_frames >= self.max_fragments:
                return self._fail(
                    CloseCode.MESSAGE_TOO_BIG, f"message in more than {self.max_fragments} frames"
                )
            compressed = self._msg_compressed
        else:
            if self._msg_text is not None:
                return self._fail(CloseCode.PROTOCOL_ERROR, "expected a continuation frame")
            compressed = bool(rsv & self._rsv_allowed & 0x40)
        max_size = self.max_size
        if max_size is not None:
            size = length if opcode else self._msg_size + length
            # A compressed payload may inflate; its wire size is bounded loosely here
            # and the inflated size exactly by the extension.
            limit = max_size + (max_size >> 3) + 1024 if compressed else max_size
            if size > limit:
                self._fail(CloseCode.MESSAGE_TOO_BIG, f"message over {max_size} bytes")
                return False
        return True

    def _msg_compressed_next(self, opcode: int, rsv: int) -> bool:
        if opcode == _CONT:
            return self._msg_compressed
        return bool(rsv & 0x40)

    def _begin_message(self, opcode: int, rsv: int) -> None:
        if opcode != _CONT:
            self._msg_text = opcode == _TEXT
            self._msg_parts = []
            self._msg_size = 0
            self._msg_compressed = bool(rsv & 0x40)
            self._decoder = None

    def _end_message(self) -> None:
        self._msg_text = None
        self._msg_parts = []
        self._msg_size = 0
        self._msg_compressed = False
        self._decoder = None

    def _continue_partial(self, buf: Any, pos: int) -> int:
        """Take the bytes of the text frame in progress from ``buf[pos:]``."""
        partial = self._partial
        assert partial is not None
        fin, mask, remaining, offset = partial[:4]
        take: int = min(len(buf) - pos, remaining)
        if take == 0 and remaining:
            return pos
        chunk = bytes(buf[pos : pos + take])
        if mask is not None and take:
            chunk = apply_mask(chunk, mask, offset)
        pos += take
        remaining -= take
        partial[2] = remaining
        partial[3] = offset + take
        if remaining == 0:
            self._partial = None
        self._add_text(chunk, bool(fin) and remaining == 0)
        return pos

    def _payload_complete(self, large: masking.PythonPayloadBuffer) -> None:
        """Handle the large payload now whole as if its frame had arrived whole."""
        self._large = None
        first = self._large_first
        if first == 0x82 and not self._debug:
            # Fast path: a whole binary message in one uncompressed frame.
            self._msg_frames = 1
            self._events.append(Message(large.payload()))
            return
        opcode = first & 0x0F
        self._msg_frames = self._msg_frames + 1 if opcode == 0 else 1
        self._handle_data(opcode, first & 0x80, first & 0x70, large.payload())

    def _add_text(self, data: bytes, final: bool) -> None:
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = new_decoder()
        try:
            text = decoder.decode(data, final)
        except UnicodeDecodeError:
            self._fail(CloseCode.INVALID_DATA, "invalid utf-8 in text message")
            return
        if not final and pending_is_invalid(decoder):
            self._fail(CloseCode.INVALID_DATA, "invalid utf-8 in text message")
            return
        self._msg_parts.append(text)
        if final:
            message = "".join(self._msg_parts)
            self._end_message()
            if self._debug:
                self.logger.debug("< TEXT %d chars", len(message))
            self._events.append(Message(message))

    def _handle_data(self, opcode: int, fin: int, rsv: int, payload: bytes) -> None:
        if opcode != _CONT:
            # Fast path: a whole message in one uncompressed frame.
            if fin and not rsv:
                if opcode == _TEXT:
                    try:
                        text = payload.decode()
                    except UnicodeDecodeError:
                        self._fail(CloseCode.INVALID_DATA, "invalid utf-8 in text message")
                        return
                    if self._debug:
                        self.logger.debug("< TEXT %r", text[:80])
                    self._events.append(Message(text))
                else:
                    if self._debug:
                        self.logger.debug("< BINARY %r", payload[:80])
                    self._events.append(Message(payload))
                return
            self._begin_message(opcode, rsv)
        if self._msg_compressed:
            payload = self._decode_extensions(opcode, fin, rsv, payload)
            if self._discard:
                return
            self._msg_size += len(payload)
        elif opcode == _CONT:
            self._msg_size += len(payload)
        else:
            self._msg_size = len(payload)
        if self._msg_text:
            self._add_text(payload, bool(fin))
            return
        if fin:
            parts = self._msg_parts
            data = b"".join((*parts, payload)) if parts else payload  # one copy
            self._end_message()
            if self._debug:
                self.logger.debug("< BINARY %d bytes", len(data))
            self._events.append(Message(data))
        else:
            self._msg_parts.append(payload)

    def _decode_extensions(self, opcode: int, fin: int, rsv: int, payload: bytes) -> bytes:
        frame = Frame(
            Opcode(opcode), payload, bool(fin), bool(rsv & 0x40), bool(rsv & 0x20), bool(rsv & 0x10)
        )
        remaining = None if self.max_size is None else self.max_size - self._msg_size
        try:
            frame = decode_frame(self.extensions, frame, remaining)
        except PayloadTooBig as exc:
            self._fail(CloseCode.MESSAGE_TOO_BIG, str(exc))
            return b""
        except ProtocolError as exc:
            self._fail(exc.code, str(exc))
            return b""
        return frame.data
