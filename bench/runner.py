"""``ppbench run``: train a classifier on encrypted images, run attacks, and store one result record.

A run is identified by its resolved configuration (:class:`RunConfig`): the hash of every value that
changes its result (not the attack list, the results folder, the device or flags like ``--force``) names
its folder ``RESULTS/<run_id>/``. So runs are independent and idempotent: the same command maps to the
same folder; a complete run is skipped (``--force`` reruns it); an interrupted one continues from its last
checkpoint (an epoch boundary) and ends, on the CPU, bit-identical to an uninterrupted run; attacks added
to a complete run are run alone and merged into its record. A lock file (``O_EXCL``) keeps two processes
out of one run folder; every file is written atomically.

Library use::

    from ppbench.runner import resolve_config, run
    record = run(resolve_config(scheme="proposed", profile="smoke", results="runs"))
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import torch

from . import distributed
from .data import BatchPipeline, Dataset, check_dataset_name, crop_padding_for, dataset_label, load_dataset
from .environment import environment, resolve_device
from .paths import make_folder, missing_folders
from .seeds import derive_seed
from .errors import CheckpointError, InputError, KeyFileError, PPBenchError
from .keys import SchemeKey
from .profiles import PAPER_TABLE_I, Profile, Recipe, get_profile
from .records import RECORD_FILE, SCHEMA_VERSION, read_record, write_record
from .registry import drop_none
from .train import (
    OPTIMIZERS, SCHEDULES, DivergedError, TrainSettings, TrainState, build_optimizer, build_scheduler, fit,
    load_checked, load_checkpoint, restore_checkpoint, save_checkpoint,
)

__all__ = ["RunConfig", "resolve_config", "run", "run_id", "run_dir_for", "RunLockedError", "DEFAULT_PROFILE",
           "NON_IDENTITY_FIELDS", "derive_seed"]

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "cpu"
CHECKPOINT_FILE = "checkpoint.pt"
KEY_FILE = "key.json"
LOG_FILE = "run.log"
LOCK_FILE = ".lock"
ATTACKER_DATA = ("disjoint", "overlap")


class RunLockedError(PPBenchError):
    """Another live process holds the run folder's lock."""


# -- configuration -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunConfig:
    """Every resolved value of one run. Fields in NON_IDENTITY_FIELDS do not change its result or id."""

    scheme: str
    network: str  # "none": an attack-only run, no classifier
    dataset: str
    profile: str
    seed: int
    image_size: int
    block_size: int
    n_train: int | None
    n_test: int | None
    optimizer: str
    lr: float
    momentum: float
    beta2: float
    nesterov: bool
    weight_decay: float
    batch_size: int
    eval_batch_size: int
    epochs: int | None
    steps: int | None
    schedule: str
    warmup_steps: int
    warmup_fraction: float
    milestones: tuple[float, ...]
    gamma: float
    grad_clip: float | None
    label_smoothing: float
    plain_augment: bool
    adapter: str | None
    pretrained: bool
    weights: str | None
    from_scratch: bool
    amp: bool
    channels_last: bool
    key_id: str | None  # of --key FILE; None: a fresh key made for this run and kept in its folder
    # -- not part of the run's identity (jpeg_quality is, when set: see identity()) --
    key: str | None = None
    attacks: tuple[str, ...] = ()
    attacker_data: str = "disjoint"
    n_attack_images: int = 100
    jpeg_quality: int | None = None
    device: str = "cpu"
    results: str = "runs"
    data_root: str | None = None
    download: bool = True
    force: bool = False
    resume: bool = False
    progress: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """The values that decide the result: what the run id's hash covers (``jpeg_quality`` only when set,
        so that runs without JPEG keep the ids they had before the flag existed)."""
        identity = {k: v for k, v in self.to_dict().items() if k not in NON_IDENTITY_FIELDS}
        if identity.get("jpeg_quality") is None:
            identity.pop("jpeg_quality", None)
        return identity

    @property
    def config_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:8]

    @property
    def trains(self) -> bool:
        return self.network != "none"


NON_IDENTITY_FIELDS = frozenset({
    "key", "attacks", "attacker_data", "n_attack_images", "device", "results", "data_root",
    "download", "force", "resume", "progress",
})
_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
_ALIASES = {"attack": "attacks", "no_plain_augment": None, "no_download": None, "no_progress": None}


_INT = ("seed", "image_size", "block_size", "n_train", "n_test", "batch_size", "eval_batch_size", "epochs", "steps",
        "warmup_steps", "n_attack_images", "jpeg_quality")
_FLOAT = ("lr", "momentum", "beta2", "weight_decay", "warmup_fraction", "gamma", "grad_clip", "label_smoothing")
_BOOL = ("nesterov", "plain_augment", "pretrained", "from_scratch", "amp", "channels_last", "download", "force",
         "resume", "progress")
_PATH = ("key", "weights", "results", "data_root")
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
               tuple: "a list", dict: "a table"}


def _type_error(name: str, value: Any, expected: str, example: str) -> InputError:
    got = _TYPE_NAMES.get(type(value), f"a {type(value).__name__}")
    return InputError(f"option {name} = {value!r} must be {expected}, got {got}; for example {name} = {example}")


def _check_types(o: dict[str, Any]) -> None:
    """Refuse an option value of the wrong type (a sweep's ``epochs = "three"``, ``--set seed=abc``), naming
    the option, the value and the type it needs, before any value is converted."""
    for name, value in o.items():
        if name in _INT and (isinstance(value, bool) or not isinstance(value, int)):
            raise _type_error(name, value, "an integer", "3")
        if name in _FLOAT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error(name, value, "a number", "0.01")
            if not math.isfinite(value):
                raise InputError(f"option {name} = {value!r} must be a finite number; for example {name} = 0.01")
        if name in _BOOL and not isinstance(value, bool):
            raise _type_error(name, value, "true or false", "true")
        if name in _PATH and not isinstance(value, (str, os.PathLike)):
            raise _type_error(name, value, "a path (a string)", '"path/to/file"')
        if name == "milestones" and (not isinstance(value, (list, tuple)) or any(
                isinstance(m, bool) or not isinstance(m, (int, float)) for m in value)):
            raise _type_error(name, value, "a list of fractions", "[0.5, 0.75]")
        if name == "attacks" and not (isinstance(value, str) or (
                isinstance(value, (list, tuple)) and all(isinstance(a, str) for a in value))):
            raise _type_error(name, value, "a list of attack names", '["fr", "itn"]')
        if name == "device" and not isinstance(value, (str, torch.device)):
            raise _type_error(name, value, "a device name", '"cpu"')
        if name in ("scheme", "network", "dataset", "profile", "optimizer", "schedule", "adapter",
                    "attacker_data") and not isinstance(value, str):
            raise _type_error(name, value, "a name (a string)", '"sample"' if name == "dataset" else '"..."')


def run_id(config: RunConfig) -> str:
    """``<scheme>-<network>-<dataset>-<profile>-s<seed>-<hash8>``."""
    return (f"{config.scheme}-{config.network}-{dataset_label(config.dataset)}-{config.profile}-s{config.seed}"
            f"-{config.config_hash}")


def run_dir_for(config: RunConfig) -> Path:
    return Path(config.results) / run_id(config)


def _normalise_dataset(spec: str) -> str:
    spec = check_dataset_name(spec)
    for prefix in ("npz:", "folder:"):
        if spec.startswith(prefix):
            return prefix + str(Path(spec[len(prefix):]).expanduser().resolve())
    return spec


def _network_and_family(name: str | None, scheme: str, profile: Profile) -> tuple[str, str]:
    """The network (checked against the registry) and the family whose recipe applies."""
    from .networks import network_info

    network = (name or profile.network_for(scheme)).lower()
    family_source = profile.network_for(scheme) if network == "none" else network
    return network, network_info(family_source).family


def _steps_and_epochs(o: dict[str, Any], recipe: Recipe) -> tuple[int | None, int | None]:
    """--epochs replaces a step-based profile length and --steps an epoch-based one."""
    if "epochs" in o or "steps" in o:
        return o.get("epochs"), o.get("steps")
    return recipe.epochs, recipe.steps


def _check_positive(o: dict[str, Any]) -> None:
    for name in ("epochs", "steps", "batch_size", "eval_batch_size", "image_size", "block_size", "n_train", "n_test",
                 "n_attack_images"):
        if name in o and int(o[name]) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {o[name]}")
    if "lr" in o and not float(o["lr"]) > 0:
        raise InputError(f"--lr must be positive, got {o['lr']}")
    if any(not 0 < float(m) <= 1 for m in o.get("milestones", ())):
        raise InputError(f"--milestones are fractions of training in (0, 1], got {list(o['milestones'])}")


def _check_geometry(scheme: str, network: str, image_size: int, block_size: int) -> None:
    """Refuse sizes the scheme or a patch-based network cannot use, before any data is loaded.

    The hint names ``run``'s own flags and only sizes that pass every check (the nearest multiples of the
    block size, the divisors of the image size closest to the block size).
    """
    from .schemes import SCHEMES

    cls = SCHEMES.get(scheme)
    vit = network.startswith("vit")
    if (cls.info.block_wise or vit) and image_size % block_size:
        patch = " (= the ViT's patch size)" if vit else ""
        raise InputError(f"{cls.info.name}: image size {image_size} is not divisible by the block size {block_size}"
                         f"{patch}; use {_geometry_hint(cls, image_size, block_size)}")
    try:
        cls.check_geometry(image_size, block_size)
    except InputError as exc:
        raise InputError(f"{exc} (e.g. {_geometry_hint(cls, image_size, block_size)})") from None


def _or(values: list[Any]) -> str:
    """``2``, ``2 or 6``, ``2, 6 or 10``."""
    text = [str(v) for v in values]
    return text[0] if len(text) == 1 else f"{', '.join(text[:-1])} or {text[-1]}"


def _geometry_ok(cls: Any, image_size: int, block_size: int) -> bool:
    if image_size % block_size:
        return False
    try:
        cls.check_geometry(image_size, block_size)
    except InputError:
        return False
    return True


def _geometry_hint(cls: Any, image_size: int, block_size: int) -> str:
    """``--image-size A or B, or --block-size C, D or E``: only values that pass the checks."""
    multiples = sorted({k * block_size for k in (image_size // block_size, -(-image_size // block_size)) if k >= 1})
    sizes = [n for n in multiples if _geometry_ok(cls, n, block_size)]
    divisors = [b for b in range(2, image_size + 1) if _geometry_ok(cls, image_size, b)]
    blocks = sorted(sorted(divisors, key=lambda b: (abs(b - block_size), b))[:3])
    options = []
    if sizes:
        options.append(f"--image-size {_or(sizes)}")
    if blocks:
        options.append(f"--block-size {_or(blocks)}")
    if not options:
        return "another --image-size and --block-size"
    return ", or ".join(options)


def _key_id(path: str | None, scheme: str, image_size: int, block_size: int | None) -> str | None:
    if path is None:
        return None
    key = SchemeKey.load(path)
    params: dict[str, Any] = {"image_size": [image_size, image_size]}
    if block_size is not None:
        params["block_size"] = block_size
    key.check(scheme, params, f"key file {path}")
    return key.key_id


def _attack_names(names: Any) -> tuple[str, ...]:
    if not names:
        return ()
    names = [names] if isinstance(names, str) else list(names)
    if any(n.lower() == "all" for n in names):
        try:
            from .attacks import list_attacks
        except ImportError:
            raise PPBenchError("--attack all needs the attack registry (ppbench.attacks.list_attacks), "
                               "which this installation lacks") from None
        return tuple(list_attacks())
    try:
        from .attacks import attack_info
    except ImportError:
        return tuple(n.lower() for n in names)
    return tuple(attack_info(n).name for n in names)


def resolve_config(**overrides: Any) -> RunConfig:
    """A :class:`RunConfig` from a profile's defaults and the given overrides (None means "the default").

    Every name is checked here (scheme, network, profile, data set, sizes, optimiser), so a bad value fails
    before any data is loaded. Keys are the ``ppbench run`` flags with underscores (``batch_size=...``).
    """
    from .schemes import scheme_info

    o = drop_none(dict(overrides))
    for alias, target in _ALIASES.items():
        if alias in o:
            value = o.pop(alias)
            if target:
                o[target] = value
    unknown = sorted(set(o) - _FIELDS)
    if unknown:
        raise InputError(f"unknown run option(s) {', '.join(unknown)}; see `ppbench run --help`")
    _check_types(o)
    if "scheme" not in o:
        raise InputError("a scheme is required (--scheme NAME); see `ppbench list schemes`")
    _check_positive(o)
    profile = get_profile(o.get("profile", DEFAULT_PROFILE))
    info = scheme_info(o["scheme"])
    network, family = _network_and_family(o.get("network"), info.name, profile)
    recipe = profile.recipe_for(family)
    image_size = int(o.get("image_size") or recipe.image_size or profile.image_size)
    block_size = int(o.get("block_size") or recipe.block_size or profile.block_size)
    _check_geometry(info.name, network, image_size, block_size)
    epochs, steps = _steps_and_epochs(o, recipe)
    if epochs is None and steps is None:
        raise InputError("the run needs a length: --epochs N or --steps N")
    optimizer = o.get("optimizer", recipe.optimizer).lower()
    if optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    schedule = o.get("schedule", recipe.schedule).lower()
    if schedule not in SCHEDULES:
        raise InputError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    attacker_data = o.get("attacker_data", "disjoint")
    if attacker_data not in ATTACKER_DATA:
        raise InputError(f"--attacker-data must be one of {', '.join(ATTACKER_DATA)}, got {attacker_data!r}")
    jpeg_quality = o.get("jpeg_quality")
    if jpeg_quality is not None and (isinstance(jpeg_quality, bool) or not isinstance(jpeg_quality, int)
                                     or not 0 <= jpeg_quality <= 100):
        raise InputError(f"--jpeg-quality must be an integer in 0..100 (OpenCV's JPEG quality), got {jpeg_quality!r}")
    adapter = o.get("adapter", info.adapter)
    adapter = None if adapter in (None, "", "none") else adapter
    needs_weights = network != "none" and _needs_weights(network)
    from_scratch = bool(o.get("from_scratch", False))
    weights = str(Path(o["weights"]).expanduser().resolve()) if o.get("weights") else None
    pretrained = bool(o.get("pretrained", profile.pretrained and needs_weights and not from_scratch and not weights))
    block_wise = info.block_wise
    return RunConfig(
        scheme=info.name, network=network, dataset=_normalise_dataset(o.get("dataset", profile.dataset)),
        profile=profile.name, seed=int(o.get("seed", 0)), image_size=image_size, block_size=block_size,
        n_train=o.get("n_train", profile.n_train), n_test=o.get("n_test", profile.n_test),
        optimizer=optimizer, lr=float(o.get("lr", recipe.lr_plain if info.name == "plain" else recipe.lr_encrypted)),
        momentum=float(o.get("momentum", recipe.momentum)), beta2=float(o.get("beta2", recipe.beta2)),
        nesterov=bool(o.get("nesterov", recipe.nesterov)), weight_decay=float(o.get("weight_decay", recipe.weight_decay)),
        batch_size=int(o.get("batch_size", recipe.batch_size)),
        eval_batch_size=int(o.get("eval_batch_size", profile.eval_batch_size)),
        epochs=epochs, steps=steps, schedule=schedule, warmup_steps=int(o.get("warmup_steps", recipe.warmup_steps)),
        warmup_fraction=float(o.get("warmup_fraction", recipe.warmup_fraction)),
        milestones=tuple(float(m) for m in o.get("milestones", recipe.milestones)),
        gamma=float(o.get("gamma", recipe.gamma)),
        grad_clip=(None if o.get("grad_clip", recipe.grad_clip) in (None, 0) else float(o.get("grad_clip", recipe.grad_clip))),
        label_smoothing=float(o.get("label_smoothing", recipe.label_smoothing)),
        plain_augment=bool(o.get("plain_augment", profile.plain_augment)), adapter=adapter,
        pretrained=pretrained, weights=weights, from_scratch=from_scratch,
        amp=bool(o.get("amp", profile.amp)), channels_last=bool(o.get("channels_last", profile.channels_last)),
        key_id=_key_id(o.get("key"), info.name, image_size, block_size if block_wise else None),
        key=str(o["key"]) if o.get("key") else None, attacks=_attack_names(o.get("attacks")),
        attacker_data=attacker_data, n_attack_images=int(o.get("n_attack_images", profile.n_attack_images)),
        jpeg_quality=None if jpeg_quality is None else int(jpeg_quality), device=str(resolve_device(o.get("device"))),
        results=str(o.get("results", "runs")), data_root=o.get("data_root"),
        download=bool(o.get("download", True)), force=bool(o.get("force", False)),
        resume=bool(o.get("resume", False)), progress=o.get("progress"),
    )


def _needs_weights(network: str) -> bool:
    from .networks import network_info

    return bool(network_info(network).needs_weights)


# -- run folder: lock and log ----------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` (created with O_EXCL); a lock left by a dead process on this host is taken over."""
    path = run_dir / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(timezone.utc).isoformat()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read_lock(path)
            if _lock_is_stale(owner, path):
                log.warning("taking over the stale lock %s (process %s is gone)", path, owner.get("pid"))
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            raise RunLockedError(
                f"run folder {run_dir} is in use by process {owner.get('pid')} on {owner.get('host')} (since "
                f"{owner.get('since')}); wait for it to finish, or delete {path} if that process is gone") from None
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        break
    else:  # pragma: no cover - three lost races in a row
        raise RunLockedError(f"could not take the lock {path}; try again")
    try:
        yield
    finally:
        if _read_lock(path) == me:  # never remove a lock another process has taken over meanwhile
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _read_lock(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _lock_is_stale(owner: dict[str, Any], path: Path) -> bool:
    if not owner:  # empty or unreadable: its writer died between create and write
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime > 30
        return True
    return owner.get("host") == socket.gethostname() and not _pid_alive(int(owner.get("pid", -1)))


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Copy ppbench's log messages (INFO and up) into the run folder's ``run.log`` while the run lasts."""
    logger = logging.getLogger("ppbench")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    thread = threading.get_ident()  # only this run's messages, even if another run shares the process
    handler.addFilter(lambda rec: rec.thread == thread)
    old_level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(old_level)


# -- the run -------------------------------------------------------------------------------------------------
def run(config: RunConfig) -> dict[str, Any]:
    """Execute (or skip, or resume) one run and return its result record.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this: rank 0 does all a single process does
    (lock, log, key, record, checkpoints, attacks) and the other ranks only train their share of each
    batch and return ``{}`` (see :mod:`ppbench.distributed`).
    """
    ctx = distributed.setup(config.device)
    if ctx is not None and not ctx.is_leader:
        return _Run(config, run_dir_for(config), leader=False).follow()
    with distributed.leader_scope():
        return _run_leader(config)


def _run_leader(config: RunConfig) -> dict[str, Any]:
    run_dir = run_dir_for(config)
    if config.resume and not ((run_dir / CHECKPOINT_FILE).is_file() or (run_dir / RECORD_FILE).is_file()):
        raise CheckpointError(f"--resume: nothing to resume in {run_dir} (no checkpoint or record); drop --resume "
                              "to start the run")
    created = missing_folders(run_dir)  # the run folder and any results folders above it this run makes
    make_folder(run_dir, "--results")
    failed_empty = False
    try:
        with run_lock(run_dir):  # RunLockedError: another process owns the folder; leave it alone
            try:
                with _log_to(run_dir / LOG_FILE):
                    try:
                        return _Run(config, run_dir).execute()
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class _Run:
    """One execution of a run in its (locked) folder."""

    config: RunConfig
    run_dir: Path
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
        if existing is not None and existing.get("status") == "complete" and not self.config.force:
            distributed.announce({"train": False})  # DDP: nothing to train; ranks > 0 return now, not after the attacks
            missing = self._missing_attacks(existing)
            if not missing:
                log.info("%s is complete: skipped (pass --force to rerun it)", self.rid)
                return existing
            log.info("%s is complete; running the missing attack(s) %s", self.rid, ", ".join(missing))
            return self._attacks_only(existing, missing)
        if self.config.force:
            self._clear()
            existing = None
        log.info("run %s (profile %s, config hash %s) in %s", self.rid, self.config.profile, self.config.config_hash,
                 self.run_dir)
        return self._train_and_attack(existing)

    def _existing_record(self) -> dict[str, Any] | None:
        path = self.run_dir / RECORD_FILE
        if not path.exists():
            return None
        if self.config.force:
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
        return ctx.device if ctx is not None else torch.device(self.config.device)

    def _data(self) -> Dataset:
        c = self.config
        data = load_dataset(c.dataset, root=c.data_root, download=c.download).subset(c.n_train, c.n_test)
        log.info("data %s: %d train / %d test images, %d classes, native %dx%d", data.name, len(data.y_train),
                 len(data.y_test), data.num_classes, *data.image_size)
        return data

    def _scheme(self, record: dict[str, Any] | None) -> Any:
        """The scheme with the run's key: --key FILE, the run folder's key.json, or a fresh one saved there."""
        from .schemes import create_scheme, generate_key, scheme_info

        c = self.config
        block = c.block_size if scheme_info(c.scheme).block_wise else None
        try:
            return create_scheme(c.scheme, image_size=c.image_size, block_size=block)
        except KeyFileError:
            pass  # the scheme needs a key
        path = self.run_dir / KEY_FILE
        if c.key is not None:
            key = SchemeKey.load(c.key)
            if not path.exists():
                key.save(path)
            elif SchemeKey.load(path).key_id != key.key_id:
                raise CheckpointError(f"{path} holds another key than --key {c.key}; this folder belongs to that "
                                      "key: restore it or remove the folder")
        elif path.exists():
            key = SchemeKey.load(path)
        else:
            known = (record or {}).get("scheme", {}).get("key_id")
            if known:
                raise CheckpointError(f"{path} is missing but the run's record names key {known}; restore the key "
                                      "file or rerun with --force (a new key)")
            checkpoint = self.run_dir / CHECKPOINT_FILE
            if checkpoint.exists():  # never train on under a fresh key from a checkpoint made under the old one
                payload = load_checked(checkpoint, f"delete {checkpoint} to restart this run, or rerun with --force")
                made_under = payload.get("key_id") if isinstance(payload, dict) else None
                raise CheckpointError(f"{path} is missing but {checkpoint} was trained under key {made_under}; "
                                      f"restore that key file, or delete {checkpoint} (or rerun with --force) to "
                                      "start over with a fresh key")
            key = generate_key(c.scheme, image_size=c.image_size, block_size=block)
            key.save(path)
            log.info("generated a fresh key %s -> %s (mode 0600)", key.key_id, path)
        return create_scheme(c.scheme, key=key, image_size=c.image_size, block_size=block)

    def _network(self, num_classes: int) -> torch.nn.Module:
        """The classifier (with the scheme's adapter in front), initialised from the run's seed."""
        from .networks import create_network

        c = self.config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(c.seed, "init"))
            try:
                model = create_network(c.network, num_classes=num_classes, image_size=c.image_size,
                                       block_size=c.block_size, adapter=c.adapter, pretrained=c.pretrained,
                                       weights=c.weights, from_scratch=c.from_scratch)
            except PPBenchError:
                raise
            except (RuntimeError, ValueError, FileNotFoundError) as exc:
                raise InputError(f"cannot build network {c.network!r}: {exc}") from None
        device = self._device()
        model = model.to(device)
        if c.channels_last and device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        return model

    def _settings(self, steps_per_epoch: int) -> TrainSettings:
        c = self.config
        total = c.steps if c.steps is not None else c.epochs * steps_per_epoch
        epochs = math.ceil(total / steps_per_epoch) if c.steps is not None else c.epochs
        warmup = c.warmup_steps or round(c.warmup_fraction * total)
        return TrainSettings(optimizer=c.optimizer, lr=c.lr, momentum=c.momentum, beta2=c.beta2, nesterov=c.nesterov,
                             weight_decay=c.weight_decay, schedule=c.schedule, total_steps=total, epochs=epochs,
                             warmup_steps=warmup, milestones=c.milestones, gamma=c.gamma, grad_clip=c.grad_clip,
                             label_smoothing=c.label_smoothing, amp=c.amp and self._device().type == "cuda")

    def _pipeline(self, data: Dataset, scheme) -> BatchPipeline:
        c = self.config
        encrypt = scheme.encrypt
        if c.jpeg_quality is not None:  # the cloud receives (and trains on) JPEG-compressed ciphertexts
            from .attack_eval import jpeg_roundtrip

            def encrypt(x: torch.Tensor, _q: int = int(c.jpeg_quality)) -> torch.Tensor:
                return jpeg_roundtrip(scheme.encrypt(x), _q)
        return BatchPipeline(
            data=data, encrypt=encrypt, image_size=c.image_size, batch_size=min(c.batch_size, len(data.y_train)),
            eval_batch_size=c.eval_batch_size, device=self._device(), plain_augment=c.plain_augment,
            order=torch.Generator().manual_seed(derive_seed(c.seed, "order")),
            augment_gen=torch.Generator().manual_seed(derive_seed(c.seed, "augment")),
            channels_last=c.channels_last and self._device().type == "cuda",
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
            return self._finish(self._attacks(scheme, data, list(c.attacks)))
        model = self._network(data.num_classes)
        pipeline = distributed.shard_pipeline(self._pipeline(data, scheme))  # DDP: this rank's share of a batch
        settings = self._settings(pipeline.steps_per_epoch)
        optimizer = build_optimizer(model, settings)
        scheduler = build_scheduler(optimizer, settings)
        generators = {"order": pipeline.order, "augment": pipeline.augment_gen}

        def on_epoch_end(st: TrainState) -> None:
            save_checkpoint(self.run_dir / CHECKPOINT_FILE, config_hash=c.config_hash, model=model,
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
                            progress=c.progress if self.leader else False)
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
        return self._finish(self._attacks(scheme, data, list(c.attacks)))

    def _cuda_devices(self) -> list[int]:
        device = self._device()
        return [device.index or 0] if device.type == "cuda" else []

    def _restore(self, model, optimizer, scheduler, generators, key_id: str | None) -> TrainState:
        path = self.run_dir / CHECKPOINT_FILE
        if not path.exists():
            return TrainState()
        payload = load_checkpoint(path, self.config.config_hash, key_id)
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
        """Run each attack in turn and merge its results into the record (written after each)."""
        if not names:
            return self.record
        evaluate_attacks = _attack_evaluator()
        c = self.config
        metrics = self.record.setdefault("metrics", {})
        for name in names:
            log.info("attack %s (%s attacker data, %d test images)", name, c.attacker_data, c.n_attack_images)
            out = evaluate_attacks(
                [name], scheme=scheme, train_images=data.x_train, test_images=data.x_test, image_size=c.image_size,
                profile=c.profile, n_images=min(c.n_attack_images, len(data.y_test)), attacker_data=c.attacker_data,
                device=self._device(), seed=c.seed, out_dir=self.run_dir, jpeg_quality=c.jpeg_quality,
            )
            for attack, entry in (out.get("attacks") or {}).items():
                entry = dict(entry)
                entry.setdefault("attacker_data", c.attacker_data)
                metrics.setdefault("attacks", {})[attack] = entry
            metrics.setdefault("baselines", {}).update(out.get("baselines") or {})
            if out.get("attacker_data") is not None:
                metrics["attacker_data"] = out["attacker_data"]
            self._write()
        return self.record

    # -- the record -----------------------------------------------------------------------------------------
    def _base_record(self, existing, data: Dataset, scheme, model, settings: TrainSettings | None,
                     pipeline: BatchPipeline | None = None) -> dict[str, Any]:
        c = self.config
        existing = existing or {}
        resumed = existing.get("status") in ("running", "failed")  # a failed run resumes from its last good epoch
        self.previous_duration = float(existing.get("duration_s") or 0.0) if resumed else 0.0
        family = _family(c.network) if c.trains else None
        derived = _derived(c, self.rid, settings, pipeline)
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
                       "key_space_bits": float(scheme.key_space_bits()), "adapter": c.adapter,
                       "info": scheme.info.to_dict()},
            "network": None if model is None else {
                "name": c.network, "family": family, "adapter": c.adapter,
                "params": sum(p.numel() for p in model.parameters()), "pretrained": c.pretrained,
                "weights": c.weights, "from_scratch": c.from_scratch},
            "dataset": {**data.describe(), "image_size": [c.image_size, c.image_size], "spec": c.dataset},
            "profile": c.profile,
            "seed": c.seed,
            "config": {**json.loads(json.dumps(c.to_dict())), "derived": derived},  # tuples as JSON lists
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
        write_record(self.run_dir, self.record)

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


def _derived(c: RunConfig, rid: str, settings: TrainSettings | None, pipeline: BatchPipeline | None) -> dict[str, Any]:
    """The record's ``config.derived``: values computed from the config and the data."""
    padding = crop_padding_for(c.image_size)
    derived: dict[str, Any] = {"run_id": rid, "config_hash": c.config_hash, "crop_padding": padding}
    ctx = distributed.context()
    if ctx is not None:  # DDP: the global batch was split over this many processes
        derived["world_size"] = ctx.world_size
    if settings is None or pipeline is None:
        return derived
    augmentation = (f"random crop (zero padding {padding}) + horizontal flip on plain images, then encryption"
                    if c.plain_augment else "none: images encrypted once, no augmentation (stricter threat model)")
    return {**derived, "steps_per_epoch": pipeline.steps_per_epoch, "total_steps": settings.total_steps,
            "epochs_effective": settings.epochs, "warmup_steps_effective": settings.warmup_steps,
            "batch_size_effective": pipeline.batch_size, "amp_effective": settings.amp, "augmentation": augmentation}


def _family(network: str) -> str:
    from .networks import network_info

    return network_info(network).family


def missing_attacks(config: RunConfig, record: dict[str, Any], log_stale: bool = False) -> list[str]:
    """The attacks of ``config`` that ``record`` lacks, ran with other ``--attacker-data``, or holds in an
    out-of-date form (:func:`ppbench.attack_eval.stale_fields`): what running ``config`` again would run."""
    done = record.get("metrics", {}).get("attacks", {}) or {}
    missing = []
    for a in config.attacks:
        if a not in done or done[a].get("attacker_data", config.attacker_data) != config.attacker_data:
            missing.append(a)
        elif stale := _stale_fields(a, done[a]):
            if log_stale:
                log.info("%s: the recorded %s result is out of date (%s); running it again",
                         record.get("run_id"), a, "; ".join(stale))
            missing.append(a)
    return missing


def _stale_fields(attack: str, entry: dict[str, Any]) -> list[str]:
    try:
        from .attack_eval import stale_fields
    except ImportError:  # pragma: no cover - an installation without the attack evaluator
        return []
    return stale_fields(attack, entry)


def _attack_evaluator():
    """``evaluate_attacks`` from ppbench.attack_eval (or ppbench.attacks.attack_eval), or a clear error."""
    try:
        from .attack_eval import evaluate_attacks  # type: ignore[import-not-found]
    except ImportError:
        try:
            from .attacks.attack_eval import evaluate_attacks  # type: ignore[import-not-found]
        except ImportError:
            raise PPBenchError("--attack needs ppbench.attack_eval.evaluate_attacks, which this installation "
                               "lacks; run without --attack") from None
    return evaluate_attacks
