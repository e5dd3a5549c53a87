"""Text checked as UTF-8 while it arrives (RFC 6455 §8.1).

A text message may arrive in many frames, and a frame in many reads. The protocol
decodes each piece as it comes with an incremental decoder, which doubles as the
validator, so invalid text fails the connection at its first bad byte rather than when
the message ends.
"""

from __future__ import annotations

import codecs

__all__ = ["new_decoder", "pending_is_invalid"]

new_decoder = codecs.getincrementaldecoder("utf-8")
"""Return a fresh strict incremental UTF-8 decoder."""


def pending_is_invalid(decoder: codecs.IncrementalDecoder) -> bool:
    """Tell whether the bytes a decoder holds back can no longer become valid UTF-8.

    CPython's decoder rejects most bad prefixes at once, but keeps ``ED A0``-``ED BF``
    (the start of a UTF-16 surrogate) until the third byte. RFC 6455 §8.1 wants the
    connection failed as soon as the text is known to be invalid.
    """
    pending = decoder.getstate()[0]
    return len(pending) >= 2 and pending[0] == 0xED and pending[1] > 0x9F
