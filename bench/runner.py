"""``ppbench run``: train a classifier on encrypted images, run attacks, and store one result record.

A run is identified by its resolved configuration (:class:`RunConfig`): the hash of every value that
changes its result (its data, encryption and training sections, files by their content; not the attack or
execution sections) names its folder ``RESULTS/<run_id>/`` (:func:`ppbench.config.locate_run`). So runs
are independent and idempotent: the same command maps to the same folder; a complete run is skipped
(``--force`` reruns it); an interrupted one continues from its last checkpoint (an epoch boundary) and
ends, on the CPU, bit-identical to an uninterrupted run; attacks added to a complete run are run alone
and merged into its record. A lock file (``O_EXCL``) keeps two processes
out of one run folder; every file is written atomically.

Library use::

    from ppbench.runner import resolve_config, run
    record = run(resolve_config(scheme="proposed", profile="smoke", results="runs"))
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from . import distributed
from .config import DEFAULT_PROFILE, NON_IDENTITY_FIELDS, RunConfig, locate_run, resolve_config, run_dir_for, run_id
from .data import BatchPipeline, Dataset, crop_padding_for, load_dataset
from .environment import environment
from .paths import make_folder, missing_folders
from .seeds import derive_seed
from .errors import CheckpointError, InputError, KeyFileError, PPBenchError
from .profiles import PAPER_TABLE_I
from .records import RECORD_FILE, SCHEMA_VERSION, RunRecord, read_record, write_record
from .runfolder import CHECKPOINT_FILE, LOCK_FILE, LOG_FILE, RunLockedError, log_to, run_key, run_lock
from .train import (
    DivergedError, TrainSettings, TrainState, build_optimizer, build_scheduler, fit, load_checkpoint,
    restore_checkpoint, save_checkpoint,
)

__all__ = ["RunConfig", "resolve_config", "run", "run_id", "run_dir_for", "RunLockedError", "DEFAULT_PROFILE",
           "NON_IDENTITY_FIELDS", "derive_seed", "missing_attacks", "run_lock"]

log = logging.getLogger(__name__)


# -- the run -------------------------------------------------------------------------------------------------
def run(config: RunConfig) -> dict[str, Any]:
    """Execute (or skip, or resume) one run and return its result record.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this: rank 0 does all a single process does
    (lock, log, key, record, checkpoints, attacks) and the other ranks only train their share of each
    batch and return ``{}`` (see :mod:`ppbench.distributed`).
    """
    ctx = distributed.setup(config.execution.device)
    if ctx is not None and not ctx.is_leader:
        return _Run(config, *locate_run(config), leader=False).follow()
    with distributed.leader_scope():
        return _run_leader(config)


def _run_leader(config: RunConfig) -> dict[str, Any]:
    run_dir, config_hash = locate_run(config)
    if config.execution.resume and not ((run_dir / CHECKPOINT_FILE).is_file() or (run_dir / RECORD_FILE).is_file()):
        raise CheckpointError(f"--resume: nothing to resume in {run_dir} (no checkpoint or record); drop --resume "
                              "to start the run")
    created = missing_folders(run_dir)  # the run folder and any results folders above it this run makes
    make_folder(run_dir, "--results")
    failed_empty = False
    try:
        with run_lock(run_dir):  # RunLockedError: another process owns the folder; leave it alone
            try:
                with log_to(run_dir / LOG_FILE):
                    try:
                        return _Run(config, run_dir, config_hash).execute()
                    except BaseException as exc:
                        log.error("run %s stopped: %s: %s", run_dir.name, exc.__class__.__name__, exc)
                        raise
            except PPBenchError:
                # a new run that failed on bad input before producing anything leaves no folder behind
                failed_empty = bool(created) and not any((run_dir / n).exists() for n in (CHECKPOINT_FILE, RECORD_FILE))
                if failed_empty:
                    for path in run_dir.iterdir():
                        if path.name != LOCK_FILE and path.is_file():
                            path.unlink()
                raise
    finally:
        if failed_empty:
            for folder in created:  # innermost first; one that is not empty is in use by another run: stop
                try:
                    folder.rmdir()
                except OSError:
                    break


def _jpeg_encrypt(encrypt, roundtrip, quality: int, x: torch.Tensor) -> torch.Tensor:
    """``encrypt`` followed by a JPEG round trip at ``quality``: the ciphertexts a JPEG-storing cloud holds."""
    return roundtrip(encrypt(x), quality)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def build_network(config: RunConfig, num_classes: int, device: torch.device | str) -> torch.nn.Module:
    """The run's classifier (with the scheme's adapter in front), initialised from its seed, on ``device``: what
    a run trains, and what ``ppbench recognise`` loads a finished run's checkpoint into."""
    from .networks import create_network

    c, t = config, config.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(c.seed, "init"))
        try:
            model = create_network(c.network, num_classes=num_classes, image_size=c.encryption.image_size,
                                   block_size=c.encryption.block_size, adapter=t.adapter, pretrained=t.pretrained,
                                   weights=t.weights, from_scratch=t.from_scratch)
        except PPBenchError:
            raise
        except (RuntimeError, ValueError, FileNotFoundError) as exc:
            raise InputError(f"cannot build network {c.network!r}: {exc}") from None
    device = torch.device(device)
    model = model.to(device)
    if t.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


@dataclass
class _Run:
    """One execution of a run in its (locked) folder."""

    config: RunConfig
    run_dir: Path
    config_hash: str  # the hash the folder is kept under (the config's own, or an accepted old one)
    session_start: float = field(default_factory=time.perf_counter)
    previous_duration: float = 0.0
    record: dict[str, Any] = field(default_factory=dict)
    leader: bool = True  # False: a DDP rank > 0, which trains its share and writes nothing

    @property
    def rid(self) -> str:
        return self.run_dir.name

    def follow(self) -> dict[str, Any]:
        """DDP rank > 0: wait for rank 0's plan, then train in step with it (or return at once)."""
        plan = distributed.receive_plan()
        if plan.get("error"):
            raise PPBenchError(f"rank 0 stopped the run: {plan['error']}")
        if not plan.get("train"):
            return {}
        self._train_and_attack(None)
        return {}

    # -- top level ------------------------------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        existing = self._existing_record()
        if existing is not None and existing.get("status") == "complete" and not self.config.execution.force:
            distributed.announce({"train": False})  # DDP: nothing to train; ranks > 0 return now, not after the attacks
            missing = self._missing_attacks(existing)
            if not missing:
                log.info("%s is complete: skipped (pass --force to rerun it)", self.rid)
                return existing
            log.info("%s is complete; running the missing attack(s) %s", self.rid, ", ".join(missing))
            return self._attacks_only(existing, missing)
        if self.config.execution.force:
            self._clear()
            existing = None
        log.info("run %s (profile %s, config hash %s) in %s", self.rid, self.config.profile, self.config_hash,
                 self.run_dir)
        return self._train_and_attack(existing)

    def _existing_record(self) -> dict[str, Any] | None:
        path = self.run_dir / RECORD_FILE
        if not path.exists():
            return None
        if self.config.execution.force:
            return None
        return read_record(path)  # CheckpointError if corrupt: nothing is touched

    def _clear(self) -> None:
        """--force: forget the checkpoint, the record and attack outputs (the key is kept)."""
        for name in (CHECKPOINT_FILE, RECORD_FILE):
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / name).unlink()
        shutil.rmtree(self.run_dir / "attacks", ignore_errors=True)
        log.info("--force: cleared %s", self.run_dir)

    def _missing_attacks(self, record: dict[str, Any]) -> list[str]:
        return missing_attacks(self.config, record, log_stale=True)

    # -- pieces ---------------------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        ctx = distributed.context()
        return ctx.device if ctx is not None else torch.device(self.config.execution.device)

    def _data(self) -> Dataset:
        d, x = self.config.data, self.config.execution
        data = load_dataset(d.dataset, root=x.data_root, download=x.download).subset(d.n_train, d.n_test)
        log.info("data %s: %d train / %d test images, %d classes, native %dx%d", data.name, len(data.y_train),
                 len(data.y_test), data.num_classes, *data.image_size)
        return data

    def _scheme(self, record: dict[str, Any] | None) -> Any:
        """The scheme with the run's key: --key FILE, the run folder's key.json, or a fresh one saved there."""
        from .schemes import create_scheme, scheme_info

        c, e = self.config, self.config.encryption
        block = e.block_size if scheme_info(c.scheme).block_wise else None
        try:
            return create_scheme(c.scheme, image_size=e.image_size, block_size=block)
        except KeyFileError:
            pass  # the scheme needs a key
        key = run_key(self.run_dir, c.scheme, image_size=e.image_size, block_size=block, key=c.execution.key,
                      record=record)
        return create_scheme(c.scheme, key=key, image_size=e.image_size, block_size=block)

    def _network(self, num_classes: int) -> torch.nn.Module:
        return build_network(self.config, num_classes, self._device())

    def _settings(self, steps_per_epoch: int) -> TrainSettings:
        c = self.config.training
        total = c.steps if c.steps is not None else c.epochs * steps_per_epoch
        epochs = math.ceil(total / steps_per_epoch) if c.steps is not None else c.epochs
        warmup = c.warmup_steps or round(c.warmup_fraction * total)
        return TrainSettings(optimizer=c.optimizer, lr=c.lr, momentum=c.momentum, beta2=c.beta2, nesterov=c.nesterov,
                             weight_decay=c.weight_decay, schedule=c.schedule, total_steps=total, epochs=epochs,
                             warmup_steps=warmup, milestones=c.milestones, gamma=c.gamma, grad_clip=c.grad_clip,
                             label_smoothing=c.label_smoothing, amp=c.amp and self._device().type == "cuda")

    def _pipeline(self, data: Dataset, scheme) -> BatchPipeline:
        c, t, quality = self.config, self.config.training, self.config.encryption.jpeg_quality
        encrypt = scheme.encrypt
        if quality is not None:  # the cloud receives (and trains on) JPEG-compressed ciphertexts
            from .attack_eval import jpeg_roundtrip

            encrypt = functools.partial(_jpeg_encrypt, scheme.encrypt, jpeg_roundtrip, int(quality))
        return BatchPipeline(
            data=data, encrypt=encrypt, image_size=c.encryption.image_size,
            batch_size=min(t.batch_size, len(data.y_train)), eval_batch_size=t.eval_batch_size, device=self._device(),
            plain_augment=t.plain_augment, order=torch.Generator().manual_seed(derive_seed(c.seed, "order")),
            augment_gen=torch.Generator().manual_seed(derive_seed(c.seed, "augment")),
            channels_last=t.channels_last and self._device().type == "cuda",
        )

    # -- training -------------------------------------------------------------------------------------------
    def _train_and_attack(self, existing: dict[str, Any] | None) -> dict[str, Any]:
        c = self.config
        data = self._data()
        scheme = self._scheme(existing)
        if not c.trains:
            distributed.announce({"train": False})  # DDP: an attack-only run; ranks > 0 return now
            self.record = self._base_record(existing, data, scheme, None, None)
            self._write()
            return self._finish(self._attacks(scheme, data, self._missing_attacks(self.record)))
        model = self._network(data.num_classes)
        pipeline = distributed.shard_pipeline(self._pipeline(data, scheme))  # DDP: this rank's share of a batch
        settings = self._settings(pipeline.steps_per_epoch)
        optimizer = build_optimizer(model, settings)
        scheduler = build_scheduler(optimizer, settings)
        generators = {"order": pipeline.order, "augment": pipeline.augment_gen}

        def on_epoch_end(st: TrainState) -> None:
            save_checkpoint(self.run_dir / CHECKPOINT_FILE, config_hash=self.config_hash, model=model,
                            optimizer=optimizer, scheduler=scheduler, state=st, generators=generators,
                            key_id=scheme.key_id)
            self.record["metrics"]["history"] = list(st.history)
            self._write()

        # the global RNG (dropout, ShakeDrop) is seeded here and saved in every checkpoint; the caller's
        # global RNG state is left as it was
        with torch.random.fork_rng(devices=self._cuda_devices()):
            torch.manual_seed(derive_seed(c.seed, "train"))
            state = self._restore(model, optimizer, scheduler, generators, scheme.key_id)  # CheckpointError before any write
            distributed.announce({"train": True})  # DDP: the key and checkpoint are in place; ranks > 0 start
            trained = distributed.wrap_model(model)  # DDP wrapper (a collective), or the model; checkpoints hold the bare model
            distributed.decorrelate_rng(c.seed, state.epoch)
            self.record = self._base_record(existing, data, scheme, model, settings, pipeline)
            self.record["metrics"]["history"] = list(state.history)
            self._write()
            if state.epoch:
                log.info("resuming %s after epoch %d (step %d)", self.rid, state.epoch, state.step)
            try:
                state = fit(trained, pipeline, optimizer, scheduler, settings, state,
                            on_epoch_end=on_epoch_end if self.leader else None,
                            progress=c.execution.progress if self.leader else False)
            except DivergedError as exc:  # the last good epoch's checkpoint stays; the record says why it stopped
                if self.leader:
                    self._fail(exc)
                raise
        if not self.leader:
            return {}
        history = state.history
        self.record["metrics"]["accuracy"] = history[-1]["test_accuracy"] if history else None
        self.record["metrics"]["train_seconds"] = state.elapsed_s
        self._write()
        log.info("%s: test accuracy %.4f after %d epoch(s)", self.rid, self.record["metrics"]["accuracy"] or 0.0,
                 state.epoch)
        # an interrupted run kept the attacks it finished (the record is written after each): only the rest run
        return self._finish(self._attacks(scheme, data, self._missing_attacks(self.record)))

    def _cuda_devices(self) -> list[int]:
        device = self._device()
        return [device.index or 0] if device.type == "cuda" else []

    def _restore(self, model, optimizer, scheduler, generators, key_id: str | None) -> TrainState:
        path = self.run_dir / CHECKPOINT_FILE
        if not path.exists():
            return TrainState()
        payload = load_checkpoint(path, self.config_hash, key_id)
        return restore_checkpoint(payload, model=model, optimizer=optimizer, scheduler=scheduler,
                                  generators=generators, path=path)

    # -- attacks --------------------------------------------------------------------------------------------
    def _attacks_only(self, record: dict[str, Any], names: list[str]) -> dict[str, Any]:
        self.record = record
        self.previous_duration = float(record.get("duration_s") or 0.0)
        self.record["status"] = "running"
        data = self._data()
        scheme = self._scheme(record)
        return self._finish(self._attacks(scheme, data, names))

    def _attacks(self, scheme, data: Dataset, names: list[str]) -> dict[str, Any]:
        """Run the attacks (one evaluator call: the data and baselines are made once) and merge each result into
        the record as it finishes (written after each, so a run killed between attacks keeps the finished ones)."""
        if not names:
            return self.record
        evaluate_attacks = _attack_evaluator()
        c, a = self.config, self.config.attack
        metrics = self.record.setdefault("metrics", {})

        def record(name: str, out: dict[str, Any]) -> None:
            entry = dict(out["attacks"][name])
            entry.setdefault("attacker_data", a.attacker_data)
            metrics.setdefault("attacks", {})[name] = entry
            metrics.setdefault("baselines", {}).update(out.get("baselines") or {})
            if out.get("attacker_data") is not None:
                metrics["attacker_data"] = out["attacker_data"]
            self._write()

        evaluate_attacks(
            names, scheme=scheme, train_images=data.x_train, test_images=data.x_test,
            image_size=c.encryption.image_size, profile=c.profile,
            n_images=min(a.n_attack_images, len(data.y_test)), attacker_data=a.attacker_data, device=self._device(),
            seed=c.seed, out_dir=self.run_dir, jpeg_quality=c.encryption.jpeg_quality, train_labels=data.y_train,
            on_attack=record,
        )
        return self.record

    # -- the record -----------------------------------------------------------------------------------------
    def _base_record(self, existing, data: Dataset, scheme, model, settings: TrainSettings | None,
                     pipeline: BatchPipeline | None = None) -> dict[str, Any]:
        c = self.config
        existing = existing or {}
        resumed = existing.get("status") in ("running", "failed")  # a failed run resumes from its last good epoch
        self.previous_duration = float(existing.get("duration_s") or 0.0) if resumed else 0.0
        family = _family(c.network) if c.trains else None
        derived = _derived(c, self.rid, self.config_hash, settings, pipeline)
        metrics: dict[str, Any] = {"history": []} if c.trains else {}
        if existing.get("metrics", {}).get("attacks") and resumed:
            metrics["attacks"] = existing["metrics"]["attacks"]
            metrics["baselines"] = existing["metrics"].get("baselines", {})
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.rid,
            "status": "running",
            "scheme": {"name": c.scheme, "version": scheme.info.version, "image_size": list(scheme.image_size),
                       "block_size": scheme.block_size, "key_id": scheme.key_id,
                       "key_space_bits": float(scheme.key_space_bits()), "adapter": c.training.adapter,
                       "info": scheme.info.to_dict()},
            "network": None if model is None else {
                "name": c.network, "family": family, "adapter": c.training.adapter,
                "params": sum(p.numel() for p in model.parameters()), "pretrained": c.training.pretrained,
                "weights": c.training.weights, "from_scratch": c.training.from_scratch},
            "dataset": {**data.describe(), "image_size": [c.encryption.image_size] * 2, "spec": c.data.dataset},
            "profile": c.profile,
            "seed": c.seed,
            "config": c.to_record(derived),
            "metrics": metrics,
            "paper": PAPER_TABLE_I.get((c.scheme, family)) if family else None,
            "environment": environment(self._device()),
            "started_at": existing.get("started_at") or _now(),
            "finished_at": None,
            "duration_s": self.previous_duration,
        }

    def _write(self) -> None:
        if not self.leader:
            return
        self.record["duration_s"] = self.previous_duration + (time.perf_counter() - self.session_start)
        write_record(self.run_dir, RunRecord.from_json(self.record))  # the one record type checks and orders it

    def _fail(self, exc: PPBenchError) -> None:
        """Record that training stopped for good: status "failed", the error, when (never "complete")."""
        self.record["status"] = "failed"
        self.record["error"] = str(exc)
        self.record["finished_at"] = _now()
        self._write()  # the caller logs the error into run.log as it re-raises it

    def _finish(self, record: dict[str, Any]) -> dict[str, Any]:
        record["status"] = "complete"
        record["finished_at"] = _now()
        self.record = record
        self._write()
        log.info("%s complete: %s", self.rid, self.run_dir / RECORD_FILE)
        return self.record


def _derived(c: RunConfig, rid: str, config_hash: str, settings: TrainSettings | None,
             pipeline: BatchPipeline | None) -> dict[str, Any]:
    """The record's ``config.derived``: values computed from the config and the data."""
    padding = crop_padding_for(c.encryption.image_size)
    derived: dict[str, Any] = {"run_id": rid, "config_hash": config_hash, "crop_padding": padding}
    ctx = distributed.context()
    if ctx is not None:  # DDP: the global batch was split over this many processes
        derived["world_size"] = ctx.world_size
    if settings is None or pipeline is None:
        return derived
    augmentation = (f"random crop (zero padding {padding}) + horizontal flip on plain images, then encryption"
                    if c.training.plain_augment else
                    "none: images encrypted once, no augmentation (stricter threat model)")
    return {**derived, "steps_per_epoch": pipeline.steps_per_epoch, "total_steps": settings.total_steps,
            "epochs_effective": settings.epochs, "warmup_steps_effective": settings.warmup_steps,
            "batch_size_effective": pipeline.batch_size, "amp_effective": settings.amp, "augmentation": augmentation}


def _family(network: str) -> str:
    from .networks import network_info

    return network_info(network).family


def missing_attacks(config: RunConfig, record: dict[str, Any], log_stale: bool = False) -> list[str]:
    """The attacks of ``config`` that ``record`` lacks, ran with other ``--attacker-data``, scored on another number
    of test images than ``--n-attack-images`` asks for now, or holds in an out-of-date form
    (:func:`ppbench.attack_eval.stale_fields`): what running ``config`` again would run."""
    from .attack_eval import stale_fields

    done = record.get("metrics", {}).get("attacks", {}) or {}
    wanted = config.attack
    n_test = (record.get("dataset") or {}).get("n_test")
    n_images = min(wanted.n_attack_images, n_test) if isinstance(n_test, int) else wanted.n_attack_images
    missing = []
    for a in wanted.attacks:
        if a not in done or done[a].get("attacker_data", wanted.attacker_data) != wanted.attacker_data:
            missing.append(a)
        elif done[a].get("n_images", n_images) != n_images:
            if log_stale:
                log.info("%s: the recorded %s result scored %s test images, this run asks for %d; running it again",
                         record.get("run_id"), a, done[a]["n_images"], n_images)
            missing.append(a)
        elif stale := stale_fields(a, done[a]):
            if log_stale:
                log.info("%s: the recorded %s result is out of date (%s); running it again",
                         record.get("run_id"), a, "; ".join(stale))
            missing.append(a)
    return missing


def _attack_evaluator():
    """``ppbench.attack_eval.evaluate_attacks``, imported only when a run has attacks (it loads every attack)."""
    from .attack_eval import evaluate_attacks

    return evaluate_attacks
