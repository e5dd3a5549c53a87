"""Opening the byte stream a client speaks WebSocket over: TCP, TLS or a Unix socket.

Opening is blocking and bounded by a deadline; it runs on the caller's thread (or a
short-lived one for :class:`~wscli.core.sync.client.WebSocket`), never on the reactor.
Failures become ``OSError`` subclasses whose message says what failed in one line.
"""

from __future__ import annotations

import socket
import ssl
import time

from ..uri import WebSocketURI

__all__ = ["open_stream", "ConnectFailed", "default_ssl_context"]


class ConnectFailed(OSError):
    """The TCP, TLS or Unix-socket connection could not be made; the message says why."""


def default_ssl_context() -> ssl.SSLContext:
    """A client context with the system's trust store and hostname checks."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


def _describe_tls_error(exc: ssl.SSLError, host: str) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        if "hostname" in str(reason).lower() or "mismatch" in str(reason).lower():
            return f"tls: certificate does not match host {host}: {reason}"
        return f"tls: certificate verification failed: {reason}"
    return f"tls: handshake failed: {exc.reason or exc}"


def open_stream(
    uri: WebSocketURI,
    *,
    timeout: float | None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    sock: socket.socket | None = None,
) -> socket.socket:
    """Connect to ``uri``'s host (or Unix socket) and negotiate TLS for ``wss://``.

    Args:
        uri: the parsed address.
        timeout: seconds for the whole of DNS, TCP and TLS; ``None`` waits as long as
            the OS does.
        ssl_context: the TLS settings for ``wss://``; the system defaults otherwise.
        server_hostname: the name to send in SNI and check the certificate against.
        sock: an already connected socket to use instead (TLS is still applied).

    Raises:
        ConnectFailed: with a one-line reason (resolution, refusal, timeout, TLS).
    """
    deadline = None if timeout is None else time.monotonic() + timeout

    def remaining() -> float | None:
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConnectFailed(f"timed out connecting to {uri.host}:{uri.port}")
        return left

    if sock is None:
        if uri.unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(remaining())
            try:
                sock.connect(uri.unix_path)
            except OSError as exc:
                sock.close()
                raise ConnectFailed(f"cannot connect to {uri.unix_path}: {exc.strerror or exc}") from exc
        else:
            try:
                sock = socket.create_connection((uri.host, uri.port), timeout=remaining())
            except socket.gaierror as exc:
                raise ConnectFailed(f"cannot resolve host {uri.host}: {exc.strerror}") from exc
            except (TimeoutError, socket.timeout) as exc:
                raise ConnectFailed(f"timed out connecting to {uri.host}:{uri.port}") from exc
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise ConnectFailed(
                    f"cannot connect to {uri.host}:{uri.port}: {reason.lower()}"
                ) from exc
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if uri.secure:
        context = ssl_context or default_ssl_context()
        hostname = server_hostname or uri.host
        try:
            sock.settimeout(remaining())
            sock = context.wrap_socket(sock, server_hostname=hostname)
        except ssl.SSLError as exc:
            sock.close()
            raise ConnectFailed(_describe_tls_error(exc, hostname)) from exc
        except (TimeoutError, socket.timeout) as exc:
            sock.close()
            raise ConnectFailed(f"timed out during the tls handshake with {hostname}") from exc
        except OSError as exc:
            sock.close()
            raise ConnectFailed(f"tls: connection lost during handshake: {exc}") from exc
    return sock
