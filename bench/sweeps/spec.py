"""A sweep file's spec: parse and check the TOML tables and the ``--set`` overrides, expand them into runs.

The file format is described in :mod:`ppbench.sweep`; every key is checked against ``ppbench run``'s
options here, so a typo is refused before anything is resolved or submitted.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError

__all__ = ["SweepSpec", "load_sweep", "sweep_from_dict", "parse_assignment", "expand_runs", "LIST_OPTIONS"]

TABLES = ("sweep", "fixed", "grid", "schemes", "include", "slurm")

LIST_OPTIONS = frozenset({"attacks", "milestones"})  # options whose value is itself a list

SWEEP_KEYS = frozenset({"name", "results", "report", "description"})

FORBIDDEN_OPTIONS = frozenset({"resume", "dry_run"})


def _option_name(name: str) -> str:
    """``batch-size`` -> ``batch_size``; ``attack`` -> ``attacks`` (the CLI's alias)."""
    name = name.strip().replace("-", "_").lower()
    return "attacks" if name == "attack" else name


def _check_option(name: str, where: str) -> str:
    from ..config import OPTION_NAMES

    fields = set(OPTION_NAMES)
    option = _option_name(name)
    if option in FORBIDDEN_OPTIONS or option not in fields:
        import difflib

        close = difflib.get_close_matches(option, sorted(fields), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `ppbench run --help`"
        raise InputError(f"{where}: {name!r} is not a `ppbench run` option a sweep can set{hint}")
    return option


def _options(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise InputError(f"{where} must be a table of `ppbench run` options (key = value)")
    return {_check_option(k, where): v for k, v in table.items()}


def _choices(option: str, value: Any) -> list[Any]:
    """The values a list stands for: its elements, except for list-valued options given one flat list."""
    if option in LIST_OPTIONS:
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            return list(value)  # a list of lists: one run per inner list
        return [value]
    return list(value) if isinstance(value, list) else [value]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file: fixed values, a grid of choices, per-scheme overrides, extra runs, defaults."""

    name: str
    source: Path | None
    fixed: dict[str, Any]
    grid: dict[str, list[Any]]
    schemes: dict[str, dict[str, Any]]
    include: list[dict[str, Any]]
    slurm: dict[str, Any]
    results: Path
    report: Path
    description: str = ""


def load_sweep(path: str | Path, overrides: Mapping[str, Any] | None = None, *, results: str | Path | None = None,
               report: str | Path | None = None) -> SweepSpec:
    """Read a sweep TOML file; ``overrides`` (``--set``) replace an option in every table.

    Relative ``results``/``report`` paths in the file are relative to the current directory (where
    ``ppbench sweep`` runs), like every other ppbench path.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"sweep file {path} not found; pass a TOML file such as sweeps/table1-cpu.toml") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read sweep file {path}: {exc}") from None
    return sweep_from_dict(data, source=path, overrides=overrides, results=results, report=report)


def sweep_from_dict(data: Mapping[str, Any], *, source: Path | None = None, overrides: Mapping[str, Any] | None = None,
                    results: str | Path | None = None, report: str | Path | None = None) -> SweepSpec:
    """A :class:`SweepSpec` from already parsed TOML (see the module docstring for the tables)."""
    where = str(source) if source else "sweep"
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise InputError(f"{where}: unknown top-level key(s) {', '.join(unknown)}; a sweep file has the tables "
                         f"{', '.join(f'[{t}]' for t in TABLES)} (put run options in [fixed] or [grid])")
    meta = data.get("sweep", {})
    if not isinstance(meta, Mapping) or set(meta) - SWEEP_KEYS:
        raise InputError(f"{where}: [sweep] takes only {', '.join(sorted(SWEEP_KEYS))}")
    for key, value in meta.items():
        if not isinstance(value, str):
            raise InputError(f"{where}: [sweep] {key} = {value!r} must be a string, e.g. {key} = \"table1-cpu\"")
    name = str(meta.get("name") or (source.stem if source else "sweep"))
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise InputError(f"{where}: sweep name {name!r} may hold only letters, digits, '.', '_' and '-'")
    fixed = _options(data.get("fixed", {}), f"{where} [fixed]")
    for option, value in fixed.items():
        if isinstance(value, list) and option not in LIST_OPTIONS:
            raise InputError(f"{where} [fixed]: {option} = {value!r} is a list; put lists of choices in [grid]")
    grid = {}
    for option, value in _options(data.get("grid", {}), f"{where} [grid]").items():
        if not isinstance(value, list) or not value:
            raise InputError(f"{where} [grid]: {option} must be a non-empty list of choices, got {value!r}")
        grid[option] = list(value)
    schemes_table = data.get("schemes", {})
    if not isinstance(schemes_table, Mapping):
        raise InputError(f"{where}: [schemes] must hold one table per scheme, e.g. [schemes.plain]")
    schemes = {str(s).lower(): _options(t, f"{where} [schemes.{s}]") for s, t in schemes_table.items()}
    include = data.get("include", [])
    if not isinstance(include, list):
        raise InputError(f"{where}: extra runs are an array of tables, [[include]]")
    include = [_options(t, f"{where} [[include]] #{i + 1}") for i, t in enumerate(include)]
    slurm = dict(data.get("slurm", {}))
    for option, value in (overrides or {}).items():
        option = _check_option(option, "--set")
        for table in (fixed, grid, *schemes.values(), *include):
            table.pop(option, None)
        if isinstance(value, list) and option not in LIST_OPTIONS:
            grid[option] = list(value)
        else:
            fixed[option] = value
    if "scheme" not in fixed and "scheme" not in grid and not all("scheme" in i for i in include):
        raise InputError(f"{where}: no scheme: set scheme in [fixed] or [grid] (e.g. scheme = [\"proposed\", \"le\"])")
    return SweepSpec(
        name=name, source=source, fixed=fixed, grid=grid, schemes=schemes, include=include, slurm=slurm,
        results=Path(results or meta.get("results") or Path("runs") / name),
        report=Path(report or meta.get("report") or Path("report") / name),
        description=str(meta.get("description", "")),
    )


def parse_assignment(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from ``--set``: VALUE as a TOML value (``3``, ``[0, 1]``, ``true``), else a string."""
    if "=" not in text:
        raise InputError(f"--set {text!r}: expected KEY=VALUE, e.g. --set seed=[0,1,2] or --set epochs=2")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _product(table: Mapping[str, Any], *, lists_are_choices: bool) -> list[dict[str, Any]]:
    """Every combination of a table's values (scalars are single choices)."""
    keys = list(table)
    choices = [(_choices(k, table[k]) if lists_are_choices else list(table[k])) for k in keys]
    return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]


def expand_runs(spec: SweepSpec) -> list[dict[str, Any]]:
    """The sweep's runs as ``ppbench run`` option dicts, in file order (grid, then includes), unresolved."""
    runs: list[dict[str, Any]] = []
    grid_runs = _product(spec.grid, lists_are_choices=False) if (spec.grid or not spec.include) else []
    for combo in grid_runs:
        base = {**spec.fixed, **combo}
        scheme = str(base.get("scheme", "")).lower()
        extra = spec.schemes.get(scheme, {})
        for variant in _product(extra, lists_are_choices=True):
            runs.append({**base, **variant})
    for extra in spec.include:
        for variant in _product(extra, lists_are_choices=True):
            runs.append({**spec.fixed, **variant})
    unused = sorted(set(spec.schemes) - {str(r.get("scheme", "")).lower() for r in runs})
    if unused:
        raise InputError(f"[schemes.{unused[0]}] matches no run of the sweep; check the scheme names in [grid]")
    return runs
