"""EventEmitter: listeners called the way Node.js calls them, failures never silent.

``Server`` and ``WebSocket`` share it. Three rules, each the Python form of what a
JavaScript program relies on:

* **Arguments by arity.** JavaScript hands every argument to every listener and lets a
  function ignore the ones it does not name. Python raises ``TypeError`` instead, so a
  listener gets as many of the event's arguments as it has *required* positional
  parameters (a ``*args`` listener gets them all; a parameter with a default keeps its
  default). ``on_connection(ws)`` and ``on_connection(ws, request)`` both work. This is
  also JavaScript's ``Function.length``, which ws reads to tell a synchronous
  ``verifyClient`` from one that answers through a callback. The count is taken once,
  when the listener is added, never per event.
* **A raising listener stops nothing.** The other listeners still run and so does the
  thread that emits; the exception goes to the ``error`` listeners.
* **Errors are never silent.** With no ``error`` listener (or when one raises in its
  turn), the exception is logged at ERROR with its traceback on the ``wscli.core``
  logger, which :mod:`wscli.core.logs` shows on stderr unless the application set up
  logging of its own.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from ..logs import AST_LOCK, logger

__all__ = ["EventEmitter", "Listener", "fit_arguments", "required_arguments"]

Listener = Callable[..., object]
_E = TypeVar("_E", bound="EventEmitter")

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

# Adding and removing listeners is rare and may happen on any thread (the application's,
# the I/O thread's in a listener): one lock for every emitter keeps each change whole.
# Emitting takes no lock: it iterates the list it found, which changes never mutate.
_REGISTRY_LOCK = threading.Lock()

# Reading a built-in's signature parses its text signature with ``ast.parse``, and on
# CPython before 3.12 two threads parsing at once can corrupt the AST module's shared
# recursion counter: ``SystemError: AST constructor recursion depth mismatch`` (seen when
# sixteen threads each added ``errors.append`` as a listener). Signatures are read only
# when a listener is added, so reading them one at a time, and never while wscli formats
# a traceback (``logs.AST_LOCK``), costs nothing that matters.


def required_arguments(function: Callable[..., object]) -> int | None:
    """Return how many positional arguments ``function`` requires; ``None`` for ``*args``.

    Parameters with defaults and keyword-only parameters do not count, as with
    JavaScript's ``Function.length``. A callable whose signature cannot be read (some
    built-ins) counts as ``*args``: it is given everything.
    """
    with AST_LOCK:
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            return None
        except SystemError:
            # A thread outside wscli parsed at the same moment (see AST_LOCK);
            # the counter is consistent again once that parse ends, so read once more.
            try:
                parameters = inspect.signature(function).parameters.values()
            except (TypeError, ValueError, SystemError):
                return None
    required = 0
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in _POSITIONAL and parameter.default is inspect.Parameter.empty:
            required += 1
    return required


# The attribute a stored listener keeps the application's function in, when it wraps one.
_GIVEN = "wscli_given"


def _given(entry: Listener) -> Listener:
    """Return the function the application gave for a stored listener."""
    given: Listener = getattr(entry, _GIVEN, entry)
    return given


def _fitted(listener: Listener, count: int) -> Listener:
    """Return a function calling ``listener`` with the first ``count`` arguments only.

    Closures rather than an object with ``__call__``: a one-argument ``message`` listener
    is called once per message, and a plain function call is the cheapest there is.
    """
    call: Listener
    if count == 0:

        def call(*args: Any) -> object:
            return listener()

    elif count == 1:

        def call(first: Any, *rest: Any) -> object:
            return listener(first)

    else:

        def call(*args: Any) -> object:
            return listener(*args[:count])

    setattr(call, _GIVEN, listener)
    return call


class _Once:
    """Removes itself before its first call."""

    __slots__ = ("emitter", "name", "call", _GIVEN)

    def __init__(self, emitter: EventEmitter, name: str, listener: Listener) -> None:
        self.emitter = emitter
        self.name = name
        setattr(self, _GIVEN, listener)
        self.call = fit_arguments(listener, emitter.event_arguments.get(name))

    def __call__(self, *args: Any) -> object:
        self.emitter.off(self.name, self)
        return self.call(*args)


def fit_arguments(listener: Listener, count: int | None = None) -> Listener:
    """Return a callable taking an event's arguments that passes ``listener`` its share.

    Args:
        listener: the application's function.
        count: how many arguments the event has, when known; a listener that takes
            exactly that many (or ``*args``) is returned as it is, so the common case
            costs nothing per call.
    """
    wanted = required_arguments(listener)
    if wanted is None or wanted == count:
        return listener
    if count is not None and wanted > count:
        # Asks for more than the event has: calling it raises the TypeError that says so.
        return listener
    return _fitted(listener, wanted)


class EventEmitter:
    """Named events with ordered listeners; listeners run on the emitting thread.

    Subclasses list their events and argument counts in :attr:`event_arguments` and
    declare typed ``on``/``once``/``add_listener`` methods on top of :meth:`_add`, so a
    type checker can tell a listener of the wrong shape.
    """

    #: Each documented event and how many arguments it is emitted with.
    event_arguments: ClassVar[Mapping[str, int]] = {}
    #: The level at which an ``error`` event nobody listens to is logged.
    unhandled_error_level: ClassVar[int] = logging.ERROR

    # A dict is made only once a listener is added: most connections never get one.
    _listeners: dict[str, list[Listener]] | None = None

    def _add(self: _E, name: str, listener: Listener, once: bool = False) -> _E:
        """Add ``listener`` for ``name``; the typed ``on``/``once`` call this."""
        if not callable(listener):
            raise TypeError(f"listener must be callable, not {type(listener).__name__}")
        if once:
            entry: Listener = _Once(self, name, listener)
        else:
            entry = fit_arguments(listener, self.event_arguments.get(name))
        with _REGISTRY_LOCK:
            if self._listeners is None:
                self._listeners = {}
            # Copy on write: an emit in progress keeps iterating its own list.
            self._listeners[name] = [*self._listeners.get(name, ()), entry]
        self._listener_added(name, entry)
        return self

    def off(self: _E, name: str, listener: Listener) -> _E:
        """Remove ``listener`` (added by ``on`` or ``once``) from ``name``; returns self."""
        with _REGISTRY_LOCK:
            if not self._listeners or name not in self._listeners:
                return self
            listeners = self._listeners[name]
            for index, candidate in enumerate(listeners):
                if candidate is listener or _given(candidate) is listener:
                    self._listeners[name] = listeners[:index] + listeners[index + 1 :]
                    break
            if not self._listeners[name]:
                del self._listeners[name]
        return self

    remove_listener = off

    def remove_all_listeners(self: _E, name: str | None = None) -> _E:
        """Remove every listener of ``name``, or of every event when ``name`` is None."""
        with _REGISTRY_LOCK:
            if self._listeners is not None:
                if name is None:
                    self._listeners = {}
                else:
                    self._listeners.pop(name, None)
        return self

    def listeners(self, name: str) -> list[Listener]:
        """Return the listeners of ``name`` as they were given, in calling order."""
        if not self._listeners:
            return []
        return [_given(entry) for entry in self._listeners.get(name, ())]

    def listener_count(self, name: str) -> int:
        """Return how many listeners ``name`` has."""
        if not self._listeners:
            return 0
        return len(self._listeners.get(name, ()))

    def emit(self, name: str, *args: Any) -> bool:
        """Call every listener of ``name`` with ``args``; returns whether there was any.

        An ``error`` event with no listener is logged (see :attr:`unhandled_error_level`).
        """
        listeners = self._listeners.get(name) if self._listeners else None
        if not listeners:
            if name == "error" and args:
                error = args[0]
                logger.log(
                    self.unhandled_error_level,
                    "%r: unhandled error event: %s",
                    self,
                    error,
                    exc_info=error if isinstance(error, BaseException) else None,
                )
            return False
        for listener in listeners:
            try:
                listener(*args)
            except BaseException as exc:
                self._listener_raised(name, exc)
        return True

    def _listener_raised(self, name: str, exc: BaseException) -> None:
        """Hand a listener's exception to the ``error`` listeners, or log it.

        ``SystemExit`` and the like are caught too: the emitting thread is often the
        reactor, serving every connection, and a listener calling ``sys.exit()`` must
        not end it. Only a ``KeyboardInterrupt`` on the main thread goes on up.
        """
        if isinstance(exc, KeyboardInterrupt) and (
            threading.current_thread() is threading.main_thread()
        ):
            raise exc
        if name != "error" and self.listener_count("error"):
            self.emit("error", exc)
        else:
            logger.error("%r: a %r listener raised", self, name, exc_info=exc)

    def _listener_added(self, name: str, entry: Listener) -> None:
        """Hook for subclasses: ``entry`` (a stored listener) was just added."""
