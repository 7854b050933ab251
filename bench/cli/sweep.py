"""``ppbench sweep``: the argparse front end of :mod:`ppbench.sweep`.

Only the arguments live here; submitit and the runner are imported when the command runs, so
``ppbench --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_command

EXAMPLES = """\
examples:
  ppbench sweep sweeps/table1-cpu.toml                       # this machine, one run at a time, then the report
  ppbench sweep sweeps/table1-cpu.toml --max-parallel 2 --cpus 1
  ppbench sweep sweeps/table1-cpu.toml --dry-run             # list the runs and which are already complete
  ppbench sweep sweeps/table1-cpu.toml --set 'seed=[0,1]' --set epochs=2 --dataset npz:PATH/TO/data.npz
  ppbench sweep sweeps/table1-paper.toml --executor slurm --partition gpu --gpus 1 --cpus 16 --time 24:00:00 --mem 64
  ppbench sweep sweeps/table1-paper.toml --executor slurm --partition gpu --dry-run   # print the sbatch script
  ppbench sweep sweeps/table1-paper.toml --executor slurm --gpus 4 --no-wait         # DDP over 4 GPUs per run
  ppbench sweep sweeps/table1-cpu.toml --set seed=0 --set profile=smoke --executor debug   # in-process (pdb on a crash)

The sweep file (TOML): [fixed] options for every run, [grid] lists of choices (their product),
[schemes.NAME] per-scheme overrides, [[include]] extra runs, [slurm] defaults of the resource flags,
[sweep] name/results/report; any `ppbench run` option, '-' or '_' (see ppbench/sweep.py's docstring).
Runs whose record is complete are skipped; a rerun of the same sweep continues the incomplete ones from
their checkpoints; preempted or timed-out slurm jobs are requeued and resume the same way.
"""


def cmd_sweep(args: argparse.Namespace) -> int:
    """Plan the sweep, print it, launch what is missing, then render the report."""
    from ..errors import InputError, PPBenchError
    from ..paths import check_folder_path, make_folder
    from ..sweeps.launch import launch, render_report
    from ..sweeps.plan import plan_sweep
    from ..sweeps.slurm import Resources, slurm_script
    from ..sweeps.spec import load_sweep, parse_assignment

    overrides = dict(parse_assignment(text) for text in args.set or [])
    for name in ("dataset", "device"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.max_parallel is not None and args.max_parallel < 1:
        raise InputError("--max-parallel must be at least 1")
    spec = load_sweep(args.config, overrides, results=args.results, report=args.report_dir)
    check_folder_path(spec.results, "--results")  # before any run: not after an hour of training
    if not args.no_report:
        check_folder_path(spec.report, "--report-dir")
    resources = Resources.from_table(
        spec.slurm, partition=args.partition, gpus=args.gpus, cpus=args.cpus, time=args.time, mem=args.mem,
        account=args.account, qos=args.qos, constraint=args.constraint, setup=tuple(args.setup or ()),
        job_name=f"ppbench-{spec.name}")
    plan = plan_sweep(spec, force=args.force)
    print(plan.describe())
    folder = Path(args.logs) if args.logs else spec.results / ".submitit"
    if args.dry_run:
        pending = len(plan.pending)
        if args.executor == "slurm":
            print(f"\n# the job script submitit would submit for the {pending} pending run(s) "
                  f"(folder {folder}; nothing was submitted):")
            print(slurm_script(folder, resources, n_runs=max(1, pending), max_parallel=args.max_parallel))
        else:
            print(f"dry run: {pending} run(s) would be launched with the {args.executor} executor; nothing ran")
        return 0
    if plan.pending:
        make_folder(spec.results, "--results")
        make_folder(folder, "--logs")
    summaries = launch(plan, args.executor, resources, max_parallel=args.max_parallel, folder=folder,
                       wait=not args.no_wait)
    failed = [s for s in summaries if s.get("status") != "complete"]
    if args.no_wait and args.executor == "slurm":
        print(f"not waiting; when the jobs are done: ppbench report --results {spec.results} --out {spec.report}")
        return 0
    if failed:
        print(f"{len(failed)} of {len(summaries)} run(s) failed:", file=sys.stderr)
        for s in failed:
            print(f"  {s.get('run_id')}: {s.get('error', s.get('status'))}", file=sys.stderr)
    if not args.no_report:
        print(f"\nreport over {spec.results}:")
        try:
            render_report(spec.results, spec.report)
        except PPBenchError as exc:  # e.g. every run failed: no record to report; the failures are listed above
            print(f"ppbench: error: report: {exc}", file=sys.stderr)
            return 1 if failed else 2
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ppbench sweep`` to the CLI."""
    description = ("expand a grid of runs from a TOML file, skip the complete ones, launch the rest through "
                   "submitit (local processes, slurm, or in-process), then render the report")
    p = add_command(subparsers, "sweep", cmd_sweep, description, epilog=EXAMPLES)
    p.add_argument("config", type=Path, metavar="CONFIG.toml", help="the sweep file (e.g. sweeps/table1-cpu.toml)")
    g = p.add_argument_group("what and where")
    g.add_argument("--executor", choices=["local", "slurm", "debug"], default="local",
                   help="local: processes on this machine (default); slurm: a job array; debug: in this process")
    g.add_argument("--dry-run", action="store_true", help="list the runs (and, for slurm, the job script); run nothing")
    g.add_argument("--max-parallel", type=int, metavar="N",
                   help="runs at the same time (local default 1; slurm: the array's %%N limit)")
    g.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override an option in every run (a TOML value; a list makes it a grid axis)")
    g.add_argument("--dataset", help="shorthand for --set dataset=SPEC (e.g. npz:PATH, sample)")
    g.add_argument("--device", help="shorthand for --set device=DEVICE (default: auto on each node)")
    g.add_argument("--results", type=Path, metavar="DIR", help="results folder (default: the file's, or runs/NAME)")
    g.add_argument("--report-dir", type=Path, metavar="DIR", help="report folder (default: the file's, or report/NAME)")
    g.add_argument("--no-report", action="store_true", help="do not render the report at the end")
    g.add_argument("--force", action="store_true", help="rerun every run from scratch, complete or not")
    g.add_argument("--logs", type=Path, metavar="DIR", help="submitit's job folder (default RESULTS/.submitit)")
    g.add_argument("--no-wait", action="store_true", help="slurm: submit and return (render the report later)")
    r = p.add_argument_group("resources per run (defaults: the file's [slurm] table)")
    r.add_argument("--partition", help="slurm partition")
    r.add_argument("--gpus", type=int, metavar="N", help="GPUs per run; N > 1 trains with DDP, one process per GPU")
    r.add_argument("--cpus", type=int, metavar="N", help="CPUs per task (local: torch threads per run)")
    r.add_argument("--time", metavar="T", help="time limit per job: minutes or [d-]h:mm[:ss] (default 24:00:00)")
    r.add_argument("--mem", type=float, metavar="GB", help="memory per node in GB")
    r.add_argument("--account", help="slurm account")
    r.add_argument("--qos", help="slurm quality of service")
    r.add_argument("--constraint", help="slurm node constraint (e.g. h100)")
    r.add_argument("--setup", action="append", metavar="CMD", help="shell line run before each job (repeatable)")
