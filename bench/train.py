"""Training a classifier on encrypted images: optimiser, schedule, the step, evaluation, checkpoints.

The loop is deliberately plain: one optimiser step per batch (cross-entropy + the network's
``extra_loss()``, e.g. the ELE adapter's regulariser), gradient clipping by global norm, a per-step
learning-rate factor (:func:`lr_factor`), and evaluation on the (encrypted) test set after every epoch.
bf16 autocast is used only on CUDA and only when asked. Everything that decides the next epoch (model,
optimiser, scheduler, the global and the data generators' RNG states, epoch, step, history) goes into
the checkpoint, so that a resumed run on the CPU ends bit-identical to an uninterrupted one.

A checkpoint file is ``torch.save``'s bytes followed by a one-line trailer holding their SHA-256
(:func:`save_checked` / :func:`load_checked`): a bit flipped anywhere (tensor data included, which
``torch.load`` alone would accept) refuses the file instead of resuming from garbage. It also names the
run's config hash and key id, so a checkpoint is only resumed by the run, under the key, that wrote it.
A loss or weight that stops being finite ends training with :class:`DivergedError` before the epoch's
checkpoint is written.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checked_file import load_checked, save_checked
from .errors import CheckpointError, InputError, PPBenchError
from .distributed import context as distributed_context, for_eval, sum_over_ranks, unwrap

__all__ = [
    "TrainSettings", "TrainState", "build_optimizer", "lr_factor", "build_scheduler", "train_step",
    "evaluate", "fit", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "DivergedError", "save_checked",
    "load_checked",
]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "ppbench-checkpoint"
CHECKPOINT_VERSION = 2  # 2: SHA-256 trailer, key_id
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "multistep", "constant")


class DivergedError(PPBenchError):
    """Training produced a non-finite loss or weight: the run stops, and nothing of that state is saved."""


@dataclass(frozen=True)
class TrainSettings:
    """The resolved numbers the loop needs (a view of the run's config)."""

    optimizer: str
    lr: float
    momentum: float
    beta2: float
    nesterov: bool
    weight_decay: float
    schedule: str
    total_steps: int
    epochs: int
    warmup_steps: int
    milestones: tuple[float, ...]
    gamma: float
    grad_clip: float | None
    label_smoothing: float
    amp: bool


@dataclass
class TrainState:
    """Progress of a training run: completed epochs and steps, per-epoch history, time spent."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0


# -- optimiser and schedule -----------------------------------------------------------------------------
def build_optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    """SGD (momentum, optional Nesterov) or AdamW over every parameter, weight decay on all of them."""
    params = [p for p in model.parameters() if p.requires_grad]
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov, weight_decay=s.weight_decay)
    if s.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=s.lr, betas=(s.momentum, s.beta2), weight_decay=s.weight_decay)
    raise InputError(f"unknown optimizer {s.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")


def lr_factor(step: int, *, schedule: str, total_steps: int, warmup_steps: int, milestones: tuple[float, ...],
              gamma: float) -> float:
    """Multiplier of the base learning rate before optimiser step ``step`` (0-based).

    ``cosine``: linear warm-up from 0 over ``warmup_steps``, then half a cosine to 0 at ``total_steps``
    (jeonsworld/ViT-pytorch's ``WarmupCosineSchedule``). ``multistep``: times ``gamma`` at each milestone
    (a fraction of ``total_steps``). ``constant``: 1.
    """
    if schedule == "cosine":
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    if schedule == "multistep":
        passed = sum(step >= round(m * total_steps) for m in milestones)
        return gamma ** passed
    if schedule == "constant":
        return 1.0
    raise InputError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def build_scheduler(optimizer: torch.optim.Optimizer, s: TrainSettings) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR over :func:`lr_factor` (its state is just the step count)."""
    fn = functools.partial(lr_factor, schedule=s.schedule, total_steps=s.total_steps, warmup_steps=s.warmup_steps,
                           milestones=tuple(s.milestones), gamma=s.gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


# -- step and evaluation -------------------------------------------------------------------------------------
def _autocast(device: torch.device, amp: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


def extra_loss(model: nn.Module) -> torch.Tensor | float:
    """The network's own regulariser after a forward pass (0 for networks without one)."""
    fn = getattr(model, "extra_loss", None)
    return fn() if callable(fn) else 0.0


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
               scheduler: Any | None, s: TrainSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on a batch; returns (summed loss, number correct) as tensors (no sync)."""
    model.train()
    with _autocast(x.device, s.amp):
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=s.label_smoothing)
        loss = loss + extra_loss(unwrap(model))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if s.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.detach() * len(y), (logits.detach().argmax(1) == y).sum()


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], amp: bool = False) -> float:
    """Top-1 accuracy (a fraction) over ``batches`` (under DDP: each rank's share, counted over all ranks)."""
    model.eval()
    correct, total = 0, 0
    for x, y in batches:
        with _autocast(x.device, amp):
            logits = model(x)
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
    correct, total = sum_over_ranks(correct, total)
    return correct / max(1, total)


def _progress(total: int, desc: str, enabled: bool | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=False, disable=(None if enabled is None else not enabled),
                dynamic_ncols=True)


def _diverged(s: TrainSettings, what: str, epoch: int, step: int) -> DivergedError:
    """The one-line error of a run whose training stopped being finite, with the fixes that apply."""
    fixes = [f"lower --lr (now {s.lr:g})"]
    if not s.grad_clip:
        fixes.append("clip gradients (--grad-clip 1.0)")
    if s.amp:
        fixes.append("turn off --amp")
    return DivergedError(f"training diverged: {what} at epoch {epoch} step {step}; {', or '.join(fixes)}; "
                         "no checkpoint of this state was written")


def _check_losses(losses: list[torch.Tensor], s: TrainSettings, *, epoch: int, first_step: int) -> None:
    """DivergedError naming the first step (1-based, counted over the whole run) whose loss is not finite."""
    if not losses:
        return
    values = torch.stack(losses)
    bad = (~torch.isfinite(values)).nonzero()
    if len(bad):
        index = int(bad[0, 0])
        raise _diverged(s, f"training loss became {float(values[index])}", epoch, first_step + index + 1)


def _check_weights(model: nn.Module, s: TrainSettings, *, epoch: int, step: int) -> None:
    """DivergedError if any weight is NaN or infinite (a finite loss can still leave non-finite weights)."""
    tensors = {name: t for name, t in unwrap(model).state_dict().items() if t.is_floating_point()}
    if not tensors:
        return
    finite = torch.stack([torch.isfinite(t).all() for t in tensors.values()]).cpu()  # one device sync
    if not bool(finite.all()):
        name = list(tensors)[int((~finite).nonzero()[0, 0])]
        raise _diverged(s, f"weight {name} became non-finite", epoch, step)


def train_epoch(model: nn.Module, pipeline: Any, optimizer: torch.optim.Optimizer, scheduler: Any,
                s: TrainSettings, *, max_steps: int, desc: str, progress: bool | None, epoch: int = 1,
                first_step: int = 0) -> dict[str, float]:
    """Train for up to ``max_steps`` steps of one epoch; loss, accuracy and speed of the epoch.

    A non-finite loss raises :class:`DivergedError`: checked whenever the running loss is read anyway
    (progress refreshes; one process only, so that DDP ranks never disagree) and at the end of the epoch
    over every rank (so all ranks stop together).
    """
    start = time.perf_counter()
    loss_sum = correct = None
    losses: list[torch.Tensor] = []
    images = steps = 0
    lr = optimizer.param_groups[0]["lr"]
    refresh = max(1, min(max_steps, pipeline.steps_per_epoch) // 25)
    single = distributed_context() is None
    with _progress(min(max_steps, pipeline.steps_per_epoch), desc, progress) as bar:
        for x, y in pipeline.train_batches():
            if steps >= max_steps:
                break
            lr = optimizer.param_groups[0]["lr"]
            l, c = train_step(model, x, y, optimizer, scheduler, s)
            losses.append(l)
            loss_sum = l if loss_sum is None else loss_sum + l
            correct = c if correct is None else correct + c
            images += len(y)
            steps += 1
            bar.update(1)
            if steps % refresh == 0:
                running_loss = float(loss_sum)
                if single and not math.isfinite(running_loss):
                    _check_losses(losses, s, epoch=epoch, first_step=first_step)
                rate = images / max(1e-9, time.perf_counter() - start)
                bar.set_postfix(loss=f"{running_loss / images:.3f}", acc=f"{int(correct) / images:.3f}",
                                img_s=f"{rate:.0f}")
    seconds = time.perf_counter() - start
    loss_total, correct_total, images = sum_over_ranks(loss_sum, correct, images)  # DDP: the global batch's
    if not math.isfinite(loss_total):  # every rank sees the same sum, so every rank stops here
        _check_losses(losses, s, epoch=epoch, first_step=first_step)
        raise _diverged(s, f"training loss became {loss_total} (on another process)", epoch, first_step + steps)
    return {"steps": steps, "images": int(images), "lr": lr, "train_loss": loss_total / max(1, images),
            "train_accuracy": correct_total / max(1, images), "images_per_s": images / max(1e-9, seconds),
            "seconds": seconds}


def fit(model: nn.Module, pipeline: Any, optimizer: torch.optim.Optimizer, scheduler: Any, s: TrainSettings,
        state: TrainState, *, on_epoch_end: Callable[[TrainState], None] | None = None,
        progress: bool | None = None) -> TrainState:
    """Train from ``state`` until ``s.epochs`` epochs or ``s.total_steps`` steps, evaluating every epoch.

    :class:`DivergedError` when the loss or a weight stops being finite; ``state`` and ``on_epoch_end``
    (the checkpoint) then never see the diverged epoch.
    """
    while state.epoch < s.epochs and state.step < s.total_steps:
        epoch = state.epoch + 1
        stats = train_epoch(model, pipeline, optimizer, scheduler, s, max_steps=s.total_steps - state.step,
                            desc=f"epoch {epoch}/{s.epochs}", progress=progress, epoch=epoch, first_step=state.step)
        _check_weights(model, s, epoch=epoch, step=state.step + stats["steps"])
        eval_start = time.perf_counter()
        accuracy = evaluate(for_eval(model), pipeline.test_batches(), s.amp)
        eval_seconds = time.perf_counter() - eval_start
        state.step += stats["steps"]
        state.epoch = epoch
        state.elapsed_s += stats["seconds"] + eval_seconds
        state.history.append({
            "epoch": epoch, "step": state.step, "lr": stats["lr"],
            "train_loss": stats["train_loss"], "train_accuracy": stats["train_accuracy"], "test_accuracy": accuracy,
            "images_per_s": stats["images_per_s"], "seconds": stats["seconds"], "eval_seconds": eval_seconds,
        })
        log.info("epoch %d/%d: loss %.4f, train acc %.4f, test acc %.4f, %.0f img/s, %.1f s (+%.1f s eval)",
                 epoch, s.epochs, stats["train_loss"], stats["train_accuracy"], accuracy, stats["images_per_s"],
                 stats["seconds"], eval_seconds)
        if on_epoch_end is not None:
            on_epoch_end(state)
    return state


# -- checkpoints ---------------------------------------------------------------------------------------------
def rng_states(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """The global CPU (and CUDA) RNG states and those of the named generators."""
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "generators": {k: g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    """Put back what :func:`rng_states` saved."""
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    for name, gen in generators.items():
        gen.set_state(states["generators"][name])


def save_checkpoint(path: Path, *, config_hash: str, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, state: TrainState, generators: dict[str, torch.Generator],
                    key_id: str | None = None) -> None:
    """Write the checkpoint atomically (temp file, fsync, rename) with its checksum, config hash and key id."""
    payload = {
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "config_hash": config_hash,
        "key_id": key_id, "epoch": state.epoch, "step": state.step, "history": state.history,
        "elapsed_s": state.elapsed_s, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "rng": rng_states(generators),
    }
    save_checked(payload, path)


def load_checkpoint(path: Path, config_hash: str, key_id: str | None = None) -> dict[str, Any]:
    """Read and check a checkpoint (checksum, format, config hash, key id); CheckpointError if unusable."""
    fix = f"delete {path} to restart this run from scratch, or rerun with --force"
    try:
        payload = load_checked(path, fix)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path} ({exc.strerror or exc}); {fix}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a ppbench checkpoint; {fix}")
    if payload.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {payload.get('format_version')!r}, this ppbench "
                              f"reads {CHECKPOINT_VERSION}; {fix}")
    if payload.get("config_hash") != config_hash:
        raise CheckpointError(f"checkpoint {path} belongs to another configuration (hash {payload.get('config_hash')!r}, "
                              f"this run {config_hash!r}); {fix}")
    if payload.get("key_id") != key_id:
        raise CheckpointError(f"checkpoint {path} was trained under key {payload.get('key_id')!r}, but this run's key "
                              f"is {key_id!r}; restore the key file it was made with (key_id {payload.get('key_id')}), "
                              f"or {fix}")
    return payload


def restore_checkpoint(payload: dict[str, Any], *, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                       generators: dict[str, torch.Generator], path: Path) -> TrainState:
    """Load a checked checkpoint into the live objects; CheckpointError if its tensors do not fit."""
    try:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        restore_rng_states(payload["rng"], generators)
        return TrainState(epoch=int(payload["epoch"]), step=int(payload["step"]), history=list(payload["history"]),
                          elapsed_s=float(payload.get("elapsed_s", 0.0)))
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit this run's model or optimiser ({exc.__class__.__name__}: "
                              f"{str(exc)[:200]}); delete it to restart from scratch, or rerun with --force") from None
