"""The interface between the protocol and its extensions (RFC 6455 §9).

An extension is negotiated in the opening handshake by a *factory* (one per side), which
turns the parameters of one offer into an :class:`Extension` bound to one connection.
The protocol then passes data frames through the negotiated extensions: ``encode`` for
every frame on the way out, in order of negotiation; on the way in, ``decode`` for every
frame of a message whose first frame set RSV1 (the bit permessage-deflate claims), in
reverse order. Control frames never go through extensions.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..frames import Frame

__all__ = [
    "ExtensionParameter",
    "ExtensionHeader",
    "Extension",
    "ClientExtensionFactory",
    "ServerExtensionFactory",
    "rsv_bits",
    "decode_frame",
    "encode_frame",
]

#: One ``name=value`` (or bare ``name``, value ``None``) parameter of an extension offer.
ExtensionParameter = tuple[str, str | None]

#: One element of a Sec-WebSocket-Extensions header: the name and its parameters.
ExtensionHeader = tuple[str, list[ExtensionParameter]]


class Extension:
    """A negotiated extension bound to one connection."""

    #: Registered extension token, e.g. ``permessage-deflate``.
    name: str = ""
    #: Which reserved bits the extension gives a meaning to; the protocol rejects
    #: frames that set any other one (RFC 6455 §5.2).
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Undo the extension on a received data frame.

        Args:
            frame: a TEXT, BINARY or CONT frame, in order of arrival.
            max_size: how many more payload bytes the current message may have after
                decoding; ``None`` for no limit.

        Raises:
            PayloadTooBig: the decoded payload would exceed ``max_size``.
            ProtocolError: the frame cannot be decoded.
        """
        raise NotImplementedError

    def encode(self, frame: Frame, *, compress: bool | None = None) -> Frame:
        """Apply the extension to a data frame about to be sent.

        Args:
            frame: a TEXT, BINARY or CONT frame, in order of sending.
            compress: a per-message override for extensions that compress: ``True`` or
                ``False`` forces the choice, ``None`` lets the extension decide. Only the
                first frame of a message reads it.
        """
        raise NotImplementedError

    def describe(self) -> str:
        """Return the negotiated parameters as they appeared in the handshake."""
        return self.name


def rsv_bits(extensions: Sequence[Extension]) -> int:
    """Return the RSV bits (as in a frame's first byte) that ``extensions`` may set."""
    allowed = 0
    for extension in extensions:
        allowed |= (0x40 if extension.rsv1 else 0) | (0x20 if extension.rsv2 else 0)
        allowed |= 0x10 if extension.rsv3 else 0
    return allowed


def decode_frame(extensions: Sequence[Extension], frame: Frame, max_size: int | None) -> Frame:
    """Undo ``extensions`` on a received data frame, the last negotiated first.

    Args:
        max_size: how many more payload bytes the message may have; None: no limit.

    Raises:
        PayloadTooBig, ProtocolError: as :meth:`Extension.decode`.
    """
    for extension in reversed(extensions):
        frame = extension.decode(frame, max_size=max_size)
    return frame


def encode_frame(extensions: Sequence[Extension], frame: Frame, compress: bool | None) -> Frame:
    """Apply ``extensions`` to a data frame about to be sent, in negotiation order."""
    for extension in extensions:
        frame = extension.encode(frame, compress=compress)
    return frame


class ClientExtensionFactory:
    """The client's side of negotiating one extension."""

    name: str = ""

    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the parameters of the offer to put in the request."""
        raise NotImplementedError

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> Extension:
        """Build the extension the server accepted with ``params``.

        Args:
            params: the parameters in the server's response for this extension.
            accepted: the extensions already accepted from the same response.

        Raises:
            NegotiationError: the response is malformed or not what was offered; the
                client fails the connection.
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """The server's side of negotiating one extension."""

    name: str = ""

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Answer one offer from the client.

        Args:
            params: the parameters of one offer in the request.
            accepted: the extensions already accepted for this connection.

        Returns:
            The parameters for the response and the extension to use.

        Raises:
            NegotiationError: the offer is declined (malformed, duplicated or not
                acceptable); the server tries the client's next offer, if any.
        """
        raise NotImplementedError
