"""Listening on a Unix socket without exposing it or destroying what was there.

Two rules, each against a real mistake:

* **Permissions do not follow the umask.** A socket file is created with the process's
  umask, so under ``umask 000`` anyone on the machine could connect. The socket is
  bound under a temporary name inside a fresh directory only its owner can enter, given
  its mode (``0600`` by default), and only then linked to the requested path, so it
  never exists there with a wider mode, not even for an instant. ``link()`` also refuses
  to replace a path that appeared in the meantime.
* **Only a stale socket is ever removed.** An existing path is removed only when it is
  a socket (not a symbolic link to one, not a regular file) and nothing answers on it:
  a dead server's leftover. A live socket, a file, a directory or a link is refused.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile

__all__ = ["bind_unix_listener", "DEFAULT_UNIX_MODE"]

#: Mode of a listening Unix socket unless the caller says otherwise: owner only.
DEFAULT_UNIX_MODE = 0o600


def _remove_stale(path: str) -> None:
    """Remove ``path`` if it is a socket nobody listens on; refuse anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise FileExistsError(f"{path} exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: a dead server's leftover
    else:
        raise OSError(f"{path} is in use by another server")
    finally:
        probe.close()


def _bind_short(sock: socket.socket, directory: str, temporary: str) -> None:
    """Bind ``sock`` to ``temporary`` (in ``directory``), even when that name is too long.

    The private directory's name adds a few bytes to the path, which may then no longer
    fit in ``sun_path`` (about 107 bytes) although the path itself does. Linux names any
    open directory by a short ``/proc/self/fd/N``, so the bind goes through that.

    Raises:
        OSError: neither name can be bound.
    """
    try:
        sock.bind(temporary)
        return
    except OSError:
        if not os.path.isdir("/proc/self/fd"):
            raise
    handle = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        sock.bind(f"/proc/self/fd/{handle}/{os.path.basename(temporary)}")
    finally:
        os.close(handle)


def bind_unix_listener(path: str, *, mode: int = DEFAULT_UNIX_MODE, backlog: int) -> socket.socket:
    """Bind and listen on the Unix socket ``path`` with permissions ``mode``.

    Args:
        path: where the socket file goes.
        mode: its permission bits (``0o600``: only this user may connect; ``0o660``
            adds the group).
        backlog: the listen queue length.

    Returns:
        A listening socket.

    Raises:
        FileExistsError: ``path`` exists and is not a stale socket.
        OSError: ``path`` is in use by a live server, or binding failed.
    """
    if not 0 <= mode <= 0o777:
        raise ValueError(f"unix socket mode {mode:#o} is not a permission mode (0 to 0o777)")
    _remove_stale(path)
    directory = tempfile.mkdtemp(prefix=".ws", dir=os.path.dirname(os.path.abspath(path)))
    temporary = os.path.join(directory, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    placed = False
    try:
        try:
            _bind_short(sock, directory, temporary)
        except OSError:
            # No short name for the private directory (no /proc): bind in place, then
            # narrow the mode at once.
            sock.bind(path)
            placed = True
            os.chmod(path, mode)
        else:
            os.chmod(temporary, mode)
            os.link(temporary, path)  # never replaces: FileExistsError if taken
            placed = True
        sock.listen(backlog)
    except BaseException:
        sock.close()
        if placed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        with contextlib.suppress(OSError):
            os.rmdir(directory)
    return sock
