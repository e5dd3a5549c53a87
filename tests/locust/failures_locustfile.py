"""Users that meet each failure once per task: a reply that never comes, close codes."""

from locust import constant, task
from wscli.locust import WebSocketUser


class Failing(WebSocketUser):
    wait_time = constant(0.1)

    @task
    def silent(self):
        self.ws.request("ok", expected="ok", timeout=5, name="fine")
        self.ws.request("silence", timeout=0.3, name="silent")

    @task
    def closing(self):
        self.ws.request("close:1011", timeout=5, name="closing")

    @task
    def last(self):
        # The reply comes before the close, so it counts; the next request meets the close.
        self.ws.request("last", expected="last", timeout=5, name="last-reply")
        self.ws.request("more", timeout=5, name="after-close")
