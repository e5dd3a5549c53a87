"""Frames of RFC 6455 §5: opcodes, close codes, and the wire encoding of a frame header.

The incremental parser lives in :mod:`wscli.core.reader`, where it can validate text
as bytes arrive; this module holds the pieces both directions share: the values on the
wire, the frame encoder, and the close-frame payload codec.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass

from .exceptions import ProtocolError
from .masking import SPEEDUPS, apply_mask

__all__ = [
    "Opcode",
    "CloseCode",
    "Frame",
    "Close",
    "DATA_OPCODES",
    "CONTROL_OPCODES",
    "MAX_CONTROL_PAYLOAD",
    "encode_header",
    "encode_frame",
    "OK_CLOSE_CODES",
    "pack_frame",
    "close_code_is_valid",
    "control_frame_error",
    "close_code_name",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2)."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
CONTROL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})

#: RFC 6455 §5.5: control frames carry at most 125 bytes of payload.
MAX_CONTROL_PAYLOAD = 125


class CloseCode(enum.IntEnum):
    """Close status codes (RFC 6455 §7.4.1 and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


#: Close codes that end a connection normally, the one rule for the library
#: (``ConnectionClosedOK``, iteration ending quietly) and the command line (exit status 0):
#: 1000 and 1001, and 1005, which stands for a close frame without a code (the peer
#: closed and named no problem).
OK_CLOSE_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)

_CLOSE_CODE_NAMES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received",
    1006: "abnormal closure",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "tls handshake failure",
}

# Codes an endpoint may put in a close frame (RFC 6455 §7.4.1-2). 1004 is reserved,
# 1005, 1006 and 1015 only describe what happened locally and never go on the wire.
_SENDABLE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)


def control_frame_error(opcode: int, fin: int, rsv: int, length: int) -> str | None:
    """Return why a control frame's header is invalid (all 1002), or None if it is valid."""
    if opcode > Opcode.PONG:
        return f"invalid opcode {opcode:#x}"
    if rsv:
        return "reserved bits must be 0"
    # RFC 6455 §5.5: control frames are never fragmented and carry at most 125 bytes.
    if not fin:
        return "fragmented control frame"
    if length > MAX_CONTROL_PAYLOAD:
        return "control frame too long"
    return None


def close_code_is_valid(code: int) -> bool:
    """Tell whether ``code`` may appear in a close frame on the wire."""
    return code in _SENDABLE_CODES or 3000 <= code <= 4999


def close_code_name(code: int) -> str:
    """Return a short human description of a close code, e.g. ``internal error``."""
    if code in _CLOSE_CODE_NAMES:
        return _CLOSE_CODE_NAMES[code]
    if 3000 <= code <= 3999:
        return "registered"
    if 4000 <= code <= 4999:
        return "private use"
    return "unknown"


@dataclass(frozen=True)
class Frame:
    """One frame as it travels on the wire, payload unmasked."""

    opcode: Opcode
    data: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __str__(self) -> str:
        name = Opcode(self.opcode).name
        flags = "".join(
            flag
            for flag, on in (("F", self.fin), ("1", self.rsv1), ("2", self.rsv2), ("3", self.rsv3))
            if on
        )
        preview = self.data[:40]
        more = "…" if len(self.data) > 40 else ""
        return f"{name} [{flags or '-'}] {len(self.data)} bytes {preview!r}{more}"


@dataclass(frozen=True)
class Close:
    """The payload of a close frame: a status code and a UTF-8 reason (RFC 6455 §5.5.1)."""

    code: int
    reason: str = ""

    def __str__(self) -> str:
        text = f"{self.code} ({close_code_name(self.code)})"
        if self.reason:
            text += f" {self.reason}"
        return text

    @classmethod
    def parse(cls, data: bytes) -> Close:
        """Decode a close frame's payload.

        An empty payload means "no status" and maps to 1005 (RFC 6455 §7.1.5).

        Raises:
            ProtocolError: a one-byte payload or a code that may not be sent (1002), or
                a reason that is not UTF-8 (1007).
        """
        if len(data) >= 2:
            (code,) = struct.unpack_from("!H", data)
            if not close_code_is_valid(code):
                raise ProtocolError(f"invalid close code {code}", 1002)
            try:
                reason = bytes(data[2:]).decode()
            except UnicodeDecodeError as exc:
                raise ProtocolError("invalid utf-8 in close reason", 1007) from exc
            return cls(code, reason)
        if not data:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        raise ProtocolError("close frame too short", 1002)

    def serialize(self) -> bytes:
        """Encode as a close payload; 1005 becomes an empty payload."""
        if self.code == CloseCode.NO_STATUS_RCVD:
            return b""
        return struct.pack("!H", self.code) + self.reason.encode()

    def check(self) -> None:
        """Raise ``ValueError`` when the caller asks to send an unsendable close."""
        if not close_code_is_valid(self.code):
            raise ValueError(f"close code {self.code} may not be sent")
        if len(self.reason.encode()) > MAX_CONTROL_PAYLOAD - 2:
            raise ValueError("close reason is longer than 123 bytes")


_pack_b = struct.Struct("!BB").pack
_pack_h = struct.Struct("!BBH").pack
_pack_q = struct.Struct("!BBQ").pack


def encode_header(first_byte: int, length: int, mask: bytes | None) -> bytes:
    """Encode a frame header for a payload of ``length`` bytes (RFC 6455 §5.2)."""
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        header = _pack_b(first_byte, mask_bit | length)
    elif length < 65536:
        header = _pack_h(first_byte, mask_bit | 126, length)
    else:
        header = _pack_q(first_byte, mask_bit | 127, length)
    if mask is not None:
        header += mask
    return header


def _pack_frame_python(first_byte: int, data: bytes, mask: bytes | None) -> bytes:
    """Return header + payload (masked when ``mask`` is given) as one bytes object."""
    header = encode_header(first_byte, len(data), mask)
    if mask is not None:
        return header + apply_mask(data, mask)
    return header + data


pack_frame: Callable[[int, bytes, bytes | None], bytes] = (
    _pack_frame_python if SPEEDUPS is None else SPEEDUPS.encode_frame
)
"""``pack_frame(first_byte, data, mask)``: one whole frame in one allocation.

The sending hot path: the C version writes header and (masked) payload into one new
bytes object; the fallback concatenates :func:`encode_header` and the payload. Both give
the same bytes; ``first_byte`` holds FIN, the RSV bits and the opcode."""


def encode_frame(
    opcode: int,
    data: bytes,
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
) -> bytes:
    """Encode one whole frame; ``mask`` (4 bytes) is given by clients only."""
    first_byte = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
    first_byte |= (0x10 if rsv3 else 0) | opcode
    return pack_frame(first_byte, data, mask)
