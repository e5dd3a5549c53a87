"""The interactive prompt of ``connect`` and ``listen``: line editing, history, slash commands.

The prompt runs on the main thread inside prompt-toolkit's ``patch_stdout``, so what the
reactor thread prints (incoming messages, closes) appears above the line being typed
instead of tearing it. A line is sent as a text message (or decoded with ``--binary``);
a line starting with ``/`` is a command, and ``//`` sends a literal leading slash.

:meth:`Repl.dispatch` does all the work of one line and needs no terminal, so tests drive
it directly; :meth:`Repl.run` only adds the prompt around it.

History persists in the user's state directory (``$XDG_STATE_HOME/wscli/history``,
``~/.local/state/wscli/history`` by default), shared by ``connect`` and ``listen``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.patch_stdout import patch_stdout

from .core import ConnectionClosed
from .core.craft import FRAME_SPEC_HELP, parse_frame_spec
from .core.frames import MAX_CONTROL_PAYLOAD
from .exitcodes import reason_of
from .params import decode_binary, format_size

if TYPE_CHECKING:
    from .commands import Peer
    from .output import Printer

__all__ = ["Repl", "SlashCommand", "standard_commands", "history_path", "parse_close_args"]


def history_path() -> Path:
    """Where the prompt history lives: the XDG state directory (``WSCLI_HISTORY`` overrides)."""
    override = os.environ.get("WSCLI_HISTORY")
    if override:
        return Path(override).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "wscli" / "history"


@dataclass
class SlashCommand:
    """One ``/name`` command of the prompt.

    Attributes:
        name: with its slash, e.g. ``/close``.
        run: called with the text after the name (stripped); returns ``False`` to end
            the prompt (``/quit``), anything else to carry on.
        usage: how to call it, e.g. ``/close [code [reason]]``.
        help: one line for ``/help`` and the completion menu.
        complete: offers completions for the argument text, if any.
    """

    name: str
    run: Callable[[str], Any]
    usage: str
    help: str
    complete: Callable[[str], Iterable[str]] | None = None


def parse_close_args(text: str, default_code: int = 1000) -> tuple[int, str]:
    """Parse ``[code [reason…]]`` as ``/close`` and ``/kick`` take it.

    Raises:
        ValueError: the code is not a number that may be sent.
    """
    from .core.frames import close_code_is_valid

    if not text:
        return default_code, ""
    first, _, rest = text.partition(" ")
    try:
        code = int(first)
    except ValueError:
        raise ValueError(f"{first!r} is not a close code (try 1000 or 4000-4999)") from None
    if not close_code_is_valid(code):
        raise ValueError(f"close code {code} may not be sent (use 1000-1003, 1007-1014, 3000-4999)")
    reason = rest.strip()
    if len(reason.encode()) > 123:
        raise ValueError("close reason is longer than 123 bytes")
    return code, reason


def standard_commands(
    printer: Printer,
    targets: Callable[[], Sequence[Peer]],
    *,
    on_close: Callable[[], Any] | None = None,
) -> list[SlashCommand]:
    """The commands both ``connect`` and ``listen`` offer, acting on ``targets()``.

    Args:
        printer: where feedback goes.
        targets: the connections a command acts on (the one connection, or every
            client of ``listen``); empty means nobody is connected.
        on_close: called before ``/close`` closes, so a caller can stop reconnecting.
    """

    def each(action: Callable[[Peer], Any]) -> None:
        peers = list(targets())
        if not peers:
            printer.error("nobody is connected")
            return
        for peer in peers:
            action(peer)

    def ping(arg: str) -> None:
        data = arg.encode()
        if len(data) > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"a ping carries at most {MAX_CONTROL_PAYLOAD} bytes")
        each(lambda peer: peer.ping(data))

    def pong(arg: str) -> None:
        data = arg.encode()
        if len(data) > MAX_CONTROL_PAYLOAD:
            raise ValueError(f"a pong carries at most {MAX_CONTROL_PAYLOAD} bytes")
        each(lambda peer: peer.pong(data))

    def close(arg: str) -> None:
        code, reason = parse_close_args(arg)
        if on_close is not None:
            on_close()
        each(lambda peer: peer.close(code, reason))

    def send_hex(arg: str) -> None:
        data = decode_binary(arg, "hex")
        each(lambda peer: peer.send_from_prompt(data))

    def send_b64(arg: str) -> None:
        data = decode_binary(arg, "base64")
        each(lambda peer: peer.send_from_prompt(data))

    def send_file(arg: str) -> None:
        if not arg:
            raise ValueError("usage: /file PATH")
        path = Path(os.path.expanduser(arg.strip()))
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {reason_of(exc)}") from exc
        data: str | bytes
        try:
            data = content.decode()
        except UnicodeDecodeError:
            data = content
        kind = "text" if isinstance(data, str) else "binary"
        printer.info(f"sending {path} as a {kind} message ({format_size(len(content))})")
        each(lambda peer: peer.send_from_prompt(data))

    def save(arg: str) -> None:
        if not arg.strip():
            raise ValueError("usage: /save PATH (writes the last message received, whole)")
        data = printer.last_received
        if data is None:
            raise ValueError("no message received yet")
        path = Path(arg.strip()).expanduser()
        content = data.encode() if isinstance(data, str) else data
        try:
            path.write_bytes(content)
        except OSError as exc:
            raise ValueError(f"cannot write {path}: {reason_of(exc)}") from exc
        printer.info(f"saved the last message ({format_size(len(content))}) to {path}")

    def toggle_json(arg: str) -> None:
        printer.pretty_json = not printer.pretty_json
        printer.info(f"JSON pretty-printing {'on' if printer.pretty_json else 'off'}")

    def frag(arg: str) -> None:
        count_text, _, message = arg.partition(" ")
        try:
            count = int(count_text)
        except ValueError:
            raise ValueError("usage: /frag N MESSAGE (N fragments, at least 1)") from None
        if count < 1:
            raise ValueError("usage: /frag N MESSAGE (N fragments, at least 1)")
        each(lambda peer: peer.send_fragments(message, count))

    def pause(arg: str) -> None:
        each(lambda peer: peer.hold("user"))
        printer.info("paused reading: messages wait in the peer's send buffer (/resume)")

    def resume(arg: str) -> None:
        each(lambda peer: peer.release("user"))
        printer.info("resumed reading")

    def frame(arg: str) -> None:
        spec = parse_frame_spec(arg)

        def send(peer: Peer) -> None:
            peer.ws.send_raw(spec.to_bytes(client=not peer.ws.is_server))
            printer.info(f"sent a crafted frame: {spec.describe()}")

        each(send)

    def stats(arg: str) -> None:
        peers = list(targets())
        if not peers:
            printer.error("nobody is connected")
        for peer in peers:
            rows = peer.stats.rows()
            rows.append(("wire bytes in", format_size(peer.ws.bytes_received)))
            printer.table(rows, title=peer.label)

    return [
        SlashCommand("/ping", ping, "/ping [data]", "send a ping; the pong shows the round trip"),
        SlashCommand("/pong", pong, "/pong [data]", "send an unsolicited pong (a heartbeat)"),
        SlashCommand("/close", close, "/close [code [reason]]", "close (1000 by default)"),
        SlashCommand("/hex", send_hex, "/hex 01 ff ..", "send a binary message given in hex"),
        SlashCommand("/b64", send_b64, "/b64 AAEC..", "send a binary message given in base64"),
        SlashCommand(
            "/file",
            send_file,
            "/file PATH",
            "send a file (text if it is UTF-8, binary otherwise)",
            complete=_complete_path,
        ),
        SlashCommand(
            "/save",
            save,
            "/save PATH",
            "write the last message received, whole, to a file",
            complete=_complete_path,
        ),
        SlashCommand("/json", toggle_json, "/json", "toggle JSON pretty-printing"),
        SlashCommand("/frag", frag, "/frag N MESSAGE", "send MESSAGE as N fragments"),
        SlashCommand("/pause", pause, "/pause", "stop reading from the socket"),
        SlashCommand("/resume", resume, "/resume", "read from the socket again"),
        SlashCommand("/stats", stats, "/stats", "messages, bytes and latency so far"),
        SlashCommand(
            "/frame",
            frame,
            "/frame " + FRAME_SPEC_HELP,
            "send one raw frame as given, valid or not (op=1 fin=0 mask=none len=200 ...)",
        ),
    ]


def _complete_path(text: str) -> Iterable[str]:
    expanded = os.path.expanduser(text)
    directory, prefix = os.path.split(expanded)
    try:
        names = sorted(os.listdir(directory or "."))
    except OSError:
        return []
    shown_dir = text[: len(text) - len(prefix)]
    results = []
    for name in names:
        if name.startswith(prefix) and (prefix.startswith(".") or not name.startswith(".")):
            suffix = "/" if os.path.isdir(os.path.join(directory or ".", name)) else ""
            results.append(shown_dir + name + suffix)
    return results


class Repl:
    """A prompt that sends what is typed and runs slash commands.

    Args:
        printer: where feedback and errors go.
        commands: the slash commands; ``/help`` and ``/quit`` are added.
        on_line: called with each line that is not a command (the message to send).
        prompt: the prompt text.
        binary: ``"hex"``/``"base64"``: lines are decoded into binary messages.
    """

    def __init__(
        self,
        printer: Printer,
        commands: Sequence[SlashCommand],
        on_line: Callable[[str | bytes], Any],
        *,
        prompt: str = "> ",
        binary: str | None = None,
    ) -> None:
        self.printer = printer
        self.on_line = on_line
        self.prompt = prompt
        self.binary = binary
        self.commands: dict[str, SlashCommand] = {}
        for command in commands:
            self.commands[command.name] = command
        self.commands["/help"] = SlashCommand("/help", self._help, "/help", "list the commands")
        self.commands["/quit"] = SlashCommand("/quit", lambda arg: False, "/quit", "close and exit")
        self._stopped = threading.Event()
        self._session: PromptSession[str] | None = None

    # -- one line ----------------------------------------------------------------------

    def dispatch(self, line: str) -> bool:
        """Handle one typed line; return ``False`` when the prompt should end.

        Errors (a closed connection, a bad argument) are shown, never raised: a typo
        must not end the session.
        """
        if not line.strip():
            return True
        try:
            if line.startswith("//"):
                self._send(line[1:])
            elif line.startswith("/"):
                name, _, arg = line.partition(" ")
                command = self.commands.get(name.lower())
                if command is None:
                    self.printer.error(f"unknown command {name}; /help lists them")
                    return True
                return command.run(arg.strip()) is not False
            else:
                self._send(line)
        except ConnectionClosed:
            self.printer.error("the connection is closed")
        except (ValueError, OSError) as exc:
            self.printer.error(str(exc))
        return True

    def _send(self, line: str) -> None:
        if self.binary:
            self.on_line(decode_binary(line, self.binary))
        else:
            self.on_line(line)

    def _help(self, arg: str) -> None:
        rows = [(command.usage, command.help) for command in self.commands.values()]
        rows.append(("//text", "send a message that starts with a slash"))
        self.printer.table(rows, title="Type a message and press Enter to send it. Commands:")

    # -- the prompt --------------------------------------------------------------------

    def stop(self) -> None:
        """End :meth:`run` from any thread (the connection closed)."""
        self._stopped.set()
        session = self._session
        app = session.app if session is not None else None
        loop = getattr(app, "loop", None)
        if app is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._exit_app)

    def _exit_app(self) -> None:
        session = self._session
        if session is not None and session.app.is_running and not session.app.is_done:
            session.app.exit(result="")

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped.is_set()

    def run(self) -> None:
        """Prompt until ``/quit``, Ctrl-D or :meth:`stop`.

        Ctrl-C clears a line being typed; on an empty line it raises
        ``KeyboardInterrupt`` (the caller closes with 1001).
        """
        bindings = KeyBindings()

        @bindings.add("c-c")
        def _interrupt(event: Any) -> None:
            buffer = event.app.current_buffer
            if buffer.text:
                buffer.reset()
            else:
                event.app.exit(exception=KeyboardInterrupt())

        history: History
        path = history_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.touch(mode=0o600, exist_ok=True)
            history = FileHistory(str(path))
        except OSError:
            history = InMemoryHistory()
        self._session = PromptSession(
            history=history,
            completer=_SlashCompleter(self),
            complete_while_typing=True,
            auto_suggest=AutoSuggestFromHistory(),
            key_bindings=bindings,
            erase_when_done=True,
        )

        def exit_if_stopped() -> None:
            if self._stopped.is_set():
                self._exit_app()

        with patch_stdout(raw=True):
            while not self._stopped.is_set():
                try:
                    line = self._session.prompt(self.prompt, pre_run=exit_if_stopped)
                except EOFError:
                    return
                if self._stopped.is_set():
                    return
                if not self.dispatch(line):
                    return


class _SlashCompleter(Completer):
    """Completes command names after ``/``, then the command's own arguments."""

    def __init__(self, repl: Repl) -> None:
        self.repl = repl

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or text.startswith("//"):
            return
        if " " not in text:
            for name, command in self.repl.commands.items():
                if name.startswith(text.lower()):
                    yield Completion(name, start_position=-len(text), display_meta=command.help)
            return
        name, _, arg = text.partition(" ")
        target = self.repl.commands.get(name.lower())
        if target is None or target.complete is None:
            return
        for candidate in target.complete(arg):
            yield Completion(candidate, start_position=-len(arg))
