"""ws://, wss:// and ws+unix:// addresses (RFC 6455 §3).

``ws+unix:///path/to.sock:/request/path`` names a Unix socket and the request path
within it, the same spelling the Node.js ws library accepts.

Redirects are decided here too (:func:`resolve_redirect`), as a careful HTTP client
decides them: a ``Location`` the server chose is data, so it may lead only to another
``ws://``/``wss://`` address, never to a local Unix socket, and never from ``wss://``
down to cleartext ``ws://`` unless the caller opted in. :func:`same_origin` tells the
caller when a hop leaves the first origin, so that what was meant for it (headers,
subprotocols, Origin, TLS settings) stays behind.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from dataclasses import dataclass

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri", "resolve_redirect", "same_origin"]


@dataclass(frozen=True)
class WebSocketURI:
    """A parsed WebSocket address."""

    secure: bool
    host: str
    port: int
    path: str = "/"
    query: str = ""
    #: ``(user, password)`` from ``user:password@``; left out of ``repr`` (a secret).
    user_info: tuple[str, str] | None = dataclasses.field(default=None, repr=False)
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


def same_origin(a: WebSocketURI, b: WebSocketURI) -> bool:
    """Tell whether two addresses share scheme, host and port (RFC 6454 §5).

    Two ``ws+unix://`` addresses are the same origin when they name the same socket.
    """
    if a.unix_path is not None or b.unix_path is not None:
        return a.unix_path == b.unix_path
    return (a.secure, a.host.lower(), a.port) == (b.secure, b.host.lower(), b.port)


def resolve_redirect(
    current: WebSocketURI, location: str, *, allow_insecure: bool = False
) -> WebSocketURI:
    """Work out where a redirect's ``Location`` leads from ``current``, or refuse it.

    A relative location resolves against ``current`` (on a Unix socket, a path stays
    on that socket). ``http``/``https`` mean ``ws``/``wss``; the fragment is dropped.

    Args:
        current: the address that answered with the redirect.
        location: the ``Location`` header's value, as the server sent it.
        allow_insecure: follow ``wss://`` → ``ws://`` (the conversation would then
            go in cleartext); refused by default.

    Raises:
        InvalidURI: the location is not a ``ws://``/``wss://`` address, names a Unix
            socket (a remote server must not reach local services), or would downgrade
            ``wss://`` to ``ws://`` without ``allow_insecure``.
    """
    text = location.strip()
    if text.lower().startswith("ws+unix:"):
        raise InvalidURI(location, "a redirect may not lead to a unix socket")
    if current.unix_path is not None:
        if text.startswith("/") and not text.startswith("//"):
            # A path on the same socket: ws+unix has no host to resolve against.
            path, _, query = text.split("#", 1)[0].partition("?")
            return dataclasses.replace(current, path=path, query=query)
        if "://" not in text:
            raise InvalidURI(location, "on a unix socket, a relative redirect must be a path")
        joined = text
    else:
        base = ("https" if current.secure else "http") + str(current)[len(current.scheme) :]
        joined = urllib.parse.urljoin(base, text)
    scheme = joined.split(":", 1)[0].lower()
    if scheme not in ("ws", "wss", "http", "https"):
        raise InvalidURI(location, f"scheme {scheme!r} isn't ws or wss")
    target = parse_uri(joined.split("#", 1)[0])
    if current.secure and not target.secure and not allow_insecure:
        raise InvalidURI(
            location,
            "it would leave wss:// for cleartext ws:// (allow_insecure_redirect allows it)",
        )
    if target.user_info is None and same_origin(current, target):
        # user:pass@ of the address stays with its origin, as a relative link would keep it.
        target = dataclasses.replace(target, user_info=current.user_info)
    return target
