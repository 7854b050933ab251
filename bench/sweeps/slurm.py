"""What each run of a sweep gets (:class:`Resources`), as submitit SlurmExecutor parameters and as a preview
of the sbatch script (``ppbench sweep --executor slurm --dry-run``).

Only submitit's public API is used. What it lacks, exactly (submitit 1.5.4):

- no way to see the sbatch script without submitting it: the text is built by the private
  ``submitit.slurm.slurm._make_sbatch_string`` (through ``SlurmExecutor._make_submission_file_text``), and
  ``SlurmExecutor(folder)`` raises where ``srun`` is not on ``PATH`` (a laptop, CI). A public
  ``SlurmExecutor.render_script(n_jobs)`` or a dry-run mode would serve; until then :func:`slurm_script`
  writes the preview itself, in submitit's layout, from the same parameters :func:`slurm_parameters`
  hands to ``SlurmExecutor.update_parameters``;
- no public memory conversion for ``SlurmExecutor`` (its ``mem_gb`` -> ``mem`` renaming exists only through
  ``AutoExecutor``): :func:`mem_flag` writes slurm's ``--mem`` value (``64GB``, ``1536MB``).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError

__all__ = ["Resources", "parse_minutes", "mem_flag", "slurm_parameters", "slurm_script"]

SUBMITIT_ARRAY_PARALLELISM = 256  # SlurmExecutor's array_parallelism when none is given
SUBMITIT_SIGNAL = "USR2"  # the signal submitit's slurm jobs catch to checkpoint and requeue

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


def mem_flag(gb: float) -> str:
    """Slurm's ``--mem`` value for ``gb`` gigabytes: ``64GB``, or whole megabytes (``1536MB``) for a fraction."""
    gb = float(gb)
    return f"{int(gb)}GB" if gb == int(gb) else f"{int(gb * 1024)}MB"


def slurm_parameters(resources: Resources, max_parallel: int | None) -> dict[str, Any]:
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
        params["mem"] = mem_flag(resources.mem)
    for name in ("partition", "account", "qos", "constraint"):
        if getattr(resources, name):
            params[name] = getattr(resources, name)
    if resources.setup:
        params["setup"] = list(resources.setup)
    if max_parallel:
        params["array_parallelism"] = max_parallel
    return params


def slurm_script(folder: Path, resources: Resources, *, n_runs: int, max_parallel: int | None = None) -> str:
    """A preview of the sbatch file submitit writes for ``n_runs`` runs (a job array when more than one).

    Written here from :func:`slurm_parameters`, in the layout of submitit's own sbatch files (see the module
    docstring for why). The command line only names the submitit folder; each run's options travel in a
    pickle beside it, so no key material is in the script.
    """
    from submitit.core.utils import JobPaths

    folder = (Path(folder) / "%j").expanduser().absolute()  # as SlurmExecutor(folder=folder / "%j") holds it
    params = slurm_parameters(resources, max_parallel)
    setup = params.pop("setup", [])
    delay = params.pop("signal_delay_s")
    params.pop("stderr_to_stdout")
    parallel = params.pop("array_parallelism", SUBMITIT_ARRAY_PARALLELISM)
    flags: dict[str, Any] = {**params, "wckey": "submitit", "signal": f"{SUBMITIT_SIGNAL}@{delay}"}
    paths = JobPaths(folder=folder)
    stdout, stderr = str(paths.stdout), str(paths.stderr)
    if n_runs > 1:
        flags["array"] = f"0-{n_runs - 1}%{min(n_runs, parallel)}"
        stdout, stderr = stdout.replace("%j", "%A_%a"), stderr.replace("%j", "%A_%a")
    flags.update({"output": stdout.replace("%t", "0"), "error": stderr.replace("%t", "0"), "open-mode": "append"})
    lines = ["#!/bin/bash", "", "# Parameters"]
    lines += [f"#SBATCH --{key.replace('_', '-')}={shlex.quote(str(value))}" for key, value in sorted(flags.items())]
    if setup:
        lines += ["", "# setup", *setup]
    srun = shlex.join(["srun", "--unbuffered", "--output", stdout, "--error", stderr])
    command = f"{srun} {shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(str(folder))}"
    lines += ["", "# command", "export SUBMITIT_EXECUTOR=slurm", command, ""]
    return "\n".join(lines)
