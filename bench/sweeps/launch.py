"""Launch a sweep's pending runs through submitit's public executors and collect one summary per run.

``local``: ``submitit.LocalExecutor``, a sliding window of ``--max-parallel`` processes; ``slurm``:
``submitit.SlurmExecutor``, one job array; ``debug``: ``submitit.DebugExecutor``, in this process. A job
that fails or never finishes becomes a ``failed`` summary whose error is one line: the exception's last
line and the path of the job's log (``FailedJobError`` / ``UncompletedJobError``, which ``Job.result()``
raises, come from ``submitit.core.utils``: public names that submitit does not re-export at its top level).
"""

from __future__ import annotations

import os
import re
import time
import traceback
from pathlib import Path
from typing import Any

from ..errors import InputError
from .job import SweepJob, _summary_line
from .plan import PlannedRun, SweepPlan
from .slurm import Resources, slurm_parameters

__all__ = ["EXECUTORS", "SUBMITIT_FOLDER", "make_executor", "launch", "render_report"]

EXECUTORS = ("local", "slurm", "debug")
SUBMITIT_FOLDER = ".submitit"


def make_executor(kind: str, folder: Path, resources: Resources, *, max_parallel: int | None = None) -> Any:
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
        try:
            executor = submitit.SlurmExecutor(folder=folder)
        except RuntimeError as exc:  # no srun here
            raise InputError(f"--executor slurm: {exc}; run `ppbench sweep` on the cluster's login node, or "
                             "--dry-run to see the job script") from None
        try:
            executor.update_parameters(**slurm_parameters(resources, max_parallel))
        except ValueError as exc:
            raise InputError(f"bad slurm option: {str(exc).splitlines()[0]}") from None
        return executor
    raise InputError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")

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
    from ..reports import render

    echo("\n".join(render(results, out).lines()))
    return 0
