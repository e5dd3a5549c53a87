"""``WebSocket.timings``: each phase of opening is recorded by the code that runs it.

Only which phases are present is asserted (a number or ``None``), never how long they
took: the durations depend on the machine's load.
"""

from __future__ import annotations

import dataclasses
import socket
import threading

import pytest
from test_proxy import ConnectProxy
from tlshelpers import PKI, TIMEOUT, make_pki, running_server

import wscli
from wscli.core.sync.timings import ConnectTimings
from wscli.core.sync.websocket import WebSocket, connect


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def assert_measured(value: float | None) -> None:
    assert isinstance(value, float)
    assert value >= 0.0


def test_plain_ws_to_an_address_has_tcp_and_upgrade_only() -> None:
    with running_server() as server:
        with connect(f"ws://127.0.0.1:{server.port}/", open_timeout=TIMEOUT, proxy=False) as ws:
            timings = ws.timings
    assert isinstance(timings, wscli.ConnectTimings)
    assert timings.dns is None  # an address literal asks no resolver
    assert_measured(timings.tcp)
    assert timings.proxy is None
    assert timings.tls is None
    assert_measured(timings.upgrade)
    assert list(timings.as_dict()) == ["dns", "tcp", "proxy", "tls", "upgrade"]


def test_a_host_name_is_resolved_and_timed() -> None:
    with running_server() as server:
        with connect(f"ws://localhost:{server.port}/", open_timeout=TIMEOUT, proxy=False) as ws:
            timings = ws.timings
    assert_measured(timings.dns)
    assert_measured(timings.tcp)


def test_wss_has_a_tls_timing(pki: PKI) -> None:
    with running_server(ssl=pki.server_context()) as server:
        url = f"wss://localhost:{server.port}/"
        with connect(url, open_timeout=TIMEOUT, proxy=False, ca=pki.ca_file) as ws:
            timings = ws.timings
    assert_measured(timings.tcp)
    assert_measured(timings.tls)
    assert_measured(timings.upgrade)
    assert timings.proxy is None


def test_a_proxy_tunnel_is_its_own_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with running_server() as server, ConnectProxy() as proxy:
        url = f"ws://127.0.0.1:{server.port}/"
        with connect(url, open_timeout=TIMEOUT, proxy=f"http://127.0.0.1:{proxy.port}") as ws:
            timings = ws.timings
    assert proxy.requests  # the tunnel really went through the proxy
    assert_measured(timings.tcp)  # to the proxy
    assert_measured(timings.proxy)
    assert timings.tls is None
    assert_measured(timings.upgrade)


def test_upgrade_is_none_until_the_answer_arrives() -> None:
    """A server that accepts TCP but never answers: TCP is timed, the upgrade is not."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    ready = threading.Event()

    def accept() -> None:
        accepted.append(listener.accept()[0])
        ready.set()

    threading.Thread(target=accept, daemon=True).start()
    ws = WebSocket(f"ws://127.0.0.1:{listener.getsockname()[1]}/", proxy=False)
    try:
        assert ready.wait(TIMEOUT)
        with pytest.raises(TimeoutError):
            ws.wait_open(0.2)
        assert ws.timings.upgrade is None
    finally:
        ws.terminate()
        for sock in accepted:
            sock.close()
        listener.close()


def test_timings_are_read_only() -> None:
    timings = ConnectTimings(tcp=0.001)
    with pytest.raises(dataclasses.FrozenInstanceError):
        timings.tcp = 0.0  # type: ignore[misc]
