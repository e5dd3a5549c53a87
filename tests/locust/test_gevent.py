"""Under gevent's patching (as Locust runs users), a waiting client never blocks the hub.

Runs in a subprocess, since patching is process-wide: one greenlet waits in ``recv()``
on a server that stays silent, or in the handshake of one that never answers, while
another greenlet ticks; the ticks prove the wait yielded to gevent's hub. The address
is a host name, so resolution (a thread of its own without gevent) is exercised too.
"""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import TIMEOUT

from .test_distributed import _env, needs_locust

SCRIPT = r"""
from gevent import monkey
monkey.patch_all()
import json, socket, time
import gevent
import wscli
from wscli.locust.client import WebSocketClient

wss = wscli.Server("127.0.0.1", port=0)  # accepts, never sends a message
silent = socket.create_server(("127.0.0.1", 0))  # accepts TCP, never answers the upgrade
ticks = []
outcome = {}

def ticker():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)

def waiter():
    client = WebSocketClient(f"ws://localhost:{wss.port}/", open_timeout=10)
    client.connect()
    started = len(ticks)
    try:
        client.recv(0.5)
    except TimeoutError:
        outcome["recv"] = len(ticks) - started
    client.close()
    client = WebSocketClient(f"ws://localhost:{silent.getsockname()[1]}/", open_timeout=0.5)
    started = len(ticks)
    try:
        client.connect()
    except TimeoutError:
        outcome["handshake"] = len(ticks) - started

tick = gevent.spawn(ticker)
gevent.spawn(waiter).join(timeout=20)
tick.kill()
wss.close()
print(json.dumps(outcome))
"""


@needs_locust  # gevent comes with Locust
def test_waits_yield_to_the_gevent_hub() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=3 * TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    # Half a second of waiting each; a blocked hub would allow no tick at all.
    assert outcome["recv"] >= 5, outcome
    assert outcome["handshake"] >= 5, outcome
