"""Keep credentials out of messages: the rules for showing addresses and headers that hold them.

Addresses reach error messages, logs and ``-v`` output; a ``user:password@`` in them is a
secret the user typed once and should never see printed back (or find in a CI log). The
same goes for the credentials of an ``Authorization`` header shown with a handshake:
``--auth`` read from a file or the environment must not end up on the screen anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["redact_userinfo", "redact_credentials", "CREDENTIAL_HEADERS"]

#: Headers whose value is ``scheme credentials``: shown with the credentials hidden.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


def redact_userinfo(url: str) -> str:
    """Return ``url`` with any ``user:password@`` before the host replaced by ``***@``.

    Works on malformed addresses too (those are the ones that end up in error messages):
    only the authority, up to the first ``/``, ``?`` or ``#`` after the scheme, is looked at.
    """
    text = url
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority_end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index >= 0:
            authority_end = min(authority_end, index)
    at = rest.rfind("@", 0, authority_end)
    if at < 0:
        return text
    return f"{scheme}{sep}***@{rest[at + 1 :]}"


def redact_credentials(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return ``headers`` with the credentials of :data:`CREDENTIAL_HEADERS` replaced by ``***``.

    The scheme stays (``Basic ***``), so what kind of credentials went is still visible.
    """
    shown = []
    for name, value in headers:
        if name.lower() in CREDENTIAL_HEADERS:
            scheme, _, secret = value.strip().partition(" ")
            value = f"{scheme} ***" if secret else "***"
        shown.append((name, value))
    return shown
