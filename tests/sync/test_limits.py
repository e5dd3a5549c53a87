"""Every resource limit at its boundary, over loopback: what passes, what is refused, how.

One section per row of ``docs/LIMITS.md``: handshake head size and header count, message
size and fragment count, queued incoming messages, the outgoing buffer, connections,
keepalive. Timeouts (open, close) are exercised by ``test_faults.py``. The first test
checks that the defaults the table documents are the library's.
"""

from __future__ import annotations

import contextlib
import inspect
import pathlib
import queue
import re
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT
from .test_faults import (
    Accepted,
    HostileServer,
    RawClient,
    assert_echoes,
    client_frame,
    server_frame,
    serving,
    upgrade_request,
    wait_for,
)

LIMITS_MD = pathlib.Path(__file__).parents[2] / "docs" / "LIMITS.md"

#: (class, argument) -> the default docs/LIMITS.md documents.
DOCUMENTED_DEFAULTS: dict[tuple[Any, str], Any] = {
    (wscli.Server, "max_head_size"): None,  # None: ServerProtocol's 16384
    (wscli.Server, "max_headers"): None,  # None: ServerProtocol's 128
    (wscli.ServerProtocol, "max_head_size"): 16384,
    (wscli.ServerProtocol, "max_headers"): 128,
    (wscli.ClientProtocol, "max_head_size"): 16384,
    (wscli.ClientProtocol, "max_headers"): 128,
    (wscli.Server, "open_timeout"): 10.0,
    (wscli.WebSocket, "open_timeout"): 10.0,
    (wscli.Server, "max_payload"): 64 * 2**20,
    (wscli.WebSocket, "max_payload"): 64 * 2**20,
    (wscli.Server, "max_queue"): 64,
    (wscli.WebSocket, "max_queue"): 64,
    (wscli.Server, "write_limit"): 4 * 2**20,
    (wscli.WebSocket, "write_limit"): 4 * 2**20,
    (wscli.Server, "max_connections"): None,
    (wscli.Server, "close_timeout"): 10.0,
    (wscli.WebSocket, "close_timeout"): 10.0,
    (wscli.Server, "ping_interval"): None,
    (wscli.Server, "ping_timeout"): None,
    (wscli.WebSocket, "ping_interval"): None,
    (wscli.WebSocket, "ping_timeout"): None,
    (wscli.Server, "origins"): None,
}


def test_documented_defaults_are_the_library_defaults() -> None:
    table = LIMITS_MD.read_text()
    for (cls, name), default in DOCUMENTED_DEFAULTS.items():
        parameter = inspect.signature(cls).parameters[name]
        assert parameter.default == default, f"{cls.__name__}({name}=) changed its default"
        assert re.search(rf"`[^`]*\b{name}\b[^`]*`", table), f"docs/LIMITS.md lacks {name}"


# -- handshake head: size and header count -------------------------------------------------


def _request_with_padding(size: int) -> bytes:
    """An upgrade request whose head is exactly ``size`` bytes, CRLFCRLF included."""
    base = upgrade_request()
    filler = size - len(base) - len("X-Pad: \r\n")
    assert filler > 0
    return base[:-2] + b"X-Pad: " + b"a" * filler + b"\r\n\r\n"


# The limit counts the head without the blank line that ends it (4 more bytes).
@pytest.mark.parametrize(("size", "status"), [(16388, 101), (16389, 400), (20000, 400)])
def test_request_head_size_default_limit(size: int, status: int) -> None:
    with serving() as server, RawClient(server.port) as client:
        request = _request_with_padding(size)
        assert len(request) == size
        client.send(request)
        got, head = client.read_head()
        assert got == status, head
        if status == 400:
            client.wait_eof()


def test_request_head_size_limit_is_configurable() -> None:
    with serving(max_head_size=1024) as server:
        with RawClient(server.port) as client:
            client.send(_request_with_padding(1028))
            assert client.read_head()[0] == 101
        with RawClient(server.port) as client:
            client.send(_request_with_padding(1029))
            status, _ = client.read_head()
            assert status == 400
            body = client.buf + b"".join(iter(lambda: client.sock.recv(4096), b""))
            assert b"larger than 1024 bytes" in body


@pytest.mark.parametrize(("count", "status"), [(128, 101), (129, 400)])
def test_request_header_count_default_limit(count: int, status: int) -> None:
    base = upgrade_request()
    base_count = base.count(b"\r\n") - 2  # header lines, without the request line and end
    padding = [(f"X-Pad-{index}", "v") for index in range(count - base_count)]
    with serving() as server, RawClient(server.port) as client:
        client.send(base[:-2] + "".join(f"{n}: {v}\r\n" for n, v in padding).encode() + b"\r\n")
        got, head = client.read_head()
        assert got == status, head


def test_request_header_count_limit_is_configurable() -> None:
    with serving(max_headers=8) as server, RawClient(server.port) as client:
        client.send(upgrade_request(headers=[(f"X-{i}", "v") for i in range(3)]))  # 8: fine
        assert client.read_head()[0] == 101
    with serving(max_headers=8) as server, RawClient(server.port) as client:
        client.send(upgrade_request(headers=[(f"X-{i}", "v") for i in range(4)]))
        status, _ = client.read_head()
        assert status == 400
        body = client.buf + b"".join(iter(lambda: client.sock.recv(4096), b""))
        assert b"more than 8 header lines" in body


def test_client_response_head_limits_are_configurable() -> None:
    """The client takes the same handshake limits as the server (issue 7, item 1)."""

    def big_head(conn: Any, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok[:-2] + b"X-Pad: " + b"a" * 2000 + b"\r\n\r\n")

    with HostileServer(big_head) as hostile:
        with pytest.raises(wscli.HandshakeError, match="larger than 1024"):
            wscli.connect(hostile.url, open_timeout=TIMEOUT, max_head_size=1024)
    with HostileServer(big_head) as hostile:
        with pytest.raises(wscli.HandshakeError, match="more than 2 header lines"):
            wscli.connect(hostile.url, open_timeout=TIMEOUT, max_headers=2)


# -- message size and fragments ----------------------------------------------------------------


def test_message_of_exactly_max_payload_is_accepted() -> None:
    with serving(max_payload=1000) as server, wscli.connect(server.url) as ws:
        ws.send(b"x" * 1000)
        assert ws.recv(TIMEOUT) == b"x" * 1000


@pytest.mark.parametrize("opcode", [0x1, 0x2], ids=["text", "binary"])
def test_message_over_max_payload_closes_1009_at_the_header(opcode: int) -> None:
    with serving(max_payload=1000) as server:
        accepted = Accepted(server)
        with RawClient(server.port).upgrade() as client:
            ws = accepted.next_open()
            # Only the header: the payload is never sent, the refusal must not wait for it.
            client.send(client_frame(opcode, length=1001))
            assert client.read_close() == 1009
            client.wait_eof()
        accepted.next_close()
        assert isinstance(ws.error, wscli.PayloadTooBig)
        assert_echoes(server)


def test_huge_announced_length_closes_1009_without_allocating() -> None:
    with serving() as server, RawClient(server.port).upgrade() as client:
        client.send(client_frame(0x2, length=2**62))
        assert client.read_close() == 1009


@pytest.mark.parametrize("opcode", [0x1, 0x2], ids=["text", "binary"])
def test_fragmented_message_over_max_payload_closes_1009_at_the_fragment_header(
    opcode: int,
) -> None:
    with serving(max_payload=1000) as server, RawClient(server.port).upgrade() as client:
        client.send(client_frame(opcode, b"a" * 600, fin=False))
        client.send(client_frame(0x0, b"b" * 300, fin=False))
        # 900 bytes so far; this header announces 101 more, and its payload never comes.
        client.send(client_frame(0x0, fin=True, length=101))
        assert client.read_close() == 1009


def test_fragmented_message_of_exactly_max_payload_is_accepted() -> None:
    with serving(max_payload=1000) as server, RawClient(server.port).upgrade() as client:
        client.send(client_frame(0x2, b"a" * 600, fin=False))
        client.send(client_frame(0x0, b"b" * 400, fin=True))
        assert client.read_frame() == (0x2, b"a" * 600 + b"b" * 400)


def test_client_message_over_its_max_payload_closes_1009() -> None:
    def oversized(conn: Any, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok + server_frame(0x2, b"x" * 1000) + server_frame(0x2, length=1001))

    with HostileServer(oversized) as hostile:
        ws = wscli.connect(hostile.url, open_timeout=TIMEOUT, max_payload=1000, close_timeout=0.5)
        assert ws.recv(TIMEOUT) == b"x" * 1000
        with pytest.raises(wscli.ConnectionClosedError) as info:
            ws.recv(TIMEOUT)
        assert info.value.sent is not None and info.value.sent.code == 1009


def test_message_of_many_small_fragments_is_accepted() -> None:
    """Autobahn 9.3.1 sends 4 MiB in 64-byte fragments: 65,536 frames must pass."""
    fragment = b"f" * 64
    frames = [client_frame(0x2, fragment, fin=False)]
    frames += [client_frame(0x0, fragment, fin=False)] * 65534
    frames.append(client_frame(0x0, fragment, fin=True))
    with serving() as server, RawClient(server.port).upgrade() as client:
        sender = threading.Thread(target=client.send, args=(b"".join(frames),))
        sender.start()
        assert client.read_frame() == (0x2, fragment * 65536)
        sender.join(TIMEOUT)


def test_endless_empty_fragments_close_1009() -> None:
    """Empty continuation frames never grow the message size, but each one costs memory
    and time: the count of frames per message needs a limit of its own."""
    frames = 500_000
    with serving() as server:
        accepted = Accepted(server)
        with RawClient(server.port).upgrade() as client:
            ws = accepted.next_open()
            client.send(client_frame(0x2, b"start", fin=False))
            empty = client_frame(0x0, fin=False) * 10_000
            sender = threading.Thread(
                target=lambda: [client.send(empty) for _ in range(frames // 10_000)],
                daemon=True,
            )
            sender.start()
            try:
                code = client.read_close()
            except (EOFError, TimeoutError, OSError):
                code = None
            assert code == 1009, (
                f"{frames} empty fragments of one message were accepted "
                f"(server still {wscli.ReadyState(ws.ready_state).name})"
            )
            sender.join(TIMEOUT)


# -- queued incoming messages: max_queue ------------------------------------------------------


def test_max_queue_pauses_reading_until_the_application_catches_up() -> None:
    max_queue = 16
    server = wscli.Server("127.0.0.1", 0, max_queue=max_queue)
    accepted = Accepted(server)
    try:
        # The server application never calls recv() for now: the client must be held back.
        with wscli.connect(server.url, write_limit=64 * 1024, close_timeout=TIMEOUT) as client:
            ws = accepted.next_open()
            sent = 0
            with pytest.raises(TimeoutError):
                for sent in range(1, 1_000_000):  # noqa: B007 - the count is the result
                    client.send(b"%08d" % sent + b"q" * 1016, timeout=0.3)
            queued = ws.unread_messages
            # One read of the reactor's 256 KiB buffer may overshoot the limit.
            assert queued <= max_queue + 256 * 1024 // 1024
            # Nothing is lost: the application catches up and gets every message in order.
            for index in range(1, sent):
                assert ws.recv(TIMEOUT)[:8] == b"%08d" % index
        print(
            f"\nmax_queue={max_queue}: client held back after {sent} messages, "
            f"server queue {queued}"
        )
    finally:
        server.close(timeout=TIMEOUT)


# -- outgoing buffer: write_limit and buffered_amount -------------------------------------


def test_send_from_a_user_thread_blocks_at_write_limit_and_times_out() -> None:
    write_limit = 256 * 1024
    with serving(write_limit=write_limit) as server:
        accepted = Accepted(server)
        with RawClient(server.port).upgrade() as slow_reader:
            ws = accepted.next_open()
            chunk = b"s" * 65536
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                while time.monotonic() - started < 4 * TIMEOUT:
                    ws.send(chunk, timeout=0.2)
            assert ws.buffered_amount > write_limit
            assert ws.buffered_amount <= write_limit + len(chunk) + 1024
            # The reactor is not blocked by the full buffer: other clients are served.
            assert_echoes(server, "served while a user thread waits")

            # Once the reader reads, the buffer drains and sending works again.
            def read_everything() -> None:
                with contextlib.suppress(OSError, EOFError):
                    while True:
                        slow_reader.read_frame()

            reader = threading.Thread(target=read_everything)
            reader.start()
            ws.send(b"after", timeout=TIMEOUT)
            assert wait_for(lambda: ws.buffered_amount == 0)
        reader.join(TIMEOUT)


def test_bulk_echo_with_a_concurrent_reader_does_not_deadlock() -> None:
    """Both ends over write_limit at once: the client's user thread waits in send() while
    the echo server's listener replies pile up. Neither end may stop reading for output
    that a user thread queued (it is throttled already), or the two wait for each other."""
    count, size = 64, 2**20
    with serving(max_payload=2 * size) as server:
        ws = wscli.connect(server.url, max_payload=2 * size)
        received: list[bytes] = []
        failures: list[BaseException] = []

        def read_all() -> None:
            try:
                for _ in range(count):
                    received.append(ws.recv(2 * TIMEOUT)[:8])
            except BaseException as exc:
                failures.append(exc)

        reader = threading.Thread(target=read_all)
        reader.start()
        try:
            for index in range(count):
                ws.send(b"%08d" % index + b"x" * (size - 8), timeout=2 * TIMEOUT)
        finally:
            reader.join(4 * TIMEOUT)
            ws.terminate()
        assert failures == []
        assert received == [b"%08d" % index for index in range(count)]


def test_send_blocked_at_write_limit_raises_connection_closed_when_peer_vanishes() -> None:
    with serving(write_limit=64 * 1024) as server:
        accepted = Accepted(server)
        slow_reader = RawClient(server.port).upgrade()
        ws = accepted.next_open()
        outcome: queue.Queue[BaseException | None] = queue.Queue()

        def keep_sending() -> None:
            try:
                while True:
                    ws.send(b"b" * 65536)  # no timeout: only the connection's end stops it
            except BaseException as exc:
                outcome.put(exc)

        sender = threading.Thread(target=keep_sending, daemon=True)
        sender.start()
        assert wait_for(lambda: ws.buffered_amount > 64 * 1024)
        slow_reader.reset()
        assert isinstance(outcome.get(timeout=TIMEOUT), wscli.ConnectionClosed)
        sender.join(TIMEOUT)
        assert not sender.is_alive()


def test_client_send_blocks_at_write_limit_when_server_never_reads() -> None:
    def never_read(conn: Any, ok: bytes, stop: threading.Event) -> None:
        conn.sendall(ok)

    with HostileServer(never_read) as hostile:
        ws = wscli.connect(hostile.url, open_timeout=TIMEOUT, write_limit=128 * 1024)
        with pytest.raises(TimeoutError):
            for _ in range(100_000):
                ws.send(b"c" * 65536, timeout=0.2)
        assert 128 * 1024 < ws.buffered_amount <= 128 * 1024 + 65536 + 1024
        ws.terminate()


# -- connections: max_connections -----------------------------------------------------------


def test_max_connections_refuses_with_503_and_frees_slots() -> None:
    with serving(max_connections=3) as server:
        clients = [wscli.connect(server.url) for _ in range(3)]
        with pytest.raises(wscli.InvalidStatus) as info:
            wscli.connect(server.url)
        assert info.value.status_code == 503
        for ws in clients:
            ws.send("still served")
            assert ws.recv(TIMEOUT) == "still served"
        clients.pop().close()
        assert wait_for(lambda: len(server.clients) == 2)
        assert_echoes(server, "a slot was freed")
        for ws in clients:
            ws.close()


def test_max_connections_applies_without_client_tracking() -> None:
    with serving(max_connections=2, client_tracking=False) as server:
        clients = [wscli.connect(server.url) for _ in range(2)]
        try:
            with pytest.raises(wscli.InvalidStatus) as info:
                extra = wscli.connect(server.url)
                extra.close()
            assert info.value.status_code == 503
        finally:
            for ws in clients:
                ws.close()


_FEW_FILES_SERVER = textwrap.dedent(
    """
    import resource, sys
    import wscli

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    server = wscli.Server("127.0.0.1", 0)
    errors = []
    server.on("error", errors.append)
    server.on("connection", lambda ws, req: ws.on("message", lambda d, f: ws.send(d)))
    print(server.port, flush=True)
    for line in sys.stdin:  # each line asks for the error events since the last one
        print(len(errors), type(errors[-1]).__name__ if errors else "-", flush=True)
        errors.clear()
    server.close(timeout=2)
    """
)


def test_running_out_of_file_descriptors_keeps_clients_served_and_recovers() -> None:
    """accept() failing with EMFILE is reported, not retried in a busy loop; the
    clients already connected are served, and new ones are accepted once files free up."""
    process = subprocess.Popen(
        [sys.executable, "-c", _FEW_FILES_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    held: list[socket.socket] = []
    try:
        port = int(process.stdout.readline())
        url = f"ws://127.0.0.1:{port}"
        with wscli.connect(url, open_timeout=TIMEOUT) as well_behaved:
            # More TCP connections than the server has files: the kernel completes them
            # (backlog); the server cannot accept them all.
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
            time.sleep(0.5)
            process.stdin.write("report\n")
            process.stdin.flush()
            count, kind = process.stdout.readline().split()
            assert kind == "OSError"
            assert 0 < int(count) <= 50, f"{count} error events in half a second: a busy loop"
            well_behaved.send("served while out of files")
            assert well_behaved.recv(TIMEOUT) == "served while out of files"
        for sock in held:
            sock.close()
        with wscli.connect(url, open_timeout=TIMEOUT) as newcomer:
            newcomer.send("accepted again")
            assert newcomer.recv(TIMEOUT) == "accepted again"
    finally:
        for sock in held:
            sock.close()
        process.stdin.close()
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)
        process.stdout.close()


# -- keepalive: ping_interval and ping_timeout ------------------------------------------------


def test_server_keepalive_closes_1011_when_pongs_never_come() -> None:
    with serving(ping_interval=0.1, ping_timeout=0.2, close_timeout=0.3) as server:
        accepted = Accepted(server)
        with RawClient(server.port).upgrade() as mute:
            ws = accepted.next_open()
            opcode, _ = mute.read_frame()
            assert opcode == 0x9
            assert mute.read_close() == 1011  # reads (and drops) pings until the close
            mute.wait_eof()
        _, code = accepted.next_close()
        assert code == 1006
        assert isinstance(ws.error, TimeoutError)


def test_server_keepalive_keeps_an_answering_client() -> None:
    with serving(ping_interval=0.05, ping_timeout=0.5) as server:
        with wscli.connect(server.url) as ws:
            pings = []
            ws.on("ping", pings.append)
            assert wait_for(lambda: len(pings) >= 4)
            ws.send("alive")
            assert ws.recv(TIMEOUT) == "alive"


def test_control_frame_over_125_bytes_closes_1002() -> None:
    with serving() as server, RawClient(server.port).upgrade() as client:
        client.send(client_frame(0x9, b"p" * 126))
        assert client.read_close() == 1002


def test_close_frame_reason_is_bounded_by_control_frame_limit() -> None:
    with serving() as server, RawClient(server.port).upgrade() as client:
        client.send(client_frame(0x8, struct.pack("!H", 1000) + b"r" * 123))
        assert client.read_close() == 1000
