"""A connection's ws-style surface: send callbacks, ping/pong options and events,
``supports``, ``bytes_received``, ``tls`` after close, and how TLS failures are reported.

Where the peer matters it is hostile on purpose: a server that never answers the
upgrade (the client stays CONNECTING), one that stops reading (the client stays
CLOSING), a hixie-76 client written byte by byte, a TLS 1.3 server that refuses the
client after the client's side of the TLS handshake ended.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from helpers import HIXIE_REQUEST

import wscli
from wscli.core.exceptions import TLSFailed

from .conftest import TIMEOUT, wait_for


class Recorder:
    """Records callback calls with the thread they ran on."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[BaseException | None, threading.Thread]] = queue.Queue()

    def __call__(self, error: BaseException | None) -> None:
        self.calls.put((error, threading.current_thread()))


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A TCP server that accepts and never answers: a client stays CONNECTING."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(TIMEOUT)
        for sock in accepted:
            sock.close()


# -- readyState ------------------------------------------------------------------------------


def test_ready_state_values_are_the_w3c_numbers_and_the_protocol_states() -> None:
    from wscli.core.protocol import State

    assert wscli.ReadyState is State  # one set of states, not two kept in step
    assert [(s.name, int(s)) for s in wscli.ReadyState] == [
        ("CONNECTING", 0),
        ("OPEN", 1),
        ("CLOSING", 2),
        ("CLOSED", 3),
    ]
    for name in ("CONNECTING", "OPEN", "CLOSING", "CLOSED"):
        assert getattr(wscli.WebSocket, name) == getattr(State, name)


def test_ready_state_reads_closed_only_once_the_connection_finished(
    server: wscli.Server,
) -> None:
    ws = wscli.connect(server.url, open_timeout=TIMEOUT)
    assert ws.ready_state is wscli.ReadyState.OPEN
    assert "OPEN" in repr(ws)
    ws.close()
    assert ws.wait_closed(TIMEOUT)
    assert ws.ready_state is wscli.ReadyState.CLOSED
    assert "CLOSED" in repr(ws)


# -- send(..., callback=cb) never raises for the connection's state ------------------------


def test_send_with_callback_while_connecting_calls_back_at_once() -> None:
    with silent_server() as url:
        ws = wscli.WebSocket(url, open_timeout=TIMEOUT)
        try:
            assert wait_for(lambda: ws.socket is not None)
            assert ws.ready_state == ws.CONNECTING
            callback = Recorder()
            ws.send("too early", callback=callback)  # does not raise
            error, thread = callback.calls.get_nowait()  # called before send returned
            assert isinstance(error, wscli.InvalidState)
            assert thread is threading.current_thread()
            with pytest.raises(wscli.InvalidState):
                ws.send("too early")  # without a callback it still raises
        finally:
            ws.terminate()


def test_send_with_callback_after_close_calls_back_with_connection_closed(
    server: wscli.Server,
) -> None:
    ws = wscli.connect(server.url, open_timeout=TIMEOUT)
    ws.close()
    assert ws.wait_closed(TIMEOUT)
    callback = Recorder()
    ws.send("too late", callback=callback)
    error, thread = callback.calls.get_nowait()
    assert isinstance(error, wscli.ConnectionClosedOK)
    assert thread is threading.current_thread()
    with pytest.raises(wscli.ConnectionClosed):
        ws.send("too late")


def test_send_with_callback_while_closing_calls_back(server: wscli.Server) -> None:
    # The server stops reading: it never answers our close, so we stay CLOSING.
    accepted: queue.Queue[wscli.WebSocket] = queue.Queue()
    server.on("connection", lambda ws: (ws.pause(), accepted.put(ws)))
    ws = wscli.connect(server.url, open_timeout=TIMEOUT, close_timeout=TIMEOUT)
    try:
        ws.close()
        assert ws.ready_state == ws.CLOSING
        callback = Recorder()
        ws.send("while closing", callback=callback)
        error, _ = callback.calls.get_nowait()
        assert isinstance(error, wscli.ConnectionClosed)
    finally:
        ws.terminate()
        accepted.get(timeout=TIMEOUT).terminate()


def test_send_callback_gets_none_on_the_reactor_thread_once_written(
    server: wscli.Server,
) -> None:
    server.on("connection", lambda ws: ws.on("message", lambda: None))
    with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
        callback = Recorder()
        ws.send("fine", callback=callback)
        error, thread = callback.calls.get(timeout=TIMEOUT)
        assert error is None
        assert thread is not threading.current_thread()


def test_send_misuse_still_raises_with_a_callback(server: wscli.Server) -> None:
    server.on("connection", lambda ws: ws.on("message", lambda: None))
    with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
        ws.send("start of a text message", fin=False)
        callback = Recorder()
        with pytest.raises(wscli.InvalidState, match="fragments"):
            ws.send(b"binary in the middle", callback=callback)
        ws.send(" end")
        assert callback.calls.empty()


# -- ping and pong: ws's options and listener arguments -----------------------------------


def test_ping_and_pong_listeners_get_data_and_flags(server: wscli.Server) -> None:
    got: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()

    def on_connection(ws: wscli.WebSocket) -> None:
        ws.on("ping", lambda data, flags: got.put(("server ping", data, flags.binary)))

    server.on("connection", on_connection)
    with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
        ws.on("pong", lambda data, flags: got.put(("client pong", data, flags.binary)))
        ws.ping(b"are you there", mask=True).wait(TIMEOUT)
        assert got.get(timeout=TIMEOUT) == ("server ping", b"are you there", True)
        assert got.get(timeout=TIMEOUT) == ("client pong", b"are you there", True)


def test_ping_and_pong_mask_must_match_the_side(server: wscli.Server) -> None:
    masks: queue.Queue[Any] = queue.Queue()

    def on_connection(ws: wscli.WebSocket) -> None:
        for mask in (True, False):
            try:
                ws.pong(b"x", mask=mask)
                masks.put(("ok", mask))
            except ValueError:
                masks.put(("refused", mask))

    server.on("connection", on_connection)
    with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
        with pytest.raises(ValueError, match="clients always mask"):
            ws.ping(b"x", mask=False)
        with pytest.raises(ValueError, match="clients always mask"):
            ws.pong(b"x", mask=False)
        ws.pong(b"unsolicited", mask=True)
        assert ws.ping(b"", mask=True).wait(TIMEOUT) >= 0
        assert {masks.get(timeout=TIMEOUT), masks.get(timeout=TIMEOUT)} == {
            ("refused", True),
            ("ok", False),
        }


def test_ping_and_pong_fail_silently_when_not_open(server: wscli.Server) -> None:
    ws = wscli.connect(server.url, open_timeout=TIMEOUT)
    ws.close()
    assert ws.wait_closed(TIMEOUT)
    assert ws.ping(b"x", fail_silently=True) is None
    ws.pong(b"x", fail_silently=True)
    with pytest.raises(wscli.ConnectionClosed):
        ws.ping(b"x")
    with pytest.raises(wscli.ConnectionClosed):
        ws.pong(b"x")
    with silent_server() as url:
        connecting = wscli.WebSocket(url, open_timeout=TIMEOUT)
        try:
            assert connecting.ping(fail_silently=True) is None
            with pytest.raises(wscli.InvalidState):
                connecting.ping()
        finally:
            connecting.terminate()


# -- supports, bytes_received ----------------------------------------------------------------


def test_supports_binary_is_false_only_on_hixie76() -> None:
    seen: queue.Queue[tuple[Any, bool]] = queue.Queue()
    server = wscli.Server("127.0.0.1", 0, allow_hixie76=True)
    server.on("connection", lambda ws: seen.put((ws.protocol_version, ws.supports.binary)))
    try:
        port = server.port
        assert port is not None
        request = HIXIE_REQUEST.replace(b"Host: example.com", f"Host: 127.0.0.1:{port}".encode())
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            assert seen.get(timeout=TIMEOUT) == ("hixie-76", False)
        with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
            assert ws.supports.binary is True
            assert seen.get(timeout=TIMEOUT) == (13, True)
    finally:
        server.close(timeout=TIMEOUT)


def test_bytes_received_counts_only_what_follows_the_handshake(server: wscli.Server) -> None:
    counts: queue.Queue[int] = queue.Queue()

    def on_connection(ws: wscli.WebSocket) -> None:
        counts.put(ws.bytes_received)

        def on_message(data: str | bytes) -> None:
            counts.put(ws.bytes_received)
            ws.send(data)

        ws.on("message", on_message)

    server.on("connection", on_connection)
    with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
        assert ws.bytes_received == 0  # the 101 answer does not count
        assert counts.get(timeout=TIMEOUT) == 0  # nor does the request
        ws.send("hello")
        assert ws.recv(TIMEOUT) == "hello"
        assert counts.get(timeout=TIMEOUT) == 2 + 4 + 5  # masked frame: header, key, data
        assert ws.bytes_received == 2 + 5  # unmasked echo


def test_bytes_received_counts_frames_that_came_with_the_handshake() -> None:
    # The server's first message rides in the same segment as its 101 answer.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        answer: dict[str, bytes] = {}

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                key = next(
                    line.split(b":", 1)[1].strip()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                import base64
                import hashlib

                accept = base64.b64encode(
                    hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
                )
                answer["sent"] = (
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                    b"\x81\x03hey"
                )
                conn.sendall(answer["sent"])
                conn.recv(4096)  # wait for the client's close

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        ws = wscli.connect(f"ws://127.0.0.1:{port}/", open_timeout=TIMEOUT, close_timeout=1)
        assert ws.recv(TIMEOUT) == "hey"
        assert ws.bytes_received == 5
        ws.terminate()
        thread.join(TIMEOUT)


# -- TLS: ws.tls after close, and failures reported as connect() raises them ---------------


@pytest.fixture(scope="module")
def tls() -> tuple[trustme.CA, trustme.LeafCert]:
    ca = trustme.CA()
    return ca, ca.issue_cert("127.0.0.1", "localhost")


def tls_server(
    ca: trustme.CA, cert: trustme.LeafCert, require_client_cert: bool = False
) -> wscli.Server:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    if require_client_cert:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return wscli.Server("127.0.0.1", 0, ssl=context)


def test_tls_info_stays_after_close(tls: tuple[trustme.CA, trustme.LeafCert]) -> None:
    ca, cert = tls
    server = tls_server(ca, cert)
    try:
        ws = wscli.connect(server.url, ca=ca.cert_pem.bytes().decode(), open_timeout=TIMEOUT)
        before = ws.tls
        ws.close()
        assert ws.wait_closed(TIMEOUT)
        assert before is not None and before.version == "TLSv1.3"
        assert ws.tls == before
    finally:
        server.close(timeout=TIMEOUT)


def test_refused_client_certificate_is_tls_failed_on_error_event_and_from_connect(
    tls: tuple[trustme.CA, trustme.LeafCert],
) -> None:
    ca, cert = tls
    server = tls_server(ca, cert, require_client_cert=True)
    try:
        with pytest.raises(TLSFailed) as raised:
            wscli.connect(server.url, ca=ca.cert_pem.bytes().decode(), open_timeout=TIMEOUT)
        errors: queue.Queue[BaseException] = queue.Queue()
        ws = wscli.WebSocket(server.url, ca=ca.cert_pem.bytes().decode(), open_timeout=TIMEOUT)
        ws.on("error", errors.put)
        error = errors.get(timeout=TIMEOUT)
    finally:
        server.close(timeout=TIMEOUT)
    assert isinstance(error, TLSFailed) and isinstance(error, wscli.ConnectFailed)
    assert str(error) == str(raised.value)
    assert str(error).startswith("tls: ")
    assert isinstance(error.__cause__, ssl.SSLError)


def test_send_callback_reports_a_peer_too_slow_for_a_listener_instead_of_raising() -> None:
    # A listener cannot wait for a peer that stopped reading: past 4 × write_limit the
    # connection fails with 1013. With a callback, the send reports it there.
    outcome: queue.Queue[tuple[str, Any]] = queue.Queue()
    chunk = b"x" * 65536

    def on_connection(ws: wscli.WebSocket) -> None:
        errors: list[Exception | None] = []

        def on_message(data: str | bytes) -> None:
            try:
                for _ in range(2000):  # at most 128 MiB offered; fails long before
                    ws.send(chunk, callback=errors.append)
                    if any(error is not None for error in errors):
                        break
            except Exception as exc:
                outcome.put(("raised", exc))
                return
            outcome.put(("reported", next(e for e in errors if e is not None)))

        ws.on("message", on_message)

    server = wscli.Server("127.0.0.1", 0, write_limit=1024)
    server.on("connection", on_connection)
    try:
        ws = wscli.connect(server.url, open_timeout=TIMEOUT)
        ws.pause()  # never read again
        ws.send("go")
        kind, error = outcome.get(timeout=TIMEOUT)
        ws.terminate()
    finally:
        server.close(timeout=TIMEOUT)
    assert kind == "reported", error
    assert isinstance(error, wscli.ConnectionClosedError)


def test_refused_connection_is_the_same_connect_failed_on_error_event_and_from_connect() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{probe.getsockname()[1]}/"  # bound, not listening: refused
        with pytest.raises(wscli.ConnectFailed) as raised:
            wscli.connect(url, open_timeout=TIMEOUT)
        errors: queue.Queue[BaseException] = queue.Queue()
        ws = wscli.WebSocket(url, open_timeout=TIMEOUT)
        ws.on("error", errors.put)
        error = errors.get(timeout=TIMEOUT)
    assert type(error) is type(raised.value) is wscli.ConnectFailed
    assert str(error) == str(raised.value)
