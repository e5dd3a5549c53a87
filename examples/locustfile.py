"""Closed-loop echo load on Locust: what `wscli bench` runs on one machine, on many.

Each Locust user is one connection. It keeps PIPELINE messages in flight, checks that
each echo is exactly the payload sent (numbered, seeded payloads, as `wscli bench`
makes them) and reports each round trip to Locust as "WS echo"; the handshake is
"WS connect". A wrong echo, a close or a timeout is a failure with its reason.

    locust -f locustfile.py --headless -u 50 -r 50 -t 30s --csv results --json-file results
    # On many machines: one master (it writes the --csv/--json-file results)...
    locust -f locustfile.py --master --expect-workers 4 --headless -u 50 -r 50 -t 30s
    # ...then one worker per core on each load machine.
    locust -f locustfile.py --worker --master-host MASTER_ADDRESS
"""

from collections import deque

from locust import constant, task
from locust.exception import StopUser

from wscli.loadgen.config import LoadConfig
from wscli.loadgen.payloads import Payloads
from wscli.locust import WebSocketUser

URL = "ws://127.0.0.1:8080/"
SIZE_MIN, SIZE_MAX = 32, 32  # bytes, drawn per message from the range
PIPELINE = 1  # messages in flight per connection
MESSAGES = None  # per connection; None: until Locust stops (-t)
BINARY = False
COMPRESSION = False
TIMEOUT = 10.0  # seconds for the handshake and for each echo
HEADERS = []
SEED = 0


class EchoUser(WebSocketUser):
    """One connection sending numbered payloads and checking every echo."""

    host = URL
    wait_time = constant(0)
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
