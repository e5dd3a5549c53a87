"""The events of ``WebSocket`` and ``Server``: their arguments, and typed ``on``/``once``.

Each event is emitted with a fixed list of arguments; a listener receives as many of
them as it has required positional parameters (see :mod:`~wscli.core.sync.emitter`).
The overloads below spell out every accepted shape, so ``mypy --strict`` rejects a
listener that asks for more than the event gives or for the wrong types:

=====================  ==========================================================
``WebSocket`` event    arguments
=====================  ==========================================================
``open``               none
``message``            ``data`` (``str`` for text, ``bytes`` for binary), ``flags``
                       (:class:`~wscli.core.sync.connection.MessageFlags`)
``ping``, ``pong``     ``data`` (``bytes``), ``flags``
``close``              ``code`` (``int``), ``reason`` (``str``)
``error``              ``error`` (the exception)
``redirect``           ``url`` (``str``), ``response`` (the 3xx answer)
=====================  ==========================================================

=====================  ==========================================================
``Server`` event       arguments
=====================  ==========================================================
``listening``          none
``connection``         ``ws`` (the open ``WebSocket``), ``request`` (the upgrade)
``headers``            ``headers`` (the 101 answer's, still changeable), ``request``
``error``              ``error`` (the exception)
``tls_client_error``   ``error``, ``address`` (the client's)
``refused``            ``address`` (the client's), ``status`` (``int``), ``reason``
                       (``str``), ``request`` (``None`` when it could not be parsed)
``close``              none
=====================  ==========================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

from ..headers import Headers
from ..http11 import Request, Response
from .connection import MessageFlags
from .emitter import EventEmitter, Listener

__all__ = ["Data", "ServerEvents", "WebSocketEvents"]

#: A message: ``str`` for text, ``bytes`` for binary.
Data = str | bytes

_W = TypeVar("_W", bound="WebSocketEvents")
_S = TypeVar("_S", bound="ServerEvents[Any]")
#: The connection type a server hands to its ``connection`` listeners.
_WS = TypeVar("_WS")

_WebSocketEvent = Literal["open", "message", "ping", "pong", "close", "error", "redirect"]
_ServerEvent = Literal[
    "listening", "connection", "headers", "error", "tls_client_error", "refused", "close"
]


class WebSocketEvents(EventEmitter):
    """``on``/``once`` typed for the events of a WebSocket connection."""

    event_arguments: ClassVar[dict[str, int]] = {
        "open": 0,
        "message": 2,
        "ping": 2,
        "pong": 2,
        "close": 2,
        "error": 1,
        "redirect": 2,
    }
    # A connection's failure is raised by recv(), iteration and wait_open() as well, and
    # ends with the close event: with no error listener, it is logged quietly.
    unhandled_error_level: ClassVar[int] = logging.DEBUG

    @overload
    def on(
        self: _W, name: Literal["message"], listener: Callable[[Data, MessageFlags], object]
    ) -> _W: ...
    @overload
    def on(self: _W, name: Literal["message"], listener: Callable[[Data], object]) -> _W: ...
    @overload
    def on(
        self: _W, name: Literal["ping", "pong"], listener: Callable[[bytes, MessageFlags], object]
    ) -> _W: ...
    @overload
    def on(self: _W, name: Literal["ping", "pong"], listener: Callable[[bytes], object]) -> _W: ...
    @overload
    def on(self: _W, name: Literal["close"], listener: Callable[[int, str], object]) -> _W: ...
    @overload
    def on(self: _W, name: Literal["close"], listener: Callable[[int], object]) -> _W: ...
    @overload
    def on(self: _W, name: Literal["error"], listener: Callable[[Exception], object]) -> _W: ...
    @overload
    def on(
        self: _W, name: Literal["redirect"], listener: Callable[[str, Response], object]
    ) -> _W: ...
    @overload
    def on(self: _W, name: Literal["redirect"], listener: Callable[[str], object]) -> _W: ...
    @overload
    def on(self: _W, name: _WebSocketEvent, listener: Callable[[], object]) -> _W: ...

    def on(self: _W, name: str, listener: Listener) -> _W:
        """Call ``listener`` each time ``name`` is emitted; returns self for chaining."""
        return self._add(name, listener)

    add_listener = on

    @overload
    def once(
        self: _W, name: Literal["message"], listener: Callable[[Data, MessageFlags], object]
    ) -> _W: ...
    @overload
    def once(self: _W, name: Literal["message"], listener: Callable[[Data], object]) -> _W: ...
    @overload
    def once(
        self: _W, name: Literal["ping", "pong"], listener: Callable[[bytes, MessageFlags], object]
    ) -> _W: ...
    @overload
    def once(
        self: _W, name: Literal["ping", "pong"], listener: Callable[[bytes], object]
    ) -> _W: ...
    @overload
    def once(self: _W, name: Literal["close"], listener: Callable[[int, str], object]) -> _W: ...
    @overload
    def once(self: _W, name: Literal["close"], listener: Callable[[int], object]) -> _W: ...
    @overload
    def once(self: _W, name: Literal["error"], listener: Callable[[Exception], object]) -> _W: ...
    @overload
    def once(
        self: _W, name: Literal["redirect"], listener: Callable[[str, Response], object]
    ) -> _W: ...
    @overload
    def once(self: _W, name: Literal["redirect"], listener: Callable[[str], object]) -> _W: ...
    @overload
    def once(self: _W, name: _WebSocketEvent, listener: Callable[[], object]) -> _W: ...

    def once(self: _W, name: str, listener: Listener) -> _W:
        """Call ``listener`` the next time ``name`` is emitted, then forget it."""
        return self._add(name, listener, once=True)


class ServerEvents(EventEmitter, Generic[_WS]):
    """``on``/``once`` typed for the events of a server handing out ``_WS`` connections."""

    event_arguments: ClassVar[dict[str, int]] = {
        "listening": 0,
        "connection": 2,
        "headers": 2,
        "error": 1,
        "tls_client_error": 2,
        "refused": 4,
        "close": 0,
    }

    @overload
    def on(
        self: _S, name: Literal["connection"], listener: Callable[[_WS, Request], object]
    ) -> _S: ...
    @overload
    def on(self: _S, name: Literal["connection"], listener: Callable[[_WS], object]) -> _S: ...
    @overload
    def on(
        self: _S, name: Literal["headers"], listener: Callable[[Headers, Request], object]
    ) -> _S: ...
    @overload
    def on(self: _S, name: Literal["headers"], listener: Callable[[Headers], object]) -> _S: ...
    @overload
    def on(self: _S, name: Literal["error"], listener: Callable[[Exception], object]) -> _S: ...
    @overload
    def on(
        self: _S, name: Literal["tls_client_error"], listener: Callable[[Exception, Any], object]
    ) -> _S: ...
    @overload
    def on(
        self: _S, name: Literal["tls_client_error"], listener: Callable[[Exception], object]
    ) -> _S: ...
    @overload
    def on(
        self: _S,
        name: Literal["refused"],
        listener: Callable[[Any, int, str, Request | None], object],
    ) -> _S: ...
    @overload
    def on(
        self: _S, name: Literal["refused"], listener: Callable[[Any, int, str], object]
    ) -> _S: ...
    @overload
    def on(self: _S, name: Literal["refused"], listener: Callable[[Any, int], object]) -> _S: ...
    @overload
    def on(self: _S, name: Literal["refused"], listener: Callable[[Any], object]) -> _S: ...
    @overload
    def on(self: _S, name: _ServerEvent, listener: Callable[[], object]) -> _S: ...

    def on(self: _S, name: str, listener: Listener) -> _S:
        """Call ``listener`` each time ``name`` is emitted; returns self for chaining."""
        return self._add(name, listener)

    add_listener = on

    @overload
    def once(
        self: _S, name: Literal["connection"], listener: Callable[[_WS, Request], object]
    ) -> _S: ...
    @overload
    def once(self: _S, name: Literal["connection"], listener: Callable[[_WS], object]) -> _S: ...
    @overload
    def once(
        self: _S, name: Literal["headers"], listener: Callable[[Headers, Request], object]
    ) -> _S: ...
    @overload
    def once(self: _S, name: Literal["headers"], listener: Callable[[Headers], object]) -> _S: ...
    @overload
    def once(self: _S, name: Literal["error"], listener: Callable[[Exception], object]) -> _S: ...
    @overload
    def once(
        self: _S, name: Literal["tls_client_error"], listener: Callable[[Exception, Any], object]
    ) -> _S: ...
    @overload
    def once(
        self: _S, name: Literal["tls_client_error"], listener: Callable[[Exception], object]
    ) -> _S: ...
    @overload
    def once(
        self: _S,
        name: Literal["refused"],
        listener: Callable[[Any, int, str, Request | None], object],
    ) -> _S: ...
    @overload
    def once(
        self: _S, name: Literal["refused"], listener: Callable[[Any, int, str], object]
    ) -> _S: ...
    @overload
    def once(self: _S, name: Literal["refused"], listener: Callable[[Any, int], object]) -> _S: ...
    @overload
    def once(self: _S, name: Literal["refused"], listener: Callable[[Any], object]) -> _S: ...
    @overload
    def once(self: _S, name: _ServerEvent, listener: Callable[[], object]) -> _S: ...

    def once(self: _S, name: str, listener: Listener) -> _S:
        """Call ``listener`` the next time ``name`` is emitted, then forget it."""
        return self._add(name, listener, once=True)
