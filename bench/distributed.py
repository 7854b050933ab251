"""Multi-GPU training with DistributedDataParallel: one process per GPU, started by torchrun or submitit.

    torchrun --nproc-per-node 4 -m ppbench run --scheme proposed --profile paper --pretrained

Every process runs the same ``ppbench run``; the runner and the training loop call the hooks below, and
with one process (no ``WORLD_SIZE`` > 1 in the environment) every hook does nothing. How a run is split:

- **Process group.** :func:`setup` reads the launcher's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR``/``MASTER_PORT``: torchrun sets them; in a multi-task submitit job ``ppbench.sweep`` exports
  them) and joins the group: backend ``nccl`` on CUDA (device ``cuda:LOCAL_RANK``), ``gloo`` on the CPU.
- **Who writes.** Rank 0 (the *leader*) does everything a single-process run does: the folder's lock, its
  log, the key, the record, the checkpoints and the attacks. The other ranks (*followers*) never write a
  file: they wait for the leader's *plan* (:func:`announce` / :func:`receive_plan`, a broadcast sent once
  the key is in the run folder and a ``--force`` has cleared it), read the key from the folder, restore
  the same checkpoint, train, and return.
- **Data.** Every rank draws the same permutation and the same augmentation numbers from the run's seeded
  generators, for the whole global batch, and keeps a contiguous 1/N slice of each global batch (what
  ``DistributedSampler`` does per epoch, done per batch so that the global batch is exactly the
  single-process batch). Each rank resizes, augments and encrypts only its slice, on its own device, with
  the one key. ``--batch-size`` is the global batch and must be divisible by the number of processes.
- **Gradients.** Each rank's loss is the mean over its slice; DDP averages the gradients over the ranks,
  which is the gradient of the mean over the global batch (the slices are equal). Gradient clipping then
  sees the same global gradient on every rank, and every rank takes the same optimiser step.
- **Statistics.** The epoch's training loss, accuracy and image count and the test set's correct count
  are summed over the ranks (each rank evaluates a slice of every test batch).
- **BatchNorm.** On CUDA the model's BatchNorm layers become ``SyncBatchNorm`` (statistics of the global
  batch, as in one process). On the CPU (gloo, used for tests; SyncBatchNorm is CUDA-only) each rank
  normalises its slice with its own statistics, and rank 0's running statistics are copied to every
  rank before evaluation.
- **Random layers** (dropout, ShakeDrop): ranks > 0 reseed their global RNG with their rank folded in, so
  their masks are independent of rank 0's (one process draws them for the whole batch from one stream:
  the same distribution, not the same numbers).

How close a DDP run is to a one-process run with the same global batch: the data, the initial weights,
the key and every random draw of the pipeline are identical; what differs is floating-point summation
order (each rank reduces over half the batch, then the all-reduce adds the halves), which moves the
training loss by about 1e-6 relative per step and can flip the arg-max of a test image that sits on a
tie. ``tests/test_distributed.py`` therefore compares per-epoch losses to a relative 1e-3 and accuracies
to within one image; networks with BatchNorm (on the CPU) or random layers differ more (see above).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator

import torch
import torch.nn as nn

from .data import BatchPipeline, crop_padding_for
from .errors import InputError, PPBenchError
from .transforms import resize_uint8

__all__ = [
    "DistContext", "setup", "context", "is_leader", "announce", "receive_plan", "leader_scope", "wrap_model",
    "unwrap", "shard_pipeline", "ShardedBatchPipeline", "sum_over_ranks", "for_eval", "decorrelate_rng",
    "shard_bounds", "teardown", "check_batch_size",
]

log = logging.getLogger(__name__)

TIMEOUT_ENV = "PPBENCH_DIST_TIMEOUT_MIN"  # how long followers wait for the leader (data download, key, ...)


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_leader(self) -> bool:
        return self.rank == 0


_CTX: DistContext | None = None
_ANNOUNCED = False


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise PPBenchError(f"environment variable {name}={os.environ[name]!r} is not an integer; it is set by the "
                           "launcher (torchrun or submitit)") from None


def setup(device: str | torch.device | None = None) -> DistContext | None:
    """Join the process group described by the environment; None when this is the only process.

    Idempotent. ``device`` is the run's device: CUDA (``cuda``, ``cuda:K``, or auto with a GPU present)
    picks ``cuda:LOCAL_RANK`` and nccl; anything else gloo on the CPU.
    """
    global _CTX
    if _CTX is not None:
        return _CTX
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return None
    import torch.distributed as dist

    if not dist.is_available():
        raise PPBenchError("WORLD_SIZE > 1 but this torch build has no torch.distributed; run one process")
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    wanted = torch.device(device) if device not in (None, "", "auto") else None
    use_cuda = torch.cuda.is_available() and (wanted is None or wanted.type == "cuda")
    if use_cuda:
        index = local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        dev, backend = torch.device("cuda", index), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        minutes = float(os.environ.get(TIMEOUT_ENV, "60"))
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=minutes))
        atexit.register(teardown)
    _CTX = DistContext(rank=rank, world_size=world, local_rank=local_rank, backend=backend, device=dev)
    log.info("DDP: rank %d of %d on %s (%s)", rank, world, dev, backend)
    return _CTX


def teardown() -> None:
    """Leave the process group (registered at exit by :func:`setup`)."""
    global _CTX
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
    _CTX = None


def context() -> DistContext | None:
    """The group this process joined through :func:`setup`, or None."""
    return _CTX


def is_leader() -> bool:
    """True for rank 0 and for a single process."""
    return _CTX is None or _CTX.is_leader


# -- the leader's plan ------------------------------------------------------------------------------------------
def announce(plan: dict[str, Any]) -> None:
    """Leader: tell the followers what to do (once per run). ``{"train": True}`` once the key and the folder
    are ready; ``{"train": False}`` when the run is complete or has no classifier; ``error`` when it failed."""
    global _ANNOUNCED
    if _CTX is None or not _CTX.is_leader or _ANNOUNCED:
        return
    import torch.distributed as dist

    _ANNOUNCED = True
    dist.broadcast_object_list([dict(plan)], src=0)


def receive_plan() -> dict[str, Any]:
    """Follower: wait for the leader's plan."""
    import torch.distributed as dist

    box: list[Any] = [None]
    dist.broadcast_object_list(box, src=0)
    return dict(box[0] or {})


@contextlib.contextmanager
def leader_scope() -> Iterator[None]:
    """Around the leader's run: if it ends before announcing (skipped, attack-only, or an error), the
    followers are told so, and they return (or raise) instead of waiting forever."""
    global _ANNOUNCED
    _ANNOUNCED = False
    try:
        yield
    except BaseException as exc:
        announce({"train": False, "error": f"{exc.__class__.__name__}: {exc}"})
        raise
    else:
        announce({"train": False})


# -- model -----------------------------------------------------------------------------------------------------
def wrap_model(model: nn.Module) -> nn.Module:
    """DDP around ``model`` (SyncBatchNorm first on CUDA); ``model`` itself when single-process.

    SyncBatchNorm conversion replaces the BatchNorm modules inside ``model`` in place, keeping their
    parameters and buffers, so the optimiser and the checkpoint's state-dict keys are unchanged. Save and
    load checkpoints through ``model``, never through the wrapper (its keys carry a ``module.`` prefix).
    """
    if _CTX is None:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if _CTX.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[_CTX.device.index], output_device=_CTX.device.index,
                                       gradient_as_bucket_view=True)
    return DistributedDataParallel(model)  # buffers are broadcast from rank 0 at every forward (the default)


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (for ``extra_loss()`` and evaluation)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


@torch.no_grad()
def for_eval(model: nn.Module) -> nn.Module:
    """The network to evaluate: unwrapped, with rank 0's buffers (BatchNorm running statistics) on every rank."""
    inner = unwrap(model)
    if _CTX is not None and inner is not model:
        import torch.distributed as dist

        for buffer in inner.buffers():
            dist.broadcast(buffer, src=0)
    return inner


def decorrelate_rng(seed: int, epoch: int) -> None:
    """Ranks > 0: reseed the global RNG (dropout, ShakeDrop) from the run's seed, the rank and the epoch
    training continues from, so that their random masks are not copies of rank 0's."""
    if _CTX is None or _CTX.is_leader:
        return
    from .seeds import derive_seed

    torch.manual_seed(derive_seed(seed, f"train/rank{_CTX.rank}/epoch{epoch}"))


def sum_over_ranks(*values: float | int | torch.Tensor | None) -> list[float]:
    """Each value summed over all ranks (floats; None counts as 0); the values themselves when single-process."""
    plain = [0.0 if v is None else float(v) for v in values]
    if _CTX is None:
        return plain
    import torch.distributed as dist

    device = _CTX.device if _CTX.backend == "nccl" else torch.device("cpu")
    t = torch.tensor(plain, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.cpu()]


# -- data --------------------------------------------------------------------------------------------------
def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """The contiguous slice ``[lo, hi)`` of ``n`` items that ``rank`` takes (sizes differ by at most one)."""
    base, extra = divmod(n, world_size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def _crop_flip_slice(x: torch.Tensor, padding: int, generator: torch.Generator, n_global: int, lo: int) -> torch.Tensor:
    """:func:`ppbench.data.random_crop_flip` of rows ``lo:lo+len(x)`` of a global batch of ``n_global`` images.

    Draws the numbers for the whole global batch (so the generator advances exactly as in one process, and
    every rank stays in step) and applies this slice's share; tested against ``random_crop_flip``.
    """
    offsets = torch.randint(0, 2 * padding + 1, (n_global, 2), generator=generator)
    flips = torch.rand(n_global, generator=generator) < 0.5
    n, _, h, w = x.shape
    offsets, flips = offsets[lo:lo + n].to(x.device), flips[lo:lo + n].to(x.device)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding)) if padding else x
    rows = offsets[:, :1] + torch.arange(h, device=x.device)
    span = torch.arange(w, device=x.device)
    cols = offsets[:, 1:] + torch.where(flips[:, None], w - 1 - span, span)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows[:, None, :, None], cols[:, None, None, :]]


@dataclass
class ShardedBatchPipeline(BatchPipeline):
    """A :class:`BatchPipeline` that yields this rank's slice of every global batch (train and test).

    ``batch_size`` and ``steps_per_epoch`` stay global; the generators advance as in one process.
    """

    rank: int = 0
    world_size: int = 1

    def train_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.data.y_train)
        batch = min(self.batch_size, n)
        lo, hi = shard_bounds(batch, self.rank, self.world_size)
        perm = torch.randperm(n, generator=self.order)
        padding = crop_padding_for(self.image_size)
        for step in range(self.steps_per_epoch):
            idx = perm[step * batch:(step + 1) * batch][lo:hi]
            x = resize_uint8(self.data.x_train[idx].to(self.device, non_blocking=True), self.image_size)
            if self.plain_augment:
                x = _crop_flip_slice(x, padding, self.augment_gen, batch, lo)
            yield self._prepare(x, augment=False), self.data.y_train[idx].to(self.device, non_blocking=True)

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.data.y_test)
        for start in range(0, n, self.eval_batch_size):
            size = min(self.eval_batch_size, n - start)
            lo, hi = shard_bounds(size, self.rank, self.world_size)
            if hi > lo:
                x = self._prepare(self.data.x_test[start + lo:start + hi], augment=False)
                yield x, self.data.y_test[start + lo:start + hi].to(self.device, non_blocking=True)


def check_batch_size(batch_size: int, ctx: DistContext | None = None) -> None:
    """InputError (on every rank, before anything is written) if the global batch does not split evenly."""
    ctx = ctx or _CTX
    if ctx is not None and batch_size % ctx.world_size:
        raise InputError(f"the global batch of {batch_size} images cannot be split evenly over "
                         f"{ctx.world_size} processes; pick --batch-size a multiple of {ctx.world_size}")


def shard_pipeline(pipeline: BatchPipeline, ctx: DistContext | None = None) -> BatchPipeline:
    """This rank's :class:`ShardedBatchPipeline` over ``pipeline``; ``pipeline`` itself when single-process."""
    ctx = ctx or _CTX
    if ctx is None:
        return pipeline
    check_batch_size(pipeline.batch_size, ctx)
    fields = {name: getattr(pipeline, name) for name in pipeline.__dataclass_fields__}
    return ShardedBatchPipeline(**fields, rank=ctx.rank, world_size=ctx.world_size)
