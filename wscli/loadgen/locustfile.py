"""The locustfile that runs a ``wscli bench`` load on Locust: ``wscli bench --locustfile``.

One source for both: ``examples/locustfile.py`` is this template rendered with
``bench``'s defaults (a test keeps them equal), and ``bench --locustfile`` renders it
with the options given, so a test moves from one machine to many unchanged. Each Locust
user is one of bench's connections: the same numbered, seeded payloads
(:class:`~wscli.loadgen.payloads.Payloads`), the same window of messages in flight, the
same exact-echo check. This module imports nothing from Locust; the file it writes does.
"""

from __future__ import annotations

import json
import shlex

from .config import LoadConfig

__all__ = ["render_locustfile"]

_TEMPLATE = '''\
"""Closed-loop echo load on Locust: what `wscli bench` runs on one machine, on many.
{command}
Each Locust user is one connection. It keeps PIPELINE messages in flight, checks that
each echo is exactly the payload sent (numbered, seeded payloads, as `wscli bench`
makes them) and reports each round trip to Locust as "WS echo"; the handshake is
"WS connect". A wrong echo, a close or a timeout is a failure with its reason.

    locust -f {filename} --headless {locust_args} --csv results --json-file results
    # On many machines: one master (it writes the --csv/--json-file results)...
    locust -f {filename} --master --expect-workers 4 --headless {locust_args}
    # ...then one worker per core on each load machine.
    locust -f {filename} --worker --master-host MASTER_ADDRESS
"""

from collections import deque

from locust import {wait_import}, task
from locust.exception import StopUser

from wscli.loadgen.config import LoadConfig
from wscli.loadgen.payloads import Payloads
from wscli.locust import WebSocketUser

URL = {url}
SIZE_MIN, SIZE_MAX = {size_min}, {size_max}  # bytes, drawn per message from the range
PIPELINE = {pipeline}  # messages in flight per connection
MESSAGES = {messages}  # per connection; None: until Locust stops (-t)
BINARY = {binary}
COMPRESSION = {compression}
TIMEOUT = {timeout}  # seconds for the handshake and for each echo
HEADERS = {headers}
SEED = {seed}


class EchoUser(WebSocketUser):
    """One connection sending numbered payloads and checking every echo."""

    host = URL
    wait_time = {wait_time}
    open_timeout = TIMEOUT
    headers = HEADERS
    compression = COMPRESSION
    started = 0

    def on_start(self):
        # Each user gets its own seed, as each of bench's workers does.
        EchoUser.started += 1
        config = LoadConfig(
            url=URL,
            size_min=SIZE_MIN,
            size_max=SIZE_MAX,
            binary=BINARY,
            seed=SEED + EchoUser.started,
        )
        self.payloads = Payloads(config)
        self.sent = 0
        self.in_flight = deque()

    @task
    def echo(self):
        ws = self.ws
        if not ws.connected:
            self.in_flight.clear()  # a failure dropped the connection and its window
        while len(self.in_flight) < PIPELINE and (MESSAGES is None or self.sent < MESSAGES):
            payload = self.payloads.make(self.sent)
            message = payload if BINARY else payload.decode()
            self.sent += 1
            self.in_flight.append((message, ws.send(message)))
        if not self.in_flight:
            raise StopUser()
        message, sent_at = self.in_flight.popleft()
        ws.expect(sent_at=sent_at, expected=message, timeout=TIMEOUT, name="echo")
'''


def render_locustfile(
    config: LoadConfig, *, command: str = "", filename: str = "locustfile.py"
) -> str:
    """Return a locustfile that runs ``config``'s load as Locust users.

    Args:
        config: bench's options; ``url`` may be empty (then Locust's ``--host``).
        command: the bench command line it stands for, quoted in the docstring.
        filename: the name the usage lines give the file.
    """
    locust_args = [f"-u {config.connections}"]
    ramp = config.ramp if config.ramp is not None else config.connections
    locust_args.append(f"-r {ramp:g}")
    if config.duration is not None:
        locust_args.append(f"-t {config.duration:g}s")
    if not config.url:
        locust_args.append("--host ws://HOST:PORT/")
    if config.rate is not None:
        # Locust paces each user (a closed loop): a late echo delays the next send.
        wait_time = f"constant_throughput({config.rate / config.connections!r})"
        wait_import = "constant_throughput"
        note = (
            "Paced at --rate over all users; unlike bench's open loop, a late echo\n"
            "delays the next send (Locust cannot avoid coordinated omission).\n"
        )
    else:
        wait_time, wait_import, note = "constant(0)", "constant", ""
    pipeline = 1 if config.rate is not None else config.pipeline
    # The command line is the user's own, but it must not end the docstring.
    command = command.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    header = f"Made by: {command}\n" if command else ""
    return _TEMPLATE.format(
        command="\n" + header + note if header or note else "",
        filename=shlex.quote(filename),
        locust_args=" ".join(locust_args),
        wait_import=wait_import,
        wait_time=wait_time,
        url=_literal(config.url or None),
        size_min=config.size_min,
        size_max=config.size_max,
        pipeline=pipeline,
        messages=config.messages if config.duration is None else None,
        binary=config.binary,
        compression=config.compression,
        timeout=float(config.timeout),
        headers=_headers_literal(config.headers),
        seed=config.seed,
    )


def _literal(value: str | None) -> str:
    """A Python literal for ``value`` in the double quotes ruff's format writes.

    JSON's string syntax is valid Python, and escapes every control character, so
    nothing a header or URL holds can end the string or the line early.
    """
    return "None" if value is None else json.dumps(value)


def _headers_literal(headers: list[tuple[str, str]]) -> str:
    pairs = ", ".join(f"({_literal(name)}, {_literal(value)})" for name, value in headers)
    return f"[{pairs}]"
