"""``wscli listen``: a WebSocket server for trying out clients, in a terminal or a pipe.

Each client gets a short id (``#1``, ``#2``…) that every line about it carries. On a
terminal, a REPL sends what is typed to every client and adds ``/clients``, ``/to``,
``/all`` and ``/kick`` to the usual slash commands. In a pipe, stdin lines go to every
client (held until the first one connects) and messages received go to stdout, with the
client id in ``--json``. ``--echo`` and ``--broadcast`` make it an echo server or a chat
relay; ``--exec`` gives each client a subprocess of its own.

The bound address is always announced on stderr as ``listening on ws://HOST:PORT``, so
``--port 0`` works in scripts and tests. Ctrl-C (or SIGTERM) closes every client with
1001 and exits with status 130.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import click
from click.core import ParameterSource

from .. import params
from ..admission import AdmissionPolicy, Refusal
from ..core import Request, Server, WebSocket, broadcast
from ..core.exceptions import InvalidHeader
from ..core.headers import Headers, parse_subprotocol_header
from ..escape import is_terminal
from ..exitcodes import EXIT_STATUS_HELP, ExitStatus, ListenFailed, reason_of
from ..output import CloseInfo, Printer
from . import Peer, read_stdin_into, terminate_as_interrupt
from .replay import matching_options

__all__ = ["command", "ListenSession", "EXEC_MAX_CLIENTS"]

#: With ``--exec`` every client is a process: at most this many unless ``--max-clients``.
EXEC_MAX_CLIENTS = 64

EPILOG = f"""\b
On a terminal: lines go to every client; /clients, /to ID MSG, /all MSG,
/kick ID [code [reason]] and the connect commands (/help lists them).
In a pipe: stdin lines go to every client; messages go to stdout.

{EXIT_STATUS_HELP}

\b
Examples:
  wscli listen --echo
  wscli listen --port 0 --broadcast -s chat.v1
  wscli listen --port 9000 --replay chat.ndjson      (a mock from a recording)
  wscli listen --port 9000 --rules mock.toml         (a mock from rules, docs/RECORDING.md)
  wscli listen --port 9000 --exec 'python3 bot.py' --auth admin:secret
"""


class ListenSession:
    """One run of ``listen``: the server, its clients by id, input from stdin or the REPL.

    Args:
        printer: where events go.
        echo: send every message back to its sender.
        broadcast: relay every message to every other client.
        exec_argv: run this per client (see :mod:`wscli.bridge`).
        binary: ``--binary`` encoding for input lines and ``--exec``.
        policy: who is let in (see :mod:`wscli.admission`); the safe default when
            not given.
        mock: with ``--replay`` or ``--rules``, builds the mock that answers each client.
    """

    def __init__(
        self,
        printer: Printer,
        *,
        echo: bool = False,
        broadcast: bool = False,
        exec_argv: list[str] | str | None = None,
        binary: str | None = None,
        policy: AdmissionPolicy | None = None,
        mock: Callable[[], Any] | None = None,
    ) -> None:
        self.printer = printer
        #: ``--replay``/``--rules``: makes each client's :class:`wscli.mock.MockClient`.
        self.mock = mock
        self.policy = policy if policy is not None else AdmissionPolicy()
        self.policy.count_clients = lambda: len(self.clients)
        self.echo = echo
        self.broadcast = broadcast
        self.exec_argv = exec_argv
        self.binary = binary
        self.server: Server | None = None
        self.clients: dict[int, Peer] = {}
        self.paths: dict[int, str] = {}
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._next_id = 1
        self._lock = threading.Lock()
        self._pending: list[str | bytes] = []
        self._slow: set[int | None] = set()
        self._admission_refusals: dict[int, tuple[Any, Refusal, str | None]] = {}
        printer.on_broken_pipe(lambda: self.events.put(("broken",)))
        printer.on_output_error(lambda exc: self.events.put(("output_error", exc)))

    # -- the server --------------------------------------------------------------------

    def start(
        self,
        host: str,
        port: int,
        headers: Sequence[tuple[str, str]] = (),
        **server_options: Any,
    ) -> Server:
        """Bind, announce ``listening on ws://HOST:PORT`` on stderr, and accept clients.

        Raises:
            ListenFailed: the address cannot be bound (exit status 3).
        """
        server_options["verify_client"] = self.policy.verifier(self._refused)
        unix = server_options.get("unix")
        where = unix if unix is not None else format_host_port(host, port)
        try:
            if unix is not None:
                server = Server(**server_options)
            else:
                server = Server(host, port, **server_options)
        except OSError as exc:
            reason = reason_of(exc)
            raise ListenFailed(f"cannot listen on {where}: {reason}") from exc
        if headers:
            server.on("headers", functools.partial(_set_headers, list(headers)))
        server.on("connection", self._on_connection)
        server.on("tls_client_error", self._tls_failed)
        server.on("refused", self._on_refused)
        self.server = server
        self.printer.notice(f"listening on {server.url}{self.policy.path or ''}")
        return server

    def _tls_failed(self, error: BaseException, address: Any) -> None:
        """Reactor thread: a client's TLS handshake failed (one line, like a refusal)."""
        from ..exitcodes import describe_error

        reason = describe_error(error)
        if reason.lower() == "http request":  # OpenSSL's words for a plain client's request
            reason = "a plain ws:// request at a wss:// listener"
        line = f"refused {format_address(address)}: tls handshake failed: {reason}"
        self.printer.notice(line, style="yellow")

    def _refused(self, info: Any, refusal: Refusal) -> None:
        """Reactor thread: ``listen``'s own refusal; the ``refused`` event logs it."""
        # The server emits `refused` right after this verifier answers, on this thread:
        # keep the hint and the Origin for that one line. Bounded, should an event
        # ever not come (the line then just lacks its hint).
        if len(self._admission_refusals) >= 256:
            self._admission_refusals.clear()
        self._admission_refusals[id(info.req)] = (info.req, refusal, info.origin)

    def _on_refused(self, address: Any, status: int, reason: str, request: Any) -> None:
        """Reactor thread: one line for every refused upgrade, whoever refused it."""
        entry = self._admission_refusals.pop(id(request), None)
        refusal, origin = None, None
        if entry is not None and entry[0] is request:
            _request, refusal, origin = entry
        elif request is not None:
            origin = request.headers.get("Origin")
        where = format_address(address)
        path = request.path if request is not None else None
        if self.printer.as_json:
            self.printer.event(
                "refused", address=where, path=path, status=status, reason=reason, origin=origin
            )
            return
        line = f"refused {where} {path or '(unreadable request)'}: {status} {reason}"
        if refusal is not None and refusal.hint:
            line += f" ({refusal.hint})"
        self.printer.notice(line, style="yellow")

    def _on_connection(self, ws: WebSocket, request: Request) -> None:
        """Reactor thread: give the client an id, show it, wire echo/broadcast/exec."""
        with self._lock:
            client_id = self._next_id
            self._next_id += 1
        show = self.exec_argv is None or self.printer.as_json or self.printer.interactive
        hooks: list[Any] = []
        close_hooks: list[Any] = [self._on_close]
        bridge = None
        if self.exec_argv is not None:
            from ..bridge import Bridge

            bridge = Bridge(self.exec_argv, self.printer, binary=self.binary)
            hooks.append(bridge.on_message)
            close_hooks.append(bridge.on_close)
        if self.echo:
            hooks.append(lambda p, data: _quietly(p.send, data))
        if self.broadcast:
            hooks.append(self._relay)
        mock = self.mock() if self.mock is not None else None
        if mock is not None:
            hooks.append(mock.on_message)
            close_hooks.append(mock.on_close)
        peer = Peer(
            ws,
            self.printer,
            id=client_id,
            peer_name="the client",
            show_messages=show,
            message_hooks=hooks,
            close_hooks=close_hooks,
            never_wait=True,
        )
        with self._lock:
            self.clients[client_id] = peer
            self.paths[client_id] = request.path
            pending, self._pending = self._pending, []
        self.printer.opened(
            f"connected from {peer.address} {request.path}",
            peer=client_id,
            subprotocol=ws.subprotocol,
            extensions=list(ws.extensions),
            address=peer.address,
            path=request.path,
        )
        if ws.subprotocol is None:
            self._say_offers_declined(client_id, request)
        if bridge is not None:
            from ..bridge import peer_environment

            bridge.start(peer, peer_environment(peer, path=request.path))
        for item in pending:
            _quietly(peer.send, item)
        if mock is not None:
            mock.bind(peer)

    def _say_offers_declined(self, client_id: int, request: Request) -> None:
        """Name the subprotocols a client offered when none was chosen: some clients
        (node's ws) then give up, and ``-s`` is how to accept one."""
        with contextlib.suppress(InvalidHeader):
            offered = parse_subprotocol_header(request.headers)
            if offered:
                self.printer.notice(
                    f"#{client_id} offered subprotocols {', '.join(offered)}; none chosen "
                    f"(-s {offered[0]} accepts it)"
                )

    def _on_close(self, peer: Peer, info: CloseInfo) -> None:
        with self._lock:
            if peer.id is not None:
                self.clients.pop(peer.id, None)

    def _relay(self, sender: Peer, data: str | bytes) -> None:
        # Never blocks, and skips a client that stopped reading rather than buffer for it.
        broadcast([peer.ws for peer in self.peers() if peer is not sender], data)

    def peers(self) -> list[Peer]:
        """The clients connected now, oldest first."""
        with self._lock:
            return [peer for _, peer in sorted(self.clients.items())]

    def peer(self, text: str) -> Peer:
        """Find a client by id (``3`` or ``#3``).

        Raises:
            ValueError: no such client.
        """
        try:
            client_id = int(text.lstrip("#"))
        except ValueError:
            raise ValueError(f"{text!r} is not a client id; /clients lists them") from None
        with self._lock:
            peer = self.clients.get(client_id)
        if peer is None:
            raise ValueError(f"no client #{client_id}; /clients lists them")
        return peer

    def send_all(self, item: str | bytes) -> None:
        """Send to every client without waiting for any; with none yet, keep it for the first.

        A client whose outgoing buffer is full (it stopped reading) misses this
        message instead of stalling the others: the fan-out never blocks, and what a
        slow client can hold is bounded by its ``write_limit``.
        """
        peers = self.peers()
        if not peers:
            with self._lock:
                self._pending.append(item)
            if self.printer.interactive:
                self.printer.info("no clients yet: sending to the first one that connects")
            return
        for peer in peers:
            if not peer.offer(item):
                self._skipped(peer)

    def _skipped(self, peer: Peer) -> None:
        """Warn once per client that it misses messages because it does not read."""
        with self._lock:
            first = peer.id not in self._slow
            self._slow.add(peer.id)
        if first:
            self.printer.warning(
                f"{peer.label} is not reading: messages for it are skipped while its buffer is full"
            )

    def stop(self, code: int = 1001, reason: str = "") -> None:
        """Stop listening and close every client (waiting for them, within limits)."""
        server = self.server
        if server is not None:
            server.close(code, reason)

    # -- slash commands ----------------------------------------------------------------

    def slash_commands(self) -> list[Any]:
        """``/clients``, ``/to``, ``/all`` and ``/kick`` on top of the standard ones."""
        from ..repl import SlashCommand, parse_close_args, standard_commands

        def list_clients(arg: str) -> None:
            peers = self.peers()
            if not peers:
                self.printer.info("no clients connected")
                return
            rows = []
            for peer in peers:
                assert peer.id is not None
                details = [peer.address, self.paths.get(peer.id, "/")]
                if peer.ws.subprotocol:
                    details.append(f"subprotocol {peer.ws.subprotocol}")
                details.append(f"{peer.stats.messages_in} in, {peer.stats.messages_out} out")
                rows.append((f"#{peer.id}", "  ".join(details)))
            self.printer.table(rows, title=f"{len(rows)} client(s)")

        def send_to(arg: str) -> None:
            target, _, message = arg.partition(" ")
            if not target:
                raise ValueError("usage: /to ID MESSAGE")
            self.peer(target).send(message)

        def send_all(arg: str) -> None:
            self.send_all(arg)

        def kick(arg: str) -> None:
            target, _, rest = arg.partition(" ")
            if not target:
                raise ValueError("usage: /kick ID [code [reason]]")
            peer = self.peer(target)
            code, reason = parse_close_args(rest.strip())
            peer.close(code, reason)

        def complete_ids(text: str) -> list[str]:
            return [str(peer.id) for peer in self.peers() if str(peer.id).startswith(text)]

        return [
            *standard_commands(self.printer, self.peers),
            SlashCommand("/clients", list_clients, "/clients", "id, address, path, subprotocol"),
            SlashCommand(
                "/to", send_to, "/to ID MESSAGE", "send to one client", complete=complete_ids
            ),
            SlashCommand("/all", send_all, "/all MESSAGE", "send to every client (the default)"),
            SlashCommand(
                "/kick", kick, "/kick ID [code [reason]]", "close one client", complete=complete_ids
            ),
        ]

    # -- running -----------------------------------------------------------------------

    def run_repl(self) -> ExitStatus:
        """Terminal mode: the prompt sends to every client until /quit or Ctrl-D."""
        from ..repl import Repl

        repl = Repl(self.printer, self.slash_commands(), self.send_all, binary=self.binary)
        self.printer.info("lines go to every client; /help lists commands")
        repl.run()
        return ExitStatus.OK

    def run_pipe(self, null: bool) -> ExitStatus:
        """Pipe mode: stdin lines go to every client; runs until Ctrl-C or SIGTERM.

        End of input does not stop the server (``listen < /dev/null`` serves on).
        """
        read_stdin_into(self.events, self.printer, binary=self.binary, null=null)
        while True:
            try:
                event = self.events.get(timeout=1.0)
            except queue.Empty:
                continue
            if event[0] == "item":
                self.send_all(event[1])
            elif event[0] == "broken":
                return ExitStatus.OK
            elif event[0] == "output_error":
                self.printer.error(f"cannot write to stdout: {reason_of(event[1])}")
                return ExitStatus.ERROR

    def run(self, *, interactive: bool, null: bool) -> ExitStatus:
        """Serve until the user ends it; every client gets 1001 on the way out."""
        with terminate_as_interrupt():
            try:
                if interactive:
                    status = self.run_repl()
                else:
                    status = self.run_pipe(null)
            except KeyboardInterrupt:
                with contextlib.suppress(KeyboardInterrupt):
                    self.stop(1001, "")
                raise
            self.stop(1001, "")
            return status


def _quietly(send: Any, data: str | bytes) -> None:
    """Send, ignoring a client that is closing: it will be reported by its close."""
    with contextlib.suppress(Exception):
        send(data)


def format_host_port(host: str, port: int | str) -> str:
    """``host:port``, with an IPv6 address in brackets (``[::1]:8080``)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def format_address(address: Any) -> str:
    """A peer address for people: ``host:port``, ``[v6]:port``, or the Unix path."""
    if isinstance(address, tuple) and len(address) >= 2:
        return format_host_port(str(address[0]), address[1])
    return str(address or "?") if address != "" else "unix socket"


def _set_headers(given: list[tuple[str, str]], response: Headers, request: Request) -> None:
    """Put the ``-H`` headers on a response, each replacing one wscli wrote (Server, Date)."""
    for name in {name.lower() for name, _ in given}:
        del response[name]
    response.update(given)


def _subprotocol_chooser(accepted: Sequence[str]) -> Any:
    """A ``handle_protocols`` that picks our first choice among those the client offers."""

    def choose(offered: Sequence[str], request: Request) -> str | None:
        for name in accepted:
            if name in offered:
                return name
        return None

    return choose


@click.command(
    "listen",
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
    short_help="Serve WebSocket clients: REPL or pipe.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port; the address is printed to stderr).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (0.0.0.0 or :: for every interface).",
)
@click.option("--path", metavar="PATH", help="Only accept upgrades for this path (others: 400).")
@click.option(
    "-s",
    "--subprotocol",
    "subprotocols",
    multiple=True,
    metavar="NAME",
    callback=params.subprotocols_callback,
    help=(
        "Accept this subprotocol (repeatable; our first that the client offers). "
        "Without -s, none is chosen."
    ),
)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="URL",
    callback=params.origin_callback,
    help="Accept only this Origin (repeatable); others, and requests without one, get "
    "403. Default: no Origin (command-line clients) and loopback origins only.",
)
@click.option(
    "--any-origin",
    is_flag=True,
    help="Accept every Origin: any web page the user opens can then connect.",
)
@click.option(
    "--auth",
    metavar="USER:PASS|@FILE",
    envvar=params.AUTH_ENVVAR,
    show_envvar=True,
    callback=params.auth_callback,
    help="Require HTTP Basic credentials; others get 401. "
    + params.SECRET_HELP.format(envvar=params.AUTH_ENVVAR),
)
@click.option(
    "-H",
    "--header",
    "headers",
    type=params.HEADER,
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Add a header to the upgrade response (repeatable).",
)
@click.option(
    "--max-clients",
    type=click.IntRange(1),
    default=None,
    metavar="N",
    help=f"Refuse clients beyond N with 503 (with --exec: {EXEC_MAX_CLIENTS} unless given).",
)
@click.option(
    "--compression/--no-compression",
    default=False,
    show_default=True,
    help="Accept permessage-deflate.",
)
@params.max_size_option
@params.ping_interval_option("each client")
@click.option("--echo", is_flag=True, help="Send every message back to its sender.")
@click.option("--broadcast", is_flag=True, help="Relay every message to every other client.")
@params.message_output_options
@params.exec_options("Run CMD for each client: messages to its stdin, its stdout lines back.")
@click.option(
    "--replay",
    "replay_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Mock server: play the server side of recording FILE to each client.",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Mock server: answer each client from the TOML rules in FILE.",
)
@matching_options
@click.option(
    "--unordered",
    type=click.IntRange(2),
    default=None,
    metavar="N",
    hidden=True,
    help="Not for a mock (it answers in the recorded order): a `wscli replay` option.",
)
@click.option(
    "--tls-cert",
    "--cert",
    "cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve wss:// with this certificate (PEM).",
)
@click.option(
    "--tls-key",
    "--key",
    "key",
    type=click.Path(exists=True, dir_okay=False),
    help="Private key of --tls-cert, when not in the same file.",
)
@click.option(
    "--passphrase",
    metavar="TEXT|@FILE",
    is_flag=False,
    flag_value=params.PROMPT,
    envvar=params.PASSPHRASE_ENVVAR,
    show_envvar=True,
    callback=lambda ctx, param, value: params.resolve_passphrase(value),
    help="Passphrase of an encrypted --tls-key; asked for when given without a value. "
    + params.SECRET_HELP.format(envvar=params.PASSPHRASE_ENVVAR),
)
@click.option(
    "--tls-ca",
    type=click.Path(exists=True),
    help="Require client certificates signed by these CAs (PEM file or directory).",
)
@click.option(
    "--unix",
    "unix_path",
    metavar="PATH",
    help="Listen on this Unix socket instead of a TCP port (clients: ws+unix://PATH:/).",
)
@click.option(
    "--unix-mode",
    metavar="MODE",
    default="600",
    show_default=True,
    callback=lambda ctx, param, value: params.parse_mode(value),
    help="Permissions of the --unix socket, in octal (660 lets the group connect).",
)
@click.option(
    "--hixie76",
    is_flag=True,
    help="Also accept the legacy hixie-76 handshake (off by default; old clients only).",
)
@click.pass_context
def command(ctx: click.Context, /, **options: Any) -> ExitStatus:
    """Accept WebSocket clients and show what they send.

    On a terminal this opens a REPL that talks to every client; in a pipe,
    stdin lines go to every client and messages received go to stdout.
    """
    root = ctx.find_root().obj or {}
    exec_argv = params.exec_argv(options["exec_command"], options["shell"])
    if options["origins"] and options["any_origin"]:
        raise click.BadParameter("cannot be combined with --origin", param_hint="--any-origin")
    mock = _mock_setup(options, exec_argv)
    max_clients = options["max_clients"]
    if max_clients is None and exec_argv is not None:
        max_clients = EXEC_MAX_CLIENTS  # each client is a process
    server_options: dict[str, Any] = {
        "max_payload": options["max_size"],
        "per_message_deflate": options["compression"],
        "max_connections": max_clients,
        **params.keepalive_kwargs(options["ping_interval"]),
    }
    if mock is not None:
        server_options["reactor"] = mock.reactor  # the mock's timers run on it
    # Without -s the answer is none: agreeing to a subprotocol we do not speak would be
    # a promise we cannot keep (the library's default follows ws and takes the first).
    subprotocols = options["subprotocols"] or (mock.subprotocols if mock is not None else [])
    server_options["handle_protocols"] = _subprotocol_chooser(subprotocols)
    for name in ("tls_ca", "key", "passphrase"):
        if options[name] and not options["cert"]:
            flag = {"tls_ca": "--tls-ca", "key": "--tls-key", "passphrase": "--passphrase"}[name]
            raise click.BadParameter("needs --tls-cert", param_hint=flag)
    if options["cert"]:
        server_options["ssl"] = _server_tls(options)
    if options["hixie76"]:
        server_options["allow_hixie76"] = True
    if options["unix_path"]:
        server_options["unix"] = options["unix_path"]
        server_options["unix_mode"] = options["unix_mode"]
    terminal = is_terminal(sys.stdin) and is_terminal(sys.stdout)
    printer = Printer.from_options(
        interactive=terminal,
        as_json=options["as_json"],
        no_color=options["no_color"],
        binary=options["binary"],
        null=options["null"],
        show_ping_pong=options["show_ping_pong"],
        verbose=root.get("verbose", 0),
        status_lines=True,
        full=options["full"],
        threaded=True,
    )
    session = ListenSession(
        printer,
        echo=options["echo"],
        broadcast=options["broadcast"],
        exec_argv=exec_argv,
        binary=options["binary"],
        policy=AdmissionPolicy(
            origins=tuple(options["origins"]),
            any_origin=options["any_origin"],
            credentials=options["auth"],
            path=options["path"],
            max_clients=max_clients,
        ),
        mock=None
        if mock is None
        else mock.client_factory(lambda peer, data: peer.offer(data), printer.warning),
    )
    try:
        session.start(options["host"], options["port"], options["headers"], **server_options)
        if ctx.get_parameter_source("auth") is ParameterSource.ENVIRONMENT:
            # The variable a client reads its credentials from: say it is in force here.
            printer.notice(
                f"clients must send HTTP Basic credentials: --auth from ${params.AUTH_ENVVAR}"
            )
        return session.run(interactive=terminal, null=options["null"])
    finally:
        printer.close()
        if mock is not None:
            mock.reactor.stop()


def _mock_setup(options: dict[str, Any], exec_argv: Any) -> Any:
    """For ``--replay``/``--rules``: the checked :class:`~wscli.mock.MockSetup`, else ``None``.

    The file is read and checked here, so its errors are usage errors (status 2) that
    name the line, before anything listens.
    """
    if options["unordered"] is not None:
        # A mock answers each client in the recorded order; accepting the option and
        # ignoring it would promise a leniency the mock does not have.
        raise click.BadParameter(
            "is a `wscli replay` option: a mock answers in the recorded order",
            param_hint="--unordered",
        )
    replay_file, rules_file = options["replay_file"], options["rules_file"]
    if replay_file is None and rules_file is None:
        return None
    if replay_file is not None and rules_file is not None:
        raise click.BadParameter("cannot be combined with --rules", param_hint="--replay")
    for flag, name in (("--echo", "echo"), ("--broadcast", "broadcast")):
        if options[name]:
            raise click.BadParameter(
                f"cannot be combined with {flag}", param_hint="--replay/--rules"
            )
    if exec_argv is not None:
        raise click.BadParameter("cannot be combined with --exec", param_hint="--replay/--rules")
    from ..matching import Matcher
    from ..mock import MockSetup
    from ..recording import RecordingError
    from ..rules import RulesError

    try:
        return MockSetup(
            replay_file=replay_file,
            rules_file=rules_file,
            matcher=Matcher(options["ignore_json"], options["ignore_regex"]),
            speed=options["speed"],
            no_delay=options["no_delay"],
        )
    except (OSError, RecordingError, RulesError, StopIteration) as exc:
        raise click.UsageError(str(exc) or f"{replay_file}: empty") from None


def _server_tls(options: dict[str, Any]) -> Any:
    """The TLS context for ``--tls-cert``: a usage error (exit 2) when it cannot be loaded.

    A missing passphrase is passed as an empty one, so OpenSSL never prompts on the
    terminal by itself; a wrong one says so instead of OpenSSL's "pem lib".
    """
    from ..core.sync.tls import server_ssl_context

    passphrase = options["passphrase"]
    try:
        return server_ssl_context(
            options["cert"],
            options["key"],
            passphrase=passphrase if passphrase is not None else "",
            ca=options["tls_ca"],
        )
    except (OSError, ValueError, ssl.SSLError) as exc:
        text = str(exc)
        if any(word in text.lower() for word in ("pem lib", "bad decrypt", "passphrase")):
            if passphrase is None:
                text = "the private key is encrypted: give --passphrase (alone to be asked)"
            else:
                text = "wrong --passphrase for the private key, or a key of another certificate"
        raise click.BadParameter(text, param_hint="--tls-cert") from exc
