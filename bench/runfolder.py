"""A run folder's lock (one process per folder), its ``run.log`` and its key file (``key.json``)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .errors import CheckpointError, PPBenchError
from .keys import SchemeKey
from .train import load_checked

__all__ = ["RunLockedError", "run_lock", "log_to", "run_key", "CHECKPOINT_FILE", "KEY_FILE", "LOCK_FILE", "LOG_FILE"]

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
KEY_FILE = "key.json"
LOG_FILE = "run.log"
LOCK_FILE = ".lock"


class RunLockedError(PPBenchError):
    """Another live process holds the run folder's lock."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` (created with O_EXCL); a lock left by a dead process on this host is taken over."""
    path = run_dir / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(timezone.utc).isoformat()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read_lock(path)
            if _lock_is_stale(owner, path):
                log.warning("taking over the stale lock %s (process %s is gone)", path, owner.get("pid"))
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            raise RunLockedError(
                f"run folder {run_dir} is in use by process {owner.get('pid')} on {owner.get('host')} (since "
                f"{owner.get('since')}); wait for it to finish, or delete {path} if that process is gone") from None
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        break
    else:  # pragma: no cover - three lost races in a row
        raise RunLockedError(f"could not take the lock {path}; try again")
    try:
        yield
    finally:
        if _read_lock(path) == me:  # never remove a lock another process has taken over meanwhile
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _lock_is_stale(owner: dict[str, Any], path: Path) -> bool:
    if not owner:  # empty or unreadable: its writer died between create and write
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime > 30
        return True
    return owner.get("host") == socket.gethostname() and not _pid_alive(int(owner.get("pid", -1)))


@contextlib.contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Copy ppbench's log messages (INFO and up) into the run folder's ``run.log`` while the run lasts."""
    logger = logging.getLogger("ppbench")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    thread = threading.get_ident()  # only this run's messages, even if another run shares the process
    handler.addFilter(lambda rec: rec.thread == thread)
    old_level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(old_level)


def run_key(run_dir: Path, scheme: str, *, image_size: int, block_size: int | None, key: str | None,
            record: dict[str, Any] | None) -> SchemeKey:
    """The run's key: ``--key FILE`` (copied into the folder), the folder's ``key.json``, or a fresh one saved
    there; a key that would not match the folder's record or checkpoint is refused."""
    from .schemes import generate_key

    path = run_dir / KEY_FILE
    if key is not None:
        given = SchemeKey.load(key)
        if not path.exists():
            given.save(path)
        elif SchemeKey.load(path).key_id != given.key_id:
            raise CheckpointError(f"{path} holds another key than --key {key}; this folder belongs to that "
                                  "key: restore it or remove the folder")
        return given
    if path.exists():
        return SchemeKey.load(path)
    known = (record or {}).get("scheme", {}).get("key_id")
    if known:
        raise CheckpointError(f"{path} is missing but the run's record names key {known}; restore the key "
                              "file or rerun with --force (a new key)")
    checkpoint = run_dir / CHECKPOINT_FILE
    if checkpoint.exists():  # never train on under a fresh key from a checkpoint made under the old one
        payload = load_checked(checkpoint, f"delete {checkpoint} to restart this run, or rerun with --force")
        made_under = payload.get("key_id") if isinstance(payload, dict) else None
        raise CheckpointError(f"{path} is missing but {checkpoint} was trained under key {made_under}; "
                              f"restore that key file, or delete {checkpoint} (or rerun with --force) to "
                              "start over with a fresh key")
    fresh = generate_key(scheme, image_size=image_size, block_size=block_size)
    fresh.save(path)
    log.info("generated a fresh key %s -> %s (mode 0600)", fresh.key_id, path)
    return fresh
