"""The probe's reading side against a server that floods it with small frames.

A probe connection reads at most a bounded number of bytes, but what it keeps per
frame must be bounded too: tiny frames (2 bytes each on the wire) must not each leave
a Python object behind, and a flood of server pings must not stop the probe answering
them or make it mistake them for something else. A socket pair plays the server, so
every byte it sends is known.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Iterator

import pytest
from helpers import build_frame

import wscli
from wscli.core.frames import Opcode
from wscli.core.uri import parse_uri
from wscli.params import format_size
from wscli.probe import more_checks
from wscli.probe.report import Report
from wscli.probe.runner import Probe, Settings
from wscli.probe.wire import Budget, Handshake, Link, Target, handshake

from .conftest import run_cli

FLOOD = 5000


@contextlib.contextmanager
def probe_link() -> Iterator[tuple[Probe, Link, socket.socket]]:
    ours, theirs = socket.socketpair()
    target = Target(parse_uri("ws://127.0.0.1:9/"), max_payload=2**20)
    settings = Settings(timeout=5.0, max_time=20.0)
    probe = Probe(target, settings, Report(str(target.uri)))
    link = Link(ours, target, Budget.start(5.0, 20.0, 5), b"")
    try:
        yield probe, link, theirs
    finally:
        link.close()
        theirs.close()


def drain(sock: socket.socket, into: bytearray, stop: threading.Event) -> None:
    """Read what the probe writes until told to stop (so its writes never block)."""
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return
        if not data:
            return
        into += data


def test_every_server_ping_is_answered_and_none_is_taken_for_a_data_frame() -> None:
    with probe_link() as (probe, link, server):
        received = bytearray()
        stop = threading.Event()
        reader = threading.Thread(target=drain, args=(server, received, stop))
        reader.start()
        try:
            pings = b"".join(build_frame(Opcode.PING, b"%d" % i) for i in range(150))
            server.sendall(pings + build_frame(Opcode.TEXT, b"after the pings"))
            reply = probe.collect(link, lambda r: bool(r.messages))
        finally:
            # The probe's end is closed, so the reader reads every pong up to EOF; the
            # stop flag is only a fallback should that EOF never come.
            link.close()
            reader.join(5)
            stop.set()
            reader.join(5)
        assert reply.messages == [(Opcode.TEXT, b"after the pings")]
        assert reply.odd == []
        # 150 pongs went back: each is a masked frame of 2 + 4 + len(payload) bytes.
        expected = sum(6 + len(b"%d" % i) for i in range(150))
        assert len(received) >= expected


def test_a_flood_of_pongs_and_reserved_frames_is_not_kept_frame_by_frame() -> None:
    with probe_link() as (probe, link, server):
        token = probe.token()
        flood = build_frame(Opcode.PONG, b"x") * FLOOD + build_frame(0x3, b"") * FLOOD
        # The flood is written from another thread: it is more than a socket buffer.
        writer = threading.Thread(
            target=server.sendall, args=(flood + build_frame(Opcode.PONG, token),)
        )
        writer.start()
        try:
            reply = probe.collect(link, lambda r: token in r.pongs)
        finally:
            writer.join(5)
        assert token in reply.pongs
        assert len(reply.pongs) < 100
        assert len(reply.odd) < 100


def test_largest_message_evidence_names_the_refusal_of_the_size_it_quotes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bisection refines the smallest refused size; the refusal quoted must be that one's."""
    limit = 1536 * 1024

    def accepts(probe: Probe, size: int, box: list[Link]) -> tuple[bool, str]:
        return (True, "") if size <= limit else (False, f"refusal of {size} bytes")

    monkeypatch.setattr(more_checks, "_accepts", accepts)
    target = Target(parse_uri("ws://127.0.0.1:9/"), max_payload=4 * 2**20)
    report = Report(str(target.uri))
    probe = Probe(target, Settings(max_probe_size=4 * 2**20, only=frozenset({"limits"})), report)
    more_checks.limits(probe)
    [largest] = [r for r in report if r.name == "largest message"]
    quoted = re.search(r"; ([\d.]+ \w+) got refusal of (\d+) bytes", largest.evidence)
    assert quoted is not None, largest.evidence
    assert quoted.group(1) == format_size(int(quoted.group(2)))
    assert int(quoted.group(2)) < 2 * 2**20  # bisection did refine it


def test_a_foreign_origin_warning_carries_the_whole_docs_link() -> None:
    server = wscli.Server("127.0.0.1", 0)  # accepts every Origin
    try:
        run = run_cli("probe", f"ws://127.0.0.1:{server.port}/", "--only", "security", "--json")
    finally:
        server.close(timeout=2)
    report = json.loads(run.stdout)
    [result] = [r for r in report["results"] if r["check"] == "foreign Origin"]
    assert result["grade"] == "WARN"
    assert more_checks.CSWSH_LINK in result["evidence"]


def test_a_server_dripping_its_answer_cannot_hold_a_handshake_past_its_time() -> None:
    """Bytes arriving up to the deadline must not keep the handshake loop going after it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(1)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nX-Drip: ")
            while not stop.is_set():
                try:
                    conn.sendall(b"a")
                except OSError:
                    return
                stop.wait(0.001)

    server = threading.Thread(target=drip, daemon=True)
    server.start()
    target = Target(parse_uri(f"ws://127.0.0.1:{listener.getsockname()[1]}/"))
    outcome: list[Handshake] = []
    runner = threading.Thread(
        target=lambda: outcome.append(handshake(target, Budget.start(0.2, 60.0, 5))),
        daemon=True,
    )
    runner.start()
    runner.join(10)
    stop.set()
    server.join(5)
    listener.close()
    assert not runner.is_alive(), "the handshake kept reading past its deadline"
    assert outcome[0].timed_out and outcome[0].link is None


def test_a_limit_below_what_bisection_reaches_is_not_called_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def accepts(probe: Probe, size: int, box: list[Link]) -> tuple[bool, str]:
        return (True, "") if size <= 100 else (False, "close 1009 (message too big)")

    monkeypatch.setattr(more_checks, "_accepts", accepts)
    target = Target(parse_uri("ws://127.0.0.1:9/"), max_payload=2**20)
    report = Report(str(target.uri))
    probe = Probe(target, Settings(max_probe_size=2**20, only=frozenset({"limits"})), report)
    more_checks.limits(probe)
    [largest] = [r for r in report if r.name == "largest message"]
    assert "about 0 B" not in largest.evidence
    assert "less than 4.0 KiB" in largest.evidence, largest.evidence
