"""EventEmitter: ``on``/``once``/``off``/``emit`` in the manner of Node.js.

``Server`` and ``WebSocket`` share it. A listener that raises does not stop the others
or the thread that emits: the exception goes to the ``error`` listeners, and is logged
when there are none (or when an ``error`` listener raises in turn).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["EventEmitter"]

logger = logging.getLogger("wscli.core")

Listener = Callable[..., Any]


class _Once:
    """Wraps a listener so it removes itself before its first call."""

    __slots__ = ("emitter", "name", "listener")

    def __init__(self, emitter: EventEmitter, name: str, listener: Listener) -> None:
        self.emitter = emitter
        self.name = name
        self.listener = listener

    def __call__(self, *args: Any) -> Any:
        self.emitter.off(self.name, self)
        return self.listener(*args)


class EventEmitter:
    """Named events with ordered listeners; listeners run on the emitting thread."""

    # A dict is made only once a listener is added: most connections never get one.
    _listeners: dict[str, list[Listener]] | None = None

    def on(self, name: str, listener: Listener) -> Listener:
        """Call ``listener`` each time ``name`` is emitted; returns the listener.

        Usable as a decorator: ``@ws.on("message")`` is not supported, pass the function.
        """
        if self._listeners is None:
            self._listeners = {}
        self._listeners.setdefault(name, []).append(listener)
        self._listener_added(name, listener)
        return listener

    add_listener = on

    def once(self, name: str, listener: Listener) -> Listener:
        """Call ``listener`` the next time ``name`` is emitted, then forget it."""
        return self.on(name, _Once(self, name, listener))

    def off(self, name: str, listener: Listener) -> None:
        """Remove ``listener`` (or a ``once`` wrapper of it) from ``name``."""
        if not self._listeners or name not in self._listeners:
            return
        listeners = self._listeners[name]
        for index, candidate in enumerate(listeners):
            if candidate is listener or (
                isinstance(candidate, _Once) and candidate.listener is listener
            ):
                # Copy on write: an emit in progress keeps iterating its own list.
                self._listeners[name] = listeners[:index] + listeners[index + 1 :]
                break
        if not self._listeners[name]:
            del self._listeners[name]

    remove_listener = off

    def remove_all_listeners(self, name: str | None = None) -> None:
        """Remove every listener of ``name``, or of every event when ``name`` is None."""
        if self._listeners is None:
            return
        if name is None:
            self._listeners = {}
        else:
            self._listeners.pop(name, None)

    def listeners(self, name: str) -> list[Listener]:
        """Return the listeners of ``name``, in calling order."""
        if not self._listeners:
            return []
        return [
            lst.listener if isinstance(lst, _Once) else lst for lst in self._listeners.get(name, [])
        ]

    def listener_count(self, name: str) -> int:
        """Return how many listeners ``name`` has."""
        if not self._listeners:
            return 0
        return len(self._listeners.get(name, ()))

    def emit(self, name: str, *args: Any) -> bool:
        """Call every listener of ``name`` with ``args``; returns whether there was any."""
        listeners = self._listeners.get(name) if self._listeners else None
        if not listeners:
            if name == "error" and args:
                # recv() and iteration raise it too, so this is no place to shout.
                logger.debug("error event with no listener: %s", args[0])
            return False
        for listener in listeners:
            try:
                listener(*args)
            except Exception as exc:
                if name == "error":
                    logger.exception("error listener raised")
                else:
                    self.emit("error", exc)
        return True

    def _listener_added(self, name: str, listener: Listener) -> None:
        """Hook for subclasses: a listener was just added."""
