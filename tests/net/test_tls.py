"""TLS both ways on loopback, with certificates made at test time (trustme)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from tlshelpers import PKI, TIMEOUT, ThreadedTCPServer, expired, make_pki, running_server

from wscli.core.sync.net import ConnectFailed
from wscli.core.sync.tls import (
    TLSInfo,
    client_ssl_context,
    describe_tls_error,
    server_ssl_context,
    tls_info,
)
from wscli.core.sync.websocket import WebSocket, connect


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def wss_url(server: Any, host: str = "localhost") -> str:
    return f"wss://{host}:{server.port}/"


def roundtrip(ws: WebSocket, text: str = "hello") -> None:
    ws.send(text)
    assert ws.recv(timeout=TIMEOUT) == text


# -- verification succeeds ------------------------------------------------------------


def test_wss_with_ca_file_verifies_and_echoes(pki: PKI) -> None:
    with running_server(ssl=pki.server_context()) as server:
        assert server.url is not None and server.url.startswith("wss://")
        with connect(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT) as ws:
            roundtrip(ws)
            info = ws.tls
            assert isinstance(info, TLSInfo)
            assert info.version in ("TLSv1.2", "TLSv1.3")
            assert info.cipher and info.bits
            assert info.peer_subject is not None and "O=trustme" in info.peer_subject
            assert info.server_hostname == "localhost"


def test_wss_to_ip_address_checks_ip_san(pki: PKI) -> None:
    with running_server(ssl=pki.server_context()) as server:
        with connect(wss_url(server, "127.0.0.1"), ca=pki.ca_file, open_timeout=TIMEOUT) as ws:
            roundtrip(ws)


def test_ca_given_as_pem_text_in_memory(pki: PKI) -> None:
    with running_server(ssl=pki.server_context()) as server:
        pem = pki.ca.cert_pem.bytes().decode()
        with connect(wss_url(server), ca=pem, open_timeout=TIMEOUT) as ws:
            roundtrip(ws)


def test_ready_ssl_context_is_used_as_is(pki: PKI) -> None:
    context = ssl.create_default_context()
    pki.ca.configure_trust(context)
    with running_server(ssl=pki.server_context()) as server:
        with connect(wss_url(server), ssl=context, open_timeout=TIMEOUT) as ws:
            roundtrip(ws)


def test_background_websocket_over_tls_emits_open(pki: PKI) -> None:
    opened = threading.Event()
    with running_server(ssl=pki.server_context()) as server:
        ws = WebSocket(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT)
        ws.on("open", lambda: opened.set())
        assert opened.wait(TIMEOUT)
        roundtrip(ws)
        ws.close()
        assert ws.wait_closed(TIMEOUT)


def test_servername_overrides_sni_and_checked_name(pki: PKI) -> None:
    seen: list[str | None] = []
    context = pki.leaf_context("ws.internal.test")

    def sni(sock: Any, name: str | None, ctx: Any) -> None:
        seen.append(name)

    context.sni_callback = sni
    with running_server(ssl=context) as server:
        url = wss_url(server, "127.0.0.1")
        with connect(
            url, ca=pki.ca_file, servername="ws.internal.test", open_timeout=TIMEOUT
        ) as ws:
            roundtrip(ws)
    assert seen == ["ws.internal.test"]


def test_reject_unauthorized_false_accepts_unknown_ca_and_still_reports_peer(
    pki: PKI,
) -> None:
    with running_server(ssl=pki.leaf_context("elsewhere.test")) as server:
        with connect(wss_url(server), reject_unauthorized=False, open_timeout=TIMEOUT) as ws:
            roundtrip(ws)
            info = ws.tls
            assert info is not None
            # Unverified certificates are decoded with cryptography instead.
            assert info.peer_subject is not None and "trustme" in info.peer_subject


def test_ciphers_option_limits_tls12_suites(pki: PKI) -> None:
    context = pki.server_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with running_server(ssl=context) as server:
        url = wss_url(server)
        with connect(url, ca=pki.ca_file, ciphers="ECDHE+AESGCM", open_timeout=TIMEOUT) as ws:
            roundtrip(ws)
            info = ws.tls
            assert info is not None and info.version == "TLSv1.2"
            assert info.cipher is not None and "GCM" in info.cipher


# -- verification fails, in one line ------------------------------------------------------


def connect_error(url: str, **options: Any) -> str:
    with pytest.raises(ConnectFailed) as info:
        connect(url, open_timeout=TIMEOUT, **options)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_ca_is_named(pki: PKI) -> None:
    with running_server(ssl=pki.server_context()) as server:
        message = connect_error(wss_url(server))  # the system store lacks our CA
    assert message == "tls: certificate for localhost is signed by an unknown authority"


def test_hostname_mismatch_is_named(pki: PKI) -> None:
    with running_server(ssl=pki.leaf_context("other.example")) as server:
        message = connect_error(wss_url(server), ca=pki.ca_file)
    assert message == "tls: certificate does not match host localhost"


def test_expired_certificate_is_named(pki: PKI) -> None:
    context = pki.leaf_context("localhost", not_before=expired(30), not_after=expired(1))
    with running_server(ssl=context) as server:
        message = connect_error(wss_url(server), ca=pki.ca_file)
    assert message == "tls: certificate for localhost has expired"


def test_tls_client_to_plain_http_server_says_peer_does_not_speak_tls() -> None:
    def plain_http(sock: socket.socket) -> None:
        sock.recv(4096)  # a ClientHello, read as a broken HTTP request
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with ThreadedTCPServer(plain_http) as server:
        message = connect_error(f"wss://127.0.0.1:{server.port}/", reject_unauthorized=False)
    assert message.startswith("tls: the peer does not speak tls for 127.0.0.1")


def test_tls_client_at_a_plain_wscli_server_is_told_at_once() -> None:
    """The plain server sees a ClientHello, not a request line: it hangs up at once and
    reports why; the client says what that likely means instead of timing out."""
    refused: list[tuple[int, str]] = []
    done = threading.Event()

    def on_refused(address: Any, status: int, reason: str, request: Any) -> None:
        refused.append((status, reason))
        done.set()

    # The server's timeouts far beyond the client's: only an early close passes.
    with running_server(open_timeout=60.0, close_timeout=60.0) as server:
        server.on("refused", on_refused)
        with pytest.raises(ConnectFailed) as info:
            connect(
                f"wss://127.0.0.1:{server.port}/", open_timeout=TIMEOUT, reject_unauthorized=False
            )
        assert done.wait(TIMEOUT)
    assert str(info.value) == (
        "tls: the server closed the connection during the tls handshake with 127.0.0.1"
        " (is it a plain ws:// server?)"
    )
    assert refused == [(400, "tls handshake at a plain ws:// listener")]


@pytest.mark.parametrize("reset", [False, True])
def test_tls_client_names_a_close_during_its_handshake(reset: bool) -> None:
    def hang_up(sock: socket.socket) -> None:
        sock.recv(4096)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        sock.close()

    with ThreadedTCPServer(hang_up) as server:
        message = connect_error(f"wss://127.0.0.1:{server.port}/", reject_unauthorized=False)
    assert message == (
        "tls: the server closed the connection during the tls handshake with 127.0.0.1"
        " (is it a plain ws:// server?)"
    )


# -- client certificates -----------------------------------------------------------------


def client_subject_seen(server: Any) -> list[str | None]:
    seen: list[str | None] = []

    def on_connection(ws: Any, request: Any) -> None:
        info = ws.tls
        seen.append(info.peer_subject if info else None)
        ws.on("message", lambda data, flags: ws.send(data))

    server.on("connection", on_connection)
    return seen


def test_client_certificate_is_verified_by_server(pki: PKI) -> None:
    with running_server(None, ssl=pki.server_context(require_client_cert=True)) as server:
        seen = client_subject_seen(server)
        options = {"cert": pki.client_cert_file, "key": pki.client_key_file}
        with connect(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT, **options) as ws:
            roundtrip(ws)
    assert seen and seen[0] is not None and "CN=wscli test client" in seen[0]


def test_missing_client_certificate_fails_clearly(pki: PKI) -> None:
    errors: list[BaseException] = []
    with running_server(ssl=pki.server_context(require_client_cert=True)) as server:
        got = threading.Event()
        server.on("tls_client_error", lambda exc, address: (errors.append(exc), got.set()))
        with pytest.raises(ConnectFailed) as info:
            connect(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT)
        assert got.wait(TIMEOUT)
    assert "certificate" in str(info.value)
    assert str(info.value).startswith("tls: ")
    assert isinstance(errors[0], ssl.SSLError)


def encrypted_key_file(pki: PKI, tmp_path: Path, passphrase: bytes) -> str:
    key = serialization.load_pem_private_key(pki.client.private_key_pem.bytes(), None)
    path = tmp_path / "client-encrypted.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    )
    return str(path)


def test_passphrase_decrypts_client_key(pki: PKI, tmp_path: Path) -> None:
    key_file = encrypted_key_file(pki, tmp_path, b"s3cret")
    with running_server(ssl=pki.server_context(require_client_cert=True)) as server:
        options = {"cert": pki.client_cert_file, "key": key_file, "passphrase": "s3cret"}
        with connect(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT, **options) as ws:
            roundtrip(ws)


def test_wrong_passphrase_is_a_value_error_naming_the_file(pki: PKI, tmp_path: Path) -> None:
    key_file = encrypted_key_file(pki, tmp_path, b"s3cret")
    with pytest.raises(ValueError, match="client-encrypted.key"):
        client_ssl_context(cert=pki.client_cert_file, key=key_file, passphrase="nope")


def test_pfx_bundle_supplies_client_certificate(pki: PKI, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.client.private_key_pem.bytes(), None)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pki.client.cert_chain_pems[0].bytes())
    bundle = pkcs12.serialize_key_and_certificates(
        b"client", key, cert, None, serialization.BestAvailableEncryption(b"pfxpass")
    )
    pfx = tmp_path / "client.p12"
    pfx.write_bytes(bundle)
    with running_server(None, ssl=pki.server_context(require_client_cert=True)) as server:
        seen = client_subject_seen(server)
        options = {"pfx": str(pfx), "passphrase": "pfxpass"}
        with connect(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT, **options) as ws:
            roundtrip(ws)
    assert seen[0] is not None and "wscli test client" in seen[0]
    with pytest.raises(ValueError, match="wrong passphrase"):
        client_ssl_context(pfx=str(pfx), passphrase="bad")


# -- option errors ---------------------------------------------------------------------------


def test_option_errors_are_value_errors(pki: PKI, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot load ca .*missing.pem: no such file"):
        client_ssl_context(ca=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="a key needs a cert"):
        client_ssl_context(key=pki.client_key_file)
    with pytest.raises(ValueError, match="no usable cipher"):
        client_ssl_context(ciphers="NOT-A-CIPHER")
    with pytest.raises(ValueError, match="either ssl or the tls options"):
        WebSocket("wss://localhost/", ssl=ssl.create_default_context(), ca=pki.ca_file)
    with pytest.raises(ValueError, match="cannot load certificate"):
        server_ssl_context(str(tmp_path / "nope.pem"))


def test_describe_tls_error_for_refused_client_certificate() -> None:
    exc = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert")
    exc.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert describe_tls_error(exc).startswith("tls: a client certificate is required")


def test_tls_info_is_none_on_plain_connections() -> None:
    a, b = socket.socketpair()
    with a, b:
        assert tls_info(a) is None


# -- the server's handshake never blocks the reactor -------------------------------------------


def test_stalled_tls_client_does_not_block_others_and_times_out(pki: PKI) -> None:
    errors: list[tuple[BaseException, Any]] = []
    timed_out = threading.Event()

    def on_tls_error(exc: BaseException, address: Any) -> None:
        errors.append((exc, address))
        if isinstance(exc, TimeoutError):
            timed_out.set()

    with running_server(ssl=pki.server_context(), open_timeout=1.0) as server:
        server.on("tls_client_error", on_tls_error)
        # A client that opens TCP and sends half a ClientHello, then nothing.
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        with stalled:
            stalled.sendall(b"\x16\x03\x01\x02\x00\x01")
            # Meanwhile another client completes its handshake and talks.
            with connect(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT) as ws:
                roundtrip(ws)
            assert timed_out.wait(TIMEOUT)
            # The server dropped the stalled socket.
            assert stalled.recv(1) == b""
    assert any(isinstance(exc, TimeoutError) for exc, _ in errors)


def test_plain_client_to_tls_server_is_reported_not_fatal(pki: PKI) -> None:
    failed = threading.Event()
    with running_server(ssl=pki.server_context()) as server:
        server.on("tls_client_error", lambda exc, address: failed.set())
        with pytest.raises(Exception):  # noqa: B017 - the client sees a broken handshake
            connect(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT)
        assert failed.wait(TIMEOUT)
        with connect(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT) as ws:
            roundtrip(ws)


def test_server_close_drops_pending_tls_handshakes(pki: PKI) -> None:
    server_cm = running_server(ssl=pki.server_context(), open_timeout=30.0)
    server = server_cm.__enter__()
    stalled = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    with stalled:
        # The reactor accepts it and starts a TLS handshake that never gets a ClientHello.
        deadline = time.monotonic() + TIMEOUT
        while server.connection_count == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.connection_count == 1
        server_cm.__exit__(None, None, None)
        assert stalled.recv(1) == b""
    assert server.connection_count == 0


def test_an_encrypted_key_without_passphrase_never_prompts_on_the_terminal(
    pki: PKI, tmp_path: Path
) -> None:
    """OpenSSL's default is to ask on the terminal; a library must say what is missing."""
    import os
    import pty
    import select
    import sys
    import time

    key_file = encrypted_key_file(pki, tmp_path, b"s3cret")
    code = (
        "from wscli.core.sync.tls import client_ssl_context\n"
        "try:\n"
        f"    client_ssl_context(cert={pki.client_cert_file!r}, key={key_file!r})\n"
        "except ValueError as exc:\n"
        "    print('refused:', exc)\n"
    )
    pid, fd = pty.fork()
    if pid == 0:  # the child, on a terminal of its own
        os.execv(sys.executable, [sys.executable, "-c", code])
    seen = b""
    deadline = time.monotonic() + TIMEOUT

    def refused_line_complete() -> bool:
        # A terminal may hand over one printed line in several reads: wait for its end.
        return b"\n" in seen.partition(b"refused:")[2]

    try:
        while time.monotonic() < deadline and not refused_line_complete():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    assert b"pass phrase" not in seen.lower(), seen
    assert b"refused:" in seen and b"passphrase" in seen, seen


def test_large_messages_are_read_in_place_over_tls_too(pki: PKI) -> None:
    # Large payloads are read with recv_into straight into the message (SSLSocket
    # supports it, decrypted bytes it holds included): they must arrive intact.
    payloads = [bytes([n]) * 3 + bytes(range(256)) * (4096 + 97 * n) for n in range(4)]
    with running_server(ssl=pki.server_context()) as server:
        with connect(wss_url(server), ca=pki.ca_file, open_timeout=TIMEOUT) as ws:
            for payload in payloads:
                ws.send(payload)
            for payload in payloads:
                assert ws.recv(timeout=TIMEOUT) == payload
            roundtrip(ws)
