"""Output folders a user names on the command line: made with ``mkdir -p`` or refused in one line.

Light on purpose (no torch): ``ppbench report`` uses it too.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError

__all__ = ["check_folder_path", "make_folder", "missing_folders"]


def missing_folders(path: Path) -> list[Path]:
    """``path`` and those of its ancestors that do not exist yet, innermost first."""
    missing = []
    for folder in (Path(path), *Path(path).parents):
        if folder.exists() or folder.is_symlink():
            break
        missing.append(folder)
    return missing


def check_folder_path(path: Path, flag: str) -> Path:
    """InputError if ``path`` or the nearest of its existing ancestors is a file (no folder can be made there)."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            where = f"{folder} is a file" if folder == path else f"cannot create {path}: {folder} is a file"
            raise InputError(f"{where}, not a folder; pass {flag} a folder (a new or an existing one)")
        if folder.exists():
            break
    return path


def make_folder(path: Path, flag: str) -> Path:
    """``mkdir -p path``; an :class:`InputError` naming the folder, why, and ``flag`` if it cannot be made."""
    path = check_folder_path(path, flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {path} ({exc.strerror or exc.__class__.__name__}); pass {flag} a folder "
                         "you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {path} (permission denied); pass {flag} a folder you can write to")
    return path
