"""One run of a sweep as submitit executes it (:class:`SweepJob`), and the summary line it prints."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from submitit.helpers import Checkpointable, DelayedSubmission

from ..errors import CheckpointError, PPBenchError

__all__ = ["SweepJob", "summarise"]

log = logging.getLogger(__name__)

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
        from ..runner import resolve_config, run, run_id

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
