"""Keep credentials out of messages: the one rule for showing an address that may hold them.

Addresses reach error messages, logs and ``-v`` output; a ``user:password@`` in them is a
secret the user typed once and should never see printed back (or find in a CI log).
"""

from __future__ import annotations

__all__ = ["redact_userinfo"]


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
