"""Click types and options shared by the wscli commands, so a flag means the same everywhere.

Each ``*_option`` below is a decorator; :func:`client_options` stacks every option that
shapes an outgoing connection (headers, subprotocols, origin, timeouts, size limit,
compression, TLS, proxy, redirects) and :func:`client_kwargs` turns their values into
keyword arguments for :func:`wscli.connect`. Commands that open connections (``connect``,
``ping``, ``bench``) use both, so ``wscli ping -H 'X-Token: 1' --ca ca.pem URL`` behaves
as ``wscli connect`` would.

Values are parsed here, once: ``16MiB`` and ``500ms`` become bytes and seconds before a
command runs, and a bad value is a usage error (exit status 2) that names the flag.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import shlex
import shutil
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from .exitcodes import reason_of

__all__ = [
    "Size",
    "Duration",
    "HeaderType",
    "CloseCodeType",
    "SIZE",
    "DURATION",
    "HEADER",
    "CLOSE_CODE",
    "parse_size",
    "parse_duration",
    "parse_header",
    "parse_auth",
    "read_secret",
    "warn_no_check",
    "parse_mode",
    "auth_callback",
    "subprotocols_callback",
    "origin_callback",
    "resolve_passphrase",
    "AUTH_ENVVAR",
    "PASSPHRASE_ENVVAR",
    "SECRET_HELP",
    "basic_authorization",
    "decode_binary",
    "encode_binary",
    "format_size",
    "format_duration",
    "header_option",
    "subprotocol_option",
    "origin_option",
    "open_timeout_option",
    "max_size_option",
    "compression_option",
    "json_option",
    "binary_option",
    "no_color_option",
    "tls_options",
    "proxy_option",
    "redirect_options",
    "client_options",
    "full_option",
    "null_option",
    "show_ping_pong_option",
    "message_output_options",
    "ping_interval_option",
    "keepalive_kwargs",
    "exec_options",
    "close_reason_callback",
    "exec_argv",
    "command_argv",
    "client_kwargs",
]

F = TypeVar("F", bound=Callable[..., Any])

# -- values ------------------------------------------------------------------------------

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_UNLIMITED = ("0", "none", "unlimited", "inf")

_DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")
_FOREVER = ("-1", "inf", "forever", "never")


def read_secret(value: str, option: str) -> str:
    """Return ``value``, or the first line of the file ``@PATH`` names.

    Secrets given on the command line are visible to every user through ``ps``; a
    file (or the option's environment variable) keeps them out of it.

    Raises:
        click.BadParameter: the file cannot be read.
    """
    if not value.startswith("@"):
        return value
    path = value[1:]
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(
            f"cannot read {path}: {reason_of(exc)}", param_hint=option
        ) from exc
    return text.splitlines()[0] if text else ""


def auth_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """Click callback for ``--auth USER:PASS``, ``@FILE`` or ``$WSCLI_AUTH``: the pair."""
    if value is None:
        return None
    try:
        return parse_auth(read_secret(value, "--auth"))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


#: Where ``--auth`` and ``--passphrase`` are read from when not given.
AUTH_ENVVAR = "WSCLI_AUTH"
PASSPHRASE_ENVVAR = "WSCLI_PASSPHRASE"
#: The advice every secret-taking option repeats.
SECRET_HELP = "Prefer @FILE or ${envvar}: a command line is visible to other users (ps)."

#: What ``--passphrase`` holds when given without a value: ask on the terminal.
PROMPT = "\x00prompt"


def resolve_passphrase(value: str | None) -> str | None:
    """Ask for the passphrase (without echo) when ``--passphrase`` came without a value;
    read it from the file ``@PATH`` names."""
    if value is None:
        return None
    if value != PROMPT:
        return read_secret(value, "--passphrase")
    return str(click.prompt("Passphrase", hide_input=True, err=True))


def parse_mode(text: str) -> int:
    """Parse an octal permission mode such as ``600`` or ``0o660``.

    Raises:
        click.BadParameter: not an octal number from 0 to 777.
    """
    digits = text.strip().lower().removeprefix("0o")
    try:
        mode = int(digits, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise click.BadParameter(f"{text!r} is not an octal mode such as 600 or 660")
    return mode


def subprotocols_callback(
    ctx: click.Context, param: click.Parameter, value: Sequence[str]
) -> Sequence[str]:
    """Click callback: every subprotocol is a token (RFC 6455 §4.1), else a usage error."""
    from .core.headers import check_subprotocol

    for name in value:
        try:
            check_subprotocol(name)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


def origin_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Click callback: an Origin (or each of several) is a serialized origin, or ``null``."""
    from .core.headers import check_origin

    for origin in [value] if isinstance(value, str) else value or ():
        try:
            check_origin(origin)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


def parse_size(text: str, *, allow_unlimited: bool = False) -> int | None:
    """Parse a byte count such as ``1048576``, ``64k``, ``16MiB`` or ``1.5MB``.

    Decimal units (k, MB) are powers of 1000 and binary units (KiB, MiB) powers of 1024,
    as in ``ls --si`` and ``ls -h``; a bare number is bytes.

    Args:
        text: what the user typed.
        allow_unlimited: accept ``0``/``none``/``unlimited`` and return ``None``.

    Raises:
        ValueError: the text is not a size.
    """
    if allow_unlimited and text.strip().lower() in _UNLIMITED:
        return None
    match = _SIZE_RE.fullmatch(text)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size (examples: 1024, 64k, 16MiB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def parse_duration(text: str, *, allow_forever: bool = False) -> float:
    """Parse a duration such as ``2``, ``2s``, ``500ms``, ``1.5m`` or ``1h`` into seconds.

    Args:
        text: what the user typed; a bare number is seconds.
        allow_forever: accept ``-1``/``inf``/``forever`` and return ``math.inf``.

    Raises:
        ValueError: the text is not a duration.
    """
    if allow_forever and text.strip().lower() in _FOREVER:
        return math.inf
    match = _DURATION_RE.fullmatch(text.lower())
    if not match or match.group(2) not in _DURATION_UNITS:
        raise ValueError(f"{text!r} is not a duration (examples: 2, 2s, 500ms, 1m)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


_TOKEN_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")


def parse_header(text: str) -> tuple[str, str]:
    """Parse ``Name: value`` (curl's spelling) into a pair.

    Raises:
        ValueError: no colon, the name is not an HTTP token, or the value holds a
            control character (the library's one header rule, checked up front).
    """
    from .core.headers import check_header

    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not _TOKEN_RE.fullmatch(name):
        raise ValueError(f"{text!r} is not a header; write it as 'Name: value'")
    value = value.strip(" \t")
    check_header(name, value)
    return name, value


def parse_auth(text: str) -> tuple[str, str]:
    """Parse ``user:pass`` for HTTP Basic authentication.

    Raises:
        ValueError: there is no colon.
    """
    user, sep, password = text.partition(":")
    if not sep:
        raise ValueError("write credentials as user:pass")
    return user, password


def basic_authorization(user: str, password: str) -> str:
    """Return the ``Authorization`` header value for HTTP Basic (RFC 7617)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


def decode_binary(text: str, encoding: str) -> bytes:
    """Decode one line of ``hex`` (spaces allowed) or ``base64`` into bytes.

    Raises:
        ValueError: the line is not valid in that encoding.
    """
    try:
        if encoding == "hex":
            return bytes.fromhex("".join(text.split()))
        return base64.b64decode("".join(text.split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not valid {encoding}: {text[:40]!r}") from exc


def encode_binary(data: bytes, encoding: str) -> str:
    """Encode bytes as one line of ``hex`` or ``base64``."""
    if encoding == "hex":
        return data.hex()
    return base64.b64encode(data).decode()


def format_size(size: float) -> str:
    """Format a byte count for people: ``512 B``, ``1.5 KiB``, ``16.0 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(seconds: float) -> str:
    """Format seconds for people: ``420 µs``, ``3.2 ms``, ``1.50 s``, ``2m05s``."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# -- click types -------------------------------------------------------------------------


class Size(click.ParamType[Any]):
    """A byte count with an optional unit: ``1024``, ``64k``, ``16MiB``.

    Args:
        allow_unlimited: accept ``0``/``unlimited``, converted to ``None``.
    """

    name = "size"

    def __init__(self, allow_unlimited: bool = False) -> None:
        self.allow_unlimited = allow_unlimited

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, int):
            return value
        try:
            return parse_size(str(value), allow_unlimited=self.allow_unlimited)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Duration(click.ParamType[Any]):
    """Seconds, with an optional unit: ``2``, ``2s``, ``500ms``, ``1m``.

    Args:
        allow_forever: accept ``-1``/``inf``/``forever``, converted to ``math.inf``.
    """

    name = "duration"

    def __init__(self, allow_forever: bool = False) -> None:
        self.allow_forever = allow_forever

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        try:
            return parse_duration(str(value), allow_forever=self.allow_forever)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class HeaderType(click.ParamType[Any]):
    """An HTTP header written ``Name: value``; converts to a ``(name, value)`` pair."""

    name = "header"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return parse_header(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class CloseCodeType(click.ParamType[Any]):
    """A close code that may be sent: 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 §7.4)."""

    name = "code"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from .core.frames import close_code_is_valid

        try:
            code = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a close code", param, ctx)
        if not close_code_is_valid(code):
            self.fail(f"{code} may not be sent (use 1000-1003, 1007-1014 or 3000-4999)", param, ctx)
        return code


SIZE = Size()
DURATION = Duration()
HEADER = HeaderType()
CLOSE_CODE = CloseCodeType()


# -- options -----------------------------------------------------------------------------


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Apply decorators so that ``--help`` lists them in the order given."""

    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


header_option = click.option(
    "-H",
    "--header",
    "headers",
    type=HEADER,
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Add a request header (repeatable).",
)
subprotocol_option = click.option(
    "-s",
    "--subprotocol",
    "subprotocols",
    multiple=True,
    metavar="NAME",
    callback=subprotocols_callback,
    help="Offer a subprotocol (repeatable, in order of preference).",
)
origin_option = click.option(
    "-o",
    "--origin",
    metavar="URL",
    callback=origin_callback,
    help="Send this Origin header (scheme://host[:port]).",
)
open_timeout_option = click.option(
    "--open-timeout",
    type=DURATION,
    default="10s",
    show_default=True,
    help="Time allowed for DNS, TCP, TLS and the upgrade together.",
)
max_size_option = click.option(
    "--max-size",
    type=Size(allow_unlimited=True),
    default="16MiB",
    show_default=True,
    help="Largest message accepted (0 for no limit); bigger ones close with 1009.",
)
compression_option = click.option(
    "--compression/--no-compression",
    default=None,
    help="Negotiate permessage-deflate (the client offers it by default).",
)
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Write one JSON object per event to stdout, for jq.",
)
binary_option = click.option(
    "--binary",
    type=click.Choice(["hex", "base64"]),
    default=None,
    help="Read and write binary messages as lines of hex or base64.",
)
no_color_option = click.option(
    "--no-color", is_flag=True, help="No colours (NO_COLOR in the environment works too)."
)
tls_options = _stack(
    click.option(
        "--ca",
        type=click.Path(exists=True, dir_okay=False),
        help="Trust the certificates in this PEM file (wss://).",
    ),
    click.option(
        "--cert",
        type=click.Path(exists=True, dir_okay=False),
        help="Client certificate (PEM), for servers that ask for one.",
    ),
    click.option(
        "--key",
        type=click.Path(exists=True, dir_okay=False),
        help="Private key of --cert, when not in the same file.",
    ),
    click.option(
        "--passphrase",
        metavar="TEXT|@FILE",
        is_flag=False,
        flag_value=PROMPT,
        envvar=PASSPHRASE_ENVVAR,
        show_envvar=True,
        callback=lambda ctx, param, value: resolve_passphrase(value),
        help="Passphrase of an encrypted --key; asked for when given without a value. "
        + SECRET_HELP.format(envvar=PASSPHRASE_ENVVAR),
    ),
    click.option(
        "-n",
        "--no-check",
        is_flag=True,
        help="Do not verify the server certificate (insecure; for testing). Warns on stderr.",
    ),
    click.option("--sni", metavar="NAME", help="Server name for SNI and the certificate check."),
)
proxy_option = click.option(
    "--proxy",
    metavar="URL",
    help="Connect through a proxy: http://host:3128 (CONNECT), socks5://host:1080 "
    "(resolves the server's name here, so DNS does not go through the proxy) or "
    "socks5h://host:1080 (the proxy resolves it). user:pass@ is never shown in messages. "
    "Default: HTTPS_PROXY/HTTP_PROXY/ALL_PROXY, minus NO_PROXY.",
)
redirect_options = _stack(
    click.option(
        "-L",
        "--location",
        is_flag=True,
        help="Follow HTTP redirects answered to the upgrade request.",
    ),
    click.option(
        "--max-redirects",
        type=click.IntRange(0),
        default=10,
        show_default=True,
        help="Redirects to follow with -L.",
    ),
    click.option(
        "--location-trusted",
        is_flag=True,
        help="With -L, send headers, subprotocols, Origin and TLS options to another "
        "origin too (by default they stay with the first).",
    ),
    click.option(
        "--allow-insecure-redirect",
        is_flag=True,
        help="With -L, follow a redirect from wss:// to cleartext ws:// (refused by default).",
    ),
)

#: Every option that shapes an outgoing connection; read them back with client_kwargs().
client_options = _stack(
    header_option,
    subprotocol_option,
    origin_option,
    open_timeout_option,
    max_size_option,
    compression_option,
    tls_options,
    proxy_option,
    redirect_options,
)


full_option = click.option(
    "--full",
    is_flag=True,
    help="On a terminal, show long messages whole (they are cut at 8192 characters).",
)


null_option = click.option(
    "--null", is_flag=True, help="Messages end with NUL instead of a newline, both ways."
)
show_ping_pong_option = click.option(
    "-P", "--show-ping-pong", is_flag=True, help="Show ping and pong frames."
)
#: How messages are shown and read, the same for ``connect`` and ``listen``.
message_output_options = _stack(
    json_option, binary_option, null_option, full_option, no_color_option, show_ping_pong_option
)


def ping_interval_option(whom: str) -> Callable[[F], F]:
    """``--ping-interval``: keepalive pings to ``whom``; read back with keepalive_kwargs()."""
    return click.option(
        "--ping-interval",
        type=DURATION,
        default=None,
        help=f"Ping {whom} this often; close with 1011 if its pong is late.",
    )


def keepalive_kwargs(interval: float | None) -> dict[str, Any]:
    """Library arguments for ``--ping-interval``: the pong may take one interval."""
    if interval is None:
        return {}
    return {"ping_interval": interval, "ping_timeout": interval}


def exec_options(what: str) -> Callable[[F], F]:
    """``--exec CMD`` and ``--shell``; read back with :func:`exec_argv`."""
    return _stack(
        click.option("--exec", "exec_command", metavar="CMD", help=what),
        click.option("--shell", is_flag=True, help="Run the --exec command through /bin/sh."),
    )


def close_reason_callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Click callback: a close reason fits a control frame (123 bytes, RFC 6455 §5.5)."""
    size = len(value.encode("utf-8", "surrogateescape"))
    if size > 123:
        raise click.BadParameter(f"is {size} bytes of UTF-8; a close reason holds at most 123")
    return value


def exec_argv(command: str | None, shell: bool) -> list[str] | str | None:
    """What ``--exec CMD`` (with ``--shell``) runs, or ``None`` without ``--exec``.

    Raises:
        click.BadParameter: the command cannot be parsed or found, or ``--shell`` was
            given without ``--exec``.
    """
    if command is None:
        if shell:
            raise click.BadParameter("needs --exec", param_hint="--shell")
        return None
    try:
        return command_argv(command, shell)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--exec") from exc


def command_argv(command: str, shell: bool) -> list[str] | str:
    """Return what ``Popen`` runs: argv (no shell), or the string for ``/bin/sh -c``.

    Raises:
        ValueError: the command is empty, unbalanced, or its program cannot be found.
    """
    if shell:
        if not command.strip():
            raise ValueError("the --exec command is empty")
        return command
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot parse the --exec command: {exc}") from exc
    if not argv:
        raise ValueError("the --exec command is empty")
    if shutil.which(argv[0]) is None:
        raise ValueError(f"command not found: {argv[0]}")
    return argv


# -- from options to library arguments -----------------------------------------------------


def client_kwargs(
    *,
    headers: Sequence[tuple[str, str]] = (),
    subprotocols: Sequence[str] = (),
    origin: str | None = None,
    open_timeout: float | None = 10.0,
    max_size: int | None = 16 * 2**20,
    compression: bool | None = None,
    ca: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    passphrase: str | None = None,
    no_check: bool = False,
    sni: str | None = None,
    proxy: str | None = None,
    location: bool = False,
    max_redirects: int = 10,
    location_trusted: bool = False,
    allow_insecure_redirect: bool = False,
    **_ignored: Any,
) -> dict[str, Any]:
    """Turn the values of :func:`client_options` into ``wscli.connect`` keyword arguments.

    Takes a command's whole ``**params`` (unknown keys are ignored), so a command can
    write ``wscli.connect(url, **client_kwargs(**params))``. TLS files, the proxy and
    redirects are the library's own arguments: it loads and checks them (a file that
    cannot be used is a ``ValueError``, which the CLI reports as a usage error).
    """
    kwargs: dict[str, Any] = {
        "headers": list(headers),
        "open_timeout": open_timeout,
        "max_payload": max_size,
    }
    if subprotocols:
        kwargs["protocols"] = list(subprotocols)
    if origin is not None:
        kwargs["origin"] = origin
    if compression is not None:
        kwargs["per_message_deflate"] = compression
    tls = (("ca", ca), ("cert", cert), ("key", key), ("passphrase", passphrase))
    kwargs.update((name, value) for name, value in tls if value is not None)
    if no_check:
        kwargs["reject_unauthorized"] = False
    if sni:
        kwargs["servername"] = sni
    if proxy:
        kwargs["proxy"] = proxy
    if location:
        kwargs["follow_redirects"] = True
        kwargs["max_redirects"] = max_redirects
        kwargs["location_trusted"] = location_trusted
        kwargs["allow_insecure_redirect"] = allow_insecure_redirect
    if no_check:
        warn_no_check()
    return kwargs


def warn_no_check() -> None:
    """Say once, on stderr, that ``-n/--no-check`` turned certificate checks off.

    Stderr only: ``--json`` output on stdout stays machine-readable.
    """
    click.echo(
        "wscli: warning: -n/--no-check: the server's certificate and name are not checked",
        err=True,
    )
