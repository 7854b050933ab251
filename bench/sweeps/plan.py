"""A sweep's plan: every run resolved by the runner, runs sharing a folder merged, each one's state on disk.

A run is pending when it has no complete record or its record lacks an attack the sweep asks for
(:func:`ppbench.runner.missing_attacks`); complete runs are skipped before anything is submitted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import CheckpointError, InputError, PPBenchError
from .spec import SweepSpec, expand_runs

__all__ = ["PlannedRun", "SweepPlan", "plan_sweep"]

@dataclass
class PlannedRun:
    """One run of the sweep: its resolved config, the options a job re-resolves, and its state on disk."""

    config: Any  # ppbench.runner.RunConfig
    options: dict[str, Any]
    state: str  # "new", "incomplete", "failed", "missing attacks", "complete", "unreadable"
    detail: str = ""

    @property
    def run_id(self) -> str:
        from ..runner import run_id

        return run_id(self.config)

    @property
    def run_dir(self) -> Path:
        from ..runner import run_dir_for

        return run_dir_for(self.config)

    @property
    def pending(self) -> bool:
        return self.state in ("new", "incomplete", "failed", "missing attacks")


@dataclass
class SweepPlan:
    """Every run of a sweep with its state; ``pending`` are the ones to launch."""

    spec: SweepSpec
    runs: list[PlannedRun]

    @property
    def pending(self) -> list[PlannedRun]:
        return [r for r in self.runs if r.pending]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.runs:
            out[r.state] = out.get(r.state, 0) + 1
        return out

    def describe(self) -> str:
        """One line per run and a summary line."""
        width = max((len(r.run_id) for r in self.runs), default=0)
        lines = []
        for r in self.runs:
            attacks = ",".join(r.config.attack.attacks) or "-"
            lines.append(f"  {r.run_id:<{width}}  {r.state:<15} attacks {attacks}{'  ' + r.detail if r.detail else ''}")
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items()))
        lines.append(f"sweep {self.spec.name}: {len(self.runs)} run(s) ({counts}); results in {self.spec.results}")
        return "\n".join(lines)


_PATH_OPTIONS = ("key", "weights", "data_root")


def _job_options(options: Mapping[str, Any], config: Any) -> dict[str, Any]:
    """What a job passes to ``resolve_config`` on its node: the sweep's options with absolute paths.

    The device stays what the sweep asked for (default: auto on the node), never the planner's.
    """
    out = {k: v for k, v in options.items() if v is not None}
    out["results"] = str(Path(config.execution.results).resolve())
    out["dataset"] = config.data.dataset  # npz:/folder: paths already absolute
    out["attacks"] = list(config.attack.attacks)
    for name in _PATH_OPTIONS:
        if out.get(name):
            out[name] = str(Path(out[name]).expanduser().resolve())
    out.setdefault("progress", False)
    return out


def _state(config: Any) -> tuple[str, str]:
    """A run's state on disk, by the runner's own identity (its folder)."""
    from ..records import RECORD_FILE, Metrics, read_run_record
    from ..runner import CHECKPOINT_FILE, missing_attacks, run_dir_for

    folder = run_dir_for(config)
    path = folder / RECORD_FILE
    if config.execution.force:
        return "new", "--force"
    if not path.exists():
        return ("incomplete", "checkpoint only") if (folder / CHECKPOINT_FILE).exists() else ("new", "")
    try:
        record = read_run_record(path)
    except CheckpointError as exc:
        return "unreadable", str(exc)
    if record.status == "failed":  # pending: runs again (and fails the same way unless something changed)
        return "failed", str(record.get("error") or "")
    if record.status != "complete":
        metrics = record.metrics if isinstance(record.metrics, Metrics) else Metrics()
        return "incomplete", f"{len(metrics.get('history') or [])} epoch(s) done"
    missing = missing_attacks(config, record.to_json())
    if missing:
        return "missing attacks", ",".join(missing)
    return "complete", ""


def plan_sweep(spec: SweepSpec, *, force: bool = False) -> SweepPlan:
    """Resolve every run with :func:`ppbench.runner.resolve_config` (so every name and size is checked before
    anything is submitted), merge runs that share a folder, and read each one's state from its record."""
    from ..runner import resolve_config, run_id

    merged: dict[str, tuple[Any, dict[str, Any]]] = {}
    for index, options in enumerate(expand_runs(spec)):
        options = {**options, "results": str(spec.results)}
        if force:
            options["force"] = True
        try:
            # the planner's device does not matter (not part of the identity); the job resolves its own
            config = resolve_config(**{**options, "device": "cpu"})
        except PPBenchError as exc:
            raise InputError(f"sweep {spec.name}, run #{index + 1} ({_brief(options)}): {exc}") from None
        rid = run_id(config)
        if rid in merged:
            previous, previous_options = merged[rid]
            _check_mergeable(previous, config, rid)
            attacks = tuple(dict.fromkeys(previous.attack.attacks + config.attack.attacks))
            config = dataclasses.replace(previous, attack=dataclasses.replace(previous.attack, attacks=attacks))
            options = previous_options
        merged[rid] = (config, options)
    runs = []
    for config, options in merged.values():
        state, detail = _state(config)
        runs.append(PlannedRun(config=config, options=_job_options(options, config), state=state, detail=detail))
    return SweepPlan(spec=spec, runs=runs)


def _check_mergeable(a: Any, b: Any, rid: str) -> None:
    for name in ("attacker_data", "n_attack_images", "jpeg_quality", "key", "force"):
        if getattr(a, name) != getattr(b, name):
            raise InputError(f"two runs of the sweep share the folder {rid} but differ in {name} "
                             f"({getattr(a, name)!r} vs {getattr(b, name)!r}); make them one run")


def _brief(options: Mapping[str, Any]) -> str:
    keys = ("scheme", "network", "dataset", "profile", "seed")
    return ", ".join(f"{k}={options[k]}" for k in keys if k in options)
