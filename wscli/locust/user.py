"""``WebSocketUser`` and its ``self.ws``: a Locust user that speaks WebSocket.

Each user's ``self.ws`` is a :class:`LocustWebSocket`: it connects on first use with
:class:`~wscli.locust.client.WebSocketClient` (the sans-I/O core over the user's own
socket, cooperative under Locust's gevent patching) and reports to Locust's request
statistics:

* the opening handshake: ``request_type="WS"``, name ``connect``; a refusal is a failure
  naming the HTTP status (``handshake refused: HTTP 401 Unauthorized``);
* :meth:`LocustWebSocket.request`: one send and its matching reply, ``WS`` under the
  name given, timed from the send to the reply (:meth:`~LocustWebSocket.send` and
  :meth:`~LocustWebSocket.expect` split it, for pipelines);
* :meth:`LocustWebSocket.recv` and :meth:`~LocustWebSocket.receive_for`: received
  messages, ``WSR`` under a name of the user's choosing, timed from when the wait began;
* close codes and timeouts as failures of the call that saw them, with the reason.

A failure ends the task (Locust's ``RescheduleTask``): the user waits its ``wait_time``
and runs its next task. A timeout or a close also drops the connection, so a reply that
comes late never answers a later request; the next call reconnects (after
``reconnect_wait`` seconds when the handshake itself failed, so a refusing server is
asked again at a bounded rate).

Importing this module imports Locust, which patches the standard library for gevent as
it always does; this module patches nothing itself.
"""

from __future__ import annotations

import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

try:
    from locust import User
    from locust.exception import RescheduleTask
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "wscli.locust needs Locust: pip install 'wscli-toolkit[locust]' (or pip install locust)"
    ) from exc

from ..core.exceptions import ConnectionClosed, InvalidStatus, WebSocketError
from .client import WebSocketClient

__all__ = ["WebSocketUser", "LocustWebSocket", "WebSocketFailure"]

Match = Callable[[str | bytes], bool]


class WebSocketFailure(Exception):
    """What Locust records as a failure; its message is the reason shown."""


class LocustWebSocket:
    """A user's connection: every call reports to Locust and is bounded in time.

    Args:
        url: the server's address.
        events: the Locust environment's events (``environment.events``).
        open_timeout: seconds for the connection and the opening handshake.
        reconnect_wait: seconds to wait after a failed handshake before the task ends,
            so a refusing server is not asked in a tight loop.
        max_backlog: messages kept that arrived while :meth:`request` waited for
            another; past it the oldest is dropped and reported as a failure.
        client_options: passed to :class:`WebSocketClient` (``headers``, ``origin``,
            ``subprotocols``, ``max_size``, ``ssl_context``, ``close_timeout``,
            ``compression``).
    """

    def __init__(
        self,
        url: str,
        events: Any,
        *,
        open_timeout: float = 10.0,
        reconnect_wait: float = 1.0,
        max_backlog: int = 1024,
        **client_options: Any,
    ) -> None:
        self.url = url
        self.events = events
        self.open_timeout = open_timeout
        self.reconnect_wait = reconnect_wait
        self.max_backlog = max_backlog
        self.client_options = client_options
        self.client: WebSocketClient | None = None
        self._backlog: deque[str | bytes] = deque()

    # -- reporting --------------------------------------------------------------------

    def _report(
        self,
        request_type: str,
        name: str,
        started: float,
        length: int = 0,
        exception: BaseException | None = None,
    ) -> None:
        self.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length,
            exception=exception,
            context={},
        )

    def _fail(
        self, request_type: str, name: str, started: float, reason: str, drop: bool = True
    ) -> NoReturn:
        """Report a failure, drop the connection if asked, and end the task."""
        self._report(request_type, name, started, exception=WebSocketFailure(reason))
        if drop:
            self.abort()
        raise RescheduleTask()

    # -- connection -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a connection is in use: opened and not dropped since.

        It may be closing (the server sent a close frame): the messages that came
        before the close are still read, then the close is reported as a failure by
        the call that meets it and the connection is dropped.
        """
        return self.client is not None

    def connect(self) -> None:
        """Open a connection (reported as ``WS connect``) unless one is in use.

        The other calls connect when no connection is in use. A failure is reported
        with its reason, and the task ends after ``reconnect_wait`` seconds.
        """
        if self.client is not None:
            return
        started = time.perf_counter()
        client = WebSocketClient(self.url, open_timeout=self.open_timeout, **self.client_options)
        try:
            client.connect()
        except InvalidStatus as exc:
            phrase = _peer_text(exc.response.reason_phrase)
            reason = f"handshake refused: HTTP {exc.status_code} {phrase}"
            self._connect_failed(started, reason.rstrip())
        except (OSError, WebSocketError) as exc:
            described = _peer_text(str(exc) or type(exc).__name__, 200)
            self._connect_failed(started, f"connect failed: {described}")
        self.client = client
        self._report("WS", "connect", started, length=client.protocol.handshake_size)

    def _connect_failed(self, started: float, reason: str) -> NoReturn:
        self._report("WS", "connect", started, exception=WebSocketFailure(reason))
        time.sleep(self.reconnect_wait)
        raise RescheduleTask()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (bounded by the client's ``close_timeout``)."""
        client, self.client = self.client, None
        self._backlog.clear()
        if client is not None:
            client.close(code, reason)

    def abort(self) -> None:
        """Drop the connection without a closing handshake."""
        client, self.client = self.client, None
        self._backlog.clear()
        if client is not None:
            client.abort()

    # -- messages -----------------------------------------------------------------------

    def send(self, data: str | bytes, *, name: str | None = None) -> float:
        """Send one message; reported as ``WSS`` under ``name`` when one is given.

        Connects first if no connection is in use. A send that fails (the connection
        is closing, or the server stopped reading) is a failure under ``name`` (or
        ``send``) and drops the connection.

        Returns:
            When the send began (``time.perf_counter()``), for :meth:`expect`.
        """
        self.connect()
        assert self.client is not None
        started = time.perf_counter()
        try:
            self.client.send(data)
        except ConnectionClosed as exc:
            self._fail("WSS", name or "send", started, _closed_reason(exc))
        except (OSError, WebSocketError) as exc:
            self._fail("WSS", name or "send", started, f"send failed: {exc}")
        if name is not None:
            self._report("WSS", name, started, length=len(data))
        return started

    def request(
        self,
        data: str | bytes,
        *,
        match: Match | None = None,
        expected: str | bytes | None = None,
        timeout: float = 10.0,
        name: str = "request",
    ) -> str | bytes:
        """Send ``data`` and wait for its reply; report the round trip as ``WS name``.

        Args:
            data: the message (``str`` text, ``bytes`` binary).
            match: tells the reply apart from other messages; ``None`` takes the next
                message. Messages that do not match are kept for :meth:`recv`.
            expected: when given, the reply must be exactly this (an echo check);
                anything else is a failure (``wrong reply``) and drops the connection.
            timeout: seconds from the send to the reply.
            name: the name in Locust's statistics.

        Returns:
            The reply.
        """
        sent_at = self.send(data)
        return self.expect(
            sent_at=sent_at, match=match, expected=expected, timeout=timeout, name=name
        )

    def expect(
        self,
        *,
        sent_at: float,
        match: Match | None = None,
        expected: str | bytes | None = None,
        timeout: float = 10.0,
        name: str = "request",
    ) -> str | bytes:
        """Wait for the reply to a message sent at ``sent_at``; report ``WS name``.

        The round trip is timed from ``sent_at`` (what :meth:`send` returned), so
        several requests can be in flight (a pipeline). ``match``, ``expected``,
        ``timeout`` (counted from this call) and ``name`` are as in :meth:`request`.
        """
        client = self.client
        if client is None:
            # The connection the message went out on was dropped (a failure was
            # reported then); a new one would never carry its reply.
            self._fail("WS", name, sent_at, "no connection: dropped before the reply")
        reply = self._wait(client, "WS", name, sent_at, timeout, match, keep_others=True)
        if expected is not None and reply != expected:
            self._fail("WS", name, sent_at, _mismatch(expected, reply))
        self._report("WS", name, sent_at, length=len(reply))
        return reply

    def recv(
        self, *, timeout: float = 10.0, name: str = "recv", match: Match | None = None
    ) -> str | bytes:
        """Wait for the next message (or the next that ``match`` accepts).

        Reported as ``WSR name``, timed from the call; messages skipped by ``match``
        are dropped. A timeout is a failure but keeps the connection.
        """
        self.connect()
        client = self.client
        assert client is not None
        started = time.perf_counter()
        message = self._wait(client, "WSR", name, started, timeout, match, keep_others=False)
        self._report("WSR", name, started, length=len(message))
        return message

    def receive_for(self, seconds: float, *, name: str = "recv") -> int:
        """Receive (and report) every message that arrives within ``seconds``.

        For listeners, such as a chat user counting broadcasts. Returns how many came.
        """
        self.connect()
        client = self.client
        assert client is not None
        count = 0
        end = time.monotonic() + seconds
        while True:
            started = time.perf_counter()
            if self._backlog:
                message = self._backlog.popleft()
            else:
                left = end - time.monotonic()
                if left <= 0:
                    return count
                try:
                    message = client.recv(left)
                except TimeoutError:
                    return count
                except ConnectionClosed as exc:
                    self._fail("WSR", name, started, _closed_reason(exc))
            self._report("WSR", name, started, length=len(message))
            count += 1

    def _wait(
        self,
        client: WebSocketClient,
        request_type: str,
        name: str,
        started: float,
        timeout: float,
        match: Match | None,
        *,
        keep_others: bool,
    ) -> str | bytes:
        if not keep_others:
            while self._backlog:
                message = self._backlog.popleft()
                if match is None or match(message):
                    return message
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = client.recv(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                # A request's late reply must not answer a later one: drop the
                # connection. A listener (recv) keeps it.
                reason = f"timeout: nothing in {timeout:g}s"
                self._fail(request_type, name, started, reason, drop=keep_others)
            except ConnectionClosed as exc:
                self._fail(request_type, name, started, _closed_reason(exc))
            if match is None or match(message):
                return message
            if keep_others:
                self._keep(message)

    def _keep(self, message: str | bytes) -> None:
        self._backlog.append(message)
        if len(self._backlog) > self.max_backlog:
            self._backlog.popleft()
            self._report(
                "WSR",
                "backlog",
                time.perf_counter(),
                exception=WebSocketFailure(f"more than {self.max_backlog} unread messages"),
            )


def _mismatch(expected: str | bytes, reply: str | bytes) -> str:
    """Say how a reply differs from what was expected, without quoting either."""
    if isinstance(expected, str) != isinstance(reply, str):
        kind = "text" if isinstance(reply, str) else "binary"
        return f"wrong reply: {kind} message instead of the other kind"
    if len(expected) != len(reply):
        return f"wrong reply: {len(reply)} bytes instead of {len(expected)}"
    return "wrong reply: same length, other content"


def _closed_reason(exc: ConnectionClosed) -> str:
    """``closed: 1011 (internal error) reason`` or ``closed: 1006 (no close frame)``."""
    if exc.rcvd is None:
        return "connection closed: 1006 (no close frame)"
    return f"connection closed: {_peer_text(str(exc.rcvd), 100)}"


def _peer_text(text: str, limit: int = 60) -> str:
    """Text a server chose, made safe to be a failure's name in Locust's statistics.

    Locust keeps one row per distinct failure reason and shows it in its web UI and
    CSV files, so what the server wrote (a status line's phrase, a close reason, a
    header in an error) is cut to ``limit`` characters and its control and non-ASCII
    characters escaped (``ascii()``, in C): a server cannot make a row huge or write
    control characters into a report (each variant it sends is still a row of its own).
    """
    shown = ascii(text[: limit + 1])[1:-1]
    return shown[:limit] + "…" if len(text) > limit or len(shown) > limit else shown


class WebSocketUser(User):
    """A Locust user with a WebSocket connection in ``self.ws``.

    The address is the class's ``url``, or Locust's ``--host`` (``host``). The
    connection opens on first use and closes when the user stops.

    Attributes:
        url: the server's ``ws://``/``wss://`` address (``host`` when unset).
        open_timeout: seconds for each connection's opening handshake.
        reconnect_wait: seconds a user waits after a failed handshake.
        headers, origin, subprotocols: what the upgrade request carries.
        compression: offer permessage-deflate.
        ssl_context: TLS settings for ``wss://`` (the system's trust store if unset).
    """

    abstract = True
    url: str | None = None
    open_timeout: float = 10.0
    reconnect_wait: float = 1.0
    headers: Sequence[tuple[str, str]] = ()
    origin: str | None = None
    subprotocols: Sequence[str] = ()
    compression: bool = False
    ssl_context: ssl.SSLContext | None = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        url = self.url or self.host
        if not url:
            raise ValueError("set url on the user class or pass --host ws://HOST:PORT/PATH")
        self.ws = LocustWebSocket(
            url,
            environment.events,
            open_timeout=self.open_timeout,
            reconnect_wait=self.reconnect_wait,
            headers=list(self.headers),
            origin=self.origin,
            subprotocols=list(self.subprotocols),
            compression=self.compression,
            ssl_context=self.ssl_context,
        )

    def on_stop(self) -> None:
        """Close the connection with 1000 (bounded)."""
        self.ws.close()
