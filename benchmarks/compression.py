"""permessage-deflate throughput: wscli's server against websockets', side by side.

Each server echoes in a process of its own; one client (websockets' sync client, the same
for both) keeps ``--window`` messages in flight and checks every echo. For a compressible
payload (JSON-like text) and an incompressible one (random bytes), with compression on
and off, it prints messages per second and the ratio wscli / websockets, measured in the
same run (alternating, best of ``--rounds``), since these machines are noisy.

    python benchmarks/compression.py [--messages 3000] [--size 16384] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from websockets.sync.client import connect as ws_connect

_SERVERS = {
    "wscli": """
import sys, wscli
deflate = sys.argv[1] == "on"
server = wscli.Server("127.0.0.1", 0, per_message_deflate=deflate, max_payload=2**26)
server.on("connection", lambda ws, req: ws.on("message", lambda d, f: ws.send(d)))
print(server.port, flush=True)
sys.stdin.read()
""",
    "websockets": """
import sys, threading
from websockets.sync.server import serve
def echo(ws):
    try:
        for message in ws:
            ws.send(message)
    except Exception:
        pass
deflate = sys.argv[1] == "on"
with serve(echo, "127.0.0.1", 0, compression="deflate" if deflate else None,
           max_size=2**26) as server:
    print(server.socket.getsockname()[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
""",
}


def _payloads(size: int) -> dict[str, str | bytes]:
    record = {"id": 12345, "name": "sensor-7", "values": [1.5, 2.25, 3.125], "ok": True}
    text = ""
    while len(text) < size:
        text += json.dumps(record) + "\n"
    return {"compressible": text[:size], "incompressible": os.urandom(size)}


def _measure(port: int, payload: str | bytes, messages: int, window: int, deflate: bool) -> float:
    compression = "deflate" if deflate else None
    with ws_connect(f"ws://127.0.0.1:{port}", compression=compression, max_size=2**26) as ws:
        started = time.perf_counter()
        sent = received = 0
        while received < messages:
            while sent < messages and sent - received < window:
                ws.send(payload)
                sent += 1
            echo = ws.recv(30)
            if echo != payload:
                raise SystemExit("echo mismatch: the server corrupted a message")
            received += 1
        return messages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    payloads = _payloads(args.size)
    print(
        f"{args.messages} messages of {args.size} bytes, {args.window} in flight, "
        f"best of {args.rounds}; messages/s (ratio wscli/websockets)"
    )
    print(f"{'payload':<16}{'deflate':<9}{'wscli':>10}{'websockets':>12}{'ratio':>8}")
    for deflate in (True, False):
        servers = {}
        for name, code in _SERVERS.items():
            process = subprocess.Popen(
                [sys.executable, "-c", code, "on" if deflate else "off"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert process.stdout is not None
            servers[name] = (process, int(process.stdout.readline()))
        try:
            for kind, payload in payloads.items():
                best = {name: 0.0 for name in servers}
                for _ in range(args.rounds):
                    for name, (_, port) in servers.items():
                        rate = _measure(port, payload, args.messages, args.window, deflate)
                        best[name] = max(best[name], rate)
                ratio = best["wscli"] / best["websockets"]
                print(
                    f"{kind:<16}{'on' if deflate else 'off':<9}{best['wscli']:>10,.0f}"
                    f"{best['websockets']:>12,.0f}{ratio:>7.2f}x"
                )
        finally:
            for process, _ in servers.values():
                assert process.stdin is not None
                process.stdin.close()
                process.wait(10)


if __name__ == "__main__":
    main()
