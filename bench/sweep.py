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

The code lives in :mod:`ppbench.sweeps`: ``spec`` (the TOML file and ``--set``), ``plan`` (runs and their
state on disk), ``job`` (one run under submitit), ``slurm`` (resources and the sbatch preview; it names what
submitit's public API lacks), ``launch`` (the executors); this module re-exports their public names.
"""

from __future__ import annotations

from .sweeps.job import SweepJob, summarise
from .sweeps.launch import _job_error  # noqa: F401 - re-exported for the tests that pin its one-line error
from .sweeps.launch import EXECUTORS, SUBMITIT_FOLDER, launch, make_executor, render_report
from .sweeps.plan import PlannedRun, SweepPlan, plan_sweep
from .sweeps.slurm import Resources, mem_flag, parse_minutes, slurm_parameters, slurm_script
from .sweeps.spec import SweepSpec, expand_runs, load_sweep, parse_assignment, sweep_from_dict

__all__ = [
    "SweepSpec", "PlannedRun", "SweepPlan", "Resources", "SweepJob", "EXECUTORS", "SUBMITIT_FOLDER", "load_sweep",
    "sweep_from_dict", "expand_runs", "plan_sweep", "make_executor", "slurm_parameters", "slurm_script", "launch",
    "render_report", "parse_assignment", "parse_minutes", "mem_flag", "summarise",
]
