"""Files that carry their own SHA-256: ``torch.save`` plus a checksum trailer, verified before loading.

Checkpoints of runs and of attacks use it, so a flipped byte or a truncated file is refused with the
file's name and the fix instead of resuming into NaN.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .errors import CheckpointError

__all__ = ["save_checked", "load_checked", "CHECKSUM_MAGIC", "CHECKSUM_TRAILER_BYTES"]

CHECKSUM_MAGIC = b"\nppbench-sha256:"
CHECKSUM_TRAILER_BYTES = len(CHECKSUM_MAGIC) + 64 + 1  # magic, 64 hex digits, newline


def save_checked(obj: Any, path: str | Path) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically, followed by a trailer with the SHA-256 of those bytes.

    ``torch.load`` ignores the trailer (a zip archive may carry trailing bytes), so plain tools still read
    the file; :func:`load_checked` verifies it first.
    """
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        digest = hashlib.sha256()
        with open(tmp, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        with open(tmp, "ab") as handle:
            handle.write(CHECKSUM_MAGIC + digest.hexdigest().encode("ascii") + b"\n")
    return Path(path)


def load_checked(path: str | Path, fix: str) -> Any:
    """Verify the SHA-256 trailer written by :func:`save_checked`, then ``torch.load`` (``weights_only``).

    CheckpointError naming ``path`` and ``fix`` for a missing trailer, a checksum that does not match
    (a changed or truncated file), or bytes torch cannot read; FileNotFoundError passes through.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < CHECKSUM_TRAILER_BYTES:
            raise CheckpointError(f"checkpoint {path} is corrupt (truncated to {size} bytes); {fix}")
        handle.seek(size - CHECKSUM_TRAILER_BYTES)
        trailer = handle.read()
        if not trailer.startswith(CHECKSUM_MAGIC) or not trailer.endswith(b"\n"):
            raise CheckpointError(f"checkpoint {path} is corrupt or was written by a ppbench without checksums (it "
                                  f"has no SHA-256 trailer); {fix}")
        expected = trailer[len(CHECKSUM_MAGIC):-1].decode("ascii", "replace")
        handle.seek(0)
        digest, left = hashlib.sha256(), size - CHECKSUM_TRAILER_BYTES
        while left:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    if left or digest.hexdigest() != expected:
        raise CheckpointError(f"checkpoint {path} is corrupt (its SHA-256 does not match the one saved with it); "
                              f"{fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({exc.__class__.__name__}); {fix}") from None
