"""``wscli bench --locustfile`` and the template it shares with ``examples/locustfile.py``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TIMEOUT

from wscli.loadgen.config import LoadConfig
from wscli.loadgen.locustfile import render_locustfile

from .test_distributed import Server, _env, needs_locust

ROOT = Path(__file__).resolve().parents[2]


def _bench_locustfile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wscli", "bench", "--locustfile", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=TIMEOUT,
    )


def test_example_locustfile_is_the_template_with_bench_defaults() -> None:
    config = LoadConfig(url="ws://127.0.0.1:8080/", connections=50, messages=None, duration=30.0)
    assert (ROOT / "examples" / "locustfile.py").read_text() == render_locustfile(config)


def test_rendered_locustfile_compiles_and_quotes_what_the_user_gave() -> None:
    config = LoadConfig(
        url='ws://h:1/"x\n',
        size_min=10,
        size_max=20,
        pipeline=8,
        binary=True,
        headers=[("X-A", 'a"""b\\')],
    )
    text = render_locustfile(config, command='wscli bench """ \\ end')
    namespace: dict[str, object] = {}
    code = compile(text, "locustfile.py", "exec")
    # Only the constants: executing the imports would import Locust here.
    exec(compile(text.split("from collections import deque")[0], "doc", "exec"), namespace)
    assert 'wscli bench """ \\ end' in str(namespace["__doc__"])
    assert code is not None
    for line in text.splitlines():
        if line.startswith(("URL =", "HEADERS =", "PIPELINE =", "BINARY =")):
            exec(line, namespace)
    assert namespace["URL"] == 'ws://h:1/"x\n'
    assert namespace["HEADERS"] == [("X-A", 'a"""b\\')]
    assert namespace["PIPELINE"] == 8 and namespace["BINARY"] is True


def test_bench_locustfile_carries_the_options() -> None:
    result = _bench_locustfile(
        "-c", "3", "--pipeline", "4", "-s", "16-300", "--binary", "-n", "50",
        "-H", "X-Test: yes", "--seed", "9", "ws://127.0.0.1:9/x",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = LoadConfig(
        url="ws://127.0.0.1:9/x", connections=3, messages=50, size_min=16, size_max=300,
        pipeline=4, binary=True, headers=[("X-Test", "yes")], seed=9,
    )  # fmt: skip
    expected = render_locustfile(config, command="")
    # Everything but the docstring's "Made by" line is the template with these options.
    made_by = [line for line in result.stdout.splitlines() if line.startswith("Made by:")]
    assert made_by == ["Made by: wscli bench (3 connections × 50 messages, 16 B–300 B binary, "
                       "pipeline 4)"]  # fmt: skip
    assert result.stdout.replace(made_by[0] + "\n\n", "", 1) == expected


def test_bench_locustfile_refuses_raw() -> None:
    result = _bench_locustfile("--raw", "ws://127.0.0.1:9/")
    assert result.returncode == 2
    assert "--raw has no Locust equivalent" in result.stderr


@pytest.mark.slow
@needs_locust
def test_generated_locustfile_runs_a_pipelined_binary_echo_load(tmp_path: Path) -> None:
    server = Server(tmp_path, "--echo", "--binary", "hex")
    try:
        result = _bench_locustfile(
            "-c", "2", "--pipeline", "4", "-s", "16-300", "--binary", "-d", "2s", server.url
        )
        assert result.returncode == 0, result.stderr
        (tmp_path / "generated.py").write_text(result.stdout)
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", "generated.py", "--headless", "-u", "2"]
            + ["-r", "2", "-t", "2s", "--json-file", "result", "--only-summary"],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=tmp_path,
            timeout=6 * TIMEOUT,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        entries = {e["name"]: e for e in json.loads((tmp_path / "result.json").read_text())}
        assert entries["echo"]["num_failures"] == 0
        assert entries["connect"]["num_requests"] == 2
        echoes = entries["echo"]["num_requests"]
        seen = server.messages_seen()
        # Up to 4 messages per user in flight (sent, echoed, not yet counted) at the end.
        assert 0 < echoes <= seen <= echoes + 2 * 4
    finally:
        server.messages_seen()


@pytest.mark.slow
@needs_locust
def test_chat_example_counts_the_broadcasts_it_hears(tmp_path: Path) -> None:
    users = 3
    server = Server(tmp_path, "--broadcast")
    try:
        run = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "examples" / "locustfile_chat.py")]
            + ["--headless", "-u", str(users), "-r", str(users), "-t", "3s", "--host", server.url]
            + ["--json-file", "result", "--only-summary"],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=tmp_path,
            timeout=6 * TIMEOUT,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        said_heard = re.search(r"chat: said (\d+) lines, heard (\d+) broadcasts", run.stdout)
        assert said_heard, run.stdout[-2000:]
        said, heard = int(said_heard.group(1)), int(said_heard.group(2))
        entries = {e["name"]: e for e in json.loads((tmp_path / "result.json").read_text())}
        assert sum(e["num_failures"] for e in entries.values()) == 0
        assert entries["say"]["num_requests"] == said
        assert entries["broadcast"]["num_requests"] == heard
        # Each line reaches the other users at most once (fewer if one was not yet there).
        assert 0 < heard <= said * (users - 1)
        assert server.messages_seen() == said
    finally:
        server.messages_seen()


def test_bench_locustfile_says_which_options_it_leaves_out() -> None:
    result = _bench_locustfile("--workers", "2", "--hold", "1s", "--no-check", "wss://h/")
    assert result.returncode == 0
    assert result.stderr.splitlines()[-1] == (
        "wscli: not carried into the locustfile: --no-check, --hold, "
        "--workers (run Locust workers instead)"
    )
    assert 'URL = "wss://h/"' in result.stdout
