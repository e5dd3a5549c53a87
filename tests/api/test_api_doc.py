"""docs/API.md stays true: every ws 0.4 name has a row, every wscli name it gives exists,
and every event wscli emits is documented with its arguments."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from helpers import TIMEOUT

import wscli
from wscli.core.sync.listeners import ServerEvents, WebSocketEvents

DOC = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text()


def table_rows(doc: str) -> list[tuple[str, str]]:
    """The (first column, second column) of every two-column table row."""
    rows = []
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and not set(cells[0]) <= {"-", " "}:
            rows.append((cells[0], cells[1]))
    return rows


ROWS = table_rows(DOC)
WS_COLUMN = " ".join(left for left, _ in ROWS)
WSCLI_COLUMN = " ".join(right for _, right in ROWS)

# Every public name of ws 0.4: the module, Server and WebSocket options, methods,
# properties and events (doc/ws.md and index.js), and Node's EventEmitter methods.
WS_04_NAMES = [
    "require('ws')",
    ".Server",
    "createServer",
    "ws.connect",
    "createConnection",
    "Sender",
    "Receiver",
    # Server options and members
    "`host`",
    "`port`",
    "`server`",
    "verifyClient",
    "handleProtocols",
    "`path`",
    "noServer",
    "disableHixie",
    "clientTracking",
    "`callback`",
    "server.close",
    "server.handleUpgrade",
    "server.clients",
    "server.path",
    "event `headers`",
    "event `connection`",
    "event `listening`",
    # WebSocket options
    "`protocols`",
    "`protocol` option",
    "`agent`",
    "`headers`",
    "`protocolVersion`",
    "`origin`",
    "`pfx`",
    "`key`",
    "`passphrase`",
    "`cert`",
    "`ca`",
    "`ciphers`",
    "`rejectUnauthorized`",
    # WebSocket members
    "bytesReceived",
    "readyState",
    "WebSocket.CONNECTING",
    "websocket.protocolVersion",
    "websocket.url",
    "supports.binary",
    "websocket.protocol",
    "upgradeReq",
    "bufferedAmount",
    "_socket",
    "websocket.close",
    "pause()",
    "resume()",
    "websocket.ping",
    "dontFailWhenClosed",
    "websocket.pong",
    "websocket.send",
    "`mask`",
    "`binary`",
    "websocket.stream",
    "websocket.terminate",
    "onopen",
    "onerror",
    "onclose",
    "onmessage",
    "addEventListener",
    "event `error`",
    "event `close`",
    "event `message`",
    "event `ping`",
    "event `pong`",
    "event `open`",
    "unexpected-response",
    # EventEmitter
    "addListener",
    "once(",
    "removeListener",
    "removeAllListeners",
    "listeners(",
    "listenerCount",
    "emit(",
    "setMaxListeners",
]


@pytest.mark.parametrize("name", WS_04_NAMES)
def test_every_ws_name_has_a_row(name: str) -> None:
    assert name in WS_COLUMN


def _members(instance: object) -> set[str]:
    return {name for name in dir(instance) if not name.startswith("_")}


def test_every_wscli_name_given_exists() -> None:
    # Instances, so attributes set by the constructors count too: a real server on a
    # loopback port and a client connected to it, both closed before the checks.
    wss = wscli.Server(host="127.0.0.1", port=0)
    try:
        client = wscli.connect(f"ws://127.0.0.1:{wss.port}/", open_timeout=TIMEOUT)
        client.close()
        client.wait_closed(TIMEOUT)
    finally:
        wss.close(timeout=TIMEOUT)
    websocket = _members(client) | set(inspect.signature(wscli.WebSocket).parameters)
    server = _members(wss) | set(inspect.signature(wscli.Server).parameters)
    for name in re.findall(r"`ws\.([a-z_]+)", WSCLI_COLUMN):
        assert name in websocket, name
    for name in re.findall(r"`wss\.([a-z_]+)", WSCLI_COLUMN):
        assert name in server, name
    for name in re.findall(r"`wscli\.([A-Za-z_]+)", WSCLI_COLUMN):
        assert hasattr(wscli, name), name
    # The keyword options named in the wscli column, of the constructors and methods.
    options: set[str] = set()
    for function in (
        wscli.WebSocket,
        wscli.WebSocket.send,
        wscli.WebSocket.ping,
        wscli.WebSocket.pong,
        wscli.WebSocket.add_event_listener,
        wscli.Server,
        wscli.Server.handle_upgrade,
    ):
        options |= set(inspect.signature(function).parameters)
    for name in re.findall(r"`([a-z_]+)=", WSCLI_COLUMN):
        assert name in options, name


@pytest.mark.parametrize(
    ("cls", "heading"), [(WebSocketEvents, "### `WebSocket`"), (ServerEvents, "### `Server`")]
)
def test_every_event_is_documented_with_its_arguments(cls: type, heading: str) -> None:
    section = DOC.split(heading, 1)[1].split("###", 1)[0]
    documented = {left.strip("`"): right for left, right in table_rows(section)}
    assert set(documented) - {"event"} == set(cls.event_arguments)  # type: ignore[attr-defined]
    for event, count in cls.event_arguments.items():  # type: ignore[attr-defined]
        if count == 0:
            assert documented[event].startswith("none"), event
        else:
            assert not documented[event].startswith("none"), event
        # One example per event.
        assert f'.on("{event}"' in section, event
