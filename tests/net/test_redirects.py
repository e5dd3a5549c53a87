"""Following 3xx answers to the upgrade (``follow_redirects``, ``max_redirects``)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tlshelpers import PKI, TIMEOUT, make_pki, running_server

from wscli.core.exceptions import InvalidStatus
from wscli.core.sync.net import ConnectFailed
from wscli.core.sync.server import Server
from wscli.core.sync.websocket import REDIRECT_STATUSES, RedirectError, WebSocket, connect


@contextlib.contextmanager
def redirecting(route: Callable[[str], tuple[int, str] | None], **options: Any) -> Iterator[Server]:
    """A server that answers ``route(path)``'s ``(status, location)``, else accepts."""
    seen: list[Any] = []

    def verify(info: Any) -> Any:
        seen.append(info.req)
        answer = route(info.req.path)
        if answer is None:
            return True
        status, location = answer
        return (False, status, "moved", {"Location": location})

    with running_server(verify_client=verify, **options) as server:
        server.seen = seen  # type: ignore[attr-defined]
        yield server


def echo_once(ws: WebSocket, text: str = "hi") -> None:
    ws.send(text)
    assert ws.recv(timeout=TIMEOUT) == text


@pytest.mark.parametrize("status", sorted(REDIRECT_STATUSES))
def test_each_redirect_status_is_followed(status: int) -> None:
    with redirecting(lambda path: (status, "/new") if path == "/old" else None) as server:
        base = f"ws://127.0.0.1:{server.port}"
        with connect(base + "/old", follow_redirects=True, open_timeout=TIMEOUT) as ws:
            echo_once(ws)
            assert ws.url == base + "/new"
            assert ws.redirects == [base + "/old", base + "/new"]
            assert ws.request is not None and ws.request.path == "/new"


def test_redirects_are_not_followed_by_default() -> None:
    with redirecting(lambda path: (302, "/new") if path == "/old" else None) as server:
        with pytest.raises(InvalidStatus) as info:
            connect(f"ws://127.0.0.1:{server.port}/old", open_timeout=TIMEOUT)
    assert info.value.status_code == 302
    assert info.value.response.headers["Location"] == "/new"
    assert not isinstance(info.value, RedirectError)


def test_redirect_event_reports_each_hop_in_background_mode() -> None:
    attached = threading.Event()

    def route(path: str) -> tuple[int, str] | None:
        # A redirect is not kept for a listener attached after it (only open, error,
        # close and messages are): the connection, already on its way in the
        # background, could otherwise take its first hop before the test listens.
        attached.wait(TIMEOUT)
        return {"/a": (301, "/b"), "/b": (307, "/c?x=1")}.get(path)

    with redirecting(route) as server:
        base = f"ws://127.0.0.1:{server.port}"
        hops: list[tuple[str, int]] = []
        opened = threading.Event()
        ws = WebSocket(base + "/a", follow_redirects=True, open_timeout=TIMEOUT)
        ws.on("redirect", lambda url, response: hops.append((url, response.status_code)))
        ws.on("open", lambda: opened.set())
        attached.set()
        assert opened.wait(TIMEOUT)
        echo_once(ws)
        ws.close()
        assert ws.wait_closed(TIMEOUT)
    assert hops == [(base + "/b", 301), (base + "/c?x=1", 307)]
    assert ws.redirects == [base + "/a", base + "/b", base + "/c?x=1"]


def test_redirect_to_another_server_with_absolute_http_location() -> None:
    with running_server() as target:
        location = f"http://127.0.0.1:{target.port}/there"  # http:// means ws://
        with redirecting(lambda path: (308, location)) as server:
            with connect(
                f"ws://127.0.0.1:{server.port}/", follow_redirects=True, open_timeout=TIMEOUT
            ) as ws:
                echo_once(ws)
                assert ws.url == f"ws://127.0.0.1:{target.port}/there"


def test_redirect_from_ws_to_wss_uses_the_tls_options_when_location_is_trusted(
    tmp_path: Path,
) -> None:
    pki: PKI = make_pki(tmp_path)
    with running_server(ssl=pki.server_context()) as target:
        location = f"wss://localhost:{target.port}/secure"
        with redirecting(lambda path: (302, location)) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            with connect(
                url,
                follow_redirects=True,
                location_trusted=True,
                ca=pki.ca_file,
                open_timeout=TIMEOUT,
            ) as ws:
                echo_once(ws)
                assert ws.tls is not None
            # Without location_trusted the private CA stays with the first host, so
            # the new one is checked against the system store, which does not know it.
            with pytest.raises(ConnectFailed, match="certificate"):
                connect(url, follow_redirects=True, ca=pki.ca_file, open_timeout=TIMEOUT)


def test_redirect_loop_fails_clearly() -> None:
    def route(path: str) -> tuple[int, str] | None:
        return {"/a": (302, "/b"), "/b": (302, "/a")}.get(path)

    with redirecting(route) as server:
        base = f"ws://127.0.0.1:{server.port}"
        with pytest.raises(RedirectError) as info:
            connect(base + "/a", follow_redirects=True, open_timeout=TIMEOUT)
    assert str(info.value) == f"redirect loop: {base}/a -> {base}/b -> {base}/a"
    assert info.value.status_code == 302


def test_max_redirects_limits_the_chain() -> None:
    def route(path: str) -> tuple[int, str] | None:
        step = int(path.strip("/") or 0)
        return (302, f"/{step + 1}") if step < 3 else None

    with redirecting(route) as server:
        base = f"ws://127.0.0.1:{server.port}"
        with connect(
            base + "/0", follow_redirects=True, max_redirects=3, open_timeout=TIMEOUT
        ) as ws:
            assert ws.url == base + "/3"
        with pytest.raises(RedirectError, match=r"too many redirects \(more than 2\)"):
            connect(base + "/0", follow_redirects=True, max_redirects=2, open_timeout=TIMEOUT)
        with pytest.raises(RedirectError, match=r"more than 0"):
            connect(base + "/0", follow_redirects=True, max_redirects=0, open_timeout=TIMEOUT)


def test_default_max_redirects_is_ten() -> None:
    def route(path: str) -> tuple[int, str] | None:
        return (302, f"/{int(path.strip('/')) + 1}")

    with redirecting(route) as server:
        with pytest.raises(RedirectError, match=r"more than 10"):
            connect(f"ws://127.0.0.1:{server.port}/0", follow_redirects=True, open_timeout=TIMEOUT)
        assert len(server.seen) == 11  # type: ignore[attr-defined]


def test_redirect_without_location_is_an_invalid_status() -> None:
    def verify(info: Any) -> Any:
        return (False, 302, "nowhere")

    with running_server(verify_client=verify) as server:
        with pytest.raises(InvalidStatus) as info:
            connect(f"ws://127.0.0.1:{server.port}/", follow_redirects=True, open_timeout=TIMEOUT)
    assert info.value.status_code == 302 and not isinstance(info.value, RedirectError)


def test_unusable_location_fails_clearly() -> None:
    with redirecting(lambda path: (302, "ftp://example.com/")) as server:
        with pytest.raises(RedirectError, match="cannot follow redirect to 'ftp://example.com/'"):
            connect(f"ws://127.0.0.1:{server.port}/", follow_redirects=True, open_timeout=TIMEOUT)


def test_credentials_stay_with_their_origin() -> None:
    with redirecting(lambda path: None) as target:
        location = f"ws://localhost:{target.port}/"  # another origin: the host differs
        with redirecting(lambda path: (302, "/same") if path == "/" else (302, location)) as server:
            headers = {"Authorization": "Bearer secret", "X-Trace": "1"}
            url = f"ws://127.0.0.1:{server.port}/"
            with connect(url, headers=headers, follow_redirects=True, open_timeout=TIMEOUT):
                pass
            first, same = server.seen  # type: ignore[attr-defined]
            assert same.headers.get("Authorization") == "Bearer secret"
            (moved,) = target.seen  # type: ignore[attr-defined]
            assert moved.headers.get("Authorization") is None
            # Any caller header may be a credential: none goes to another origin.
            assert moved.headers.get("X-Trace") is None


def test_relative_redirect_on_a_unix_socket(tmp_path: Path) -> None:
    path = os.path.join(tmp_path, "r.sock")
    with redirecting(lambda p: (302, "/moved") if p == "/" else None, unix=path) as server:
        with connect(f"ws+unix://{path}:/", follow_redirects=True, open_timeout=TIMEOUT) as ws:
            echo_once(ws)
            assert ws.url == f"ws+unix://{path}:/moved"
        assert [r.path for r in server.seen] == ["/", "/moved"]  # type: ignore[attr-defined]
