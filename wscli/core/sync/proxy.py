"""Reaching a WebSocket server through a proxy: HTTP CONNECT or SOCKS5.

Both kinds end in the same place: a TCP socket whose far end is the WebSocket server,
over which TLS (for ``wss://``) and the upgrade then run as if connected directly.

* **HTTP CONNECT** (RFC 7231 §4.3.6, RFC 9110 §9.3.6): ask the proxy to open a tunnel to
  ``host:port``; any 2xx answer means the tunnel is open and the bytes after its blank
  line belong to the server. ``Proxy-Authorization: Basic`` carries the proxy URL's
  credentials (RFC 7235 §4.4, RFC 7617).
* **SOCKS5** (RFC 1928), with username/password authentication (RFC 1929).
  ``socks5://`` resolves the host name here and sends an address, as curl does;
  ``socks5h://`` lets the proxy resolve it.

Which proxy applies comes from the ``proxy`` option, or else from the environment as
curl, pip and Go's net/http read it: ``wss://`` uses ``HTTPS_PROXY``, ``ws://`` uses
``HTTP_PROXY``, both fall back to ``ALL_PROXY`` (lower-case names win), and
``NO_PROXY`` lists hosts to reach directly. Like Go, loopback hosts never use a proxy
from the environment, so a proxy set for the outside world does not capture local
test servers; an explicit ``proxy`` still applies to them.

**Secrets stay out of messages.** A proxy address may carry ``user:password@``; every
message this module makes shows the proxy without them (``ProxyURL.__str__``,
:func:`redact_proxy`), whether the address came from an argument or the environment.

**One deadline.** :func:`open_tunnel` takes the time left for the whole connection and
re-arms the socket's timeout with what remains before every read and write, so a proxy
that answers a byte at a time cannot stretch the caller's ``open_timeout``.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..exceptions import ProxyError
from ..headers import check_header
from ..redact import redact_userinfo
from ..uri import WebSocketURI
from .resolve import create_connection, getaddrinfo
from .timings import PhaseClock

__all__ = ["ProxyURL", "ProxyError", "parse_proxy", "proxy_for", "open_tunnel", "redact_proxy"]

_SCHEMES = {"http": 8080, "socks5": 1080, "socks5h": 1080}
_MAX_RESPONSE_HEAD = 16384

# RFC 1928 §6 reply codes.
_SOCKS_REPLIES = {
    1: "general socks server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "ttl expired",
    7: "command not supported",
    8: "address type not supported",
}


@dataclass(frozen=True)
class ProxyURL:
    """A parsed proxy address."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # a secret: never shown

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def redact_proxy(url: str) -> str:
    """Return ``url`` with any ``user:password@`` replaced by ``***@``, for messages."""
    return redact_userinfo(url.strip())


def parse_proxy(url: str) -> ProxyURL:
    """Parse ``http://``, ``socks5://`` or ``socks5h://`` proxy addresses.

    A bare ``host:port`` means an HTTP proxy, as curl takes it.

    Raises:
        ValueError: the scheme is not supported or the host is missing.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid proxy address {redact_proxy(url)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "https":
        # Tunnelling wss through TLS to the proxy would need TLS inside TLS.
        raise ValueError(f"https proxies are not supported ({redact_proxy(url)!r}); use http://")
    if scheme not in _SCHEMES:
        raise ValueError(
            f"unsupported proxy scheme {scheme!r} in {redact_proxy(url)!r}; "
            "use http, socks5 or socks5h"
        )
    if not parts.hostname:
        raise ValueError(f"invalid proxy address {redact_proxy(url)!r}: missing host")
    username = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    return ProxyURL(scheme, parts.hostname, port or _SCHEMES[scheme], username, password)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    # curl honours only the lower-case http_proxy (a CGI script's HTTP_PROXY may come
    # from a request header); the rest are read in both cases, lower-case first.
    for key in (name.lower(), name.upper()):
        if key == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
            continue
        value = environ.get(key)
        if value is not None:
            return value.strip()
    return None


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Tell whether ``NO_PROXY`` names ``host`` (curl's rules, plus CIDR blocks)."""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        pattern, entry_port = entry, None
        if entry.startswith("["):
            pattern, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:
            pattern, entry_port = entry.split(":")
        if entry_port and entry_port.isdigit() and int(entry_port) != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(pattern, strict=False):
                    return True
            except ValueError:
                pass
            continue
        pattern = pattern.lstrip("*").lstrip(".").rstrip(".")
        if host == pattern or host.endswith("." + pattern):
            return True
    return False


def proxy_for(
    uri: WebSocketURI,
    proxy: str | bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProxyURL | None:
    """Decide which proxy, if any, carries a connection to ``uri``.

    Args:
        uri: where the connection goes.
        proxy: a proxy address to use; ``None`` reads the environment; ``False`` or
            an empty string connects directly.
        environ: the environment to read (``os.environ`` by default).

    Raises:
        ValueError: the proxy address is not usable.
    """
    if uri.unix_path is not None or proxy is False or proxy == "":
        return None
    if isinstance(proxy, str):
        return parse_proxy(proxy)
    if proxy is True:
        proxy = None
    environ = os.environ if environ is None else environ
    if _is_loopback(uri.host):
        return None
    url = _env(environ, "https_proxy" if uri.secure else "http_proxy") or _env(environ, "all_proxy")
    if not url:
        return None
    no_proxy = _env(environ, "no_proxy")
    if no_proxy and _bypassed(uri.host, uri.port, no_proxy):
        return None
    return parse_proxy(url)


class _Link:
    """The socket to the proxy, with the deadline every read and write must meet."""

    __slots__ = ("sock", "proxy", "end")

    def __init__(self, sock: socket.socket, proxy: ProxyURL, timeout: float | None) -> None:
        self.sock = sock
        self.proxy = proxy
        self.end = None if timeout is None else time.monotonic() + timeout

    def _arm(self) -> None:
        # Each socket call gets only what is left of the whole, never a fresh timeout.
        if self.end is None:
            return
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("proxy deadline passed")
        self.sock.settimeout(left)

    def resolve(self, host: str, port: int) -> str:
        """Resolve ``host`` here (``socks5://``) within what is left of the deadline."""
        left = None if self.end is None else self.end - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("proxy deadline passed")
        return _resolve_locally(host, port, left)

    def recv(self, size: int, flags: int = 0) -> bytes:
        self._arm()
        return self.sock.recv(size, flags)

    def sendall(self, data: bytes) -> None:
        self._arm()
        self.sock.sendall(data)

    def recv_exactly(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.recv(size - len(data))
            if not chunk:
                raise ProxyError(f"proxy {self.proxy} closed the connection")
            data += chunk
        return bytes(data)


def _basic(username: str | None, password: str | None) -> str:
    credentials = f"{username or ''}:{password or ''}".encode()
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def _read_connect_response(link: _Link) -> bytes:
    """Read the proxy's answer head and nothing past it.

    Bytes after the blank line are the server's, so the head is found by peeking and
    then only its own bytes are consumed.
    """
    head = bytearray()
    while True:
        peeked = link.recv(_MAX_RESPONSE_HEAD, socket.MSG_PEEK)
        if not peeked:
            raise ProxyError(f"proxy {link.proxy} closed the connection during CONNECT")
        joined = bytes(head) + peeked
        end = joined.find(b"\r\n\r\n")
        if end >= 0:
            head += link.recv_exactly(end + 4 - len(head))
            return bytes(head)
        head += link.recv_exactly(len(peeked))
        if len(head) > _MAX_RESPONSE_HEAD:
            raise ProxyError(f"proxy {link.proxy} sent an oversized response to CONNECT")


def _authority(host: str, port: int) -> str:
    """``host:port`` for CONNECT, checked by the rule every written header follows.

    Raises:
        ValueError: the host would carry a space, CR, LF or other control character
            into the request line or the Host header.
    """
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    check_header("Host", authority)
    if " " in authority or "\t" in authority:
        raise ValueError(f"header Host: invalid host for CONNECT {host!r}")
    return authority


def _http_connect(link: _Link, host: str, port: int) -> None:
    proxy = link.proxy
    authority = _authority(host, port)
    # RFC 7231 §4.3.6: the request target of CONNECT is the authority form host:port.
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if proxy.username is not None:
        lines.append(f"Proxy-Authorization: {_basic(proxy.username, proxy.password)}")
    link.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = _read_connect_response(link)
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProxyError(f"proxy {proxy} sent a malformed answer: {status_line[:80]!r}")
    status = int(parts[1])
    # RFC 7231 §4.3.6: any 2xx means the tunnel is open.
    if not 200 <= status < 300:
        reason = f" {parts[2]}" if len(parts) > 2 else ""
        hint = ""
        if status == 407:
            hint = " (credentials missing)" if proxy.username is None else " (credentials refused)"
        raise ProxyError(
            f"proxy {proxy} refused CONNECT to {authority}: HTTP {status}{reason}{hint}"
        )


def _socks5_connect(
    link: _Link,
    host: str,
    port: int,
    resolve: Callable[[str, int], str],
) -> None:
    proxy = link.proxy
    # RFC 1928 §3: offer "no authentication" and, with credentials, username/password.
    methods = b"\x00\x02" if proxy.username is not None else b"\x00"
    link.sendall(b"\x05" + bytes([len(methods)]) + methods)
    version, method = link.recv_exactly(2)
    if version != 5:
        raise ProxyError(f"proxy {proxy} does not speak socks5")
    if method == 0xFF:
        raise ProxyError(f"socks5 proxy {proxy} accepts none of our authentication methods")
    if method == 0x02:
        if proxy.username is None:
            raise ProxyError(f"socks5 proxy {proxy} asked for credentials we do not have")
        # RFC 1929 §2: VER=1, ULEN, UNAME, PLEN, PASSWD; each at most 255 bytes.
        user = proxy.username.encode()
        password = (proxy.password or "").encode()
        if len(user) > 255 or len(password) > 255:
            raise ProxyError("socks5 username and password are limited to 255 bytes")
        link.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        _, status = link.recv_exactly(2)
        if status != 0:
            raise ProxyError(f"socks5 proxy {proxy} refused our credentials")
    elif method != 0x00:
        raise ProxyError(f"socks5 proxy {proxy} chose an unknown method {method:#x}")

    if proxy.scheme == "socks5":
        host = resolve(host, port)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        name = host.encode("idna")
        if len(name) > 255:
            raise ProxyError(f"host name too long for socks5: {host}") from None
        target = b"\x03" + bytes([len(name)]) + name
    else:
        target = (b"\x01" if address.version == 4 else b"\x04") + address.packed
    # RFC 1928 §4: VER=5, CMD=1 (CONNECT), RSV=0, then the address and the port.
    link.sendall(b"\x05\x01\x00" + target + port.to_bytes(2, "big"))
    version, reply, _, address_type = link.recv_exactly(4)
    if version != 5:
        raise ProxyError(f"proxy {proxy} sent a malformed socks5 reply")
    if reply != 0:
        why = _SOCKS_REPLIES.get(reply, f"error {reply:#x}")
        raise ProxyError(f"socks5 proxy {proxy} cannot reach {host}:{port}: {why}")
    # RFC 1928 §6: skip BND.ADDR and BND.PORT, whose length depends on ATYP.
    if address_type == 1:
        link.recv_exactly(4 + 2)
    elif address_type == 4:
        link.recv_exactly(16 + 2)
    elif address_type == 3:
        (length,) = link.recv_exactly(1)
        link.recv_exactly(length + 2)
    else:
        raise ProxyError(f"proxy {proxy} sent an unknown address type {address_type}")


def _resolve_locally(host: str, port: int, timeout: float | None = None) -> str:
    try:
        infos = getaddrinfo(host, port, timeout)
    except socket.gaierror as exc:
        raise ProxyError(f"cannot resolve host {host}: {exc.strerror}") from exc
    return str(infos[0][4][0])


def open_tunnel(
    proxy: ProxyURL,
    host: str,
    port: int,
    *,
    timeout: float | None,
    resolve: Callable[[str, int], str] | None = None,
    clock: PhaseClock | None = None,
) -> socket.socket:
    """Connect to ``proxy`` and ask it for a tunnel to ``host:port``.

    Args:
        proxy: the proxy to go through.
        host: the WebSocket server's host.
        port: its port.
        timeout: seconds for the whole of connecting and negotiating; each read and
            write waits only for what is left of it.
        resolve: turns a host name into an address for ``socks5://``; by default
            the system resolver, within what is left of ``timeout``.
        clock: records resolving the proxy's name (``dns``), connecting to it
            (``tcp``) and the negotiation, until the tunnel is ready (``proxy``).

    Returns:
        A connected blocking socket whose far end is ``host:port``.

    Raises:
        ProxyError: the proxy is unreachable, refused, answered nonsense, or did not
            finish within ``timeout``.
        ValueError: ``host`` cannot be written into a CONNECT request.
    """
    if proxy.scheme == "http":
        _authority(host, port)  # refuse before anything is sent
    try:
        sock = create_connection((proxy.host, proxy.port), timeout, clock)
    except socket.gaierror as exc:
        raise ProxyError(f"cannot resolve proxy host {proxy.host}: {exc.strerror}") from exc
    except TimeoutError as exc:
        raise ProxyError(f"timed out connecting to proxy {proxy}") from exc
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ProxyError(f"cannot connect to proxy {proxy}: {reason}") from exc
    started = time.perf_counter()
    link = _Link(sock, proxy, timeout)
    try:
        if proxy.scheme == "http":
            _http_connect(link, host, port)
        else:
            _socks5_connect(link, host, port, resolve or link.resolve)
    except TimeoutError as exc:
        sock.close()
        raise ProxyError(f"timed out waiting for proxy {proxy}") from exc
    except (ProxyError, ValueError):
        sock.close()
        raise
    except OSError as exc:
        sock.close()
        raise ProxyError(f"proxy {proxy} failed: {exc.strerror or exc}") from exc
    if clock is not None:
        clock.end("proxy", started)
    return sock
