"""Frames built and read exactly as given, valid or not: the tools for testing a peer.

:mod:`wscli.core.frames` and :class:`~wscli.core.protocol.Protocol` only ever produce
frames that RFC 6455 allows. To find out how a peer reacts to one it forbids, a
caller needs the opposite: any opcode (reserved ones too), any FIN and RSV bits, a mask
or none whatever the side, and a length field that disagrees with the payload that
follows. :func:`craft_frame` builds such bytes; :class:`FrameSpec` is the same request
as a value, written and read as text by :func:`parse_frame_spec` (the REPL's ``/frame``
command: ``op=1 fin=0 rsv1=1 mask=none len=200 payload 'abc'``).

The other direction, :class:`FrameReader`, splits what a peer sends into
:class:`RawFrame` values without judging them: a masked frame from a server or a
reserved opcode comes out as it is, so the caller decides what is wrong with it. Its
buffer is bounded: a frame that announces more than ``max_payload`` bytes stops the
reader (:attr:`FrameReader.error`) before a byte of its payload is kept.

Everything here is sans-I/O and standard library only.
"""

from __future__ import annotations

import os
import shlex
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from .masking import apply_mask

__all__ = [
    "OPCODE_NAMES",
    "FrameSpec",
    "RawFrame",
    "FrameReader",
    "craft_frame",
    "parse_opcode",
    "parse_frame_spec",
    "FRAME_SPEC_HELP",
]

#: Names an opcode may be given by, besides its number (RFC 6455 §5.2, §11.8).
OPCODE_NAMES: dict[str, int] = {
    "cont": 0x0,
    "continuation": 0x0,
    "text": 0x1,
    "binary": 0x2,
    "close": 0x8,
    "ping": 0x9,
    "pong": 0xA,
}

#: One-line syntax of :func:`parse_frame_spec`, for help texts.
FRAME_SPEC_HELP = (
    "[op=N|0xN|text|binary|cont|close|ping|pong] [fin=0|1] [rsv1=0|1] [rsv2=0|1] [rsv3=0|1] "
    "[mask=auto|none|HEX8] [len=N] [payload TEXT | hex HEX]"
)

_LONG = struct.Struct("!Q")
_SHORT = struct.Struct("!H")


def craft_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """Build one frame's bytes exactly as asked, whether RFC 6455 allows it or not.

    Args:
        opcode: 0 to 15, reserved values included.
        payload: the payload, unmasked; masked here when ``mask`` is given.
        fin, rsv1, rsv2, rsv3: the header bits.
        mask: four bytes to mask with, or ``None`` for an unmasked frame.
        length: the payload length to announce; ``None`` announces the true one.
            Announcing more than is sent leaves the peer waiting for the rest;
            announcing less makes the remaining bytes look like the next frame.

    Raises:
        ValueError: the opcode is not 0-15, the mask is not 4 bytes, or the length is
            negative or over 2**63 - 1 (the 64-bit field's most significant bit must be
            0, RFC 6455 §5.2; a length that lies is allowed, a header that cannot be
            encoded is not).
    """
    if not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode {opcode} is not between 0 and 15")
    if mask is not None and len(mask) != 4:
        raise ValueError("a mask is 4 bytes")
    announced = len(payload) if length is None else length
    if not 0 <= announced < 2**63:
        raise ValueError(f"length {announced} cannot be encoded")
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
    first |= (0x10 if rsv3 else 0) | opcode
    mask_bit = 0x80 if mask is not None else 0
    if announced < 126:
        header = bytes((first, mask_bit | announced))
    elif announced < 65536:
        header = bytes((first, mask_bit | 126)) + _SHORT.pack(announced)
    else:
        header = bytes((first, mask_bit | 127)) + _LONG.pack(announced)
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


@dataclass(frozen=True)
class FrameSpec:
    """A frame to craft, as a value: what :func:`parse_frame_spec` reads.

    ``mask`` is four bytes, ``None`` for no mask, or ``"auto"``: masked with a fresh
    random mask when the sender is a client (as RFC 6455 §5.3 requires of it), unmasked
    when it is a server.
    """

    opcode: int = 0x1
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    mask: bytes | str | None = "auto"
    length: int | None = None

    def to_bytes(
        self, *, client: bool, make_mask: Callable[[], bytes] = lambda: os.urandom(4)
    ) -> bytes:
        """Build the frame for a sender on the client side (``client=True``) or the server's.

        Raises:
            ValueError: as :func:`craft_frame`.
        """
        mask: bytes | None
        if self.mask == "auto":
            mask = make_mask() if client else None
        elif isinstance(self.mask, str):
            raise ValueError(f"unknown mask {self.mask!r}")
        else:
            mask = self.mask
        return craft_frame(
            self.opcode,
            self.payload,
            fin=self.fin,
            rsv1=self.rsv1,
            rsv2=self.rsv2,
            rsv3=self.rsv3,
            mask=mask,
            length=self.length,
        )

    def describe(self) -> str:
        """One line saying what the frame is, e.g. ``op=0x1 fin=0 rsv1=1 len=200/3 mask=none``."""
        parts = [f"op=0x{self.opcode:x}", f"fin={int(self.fin)}"]
        parts += [
            f"{name}=1"
            for name, on in (("rsv1", self.rsv1), ("rsv2", self.rsv2), ("rsv3", self.rsv3))
            if on
        ]
        if self.length is not None and self.length != len(self.payload):
            parts.append(f"len={self.length}/{len(self.payload)}")
        else:
            parts.append(f"len={len(self.payload)}")
        if self.mask is None:
            parts.append("mask=none")
        elif isinstance(self.mask, bytes):
            parts.append(f"mask={self.mask.hex()}")
        return " ".join(parts)


def parse_opcode(text: str) -> int:
    """Read an opcode given as a name (``text``), a number (``1``) or hex (``0x1``, ``0xA``).

    Raises:
        ValueError: the text names no opcode, or the number is not 0-15.
    """
    lowered = text.strip().lower()
    if lowered in OPCODE_NAMES:
        return OPCODE_NAMES[lowered]
    try:
        value = int(lowered, 16) if lowered.startswith("0x") else int(lowered)
    except ValueError:
        names = ", ".join(sorted(OPCODE_NAMES))
        raise ValueError(f"unknown opcode {text!r}; use 0-15, 0x0-0xf or {names}") from None
    if not 0 <= value <= 0xF:
        raise ValueError(f"opcode {value} is not between 0 and 15")
    return value


def _parse_bit(name: str, value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"{name} is 0 or 1, not {value!r}")
    return value == "1"


def _parse_mask(value: str) -> bytes | str | None:
    lowered = value.lower()
    if lowered in ("auto", "none"):
        return None if lowered == "none" else "auto"
    try:
        mask = bytes.fromhex(lowered)
    except ValueError:
        mask = b""
    if len(mask) != 4:
        raise ValueError(f"mask is auto, none or 8 hex digits, not {value!r}")
    return mask


def _parse_length(value: str) -> int:
    try:
        length = int(value, 0)
    except ValueError:
        raise ValueError(f"len is a number, not {value!r}") from None
    if not 0 <= length < 2**63:
        raise ValueError(f"len {length} cannot be encoded")
    return length


def parse_frame_spec(text: str) -> FrameSpec:
    """Read a frame description such as ``op=1 fin=0 rsv1=1 mask=none len=200 payload 'abc'``.

    Fields are ``key=value`` words in any order (see :data:`FRAME_SPEC_HELP`); the word
    ``payload`` takes the rest of the line as UTF-8 text (shell-style quotes are
    removed), and ``hex`` takes the rest as hex digits (spaces allowed). Without ``op``
    the frame is a text frame; without a payload it is empty.

    Raises:
        ValueError: an unknown key, a value out of range, or unbalanced quotes.
    """
    fields: dict[str, object] = {}
    rest = text.strip()
    while rest:
        word, _, after = rest.partition(" ")
        after = after.lstrip()
        lowered = word.lower()
        if lowered in ("payload", "hex"):
            if lowered == "payload":
                try:
                    pieces = shlex.split(after)
                except ValueError as exc:
                    raise ValueError(f"payload: {exc}".lower()) from None
                fields["payload"] = " ".join(pieces).encode()
            else:
                try:
                    fields["payload"] = bytes.fromhex(after)
                except ValueError:
                    raise ValueError(f"hex payload is not hex: {after!r}") from None
            break
        key, equals, value = word.partition("=")
        key = key.lower()
        if not equals:
            raise ValueError(f"expected key=value, payload or hex, not {word!r}")
        if key in ("op", "opcode"):
            fields["opcode"] = parse_opcode(value)
        elif key in ("fin", "rsv1", "rsv2", "rsv3"):
            fields[key] = _parse_bit(key, value)
        elif key == "mask":
            fields["mask"] = _parse_mask(value)
        elif key in ("len", "length"):
            fields["length"] = _parse_length(value)
        else:
            raise ValueError(f"unknown field {key!r}; fields: op, fin, rsv1-3, mask, len")
        rest = after
    return FrameSpec(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RawFrame:
    """One frame as the peer sent it: nothing checked, the payload unmasked."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0  #: the three RSV bits as a number, RSV1 = 4, RSV2 = 2, RSV3 = 1
    masked: bool = False

    def close_code(self) -> int | None:
        """For a close frame, the status code it carries (``None`` without one)."""
        if self.opcode != 0x8 or len(self.payload) < 2:
            return None
        code: int = _SHORT.unpack_from(self.payload)[0]
        return code


@dataclass
class FrameReader:
    """Split a peer's bytes into :class:`RawFrame` values, with a bound on the buffer.

    Feed bytes with :meth:`feed`, take frames with :meth:`next_frame`. Once a frame
    announces a payload longer than ``max_payload``, :attr:`error` says so, and the
    reader keeps nothing more: memory stays within ``max_payload`` plus a header.
    """

    max_payload: int
    error: str | None = None
    _buf: bytearray = field(default_factory=bytearray)

    @property
    def buffered(self) -> int:
        """Bytes held that do not make a whole frame yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Add bytes read from the peer (ignored once :attr:`error` is set)."""
        if self.error is None:
            self._buf += data

    def next_frame(self) -> RawFrame | None:
        """Return the next whole frame, or ``None`` until more bytes arrive."""
        buf = self._buf
        if self.error is not None or len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        length = second & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length = _SHORT.unpack_from(buf, 2)[0]
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = _LONG.unpack_from(buf, 2)[0]
            pos = 10
        if length > self.max_payload:
            self.error = f"a frame announces {length} bytes, over the {self.max_payload} read"
            self._buf = bytearray()
            return None
        masked = bool(second & 0x80)
        mask = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            mask = bytes(buf[pos : pos + 4])
            pos += 4
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos : pos + length])
        del buf[: pos + length]
        if masked:
            payload = apply_mask(payload, mask)
        return RawFrame(
            opcode=first & 0x0F,
            payload=payload,
            fin=bool(first & 0x80),
            rsv=(first >> 4) & 0x7,
            masked=masked,
        )
