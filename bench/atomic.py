"""Atomic file writes (temp file in the same folder, fsync, rename) so nothing is ever half-written.

An *exclusive* write creates its target only if nothing is there yet, as one atomic step: of several
processes creating one path at the same moment exactly one succeeds and the others get
``FileExistsError`` (never exists()-then-rename). Temporary files and staging folders are named
``.<target name>.ppbench-<kind>.<host>.<pid>.<random>``, so a later run can recognise the leftovers of
a process that was killed (``kill -9``) and remove them: :func:`remove_stale`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
_LEFTOVER = re.compile(r"\.ppbench-(?:tmp|staging)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_-]+(?:\.tmp)?$")


def _prefix(target: Path, kind: str) -> str:
    return f".{target.name}.ppbench-{kind}.{_HOST}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (assumed alive where that cannot be asked safely)."""
    if os.name != "posix":  # os.kill on Windows terminates the process: never probe there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def remove_stale(target: str | os.PathLike) -> list[Path]:
    """Remove temp files and staging folders of ``target`` left by dead processes on this host; returns them."""
    target = Path(target)
    removed: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    head = f".{target.name}."
    for entry in entries:
        if not entry.name.startswith(head):
            continue
        match = _LEFTOVER.fullmatch(entry.name[len(head) - 1 :])
        if not match or match["host"] != _HOST or _pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def make_staging_dir(target: str | os.PathLike) -> Path:
    """A fresh, private staging folder beside ``target`` (same file system, so it can be renamed onto it)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / (_prefix(target, "staging") + secrets.token_hex(6))
    staging.mkdir(mode=0o700)
    return staging


def _umask_mode() -> int:
    """The mode an ordinary new file gets (0o666 less the umask): mkstemp's 0o600 is for the temp file only."""
    current = os.umask(0o022)
    os.umask(current)
    return 0o666 & ~current


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every OS lets a folder be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _renameat2_noreplace(src: Path, dst: Path) -> bool:
    """Linux ``renameat2(RENAME_NOREPLACE)``; False where the kernel, libc or file system lacks it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def rename_exclusive(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Rename file or folder ``src`` to ``dst`` atomically, never replacing anything: ``FileExistsError`` if taken.

    Plain ``os.rename`` silently replaces an existing file, and on POSIX an existing *empty* folder.
    """
    src, dst = Path(src), Path(dst)
    if _renameat2_noreplace(src, dst):
        return
    if os.name == "nt":  # Windows' rename never replaces
        os.rename(src, dst)
        return
    if src.is_dir():
        os.mkdir(dst)  # the claim: exactly one process can make it
        try:
            os.rename(src, dst)  # replaces our own empty claim
        except BaseException:
            with contextlib.suppress(OSError):
                os.rmdir(dst)
            raise
        return
    try:
        os.link(src, dst)  # fails if dst exists
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: claim with O_EXCL, then replace the claim
        os.close(os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.replace(src, dst)
        return
    os.unlink(src)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int | None = None, *, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, else delete it.

    ``mode`` (e.g. ``0o600`` for key files) is applied before the move, so the final file is never
    visible with looser permissions; without it the file gets the usual mode (0o666 less the umask). ``exclusive``: create ``path`` only if it does not exist yet
    (``FileExistsError`` otherwise, with nothing written), atomically even against concurrent writers.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_prefix(target, "tmp"), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _umask_mode() if mode is None else mode)
        if exclusive:
            rename_exclusive(tmp, target)
        else:
            os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None, *, exclusive: bool = False) -> None:
    with atomic_path(path, mode, exclusive=exclusive) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, mode: int | None = None, *, exclusive: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode, exclusive=exclusive)


def atomic_write_json(path: str | os.PathLike, obj: Any, mode: int | None = None, *, exclusive: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n", mode, exclusive=exclusive)
