"""The RFC 6455 state machine shared by clients and servers, without any I/O.

A :class:`Protocol` is fed the bytes that arrive (:meth:`Protocol.receive_data`,
:meth:`Protocol.receive_eof`), is told what to send (``send_*``), and in return offers the
events it recognised (:meth:`Protocol.events_received`) and the bytes to write
(:meth:`Protocol.data_to_send`). It never touches a socket, a thread or a clock.

States (RFC 6455 §4 and §7)::

    CONNECTING ──handshake done──► OPEN ──close sent or received──► CLOSING ──EOF──► CLOSED
         └────────handshake failed──────────────────────────────────────────────────┘

* In OPEN, data and control frames flow both ways.
* Sending or receiving a close frame moves to CLOSING. A received close is echoed at
  once (§5.5.1); a server then half-closes the TCP connection (§7.1.1), a client waits
  for the server to do so. :meth:`Protocol.close_expected` tells the I/O layer to start
  its close timer.
* When the peer breaks the protocol, the parser never raises: it records the error in
  :attr:`Protocol.error`, queues a close frame with the right code (1002, 1007, 1009),
  asks for the TCP connection to be closed and ignores whatever arrives afterwards (§7.1.7).

The protocol reassembles fragments itself and emits whole messages: text is checked as
UTF-8 while it arrives, even inside a frame that is still incomplete, so invalid text is
refused at its first bad byte (§8.1). Pings are answered and close frames echoed without
the I/O layer's help.

The frame parser and the reassembly of incoming messages live in its base class,
:class:`~wscli.core.reader.MessageReader`; this module holds the states, the closing
handshake, failing, and everything that sends.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .events import Ping, Pong
from .exceptions import InvalidState, PayloadTooBig, ProtocolError
from .extensions.base import Extension, encode_frame, rsv_bits
from .frames import (
    MAX_CONTROL_PAYLOAD,
    Close,
    CloseCode,
    Frame,
    Opcode,
    encode_header,
    pack_frame,
)
from .masking import MaskBuffer, random_mask
from .reader import _MESSAGE_DATA, JOIN_LIMIT, MessageReader, _parse_frames

if TYPE_CHECKING:
    import logging

__all__ = [
    "Protocol",
    "State",
    "Side",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MAX_FRAGMENTS",
    "LOGGER_NAME",
    "default_logger",
    "random_mask",
]

#: The logger frames go to unless a protocol is handed another.
LOGGER_NAME = "wscli.core"


def default_logger() -> logging.Logger:
    """Return the ``wscli.core`` logger.

    :mod:`logging` is imported here, on first use, rather than with this module: it loads
    :mod:`threading`, and importing the sans-I/O core should load no I/O machinery.
    """
    import logging

    return logging.getLogger(LOGGER_NAME)


#: ``logging.DEBUG``, without importing :mod:`logging` (see :func:`default_logger`).
DEBUG = 10

#: Default limit on the size of one incoming message, in bytes (64 MiB).
DEFAULT_MAX_SIZE = 64 * 2**20
#: Default limit on the number of frames in one incoming message.
DEFAULT_MAX_FRAGMENTS = 65536

# The control opcodes as plain ints, as the frame parser hands them over.
_PING, _PONG = int(Opcode.PING), int(Opcode.PONG)


class State(enum.IntEnum):
    """Connection states, numbered as the W3C ``readyState``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


# Module globals for the per-message path: CPython 3.11 looks an enum member up through
# EnumType.__getattr__ (tens of nanoseconds) where a global costs next to nothing.
_CONNECTING, _OPEN, _CLOSED = State.CONNECTING, State.OPEN, State.CLOSED
_TEXT, _BINARY = Opcode.TEXT, Opcode.BINARY


class Side(enum.Enum):
    """Which end of the connection a protocol plays."""

    SERVER = "server"
    CLIENT = "client"


class Protocol(MessageReader):
    """The WebSocket state machine for one connection, minus the opening handshake.

    :class:`~wscli.core.client.ClientProtocol` and :class:`~wscli.core.server.ServerProtocol`
    add the handshake; construct ``Protocol`` directly only for a connection whose
    handshake happened elsewhere.

    Args:
        side: which end this is; it decides the masking rules (RFC 6455 §5.1).
        state: the starting state.
        max_size: largest incoming message in bytes (after decompression); ``None``
            for no limit. Larger messages fail the connection with 1009.
        max_fragments: most frames one incoming message may span; ``None`` for no
            limit. More fail the connection with 1009 (empty fragments cost memory and
            time without growing the message).
        extensions: negotiated extensions, in negotiation order.
        make_mask: returns a fresh 4-byte mask for each frame a client sends.
        logger: where frames are logged at DEBUG level; ``None`` for
            :func:`default_logger`.
    """

    # Slots: a server holds one protocol per connection, and with this many attributes an
    # instance dictionary would cost about a kilobyte more each. These are the state
    # machine's and the sending half's; MessageReader declares the receiving half's.
    # Subclasses keep a dictionary for their own (handshake) attributes.
    __slots__ = (
        "_debug",
        "_eof_sent",
        "_make_mask",
        "_mask_buffer",
        "_out",
        "_pending_close",
        "_pending_failure",
        "_send_compress",
        "_send_fragmenting",
        "_send_opcode",
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "eof_received",
        "error",
        "extensions",
        "handshake_exc",
        "has_pending",
        "hold_failures",
        "logger",
        "side",
        "state",
        "__dict__",
        "__weakref__",
    )

    def __init__(
        self,
        side: Side,
        *,
        state: State = State.OPEN,
        max_size: int | None = DEFAULT_MAX_SIZE,
        max_fragments: int | None = DEFAULT_MAX_FRAGMENTS,
        extensions: Sequence[Extension] | None = None,
        make_mask: Callable[[], bytes] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        super().__init__(
            expect_mask=0x80 if side is Side.SERVER else 0,
            max_size=max_size,
            max_fragments=max_fragments,
        )
        self.side = side
        self.state = state
        self.extensions: list[Extension] = list(extensions or [])
        self._make_mask = make_mask or random_mask
        self.logger = logger if logger is not None else default_logger()
        self._debug = self.logger.isEnabledFor(DEBUG)

        #: The close frame received from the peer, if any.
        self.close_rcvd: Close | None = None
        #: The close frame sent to the peer, if any.
        self.close_sent: Close | None = None
        #: Whether the peer's close came before ours.
        self.close_rcvd_then_sent: bool | None = None
        #: Why the protocol failed the connection, if it did.
        self.error: ProtocolError | None = None
        #: Why the opening handshake failed, if it did.
        self.handshake_exc: Exception | None = None
        #: Whether EOF has been received from the peer.
        self.eof_received = False
        #: Bytes the peer's opening handshake took (its request or response head, and
        #: hixie-76's key3), once read; what came after it is the WebSocket stream.
        self.handshake_size = 0

        self._out: list[bytes] = []
        # A client's large payloads are masked into one reused buffer (made on first use).
        self._mask_buffer: MaskBuffer | None = None
        self._pending_failure: tuple[int, str] | None = None
        self._pending_close: Close | None = None
        #: Whether a failure or a received close waits for :meth:`handle_pending`
        #: (read it; the protocol sets it). An attribute, not a property: the I/O
        #: layer asks after every read, and a property costs a call.
        self.has_pending = False
        #: Set by the I/O layer while the application still holds unhandled messages:
        #: a violation or close frame found meanwhile waits for :meth:`handle_pending`.
        self.hold_failures = False
        self._eof_sent = False
        self._rsv_allowed = rsv_bits(self.extensions)

        # Message being sent in fragments: its opcode (TEXT or BINARY) until its last frame.
        self._send_fragmenting = False
        self._send_opcode: Opcode | None = None
        self._send_compress: bool | None = None

    # -- extensions -------------------------------------------------------------------

    def set_extensions(self, extensions: Sequence[Extension]) -> None:
        """Install the extensions negotiated in the handshake; call before OPEN."""
        self.extensions = list(extensions)
        self._rsv_allowed = rsv_bits(self.extensions)

    # -- output -----------------------------------------------------------------------

    def events_received(self) -> list[Any]:
        """Return and forget the events recognised since the last call.

        Events are :class:`~wscli.core.events.Message`, :class:`~wscli.core.events.Ping`,
        :class:`~wscli.core.events.Pong`, :class:`~wscli.core.frames.Close`, and the
        handshake's :class:`~wscli.core.http11.Request` or :class:`~wscli.core.http11.Response`.
        """
        events = self._events
        self._events = []
        return events

    def data_to_send(self) -> list[bytes]:
        """Return and forget the byte chunks to write, in order.

        An empty chunk means: half-close the TCP connection now (after writing the
        chunks before it).
        """
        out = self._out
        self._out = []
        return out

    def close_expected(self) -> bool:
        """Tell whether the TCP connection should close soon: start the close timer.

        True once a close frame was sent or received, or the handshake failed.
        """
        return self.state is State.CLOSING or self._eof_sent or self.handshake_exc is not None

    # -- input ------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes received from the network.

        Call :meth:`events_received` and :meth:`data_to_send` afterwards.
        """
        if (self._pending_failure or self._pending_close) and not self.hold_failures:
            self.handle_pending()
        if self._discard or self.state is _CLOSED:
            return
        large = self._large
        if large is not None:
            # A large payload in progress: unmask straight into its buffer.
            pos = large.fill(data, 0)
            if large.remaining:
                return
            self._payload_complete(large)
            data = memoryview(data).cast("B")[pos:]
            if not data or self._discard:
                return
        if self._buf or self.state is _CONNECTING:
            self._buf += data
            if self.state is _CONNECTING:
                self._receive_handshake()
                if self.state is _CONNECTING or self._discard:
                    return
            self._parse()
        else:
            # Nothing buffered: parse the caller's bytes where they are and keep only
            # what is left of an incomplete frame (no copy of whole frames).
            if type(data) is memoryview and data.format != "B":
                data = data.cast("B")  # index bytes, not wider or signed items
            if (
                _parse_frames is not None
                and self.use_speedups
                and self._msg_text is None
                and self._partial is None
                and not self._debug
            ):
                # The per-message path: whole, simple data frames, parsed by the C
                # extension straight from here (what _parse would do first, without
                # its setup); _parse takes whatever it stopped at.
                max_size = -1 if self.max_size is None else self.max_size
                end = _parse_frames(
                    data, 0, self._expect_mask, max_size, _MESSAGE_DATA, self._events
                )
                if end:
                    self._msg_frames = 1
                    if end == len(data):
                        return
                    data = memoryview(data)[end:]
            self._parse(data)

    def payload_buffer(self) -> memoryview | None:
        """Return where the rest of a large payload in progress may be read, or None.

        When a large frame is arriving (its header parsed, at least 1/16 of its payload
        received, at most ``max_size``), the I/O layer may read the rest of its payload
        straight into this writable view, ``sock.recv_into(view)``, instead of passing
        the bytes to :meth:`receive_data`: that saves a copy. Then call
        :meth:`payload_received` with the count, before any other input. The view is
        released then (using it again raises ``ValueError``); ask again after each
        :meth:`receive_data` or :meth:`payload_received`. Never more than the payload
        itself: the next frame's bytes still go through :meth:`receive_data`.
        """
        large = self._large
        if large is None or self._discard or self.state is _CLOSED:
            return None
        return large.writable()

    def payload_received(self, size: int) -> None:
        """Take ``size`` bytes the I/O layer read into :meth:`payload_buffer`'s view.

        They are unmasked in place; a payload now complete gives its event as if it had
        come through :meth:`receive_data`. Call :meth:`events_received` and
        :meth:`data_to_send` afterwards.

        Raises:
            ValueError: no view from :meth:`payload_buffer` is out, or ``size`` is
                more than it holds (a bug in the I/O layer, not the peer's doing).
        """
        if (self._pending_failure or self._pending_close) and not self.hold_failures:
            self.handle_pending()
        large = self._large
        if large is None or self._discard or self.state is _CLOSED:
            return  # read into a payload that is no longer wanted
        if not large.received(size):
            self._payload_complete(large)

    def receive_eof(self) -> None:
        """Tell the protocol that the peer closed its side; safe to call twice."""
        if self.eof_received:
            return
        if self._pending_failure is not None or self._pending_close is not None:
            self._apply_pending()
        self.eof_received = True
        if self.state is State.CONNECTING and self.handshake_exc is None:
            self.handshake_exc = EOFError("connection closed during the opening handshake")
        self.state = State.CLOSED
        self._discard = True
        self._buf = bytearray()
        self._partial = self._large = None  # a large payload's buffer is not kept past the end
        if not self._eof_sent:
            self._eof_sent = True
            self._out.append(b"")

    def _receive_handshake(self) -> None:
        """Parse the opening handshake from ``self._buf``; subclasses implement it."""
        raise InvalidState("this protocol has no opening handshake")

    def _handle_control(self, opcode: int, payload: bytes) -> None:
        if opcode == _PING:
            if self._debug:
                self.logger.debug("< PING %r", payload)
            self._events.append(Ping(payload))
            if self.state is State.OPEN:
                # RFC 6455 §5.5.2: answer with a pong carrying the same payload.
                self._send_frame(_PONG, payload)
        elif opcode == _PONG:
            if self._debug:
                self.logger.debug("< PONG %r", payload)
            self._events.append(Pong(payload))
        else:
            self._handle_close(payload)

    def _handle_close(self, payload: bytes) -> None:
        try:
            close = Close.parse(payload)
        except ProtocolError as exc:
            self._fail(exc.code, str(exc))
            return
        if self._debug:
            self.logger.debug("< CLOSE %s", close)
        if (self._events or self.hold_failures) and self.state is State.OPEN:
            # Answer the close only once the messages before it were handled, so
            # replies to them still go out (frames are processed in order).
            self._pending_close = close
            self.has_pending = True
            self._discard = True
            self._partial = self._large = None
            return
        self._process_close(close)

    def _process_close(self, close: Close) -> None:
        self.close_rcvd = close
        if self.state is State.OPEN:
            # RFC 6455 §5.5.1: echo the close frame; the same code is customary.
            self.close_sent = close
            self.close_rcvd_then_sent = True
            self._send_frame(Opcode.CLOSE, close.serialize())
            self.state = State.CLOSING
        # Whatever follows a close frame is not read (§5.5.1).
        self._discard = True
        self._partial = self._large = None
        self._events.append(close)
        if self.side is Side.SERVER:
            # §7.1.1: the server closes the TCP connection first.
            self._send_eof()

    # -- failing ----------------------------------------------------------------------

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 §7.1.7): send a close frame, then close TCP.

        Use it when the application finds the peer's data unacceptable. A reason
        longer than 123 bytes of UTF-8 is cut short to fit the close frame.
        """
        if self.state is State.OPEN:
            encoded = reason.encode()
            if len(encoded) > MAX_CONTROL_PAYLOAD - 2:
                # RFC 6455 §5.5: the close frame must fit in 125 bytes; cut the reason
                # at a character boundary rather than send an invalid frame.
                reason = encoded[: MAX_CONTROL_PAYLOAD - 2].decode(errors="ignore")
            close = Close(code, reason)
            self.close_sent = close
            if self.close_rcvd is None:
                self.close_rcvd_then_sent = False
            self._send_frame(Opcode.CLOSE, close.serialize())
            self.state = State.CLOSING
        self._discard = True
        self._partial = self._large = None
        self._send_eof()

    def _fail(self, code: int, reason: str) -> bool:
        """Record a protocol violation by the peer and fail the connection; returns False.

        When events parsed before the violation are still waiting to be collected (or
        the I/O layer set :attr:`hold_failures` because the application has not handled
        earlier messages yet), the failure waits for :meth:`handle_pending`, so
        that the application's replies to them leave before the close frame: frames are
        processed in order.
        """
        if (self._events or self.hold_failures) and self._pending_failure is None:
            self._pending_failure = (code, reason)
            self.has_pending = True
            self._discard = True
            self._partial = self._large = None
            return False
        return self._fail_now(code, reason)

    def _fail_now(self, code: int, reason: str) -> bool:
        if self.error is None:
            error_class = PayloadTooBig if code == CloseCode.MESSAGE_TOO_BIG else ProtocolError
            self.error = error_class(reason, code)
        if self._debug:
            self.logger.debug("! failing the connection: %d %s", code, reason)
        self.fail(code, reason)
        return False

    def forget_handshake_headers(self) -> None:
        """Drop the headers (and body) of the handshake's ``request`` and ``response``.

        Call it once the connection is open and nothing needs them any more: a server
        holding many idle connections saves their memory (about 1.5 KiB each). The
        path, method, status and the negotiated values (``subprotocol``,
        ``extensions``) stay. The old objects are replaced, not emptied, so whoever
        kept a reference to them keeps them whole.
        """
        for name in ("request", "response"):
            message = getattr(self, name, None)
            if message is not None and (message.headers or message.body):
                setattr(
                    self,
                    name,
                    dataclasses.replace(message, headers=type(message.headers)(), body=b""),
                )

    @property
    def sending_message(self) -> Opcode | None:
        """The type (TEXT or BINARY) of the message being sent in fragments, or ``None``.

        Between a ``send_text``/``send_binary`` with ``fin=False`` and the continuation
        with ``fin=True``, only :meth:`send_continuation` may send data (RFC 6455 §5.4).
        """
        return self._send_opcode

    @property
    def close_pending(self) -> bool:
        """Whether a received close frame waits for :meth:`handle_pending`."""
        return self._pending_close is not None

    def output_size(self) -> int:
        """Return how many bytes :meth:`data_to_send` would return now."""
        return sum(len(chunk) for chunk in self._out)

    def handle_pending(self) -> None:
        """Act on a failure or close frame found behind the events last collected.

        Call it once the application has handled those events. A no-op when nothing
        waits. :meth:`receive_data` and :meth:`receive_eof` call it too, so forgetting
        it delays the close frame but never loses it.
        """
        if self._events:
            return  # the events before it must be collected (and handled) first
        self._apply_pending()

    def _apply_pending(self) -> None:
        self.has_pending = False
        failure = self._pending_failure
        if failure is not None:
            self._pending_failure = None
            self._fail_now(*failure)
        close = self._pending_close
        if close is not None:
            self._pending_close = None
            self._process_close(close)

    def _send_eof(self) -> None:
        if not self._eof_sent:
            self._eof_sent = True
            self._out.append(b"")

    # -- sending ----------------------------------------------------------------------

    def _send_frame(self, opcode: int, data: bytes, fin: bool = True, rsv: int = 0) -> None:
        first = (0x80 if fin else 0) | rsv | opcode
        if self._debug:
            self.logger.debug("> %s%s %r", Opcode(opcode).name, "" if fin else " (more)", data[:80])
        mask = None if self._expect_mask else self._make_mask()
        if len(data) < JOIN_LIMIT:
            self._out.append(pack_frame(first, data, mask))
        else:
            self._out.append(encode_header(first, len(data), mask))
            if mask is None:
                self._out.append(data)
            else:
                masker = self._mask_buffer
                if masker is None:
                    masker = self._mask_buffer = MaskBuffer()
                self._out.append(masker.mask(data, mask))  # type: ignore[arg-type]

    def _check_open(self) -> None:
        if self.state is not State.OPEN:
            raise InvalidState(f"connection is {self.state.name.lower()}")

    def _send_data(self, opcode: int, data: bytes, fin: bool, compress: bool | None) -> None:
        if (
            fin
            and opcode
            and self.state is _OPEN
            and not self._send_fragmenting
            and not self.extensions
            and not self._debug
        ):
            # The per-message path: a whole message in one frame.
            if len(data) < JOIN_LIMIT:
                # Built in one step.
                mask = None if self._expect_mask else self._make_mask()
                self._out.append(pack_frame(0x80 | opcode, data, mask))
                return
            if self._expect_mask:
                # A server's large payload goes out as it is, after its header.
                self._out += (encode_header(0x80 | opcode, len(data), None), data)
                return
        self._check_open()
        if opcode == Opcode.CONT:
            if not self._send_fragmenting:
                raise InvalidState("no fragmented message in progress")
        elif self._send_fragmenting:
            raise InvalidState("a fragmented message is in progress")
        self._send_fragmenting = not fin
        if opcode != Opcode.CONT:
            self._send_opcode = None if fin else Opcode(opcode)
        elif fin:
            self._send_opcode = None
        if self.extensions:
            frame = encode_frame(self.extensions, Frame(Opcode(opcode), data, fin), compress)
            rsv = (0x40 if frame.rsv1 else 0) | (0x20 if frame.rsv2 else 0)
            rsv |= 0x10 if frame.rsv3 else 0
            self._send_frame(opcode, frame.data, fin, rsv)
        else:
            self._send_frame(opcode, data, fin)

    def send_text(self, data: bytes, fin: bool = True, *, compress: bool | None = None) -> None:
        """Send a text frame carrying UTF-8 ``data``; ``fin=False`` starts a fragmented message.

        Raises:
            InvalidState: the connection is not open, or a fragmented message is in progress.
        """
        if (
            fin
            and self.state is _OPEN
            and not self._send_fragmenting
            and not self.extensions
            and not self._debug
            and len(data) < JOIN_LIMIT
        ):
            # _send_data's per-message path, without the call (one per reply).
            mask = None if self._expect_mask else self._make_mask()
            self._out.append(pack_frame(0x81, data, mask))
            return
        self._send_data(_TEXT, data, fin, compress)

    def send_binary(self, data: bytes, fin: bool = True, *, compress: bool | None = None) -> None:
        """Send a binary frame; ``fin=False`` starts a fragmented message.

        Raises:
            InvalidState: the connection is not open, or a fragmented message is in progress.
        """
        if (
            fin
            and self.state is _OPEN
            and not self._send_fragmenting
            and not self.extensions
            and not self._debug
            and len(data) < JOIN_LIMIT
        ):
            # _send_data's per-message path, without the call (one per reply).
            mask = None if self._expect_mask else self._make_mask()
            self._out.append(pack_frame(0x82, data, mask))
            return
        self._send_data(_BINARY, data, fin, compress)

    def send_continuation(self, data: bytes, fin: bool) -> None:
        """Send the next fragment of the message started by ``send_text``/``send_binary``.

        Raises:
            InvalidState: no fragmented message is in progress.
        """
        self._send_data(Opcode.CONT, data, fin, None)

    def send_ping(self, data: bytes = b"") -> None:
        """Send a ping (at most 125 bytes).

        Raises:
            InvalidState: the connection is not open.
            ValueError: the payload is too long.
        """
        self._send_control(Opcode.PING, data)

    def send_pong(self, data: bytes = b"") -> None:
        """Send an unsolicited pong (at most 125 bytes); raises as :meth:`send_ping`."""
        self._send_control(Opcode.PONG, data)

    def _send_control(self, opcode: Opcode, data: bytes) -> None:
        self._check_open()
        if len(data) > MAX_CONTROL_PAYLOAD:
            name = opcode.name.lower()
            raise ValueError(f"{name} payload is longer than {MAX_CONTROL_PAYLOAD} bytes")
        self._send_frame(opcode, data)

    def send_raw(self, data: bytes) -> None:
        """Queue ``data`` exactly as given, outside the state machine.

        For crafted frames (:mod:`wscli.core.craft`) that test how a peer reacts to
        what RFC 6455 forbids. Nothing is checked, masked or recorded: the state, the
        fragmentation and the close handshake stay as they were, so what the peer
        sends back is judged by the usual rules.

        Raises:
            InvalidState: the connection is not open or closing, or was half-closed.
        """
        if self.state not in (State.OPEN, State.CLOSING) or self._eof_sent:
            raise InvalidState(f"connection is {self.state.name.lower()}")
        if self._debug:
            self.logger.debug("> raw %d bytes %r", len(data), bytes(data[:80]))
        self._out.append(bytes(data))

    def send_close(self, code: int | None = None, reason: str = "") -> None:
        """Start the closing handshake; ``code=None`` sends a close frame without a status.

        Raises:
            InvalidState: the connection is not open.
            ValueError: the code may not be sent, or the reason is too long.
        """
        self._check_open()
        close = Close(CloseCode.NO_STATUS_RCVD if code is None else code, reason)
        if close.code == CloseCode.NO_STATUS_RCVD and reason:
            # 1005 goes out as an empty payload, which has no room for a reason.
            raise ValueError("a close reason needs a close code")
        if close.code != CloseCode.NO_STATUS_RCVD:
            close.check()
        self.close_sent = close
        self.close_rcvd_then_sent = False
        self._send_frame(Opcode.CLOSE, close.serialize())
        self.state = State.CLOSING
