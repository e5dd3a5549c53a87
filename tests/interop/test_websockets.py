"""Interop with Python's ``websockets`` package over real loopback sockets, both ways."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import TIMEOUT
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

import wscli

BIG = 16 * 2**20

# (our per_message_deflate option, description) for each negotiated variant.
DEFLATE_VARIANTS: list[Any] = [
    True,
    {"server_no_context_takeover": True},
    {"client_no_context_takeover": True},
    {"server_max_window_bits": 10},
    {"client_max_window_bits": 9},
    {
        "server_no_context_takeover": True,
        "client_no_context_takeover": True,
        "server_max_window_bits": 12,
        "client_max_window_bits": 12,
    },
]


@pytest.fixture
def wscli_echo() -> Iterator[wscli.Server]:
    server = wscli.Server("127.0.0.1", 0, max_payload=2 * BIG, per_message_deflate=True)

    def on_connection(ws: wscli.WebSocket, request: wscli.Request) -> None:
        def echo(data: Any, flags: Any) -> None:
            if data == "close-4001":
                ws.close(4001, "asked to")
            else:
                ws.send(data)

        ws.on("message", echo)

    server.on("connection", on_connection)
    yield server
    server.close()


@pytest.fixture
def websockets_echo() -> Iterator[str]:
    def handler(conn: Any) -> None:
        try:
            for message in conn:
                if message == "close-4002":
                    conn.close(4002, "asked to")
                    return
                conn.send(message)
        except WsClosed:
            pass

    with ws_serve(
        handler,
        "127.0.0.1",
        0,
        max_size=2 * BIG,
        extensions=[ServerPerMessageDeflateFactory()],
        compression=None,
    ) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        server.shutdown()
        thread.join(TIMEOUT)


# -- websockets client -> wscli server ------------------------------------------------


@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_client_text_binary_fragmented(
    wscli_echo: wscli.Server, compression: str | None
) -> None:
    with ws_connect(wscli_echo.url, compression=compression, open_timeout=TIMEOUT) as conn:
        conn.send("héllo wörld")
        assert conn.recv(TIMEOUT) == "héllo wörld"
        conn.send(b"\x00\xff" * 1000)
        assert conn.recv(TIMEOUT) == b"\x00\xff" * 1000
        conn.send(iter(["frag", "ment", "ed ✓"]))
        assert conn.recv(TIMEOUT) == "fragmented ✓"
        conn.send(iter([b"a", b"b", b"c"]))
        assert conn.recv(TIMEOUT) == b"abc"
        if compression:
            assert "permessage-deflate" in conn.response.headers["Sec-WebSocket-Extensions"]


def test_websockets_client_16_mib(wscli_echo: wscli.Server) -> None:
    payload = bytes(range(256)) * (BIG // 256)
    with ws_connect(wscli_echo.url, max_size=2 * BIG, open_timeout=TIMEOUT) as conn:
        conn.send(payload)
        assert conn.recv(TIMEOUT * 3) == payload


def test_websockets_client_ping_and_close_code(wscli_echo: wscli.Server) -> None:
    with ws_connect(wscli_echo.url, open_timeout=TIMEOUT) as conn:
        assert conn.ping(b"are you there").wait(TIMEOUT)
        conn.send("close-4001")
        with pytest.raises(WsClosed) as info:
            conn.recv(TIMEOUT)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "asked to")


def test_websockets_client_closes_with_code(wscli_echo: wscli.Server) -> None:
    closed: list[tuple[int, str]] = []
    done = threading.Event()
    wscli_echo.on(
        "connection",
        lambda ws, req: ws.on(
            "close", lambda code, reason: (closed.append((code, reason)), done.set())
        ),
    )
    with ws_connect(wscli_echo.url, open_timeout=TIMEOUT) as conn:
        conn.close(4321, "bye")
    assert done.wait(TIMEOUT)
    assert closed == [(4321, "bye")]


@pytest.mark.parametrize("variant", range(len(DEFLATE_VARIANTS)))
def test_websockets_client_deflate_parameters(variant: int) -> None:
    options = DEFLATE_VARIANTS[variant]
    server = wscli.Server("127.0.0.1", 0, per_message_deflate=options)
    server.on("connection", lambda ws, req: ws.on("message", lambda d, f: ws.send(d)))
    try:
        params = options if isinstance(options, dict) else {}
        factory = ClientPerMessageDeflateFactory(
            server_no_context_takeover=params.get("server_no_context_takeover", False),
            client_no_context_takeover=params.get("client_no_context_takeover", False),
            server_max_window_bits=params.get("server_max_window_bits"),
            client_max_window_bits=params.get("client_max_window_bits", True),
        )
        with ws_connect(
            server.url, extensions=[factory], compression=None, open_timeout=TIMEOUT
        ) as conn:
            header = conn.response.headers["Sec-WebSocket-Extensions"]
            assert header.startswith("permessage-deflate")
            for name, value in params.items():
                assert name in header, header
                if value is not True:
                    assert f"{name}={value}" in header, header
            for round_ in range(5):
                text = f"round {round_} " + "compressible text " * 300
                conn.send(text)
                assert conn.recv(TIMEOUT) == text
                conn.send(text.encode())
                assert conn.recv(TIMEOUT) == text.encode()
    finally:
        server.close()


# -- wscli client -> websockets server ------------------------------------------------


@pytest.mark.parametrize("deflate", [True, False])
def test_wscli_client_text_binary_fragmented(websockets_echo: str, deflate: bool) -> None:
    with wscli.connect(websockets_echo, per_message_deflate=deflate, open_timeout=TIMEOUT) as ws:
        assert ("permessage-deflate" in ws.extensions) is deflate
        ws.send("héllo wörld")
        assert ws.recv(TIMEOUT) == "héllo wörld"
        ws.send(b"\x01\x02" * 3000)
        assert ws.recv(TIMEOUT) == b"\x01\x02" * 3000
        with ws.stream() as out:
            for piece in ("frag", "ment", "ed ✓"):
                out.write(piece)
        assert ws.recv(TIMEOUT) == "fragmented ✓"
        ws.send(b"one", fin=False)
        ws.send(b"two", fin=True)
        assert ws.recv(TIMEOUT) == b"onetwo"


def test_wscli_client_16_mib(websockets_echo: str) -> None:
    payload = bytes(range(256)) * (BIG // 256)
    with wscli.connect(websockets_echo, max_payload=2 * BIG, open_timeout=TIMEOUT) as ws:
        ws.send(payload)
        assert ws.recv(TIMEOUT * 3) == payload


def test_wscli_client_ping(websockets_echo: str) -> None:
    with wscli.connect(websockets_echo, open_timeout=TIMEOUT) as ws:
        latency = ws.ping(b"hello?").wait(TIMEOUT)
        assert 0 <= latency < TIMEOUT


def test_wscli_client_sees_server_close_code(websockets_echo: str) -> None:
    ws = wscli.connect(websockets_echo, open_timeout=TIMEOUT)
    ws.send("close-4002")
    with pytest.raises(wscli.ConnectionClosedError) as info:
        ws.recv(TIMEOUT)
    assert (info.value.code, info.value.reason) == (4002, "asked to")
    assert ws.wait_closed(TIMEOUT)
    assert (ws.close_code, ws.close_reason) == (4002, "asked to")


def test_wscli_client_normal_close_ends_iteration(websockets_echo: str) -> None:
    ws = wscli.connect(websockets_echo, open_timeout=TIMEOUT)
    ws.send("one")
    assert ws.recv(TIMEOUT) == "one"
    ws.close(1000, "done")
    assert ws.wait_closed(TIMEOUT)
    assert list(ws) == []
    assert ws.close_code == 1000


@pytest.mark.parametrize("variant", range(len(DEFLATE_VARIANTS)))
def test_wscli_client_deflate_parameters(variant: int) -> None:
    options = DEFLATE_VARIANTS[variant]
    params = options if isinstance(options, dict) else {}

    def handler(conn: Any) -> None:
        try:
            for message in conn:
                conn.send(message)
        except WsClosed:
            pass

    factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=params.get("server_no_context_takeover", False),
        client_no_context_takeover=params.get("client_no_context_takeover", False),
        server_max_window_bits=params.get("server_max_window_bits"),
        client_max_window_bits=params.get("client_max_window_bits"),
    )
    with ws_serve(handler, "127.0.0.1", 0, extensions=[factory], compression=None) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        try:
            with wscli.connect(url, per_message_deflate=options, open_timeout=TIMEOUT) as ws:
                negotiated = ws.extensions.get("permessage-deflate", "")
                assert negotiated, ws.extensions
                for name in params:
                    assert name in negotiated, negotiated
                for round_ in range(5):
                    text = f"round {round_} " + "compressible text " * 300
                    ws.send(text)
                    assert ws.recv(TIMEOUT) == text
                    ws.send(text.encode())
                    assert ws.recv(TIMEOUT) == text.encode()
        finally:
            server.shutdown()
            thread.join(TIMEOUT)
