"""The seed paper's Table I, transcribed once in ``ppbench/reports/paper_table1.json``: the one reader of that file.

Profiles (the record's ``paper`` figures), the attack registry (``AttackInfo.in_seed_paper``) and the report
(Table I's paper columns) all read it here. Torch-free, and it finds the file without importing the report
package, which the profiles and the attacks must not depend on.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from .errors import PPBenchError


def paper_table_path() -> Path:
    """Where the installed ``paper_table1.json`` lies (inside the ``ppbench.reports`` package)."""
    spec = importlib.util.find_spec("ppbench.reports")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a broken installation
        raise PPBenchError("ppbench.reports (which holds paper_table1.json) is not installed; reinstall ppbench")
    return Path(next(iter(spec.submodule_search_locations))) / "paper_table1.json"


@functools.cache
def _installed_table() -> dict[str, Any]:
    return json.loads(paper_table_path().read_text(encoding="utf-8"))


def paper_table(path: str | Path | None = None) -> dict[str, Any]:
    """The transcription as a dict (``source``, ``attacks``, ``rows``): the installed one (read once), or ``path``'s."""
    return _installed_table() if path is None else json.loads(Path(path).read_text(encoding="utf-8"))


def seed_paper_attacks(path: str | Path | None = None) -> tuple[str, ...]:
    """The attacks the seed paper evaluated (FR, GAN, ITN), by their ppbench names."""
    return tuple(paper_table(path)["attacks"])
