"""Pieces of the opening handshake that both sides compute (RFC 6455 §4)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

__all__ = [
    "GUID",
    "generate_key",
    "accept_key",
    "check_key",
    "origin_header",
    "SUPPORTED_VERSIONS",
]

#: The GUID both sides append to the key (RFC 6455 §1.3).
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Protocol versions a server accepts: RFC 6455 (13) and hybi-08 (8).
SUPPORTED_VERSIONS = ("13", "8")


def origin_header(version: int | str) -> str:
    """Return the name of the header that carries the origin in protocol ``version``.

    RFC 6455 (13) calls it ``Origin``; hybi-08 spelled it ``Sec-WebSocket-Origin``
    (draft-ietf-hybi-08 §4.1). Both sides and both layers ask here, so the rule lives once.
    """
    return "Sec-WebSocket-Origin" if str(version).strip() == "8" else "Origin"


def generate_key() -> str:
    """Return a fresh Sec-WebSocket-Key: 16 random bytes, base64-encoded (§4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """Compute Sec-WebSocket-Accept for a Sec-WebSocket-Key (§4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode()


def check_key(key: str) -> bool:
    """Tell whether a Sec-WebSocket-Key is base64 of exactly 16 bytes (§4.2.1)."""
    try:
        raw = base64.b64decode(key.encode(), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return False
    return len(raw) == 16
