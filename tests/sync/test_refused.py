"""The server's ``refused`` event: one per refused upgrade, whoever decided it.

A refusal the library makes itself (a request it cannot parse, a version it does not
speak, the wrong path, its connection limit, an Origin outside ``origins``) is reported
exactly like one ``verify_client`` decided, so a server can log every refusal in one
place.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT
from .test_faults import RawClient, serving, upgrade_request


def _record(server: wscli.Server) -> queue.Queue[tuple[Any, ...]]:
    seen: queue.Queue[tuple[Any, ...]] = queue.Queue()
    server.on(
        "refused",
        lambda address, status, reason, request: seen.put((address, status, reason, request)),
    )
    return seen


def _refused_once(server: wscli.Server, raw: bytes) -> tuple[tuple[Any, ...], int, Any]:
    """Send ``raw``; return the one event, the status answered and the client's address."""
    seen = _record(server)
    assert server.port is not None
    client = RawClient(server.port)
    address = client.sock.getsockname()
    client.send(raw)
    status, _head = client.read_head()
    event = seen.get(timeout=TIMEOUT)
    # The socket ends once the refusal is out; by then a second event would be queued.
    client.sock.settimeout(TIMEOUT)
    while client.sock.recv(65536):
        pass
    client.sock.close()
    server.close(timeout=TIMEOUT)
    assert seen.empty(), f"refused twice: {event} then {seen.get()}"
    return event, status, address


def test_malformed_request_is_reported_with_400_and_no_request() -> None:
    with serving() as server:
        (address, status, reason, request), answered, client_address = _refused_once(
            server, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"
        )
    assert (status, answered) == (400, 400)
    assert request is None
    assert reason
    assert address == client_address


def test_unsupported_version_is_reported_with_426() -> None:
    raw = upgrade_request().replace(b"Version: 13", b"Version: 7")
    with serving() as server:
        (_address, status, reason, request), answered, _client = _refused_once(server, raw)
    assert (status, answered) == (426, 426)
    assert "version" in reason
    assert request is not None and request.path == "/"


def test_wrong_path_is_reported_with_400() -> None:
    with serving(path="/chat") as server:
        (_address, status, reason, request), _answered, _client = _refused_once(
            server, upgrade_request("/other")
        )
    assert status == 400
    assert "/other" in reason
    assert request.path == "/other"


def test_foreign_origin_is_reported_with_403() -> None:
    raw = upgrade_request(headers=[("Origin", "https://evil.example")])
    with serving(origins=["https://app.example"]) as server:
        (_address, status, reason, _request), _answered, _client = _refused_once(server, raw)
    assert status == 403
    assert "evil.example" in reason


def test_verify_client_refusal_is_reported_once_with_its_message() -> None:
    with serving(verify_client=lambda info: (False, 418, "not today")) as server:
        (_address, status, reason, _request), answered, _client = _refused_once(
            server, upgrade_request()
        )
    assert (status, answered, reason) == (418, 418, "not today")


def test_callback_verify_client_refusal_is_reported_once() -> None:
    def verify(info: Any, answer: Any) -> None:
        threading.Thread(target=answer, args=(False, 401, "who are you")).start()

    with serving(verify_client=verify) as server:
        (_address, status, reason, _request), _answered, _client = _refused_once(
            server, upgrade_request()
        )
    assert (status, reason) == (401, "who are you")


def test_connection_limit_refusal_is_reported_with_503() -> None:
    with serving(max_connections=1) as server:
        with wscli.connect(server.url, open_timeout=TIMEOUT):
            (_address, status, reason, _request), _answered, _client = _refused_once(
                server, upgrade_request()
            )
    assert status == 503
    assert reason == "too many connections"


def test_accepted_client_is_not_reported() -> None:
    with serving() as server:
        seen = _record(server)
        with wscli.connect(server.url, open_timeout=TIMEOUT) as ws:
            ws.send("hi")
            assert ws.recv(TIMEOUT) == "hi"
        server.close(timeout=TIMEOUT)
    assert seen.empty()


@pytest.mark.parametrize("count", [1, 2, 3])
def test_listener_may_take_fewer_arguments(count: int) -> None:
    got: queue.Queue[tuple[Any, ...]] = queue.Queue()
    with serving(path="/chat") as server:
        if count == 1:
            server.on("refused", lambda address: got.put((address,)))
        elif count == 2:
            server.on("refused", lambda address, status: got.put((address, status)))
        else:
            server.on("refused", lambda a, s, r: got.put((a, s, r)))
        assert server.port is not None
        client = RawClient(server.port)
        client.send(upgrade_request("/nope"))
        assert client.read_head()[0] == 400
        assert len(got.get(timeout=TIMEOUT)) == count
        client.sock.close()
