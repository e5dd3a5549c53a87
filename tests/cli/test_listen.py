"""``wscli listen`` in process: clients connect from a helper thread, then Ctrl-C ends it.

The server runs in ``main()`` on the test's main thread, as a user would run it; a
helper thread plays the clients and finally delivers SIGINT to the main thread, which is
how a person stops ``listen`` (so every run here exits with 130 after closing with 1001).
"""

from __future__ import annotations

import base64
import io
import json
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import wscli

from .conftest import TIMEOUT, Run, announced_port, run_cli


def connect_when_ready(url: str, **options: Any) -> wscli.WebSocket:
    """Connect, retrying while the server is still starting."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return wscli.connect(url, open_timeout=TIMEOUT, **options)
        except wscli.ConnectFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def listen(
    scenario: Callable[[str], Any], *args: str, input: str = "", path: str = ""
) -> tuple[Run, Any]:
    """Run ``wscli listen --port 0 ARGS`` while ``scenario(url)`` plays the clients."""
    outcome: dict[str, Any] = {}
    finished = threading.Event()
    streams: queue.Queue[io.BytesIO] = queue.Queue()
    main_thread = threading.main_thread().ident
    assert main_thread is not None

    def drive() -> None:
        try:
            stderr = streams.get(timeout=TIMEOUT)
            port = announced_port(stderr, finished.is_set)
            outcome["value"] = scenario(f"ws://127.0.0.1:{port}{path}")
        except BaseException as exc:  # re-raised on the test thread
            outcome["error"] = exc
        finally:
            time.sleep(0.05)
            if not finished.is_set():
                signal.pthread_kill(main_thread, signal.SIGINT)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        run = run_cli("listen", "--port", "0", *args, input=input, started=streams.put)
    finally:
        finished.set()
    thread.join(TIMEOUT)
    if "error" in outcome:
        raise outcome["error"]
    return run, outcome.get("value")


def test_echo_announces_the_address_and_echoes() -> None:
    def scenario(url: str) -> Any:
        ws = connect_when_ready(url)
        ws.send("hello")
        reply = ws.recv(timeout=TIMEOUT)
        ws.close()
        ws.wait_closed(TIMEOUT)
        return reply

    run, reply = listen(scenario, "--echo")
    assert reply == "hello"
    assert run.status == 130
    assert "listening on ws://127.0.0.1:" in run.stderr
    assert "#1 connected from 127.0.0.1:" in run.stderr
    assert "#1 closed by the client: 1000 (normal closure)" in run.stderr
    assert run.stdout == "hello\n"  # in a pipe, only what clients sent


def test_ctrl_c_closes_clients_with_1001() -> None:
    def scenario(url: str) -> Any:
        ws = connect_when_ready(url)
        greeted = threading.Event()
        ws.on("message", lambda data, flags: greeted.set())
        assert greeted.wait(TIMEOUT)  # the greeting from stdin: we are registered
        return ws

    run, ws = listen(scenario, input="greeting\n")
    assert ws.wait_closed(TIMEOUT)
    assert ws.close_code == 1001
    assert run.status == 130


def test_stdin_lines_wait_for_the_first_client() -> None:
    def scenario(url: str) -> Any:
        time.sleep(0.2)  # stdin is read (and at EOF) long before anyone connects
        ws = connect_when_ready(url)
        got = [ws.recv(timeout=TIMEOUT), ws.recv(timeout=TIMEOUT)]
        ws.close()
        return got

    run, got = listen(scenario, input="one\ntwo\n")
    assert got == ["one", "two"]


def test_broadcast_relays_to_every_other_client() -> None:
    def scenario(url: str) -> Any:
        first = connect_when_ready(url)
        second = connect_when_ready(url)
        time.sleep(0.1)
        first.send("news")
        got = second.recv(timeout=TIMEOUT)
        with pytest.raises(TimeoutError):
            first.recv(timeout=0.2)
        first.close()
        second.close()
        return got

    run, got = listen(scenario, "--broadcast")
    assert got == "news"


def test_json_events_carry_the_client_id() -> None:
    def scenario(url: str) -> Any:
        ws = connect_when_ready(url)
        ws.send(b"\x01\x02")
        ws.send("text")
        time.sleep(0.1)
        ws.close(4000, "done")
        ws.wait_closed(TIMEOUT)

    run, _ = listen(scenario, "--json")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["type"] for r in records] == ["open", "binary", "text", "close"]
    assert all(r["client"] == 1 for r in records)
    assert base64.b64decode(records[1]["base64"]) == b"\x01\x02"
    assert records[0]["path"] == "/"
    assert records[-1] == {**records[-1], "code": 4000, "reason": "done", "by": "peer"}


def test_auth_refuses_without_credentials() -> None:
    def scenario(url: str) -> Any:
        connect_when_ready(url.replace("ws://", "ws://ann:right@")).close()
        with pytest.raises(wscli.InvalidStatus) as refused:
            connect_when_ready(url.replace("ws://", "ws://ann:wrong@"))
        return refused.value.response

    run, response = listen(scenario, "--auth", "ann:right")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="wscli"'


def test_subprotocol_origin_header_path_and_max_clients() -> None:
    def refused(url: str, **kwargs: Any) -> int:
        with pytest.raises(wscli.InvalidStatus) as refusal:
            connect_when_ready(url, **kwargs)
        return refusal.value.status_code

    def scenario(url: str) -> Any:
        results: dict[str, Any] = {"bad origin": refused(url, origin="https://evil.example")}
        ws = connect_when_ready(url, protocols=["b", "a"], origin="https://ok.example")
        results.update(subprotocol=ws.subprotocol, header=ws.response.headers["X-Test"])
        results["second client"] = refused(url, origin="https://ok.example")
        results["wrong path"] = refused(url.replace("/chat", "/other"))
        ws.close()
        return results

    run, results = listen(
        scenario,
        "-s", "a", "-s", "b", "--origin", "https://ok.example", "-H", "X-Test: yes",
        "--max-clients", "1", "--path", "/chat",
        path="/chat",
    )  # fmt: skip
    assert results == {
        "subprotocol": "a",
        "header": "yes",
        "bad origin": 403,
        "second client": 503,
        "wrong path": 400,
    }
    assert "listening on ws://127.0.0.1:" in run.stderr and "/chat" in run.stderr


def test_exec_runs_a_process_per_client() -> None:
    script = (
        "import os, sys; print('you are', os.environ['WSCLI_CLIENT_ID'], "
        "os.environ['WSCLI_PATH'], flush=True);"
        "[print(line.strip().upper(), flush=True) for line in sys.stdin]"
    )

    def scenario(url: str) -> Any:
        ws = connect_when_ready(url + "/room?x=1")
        got = [ws.recv(timeout=TIMEOUT)]
        ws.send("shout")
        got.append(ws.recv(timeout=TIMEOUT))
        ws.close()
        ws.wait_closed(TIMEOUT)
        return got

    run, got = listen(scenario, "--exec", f'{sys.executable} -c "{script}"')
    assert got == ["you are 1 /room?x=1", "SHOUT"]


def test_exec_process_exit_closes_the_connection() -> None:
    def scenario(url: str) -> Any:
        ws = connect_when_ready(url)
        assert ws.recv(timeout=TIMEOUT) == "bye"
        with pytest.raises(wscli.ConnectionClosedError):
            ws.recv(timeout=TIMEOUT)
        return ws.close_code, ws.close_reason

    run, (code, reason) = listen(scenario, "--shell", "--exec", "echo bye; exit 3")
    assert code == 1011
    assert reason == "process exited with status 3"


def test_address_in_use_exits_3() -> None:
    blocker = wscli.Server("127.0.0.1", 0)
    port = blocker.port
    try:
        run = run_cli("listen", "--port", str(port))
    finally:
        blocker.close()
    assert run.status == 3
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in run.stderr


def test_help_ends_with_examples() -> None:
    run = run_cli("listen", "--help")
    assert run.status == 0
    assert "Examples:" in run.stdout and "wscli listen --echo" in run.stdout


def test_cert_serves_wss(tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))

    def scenario(url: str) -> Any:
        ws = connect_when_ready(url.replace("ws://", "wss://"), ca=str(ca_file))
        ws.send("secret")
        reply = ws.recv(timeout=TIMEOUT)
        ws.close()
        return reply

    run, reply = listen(scenario, "--echo", "--cert", str(cert), "--key", str(key))
    assert reply == "secret"
    assert "listening on wss://127.0.0.1:" in run.stderr
