"""A run's configuration: :class:`RunConfig`, its identity (:func:`run_id`) and :func:`resolve_config`.

A :class:`RunConfig` is nested: the run's names (scheme, network, profile, seed) and five typed sections,
:class:`DataConfig`, :class:`EncryptionConfig`, :class:`TrainingConfig`, :class:`AttackConfig` and
:class:`ExecutionConfig`. Its identity, the hash in the run id, covers the names, the data, the encryption
and the training, never the attack or execution sections (attacks are added to a finished run's record,
each entry saying its attacker data; execution settings do not change a result). Files enter the identity
by their content (:func:`ppbench.data.dataset_fingerprint`, :func:`ppbench.data.file_sha256`), never by their
path, so a checkout that moves keeps its run ids. The record's ``config`` section stays flat: the
``ppbench run`` option names (:meth:`RunConfig.to_dict`, :meth:`RunConfig.from_dict`).

:func:`resolve_config` layers the ``ppbench run`` flags over the network family's recipe over the profile
(:func:`layer`), then checks every name, size and type, so a bad value fails before any data is loaded.

Run ids from before content fingerprints (an ``npz:``/``folder:`` data set or ``--weights`` hashed by its
absolute path) are accepted, not migrated: :func:`locate_run` finds such a run's folder under its old id as
long as the file is still at the path it had, and the run keeps that id (its record and checkpoint say it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from .data import check_dataset_name, dataset_fingerprint, dataset_label, file_sha256
from .environment import resolve_device
from .errors import InputError
from .keys import SchemeKey
from .profiles import Profile, Recipe, get_profile
from .registry import drop_none
from .train import OPTIMIZERS, SCHEDULES

__all__ = ["RunConfig", "DataConfig", "EncryptionConfig", "TrainingConfig", "AttackConfig", "ExecutionConfig",
           "NON_IDENTITY_FIELDS", "OPTION_NAMES", "DEFAULT_PROFILE", "ATTACKER_DATA", "resolve_config", "layer",
           "run_id", "run_dir_for", "locate_run"]

DEFAULT_PROFILE = "cpu"
ATTACKER_DATA = ("disjoint", "overlap")


@dataclass(frozen=True)
class DataConfig:
    """The images: which data set (``dataset``: a name, or ``npz:``/``folder:`` with an absolute path, where to
    load it from) and how many of them; ``fingerprint`` identifies a local data set's content (None: named)."""

    dataset: str
    n_train: int | None
    n_test: int | None
    fingerprint: str | None = None


@dataclass(frozen=True)
class EncryptionConfig:
    """What the cloud receives: images of ``image_size`` encrypted in blocks of ``block_size`` under the key
    ``key_id`` (None: a fresh key made for the run), JPEG-compressed when ``jpeg_quality`` is set."""

    image_size: int
    block_size: int
    key_id: str | None
    jpeg_quality: int | None = None


@dataclass(frozen=True)
class TrainingConfig:
    """The classifier's recipe: optimiser, schedule, length, augmentation, initialisation, precision.
    ``weights_sha256`` identifies a ``--weights`` file's content."""

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
    weights_sha256: str | None = None


@dataclass(frozen=True)
class AttackConfig:
    """The attacks run on the run's ciphertexts (not part of the identity: they merge into one record)."""

    attacks: tuple[str, ...] = ()
    attacker_data: str = "disjoint"
    n_attack_images: int = 100


@dataclass(frozen=True)
class ExecutionConfig:
    """Where and how the run executes; none of it changes a result. ``key`` is the key file's path (its
    ``key_id``, in :class:`EncryptionConfig`, is what identifies the run)."""

    key: str | None = None
    device: str = "cpu"
    results: str = "runs"
    data_root: str | None = None
    download: bool = True
    force: bool = False
    resume: bool = False
    progress: bool | None = None


_SECTIONS: dict[str, type] = {"data": DataConfig, "encryption": EncryptionConfig, "training": TrainingConfig,
                              "attack": AttackConfig, "execution": ExecutionConfig}
_IDENTITY_SECTIONS = ("data", "encryption", "training")
_FINGERPRINTS = {"fingerprint": "dataset_fingerprint", "weights_sha256": "weights_sha256"}  # -> config.derived
OPTION_NAMES: tuple[str, ...] = (  # the record's flat config keys, in the order records have always had them
    "scheme", "network", "dataset", "profile", "seed", "image_size", "block_size", "n_train", "n_test",
    "optimizer", "lr", "momentum", "beta2", "nesterov", "weight_decay", "batch_size", "eval_batch_size", "epochs",
    "steps", "schedule", "warmup_steps", "warmup_fraction", "milestones", "gamma", "grad_clip", "label_smoothing",
    "plain_augment", "adapter", "pretrained", "weights", "from_scratch", "amp", "channels_last", "key_id", "key",
    "attacks", "attacker_data", "n_attack_images", "jpeg_quality", "device", "results", "data_root", "download",
    "force", "resume", "progress",
)
_SECTION_OF: dict[str, str] = {f.name: name for name, cls in _SECTIONS.items() for f in dataclasses.fields(cls)
                               if f.name not in _FINGERPRINTS}
NON_IDENTITY_FIELDS = frozenset(n for n, section in _SECTION_OF.items() if section not in _IDENTITY_SECTIONS)


@dataclass(frozen=True)
class RunConfig:
    """Every resolved value of one run: its names and five sections. Read a value by section
    (``config.training.lr``); the flat option name (``config.lr``) reads the same value."""

    scheme: str
    network: str  # "none": an attack-only run, no classifier
    profile: str
    seed: int
    data: DataConfig
    encryption: EncryptionConfig
    training: TrainingConfig
    attack: AttackConfig = AttackConfig()
    execution: ExecutionConfig = ExecutionConfig()

    def __getattr__(self, name: str) -> Any:
        section = _SECTION_OF.get(name)
        if section is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(object.__getattribute__(self, section), name)

    # -- the flat form: options, the record's config section --------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The flat form: every ``ppbench run`` option by name (the record's ``config`` section without
        ``derived``; ``resolve_config(**config.to_dict())`` resolves the same run)."""
        return {name: getattr(self, name) for name in OPTION_NAMES}

    def to_record(self, derived: Mapping[str, Any]) -> dict[str, Any]:
        """The record's ``config`` section: the flat form as JSON (tuples as lists) plus ``derived``, which
        also carries the content fingerprints, so that :meth:`from_record` gives back the run's identity."""
        fingerprints = {"dataset_fingerprint": self.data.fingerprint, "weights_sha256": self.training.weights_sha256}
        return {**json.loads(json.dumps(self.to_dict())),
                "derived": {**derived, **{k: v for k, v in fingerprints.items() if v is not None}}}

    @classmethod
    def from_dict(cls, flat: Mapping[str, Any]) -> "RunConfig":
        """The config for a flat mapping of option names (as :meth:`to_dict` gives; values are not checked).
        ``dataset_fingerprint`` / ``weights_sha256`` set the content fingerprints."""
        values = {**flat, **{f: flat.get(key) for f, key in _FINGERPRINTS.items()}}
        values["milestones"] = tuple(values.get("milestones") or ())
        values["attacks"] = tuple(values.get("attacks") or ())
        sections = {name: section(**{f.name: values[f.name] for f in dataclasses.fields(section)
                                      if f.name in values})
                    for name, section in _SECTIONS.items()}
        return cls(scheme=values["scheme"], network=values["network"], profile=values["profile"],
                   seed=values["seed"], **sections)

    @classmethod
    def from_record(cls, section: Mapping[str, Any]) -> "RunConfig":
        """The config a record's ``config`` section was written from (:meth:`to_record`)."""
        derived = section.get("derived") or {}
        return cls.from_dict({**{k: v for k, v in section.items() if k != "derived"},
                              **{key: derived.get(key) for key in _FINGERPRINTS.values()}})

    # -- identity --------------------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """The values that decide the result, what the run id's hash covers: the names and the data,
        encryption and training sections, with files by their content (``jpeg_quality`` only when set, so
        that runs without JPEG keep the ids they had before the flag existed)."""
        identity = self._path_identity()
        if self.data.fingerprint is not None:
            identity["dataset"] = self.data.fingerprint
        if self.training.weights_sha256 is not None:
            identity["weights"] = f"sha256:{self.training.weights_sha256}"
        return identity

    def _path_identity(self) -> dict[str, Any]:
        """The identity as it was before content fingerprints: files by their absolute path."""
        identity = {k: v for k, v in self.to_dict().items() if k not in NON_IDENTITY_FIELDS}
        if identity.get("jpeg_quality") is None:
            identity.pop("jpeg_quality", None)
        return identity

    @property
    def config_hash(self) -> str:
        return _hash(self.identity())

    @property
    def legacy_config_hash(self) -> str | None:
        """The hash the run had when files were identified by their path; None where that is the same."""
        old = _hash(self._path_identity())
        return None if old == self.config_hash else old

    @property
    def trains(self) -> bool:
        return self.network != "none"


def _hash(identity: dict[str, Any]) -> str:
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


_FIELDS = set(OPTION_NAMES)
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


def run_id(config: RunConfig, config_hash: str | None = None) -> str:
    """``<scheme>-<network>-<dataset>-<profile>-s<seed>-<hash8>`` (``config_hash``: another hash than the
    config's own, e.g. its :attr:`RunConfig.legacy_config_hash`)."""
    return (f"{config.scheme}-{config.network}-{dataset_label(config.data.dataset)}-{config.profile}"
            f"-s{config.seed}-{config_hash or config.config_hash}")


def locate_run(config: RunConfig) -> tuple[Path, str]:
    """The run's folder and the config hash it is kept under: ``RESULTS/<run_id>/``, or the folder of the
    run's id from before content fingerprints when only that one exists (its old id is accepted, not
    migrated: the run continues or is skipped there, under its old hash)."""
    results = Path(config.execution.results)
    folder = results / run_id(config)
    legacy = config.legacy_config_hash
    if legacy is not None and not folder.exists() and (results / run_id(config, legacy)).is_dir():
        return results / run_id(config, legacy), legacy
    return folder, config.config_hash


def run_dir_for(config: RunConfig) -> Path:
    """The run's folder: ``RESULTS/<run_id>/`` (or its folder under an accepted old id: :func:`locate_run`)."""
    return locate_run(config)[0]


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
    """The attacks' registry names (``all``: every registered attack); an unknown name fails with a close match."""
    from .attacks import attack_info, list_attacks

    if not names:
        return ()
    names = [names] if isinstance(names, str) else list(names)
    if any(n.lower() == "all" for n in names):
        return tuple(list_attacks())
    return tuple(attack_info(n).name for n in names)


def resolve_config(**overrides: Any) -> RunConfig:
    """A :class:`RunConfig` from a profile's defaults and the given overrides (None means "the default").

    Every name is checked here (scheme, network, profile, data set, sizes, optimiser), so a bad value fails
    before any data is loaded. Keys are the ``ppbench run`` flags with underscores (``batch_size=...``).
    """
    from .schemes import scheme_info

    o = _options(overrides)
    profile = get_profile(o.get("profile", DEFAULT_PROFILE))
    info = scheme_info(o["scheme"])
    network, family = _network_and_family(o.get("network"), info.name, profile)
    v = layer(o, profile, profile.recipe_for(family), info.name, network)
    _check_geometry(info.name, network, v["image_size"], v["block_size"])
    if v["epochs"] is None and v["steps"] is None:
        raise InputError("the run needs a length: --epochs N or --steps N")
    if v["optimizer"] not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {v['optimizer']!r}; choose one of {', '.join(OPTIMIZERS)}")
    if v["schedule"] not in SCHEDULES:
        raise InputError(f"unknown schedule {v['schedule']!r}; choose one of {', '.join(SCHEDULES)}")
    attacker_data = o.get("attacker_data", "disjoint")
    if attacker_data not in ATTACKER_DATA:
        raise InputError(f"--attacker-data must be one of {', '.join(ATTACKER_DATA)}, got {attacker_data!r}")
    jpeg_quality = o.get("jpeg_quality")
    if jpeg_quality is not None and (isinstance(jpeg_quality, bool) or not isinstance(jpeg_quality, int)
                                     or not 0 <= jpeg_quality <= 100):
        raise InputError(f"--jpeg-quality must be an integer in 0..100 (OpenCV's JPEG quality), got {jpeg_quality!r}")
    adapter = o.get("adapter", info.adapter)
    block_size = v["block_size"] if info.block_wise else None
    dataset = _normalise_dataset(v["dataset"])
    return RunConfig.from_dict({
        **v, "scheme": info.name, "network": network, "profile": profile.name, "seed": int(o.get("seed", 0)),
        "dataset": dataset, "dataset_fingerprint": dataset_fingerprint(dataset),
        "weights_sha256": _weights_sha256(v["weights"]),
        "adapter": None if adapter in (None, "", "none") else adapter,
        "key_id": _key_id(o.get("key"), info.name, v["image_size"], block_size),
        "key": str(o["key"]) if o.get("key") else None, "attacks": _attack_names(o.get("attacks")),
        "attacker_data": attacker_data, "jpeg_quality": None if jpeg_quality is None else int(jpeg_quality),
        "device": str(resolve_device(o.get("device"))), "results": str(o.get("results", "runs")),
        "data_root": o.get("data_root"), "download": bool(o.get("download", True)),
        "force": bool(o.get("force", False)), "resume": bool(o.get("resume", False)), "progress": o.get("progress"),
    })


def _weights_sha256(path: str | None) -> str | None:
    """A ``--weights`` file's content hash (what the run id covers), refusing a file that is not there."""
    if path is None:
        return None
    if not Path(path).is_file():
        raise InputError(f"--weights {path}: no such file; pass an existing weights file or drop --weights")
    return file_sha256(path)


def _options(overrides: dict[str, Any]) -> dict[str, Any]:
    """The given options under their field names, checked for unknown names, types and ranges."""
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
    return o


def layer(o: dict[str, Any], profile: Profile, recipe: Recipe, scheme: str, network: str) -> dict[str, Any]:
    """The run's values that have defaults in a profile or recipe: each flag in ``o`` over the network
    family's ``recipe`` over the ``profile`` (the one place where the three layers meet; flat option names).
    Values are not checked here."""
    epochs, steps = _steps_and_epochs(o, recipe)
    grad_clip = o.get("grad_clip", recipe.grad_clip)
    from_scratch = bool(o.get("from_scratch", False))
    weights = str(Path(o["weights"]).expanduser().resolve()) if o.get("weights") else None
    needs_weights = network != "none" and _needs_weights(network)
    return dict(
        dataset=o.get("dataset", profile.dataset),
        image_size=int(o.get("image_size") or recipe.image_size or profile.image_size),
        block_size=int(o.get("block_size") or recipe.block_size or profile.block_size),
        n_train=o.get("n_train", profile.n_train), n_test=o.get("n_test", profile.n_test),
        optimizer=o.get("optimizer", recipe.optimizer).lower(),
        lr=float(o.get("lr", recipe.lr_plain if scheme == "plain" else recipe.lr_encrypted)),
        momentum=float(o.get("momentum", recipe.momentum)), beta2=float(o.get("beta2", recipe.beta2)),
        nesterov=bool(o.get("nesterov", recipe.nesterov)), weight_decay=float(o.get("weight_decay", recipe.weight_decay)),
        batch_size=int(o.get("batch_size", recipe.batch_size)),
        eval_batch_size=int(o.get("eval_batch_size", profile.eval_batch_size)),
        epochs=epochs, steps=steps, schedule=o.get("schedule", recipe.schedule).lower(),
        warmup_steps=int(o.get("warmup_steps", recipe.warmup_steps)),
        warmup_fraction=float(o.get("warmup_fraction", recipe.warmup_fraction)),
        milestones=tuple(float(m) for m in o.get("milestones", recipe.milestones)),
        gamma=float(o.get("gamma", recipe.gamma)), grad_clip=None if grad_clip in (None, 0) else float(grad_clip),
        label_smoothing=float(o.get("label_smoothing", recipe.label_smoothing)),
        plain_augment=bool(o.get("plain_augment", profile.plain_augment)),
        pretrained=bool(o.get("pretrained", profile.pretrained and needs_weights and not from_scratch and not weights)),
        weights=weights, from_scratch=from_scratch,
        amp=bool(o.get("amp", profile.amp)), channels_last=bool(o.get("channels_last", profile.channels_last)),
        n_attack_images=int(o.get("n_attack_images", profile.n_attack_images)),
    )


def _needs_weights(network: str) -> bool:
    """Whether building the network needs pretrained weights (or an explicit ``from_scratch``)."""
    from .networks import network_info

    return bool(network_info(network).needs_weights)
