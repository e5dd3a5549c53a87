"""HTTP CONNECT and SOCKS5 proxies (with authentication), and the environment variables."""

from __future__ import annotations

import base64
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from tlshelpers import PKI, TIMEOUT, ThreadedTCPServer, make_pki, relay, running_server

from wscli.core.sync.net import ConnectFailed
from wscli.core.sync.proxy import ProxyError, ProxyURL, open_tunnel, parse_proxy, proxy_for
from wscli.core.sync.websocket import connect
from wscli.core.uri import parse_uri


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("peer closed")
        data += chunk
    return data


class ConnectProxy(ThreadedTCPServer):
    """A small HTTP CONNECT proxy (RFC 7231 §4.3.6) that only reaches 127.0.0.1.

    Whatever host is asked for, it connects to 127.0.0.1 on the asked port, so tests can
    use names that no resolver knows. It records the requests it got.
    """

    def __init__(self, credentials: tuple[str, str] | None = None, status: int = 200) -> None:
        self.credentials = credentials
        self.status = status
        self.requests: list[bytes] = []
        super().__init__(self.serve)

    def serve(self, sock: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                return
            head += chunk
        self.requests.append(head)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        if method != "CONNECT":
            sock.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if headers.get("Proxy-Authorization") != expected:
                sock.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                )
                return
        if self.status != 200:
            sock.sendall(f"HTTP/1.1 {self.status} Forbidden\r\nContent-Length: 0\r\n\r\n".encode())
            return
        port = int(target.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as upstream:
            sock.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            relay(sock, upstream)


class Socks5Proxy(ThreadedTCPServer):
    """A small SOCKS5 proxy (RFC 1928) with optional username/password (RFC 1929).

    Like :class:`ConnectProxy`, it always connects to 127.0.0.1; it records the address
    type and address each client asked for.
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.targets: list[tuple[int, str, int]] = []
        super().__init__(self.serve)

    def serve(self, sock: socket.socket) -> None:
        version, count = recv_exactly(sock, 2)
        assert version == 5
        methods = recv_exactly(sock, count)
        wanted = 0x02 if self.credentials is not None else 0x00
        if wanted not in methods:
            sock.sendall(b"\x05\xff")
            return
        sock.sendall(bytes([5, wanted]))
        if wanted == 0x02:
            assert recv_exactly(sock, 1) == b"\x01"
            user = recv_exactly(sock, recv_exactly(sock, 1)[0]).decode()
            password = recv_exactly(sock, recv_exactly(sock, 1)[0]).decode()
            if (user, password) != self.credentials:
                sock.sendall(b"\x01\x01")
                return
            sock.sendall(b"\x01\x00")
        version, command, _, address_type = recv_exactly(sock, 4)
        assert (version, command) == (5, 1)
        if address_type == 1:
            address = socket.inet_ntoa(recv_exactly(sock, 4))
        elif address_type == 4:
            address = socket.inet_ntop(socket.AF_INET6, recv_exactly(sock, 16))
        else:
            address = recv_exactly(sock, recv_exactly(sock, 1)[0]).decode()
        (port,) = struct.unpack(">H", recv_exactly(sock, 2))
        self.targets.append((address_type, address, port))
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        except OSError:
            sock.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        with upstream:
            sock.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack(">H", port))
            relay(sock, upstream)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    yield


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def roundtrip(url: str, **options: Any) -> None:
    with connect(url, open_timeout=TIMEOUT, **options) as ws:
        ws.send("through the proxy")
        assert ws.recv(timeout=TIMEOUT) == "through the proxy"


# -- HTTP CONNECT --------------------------------------------------------------------------


def test_ws_through_http_connect_proxy(clean_env: None) -> None:
    with running_server() as server, ConnectProxy() as proxy:
        port = server.port
        roundtrip(f"ws://127.0.0.1:{port}/", proxy=f"http://127.0.0.1:{proxy.port}")
    assert proxy.requests[0].startswith(
        f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    )
    assert not proxy.errors


def test_wss_through_http_connect_proxy_verifies_the_server(clean_env: None, pki: PKI) -> None:
    with running_server(ssl=pki.server_context()) as server, ConnectProxy() as proxy:
        port = server.port
        roundtrip(
            f"wss://localhost:{port}/", proxy=f"http://127.0.0.1:{proxy.port}", ca=pki.ca_file
        )
    assert proxy.requests[0].startswith(f"CONNECT localhost:{port} ".encode())


def test_proxy_credentials_are_sent_as_basic_auth(clean_env: None) -> None:
    with running_server() as server, ConnectProxy(("al ice", "p@ss:w")) as proxy:
        address = f"http://al%20ice:p%40ss%3Aw@127.0.0.1:{proxy.port}"
        roundtrip(f"ws://127.0.0.1:{server.port}/", proxy=address)
    assert b"Proxy-Authorization: Basic " in proxy.requests[0]


@pytest.mark.parametrize(
    ("userinfo", "hint"), [("", "credentials missing"), ("bob:wrong@", "credentials refused")]
)
def test_proxy_auth_failure_is_one_clear_line(clean_env: None, userinfo: str, hint: str) -> None:
    with running_server() as server, ConnectProxy(("bob", "right")) as proxy:
        port = server.port
        with pytest.raises(ConnectFailed) as info:
            connect(
                f"ws://127.0.0.1:{port}/",
                proxy=f"http://{userinfo}127.0.0.1:{proxy.port}",
                open_timeout=TIMEOUT,
            )
    assert str(info.value) == (
        f"proxy http://127.0.0.1:{proxy.port} refused CONNECT to 127.0.0.1:{port}: "
        f"HTTP 407 Proxy Authentication Required ({hint})"
    )
    assert isinstance(info.value, ProxyError)


def test_proxy_refusal_reports_status(clean_env: None) -> None:
    with ConnectProxy(status=403) as proxy:
        with pytest.raises(ProxyError, match="refused CONNECT to example.test:80: HTTP 403"):
            connect("ws://example.test/", proxy=f"127.0.0.1:{proxy.port}", open_timeout=TIMEOUT)


def test_unreachable_proxy(clean_env: None) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there now
    with pytest.raises(ProxyError, match=f"cannot connect to proxy http://127.0.0.1:{port}"):
        connect("ws://example.test/", proxy=f"http://127.0.0.1:{port}", open_timeout=TIMEOUT)


def test_silent_proxy_times_out(clean_env: None) -> None:
    def silent(sock: socket.socket) -> None:
        sock.recv(4096)
        sock.recv(4096)  # returns when the client gives up and closes

    with ThreadedTCPServer(silent) as proxy:
        with pytest.raises(ConnectFailed, match="timed out"):
            connect("ws://example.test/", proxy=f"http://127.0.0.1:{proxy.port}", open_timeout=0.5)


def test_connect_answer_is_read_without_eating_server_bytes() -> None:
    # A proxy that sends the tunnel's first bytes in the same segment as its answer.
    def eager(sock: socket.socket) -> None:
        sock.recv(4096)
        sock.sendall(b"HTTP/1.1 200 OK\r\nX-Long: " + b"x" * 20000 + b"\r\n\r\nSERVER-BYTES")
        sock.recv(1)

    with ThreadedTCPServer(eager) as proxy:
        tunnel = open_tunnel(
            ProxyURL("http", "127.0.0.1", proxy.port), "example.test", 80, timeout=TIMEOUT
        )
        with tunnel:
            assert recv_exactly(tunnel, 12) == b"SERVER-BYTES"


# -- SOCKS5 ----------------------------------------------------------------------------------


def test_ws_through_socks5_without_auth_resolves_locally(clean_env: None) -> None:
    with running_server() as server, Socks5Proxy() as proxy:
        port = server.port
        roundtrip(f"ws://localhost:{port}/", proxy=f"socks5://127.0.0.1:{proxy.port}")
    # socks5:// resolves the name here and sends an address (ATYP 1 or 4).
    assert proxy.targets[0][0] in (1, 4) and proxy.targets[0][2] == port


def test_socks5h_lets_the_proxy_resolve(clean_env: None) -> None:
    with running_server() as server, Socks5Proxy() as proxy:
        port = server.port
        roundtrip(f"ws://ws.internal.test:{port}/", proxy=f"socks5h://127.0.0.1:{proxy.port}")
    assert proxy.targets == [(3, "ws.internal.test", port)]


def test_socks5_with_username_and_password(clean_env: None, pki: PKI) -> None:
    with running_server(ssl=pki.server_context()) as server, Socks5Proxy(("u", "pw")) as proxy:
        port = server.port
        url = f"wss://localhost:{port}/"
        roundtrip(url, proxy=f"socks5h://u:pw@127.0.0.1:{proxy.port}", ca=pki.ca_file)
    assert proxy.targets == [(3, "localhost", port)]


def test_socks5_wrong_password(clean_env: None) -> None:
    with Socks5Proxy(("u", "pw")) as proxy:
        with pytest.raises(ProxyError, match="refused our credentials"):
            connect(
                "ws://a.test/",
                proxy=f"socks5h://u:bad@127.0.0.1:{proxy.port}",
                open_timeout=TIMEOUT,
            )


def test_socks5_without_credentials_when_required(clean_env: None) -> None:
    with Socks5Proxy(("u", "pw")) as proxy:
        with pytest.raises(ProxyError, match="accepts none of our authentication methods"):
            connect("ws://a.test/", proxy=f"socks5h://127.0.0.1:{proxy.port}", open_timeout=TIMEOUT)


def test_socks5_reports_refused_target(clean_env: None) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with Socks5Proxy() as proxy:
        with pytest.raises(ProxyError, match=f"cannot reach a.test:{port}: connection refused"):
            connect(
                f"ws://a.test:{port}/",
                proxy=f"socks5h://127.0.0.1:{proxy.port}",
                open_timeout=TIMEOUT,
            )


# -- choosing a proxy: options and environment ----------------------------------------------


def test_environment_proxy_is_used(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_server() as server, ConnectProxy() as proxy:
        port = server.port
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        # A name the proxy maps to 127.0.0.1; no resolver here knows it.
        roundtrip(f"ws://ws.internal.test:{port}/")
    assert proxy.requests[0].startswith(f"CONNECT ws.internal.test:{port} ".encode())


def test_proxy_false_ignores_environment(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    with running_server() as server:
        # "localhost" never goes through an environment proxy, and proxy=False none at all.
        roundtrip(f"ws://localhost:{server.port}/")
        roundtrip(f"ws://127.0.0.1:{server.port}/", proxy=False)


ENV = {
    "HTTPS_PROXY": "http://secure:1",
    "HTTP_PROXY": "http://plain:2",
    "ALL_PROXY": "socks5://all:3",
}


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        ("wss://example.com/", ENV, "http://secure:1"),
        ("ws://example.com/", ENV, "http://plain:2"),
        ("ws://example.com/", {"ALL_PROXY": "socks5h://all:3"}, "socks5h://all:3"),
        (
            "wss://example.com/",
            {"https_proxy": "http://low:4", "HTTPS_PROXY": "http://up:5"},
            "http://low:4",
        ),
        ("ws://example.com/", {}, None),
        ("ws://example.com/", {"HTTP_PROXY": "http://p:2", "REQUEST_METHOD": "GET"}, None),
        ("ws://127.0.0.1/", ENV, None),
        ("ws://[::1]:80/", ENV, None),
        ("ws://localhost/", ENV, None),
        ("ws://example.com/", {**ENV, "NO_PROXY": "*"}, None),
        ("ws://example.com/", {**ENV, "NO_PROXY": "other.org, example.com"}, None),
        ("ws://api.example.com/", {**ENV, "no_proxy": ".example.com"}, None),
        ("ws://api.example.com/", {**ENV, "no_proxy": "example.com"}, None),
        ("ws://notexample.com/", {**ENV, "no_proxy": "example.com"}, "http://plain:2"),
        ("ws://example.com:8080/", {**ENV, "no_proxy": "example.com:9090"}, "http://plain:2"),
        ("ws://example.com:8080/", {**ENV, "no_proxy": "example.com:8080"}, None),
        ("ws://10.1.2.3/", {**ENV, "no_proxy": "10.0.0.0/8"}, None),
        ("ws://192.168.1.1/", {**ENV, "no_proxy": "10.0.0.0/8"}, "http://plain:2"),
        ("ws+unix:///tmp/x.sock:/", ENV, None),
    ],
)
def test_proxy_for_environment(url: str, environ: dict[str, str], expected: str | None) -> None:
    chosen = proxy_for(parse_uri(url), None, environ)
    assert (str(chosen) if chosen else None) == expected


def test_explicit_proxy_applies_even_to_loopback() -> None:
    chosen = proxy_for(parse_uri("ws://127.0.0.1/"), "socks5://u:p@127.0.0.1:1080", {})
    assert chosen == ProxyURL("socks5", "127.0.0.1", 1080, "u", "p")
    assert proxy_for(parse_uri("ws://example.com/"), False, ENV) is None
    assert proxy_for(parse_uri("ws://example.com/"), "", ENV) is None


def test_parse_proxy_defaults_and_errors() -> None:
    assert parse_proxy("proxy.local") == ProxyURL("http", "proxy.local", 8080)
    assert parse_proxy("socks5h://[::1]") == ProxyURL("socks5h", "::1", 1080)
    with pytest.raises(ValueError, match="https proxies are not supported"):
        parse_proxy("https://proxy.local:443")
    with pytest.raises(ValueError, match="unsupported proxy scheme 'ftp'"):
        parse_proxy("ftp://proxy.local")
    with pytest.raises(ValueError, match="missing host"):
        parse_proxy("http://:8080")
