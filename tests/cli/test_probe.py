"""``wscli probe``: all PASS against wscli's own server, and each fault of a broken server caught.

The broken servers are :class:`probe_peers.RawServer` with one fault each; the correct
one passes every check first, so each FAIL below is the fault's doing, not the probe's.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import TIMEOUT

import wscli

from .conftest import run_cli
from .probe_peers import raw_server

#: Small bounds keep each run short; the checks do not depend on them.
FAST = ["--idle", "0.2s", "--max-probe-size", "1MiB"]


def probe_json(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    run = run_cli("probe", url, "--json", *FAST, *args)
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, run.stdout + run.stderr
    report = json.loads(lines[0])
    assert report["type"] == "probe"
    return run.status, report


def grades(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["category"], r["check"]): r["grade"] for r in report["results"]}


def evidence(report: dict[str, Any], category: str, check: str) -> str:
    for result in report["results"]:
        if (result["category"], result["check"]) == (category, check):
            return str(result["evidence"])
    raise AssertionError(f"no {category}/{check} in the report")


@contextlib.contextmanager
def wscli_server(**options: Any) -> Iterator[wscli.Server]:
    server = wscli.Server("127.0.0.1", 0, **options)

    def echo(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: ws.send(data, binary=flags.binary))

    server.on("connection", echo)
    try:
        yield server
    finally:
        server.close(timeout=2)


def test_wscli_own_server_passes_every_check() -> None:
    with wscli_server(per_message_deflate=True, origins=[None], max_payload=256 * 1024) as server:
        status, report = probe_json(f"ws://127.0.0.1:{server.port}/")
    assert status == 0
    found = grades(report)
    assert {grade for grade in found.values()} <= {"PASS", "INFO"}, [
        r for r in report["results"] if r["grade"] not in ("PASS", "INFO")
    ]
    assert sum(grade == "PASS" for grade in found.values()) >= 45
    assert report["fail"] == report["warn"] == report["skip"] == 0
    assert report["connections"] <= 50
    assert "echoes" in evidence(report, "framing", "echo detection")
    assert "compressed message echoed intact" in evidence(
        report, "compression", "offer: plain + round trip"
    )
    assert "1009" in evidence(report, "limits", "largest message")
    assert "256.0 KiB" in evidence(report, "limits", "largest message")


def test_the_correct_raw_server_passes_everything_it_implements() -> None:
    with raw_server() as server:
        status, report = probe_json(server.url)
    assert status == 0
    bad = {key: grade for key, grade in grades(report).items() if grade not in ("PASS", "INFO")}
    # It does not speak permessage-deflate, and says so: the other offers are skipped.
    assert bad and all(category == "compression" for category, _ in bad)
    assert grades(report)[("compression", "offer: plain + round trip")] == "PASS"


@pytest.mark.parametrize(
    ("fault", "category", "check", "words"),
    [
        ("wrong_accept", "handshake", "upgrade", "Sec-WebSocket-Accept"),
        ("any_version", "handshake", "unsupported version", "accepted with 101"),
        ("no_key_check", "handshake", "missing key", "accepted with 101"),
        ("no_key_check", "handshake", "invalid key", "accepted with 101"),
        ("foreign_subprotocol", "handshake", "subprotocol", "nobody-offered-this"),
        ("foreign_extension", "handshake", "extensions", "x-nobody-offered-this"),
        ("bad_deflate_answer", "compression", "offer: plain + round trip", "window_bits"),
        ("corrupt_echo", "framing", "echo detection", "came back as"),
        ("corrupt_echo", "framing", "binary", "differs"),
        ("ignore_errors", "validation", "RSV1 without extension", "carried on"),
        ("ignore_errors", "validation", "invalid UTF-8 across fragments", "carried on"),
        ("silent_on_errors", "validation", "unmasked client frame", "no close within"),
        ("no_close_echo", "close", "1000 echoed", "no close frame"),
        ("wrong_pong", "ping", "ping answered", "differs"),
        ("no_pong", "ping", "empty ping", "no pong"),
        ("refuse_64_bit_lengths", "framing", "65536 bytes (64-bit length)", "refused: close 1009"),
        ("fake_deflate", "compression", "offer: plain + round trip", "close 1002"),
        ("flood", "framing", "echo detection", "flooded"),
        ("huge_frame", "framing", "echo detection", "announces 1099511627776 bytes"),
    ],
)
def test_each_fault_is_caught(fault: str, category: str, check: str, words: str) -> None:
    with raw_server(**{fault: True}) as server:
        status, report = probe_json(
            server.url, "--only", category, "--timeout", "0.6s", "--max-time", "4s"
        )
    assert status == 6
    assert grades(report)[(category, check)] == "FAIL"
    assert words in evidence(report, category, check)


def test_a_close_with_the_wrong_code_is_a_warning_not_a_failure() -> None:
    with raw_server(accept_bad_close_codes=True) as server:
        status, report = probe_json(server.url, "--only", "close")
    assert status == 0
    assert grades(report)[("close", "invalid code 1005")] == "WARN"
    assert "1002 expected" in evidence(report, "close", "invalid code 1005")


def test_a_server_that_never_reacts_is_bounded_by_max_time() -> None:
    with raw_server(silent_on_errors=True) as server:
        status, report = probe_json(
            server.url, "--only", "validation", "--timeout", "1s", "--max-time", "2s"
        )
    assert status == 6
    found = [r for r in report["results"] if r["category"] == "validation"]
    assert len(found) == 11
    assert any(r["grade"] == "SKIP" and "out of time" in r["evidence"] for r in found)


def test_the_connection_cap_skips_what_it_leaves_out() -> None:
    with raw_server() as server:
        status, report = probe_json(server.url, "--only", "close", "--max-connections", "3")
    assert status == 0
    assert report["connections"] == 3
    assert server.connections == 3
    assert grades(report)[("close", "invalid code 5000")] == "SKIP"


def test_cannot_connect_is_status_3_and_refusal_status_4() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = run_cli("probe", f"ws://127.0.0.1:{port}/")
    assert run.status == 3 and run.stdout == ""
    with raw_server(never_answer=True) as server:
        run = run_cli("probe", server.url, "--timeout", "0.5s")
    assert run.status == 3
    assert "no answer to the upgrade" in run.stderr
    with raw_server(refuse=True) as server:
        run = run_cli("probe", server.url)
    assert run.status == 4
    assert "403" in run.stderr
    with raw_server(garbage=True) as server:
        run = run_cli("probe", server.url)
    assert run.status == 4
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_peer_text_is_escaped_and_stays_on_its_line() -> None:
    with raw_server(evil_reason=True) as server:
        run = run_cli("probe", server.url, "--only", "validation", *FAST)
    assert run.status == 0
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout
    lines = run.stdout.splitlines()
    assert not any(line.startswith("PASS  fake") for line in lines)
    assert any("\\x1b]0;owned" in line and "\\n" in line for line in lines)
    assert lines[-1].startswith(server.url) and "11 PASS" in lines[-1]


def test_text_report_one_line_per_check_then_a_summary() -> None:
    with raw_server() as server:
        run = run_cli("probe", server.url, "--only", "ping,handshake", *FAST)
    assert run.status == 0
    lines = run.stdout.splitlines()
    assert len(lines) == 6 + 3 + 1
    assert lines[0].startswith("PASS  handshake    upgrade: 101")
    assert "9 PASS" in lines[-1]


@pytest.mark.parametrize("option", ["--only", "--skip"])
def test_an_unknown_category_is_a_usage_error(option: str) -> None:
    run = run_cli("probe", "ws://127.0.0.1:9/", option, "handshake,nonsense")
    assert run.status == 2
    assert "nonsense" in run.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [("--timeout", "0"), ("--max-time", "0"), ("--max-probe-size", "1KiB")],
)
def test_bounds_that_leave_no_room_are_usage_errors(option: str, value: str) -> None:
    run = run_cli("probe", "ws://127.0.0.1:9/", option, value)
    assert run.status == 2
    assert option in run.stderr


def test_wss_is_probed_through_tls_and_plain_ws_on_its_port_is_not_offered(tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    with wscli_server(ssl=context, origins=[None]) as server:
        port = server.port
        url = f"wss://127.0.0.1:{port}/"
        status, report = probe_json(url, "--only", "security,ping", "--ca", str(ca_file))
    assert status == 0
    assert grades(report)[("ping", "ping answered")] == "PASS"
    assert grades(report)[("security", "plain ws:// offered")] == "PASS"
    # The same port, spoken to without TLS, does not upgrade.
    assert evidence(report, "security", "plain ws:// offered").startswith(f"ws://127.0.0.1:{port}")


def test_a_server_that_goes_away_fails_one_check_and_skips_the_rest() -> None:
    """A server that stops accepting mid-run (it crashed) is one FAIL, not one per check."""
    server = wscli.Server("127.0.0.1", 0)
    opened = threading.Semaphore(0)

    def echo(ws: wscli.WebSocket, request: Any) -> None:
        ws.on("message", lambda data, flags: ws.send(data, binary=flags.binary))
        opened.release()

    server.on("connection", echo)

    def crash_after_four_clients() -> None:
        for _ in range(4):
            if not opened.acquire(timeout=TIMEOUT * 5):
                break
        server.close(timeout=2)

    stopper = threading.Thread(target=crash_after_four_clients)
    stopper.start()
    try:
        status, report = probe_json(f"ws://127.0.0.1:{server.port}/", "--timeout", "1s")
    finally:
        stopper.join(TIMEOUT * 5)
        server.close(timeout=2)
    assert status == 6
    results = report["results"]
    failed = [r for r in results if "cannot connect any more" in r["evidence"]]
    assert len(failed) == 1, [r["evidence"] for r in results if r["grade"] == "FAIL"]
    index = results.index(failed[0])
    assert f"(after the check {results[index - 1]['check']!r})" in failed[0]["evidence"]
    rest = results[index + 1 :]
    assert rest and all(r["grade"] == "SKIP" for r in rest)
    assert all(failed[0]["check"] in r["evidence"] for r in rest)
