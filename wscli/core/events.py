"""What the protocol hands to the I/O layer, besides bytes to write.

A :class:`~wscli.core.protocol.Protocol` reassembles fragments and validates text itself,
so its events are whole messages, not frames: the I/O layer never sees a fragment.
Handshake messages (:class:`~wscli.core.http11.Request`, :class:`~wscli.core.http11.Response`)
and :class:`~wscli.core.frames.Close` are events too.
"""

from __future__ import annotations

from .frames import Close
from .http11 import Request, Response

__all__ = ["Message", "Ping", "Pong", "Event"]


class Message:
    """A complete data message: ``str`` for text, ``bytes`` for binary."""

    __slots__ = ("data",)

    # The C frame parser builds a Message without calling the class, by setting the
    # ``data`` slot of a new instance (see MessageReader): __init__ must do nothing else.
    def __init__(self, data: str | bytes) -> None:
        self.data = data

    @property
    def binary(self) -> bool:
        """True for a binary message."""
        return not isinstance(self.data, str)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and other.data == self.data

    def __repr__(self) -> str:
        return f"Message({self.data[:60]!r}{'…' if len(self.data) > 60 else ''})"


class Ping:
    """A ping arrived (the protocol has already queued the pong)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ping) and other.data == self.data

    def __repr__(self) -> str:
        return f"Ping({self.data!r})"


class Pong:
    """A pong arrived."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pong) and other.data == self.data

    def __repr__(self) -> str:
        return f"Pong({self.data!r})"


Event = Request | Response | Message | Ping | Pong | Close
