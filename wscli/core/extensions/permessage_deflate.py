"""The permessage-deflate extension (RFC 7692): messages compressed with DEFLATE.

A compressed message sets RSV1 on its first frame only; its frames together carry one
piece of a raw DEFLATE stream (RFC 1951, no zlib header), flushed at the end of the
message and stripped of the four bytes ``00 00 ff ff`` that the flush always ends
with. The receiver appends them again and inflates (RFC 7692 §7.2).

Each direction keeps one LZ77 sliding window. By default it survives from message to
message ("context takeover"), so a message can refer to earlier ones; a side that
negotiated ``*_no_context_takeover`` starts every message from an empty window, which
compresses worse but lets both ends drop their zlib state between messages. The
``*_max_window_bits`` parameters bound the window, and so the memory each end needs.

Decisions this module makes where the RFC leaves room:

* **Bounded inflation.** ``decode`` inflates step by step and never asks zlib for
  more than one byte past what the message may still grow, so a compression bomb
  costs at most about ``max_size`` bytes, and the time to produce them, before
  :class:`PayloadTooBig` (1009) is raised.
* **Corrupt streams close with 1007.** The frames themselves were well formed; what
  they carry is not valid data for the message, which is what 1007 ("invalid frame
  payload data", RFC 6455 §7.4.1) says. RFC 7692 names no code; ws and Jetty send
  1007 as well, websockets 1002.
* **Window bits 8 compress with 9.** zlib ≥ 1.2.9 refuses ``wbits=-8`` for raw
  deflate. With a window of 2**9 zlib never emits a distance above 512 - 262 = 250
  (``MAX_DIST`` in deflate.c keeps ``MIN_LOOKAHEAD`` bytes free), which fits the 256
  bytes the peer agreed to keep, so the stream stays valid for an 8-bit inflater.
  Inflating with 8 bits works in every zlib and is used as negotiated.
* **BFINAL.** RFC 7692 §7.2.1 lets DEFLATE blocks follow one with BFINAL set, where
  zlib sees the end of a stream. Inflation goes on with a fresh inflater, and the
  inflater is dropped after such a message, as the sender's deflater must have been.
* **Lazy zlib state.** An idle connection holds no deflater (about 256 KiB at the
  defaults) or inflater (about 40 KiB) until it sends or receives a compressed
  message, and drops them after each message when no context is taken over.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping, Sequence
from typing import TypedDict

from ..exceptions import InvalidState, NegotiationError, PayloadTooBig, ProtocolError
from ..frames import DATA_OPCODES, Frame, Opcode
from .base import ClientExtensionFactory, Extension, ExtensionParameter, ServerExtensionFactory

__all__ = [
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "ServerPerMessageDeflateFactory",
    "PerMessageDeflateOptions",
    "client_factory_from_options",
    "server_factory_from_options",
    "DEFAULT_THRESHOLD",
]

#: Messages shorter than this many bytes are sent uncompressed unless asked otherwise:
#: below about a kilobyte DEFLATE saves little and costs CPU (ws uses the same default).
DEFAULT_THRESHOLD = 1024

_NAME = "permessage-deflate"
# The empty stored block a sync flush ends with (RFC 7692 §7.2.1, §7.2.2).
_TRAILER = b"\x00\x00\xff\xff"
# An empty stored block once the trailer is stripped: the payload of a compressed final
# fragment that carries no data (RFC 7692 §7.2.3.6).
_EMPTY_BLOCK = b"\x00"
_MIN_BITS = 8
_MAX_BITS = 15
# zlib ≥ 1.2.9 refuses 8 window bits for raw deflate; see the module docstring.
_MIN_DEFLATE_BITS = 9
# RFC 7692 §7.1.2.1: "a decimal integer value without leading zeroes between 8 to 15".
_WINDOW_BITS_VALUES = {str(bits): bits for bits in range(_MIN_BITS, _MAX_BITS + 1)}
_COMPRESS_SETTINGS = frozenset({"level", "memLevel", "strategy"})
# Inflate in steps of at most this much input and output: the output step bounds how
# far past the size limit a bomb gets, the input step how much zlib copies per call.
_INFLATE_INPUT = 64 * 1024
_INFLATE_OUTPUT = 256 * 1024

_SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"


def _check_window_bits(name: str, bits: object, *, optional: bool) -> None:
    """Raise ``ValueError`` unless ``bits`` is an int in 8..15 (or ``None`` if optional)."""
    if bits is None and optional:
        return
    if isinstance(bits, bool) or not isinstance(bits, int) or not _MIN_BITS <= bits <= _MAX_BITS:
        raise ValueError(f"{name} must be an integer from 8 to 15, got {bits!r}")


def _check_threshold(threshold: object) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ValueError(f"threshold must be a non-negative integer, got {threshold!r}")


def _check_compress_settings(settings: Mapping[str, int]) -> dict[str, int]:
    """Return a copy of ``settings`` after refusing keys zlib.compressobj shouldn't get.

    ``wbits`` belongs to the negotiation and ``method`` has a single value, so only the
    level, memory level and strategy are the caller's to choose.
    """
    unknown = sorted(set(settings) - _COMPRESS_SETTINGS)
    if unknown:
        raise ValueError(f"unsupported compress settings: {', '.join(unknown)}")
    level = settings.get("level", zlib.Z_DEFAULT_COMPRESSION)
    if not -1 <= level <= 9:
        raise ValueError(f"level must be from -1 to 9, got {level!r}")
    mem_level = settings.get("memLevel", zlib.DEF_MEM_LEVEL)
    if not 1 <= mem_level <= 9:
        raise ValueError(f"memLevel must be from 1 to 9, got {mem_level!r}")
    return dict(settings)


class PerMessageDeflate(Extension):
    """Compress and decompress the messages of one connection.

    "Local" is this end's outgoing direction and "remote" the peer's: on a client,
    the local parameters are the ``client_*`` ones of the handshake.

    Args:
        remote_no_context_takeover: the peer resets its window after every message, so
            the inflater can be dropped between messages.
        local_no_context_takeover: reset the deflater after every message sent.
        remote_max_window_bits: the window the peer compresses with, 8 to 15.
        local_max_window_bits: the largest window to compress with, 8 to 15.
        compress_settings: ``level``, ``memLevel`` and ``strategy`` for
            :func:`zlib.compressobj`.
        threshold: messages shorter than this many bytes are sent uncompressed unless
            ``encode`` is told ``compress=True``.
        params: the parameters of the handshake response that created this extension;
            ``describe`` repeats them. The factories pass them; without them,
            ``describe`` reconstructs what a server with these settings would answer.

    Raises:
        ValueError: a window size, the threshold or a compress setting is out of range.
    """

    name = _NAME
    rsv1 = True

    def __init__(
        self,
        remote_no_context_takeover: bool = False,
        local_no_context_takeover: bool = False,
        remote_max_window_bits: int = _MAX_BITS,
        local_max_window_bits: int = _MAX_BITS,
        compress_settings: Mapping[str, int] | None = None,
        threshold: int = DEFAULT_THRESHOLD,
        *,
        params: Sequence[ExtensionParameter] | None = None,
    ) -> None:
        _check_window_bits("remote_max_window_bits", remote_max_window_bits, optional=False)
        _check_window_bits("local_max_window_bits", local_max_window_bits, optional=False)
        _check_threshold(threshold)
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings or {})
        self.threshold = threshold
        if params is None:
            params = _server_params(
                local_no_context_takeover,
                remote_no_context_takeover,
                None if local_max_window_bits == _MAX_BITS else local_max_window_bits,
                None if remote_max_window_bits == _MAX_BITS else remote_max_window_bits,
            )
        self.params: list[ExtensionParameter] = list(params)

        # Receiving: whether the message in progress is compressed, None between messages.
        self._decoding: bool | None = None
        self._decoder: zlib._Decompress | None = None
        # The last (up to) four compressed bytes of the message in progress.
        self._decoded_tail = b""
        # A block with BFINAL set ended zlib's stream during the message in progress.
        self._decoder_ended = False

        # Sending: whether the message in progress is compressed, None between messages.
        self._encoding: bool | None = None
        self._encoder: zlib._Compress | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()!r}>"

    def describe(self) -> str:
        """Return the response's parameters, e.g. ``permessage-deflate; client_max_window_bits=12``.

        That is this extension's element of the Sec-WebSocket-Extensions header, for logs
        and for showing what a connection agreed on.
        """
        parts = [self.name]
        for param, value in self.params:
            parts.append(param if value is None else f"{param}={value}")
        return "; ".join(parts)

    # -- receiving ---------------------------------------------------------------------

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Inflate a received data frame when its message is compressed.

        Call with every data frame of every message, in order of arrival: the first
        frame's RSV1 says whether the message is compressed, and its continuation frames
        follow that choice. Uncompressed frames come back unchanged.

        Args:
            frame: a TEXT, BINARY or CONT frame.
            max_size: how many more bytes the message may have once inflated; ``None``
                for no limit, which leaves a compression bomb unchecked.

        Returns:
            The frame with its payload inflated and RSV1 cleared.

        Raises:
            PayloadTooBig: the inflated frame would exceed ``max_size`` (1009); raised as
                soon as inflation passes the limit, before the rest is inflated.
            ProtocolError: data that is not a valid DEFLATE stream (1007).
            InvalidState: frames out of the order of a message (a continuation with
                no message, or a new message before the last one ended).
        """
        if frame.opcode not in DATA_OPCODES:
            return frame
        # The peer's frame order (continuations only inside a message, RSV1 on its first
        # frame only: RFC 7692 §6) is the protocol's to check, before frames come here.
        if (frame.opcode == Opcode.CONT) != (self._decoding is not None):
            raise InvalidState("data frames must be decoded in the order of their message")
        compressed = frame.rsv1 if self._decoding is None else self._decoding
        self._decoding = None if frame.fin else compressed
        if not compressed:
            return frame
        data = self._inflate(frame.data, frame.fin, max_size)
        return dataclasses.replace(frame, data=data, rsv1=False)

    def _inflate(self, data: bytes, fin: bool, max_size: int | None) -> bytes:
        """Inflate one frame's payload, appending the trailer at the end of the message."""
        chunks: list[bytes] = []
        size = self._feed(data, max_size, 0, chunks)
        if data:
            self._decoded_tail = (self._decoded_tail + data[-4:])[-4:]
        if fin:
            # RFC 7692 §7.2.2: append the four bytes the sender stripped. Skip them for
            # a message without compressed bytes, and for one that already ends with
            # them (a sender that didn't strip them, or sent an empty last fragment
            # against §7.2.3.6). A valid payload never ends that way: its last byte
            # holds the header of the stored block that was stripped, ending in a 0
            # bit, so it is never 0xff. Feeding the four bytes anyway would open a
            # stored block that never ends and garble the following messages.
            if self._decoded_tail not in (b"", _TRAILER):
                size = self._feed(_TRAILER, max_size, size, chunks)
            self._decoded_tail = b""
            if self.remote_no_context_takeover or self._decoder_ended:
                self._decoder = None
            self._decoder_ended = False
        return b"".join(chunks)

    def _feed(self, data: bytes, max_size: int | None, size: int, chunks: list[bytes]) -> int:
        """Inflate ``data`` into ``chunks``; return the bytes inflated so far (``size``)."""
        view = memoryview(data)
        while view:
            # zlib copies the input it leaves unconsumed after every call, so hand it
            # bounded slices: a large frame would otherwise be copied over and over.
            piece: bytes | memoryview = view[:_INFLATE_INPUT]
            view = view[_INFLATE_INPUT:]
            while True:
                decoder = self._decoder
                if decoder is None:
                    decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)
                    self._decoder = decoder
                # Ask for at most one byte past the limit: getting it proves the limit
                # exceeded, and zlib stops there instead of inflating the rest of a bomb.
                room = _INFLATE_OUTPUT
                if max_size is not None:
                    room = min(room, max(max_size - size, 0) + 1)
                try:
                    chunk = decoder.decompress(piece, room)
                except zlib.error as exc:
                    why = str(exc).rpartition(": ")[2]
                    raise ProtocolError(f"invalid compressed data: {why}", 1007) from exc
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise PayloadTooBig("message too big once decompressed")
                chunks.append(chunk)
                if decoder.eof:
                    # A BFINAL block ended zlib's stream; RFC 7692 §7.2.1 lets more
                    # blocks follow, so they go to a fresh inflater. Back-references
                    # across the boundary fail with 1007 rather than inflate wrongly.
                    piece = decoder.unused_data
                    self._decoder = None
                    self._decoder_ended = True
                    if not piece:
                        break
                elif len(chunk) < room:
                    break  # with room to spare, zlib has consumed the whole piece
                else:
                    # Out of room: more output may be pending, even with no input left.
                    piece = decoder.unconsumed_tail
        return size

    # -- sending -----------------------------------------------------------------------

    def encode(self, frame: Frame, *, compress: bool | None = None) -> Frame:
        """Deflate a data frame about to be sent when its message is to be compressed.

        Call with every data frame of every message, in order of sending. The first
        frame of a message decides for the whole message: it is compressed when
        ``compress`` is true, or when ``compress`` is ``None`` and the message is
        fragmented (its size is unknown) or its single frame reaches ``threshold``.

        Args:
            frame: a TEXT, BINARY or CONT frame.
            compress: force (``True``) or prevent (``False``) compression of the message
                this frame starts; ``None`` applies the threshold. Ignored on CONT frames.

        Returns:
            The frame with its payload deflated and RSV1 set on a compressed message's
            first frame, or the frame unchanged.

        Raises:
            InvalidState: a continuation frame without a fragmented message in
                progress, or a new message before the last one ended.
        """
        if frame.opcode not in DATA_OPCODES:
            return frame
        if frame.opcode == Opcode.CONT:
            if self._encoding is None:
                raise InvalidState("no fragmented message in progress")
            compressed = self._encoding
        else:
            if self._encoding is not None:
                raise InvalidState("a fragmented message is in progress")
            if compress is None:
                compressed = not frame.fin or len(frame.data) >= self.threshold
            else:
                compressed = compress
        self._encoding = None if frame.fin else compressed
        if not compressed:
            return frame

        encoder = self._encoder
        if encoder is None:
            wbits = max(self.local_max_window_bits, _MIN_DEFLATE_BITS)
            settings = self.compress_settings
            encoder = zlib.compressobj(
                settings.get("level", zlib.Z_DEFAULT_COMPRESSION),
                zlib.DEFLATED,
                -wbits,
                settings.get("memLevel", zlib.DEF_MEM_LEVEL),
                settings.get("strategy", zlib.Z_DEFAULT_STRATEGY),
            )
            self._encoder = encoder
        # A sync flush per frame lets the peer inflate each frame as it arrives.
        data = encoder.compress(frame.data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        if frame.fin:
            # RFC 7692 §7.2.1: remove the trailing empty stored block. A final fragment
            # with no new data then shrinks to the single byte 0x00 of §7.2.3.6; should
            # zlib ever emit nothing, that byte is what the RFC asks for.
            if data.endswith(_TRAILER):
                data = data[:-4]
            data = data or _EMPTY_BLOCK
            if self.local_no_context_takeover:
                self._encoder = None
        # RFC 7692 §6: RSV1 goes on the first frame of a compressed message only.
        return dataclasses.replace(frame, data=data, rsv1=frame.opcode != Opcode.CONT)


# -- negotiation (RFC 7692 §7.1) -------------------------------------------------------


@dataclasses.dataclass
class _Params:
    """The permessage-deflate parameters of one offer or response, validated."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    # True: present without a value, which only an offer may do.
    client_max_window_bits: int | bool | None = None


def _parse_params(params: Sequence[ExtensionParameter], *, is_response: bool) -> _Params:
    """Validate the parameters of an offer or a response.

    RFC 7692 §7.1: a server declines, and a client fails on, a parameter not defined for
    that direction, an invalid value, or a parameter that appears twice.

    Raises:
        NegotiationError: the parameters break one of those rules.
    """
    parsed = _Params()
    seen: set[str] = set()
    for name, value in params:
        if name in seen:
            raise NegotiationError(f"duplicate {name} parameter")
        seen.add(name)
        if name in (_SERVER_NO_CONTEXT_TAKEOVER, _CLIENT_NO_CONTEXT_TAKEOVER):
            # RFC 7692 §7.1.1.1, §7.1.1.2: these parameters have no value.
            if value is not None:
                raise NegotiationError(f"{name} takes no value, got {value!r}")
            if name == _SERVER_NO_CONTEXT_TAKEOVER:
                parsed.server_no_context_takeover = True
            else:
                parsed.client_no_context_takeover = True
        elif name == _SERVER_MAX_WINDOW_BITS:
            # RFC 7692 §7.1.2.1: always with a value.
            parsed.server_max_window_bits = _parse_window_bits(name, value)
        elif name == _CLIENT_MAX_WINDOW_BITS:
            # RFC 7692 §7.1.2.2: an offer may omit the value; a response may not.
            if value is None and not is_response:
                parsed.client_max_window_bits = True
            else:
                parsed.client_max_window_bits = _parse_window_bits(name, value)
        else:
            raise NegotiationError(f"unknown parameter {name}")
    return parsed


def _parse_window_bits(name: str, value: str | None) -> int:
    if value is None:
        raise NegotiationError(f"{name} needs a value")
    try:
        return _WINDOW_BITS_VALUES[value]
    except KeyError:
        raise NegotiationError(f"invalid {name} value {value!r}") from None


def _server_params(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: int | None,
    client_max_window_bits: int | None,
) -> list[ExtensionParameter]:
    """Build a server's response parameters in their conventional order."""
    params: list[ExtensionParameter] = []
    if server_no_context_takeover:
        params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
    if client_no_context_takeover:
        params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
    if server_max_window_bits is not None:
        params.append((_SERVER_MAX_WINDOW_BITS, str(server_max_window_bits)))
    if client_max_window_bits is not None:
        params.append((_CLIENT_MAX_WINDOW_BITS, str(client_max_window_bits)))
    return params


def _check_no_rsv1_conflict(accepted: Sequence[Extension]) -> None:
    """Refuse a second extension on RSV1, a second permessage-deflate included.

    RFC 7692 §5: a server MUST NOT accept a compression extension together with another
    extension that uses RSV1, and a client MUST fail a response that does.
    """
    for extension in accepted:
        if extension.name == _NAME:
            raise NegotiationError("permessage-deflate is already negotiated")
        if extension.rsv1:
            raise NegotiationError(f"rsv1 is already used by {extension.name}")


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """Offer permessage-deflate from a client and check the server's answer.

    Args:
        server_no_context_takeover: ask the server to reset its window after each
            message; a server that won't is refused.
        client_no_context_takeover: announce that this client resets its window after
            each message, which lets the server drop its inflater between messages.
        server_max_window_bits: ask the server to compress with at most this window
            (8 to 15), to bound this client's inflater memory.
        client_max_window_bits: ``True`` lets the server choose the window this client
            compresses with; an int (8 to 15) also caps that choice. ``None`` or
            ``False`` leaves the parameter out, and the window at 15.
        compress_settings: ``level``, ``memLevel`` and ``strategy`` for zlib.
        threshold: the size under which messages go uncompressed by default.

    Raises:
        ValueError: an argument is out of range.
    """

    name = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = None,
        compress_settings: Mapping[str, int] | None = None,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits, optional=True)
        if client_max_window_bits is False:
            client_max_window_bits = None
        if client_max_window_bits is not True:
            _check_window_bits("client_max_window_bits", client_max_window_bits, optional=True)
        _check_threshold(threshold)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings or {})
        self.threshold = threshold

    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the parameters of the offer, in the order of RFC 7692 §7.1."""
        params: list[ExtensionParameter] = []
        if self.server_no_context_takeover:
            params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
        if self.client_no_context_takeover:
            params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
        if self.server_max_window_bits is not None:
            params.append((_SERVER_MAX_WINDOW_BITS, str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append((_CLIENT_MAX_WINDOW_BITS, None))
        elif self.client_max_window_bits is not None:
            params.append((_CLIENT_MAX_WINDOW_BITS, str(self.client_max_window_bits)))
        return params

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> PerMessageDeflate:
        """Check the server's answer to the offer and build the extension.

        Args:
            params: the permessage-deflate parameters of the response.
            accepted: the extensions already accepted from the same response.

        Returns:
            The extension, configured as both sides agreed.

        Raises:
            NegotiationError: the response is malformed, accepts a second extension on
                RSV1, or does not answer what was offered; the client must fail the
                connection (RFC 7692 §7.1).
        """
        _check_no_rsv1_conflict(accepted)
        response = _parse_params(params, is_response=True)

        # RFC 7692 §7.1.1.1: a server accepts server_no_context_takeover by repeating it.
        if self.server_no_context_takeover and not response.server_no_context_takeover:
            raise NegotiationError("server ignored server_no_context_takeover")

        # RFC 7692 §7.1.2.1: a server accepts server_max_window_bits by repeating it with
        # the same or a smaller value; unasked, it may still limit its own window.
        if self.server_max_window_bits is not None:
            if response.server_max_window_bits is None:
                raise NegotiationError("server ignored server_max_window_bits")
            if response.server_max_window_bits > self.server_max_window_bits:
                raise NegotiationError(
                    f"server_max_window_bits={response.server_max_window_bits} is larger "
                    f"than the {self.server_max_window_bits} offered"
                )

        # RFC 7692 §7.1.2.2: client_max_window_bits may only answer an offer that had
        # it, with at most the value offered.
        client_max_window_bits = response.client_max_window_bits
        if client_max_window_bits is not None:
            if self.client_max_window_bits is None:
                raise NegotiationError("server sent client_max_window_bits, which wasn't offered")
            if (
                self.client_max_window_bits is not True
                and client_max_window_bits > self.client_max_window_bits
            ):
                raise NegotiationError(
                    f"client_max_window_bits={client_max_window_bits} is larger "
                    f"than the {self.client_max_window_bits} offered"
                )
        elif self.client_max_window_bits is not True:
            # Keep to the value offered: the server may have sized its inflater on it.
            client_max_window_bits = self.client_max_window_bits

        return PerMessageDeflate(
            remote_no_context_takeover=response.server_no_context_takeover,
            # The server may ask for it unprompted; offering it was a promise.
            local_no_context_takeover=(
                self.client_no_context_takeover or response.client_no_context_takeover
            ),
            remote_max_window_bits=response.server_max_window_bits or _MAX_BITS,
            local_max_window_bits=int(client_max_window_bits or _MAX_BITS),
            compress_settings=self.compress_settings,
            threshold=self.threshold,
            params=params,
        )


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """Answer a client's permessage-deflate offers.

    Args:
        server_no_context_takeover: reset this server's window after each message sent,
            whether or not the client asks.
        client_no_context_takeover: ask the client to reset its window after each
            message, so the inflater can be dropped between messages.
        server_max_window_bits: compress with at most this window (8 to 15); a smaller
            value offered by the client wins.
        client_max_window_bits: ask the client to compress with at most this window (8
            to 15). RFC 7692 §7.1.2.2 lets the server ask only clients that offered
            the parameter; others are accepted with the full window.
        compress_settings: ``level``, ``memLevel`` and ``strategy`` for zlib.
        threshold: the size under which messages go uncompressed by default.

    Raises:
        ValueError: an argument is out of range.
    """

    name = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: Mapping[str, int] | None = None,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits, optional=True)
        _check_window_bits("client_max_window_bits", client_max_window_bits, optional=True)
        _check_threshold(threshold)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings or {})
        self.threshold = threshold

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Accept one offer, narrowing it to this server's settings, or decline it.

        Args:
            params: the parameters of one permessage-deflate offer.
            accepted: the extensions already accepted for this connection.

        Returns:
            The response parameters and the extension, configured as both sides agreed.

        Raises:
            NegotiationError: the offer is malformed, or another extension already uses
                RSV1; the caller goes on to the client's next offer (RFC 7692 §7.1).
        """
        _check_no_rsv1_conflict(accepted)
        offer = _parse_params(params, is_response=False)

        # RFC 7692 §7.1.1.1: accepting server_no_context_takeover means repeating it.
        server_no_context_takeover = (
            offer.server_no_context_takeover or self.server_no_context_takeover
        )
        # RFC 7692 §7.1.1.2: repeating the client's promise lets us rely on it.
        client_no_context_takeover = (
            offer.client_no_context_takeover or self.client_no_context_takeover
        )

        # RFC 7692 §7.1.2.1: answer with the same or a smaller value than offered.
        server_max_window_bits = self.server_max_window_bits
        if offer.server_max_window_bits is not None:
            if server_max_window_bits is None:
                server_max_window_bits = offer.server_max_window_bits
            else:
                server_max_window_bits = min(server_max_window_bits, offer.server_max_window_bits)

        # RFC 7692 §7.1.2.2: never answer client_max_window_bits to an offer without
        # it; answer a valued one with at most that value, which also sizes our inflater.
        client_max_window_bits: int | None = None
        if offer.client_max_window_bits is True:
            client_max_window_bits = self.client_max_window_bits
        elif offer.client_max_window_bits is not None:
            client_max_window_bits = int(offer.client_max_window_bits)
            if self.client_max_window_bits is not None:
                client_max_window_bits = min(client_max_window_bits, self.client_max_window_bits)

        response = _server_params(
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        )
        extension = PerMessageDeflate(
            remote_no_context_takeover=client_no_context_takeover,
            local_no_context_takeover=server_no_context_takeover,
            remote_max_window_bits=client_max_window_bits or _MAX_BITS,
            local_max_window_bits=server_max_window_bits or _MAX_BITS,
            compress_settings=self.compress_settings,
            threshold=self.threshold,
            params=response,
        )
        return response, extension


# -- ws-style options ------------------------------------------------------------------


class PerMessageDeflateOptions(TypedDict, total=False):
    """The dict form of the ws-style ``per_message_deflate`` option; every key optional."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    #: ``True`` (client only) lets the server choose, as browsers offer.
    client_max_window_bits: int | bool
    threshold: int
    #: zlib compression level, -1 (default, 6) or 0 to 9.
    level: int
    #: zlib memory level, 1 to 9 (default 8): memory against speed and ratio.
    mem_level: int


_OPTION_KEYS = frozenset(PerMessageDeflateOptions.__annotations__)


def _options(options: bool | PerMessageDeflateOptions) -> PerMessageDeflateOptions | None:
    """Turn ``True`` into ``{}`` and ``False`` into ``None``; refuse unknown keys."""
    if options is True:
        return {}
    if options is False:
        return None
    if not isinstance(options, Mapping):
        raise TypeError(f"per_message_deflate must be a bool or a dict, got {options!r}")
    unknown = sorted(set(options) - _OPTION_KEYS)
    if unknown:
        raise ValueError(f"unknown per_message_deflate options: {', '.join(unknown)}")
    return options


def _compress_settings(options: PerMessageDeflateOptions) -> dict[str, int]:
    settings: dict[str, int] = {}
    if "level" in options:
        settings["level"] = options["level"]
    if "mem_level" in options:
        settings["memLevel"] = options["mem_level"]
    return settings


def client_factory_from_options(
    options: bool | PerMessageDeflateOptions,
) -> ClientPerMessageDeflateFactory | None:
    """Build the client's factory from the ws-style ``per_message_deflate`` option.

    Like ws and browsers, the offer includes a bare ``client_max_window_bits`` unless
    the dict sets that key, so the server may shrink the window it has to keep.

    Args:
        options: ``True`` for the defaults, ``False`` to offer nothing, or a dict of
            :class:`PerMessageDeflateOptions`.

    Returns:
        The factory, or ``None`` when compression is off.

    Raises:
        TypeError: ``options`` is neither a bool nor a dict.
        ValueError: a key is unknown or a value is out of range.
    """
    parsed = _options(options)
    if parsed is None:
        return None
    return ClientPerMessageDeflateFactory(
        server_no_context_takeover=parsed.get("server_no_context_takeover", False),
        client_no_context_takeover=parsed.get("client_no_context_takeover", False),
        server_max_window_bits=parsed.get("server_max_window_bits"),
        client_max_window_bits=parsed.get("client_max_window_bits", True),
        compress_settings=_compress_settings(parsed),
        threshold=parsed.get("threshold", DEFAULT_THRESHOLD),
    )


def server_factory_from_options(
    options: bool | PerMessageDeflateOptions,
) -> ServerPerMessageDeflateFactory | None:
    """Build the server's factory from the ws-style ``per_message_deflate`` option.

    Args:
        options: ``True`` for the defaults, ``False`` to accept no offer, or a dict of
            :class:`PerMessageDeflateOptions`.

    Returns:
        The factory, or ``None`` when compression is off.

    Raises:
        TypeError: ``options`` is neither a bool nor a dict.
        ValueError: a key is unknown or a value is out of range (a server cannot take
            ``client_max_window_bits=True``).
    """
    parsed = _options(options)
    if parsed is None:
        return None
    client_max_window_bits = parsed.get("client_max_window_bits")
    if isinstance(client_max_window_bits, bool):
        raise ValueError("a server's client_max_window_bits must be an integer from 8 to 15")
    return ServerPerMessageDeflateFactory(
        server_no_context_takeover=parsed.get("server_no_context_takeover", False),
        client_no_context_takeover=parsed.get("client_no_context_takeover", False),
        server_max_window_bits=parsed.get("server_max_window_bits"),
        client_max_window_bits=client_max_window_bits,
        compress_settings=_compress_settings(parsed),
        threshold=parsed.get("threshold", DEFAULT_THRESHOLD),
    )
