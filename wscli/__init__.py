"""wscli: a command-line WebSocket toolkit and the threaded, conformant library under it.

``import wscli`` gives the library (``connect``, ``WebSocket``, ``Server`` and the
exceptions) without importing click, rich or prompt-toolkit.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core import *  # noqa: E402,F403
from .core import __all__ as _core_all  # noqa: E402

__all__ = ["__version__", *_core_all]
