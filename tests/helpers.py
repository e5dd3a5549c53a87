"""Helpers shared by the sans-I/O tests: frame builders, fixed masks, a recording driver.

Nothing here opens a socket or sleeps (:data:`TIMEOUT` bounds the waits of the tests that
do). Frames are built byte by byte, independently of
:mod:`wscli.core.frames`, so a test that compares the library's output with
:func:`build_frame` checks the encoder against a second implementation.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from wscli.core.client import ClientProtocol
from wscli.core.exceptions import NegotiationError
from wscli.core.extensions.base import (
    ClientExtensionFactory,
    Extension,
    ExtensionParameter,
    ServerExtensionFactory,
)
from wscli.core.frames import Frame
from wscli.core.protocol import Protocol, Side, State
from wscli.core.server import ServerProtocol
from wscli.core.uri import parse_uri

__all__ = [
    "CHUNK_SIZES",
    "FIXED_KEY",
    "FIXED_MASK",
    "FakeClientFactory",
    "FakeExtension",
    "FakeServerFactory",
    "HIXIE_REQUEST",
    "HIXIE_RESPONSE",
    "PEER_MASK",
    "TIMEOUT",
    "Recorder",
    "build_frame",
    "chunks",
    "close_payload",
    "cut",
    "fixed_mask",
    "masks",
    "open_pair",
    "own_frame",
    "peer_frame",
    "protocol",
    "transfer",
    "xor_mask",
]

#: Seconds any single wait in a test may take before the test fails: the one timeout every
#: test module uses. Waits that succeed end long before it; a slow or loaded machine scales
#: it with ``WSCLI_TEST_TIMEOUT_FACTOR`` (e.g. 3) rather than each module guessing its own.
TIMEOUT = 10.0 * float(os.environ.get("WSCLI_TEST_TIMEOUT_FACTOR", "1"))

#: The mask our client-side protocols put on every frame (``make_mask=fixed_mask``).
FIXED_MASK = b"\x5a\xc3\x0f\x96"
#: The mask the simulated peer client puts on frames a server receives.
PEER_MASK = b"\x37\xfa\x21\x3d"
#: RFC 6455 §1.3's example Sec-WebSocket-Key.
FIXED_KEY = "dGhlIHNhbXBsZSBub25jZQ=="

#: hixie-76: the draft's sample handshake (§1.2), for the byte-exact exchange.
HIXIE_REQUEST = (
    b"GET /demo HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
    b"Sec-WebSocket-Protocol: sample\r\n"
    b"Upgrade: WebSocket\r\n"
    b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
    b"Origin: http://example.com\r\n"
    b"\r\n"
    b"^n:ds[4U"
)
HIXIE_RESPONSE = (
    b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
    b"Upgrade: WebSocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Origin: http://example.com\r\n"
    b"Sec-WebSocket-Location: ws://example.com/demo\r\n"
    b"Sec-WebSocket-Protocol: sample\r\n"
    b"\r\n"
    b"8jKS'y:G*Co,Wxa-"
)

#: Ways to cut a byte stream before feeding it: ``None`` is all at once, 1 byte-at-a-time.
CHUNK_SIZES = [None, 1, 2, 5, 64]


def fixed_mask() -> bytes:
    """Return :data:`FIXED_MASK`; pass as ``make_mask`` so client output is predictable."""
    return FIXED_MASK


def masks(*values: bytes) -> Callable[[], bytes]:
    """Return a ``make_mask`` that hands out ``values`` in turn, then fails the test."""
    iterator = iter(values)

    def make_mask() -> bytes:
        try:
            return next(iterator)
        except StopIteration:
            raise AssertionError("make_mask called more often than expected") from None

    return make_mask


def xor_mask(data: bytes, mask: bytes) -> bytes:
    """Mask ``data`` one byte at a time: slow, obviously right, unlike the code under test."""
    return bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length: int | None = None,
    length_bits: int | None = None,
) -> bytes:
    """Encode a frame by hand, allowing what a correct encoder never produces.

    Args:
        opcode: any 4-bit value, reserved ones included.
        payload: the unmasked payload.
        mask: the masking key, or ``None`` for an unmasked frame.
        length: the length to announce instead of ``len(payload)``.
        length_bits: 7, 16 or 64 to force a length encoding; the shortest otherwise.
    """
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
    first |= (0x10 if rsv3 else 0) | opcode
    size = len(payload) if length is None else length
    if length_bits is None:
        length_bits = 7 if size < 126 else 16 if size < 65536 else 64
    mask_bit = 0x80 if mask is not None else 0
    if length_bits == 7:
        header = bytes([first, mask_bit | size])
    elif length_bits == 16:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", size)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", size)
    if mask is None:
        return header + payload
    return header + mask + xor_mask(payload, mask)


def peer_frame(side: Side, opcode: int, payload: bytes = b"", **options: Any) -> bytes:
    """Encode a frame as the peer of ``side`` sends it: masked towards a server."""
    mask = PEER_MASK if side is Side.SERVER else None
    return build_frame(opcode, payload, mask=mask, **options)


def own_frame(side: Side, opcode: int, payload: bytes = b"", **options: Any) -> bytes:
    """Encode a frame as a protocol of ``side`` built by :func:`protocol` sends it."""
    mask = FIXED_MASK if side is Side.CLIENT else None
    return build_frame(opcode, payload, mask=mask, **options)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """Encode a close frame's payload from its parts."""
    return struct.pack("!H", code) + reason


def chunks(data: bytes, size: int | None) -> Iterator[bytes]:
    """Cut ``data`` into pieces of ``size`` bytes (the last may be shorter); ``None``: whole."""
    if size is None:
        yield data
        return
    for start in range(0, len(data), size):
        yield data[start : start + size]


def cut(data: bytes, offsets: Iterable[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets."""
    bounds = [0, *sorted(offsets), len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]


def protocol(side: Side, **options: Any) -> Protocol:
    """Return an OPEN protocol for ``side`` whose client masks are :data:`FIXED_MASK`."""
    options.setdefault("make_mask", fixed_mask)
    return Protocol(side, **options)


class Recorder:
    """Drive a protocol the way the I/O layer does, and keep what it produced, in order.

    After every piece of input: collect the events, apply a pending failure, collect the
    bytes to write. ``out`` keeps the written chunks, ``b""`` marking the half-close.
    """

    def __init__(self, proto: Protocol) -> None:
        self.proto = proto
        self.events: list[Any] = []
        self.out: list[bytes] = []

    def receive(self, data: bytes, chunk_size: int | None = None) -> Recorder:
        """Feed ``data`` cut into ``chunk_size`` pieces, collecting after each one."""
        for piece in chunks(data, chunk_size):
            self.proto.receive_data(piece)
            self.collect()
        return self

    def receive_pieces(self, pieces: Sequence[bytes]) -> Recorder:
        """Feed each of ``pieces`` in turn, collecting after each one."""
        for piece in pieces:
            self.proto.receive_data(piece)
            self.collect()
        return self

    def receive_eof(self) -> Recorder:
        """Feed EOF and collect."""
        self.proto.receive_eof()
        self.collect()
        return self

    def collect(self) -> None:
        """Take the events, apply a pending failure, take the output."""
        self.events += self.proto.events_received()
        self.proto.handle_pending()
        self.events += self.proto.events_received()  # a close that waited
        self.out += self.proto.data_to_send()

    @property
    def wire(self) -> bytes:
        """Everything written, joined; the half-close marker contributes nothing."""
        return b"".join(self.out)

    @property
    def half_closed(self) -> bool:
        """Whether the protocol asked for the TCP connection to be half-closed."""
        return b"" in self.out


def open_pair(
    *,
    client_options: dict[str, Any] | None = None,
    server_options: dict[str, Any] | None = None,
) -> tuple[ClientProtocol, ServerProtocol]:
    """Return a client and a server that completed the opening handshake with each other.

    The client uses :data:`FIXED_KEY` and :data:`FIXED_MASK`; the handshake's events and
    bytes are already consumed.
    """
    client = ClientProtocol(
        parse_uri("ws://example.com/chat"),
        make_key=lambda: FIXED_KEY,
        make_mask=fixed_mask,
        **(client_options or {}),
    )
    server = ServerProtocol(**(server_options or {}))
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    (request,) = server.events_received()
    server.send_response(server.accept(request))
    for data in server.data_to_send():
        client.receive_data(data)
    client.events_received()
    assert client.state is State.OPEN and server.state is State.OPEN
    return client, server


def transfer(source: Protocol, destination: Protocol) -> list[Any]:
    """Move what ``source`` wrote into ``destination``; return ``destination``'s events."""
    for data in source.data_to_send():
        if data:
            destination.receive_data(data)
        else:
            destination.receive_eof()
    return destination.events_received()


class FakeExtension(Extension):
    """An extension that changes nothing and remembers how it was negotiated."""

    def __init__(self, name: str, params: Sequence[ExtensionParameter]) -> None:
        self.name = name
        self.params = list(params)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame

    def encode(self, frame: Frame, *, compress: bool | None = None) -> Frame:
        return frame

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FakeExtension):
            return NotImplemented
        return (other.name, other.params) == (self.name, self.params)

    def __repr__(self) -> str:
        return f"FakeExtension({self.name!r}, {self.params!r})"


class FakeClientFactory(ClientExtensionFactory):
    """Offers ``name`` with ``params``; refuses a response that carries ``("bad", None)``."""

    def __init__(self, name: str, params: Sequence[ExtensionParameter] = ()) -> None:
        self.name = name
        self.params = list(params)

    def get_request_params(self) -> list[ExtensionParameter]:
        return list(self.params)

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> Extension:
        if ("bad", None) in params:
            raise NegotiationError(f"unacceptable {self.name} response")
        return FakeExtension(self.name, params)


class FakeServerFactory(ServerExtensionFactory):
    """Accepts an offer of ``name`` unless it carries ``("decline", None)``.

    The response echoes the offer's parameters; every offer seen is kept in ``offers``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.offers: list[list[ExtensionParameter]] = []

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        self.offers.append(list(params))
        if ("decline", None) in params:
            raise NegotiationError(f"declined {self.name} offer")
        return list(params), FakeExtension(self.name, params)
