"""wscli: a command-line WebSocket toolkit and the threaded, conformant library under it.

``import wscli`` gives the library (``connect``, ``WebSocket``, ``Server`` and the
exceptions) without importing click, rich or prompt-toolkit. Every name comes from
:mod:`wscli.core` on first use, so importing a sans-I/O module such as
``wscli.core.protocol`` (which imports this package first) loads no I/O machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import __all__ as _core_all

if TYPE_CHECKING:
    from .core import *  # noqa: F403

__version__ = "0.1.0"

__all__ = ["__version__", *_core_all]


def __getattr__(name: str) -> Any:
    """Hand out :mod:`wscli.core`'s public names (PEP 562), loading the threaded layer lazily."""
    if name not in _core_all:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import core

    value = getattr(core, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_core_all))
