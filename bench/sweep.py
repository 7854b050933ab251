"""``ppbench sweep``: expand a grid of runs from a TOML file and launch the missing ones through submitit.

The study is a grid (schemes x networks x data sets x attacks x seeds) that outgrows one machine, so the
grid is run by the engine the field already uses, `submitit <https://github.com/facebookincubator/submitit>`_,
and ppbench writes no scheduler of its own:

- ``local``: submitit's ``LocalExecutor`` (one process per run on this machine, at most ``--max-parallel``
  at a time; the default, and what CI tests);
- ``slurm``: submitit's ``SlurmExecutor`` (one job array; ``--max-parallel`` is the array's ``%`` limit);
- ``debug``: submitit's ``DebugExecutor`` (in this process, one run after the other; pdb on a crash).

Every run is one ``ppbench run`` (:func:`ppbench.runner.run`): its folder is named by the run identity
(:func:`ppbench.runner.run_dir_for`), so a run whose record is complete is skipped before anything is
submitted, and a preempted or timed-out job that submitit requeues simply runs the same config again, which
resumes from the runner's last checkpoint (:class:`SweepJob` is a ``submitit.helpers.Checkpointable``).
A sweep ends with ``ppbench report`` over its results folder.

The TOML file (``sweeps/table1-cpu.toml`` is a complete example)::

    [sweep]                      # optional: where results and the report go
    name = "table1-cpu"
    results = "results/table1-cpu"
    report = "report/table1-cpu"

    [fixed]                      # one value for every run (any `ppbench run` option, '-' or '_')
    profile = "cpu"
    attacks = ["fr", "gan", "itn"]

    [grid]                       # lists of choices: the runs are their Cartesian product
    scheme = ["proposed", "le", "ele", "etc", "pe", "plain"]
    seed = [0, 1, 2]

    [schemes.plain]              # overrides for the runs of one scheme; a list is a choice here too
    network = ["vit_cpu", "resnet18_cpu"]
    attacks = []

    [[include]]                  # extra runs: [fixed] + these values (lists are choices)
    scheme = "proposed"
    network = "vit_cpu"
    seed = 7

    [slurm]                      # defaults of the --partition/--gpus/--cpus/--time/--mem/... flags
    gpus = 1
    time = 720                   # minutes

A run without ``network`` gets its profile's default network for the scheme (``ppbench list profiles``).
``attacks`` and ``milestones`` take a list as their value; everywhere else a list means "one run per
element" except in ``[fixed]`` (scalars only). Runs that map to the same run folder (they differ only in
execution options or attacks) are merged: one run with the union of their attacks. Key files never travel
through a sweep: each run keeps its fresh key in its own folder (``key.json``, mode 0600), and an explicit
``key`` option is a path, so neither command lines nor job scripts hold key material.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import shlex
import time
import tomllib
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from submitit.helpers import Checkpointable, DelayedSubmission

from .errors import CheckpointError, InputError, PPBenchError

__all__ = [
    "SweepSpec", "PlannedRun", "SweepPlan", "Resources", "SweepJob", "EXECUTORS", "load_sweep", "expand_runs",
    "plan_sweep", "make_executor", "slurm_script", "launch", "render_report", "parse_assignment",
]

log = logging.getLogger(__name__)

EXECUTORS = ("local", "slurm", "debug")
TABLES = ("sweep", "fixed", "grid", "schemes", "include", "slurm")
LIST_OPTIONS = frozenset({"attacks", "milestones"})  # options whose value is itself a list
SWEEP_KEYS = frozenset({"name", "results", "report", "description"})
# run options a sweep may not set: they describe one command line, not a grid
FORBIDDEN_OPTIONS = frozenset({"resume", "dry_run"})
SUBMITIT_FOLDER = ".submitit"


# -- the TOML file ----------------------------------------------------------------------------------------
def _option_name(name: str) -> str:
    """``batch-size`` -> ``batch_size``; ``attack`` -> ``attacks`` (the CLI's alias)."""
    name = name.strip().replace("-", "_").lower()
    return "attacks" if name == "attack" else name


def _check_option(name: str, where: str) -> str:
    from .runner import RunConfig

    fields = {f.name for f in dataclasses.fields(RunConfig)}
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


# -- planning: resolve every run, merge duplicates, find what is already done --------------------------------
@dataclass
class PlannedRun:
    """One run of the sweep: its resolved config, the options a job re-resolves, and its state on disk."""

    config: Any  # ppbench.runner.RunConfig
    options: dict[str, Any]
    state: str  # "new", "incomplete", "failed", "missing attacks", "complete", "unreadable"
    detail: str = ""

    @property
    def run_id(self) -> str:
        from .runner import run_id

        return run_id(self.config)

    @property
    def run_dir(self) -> Path:
        from .runner import run_dir_for

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
            attacks = ",".join(r.config.attacks) or "-"
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
    out["results"] = str(Path(config.results).resolve())
    out["dataset"] = config.dataset  # npz:/folder: paths already absolute
    out["attacks"] = list(config.attacks)
    for name in _PATH_OPTIONS:
        if out.get(name):
            out[name] = str(Path(out[name]).expanduser().resolve())
    out.setdefault("progress", False)
    return out


def _state(config: Any) -> tuple[str, str]:
    """A run's state on disk, by the runner's own identity (its folder)."""
    from .records import RECORD_FILE, read_record
    from .runner import CHECKPOINT_FILE, missing_attacks, run_dir_for

    folder = run_dir_for(config)
    path = folder / RECORD_FILE
    if config.force:
        return "new", "--force"
    if not path.exists():
        return ("incomplete", "checkpoint only") if (folder / CHECKPOINT_FILE).exists() else ("new", "")
    try:
        record = read_record(path)
    except CheckpointError as exc:
        return "unreadable", str(exc)
    if record.get("status") == "failed":  # pending: runs again (and fails the same way unless something changed)
        return "failed", str(record.get("error") or "")
    if record.get("status") != "complete":
        epochs = len(record.get("metrics", {}).get("history") or [])
        return "incomplete", f"{epochs} epoch(s) done"
    missing = missing_attacks(config, record)
    if missing:
        return "missing attacks", ",".join(missing)
    return "complete", ""


def plan_sweep(spec: SweepSpec, *, force: bool = False) -> SweepPlan:
    """Resolve every run with :func:`ppbench.runner.resolve_config` (so every name and size is checked before
    anything is submitted), merge runs that share a folder, and read each one's state from its record."""
    from .runner import resolve_config, run_id

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
            attacks = tuple(dict.fromkeys(previous.attacks + config.attacks))
            config = dataclasses.replace(previous, attacks=attacks)
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


# -- the job ---------------------------------------------------------------------------------------------------
class SweepJob(Checkpointable):
    """One run of a sweep, as submitit executes it: resolve the config on the node, ``ppbench run`` it.

    submitit's checkpoint protocol: on preemption or timeout it calls :meth:`checkpoint`, pickles the
    returned submission and requeues the job. Re-running the same config resumes from the runner's last
    checkpoint (an epoch boundary), so the requeued job only repeats the interrupted epoch. With several
    tasks per job (``--gpus N``, one process per GPU) every task exports submitit's torch.distributed
    environment and the runner trains with DistributedDataParallel (:mod:`ppbench.distributed`).
    """

    def __init__(self, options: Mapping[str, Any], run_id: str, threads: int | None = None) -> None:
        self.options = dict(options)
        self.run_id = run_id
        self.threads = threads

    def __call__(self) -> dict[str, Any]:
        """Run (or resume, or skip) the run; a summary dict, ``status`` "failed" for a user-fixable error."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        _export_distributed_environment()
        from .runner import resolve_config, run, run_id

        try:
            config = resolve_config(**self.options)
            if run_id(config) != self.run_id:
                raise CheckpointError(f"this node resolves the run to {run_id(config)}, the sweep planned "
                                      f"{self.run_id}; the nodes run another ppbench version or data than the "
                                      "submitting host")
            record = run(config)
        except PPBenchError as exc:  # a bug (any other exception) fails the job loudly instead
            log.error("run %s failed: %s", self.run_id, exc)
            return {"run_id": self.run_id, "status": "failed", "error": f"{exc.__class__.__name__}: {exc}"}
        return summarise(record)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Requeue the same run: the runner resumes it from its last checkpoint."""
        log.warning("run %s: preempted or timed out; requeued, it resumes from its last checkpoint", self.run_id)
        return DelayedSubmission(self, *args, **kwargs)

    def __repr__(self) -> str:
        return f"SweepJob({self.run_id})"


def _export_distributed_environment() -> None:
    """In a submitit job with several tasks, set RANK/WORLD_SIZE/MASTER_* for torch.distributed (env://)."""
    try:
        import submitit

        env = submitit.JobEnvironment()
    except RuntimeError:  # not inside a submitit job (e.g. called directly)
        return
    if env.num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)


def summarise(record: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers a sweep prints for a run (the record itself stays the truth)."""
    metrics = record.get("metrics", {}) or {}
    attacks = {name: entry.get("ssim_mean") for name, entry in (metrics.get("attacks") or {}).items()}
    return {"run_id": record.get("run_id"), "status": record.get("status"), "accuracy": metrics.get("accuracy"),
            "attacks": attacks, "duration_s": record.get("duration_s")}


def _summary_line(summary: Mapping[str, Any]) -> str:
    if summary.get("status") == "failed":
        return f"{summary.get('run_id')}: FAILED {summary.get('error', '')}".rstrip()
    acc = summary.get("accuracy")
    parts = [f"accuracy {acc:.4f}" if isinstance(acc, (int, float)) else "no classifier"]
    parts += [f"{a} SSIM {s:.3f}" for a, s in (summary.get("attacks") or {}).items() if isinstance(s, (int, float))]
    seconds = summary.get("duration_s") or 0.0
    return f"{summary.get('run_id')}: {', '.join(parts)} ({summary.get('status')}, {seconds:.0f} s)"


# -- executors -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resources:
    """What one run gets: the flags of ``ppbench sweep`` that become executor parameters.

    ``gpus`` is per run; a run with several GPUs is one task (process) per GPU, trained with DDP.
    ``time`` is in minutes. ``setup`` lines run in the job script before the job (e.g. ``module load``).
    """

    partition: str | None = None
    gpus: int = 0
    cpus: int | None = None
    time: int = 24 * 60
    mem: float | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: tuple[str, ...] = ()
    job_name: str = "ppbench"

    @classmethod
    def from_table(cls, table: Mapping[str, Any], **flags: Any) -> "Resources":
        """Defaults from the sweep file's ``[slurm]`` table, overridden by the command line's flags."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise InputError(f"[slurm]: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for key, value in table.items():  # the file's values; the flags are typed by argparse
            _check_resource(key, value)
        values = {**table, **{k: v for k, v in flags.items() if v is not None and v != ()}}
        if "time" in values:
            values["time"] = parse_minutes(values["time"])
        if "setup" in values:
            values["setup"] = tuple([values["setup"]] if isinstance(values["setup"], str) else values["setup"])
        if int(values.get("gpus", 0) or 0) < 0:
            raise InputError("--gpus must be 0 or more")
        return cls(**values)


_RESOURCE_TYPES = {"gpus": (int, "an integer", "1"), "cpus": (int, "an integer", "8"),
                   "mem": ((int, float), "a number of GB", "64"), "time": ((int, str), "minutes or \"h:mm\"", "720")}


def _check_resource(key: str, value: Any) -> None:
    """InputError naming the [slurm] key, its value and the type it needs."""
    kind, expected, example = _RESOURCE_TYPES.get(key, (str, "a string", '"gpu"'))
    if key == "setup":
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        expected, example = "a shell line or a list of them", '["module load cuda"]'
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        raise InputError(f"[slurm] {key} = {value!r} must be {expected}; for example {key} = {example}")


def parse_minutes(value: Any) -> int:
    """Minutes from ``90``, ``"90"``, ``"1:30"`` (h:mm), ``"1:30:00"`` or ``"2-00:00:00"`` (slurm's d-hh:mm:ss)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        minutes = int(value)
    else:
        text = str(value).strip()
        match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?", text)
        if not match:
            raise InputError(f"--time {value!r}: give minutes (720) or [d-]h:mm[:ss] (12:00, 1-00:00:00)")
        days, first, second, third = match.groups()
        if second is None and days is None:
            minutes = int(first)
        else:
            minutes = int(days or 0) * 1440 + int(first) * 60 + int(second or 0) + (1 if third and int(third) else 0)
    if minutes < 1:
        raise InputError(f"--time must be at least one minute, got {value!r}")
    return minutes


def _slurm_parameters(resources: Resources, max_parallel: int | None) -> dict[str, Any]:
    """submitit SlurmExecutor parameters (its own names; validated by submitit's update_parameters)."""
    tasks = max(1, resources.gpus)
    params: dict[str, Any] = {
        "job_name": resources.job_name, "time": resources.time, "nodes": 1, "ntasks_per_node": tasks,
        "signal_delay_s": 120, "stderr_to_stdout": False,
    }
    if resources.gpus:
        params["gpus_per_node"] = resources.gpus
    if resources.cpus:
        params["cpus_per_task"] = resources.cpus
    if resources.mem:
        from submitit.slurm.slurm import _convert_mem

        params["mem"] = _convert_mem(float(resources.mem))
    for name in ("partition", "account", "qos", "constraint"):
        if getattr(resources, name):
            params[name] = getattr(resources, name)
    if resources.setup:
        params["setup"] = list(resources.setup)
    if max_parallel:
        params["array_parallelism"] = max_parallel
    return params


def _slurm_executor_class(render_only: bool) -> type:
    """submitit's SlurmExecutor; for rendering on a host without ``srun``, a subclass that skips that check."""
    from submitit.slurm.slurm import SlurmExecutor

    if not render_only:
        return SlurmExecutor

    class _RenderOnlySlurmExecutor(SlurmExecutor):  # never submits: only renders sbatch files
        @classmethod
        def affinity(cls) -> int:
            return 1

        def _submit_command(self, command: str) -> Any:  # pragma: no cover - guarded
            raise RuntimeError("this executor only renders job scripts (--dry-run)")

    return _RenderOnlySlurmExecutor


def make_executor(kind: str, folder: Path, resources: Resources, *, max_parallel: int | None = None,
                  render_only: bool = False) -> Any:
    """A configured submitit executor of ``kind`` (``local``, ``slurm``, ``debug``) logging into ``folder``."""
    import submitit

    folder = Path(folder) / "%j"
    if kind == "debug":
        return submitit.DebugExecutor(folder=folder)
    if kind == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=resources.time, gpus_per_node=resources.gpus,
                                   tasks_per_node=max(1, resources.gpus), signal_delay_s=120)
        return executor
    if kind == "slurm":
        cls = _slurm_executor_class(render_only)
        try:
            executor = cls(folder=folder)
        except RuntimeError as exc:  # no srun here
            raise InputError(f"--executor slurm: {exc}; run `ppbench sweep` on the cluster's login node, or "
                             "--dry-run to see the job script") from None
        try:
            executor.update_parameters(**_slurm_parameters(resources, max_parallel))
        except ValueError as exc:
            raise InputError(f"bad slurm option: {str(exc).splitlines()[0]}") from None
        return executor
    raise InputError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")


def slurm_script(folder: Path, resources: Resources, *, n_runs: int, max_parallel: int | None = None) -> str:
    """The sbatch file submitit would submit for ``n_runs`` runs (a job array when more than one).

    Rendered by submitit itself (``SlurmExecutor._make_submission_file_text``), without calling sbatch.
    The command line only names the submitit folder; each run's options travel in a pickle beside it.
    """
    executor = make_executor("slurm", folder, resources, max_parallel=max_parallel, render_only=True)
    if n_runs > 1:
        executor.parameters["map_count"] = n_runs
    return executor._make_submission_file_text(executor._submitit_command_str, "dry-run")


# -- launching -----------------------------------------------------------------------------------------------
def _threads_per_job(kind: str, resources: Resources, max_parallel: int) -> int | None:
    """CPU threads for each run: --cpus, else (local executor) this machine's cores shared by the jobs."""
    if resources.cpus:
        return resources.cpus
    if kind == "local":
        return max(1, (os.cpu_count() or 1) // max(1, max_parallel))
    return None


def launch(plan: SweepPlan, kind: str = "local", resources: Resources | None = None, *,
           max_parallel: int | None = None, folder: Path | None = None, wait: bool = True,
           echo: Any = print) -> list[dict[str, Any]]:
    """Submit the plan's pending runs and (``wait``) collect one summary per run, in completion order.

    ``local``: at most ``max_parallel`` (default 1) runs at a time, each a process started by submitit's
    LocalExecutor (always waited for: the processes belong to this one). ``slurm``: one job array
    (``%max_parallel``). ``debug``: in this process, in order.
    """
    import submitit

    resources = resources or Resources()
    folder = Path(folder or plan.spec.results / SUBMITIT_FOLDER)
    pending = plan.pending
    if not pending:
        return []
    if kind == "local":
        parallel = max(1, max_parallel or 1)
    else:
        parallel = max_parallel or len(pending)
    threads = _threads_per_job(kind, resources, parallel)
    executor = make_executor(kind, folder, resources, max_parallel=parallel)
    jobs_of = [SweepJob(r.options, r.run_id, threads) for r in pending]
    summaries: list[dict[str, Any]] = []

    def collect(job: Any, planned: PlannedRun) -> None:
        try:
            summary = job.result()
        except (submitit.core.utils.UncompletedJobError, submitit.core.utils.FailedJobError) as exc:
            summary = {"run_id": planned.run_id, "status": "failed", "error": _job_error(exc, job)}
        except Exception as exc:  # noqa: BLE001 - the debug executor re-raises the run's own exception
            summary = {"run_id": planned.run_id, "status": "failed",
                       "error": f"{exc.__class__.__name__}: {exc}", "traceback": traceback.format_exc()}
        summaries.append(summary)
        echo(f"[{len(summaries)}/{len(pending)}] {_summary_line(summary)}")

    if kind == "slurm":
        with executor.batch():
            jobs = [executor.submit(j) for j in jobs_of]
        job_ids = [getattr(j, "job_id", "?") for j in jobs]
        echo(f"submitted {len(jobs)} run(s) as slurm job array {job_ids[0].split('_')[0] if job_ids else '?'} "
             f"(at most {parallel} at a time); logs in {folder}")
        if not wait:
            return []
        for job, planned in zip(jobs, pending):
            collect(job, planned)
        return summaries
    if kind == "debug":
        for job_fn, planned in zip(jobs_of, pending):
            echo(f"running {planned.run_id} in this process (debug executor)")
            collect(executor.submit(job_fn), planned)
        return summaries
    # local: a sliding window of `parallel` processes
    queue = list(zip(jobs_of, pending))
    running: list[tuple[Any, PlannedRun]] = []
    echo(f"running {len(pending)} run(s) on this machine, {parallel} at a time ({threads} thread(s) each); "
         f"logs in {folder}")
    try:
        while queue or running:
            while queue and len(running) < parallel:
                job_fn, planned = queue.pop(0)
                running.append((executor.submit(job_fn), planned))
            done = [(j, p) for j, p in running if j.done()]
            for item in done:
                running.remove(item)
                collect(*item)
            if not done:
                time.sleep(0.5)
    except KeyboardInterrupt:  # stop the processes this sweep started; their runs resume next time
        for job, planned in running:
            job.cancel(check=False)
            echo(f"cancelled {planned.run_id} (it resumes from its checkpoint when the sweep is run again)")
        raise
    return summaries


def _last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _job_error(exc: BaseException, job: Any = None) -> str:
    """One line for a job that failed or never finished: the exception's last line and where its log is.

    submitit's FailedJobError holds the job's traceback between two dashed rules followed by the log
    paths; an UncompletedJobError (killed, timed out) holds the job's state and the end of its stderr.
    """
    text = str(exc)
    parts = re.split(r"^-{10,}$", text, flags=re.MULTILINE)
    if isinstance(exc, _submitit_errors()[1]) and len(parts) >= 3:
        error = _last_line(parts[1]) or "the job failed"
    else:
        state = re.search(r"\(state: ([^)]*)\)", text)
        tail = _last_line(parts[-1]) if len(parts) >= 2 else ""
        error = f"the job stopped without a result (state {state.group(1) if state else 'unknown'})"
        if tail:
            error += f"; its log ends: {tail}"
    log_path = _job_log(job)
    return f"{error} (log: {log_path})" if log_path else error


def _submitit_errors() -> tuple[type, type]:
    from submitit.core.utils import FailedJobError, UncompletedJobError

    return UncompletedJobError, FailedJobError


def _job_log(job: Any) -> str:
    try:
        return str(job.paths.stderr).replace("%t", "0")
    except Exception:  # noqa: BLE001 - a job without paths (debug executor)
        return ""


def render_report(results: Path, out: Path, *, echo: Any = print) -> int:
    """Render the report of ``results`` into ``out`` (:func:`ppbench.reports.render`); ``echo`` where it went."""
    from .reports import render

    echo("\n".join(render(results, out).lines()))
    return 0


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


def quote_command(argv: Sequence[str]) -> str:
    """A copy-pasteable command line."""
    return " ".join(shlex.quote(a) for a in argv)


def iter_failed(summaries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [s for s in summaries if s.get("status") != "complete"]

