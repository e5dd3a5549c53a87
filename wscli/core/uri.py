"""ws://, wss:// and ws+unix:// addresses (RFC 6455 §3).

``ws+unix:///path/to.sock:/request/path`` names a Unix socket and the request path
within it, the same spelling the Node.js ws library accepts.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]


@dataclass(frozen=True)
class WebSocketURI:
    """A parsed WebSocket address."""

    secure: bool
    host: str
    port: int
    path: str = "/"
    query: str = ""
    user_info: tuple[str, str] | None = None
    unix_path: str | None = None

    @property
    def resource_name(self) -> str:
        """The request target: path plus query (RFC 6455 §3)."""
        return self.path + ("?" + self.query if self.query else "")

    @property
    def scheme(self) -> str:
        """``wss`` or ``ws``."""
        return "wss" if self.secure else "ws"

    @property
    def host_header(self) -> str:
        """The Host header value: the port is left out when it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == (443 if self.secure else 80):
            return host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        if self.unix_path is not None:
            return f"ws+unix://{self.unix_path}:{self.resource_name}"
        return f"{self.scheme}://{self.host_header}{self.resource_name}"


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and check a WebSocket address.

    ``http``/``https`` are accepted as spellings of ``ws``/``wss``, and an address with
    no scheme is taken as ``ws://``, as wscat and websocat do.

    Raises:
        InvalidURI: the scheme, host, port or syntax is not usable.
    """
    text = uri.strip()
    if not text:
        raise InvalidURI(uri, "empty address")
    if text.startswith("ws+unix:"):
        rest = text[len("ws+unix:") :]
        if rest.startswith("//"):
            rest = rest[2:]
        sock_path, _, resource = rest.partition(":")
        if not sock_path:
            raise InvalidURI(uri, "missing socket path")
        path, _, query = (resource or "/").partition("?")
        if not path.startswith("/"):
            path = "/" + path
        return WebSocketURI(False, "localhost", 80, path, query, None, sock_path)
    if "://" not in text:
        text = "ws://" + text
    try:
        parsed = urllib.parse.urlsplit(text)
        port = parsed.port
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from exc
    scheme = parsed.scheme.lower()
    if scheme in ("ws", "http"):
        secure = False
    elif scheme in ("wss", "https"):
        secure = True
    else:
        raise InvalidURI(uri, f"scheme {parsed.scheme!r} isn't ws or wss")
    if parsed.fragment:
        raise InvalidURI(uri, "fragment identifiers are not allowed (RFC 6455 §3)")
    host = parsed.hostname
    if not host:
        raise InvalidURI(uri, "missing host")
    if any(char <= " " or char == "\x7f" for char in host):
        # urlsplit keeps spaces and control characters, which would end up in Host.
        raise InvalidURI(uri, f"invalid character in host {host!r}")
    if port is None:
        port = 443 if secure else 80
    path = parsed.path or "/"
    # Percent-encode what cannot go on a request line, keep what is already encoded.
    path = urllib.parse.quote(path, safe="/%:@!$&'()*+,;=-._~")
    query = urllib.parse.quote(parsed.query, safe="/%:@!$&'()*+,;=-._~?")
    user_info = None
    if parsed.username is not None:
        user_info = (
            urllib.parse.unquote(parsed.username),
            urllib.parse.unquote(parsed.password or ""),
        )
    return WebSocketURI(secure, host, port, path, query, user_info)
