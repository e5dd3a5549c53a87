"""Who ``wscli listen`` lets in: Origin, credentials, path and the connection cap, in one place.

Browsers apply no same-origin policy to WebSocket connections, so any page the user
visits can open ``ws://127.0.0.1:8080`` and drive ``--exec``, read a ``--broadcast``
relay or the operator's typed lines. The default therefore accepts what a browser page
of someone else cannot send:

* a request without ``Origin`` (command-line clients and libraries send none);
* an ``Origin`` on the loopback host (``http(s)://localhost``, ``127.0.0.0/8``,
  ``[::1]``, any port): the developer's own pages;

and refuses every other ``Origin`` with 403. ``--origin URL`` (repeatable) accepts
exactly those origins instead (and no request without one); ``--any-origin`` accepts
every origin, as a deliberate choice.

Every refusal is reported through ``on_refused`` as one line saying who, what and how
to allow it, whatever the verbosity.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .params import basic_authorization

__all__ = ["AdmissionPolicy", "Refusal", "is_loopback_origin"]


def is_loopback_origin(origin: str) -> bool:
    """Whether ``origin`` is ``http(s)://`` on localhost, 127.0.0.0/8 or [::1], any port."""
    try:
        parts = urlsplit(origin.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Refusal:
    """One refused upgrade: what the client gets and what the log says."""

    status: int
    message: str
    hint: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class AdmissionPolicy:
    """The checks ``listen`` makes before accepting an upgrade.

    Args:
        origins: accept exactly these Origins (``--origin``); empty: the safe default.
        any_origin: accept every Origin (``--any-origin``).
        credentials: ``(user, password)`` for HTTP Basic (``--auth``); others get 401.
        path: accept upgrades for this path only (``--path``); others get 400.
        max_clients: refuse clients beyond this many with 503.
        count_clients: how many clients are connected now (set by the session).
    """

    origins: Sequence[str] = ()
    any_origin: bool = False
    credentials: tuple[str, str] | None = None
    path: str | None = None
    max_clients: int | None = None
    count_clients: Callable[[], int] = field(default=lambda: 0)

    def check(self, origin: str | None, request: Any) -> Refusal | None:
        """Return why the request is refused, or ``None`` to accept it."""
        if self.path is not None:
            requested = request.path.split("?", 1)[0]
            if requested != self.path:
                return Refusal(400, f"no websocket endpoint at {requested}")
        refusal = self._check_origin(origin)
        if refusal is not None:
            return refusal
        if self.credentials is not None:
            expected = basic_authorization(*self.credentials).split(" ", 1)[1]
            # The scheme is case-insensitive (RFC 7235 §2.1): "basic" is "Basic".
            given = (request.headers.get("Authorization") or "").strip()
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "basic" or not hmac.compare_digest(
                token.strip().encode(), expected.encode()
            ):
                return Refusal(
                    401,
                    "unauthorized",
                    "wrong or missing --auth credentials",
                    {"WWW-Authenticate": 'Basic realm="wscli"'},
                )
        if self.max_clients is not None and self.count_clients() >= self.max_clients:
            return Refusal(503, "too many connections", f"--max-clients is {self.max_clients}")
        return None

    def _check_origin(self, origin: str | None) -> Refusal | None:
        if self.any_origin:
            return None
        if self.origins:
            allowed = {value.strip().rstrip("/").lower() for value in self.origins}
            if origin is not None and origin.strip().rstrip("/").lower() in allowed:
                return None
            if origin is None:
                return Refusal(403, "an Origin header is required", "--origin is set")
            return Refusal(
                403,
                f"origin {origin} is not allowed",
                f"add --origin {origin} to allow it",
            )
        if origin is None or is_loopback_origin(origin):
            return None
        return Refusal(
            403,
            f"origin {origin} is not allowed",
            f"only loopback origins are allowed by default: add --origin {origin}, or --any-origin",
        )

    def verifier(self, on_refused: Callable[[Any, Refusal], Any]) -> Callable[[Any], Any]:
        """A ``Server(verify_client=...)`` function that applies the policy.

        Args:
            on_refused: called as ``on_refused(info, refusal)`` for each refusal.
        """

        def verify(info: Any) -> Any:
            refusal = self.check(info.origin, info.req)
            if refusal is None:
                return True
            on_refused(info, refusal)
            return (False, refusal.status, refusal.message, refusal.headers or None)

        return verify
