"""Origin policy: ``Server(origins=[...])`` refuses foreign and missing origins with 403.

Browsers send the page's origin with every WebSocket upgrade and attach the user's
cookies, whatever the page; a server that authenticates by cookie and checks no Origin
lets any site act as its users (cross-site WebSocket hijacking, see docs/LIMITS.md).
Comparison is exact: an origin is ``scheme://host[:port]`` as browsers serialise it.
"""

from __future__ import annotations

import queue
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT
from .test_faults import RawClient, serving, upgrade_request

APP = "https://app.example"


def _refusal(url: str, **options: Any) -> wscli.InvalidStatus:
    with pytest.raises(wscli.InvalidStatus) as info:
        wscli.connect(url, open_timeout=TIMEOUT, **options)
    return info.value


def test_listed_origin_is_accepted() -> None:
    with serving(origins=[APP, "https://other.example"]) as server:
        with wscli.connect(server.url, origin=APP) as ws:
            ws.send("hello")
            assert ws.recv(TIMEOUT) == "hello"
        with wscli.connect(server.url, origin="https://other.example") as ws:
            assert ws.ready_state == ws.OPEN


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://app.example",  # another scheme is another origin
        "https://app.example:8443",  # another port too
        "https://app.example.evil.example",  # a suffix is not a match
        "https://evil.example/https://app.example",
        "HTTPS://APP.EXAMPLE",  # browsers serialise lowercase; anything else is not theirs
        "null",  # sandboxed frames and file: pages
        "",
    ],
)
def test_foreign_origin_is_refused_with_403(origin: str) -> None:
    with serving(origins=[APP]) as server:
        refusal = _refusal(server.url, headers=[("Origin", origin)])
        assert refusal.status_code == 403
        assert b"not allowed" in refusal.response.body
        assert not server.clients


def test_missing_origin_is_refused_unless_none_is_listed() -> None:
    with serving(origins=[APP]) as server:
        assert _refusal(server.url).status_code == 403
    with serving(origins=[APP, None]) as server:
        with wscli.connect(server.url) as ws:  # a command-line client sends no Origin
            assert ws.ready_state == ws.OPEN
        # None admits a missing header, not the "null" origin nor any other.
        assert _refusal(server.url, origin="null").status_code == 403
        assert _refusal(server.url, origin="https://evil.example").status_code == 403


def test_only_none_accepts_non_browser_clients_only() -> None:
    with serving(origins=[None]) as server:
        with wscli.connect(server.url) as ws:
            assert ws.ready_state == ws.OPEN
        assert _refusal(server.url, origin=APP).status_code == 403


def test_repeated_origin_header_is_refused() -> None:
    with serving(origins=[APP]) as server, RawClient(server.port) as client:
        client.send(upgrade_request(headers=[("Origin", APP), ("Origin", "https://evil.example")]))
        status, _ = client.read_head()
        assert status == 400


def test_without_an_origin_policy_every_origin_is_accepted() -> None:
    """The default: right for non-browser clients, unsafe for cookie-authenticated ones."""
    with serving() as server:
        with wscli.connect(server.url, origin="https://evil.example") as ws:
            assert ws.ready_state == ws.OPEN


def test_refusals_do_not_disturb_accepted_clients() -> None:
    with serving(origins=[APP]) as server:
        with wscli.connect(server.url, origin=APP) as ws:
            for _ in range(20):
                assert _refusal(server.url, origin="https://evil.example").status_code == 403
            ws.send("still here")
            assert ws.recv(TIMEOUT) == "still here"
            assert len(server.clients) == 1


def test_refused_origin_emits_no_connection_event() -> None:
    connections: queue.Queue[Any] = queue.Queue()
    with serving(origins=[APP]) as server:
        server.on("connection", lambda ws, request: connections.put(request))
        _refusal(server.url, origin="https://evil.example")
        with wscli.connect(server.url, origin=APP):
            pass
        assert connections.get(timeout=TIMEOUT).headers["Origin"] == APP
        assert connections.empty()


def test_hybi08_clients_are_checked_on_sec_websocket_origin() -> None:
    with serving(origins=[APP]) as server:
        with wscli.connect(server.url, origin=APP, protocol_version=8) as ws:
            assert ws.protocol_version == 8
        refusal = _refusal(server.url, origin="https://evil.example", protocol_version=8)
        assert refusal.status_code == 403
        # An Origin header does not stand in for the one hybi-08 names.
        refusal = _refusal(server.url, headers=[("Origin", APP)], protocol_version=8)
        assert refusal.status_code == 403


# draft-hixie-thewebsocketprotocol-76 §1.3's example keys.
_KEY1 = "18x 6]8vM;54 *(5:  {   U1]8  z [  8"
_KEY2 = "1_ tx7X d  <  nw  334J702) 7]o}` 0"
_KEY3 = b"Tm[K T2u"


def _hixie76_request(origin: str | None) -> bytes:
    lines = [
        "GET /demo HTTP/1.1",
        "Host: example.com",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key2: {_KEY2}",
        "Upgrade: WebSocket",
        f"Sec-WebSocket-Key1: {_KEY1}",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + _KEY3


@pytest.mark.parametrize(
    ("origin", "status"), [(APP, 101), ("https://evil.example", 403), (None, 403)]
)
def test_hixie76_clients_are_checked_too(origin: str | None, status: int) -> None:
    with serving(origins=[APP], allow_hixie76=True) as server, RawClient(server.port) as client:
        client.send(_hixie76_request(origin))
        got, head = client.read_head()
        assert got == status, head


def test_verify_client_can_apply_its_own_origin_policy() -> None:
    """Patterns (every subdomain of a site) are verify_client's business."""

    def verify(info: wscli.ClientInfo) -> Any:
        origin = info.origin or ""
        if origin == APP or origin.endswith(".app.example") and origin.startswith("https://"):
            return True
        return (False, 403, f"origin {origin or '(none)'} is not allowed")

    with serving(verify_client=verify) as server:
        with wscli.connect(server.url, origin="https://eu.app.example") as ws:
            assert ws.ready_state == ws.OPEN
        refusal = _refusal(server.url, origin="https://app.example.evil.example")
        assert refusal.status_code == 403
        assert _refusal(server.url).status_code == 403
