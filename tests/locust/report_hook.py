"""A locustfile with no users: on the master, it records which workers reported what.

Loaded next to a real locustfile (``locust -f examples/locustfile.py,report_hook.py``).
Each worker's periodic report reaches the master's ``worker_report`` event with the
worker's id; when the master stops it writes ``{worker id: requests reported}`` to the
file named by ``WSCLI_LOCUST_REPORT``, so a test can check that every worker took part.
"""

import json
import os

from locust import events
from locust.runners import MasterRunner

requests_by_worker: dict[str, int] = {}


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict, **_kwargs: object) -> None:
    count = sum(entry["num_requests"] for entry in data.get("stats", []))
    requests_by_worker[client_id] = requests_by_worker.get(client_id, 0) + count


@events.quitting.add_listener
def on_quitting(environment: object, **_kwargs: object) -> None:
    path = os.environ.get("WSCLI_LOCUST_REPORT")
    if path and isinstance(getattr(environment, "runner", None), MasterRunner):
        with open(path, "w") as file:
            json.dump(requests_by_worker, file)
