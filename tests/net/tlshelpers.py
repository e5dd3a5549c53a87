"""Loopback servers and certificates shared by the TLS, proxy, redirect, Unix and embed tests.

Certificates come from ``trustme`` at test time, so nothing secret is committed and
nothing expires in the repository. Every server here runs on 127.0.0.1 (or a Unix
socket in a temporary directory) and every wait is bounded by :data:`TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from helpers import TIMEOUT

from wscli.core.sync.server import Server
from wscli.core.sync.websocket import WebSocket

__all__ = [
    "TIMEOUT",
    "PKI",
    "make_pki",
    "echo",
    "running_server",
    "ThreadedTCPServer",
]


@dataclass
class PKI:
    """A CA, the files clients trust it with, and leaf certificates it issued."""

    ca: trustme.CA
    ca_file: str
    server: trustme.LeafCert
    server_cert_file: str
    server_key_file: str
    client: trustme.LeafCert
    client_cert_file: str
    client_key_file: str
    directory: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """A server context for localhost/127.0.0.1, optionally requiring client certs."""
        from wscli.core.sync.tls import server_ssl_context

        return server_ssl_context(
            self.server_cert_file,
            self.server_key_file,
            ca=self.ca_file if require_client_cert else None,
        )

    def leaf_context(self, *identities: str, **options: Any) -> ssl.SSLContext:
        """A server context for another certificate from this CA (``not_after=``...)."""
        leaf = self.ca.issue_cert(*identities, **options)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        return context


def make_pki(directory: Path) -> PKI:
    """Issue a CA, a server certificate (localhost, 127.0.0.1) and a client certificate."""
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1", "::1")
    client = ca.issue_cert("client@wscli.test", common_name="wscli test client")
    paths = {}
    for name, blob in [
        ("ca.pem", ca.cert_pem),
        ("server.pem", server.cert_chain_pems[0]),
        ("server.key", server.private_key_pem),
        ("client.pem", client.cert_chain_pems[0]),
        ("client.key", client.private_key_pem),
    ]:
        path = directory / name
        blob.write_to_path(str(path))
        paths[name] = str(path)
    return PKI(
        ca,
        paths["ca.pem"],
        server,
        paths["server.pem"],
        paths["server.key"],
        client,
        paths["client.pem"],
        paths["client.key"],
        directory,
    )


def expired(days: int = 1) -> datetime.datetime:
    """A moment ``days`` ago, for certificates that must have expired."""
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)


def echo(ws: WebSocket, request: Any = None) -> None:
    """A ``connection`` listener that sends every message back."""
    ws.on("message", lambda data, flags: ws.send(data, binary=flags.binary))


@contextlib.contextmanager
def running_server(
    on_connection: Callable[..., Any] | None = echo, **options: Any
) -> Iterator[Server]:
    """Run a :class:`Server` on 127.0.0.1 (or ``unix=``) and close it afterwards."""
    if "unix" not in options and "port" not in options:
        options.setdefault("host", "127.0.0.1")
        options["port"] = 0
    host = options.pop("host", None)
    port = options.pop("port", None)
    server = Server(host, port, **options)
    if on_connection is not None:
        server.on("connection", on_connection)
    try:
        yield server
    finally:
        server.close(timeout=TIMEOUT)


class ThreadedTCPServer:
    """A tiny thread-per-connection TCP server the test joins; ``handle(sock)`` per client."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.handle = handle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port: int = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self._stopping = False
        self._acceptor = threading.Thread(target=self._accept, name="test-tcp-server")
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(TIMEOUT)
            thread = threading.Thread(target=self._run, args=(sock,), name="test-tcp-conn")
            self.threads.append(thread)
            thread.start()

    def _run(self, sock: socket.socket) -> None:
        try:
            self.handle(sock)
        except Exception as exc:  # recorded for the test to look at
            self.errors.append(exc)
        finally:
            sock.close()

    def close(self) -> None:
        """Stop accepting and join every thread (each is bounded by TIMEOUT)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._acceptor.join(TIMEOUT * 2)
        for thread in self.threads:
            thread.join(TIMEOUT * 2)

    def __enter__(self) -> ThreadedTCPServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways between two sockets until either side closes."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=pump, args=(b, a), name="test-relay")
    other.start()
    pump(a, b)
    other.join(TIMEOUT * 2)
