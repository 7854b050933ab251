"""Provenance of a result: versions, git commit, device. Every lookup has a fallback and never raises."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import torch

from . import __version__

__all__ = ["environment", "git_info", "device_name", "resolve_device"]

_REPO = Path(__file__).resolve().parents[1]


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except Exception:  # noqa: BLE001 - provenance must never fail a run
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(_REPO), *args], capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def git_info() -> dict[str, Any]:
    """The commit the code runs from (``$PPBENCH_GIT_COMMIT`` when not a checkout) and whether it is dirty."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": os.environ.get("PPBENCH_GIT_COMMIT"), "git_describe": None, "git_dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_describe": _git("describe", "--always", "--dirty", "--tags"),
            "git_dirty": bool(status) if status is not None else None}


def resolve_device(device: str | None) -> torch.device:
    """``auto``/None -> CUDA when present, else CPU; anything else as given (checked)."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from .errors import InputError

        raise InputError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
    return dev


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's architecture and thread count."""
    try:
        if device.type == "cuda":
            return torch.cuda.get_device_name(device)
        return f"{platform.machine() or 'cpu'} ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"
    except Exception:  # noqa: BLE001
        return str(device)


def environment(device: torch.device) -> dict[str, Any]:
    """The record's ``environment`` section."""
    try:
        host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]
    except Exception:  # noqa: BLE001
        host = None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "timm": _version("timm"),
        "numpy": _version("numpy"),
        "ppbench": __version__,
        **git_info(),
        "device": str(device),
        "device_name": device_name(device),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "platform": platform.platform(),
        "hostname_hash": host,
    }
