"""A WebSocket client whose only waits are socket calls with a deadline: one per greenlet.

Locust runs each simulated user as a gevent greenlet, with the standard library's
``socket``, ``select``, ``threading`` and ``time`` patched to yield to gevent's hub. The
threaded layer (:mod:`wscli.core.sync`) puts every connection on one reactor thread and
makes callers wait on locks and conditions; under patching that thread becomes one more
greenlet and every message crosses two greenlets. This client instead runs the sans-I/O
:class:`~wscli.core.client.ClientProtocol` over a plain socket on the caller's own
greenlet (or thread, without gevent): ``recv()`` reads the socket with a timeout, feeds
the protocol and hands back the next message; the protocol answers pings and close
frames, so those replies leave on the next socket write. ``benchmarks/locust_clients.py``
compares both ways; see ``docs/DISTRIBUTED.md`` for the figures.

Nothing here imports gevent or Locust: with the socket module patched the waits are
cooperative, without it they are ordinary blocking calls, bounded the same way.

The consequence of reading only inside ``recv()``: while nobody reads, a server's
ping waits in the kernel's buffer, and a server that pings with a short timeout may
drop a connection whose user sleeps longer than that.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections import deque
from collections.abc import Sequence

from ..core.client import ClientProtocol
from ..core.events import Message
from ..core.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
)
from ..core.extensions.base import ClientExtensionFactory
from ..core.extensions.permessage_deflate import client_factory_from_options
from ..core.frames import Close
from ..core.http11 import Response
from ..core.protocol import State
from ..core.sync.net import open_stream
from ..core.uri import parse_uri

__all__ = ["WebSocketClient"]

#: Bytes asked of the socket per read.
READ_SIZE = 65536


class WebSocketClient:
    """One client connection driven by its caller: connect, send, recv, close.

    Every call is bounded: ``connect()`` by ``open_timeout`` (TCP, TLS and the
    upgrade together), ``recv()`` by its ``timeout``, ``send()`` by ``open_timeout``
    per write (a server that stops reading ends the wait with ``TimeoutError``), and
    ``close()`` by ``close_timeout``.

    Args:
        url: ``ws://``, ``wss://`` or ``ws+unix://`` address.
        open_timeout: seconds for the connection and the opening handshake, and for
            each write.
        close_timeout: seconds to wait for the server's close frame and EOF.
        headers: extra request headers.
        origin: the Origin header, if any.
        subprotocols: subprotocols to offer.
        max_size: largest incoming message in bytes (1009 above it); ``None``: no limit.
        ssl_context: TLS settings for ``wss://``.
        compression: offer permessage-deflate (RFC 7692).
    """

    def __init__(
        self,
        url: str,
        *,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        headers: Sequence[tuple[str, str]] | None = None,
        origin: str | None = None,
        subprotocols: Sequence[str] | None = None,
        max_size: int | None = 16 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
        compression: bool = False,
    ) -> None:
        self.uri = parse_uri(url)
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.protocol = ClientProtocol(
            self.uri,
            origin=origin,
            subprotocols=subprotocols,
            headers=list(headers or []),
            max_size=max_size,
            extensions=_extensions(compression),
        )
        self._ssl_context = ssl_context
        self._sock: socket.socket | None = None
        self._messages: deque[str | bytes] = deque()
        #: The handshake's response, once it arrived (refused or not).
        self.response: Response | None = None

    # -- opening ----------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection and run the opening handshake.

        Raises:
            ConnectFailed: resolution, refusal, TLS or a timeout before the upgrade.
            HandshakeError: the server refused (``InvalidStatus`` keeps its status)
                or answered wrongly.
            TimeoutError: no complete answer to the upgrade in time.
        """
        deadline = time.monotonic() + self.open_timeout
        self._sock = open_stream(self.uri, timeout=self.open_timeout, ssl_context=self._ssl_context)
        protocol = self.protocol
        protocol.send_request(protocol.connect())
        self._flush(deadline)
        while protocol.state is State.CONNECTING and protocol.handshake_exc is None:
            if not self._read(deadline):
                break
        if protocol.handshake_exc is not None:
            self.abort()
            raise protocol.handshake_exc
        if protocol.state is not State.OPEN:
            self.abort()
            raise ConnectionClosedError(None, None)

    # -- sending ----------------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Send one message: text for ``str``, binary for ``bytes``.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TimeoutError: the server did not take the bytes within ``open_timeout``.
        """
        protocol = self.protocol
        if protocol.state is not State.OPEN:
            raise self._closed()
        if isinstance(data, str):
            protocol.send_text(data.encode())
        else:
            protocol.send_binary(bytes(data))
        self._flush(time.monotonic() + self.open_timeout)

    # -- receiving --------------------------------------------------------------------

    def recv(self, timeout: float) -> str | bytes:
        """Return the next message, reading the socket for at most ``timeout`` seconds.

        Raises:
            TimeoutError: nothing arrived in time; the connection stays usable.
            ConnectionClosed: the connection ended (``code`` is the server's close
                code, 1006 for a drop); ``ConnectionClosedOK`` for 1000/1001.
        """
        deadline = time.monotonic() + timeout
        while not self._messages:
            self._handle_pending(deadline)
            if self._sock is None or not self._read(deadline):
                if not self._messages:
                    raise self._closed()
        return self._messages.popleft()

    # -- closing ----------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame, wait (bounded) for the server's, then drop the socket.

        Safe to call twice and on a connection that never opened.
        """
        if self._sock is None:
            return
        deadline = time.monotonic() + self.close_timeout
        try:
            self._handle_pending(deadline)
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(code, reason)
                self._flush(deadline)
            while self._sock is not None and self._read(deadline):
                pass
        except (OSError, TimeoutError, InvalidState):
            pass
        self.abort()

    def abort(self) -> None:
        """Drop the socket without a closing handshake."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    @property
    def open(self) -> bool:
        """Whether the connection is open (the handshake succeeded and no close began)."""
        return self._sock is not None and self.protocol.state is State.OPEN

    # -- internals ----------------------------------------------------------------------

    def _closed(self) -> ConnectionClosedOK | ConnectionClosedError:
        protocol = self.protocol
        rcvd = protocol.close_rcvd
        if rcvd is not None and rcvd.code in (1000, 1001):
            return ConnectionClosedOK(rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)
        return ConnectionClosedError(rcvd, protocol.close_sent, protocol.close_rcvd_then_sent)

    def _handle_pending(self, deadline: float) -> None:
        """Answer a close frame (or apply a failure) held behind messages.

        A close that arrived in the same read as messages waits until they were
        handled, so replies to them still go out first (see the protocol's
        ``handle_pending``). Here a message is handled once ``recv()`` returned it: the
        close is answered when the caller comes back for more and nothing is queued.
        """
        protocol = self.protocol
        if protocol.has_pending:
            protocol.handle_pending()
            self._take_events()
            self._flush(deadline)

    def _flush(self, deadline: float) -> None:
        """Write what the protocol queued; an empty chunk half-closes."""
        sock = self._sock
        if sock is None:
            return
        for chunk in self.protocol.data_to_send():
            if not chunk:
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            sock.settimeout(_left(deadline))
            try:
                sock.sendall(chunk)
            except TimeoutError:
                self.abort()
                raise
            except OSError:
                # The peer is gone; what it sent last is still read by recv().
                return

    def _read(self, deadline: float) -> bool:
        """Read once into the protocol; False once the connection is over.

        Raises:
            TimeoutError: nothing arrived before ``deadline``.
        """
        sock = self._sock
        assert sock is not None
        sock.settimeout(_left(deadline))
        try:
            data = sock.recv(READ_SIZE)
        except TimeoutError:
            if self.protocol.end_refusal():
                self._take_events()
                return False
            raise
        except OSError:
            data = b""
        protocol = self.protocol
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        self._take_events()
        self._flush(deadline)
        if not data or protocol.state is State.CLOSED:
            self.abort()
            return False
        return True

    def _take_events(self) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Message):
                self._messages.append(event.data)
            elif isinstance(event, Response):
                self.response = event
            elif isinstance(event, Close):
                pass


def _extensions(compression: bool) -> list[ClientExtensionFactory]:
    """The extension offers: permessage-deflate with its defaults, or none."""
    if not compression:
        return []
    factory = client_factory_from_options(True)
    return [] if factory is None else [factory]


def _left(deadline: float) -> float:
    """Seconds until ``deadline``; raises ``TimeoutError`` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left
