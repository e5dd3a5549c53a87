"""Unix socket listeners: owner-only permissions whatever the umask, and nothing but a
stale socket is ever removed to make room."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import TIMEOUT
from tlshelpers import running_server

from wscli.core.sync.server import Server
from wscli.core.sync.websocket import connect

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")


@pytest.fixture
def sock_dir(tmp_path: Path) -> Iterator[Path]:
    # Unix socket paths are limited to about 100 bytes; pytest's tmp_path may be long.
    if len(str(tmp_path)) <= 60:
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="wsu", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_socket_is_owner_only_under_umask_000(sock_dir: Path, open_umask: None) -> None:
    path = sock_dir / "s.sock"
    with running_server(unix=str(path)):
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert mode_of(path) == 0o600
        with connect(f"ws+unix://{path}:/", open_timeout=TIMEOUT) as ws:
            ws.send("x")
            assert ws.recv(timeout=TIMEOUT) == "x"
    assert not path.exists()
    assert sorted(os.listdir(sock_dir)) == []  # no temporary directory left behind


def test_unix_mode_is_what_the_caller_asks(sock_dir: Path, open_umask: None) -> None:
    path = sock_dir / "g.sock"
    with running_server(unix=str(path), unix_mode=0o660):
        assert mode_of(path) == 0o660


def test_unix_mode_out_of_range_is_refused(sock_dir: Path) -> None:
    with pytest.raises(ValueError, match="not a permission mode"):
        Server(unix=str(sock_dir / "x.sock"), unix_mode=0o10000)


def test_symlink_to_a_stale_socket_is_refused_not_unlinked(sock_dir: Path) -> None:
    stale = sock_dir / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(stale))
    leftover.close()
    link = sock_dir / "link.sock"
    link.symlink_to(stale)
    with pytest.raises(FileExistsError, match="is not a socket"):
        Server(unix=str(link))
    assert link.is_symlink() and stale.exists()


def test_directory_is_refused_not_removed(sock_dir: Path) -> None:
    directory = sock_dir / "d"
    directory.mkdir()
    (directory / "keep").write_text("x")
    with pytest.raises(FileExistsError, match="is not a socket"):
        Server(unix=str(directory))
    assert (directory / "keep").read_text() == "x"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_path_near_the_length_limit_is_never_bound_in_place(
    sock_dir: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path that fits sun_path while the private temporary name next to it does not."""
    from wscli.core.sync import unix

    deep = sock_dir / ("d" * (96 - len(str(sock_dir))))
    deep.mkdir()
    path = deep / "s.sock"
    assert len(str(path)) == 104  # sun_path holds 107 bytes and a NUL
    chmodded: list[str] = []
    real_chmod = os.chmod

    def chmod(target: str, mode: int) -> None:
        chmodded.append(str(target))
        real_chmod(target, mode)

    monkeypatch.setattr(unix.os, "chmod", chmod)
    with running_server(unix=str(path)):
        assert mode_of(path) == 0o600
    # Binding in place would create the socket with the umask's mode first.
    assert str(path) not in chmodded
