"""A client built only on ``wscli.connect``, driven by the Autobahn fuzzing server.

Run: ``python tests/conformance/client_driver.py ws://127.0.0.1:PORT [AGENT]``. It asks the
fuzzing server how many cases there are, runs each one as an echo client, then asks the
server to write its reports.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys

import wscli

MAX_PAYLOAD = 64 * 2**20
# Compress every message, small ones included. RFC 7692 lets an endpoint send a message
# uncompressed, and wscli does so below 1 KiB by default, but the runner's 12.x/13.x
# case code then hashes a str and fails with "Strings must be encoded before hashing"
# (a defect of the runner's shim, not of the peer): see docs/CONFORMANCE.md.
# The offer also carries client_no_context_takeover, as the suite's own reference client
# does: cases 13.2, 13.5 and 13.6 are only run against a client that offers it (the
# client then never reuses its compression context, whatever the server answers).
DEFLATE = {"threshold": 0, "client_no_context_takeover": True}


def echo_case(url: str) -> None:
    """Echo every message of one case until the server closes."""
    try:
        ws = wscli.connect(
            url,
            max_payload=MAX_PAYLOAD,
            max_queue=1024,
            open_timeout=30,
            per_message_deflate=DEFLATE,
        )
    except (OSError, wscli.WebSocketError):
        return
    try:
        for message in ws:
            ws.send(message)
    except wscli.ConnectionClosed:
        pass
    finally:
        ws.wait_closed(15)


def main() -> None:
    base = sys.argv[1].rstrip("/")
    agent = sys.argv[2] if len(sys.argv) > 2 else "wscli"
    with wscli.connect(f"{base}/getCaseCount") as ws:
        count = int(ws.recv(timeout=30))
    # Cases are independent connections; two at a time keep both cores busy.
    workers = int(os.environ.get("WSCLI_AUTOBAHN_WORKERS", "2"))
    urls = [f"{base}/runCase?case={case}&agent={agent}" for case in range(1, count + 1)]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(echo_case, urls))
    with wscli.connect(f"{base}/updateReports?agent={agent}", open_timeout=60) as ws:
        ws.wait_closed(60)
    print(f"ran {count} cases", flush=True)


if __name__ == "__main__":
    main()
