"""Printer: the only code that formats what wscli shows, for a terminal, a pipe or ``--json``.

Three renderings of the same events:

* **interactive** (a REPL on a terminal): rich text with ``<``/``>`` marks, timestamps,
  colour, JSON pretty-printed and highlighted, binary as a hex dump;
* **plain** (a pipe): each received payload on its own line, flushed at once, nothing
  else on stdout; status lines go to stderr only when they explain a failure (or with
  ``-v``), so ``wscli connect URL | grep`` sees payloads alone;
* **json**: one object per event on stdout (``{"time", "dir", "type", "data"…}``),
  lossless for multi-line text and binary data, for ``jq``.

Peer data is never markup: it is wrapped in ``rich.text.Text`` and its control characters
are escaped (``\\x1b`` shows as the four characters, dimmed) before it reaches a terminal,
so a server cannot move the cursor, change colours or retitle the window.

Payloads go to stdout and status lines to stderr. Listeners on the library's reactor
thread and the REPL on the main thread both print, so every write holds one lock. A
broken pipe on stdout sets :attr:`Printer.broken_pipe` instead of raising on a thread
nobody watches; commands end the run quietly when it is set.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any, TypeVar, cast

from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.text import Text

from .core.frames import OK_CLOSE_CODES
from .core.redact import redact_credentials
from .display import (
    DISPLAY_LIMIT,
    HEXDUMP_LIMIT,
    hexdump,
    json_depth_within,
    looks_like_json,
)
from .escape import escape_bytes, escape_control, escape_json, escaped_text, is_terminal
from .outputthread import OUTPUT_BACKLOG, Fill, OutputThread
from .params import encode_binary, format_duration, format_size

__all__ = [
    "Printer",
    "CloseInfo",
    "escape_control",
    "escaped_text",
    "hexdump",
    "looks_like_json",
    "json_depth_within",
    "OUTPUT_BACKLOG",
]

_Method = TypeVar("_Method", bound=Callable[..., None])


def _on_output_thread(method: _Method) -> _Method:
    """Run a Printer method on its output thread when threaded (see ``Printer._submit``).

    The job's size, for the backlog bound, is that of a ``data`` argument when there is
    one (a message), else zero.
    """

    @functools.wraps(method)
    def wrapper(self: Printer, *args: Any, **kwargs: Any) -> None:
        data = kwargs.get("data", args[1] if len(args) > 1 else None)
        size = len(data) if isinstance(data, (str, bytes)) else 0
        self._submit(functools.partial(method, self, *args, **kwargs), size)

    return cast(_Method, wrapper)


def _run_now(job: Callable[[], None] | None) -> None:
    """``fill`` of an unthreaded printer's held place: write at once."""
    if job is not None:
        job()


@dataclass(frozen=True)
class CloseInfo:
    """How a connection ended, in terms a person (and an exit status) can use.

    Attributes:
        code: the close code received (1006 when none came, 1005 for an empty one).
        reason: the close reason received.
        by: ``"peer"`` or ``"us"`` for whoever sent the first close frame, ``None`` when
            no close frame was exchanged (the connection dropped).
        clean: whether close frames went both ways (RFC 6455 §7.1.4 "cleanly").
        sent_code: the code we sent, if we sent a close frame.
        error: why the connection failed, when it did (a protocol error, a timeout…).
    """

    code: int
    reason: str = ""
    by: str | None = None
    clean: bool = False
    sent_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether this ending counts as success (exit status 0).

        A clean close we started is a success whatever code we chose; one the peer
        started is a success for the codes in :data:`~wscli.core.frames.OK_CLOSE_CODES`:
        1000 (normal), 1001 (going away) and 1005 (no code), as for the library.
        """
        if not self.clean or self.error:
            return False
        return self.by == "us" or self.code in OK_CLOSE_CODES

    @property
    def shown_code(self) -> int:
        """The code the explanation line names: the one we sent when we failed the
        connection (1002, 1009…), otherwise the one received (1006 when none came)."""
        if self.by == "us" and self.error and self.sent_code is not None:
            return self.sent_code
        return self.code

    def describe(self, peer: str = "the server") -> str:
        """Say who closed, with which code (and its name) and reason, in one line."""
        from .core import close_code_name

        def code_text(code: int, reason: str) -> str:
            text = f"{code} ({close_code_name(code)})"
            if reason:
                text += f' "{escape_control(reason, keep_newlines=False)}"'
            return text

        if self.by == "peer":
            text = f"closed by {peer}: {code_text(self.code, self.reason)}"
            if not self.clean:
                text += "; the close handshake did not finish"
        elif self.by == "us" and self.error:
            # We failed the connection because of what the peer did (RFC 6455 §7.1.7).
            sent = self.sent_code if self.sent_code is not None else self.code
            reason = escape_control(self.error, keep_newlines=False)
            return f"wscli closed the connection: {code_text(sent, '')}: {reason}"
        elif self.by == "us":
            sent = self.sent_code if self.sent_code is not None else self.code
            text = f"closed by you: {code_text(sent, self.reason if self.clean else '')}"
            if not self.clean:
                text += f"; {peer} never answered the close"
        else:
            text = f"connection dropped: {code_text(self.code, '')}, no close frame"
        if self.error:
            text += f" ({escape_control(self.error, keep_newlines=False)})"
        return text


class Printer:
    """Render messages and status for a terminal, a pipe or ``--json``.

    Build one per command run; listeners may call it from any thread.

    Args:
        interactive: a REPL owns the terminal: rich output with marks, colour and
            timestamps. Streams are looked up on every write, so output follows
            prompt-toolkit's ``patch_stdout`` and lands above the prompt.
        as_json: one JSON object per event on stdout.
        color: force colour on or off; by default on for interactive terminals unless
            ``NO_COLOR`` is set.
        binary: ``"hex"`` or ``"base64"``: how binary payloads are written in a pipe and
            in JSON (JSON defaults to base64; a pipe to the raw bytes).
        separator: written after each payload in a pipe (``"\\0"`` with ``--null``).
        show_ping_pong: print ping and pong frames too.
        verbose: ``-v`` count; any makes status lines appear in a pipe too.
        status_lines: print informational status lines (connects, closes) to stderr;
            by default only when interactive or verbose.
        stdout, stderr: streams to use instead of ``sys.stdout``/``sys.stderr``.
        threaded: render and write on an output thread of the printer's own, so the
            library's I/O thread never waits for a terminal or a pipe; the command
            calls :meth:`flush` before it ends. Off by default: every call writes
            before it returns.
        full: on a terminal, show long messages whole instead of cut.

    Whatever the threading, calls made on one thread are written in the order made;
    a write error other than a broken pipe is kept in :attr:`output_error`.
    """

    def __init__(
        self,
        *,
        interactive: bool = False,
        as_json: bool = False,
        color: bool | None = None,
        binary: str | None = None,
        separator: str = "\n",
        show_ping_pong: bool = False,
        verbose: int = 0,
        status_lines: bool | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        threaded: bool = False,
        full: bool = False,
    ) -> None:
        self.interactive = interactive
        self.full = full
        self.as_json = as_json
        self.binary = binary
        self.separator = separator
        self.show_ping_pong = show_ping_pong
        self.verbose = verbose
        self.status_lines = (interactive or verbose > 0) if status_lines is None else status_lines
        #: Pretty-print JSON objects and arrays on a terminal (the REPL's /json toggles it).
        self.pretty_json = True
        #: Set once stdout's reader went away; the command should end quietly.
        self.broken_pipe = threading.Event()
        self._on_broken_pipe: list[Callable[[], None]] = []
        #: Why writing to stdout failed (a full disk, an I/O error), once it did.
        self.output_error: OSError | None = None
        self._on_output_error: list[Callable[[OSError], None]] = []
        #: The last message received, whole, for the REPL's ``/save``.
        self.last_received: str | bytes | None = None
        self._lock = threading.RLock()
        self._threaded = threaded
        self._output = OutputThread(self._job_failed)
        # Interactive output follows sys.stdout (patched by prompt-toolkit); otherwise the
        # streams are fixed now, so a late reactor callback cannot write to another stream.
        self._stdout = stdout if stdout is not None or interactive else sys.stdout
        self._stderr = stderr if stderr is not None or interactive else sys.stderr
        if color is None and os.environ.get("NO_COLOR"):
            # no-color.org asks for no colour; bold and dim are styling of the same kind
            # (and rich would keep them), so NO_COLOR turns every style off.
            color = False
        color_system: Any = "auto" if color is not False else None
        self.console = Console(
            file=self._stdout,
            force_terminal=True if interactive else None,
            color_system=color_system,
            markup=False,
            emoji=False,
            highlight=False,
            soft_wrap=True,
        )
        self.err_console = Console(
            file=self._stderr,
            stderr=True,
            force_terminal=True if interactive else None,
            color_system=color_system if interactive else None,
            markup=False,
            emoji=False,
            highlight=False,
            soft_wrap=True,
        )
        self._json_highlighter = JSONHighlighter()

    @classmethod
    def from_options(
        cls,
        *,
        interactive: bool,
        as_json: bool = False,
        no_color: bool = False,
        binary: str | None = None,
        null: bool = False,
        show_ping_pong: bool = False,
        verbose: int = 0,
        status_lines: bool | None = None,
        full: bool = False,
        threaded: bool = False,
    ) -> Printer:
        """Build a command's printer from the shared output flags (see the class)."""
        return cls(
            threaded=threaded,
            full=full,
            interactive=interactive,
            as_json=as_json,
            color=False if no_color else None,
            binary=binary,
            separator="\0" if null else "\n",
            show_ping_pong=show_ping_pong,
            verbose=verbose,
            status_lines=status_lines,
        )

    def on_broken_pipe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (once) when stdout's reader goes away."""
        self._on_broken_pipe.append(callback)

    def on_output_error(self, callback: Callable[[OSError], None]) -> None:
        """Call ``callback(error)`` (once) when writing to stdout fails (ENOSPC, EIO…)."""
        self._on_output_error.append(callback)

    # -- the output thread ---------------------------------------------------------------

    def _submit(self, job: Callable[[], None], size: int = 0) -> None:
        """Run ``job`` now, or queue it for the output thread when threaded."""
        if not self._threaded or self._output.on_thread():
            job()
            return
        self._output.submit(job, size)

    def _now(self) -> float:
        """The time of the event being shown (when it was submitted), else now."""
        when = self._output.event_time
        return when if when is not None else time.time()

    @property
    def shows_sent(self) -> bool:
        """Whether sent messages are shown (interactive and JSON output; not a pipe)."""
        return self.interactive or self.as_json

    def hold(self, size: int = 0) -> Fill:
        """Reserve the place of output decided later; return ``fill(job)``.

        ``Peer`` takes the place of a sent message's line before handing the message
        to the connection, and fills it (``fill(job)``) once ``send()`` returned, or
        leaves it empty (``fill(None)``) if the message was not sent: an answer that
        arrives meanwhile is shown after it. With a threaded printer, later output waits
        for the place for at most :data:`~wscli.outputthread.HOLD_LIMIT` seconds; without
        one, ``fill`` runs the job at once.

        Args:
            size: the bytes of the line to come, for the output's bound.
        """
        if not self._threaded or self._output.on_thread():
            return _run_now
        return self._output.hold(size)

    def backlog_full(self) -> bool:
        """Whether more than :data:`OUTPUT_BACKLOG` bytes wait to be shown.

        The connections feeding the printer stop being read until :meth:`when_drained`
        calls back: the peer's TCP window closes instead of our memory growing.
        """
        return self._output.backlog_full()

    def when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the backlog is back under half its bound (maybe now)."""
        self._output.when_drained(callback)

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush, then let the output thread end once it has nothing left to write.

        A command calls this as it ends, so that running it in a process that lives on
        (a test, a program calling ``main``) leaves no idle thread behind. Output
        submitted afterwards (a late callback) gets a thread again, which ends once it
        has written it. ``False`` when the flush timed out (the thread still writes
        what it has, then ends).
        """
        return self._output.close(timeout)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until everything submitted so far is written; ``False`` on timeout."""
        return self._output.flush(timeout)

    def _job_failed(self, exc: Exception) -> None:
        self.output_error = self.output_error or OSError(f"cannot show output: {exc}")

    # -- low-level writing -------------------------------------------------------------

    @property
    def stdout(self) -> IO[str]:
        """The stream payloads go to."""
        return self._stdout if self._stdout is not None else sys.stdout

    @property
    def stderr(self) -> IO[str]:
        """The stream status lines go to."""
        return self._stderr if self._stderr is not None else sys.stderr

    def _broken(self) -> None:
        if self.broken_pipe.is_set():
            return
        self.broken_pipe.set()
        for callback in self._on_broken_pipe:
            callback()

    def _write_stdout(self, data: bytes) -> None:
        """Write bytes to stdout and flush, through its binary buffer when it has one."""
        if self.broken_pipe.is_set():
            return
        stream = self.stdout
        try:
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                stream.flush()
                buffer.write(data)
                buffer.flush()
            else:
                stream.write(data.decode("utf-8", "replace"))
                stream.flush()
        except (BrokenPipeError, ValueError):
            # ValueError: the stream was closed under us, which means the same.
            self._broken()
        except OSError as exc:
            if exc.errno in (32, 22):  # EPIPE, EINVAL on some platforms
                self._broken()
            else:
                self._output_failed(exc)

    def _output_failed(self, exc: OSError) -> None:
        """Stdout cannot take more (a full disk, an I/O error): say so once, stop writing."""
        if self.output_error is not None:
            return
        self.output_error = exc
        self.broken_pipe.set()  # nothing more is written to it
        for callback in self._on_output_error:
            callback(exc)

    def _stdout_is_terminal(self) -> bool:
        return is_terminal(self.stdout)

    def _print(self, renderable: Any, *, err: bool = False) -> None:
        console = self.err_console if err else self.console
        try:
            console.print(renderable)
        except BrokenPipeError:
            if not err:
                self._broken()
        except OSError as exc:
            if not err:
                self._output_failed(exc)

    @_on_output_thread
    def _err_line(self, text: str | Text) -> None:
        """Write one status line to stderr (rich when interactive, plain otherwise)."""
        with self._lock:
            if self.interactive:
                self._print(text, err=True)
                return
            plain = text.plain if isinstance(text, Text) else text
            try:
                self.stderr.write(plain + "\n")
                self.stderr.flush()
            except (OSError, ValueError):
                pass

    @_on_output_thread
    def event(self, type: str, **fields: Any) -> None:
        """Write one JSON object (``{"time", "type", ...}``) to stdout; ``None`` fields drop."""
        record: dict[str, Any] = {"time": round(self._now(), 3)}
        for key in ("client", "dir"):
            value = fields.pop(key, None)
            if value is not None:
                record[key] = value
        record["type"] = type
        record.update((key, value) for key, value in fields.items() if value is not None)
        line = json.dumps(record, ensure_ascii=False, separators=(", ", ": "))
        if self._stdout_is_terminal():
            line = escape_json(line)
        with self._lock:
            self._write_stdout(line.encode("utf-8", "surrogateescape") + b"\n")

    @_on_output_thread
    def out(self, text: str) -> None:
        """Write one line of results to stdout (escaped when stdout is a terminal)."""
        with self._lock:
            if self.interactive:
                self._print(escaped_text(text))
            else:
                if self._stdout_is_terminal():
                    text = escape_control(text)
                self._write_stdout(text.encode("utf-8", "surrogateescape") + b"\n")

    # -- status lines ------------------------------------------------------------------

    def info(self, text: str, *, style: str = "") -> None:
        """A status line for people (stderr): shown when interactive, verbose or asked."""
        if self.status_lines:
            self._err_line(escaped_text(text, style, keep_newlines=False))

    def notice(self, text: str, *, style: str = "") -> None:
        """A status line shown in every mode (stderr), e.g. ``listening on ws://…``."""
        self._err_line(escaped_text(text, style, keep_newlines=False))

    def warning(self, text: str) -> None:
        """A problem worth knowing that does not end the run (stderr, always)."""
        self._err_line(escaped_text(f"warning: {text}", "yellow", keep_newlines=False))

    def error(self, text: str) -> None:
        """A problem that ends the run or a command (stderr, always)."""
        self._err_line(escaped_text(f"error: {text}", "bold red", keep_newlines=False))

    @_on_output_thread
    def table(self, rows: Sequence[tuple[str, str]], *, title: str | None = None) -> None:
        """Show name/value rows (``/stats``, ``/clients``) as aligned status lines."""
        width = max((len(name) for name, _ in rows), default=0)
        with self._lock:
            if title:
                self._err_line(escaped_text(title, "bold", keep_newlines=False))
            for name, value in rows:
                line = Text(f"  {name:<{width}}  ", style="cyan")
                line.append_text(escaped_text(value, keep_newlines=False))
                self._err_line(line)

    # -- events ------------------------------------------------------------------------

    def _prefix(self, direction: str | None, peer: Any) -> Text:
        now = self._now()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        prefix = Text(stamp + " ", style="dim")
        if peer is not None:
            prefix.append(f"#{peer} ", style="magenta")
        if direction == "in":
            prefix.append("< ", style="bold green")
        elif direction == "out":
            prefix.append("> ", style="bold cyan")
        else:
            prefix.append("* ", style="bold yellow")
        return prefix

    def _binary_field(self, data: bytes) -> dict[str, str]:
        encoding = self.binary or "base64"
        return {encoding: encode_binary(data, encoding)}

    @_on_output_thread
    def message(self, direction: str, data: str | bytes, *, peer: Any = None) -> None:
        """Show one data message: ``direction`` is ``"in"`` or ``"out"``.

        In a pipe only received messages are written (what was sent is the input);
        interactive and JSON output show both directions. On a terminal, text longer
        than :data:`DISPLAY_LIMIT` is cut (unless ``full``) with a note of what was not
        shown; a pipe or a file gets every byte as it came.
        """
        if direction == "in":
            self.last_received = data
        if self.as_json:
            if isinstance(data, str):
                self.event("text", client=peer, dir=direction, data=data)
            else:
                self.event("binary", client=peer, dir=direction, **self._binary_field(data))
            return
        if self.interactive:
            self._show_interactive(direction, data, peer)
            return
        if direction != "in":
            return
        terminal = self._stdout_is_terminal()
        if isinstance(data, str):
            if terminal:
                shown, note = self._cut(data)
                data = escape_control(shown) + note
            payload = data.encode("utf-8", "surrogateescape")
        elif self.binary:
            payload = encode_binary(data, self.binary).encode()
        elif terminal:
            shown_bytes, note = self._cut(data)
            payload = (escape_bytes(shown_bytes) + note).encode("utf-8", "surrogateescape")
        else:
            payload = data
        with self._lock:
            self._write_stdout(payload + self.separator.encode())

    def _cut(self, data: Any) -> tuple[Any, str]:
        """Cut a long message for a terminal: the part shown and a note of the rest."""
        if self.full or len(data) <= DISPLAY_LIMIT:
            return data, ""
        shown = data[:DISPLAY_LIMIT]
        if isinstance(data, str):
            hidden = len(data.encode("utf-8", "surrogateescape")) - len(
                shown.encode("utf-8", "surrogateescape")
            )
        else:
            hidden = len(data) - len(shown)
        return shown, f" … {hidden} more bytes not shown ({format_size(hidden)}; --full or /save)"

    def _show_interactive(self, direction: str, data: str | bytes, peer: Any) -> None:
        line = self._prefix(direction, peer)
        if isinstance(data, str):
            parsed = looks_like_json(data) if self.pretty_json else None
            if parsed is not None:
                pretty = json.dumps(parsed, indent=2, ensure_ascii=False)
                body = escaped_text(pretty)
                self._json_highlighter.highlight(body)
                line.append_text(body)
            else:
                shown, note = self._cut(data)
                line.append_text(escaped_text(shown))
                if note:
                    line.append(note, style="italic dim")
        else:
            line.append(f"binary, {len(data)} bytes", style="italic")
            for row in hexdump(data, None if self.full else HEXDUMP_LIMIT):
                line.append("\n  " + row, style="")
        with self._lock:
            self._print(line)

    @_on_output_thread
    def control(
        self,
        direction: str,
        kind: str,
        data: bytes,
        *,
        peer: Any = None,
        latency: float | None = None,
    ) -> None:
        """Show a ping or pong frame (with ``-P``, or answering the REPL's ``/ping``)."""
        if self.as_json:
            fields: dict[str, Any] = {}
            if data:
                try:
                    fields["data"] = data.decode()
                except UnicodeDecodeError:
                    fields.update(self._binary_field(data))
            if latency is not None:
                fields["latency"] = round(latency, 6)
            self.event(kind, client=peer, dir=direction, **fields)
            return
        text = kind
        if data:
            text += " " + repr(data)[1:]
        if latency is not None:
            text += f" ({format_duration(latency)})"
        if self.interactive:
            line = self._prefix(direction, peer)
            line.append_text(escaped_text(text, "yellow", keep_newlines=False))
            with self._lock:
                self._print(line)
        else:
            arrow = "<" if direction == "in" else ">"
            who = f"#{peer} " if peer is not None else ""
            self._err_line(escaped_text(f"{who}{arrow} {text}", keep_newlines=False))

    def opened(
        self,
        description: str,
        *,
        peer: Any = None,
        subprotocol: str | None = None,
        extensions: Iterable[str] = (),
        **fields: Any,
    ) -> None:
        """Say a connection opened: ``description`` like ``connected to ws://…``.

        ``fields`` (``url``, ``address``, ``path``) go into the JSON event.
        """
        if self.as_json:
            self.event(
                "open",
                client=peer,
                subprotocol=subprotocol,
                extensions=list(extensions) or None,
                **fields,
            )
            return
        details = []
        if subprotocol:
            details.append(f"subprotocol {subprotocol}")
        details.extend(extensions)
        text = description + (f" ({', '.join(details)})" if details else "")
        if peer is not None:
            text = f"#{peer} {text}"
        self.info(text, style="green")

    @_on_output_thread
    def closed(self, info: CloseInfo, *, peer: Any = None, peer_name: str = "the server") -> None:
        """Explain how a connection ended: who closed, the code with its name, the reason.

        Shown on stderr when interactive or verbose, and in a pipe whenever it was not
        a success, so a non-zero exit status always comes with its reason.
        """
        if self.as_json:
            self.event(
                "close",
                client=peer,
                code=info.shown_code,
                reason=info.reason,
                by=info.by,
                clean=info.clean,
                error=info.error,
            )
            return
        text = info.describe(peer_name)
        if peer is not None:
            text = f"#{peer} {text}"
        style = "green" if info.ok else "bold red"
        if self.status_lines or not info.ok:
            self._err_line(escaped_text(text, style, keep_newlines=False))

    @_on_output_thread
    def handshake(
        self,
        request: Any,
        response: Any,
        *,
        subprotocol: str | None = None,
        extensions: dict[str, str] | None = None,
        tls: Any = None,
    ) -> None:
        """Show the opening handshake: request and response heads, what was negotiated.

        ``tls`` (a ``TLSInfo``) adds the TLS version, cipher and peer certificate.
        """
        tls_fields = None
        if tls is not None:
            tls_fields = {
                "version": tls.version,
                "cipher": tls.cipher,
                "peer_subject": tls.peer_subject,
                "peer_issuer": tls.peer_issuer,
                "peer_not_after": tls.peer_not_after,
            }
        request_headers = [] if request is None else redact_credentials(request.headers.items())
        if self.as_json:
            self.event(
                "handshake",
                request=None
                if request is None
                else {"path": request.path, "headers": [list(h) for h in request_headers]},
                response=None
                if response is None
                else {
                    "status": response.status_code,
                    "reason": response.reason_phrase,
                    "headers": [list(h) for h in response.headers.items()],
                },
                subprotocol=subprotocol,
                extensions=extensions or None,
                tls=tls_fields,
            )
            return
        with self._lock:
            if request is not None:
                self._err_line(
                    escaped_text(
                        f"> {request.method} {request.path} HTTP/1.1", "cyan", keep_newlines=False
                    )
                )
                for name, value in request_headers:
                    self._err_line(escaped_text(f"> {name}: {value}", "cyan", keep_newlines=False))
            if response is not None:
                status = f"< HTTP/1.1 {response.status_code} {response.reason_phrase}"
                self._err_line(escaped_text(status, "green", keep_newlines=False))
                for name, value in response.headers.items():
                    self._err_line(escaped_text(f"< {name}: {value}", "green", keep_newlines=False))
            if response is not None and response.status_code == 101:
                self._err_line(
                    escaped_text(f"subprotocol: {subprotocol or '(none)'}", keep_newlines=False)
                )
                # describe() already starts with the extension's name.
                described = ", ".join(params or name for name, params in (extensions or {}).items())
                self._err_line(
                    escaped_text(f"extensions: {described or '(none)'}", keep_newlines=False)
                )
            if tls_fields is not None:
                line = f"tls: {tls_fields['version']} {tls_fields['cipher']}"
                if tls_fields["peer_subject"]:
                    line += f", peer certificate {tls_fields['peer_subject']}"
                    if tls_fields["peer_issuer"]:
                        line += f" issued by {tls_fields['peer_issuer']}"
                    if tls_fields["peer_not_after"]:
                        line += f", valid until {tls_fields['peer_not_after']}"
                self._err_line(escaped_text(line, keep_newlines=False))
