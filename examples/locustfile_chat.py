"""Chat-style load on Locust: every user talks now and then and hears everyone else.

Each user is one connection to a server that relays every message to every other
client (here `wscli listen --broadcast`). It says a line (reported as "WSS say"), then
listens for a while, and every message it hears is reported as "WSR broadcast"; at
the end each Locust process prints how many lines its users said and heard. With U
users and nobody dropped, each line is heard U - 1 times.

    wscli listen --broadcast --port 8080 > /dev/null &
    locust -f examples/locustfile_chat.py --headless -u 20 -r 5 -t 30s \
        --host ws://127.0.0.1:8080/
"""

import itertools
import random

from locust import constant, events, task

from wscli.locust import WebSocketUser

totals = {"said": 0, "heard": 0}
names = itertools.count(1)


class ChatUser(WebSocketUser):
    """Say one line, then count the broadcasts heard for about a second."""

    wait_time = constant(0)

    def on_start(self):
        self.name = f"user{next(names)}"
        self.lines = 0

    @task
    def chat(self):
        self.lines += 1
        self.ws.send(f"{self.name}: line {self.lines}", name="say")
        self.ws.receive_for(random.uniform(0.5, 1.5), name="broadcast")


@events.request.add_listener
def count(request_type, name, exception, **_kwargs):
    # Counted as Locust records them, so a user stopped mid-listen loses no count.
    if exception is None and (request_type, name) == ("WSS", "say"):
        totals["said"] += 1
    elif exception is None and (request_type, name) == ("WSR", "broadcast"):
        totals["heard"] += 1


@events.test_stop.add_listener
def print_totals(environment, **_kwargs):
    if totals["said"]:
        print(f"chat: said {totals['said']} lines, heard {totals['heard']} broadcasts")
