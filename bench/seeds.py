"""Seeds derived from a run's seed: one independent 63-bit stream per use, whatever order uses come in."""

from __future__ import annotations

import hashlib

__all__ = ["derive_seed"]


def derive_seed(seed: int, label: str, *, scope: str | None = None) -> int:
    """An independent 63-bit seed for one use of ``seed`` (``init``, ``order``, ``augment``, ``train``; an
    attack's name under ``scope="attack"``): SHA-256 of ``ppbench/[scope/]seed/label``."""
    text = f"ppbench/{scope}/{int(seed)}/{label}" if scope else f"ppbench/{seed}/{label}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
