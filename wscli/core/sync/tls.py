"""TLS for both ends: building contexts, the server's non-blocking handshake, and reports.

Clients take their settings in the Node.js ws style (``ca``, ``cert``, ``key``,
``passphrase``, ``pfx``, ``ciphers``, ``reject_unauthorized``) and turn them into one
``ssl.SSLContext`` with :func:`client_ssl_context`; the handshake itself runs in
:func:`~wscli.core.sync.net.open_stream`, on the connecting thread.

Servers are different: the handshake runs on the reactor thread, which serves every
other client too, so it must never block. :func:`start_server_tls` wraps the accepted
socket with ``do_handshake_on_connect=False`` and retries ``do_handshake()`` each time
the socket is ready for what OpenSSL asked for (``SSLWantReadError`` → readable,
``SSLWantWriteError`` → writable), bounded by the server's ``open_timeout``. A client
that sends its ClientHello one byte a minute costs one registered socket, never a
thread or a stall.

Certificate failures become one-line messages that name the cause (unknown authority,
hostname mismatch, expired) rather than OpenSSL's error stack.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Union

from .reactor import EVENT_READ, EVENT_WRITE, Reactor

__all__ = [
    "PathOrPEM",
    "TLSInfo",
    "client_ssl_context",
    "server_ssl_context",
    "describe_tls_error",
    "tls_info",
    "start_server_tls",
    "ServerTLSHandshake",
]

logger = logging.getLogger("wscli.core")

#: A file name, or the PEM text itself (``str`` starting with ``-----BEGIN`` or ``bytes``).
PathOrPEM = Union[str, bytes, "os.PathLike[str]"]

# OpenSSL's X509_V_ERR_* codes that deserve their own wording.
_EXPIRED = 10
_NOT_YET_VALID = 9
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNKNOWN_ISSUER = (2, 20, 21)
_HOSTNAME_MISMATCH = 62
_IP_MISMATCH = 64


def _is_pem_text(value: PathOrPEM) -> bool:
    if isinstance(value, bytes):
        return True
    return isinstance(value, str) and value.lstrip().startswith("-----BEGIN")


@contextlib.contextmanager
def _as_file(value: PathOrPEM) -> Iterator[str]:
    """Yield a file name for ``value``: itself, or a private temporary copy of PEM text.

    ``SSLContext.load_cert_chain`` reads only files, while ws users often hold the
    certificate in memory; the copy is readable by this user only and removed at once.
    """
    if not _is_pem_text(value):
        yield str(os.fspath(value))
        return
    data = value if isinstance(value, bytes) else str(value).encode()
    fd, name = tempfile.mkstemp(prefix="wscli-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        yield name
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _load_ca(context: ssl.SSLContext, ca: PathOrPEM | list[PathOrPEM]) -> None:
    for item in ca if isinstance(ca, list) else [ca]:
        try:
            if isinstance(item, bytes):
                is_der = not item.lstrip().startswith(b"-----BEGIN")
                context.load_verify_locations(cadata=item if is_der else item.decode("ascii"))
            elif _is_pem_text(item):
                context.load_verify_locations(cadata=str(item))
            elif os.path.isdir(item):
                context.load_verify_locations(capath=os.fspath(item))
            else:
                context.load_verify_locations(cafile=os.fspath(item))
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ValueError(f"cannot load ca {_label(item)}: {_reason(exc)}") from exc


def _load_chain(
    context: ssl.SSLContext,
    cert: PathOrPEM,
    key: PathOrPEM | None,
    passphrase: str | bytes | None,
) -> None:
    # Without a passphrase OpenSSL would ask for one on the terminal, from inside a
    # library call (and wait for an answer): an empty one makes it fail instead.
    password = passphrase if passphrase is not None else ""
    try:
        with _as_file(cert) as certfile:
            if key is None:
                context.load_cert_chain(certfile, password=password)
            else:
                with _as_file(key) as keyfile:
                    context.load_cert_chain(certfile, keyfile, password=password)
    except (OSError, ssl.SSLError, ValueError) as exc:
        what = f"certificate {_label(cert)}" + (f" with key {_label(key)}" if key else "")
        if isinstance(exc, ssl.SSLError) and "PEM lib" in str(exc):
            why = (
                "the key is encrypted and no passphrase was given"
                if passphrase is None
                else "wrong passphrase, or a key that is not the certificate's"
            )
            raise ValueError(f"cannot load {what}: {why}") from exc
        raise ValueError(f"cannot load {what}: {_reason(exc)}") from exc


def _load_pfx(context: ssl.SSLContext, pfx: PathOrPEM, passphrase: str | bytes | None) -> None:
    """Load a PKCS#12 bundle (RFC 7292): the ``ssl`` module only reads PEM, so convert.

    The key is re-encrypted with a one-time password before it touches the disk.
    """
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
    except ImportError as exc:  # pragma: no cover - cryptography comes with trustme
        raise ValueError("pfx (PKCS#12) needs the 'cryptography' package") from exc
    if isinstance(pfx, bytes):
        data = pfx
    else:
        try:
            with open(pfx, "rb") as file:
                data = file.read()
        except OSError as exc:
            raise ValueError(f"cannot load pfx {_label(pfx)}: {_reason(exc)}") from exc
    password = passphrase.encode() if isinstance(passphrase, str) else passphrase
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError as exc:
        raise ValueError(f"cannot load pfx {_label(pfx)}: wrong passphrase or not PKCS#12") from exc
    if key is None or cert is None:
        raise ValueError(f"cannot load pfx {_label(pfx)}: it holds no key and certificate")
    one_time = os.urandom(24).hex().encode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time),
    )
    chain = [cert, *(extra or [])]
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    _load_chain(context, chain_pem, key_pem, one_time)


def _label(value: PathOrPEM | None) -> str:
    if value is None or _is_pem_text(value):
        return "(in memory)"
    return str(os.fspath(value))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(exc)


def client_ssl_context(
    *,
    ca: PathOrPEM | list[PathOrPEM] | None = None,
    cert: PathOrPEM | None = None,
    key: PathOrPEM | None = None,
    passphrase: str | bytes | None = None,
    pfx: PathOrPEM | None = None,
    ciphers: str | None = None,
    reject_unauthorized: bool = True,
) -> ssl.SSLContext:
    """Build the client's TLS settings from ws-style options.

    Without ``ca``, the system's trust store is used; with it, only those authorities
    are trusted (as ws and curl's ``--cacert`` do). Hostname checking stays on unless
    ``reject_unauthorized`` is False, which turns off every certificate check.

    Args:
        ca: trusted authorities: a file, a directory of hashed certificates, PEM text,
            DER bytes, or a list of those.
        cert: this client's certificate chain (file or PEM), for servers that ask.
        key: the private key for ``cert`` when it is not in the same file.
        passphrase: decrypts ``key`` or ``pfx``.
        pfx: a PKCS#12 bundle holding the key and certificates (needs ``cryptography``).
        ciphers: an OpenSSL cipher list for TLS 1.2 and older.
        reject_unauthorized: verify the server's certificate and name.

    Raises:
        ValueError: a file cannot be read, a passphrase is wrong, or no cipher matches;
            the message names the file.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca is not None:
        # An explicit ca replaces the system store rather than adding to it.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _load_ca(context, ca)
    if not reject_unauthorized:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if pfx is not None:
        _load_pfx(context, pfx, passphrase)
    elif cert is not None:
        _load_chain(context, cert, key, passphrase)
    elif key is not None:
        raise ValueError("a key needs a cert")
    if ciphers:
        try:
            context.set_ciphers(ciphers)
        except ssl.SSLError as exc:
            raise ValueError(f"no usable cipher in {ciphers!r}") from exc
    return context


def server_ssl_context(
    cert: PathOrPEM,
    key: PathOrPEM | None = None,
    *,
    passphrase: str | bytes | None = None,
    ca: PathOrPEM | list[PathOrPEM] | None = None,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """Build a server's TLS settings (``listen --tls-cert/--tls-key/--tls-ca``).

    Args:
        cert: the server's certificate chain, file or PEM.
        key: its private key, when not in ``cert``'s file.
        passphrase: decrypts ``key``.
        ca: with it, clients must present a certificate signed by one of these
            authorities, and the handshake fails otherwise.
        ciphers: an OpenSSL cipher list for TLS 1.2 and older.

    Raises:
        ValueError: a file cannot be read or the passphrase is wrong.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load_chain(context, cert, key, passphrase)
    if ca is not None:
        _load_ca(context, ca)
        context.verify_mode = ssl.CERT_REQUIRED
    if ciphers:
        try:
            context.set_ciphers(ciphers)
        except ssl.SSLError as exc:
            raise ValueError(f"no usable cipher in {ciphers!r}") from exc
    return context


def describe_tls_error(exc: BaseException, host: str | None = None) -> str:
    """Say in one line why a TLS handshake failed, in words a user can act on."""
    name = f" for {host}" if host else ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        detail = exc.verify_message or exc.reason or str(exc)
        if code == _EXPIRED:
            return f"tls: certificate{name} has expired"
        if code == _NOT_YET_VALID:
            return f"tls: certificate{name} is not valid yet"
        if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
            return f"tls: certificate does not match host {host}"
        if code == _SELF_SIGNED:
            return f"tls: certificate{name} is self-signed and not trusted"
        if code == _SELF_SIGNED_IN_CHAIN or code in _UNKNOWN_ISSUER:
            return f"tls: certificate{name} is signed by an unknown authority"
        return f"tls: certificate verification failed{name}: {detail}"
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or exc).lower().replace("_", " ")
        if "certificate required" in reason:
            return f"tls: a client certificate is required ({reason})"
        if "alert" in reason and ("certificate" in reason or "unknown ca" in reason):
            return f"tls: the peer refused our certificate ({reason})"
        if "wrong version number" in reason or "http request" in reason:
            return f"tls: the peer does not speak tls{name} ({reason})"
        return f"tls: handshake failed{name}: {reason}"
    return f"tls: {exc}"


@dataclass(frozen=True)
class TLSInfo:
    """What was negotiated on a TLS connection, for ``--show-handshake``.

    Attributes:
        version: ``"TLSv1.3"`` and the like.
        cipher: the cipher suite name.
        bits: the cipher's secret key size.
        peer_subject: the peer certificate's subject as ``CN=…, O=…``, or ``None`` when
            no certificate was seen (or it was not verified and could not be decoded).
        peer_issuer: the issuer, spelled the same way.
        peer_not_after: when the peer certificate expires, as OpenSSL prints it.
        server_hostname: the name sent in SNI, for clients.
    """

    version: str | None
    cipher: str | None
    bits: int | None
    peer_subject: str | None = None
    peer_issuer: str | None = None
    peer_not_after: str | None = None
    server_hostname: str | None = None


def _format_name(name: Any) -> str | None:
    if not name:
        return None
    parts = []
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "localityName": "L",
        "stateOrProvinceName": "ST",
    }
    for rdn in name:
        for key, value in rdn:
            parts.append(f"{short.get(key, key)}={value}")
    return ", ".join(parts) or None


def _decode_unverified(der: bytes) -> tuple[str | None, str | None, str | None]:
    """Decode a certificate that was not verified (``getpeercert()`` is then empty)."""
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography comes with trustme
        return None, None, None
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, None, None
    # not_valid_after_utc arrived in cryptography 42; older ones name it without _utc.
    expires = getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after
    return (
        certificate.subject.rfc4514_string() or None,
        certificate.issuer.rfc4514_string() or None,
        expires.strftime("%b %d %H:%M:%S %Y GMT"),
    )


def tls_info(sock: Any) -> TLSInfo | None:
    """Describe the TLS session of ``sock`` (a socket or a connection); ``None`` if plain."""
    sock = getattr(sock, "socket", sock)
    if not isinstance(sock, ssl.SSLSocket):
        return None
    cipher = sock.cipher()
    subject = issuer = not_after = None
    try:
        peer = sock.getpeercert()
    except (ValueError, OSError):
        peer = None
    if peer:
        subject = _format_name(peer.get("subject"))
        issuer = _format_name(peer.get("issuer"))
        not_after = str(peer.get("notAfter")) if peer.get("notAfter") else None
    else:
        try:
            der = sock.getpeercert(binary_form=True)
        except (ValueError, OSError):
            der = None
        if der:
            subject, issuer, not_after = _decode_unverified(der)
    return TLSInfo(
        version=sock.version(),
        cipher=cipher[0] if cipher else None,
        bits=cipher[2] if cipher else None,
        peer_subject=subject,
        peer_issuer=issuer,
        peer_not_after=not_after,
        server_hostname=sock.server_hostname,
    )


class ServerTLSHandshake:
    """One accepted socket whose TLS handshake is in progress on the reactor thread.

    Args:
        sock: the wrapped socket, not yet negotiated.
        reactor: the reactor to wait on.
        timeout: seconds the handshake may take; ``None`` for no limit.
        adopt: called with the socket once negotiated.
        report: ``report(exc, address)`` when the handshake failed or timed out.
        pending: the set of handshakes in progress; this one stays in it until done.
    """

    def __init__(
        self,
        sock: ssl.SSLSocket,
        reactor: Reactor,
        timeout: float | None,
        adopt: Callable[[ssl.SSLSocket], Any],
        report: Callable[[BaseException, Any], Any],
        pending: set[ServerTLSHandshake],
    ) -> None:
        self.sock = sock
        self.interest = EVENT_READ
        self.done = False
        self._reactor = reactor
        self._adopt = adopt
        self._report = report
        self._pending = pending
        self.timer = None if timeout is None else reactor.call_later(timeout, self._timed_out)
        pending.add(self)
        reactor.register(sock, EVENT_READ, self)

    def handle_io(self, mask: int) -> None:
        """Reactor callback: push the handshake one step further."""
        if self.done:
            return
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._want(EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._want(EVENT_WRITE)
            return
        except (ssl.SSLError, OSError) as exc:
            self._failed(exc)
            return
        self._stop()
        self._adopt(self.sock)

    def _want(self, events: int) -> None:
        if events != self.interest:
            self._reactor.modify(self.sock, events, self)
            self.interest = events

    def _stop(self) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        self._reactor.unregister(self.sock)
        self._pending.discard(self)

    def _failed(self, exc: BaseException) -> None:
        address = self._peer()
        message = describe_tls_error(exc)
        logger.debug("tls handshake with %s failed: %s", address, message)
        self.abort()
        self._report(exc, address)

    def _peer(self) -> Any:
        try:
            return self.sock.getpeername()
        except OSError:
            return None

    def _timed_out(self) -> None:
        if self.done:
            return
        error = TimeoutError("timed out during the tls handshake")
        address = self._peer()
        self.abort()
        self._report(error, address)

    def abort(self) -> None:
        """Drop the connection; safe to call twice."""
        if not self.done:
            self._stop()
        with contextlib.suppress(OSError):
            self.sock.close()


def start_server_tls(
    sock: socket.socket,
    context: ssl.SSLContext,
    reactor: Reactor,
    *,
    timeout: float | None,
    adopt: Callable[[ssl.SSLSocket], Any],
    report: Callable[[BaseException, Any], Any],
    pending: set[ServerTLSHandshake],
) -> None:
    """On the reactor thread: begin the TLS handshake of an accepted socket.

    Once it completes, ``adopt(tls_socket)`` serves it as a plain accepted socket would
    be. A failure or a timeout closes it and calls ``report(exc, address)``; a server
    turns that into ``tls_client_error``, never ``error``, because one bad client is not
    the server's failure.

    Args:
        sock: the accepted TCP socket, nothing read from it yet.
        context: the server's TLS settings.
        reactor: the reactor serving the server.
        timeout: seconds the handshake may take (the server's ``open_timeout``).
        adopt: takes over the negotiated socket.
        report: told about failures.
        pending: the server's set of handshakes in progress, to abort them on close.
    """
    try:
        sock.setblocking(False)
        tls_sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        report(exc, None)
        return
    handshake = ServerTLSHandshake(tls_sock, reactor, timeout, adopt, report, pending)
    # The ClientHello is often here already: start at once rather than wait a round.
    handshake.handle_io(EVENT_READ)
