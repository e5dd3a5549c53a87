"""The public API: what ``wscli`` exports, and that the library pays for no CLI dependency."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import types

import pytest

import wscli
import wscli.core
from wscli.core import exceptions

CLI_PACKAGES = ("click", "rich", "prompt_toolkit")

LIBRARY_API = [
    # I/O layer
    "connect",
    "serve",
    "Server",
    "WebSocket",
    "Connection",
    "Reactor",
    # sans-I/O core
    "Protocol",
    "ClientProtocol",
    "ServerProtocol",
    "Side",
    "State",
    "Request",
    "Response",
    "Headers",
    "Frame",
    "Opcode",
    "Close",
    "CloseCode",
    "close_code_name",
    "WebSocketURI",
    "parse_uri",
    # errors (the tree drawn in wscli/core/exceptions.py)
    "WebSocketError",
    "InvalidURI",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "HandshakeError",
    "InvalidStatus",
    "InvalidHeader",
    "UnsupportedVersion",
    "NegotiationError",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidState",
    "ConcurrencyError",
]


def core_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(wscli.core.__path__, "wscli.core.")
        if not info.name.rsplit(".", 1)[-1].startswith("_")
    )


def modules_loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the top-level modules it loaded."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_version() -> None:
    assert isinstance(wscli.__version__, str)
    assert wscli.__version__.count(".") >= 2


@pytest.mark.parametrize("name", LIBRARY_API)
def test_library_api_is_exported(name: str) -> None:
    assert name in wscli.__all__
    assert name in wscli.core.__all__
    assert getattr(wscli, name) is getattr(wscli.core, name)


def test_all_lists_only_existing_names_without_repeats() -> None:
    assert wscli.__all__ == ["__version__", *wscli.core.__all__]
    assert len(set(wscli.__all__)) == len(wscli.__all__)
    for name in wscli.__all__:
        assert hasattr(wscli, name), name


@pytest.mark.parametrize("module_name", core_modules())
def test_every_core_module_declares_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        # Allowed only for an empty package whose attributes are its submodules.
        public = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        ]
        assert not public, f"{module_name} has no __all__ but defines {public}"
        return
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ names missing objects: {missing}"


def test_error_tree() -> None:
    expected = {
        "InvalidURI": "WebSocketError",
        "ConnectionClosed": "WebSocketError",
        "ConnectionClosedOK": "ConnectionClosed",
        "ConnectionClosedError": "ConnectionClosed",
        "HandshakeError": "WebSocketError",
        "InvalidStatus": "HandshakeError",
        "InvalidHeader": "HandshakeError",
        "UnsupportedVersion": "HandshakeError",
        "NegotiationError": "HandshakeError",
        "ProtocolError": "WebSocketError",
        "PayloadTooBig": "ProtocolError",
        "InvalidState": "WebSocketError",
        "ConcurrencyError": "WebSocketError",
    }
    for name, parent in expected.items():
        assert issubclass(getattr(exceptions, name), getattr(exceptions, parent)), name
    assert exceptions.InvalidHandshake is exceptions.HandshakeError
    assert exceptions.ProtocolError("x").code == 1002
    assert exceptions.PayloadTooBig("x").code == 1009


def test_import_wscli_loads_no_cli_package() -> None:
    loaded = modules_loaded_after("import wscli")
    assert "wscli.core" in loaded
    for package in CLI_PACKAGES:
        assert not [name for name in loaded if name.split(".")[0] == package], package


def test_import_every_core_module_loads_no_cli_package() -> None:
    imports = "\n".join(f"import {name}" for name in core_modules())
    loaded = modules_loaded_after(imports)
    for package in CLI_PACKAGES:
        assert not [name for name in loaded if name.split(".")[0] == package], package


#: What a sans-I/O module must not pull in: sockets, threads or the threaded layer.
IO_MODULES = ("socket", "threading", "selectors", "ssl", "wscli.core.sync")

SANS_IO_MODULES = [
    "wscli.core.protocol",
    "wscli.core.reader",
    "wscli.core.client",
    "wscli.core.server",
    "wscli.core.frames",
    "wscli.core.legacy.hixie76",
    "wscli.core.extensions.permessage_deflate",
]


@pytest.mark.parametrize("module_name", SANS_IO_MODULES)
def test_sans_io_core_imports_without_sockets_threads_or_sync(module_name: str) -> None:
    loaded = modules_loaded_after(f"import {module_name}")
    assert module_name in loaded
    for name in IO_MODULES:
        assert not [m for m in loaded if m == name or m.startswith(name + ".")], name


def test_the_threaded_layer_still_loads_on_first_use() -> None:
    loaded = modules_loaded_after(
        "import wscli.core\n"
        "assert 'wscli.core.sync' not in __import__('sys').modules\n"
        "from wscli.core import connect\n"
        "from wscli import Server\n"
        "assert connect.__module__ == 'wscli.core.sync.websocket'\n"
        "assert Server.__module__ == 'wscli.core.sync.server'"
    )
    assert "wscli.core.sync.websocket" in loaded
    assert "socket" in loaded


def test_a_protocol_logs_to_wscli_core_by_default() -> None:
    import logging

    from wscli.core.protocol import LOGGER_NAME, Protocol, Side

    assert Protocol(Side.SERVER).logger is logging.getLogger(LOGGER_NAME)
