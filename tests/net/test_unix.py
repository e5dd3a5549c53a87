"""Unix sockets: ``ws+unix:///path/to.sock:/request/path`` clients and ``Server(unix=PATH)``."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tlshelpers import TIMEOUT, running_server

from wscli.core.sync.net import ConnectFailed
from wscli.core.sync.server import Server
from wscli.core.sync.websocket import connect

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[str]:
    # Unix socket paths are limited to about 100 bytes; pytest's tmp_path may be long.
    short = Path("/tmp") if len(str(tmp_path)) > 80 else tmp_path
    path = short / f"wscli-{os.getpid()}-{id(tmp_path)}.sock"
    yield str(path)
    if path.exists():
        path.unlink()


def test_client_and_server_over_a_unix_socket(sock_path: str) -> None:
    requests: list[Any] = []

    def on_connection(ws: Any, request: Any) -> None:
        requests.append(request)
        ws.on("message", lambda data, flags: ws.send(data, binary=flags.binary))

    with running_server(on_connection, unix=sock_path) as server:
        assert server.url == f"ws+unix://{sock_path}:/"
        assert server.unix_path == sock_path
        assert server.address is None and server.port is None
        with connect(f"ws+unix://{sock_path}:/chat?room=1", open_timeout=TIMEOUT) as ws:
            ws.send(b"\x00\x01")
            assert ws.recv(timeout=TIMEOUT) == b"\x00\x01"
    assert requests[0].path == "/chat?room=1"
    assert requests[0].headers["Host"] == "localhost"


def test_socket_file_is_removed_on_close(sock_path: str) -> None:
    with running_server(unix=sock_path):
        assert os.path.exists(sock_path)
    assert not os.path.exists(sock_path)


def test_stale_socket_file_is_replaced(sock_path: str) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock_path)
    stale.close()  # the file stays, nobody listens: a crashed server's leftover
    with running_server(unix=sock_path):
        with connect(f"ws+unix://{sock_path}", open_timeout=TIMEOUT) as ws:
            ws.send("x")
            assert ws.recv(timeout=TIMEOUT) == "x"


def test_live_socket_and_regular_files_are_not_replaced(sock_path: str, tmp_path: Path) -> None:
    with running_server(unix=sock_path):
        with pytest.raises(OSError, match="in use by another server"):
            Server(unix=sock_path)
    regular = tmp_path / "file.txt"
    regular.write_text("keep me")
    with pytest.raises(FileExistsError, match="is not a socket"):
        Server(unix=str(regular))
    assert regular.read_text() == "keep me"


def test_missing_socket_is_a_one_line_connect_failure(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.sock")
    with pytest.raises(ConnectFailed) as info:
        connect(f"ws+unix://{path}:/", open_timeout=TIMEOUT)
    assert str(info.value) == f"cannot connect to {path}: no such file or directory"


def test_environment_proxies_do_not_apply(sock_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    with running_server(unix=sock_path):
        with connect(f"ws+unix://{sock_path}:/", open_timeout=TIMEOUT) as ws:
            ws.send("direct")
            assert ws.recv(timeout=TIMEOUT) == "direct"


def test_port_and_unix_are_exclusive(sock_path: str) -> None:
    with pytest.raises(ValueError, match="exactly one of port, unix"):
        Server("127.0.0.1", 0, unix=sock_path)
