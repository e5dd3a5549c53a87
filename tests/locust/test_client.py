"""The client under ``WebSocketUser``, in this process and without Locust or gevent.

Importing ``wscli.locust`` (or its client) must not import Locust, whose import patches
the standard library for gevent; these tests run the client on plain threads against a
wscli server on loopback.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from helpers import TIMEOUT

import wscli
from wscli.core.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from wscli.locust.client import WebSocketClient


@pytest.fixture
def server() -> Iterator[wscli.Server]:
    """Echo every message; ``close:CODE`` closes with CODE; ``ping`` pings first;
    ``last`` is echoed and followed by a close (1000)."""
    wss = wscli.Server("127.0.0.1", port=0)

    def on_connection(ws: wscli.WebSocket) -> None:
        def on_message(message: str | bytes, flags: wscli.MessageFlags) -> None:
            if message == "silence":
                return
            if isinstance(message, str) and message.startswith("close:"):
                ws.close(int(message[6:]), "asked to")
                return
            if message == "ping":
                ws.ping(b"are you there")
            ws.send(message, binary=flags.binary)
            if message == "last":
                ws.close(1000, "bye")

        ws.on("message", on_message)

    wss.on("connection", on_connection)
    yield wss
    wss.close()


def test_importing_wscli_locust_leaves_locust_and_gevent_out() -> None:
    code = (
        "import sys, wscli, wscli.locust, wscli.locust.client;"
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules, sorted(sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr


def test_echo_round_trips_text_and_binary_and_answers_pings(server: wscli.Server) -> None:
    client = WebSocketClient(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT)
    client.connect()
    assert client.open and client.response is not None
    client.send("hello")
    assert client.recv(TIMEOUT) == "hello"
    client.send(b"\x00\xff")
    assert client.recv(TIMEOUT) == b"\x00\xff"
    client.send("ping")  # the server pings, then echoes: the pong left on our read
    assert client.recv(TIMEOUT) == "ping"
    client.close()
    assert not client.open
    client.close()  # twice is fine


def test_recv_times_out_and_the_connection_stays_usable(server: wscli.Server) -> None:
    client = WebSocketClient(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT)
    client.connect()
    client.send("silence")
    with pytest.raises(TimeoutError):
        client.recv(0.2)
    client.send("after")
    assert client.recv(TIMEOUT) == "after"
    client.close()


@pytest.mark.parametrize(
    ("code", "error"), [(1011, ConnectionClosedError), (1000, ConnectionClosedOK)]
)
def test_server_close_code_reaches_the_caller(
    server: wscli.Server, code: int, error: type[Exception]
) -> None:
    client = WebSocketClient(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT)
    client.connect()
    client.send(f"close:{code}")
    with pytest.raises(error) as caught:
        client.recv(TIMEOUT)
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert not client.open
    with pytest.raises(error):
        client.send("too late")


def test_refused_upgrade_raises_with_its_status() -> None:
    wss = wscli.Server("127.0.0.1", port=0, verify_client=lambda info, cb: cb(False, 401))
    try:
        client = WebSocketClient(f"ws://127.0.0.1:{wss.port}/", open_timeout=TIMEOUT)
        with pytest.raises(InvalidStatus) as caught:
            client.connect()
        assert caught.value.status_code == 401
        assert not client.open
    finally:
        wss.close()


def test_silent_server_bounds_the_handshake() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
    thread.start()
    try:
        client = WebSocketClient(f"ws://127.0.0.1:{listener.getsockname()[1]}/", open_timeout=0.3)
        with pytest.raises(TimeoutError):
            client.connect()
        assert not client.open
    finally:
        thread.join(TIMEOUT)
        for sock in accepted:
            sock.close()
        listener.close()


def test_the_locust_names_say_how_to_install_locust_when_it_is_missing() -> None:
    code = (
        "import sys; sys.modules['locust'] = None\n"  # as if it were not installed
        "import wscli.locust\n"
        "try:\n"
        "    wscli.locust.WebSocketUser\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'wscli-toolkit[locust]'" in result.stdout


def test_a_reply_followed_by_a_close_comes_first_then_the_close(server: wscli.Server) -> None:
    client = WebSocketClient(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT)
    client.connect()
    client.send("last")
    assert client.recv(TIMEOUT) == "last"
    # The close is answered when the caller comes back for more, and ends the read.
    with pytest.raises(ConnectionClosedOK) as caught:
        client.recv(TIMEOUT)
    assert (caught.value.code, caught.value.reason) == (1000, "bye")
    assert not client.open
