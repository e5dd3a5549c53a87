"""WebSocket users for Locust: ``from wscli.locust import WebSocketUser``.

Locust (``pip install 'wscli-toolkit[locust]'``) coordinates load workers on many
machines and aggregates their statistics; :mod:`wscli.locust.user` gives it a WebSocket
user whose ``self.ws`` reports to those statistics, and :mod:`wscli.locust.client` the
connection under it (the sans-I/O core over the user's own socket, so each Locust user
is one gevent greenlet with nothing else to wake).

The Locust names are imported on first use: importing this package, or the client,
neither needs Locust nor lets Locust patch the standard library for gevent (which it does
as it is imported). ``import wscli`` never imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import WebSocketClient

if TYPE_CHECKING:
    from .user import LocustWebSocket, WebSocketFailure, WebSocketUser

__all__ = ["WebSocketUser", "LocustWebSocket", "WebSocketFailure", "WebSocketClient"]

_FROM_USER = {"WebSocketUser", "LocustWebSocket", "WebSocketFailure"}


def __getattr__(name: str) -> Any:
    """Import the Locust-based names when first asked for (this imports Locust)."""
    if name in _FROM_USER:
        from . import user

        return getattr(user, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
