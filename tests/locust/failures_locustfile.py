"""Users that meet each failure once per task: a reply that never comes, a close code."""

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
