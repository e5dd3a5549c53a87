"""Opening the byte stream a client speaks WebSocket over: TCP, TLS or a Unix socket.

Opening is blocking and bounded by a deadline; it runs on the caller's thread (or a
short-lived one for :class:`~wscli.core.sync.websocket.WebSocket`), never on the reactor.
The steps, each optional but the first:

1. reach the server: a Unix socket for ``ws+unix://``, a tunnel through an HTTP CONNECT
   or SOCKS5 proxy (:mod:`~wscli.core.sync.proxy`), or a direct TCP connection;
2. for ``wss://``, negotiate TLS over it, checking the certificate against the host
   name (or ``server_hostname``, which is also what SNI carries).

Failures become :class:`ConnectFailed` (an ``OSError``) whose message says what failed
in one line: resolution, refusal, timeout, the proxy's answer, or the certificate
problem (unknown authority, name mismatch, expiry).
"""

from __future__ import annotations

import socket
import ssl
import time

from ..exceptions import ConnectFailed, TLSFailed
from ..uri import WebSocketURI
from .proxy import open_tunnel, proxy_for
from .resolve import create_connection
from .timings import PhaseClock
from .tls import describe_tls_error

__all__ = ["open_stream", "ConnectFailed", "default_ssl_context"]


def default_ssl_context() -> ssl.SSLContext:
    """A client context with the system's trust store and hostname checks."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


def _host_port(uri: WebSocketURI) -> str:
    """``host:port`` for messages, an IPv6 address in brackets (``[::1]:8080``)."""
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    return f"{host}:{uri.port}"


def _connect_tcp(
    uri: WebSocketURI, timeout: float | None, clock: PhaseClock | None
) -> socket.socket:
    try:
        # DNS counts against the timeout too (socket.create_connection's does not).
        return create_connection((uri.host, uri.port), timeout, clock)
    except socket.gaierror as exc:
        raise ConnectFailed(f"cannot resolve host {uri.host}: {exc.strerror}") from exc
    except TimeoutError as exc:
        raise ConnectFailed(f"timed out connecting to {_host_port(uri)}") from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConnectFailed(f"cannot connect to {_host_port(uri)}: {reason.lower()}") from exc


def _connect_unix(path: str, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except TimeoutError as exc:
        sock.close()
        raise ConnectFailed(f"timed out connecting to {path}") from exc
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise ConnectFailed(f"cannot connect to {path}: {reason}") from exc
    return sock


def _start_tls(
    sock: socket.socket,
    context: ssl.SSLContext,
    hostname: str,
    timeout: float | None,
) -> ssl.SSLSocket:
    try:
        sock.settimeout(timeout)
        return context.wrap_socket(sock, server_hostname=hostname)
    except (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError) as exc:
        # A TLS server answers a ClientHello, even to refuse it (an alert); a plain
        # one (wscli's included) hangs up on bytes that cannot start an HTTP request.
        sock.close()
        raise TLSFailed(
            f"tls: the server closed the connection during the tls handshake with {hostname}"
            " (is it a plain ws:// server?)"
        ) from exc
    except ssl.SSLError as exc:
        sock.close()
        raise TLSFailed(describe_tls_error(exc, hostname)) from exc
    except TimeoutError as exc:
        sock.close()
        raise TLSFailed(f"timed out during the tls handshake with {hostname}") from exc
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise TLSFailed(
            f"tls: connection lost during the handshake with {hostname}: {reason}"
        ) from exc


def open_stream(
    uri: WebSocketURI,
    *,
    timeout: float | None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    sock: socket.socket | None = None,
    proxy: str | bool | None = False,
    clock: PhaseClock | None = None,
) -> socket.socket:
    """Connect to ``uri``'s host (or Unix socket) and negotiate TLS for ``wss://``.

    Args:
        uri: the parsed address.
        timeout: seconds for the whole of DNS, TCP, the proxy and TLS; ``None`` waits
            as long as the OS does.
        ssl_context: the TLS settings for ``wss://``; the system defaults otherwise.
        server_hostname: the name to send in SNI and check the certificate against;
            the URI's host by default.
        sock: an already connected socket to use instead (TLS is still applied).
        proxy: a proxy address (``http://``, ``socks5://``, ``socks5h://``); ``None``
            reads ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` from the environment;
            ``False`` connects directly.
        clock: records how long each phase took (resolution, connect, proxy, TLS).

    Returns:
        A connected socket in blocking mode with the remaining timeout set.

    Raises:
        ConnectFailed: with a one-line reason (resolution, refusal, proxy, timeout, TLS).
        ValueError: the proxy address is not usable.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    where = uri.unix_path or f"{uri.host}:{uri.port}"

    def remaining() -> float | None:
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConnectFailed(f"timed out connecting to {where}")
        return left

    if sock is None:
        if uri.unix_path is not None:
            started = time.perf_counter()
            sock = _connect_unix(uri.unix_path, remaining())
            if clock is not None:
                clock.end("tcp", started)
        else:
            via = proxy_for(uri, proxy)
            if via is not None:
                sock = open_tunnel(via, uri.host, uri.port, timeout=remaining(), clock=clock)
            else:
                sock = _connect_tcp(uri, remaining(), clock)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if uri.secure:
        context = ssl_context or default_ssl_context()
        try:
            left = remaining()
        except ConnectFailed:
            sock.close()
            raise
        started = time.perf_counter()
        sock = _start_tls(sock, context, server_hostname or uri.host, left)
        if clock is not None:
            clock.end("tls", started)
    return sock
