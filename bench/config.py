"""A run's configuration: :class:`RunConfig`, its identity (:func:`run_id`) and :func:`resolve_config`.

:func:`resolve_config` layers the ``ppbench run`` flags over the network family's recipe over the profile
(:func:`layer`), then checks every name, size and type, so a bad value fails before any data is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .data import check_dataset_name, dataset_label
from .environment import resolve_device
from .errors import InputError
from .keys import SchemeKey
from .profiles import Profile, Recipe, get_profile
from .registry import drop_none
from .train import OPTIMIZERS, SCHEDULES

__all__ = ["RunConfig", "NON_IDENTITY_FIELDS", "DEFAULT_PROFILE", "ATTACKER_DATA", "resolve_config", "layer",
           "run_id", "run_dir_for"]

DEFAULT_PROFILE = "cpu"
ATTACKER_DATA = ("disjoint", "overlap")


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
    """The run's folder: ``RESULTS/<run_id>/``."""
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
    return RunConfig(
        scheme=info.name, network=network, profile=profile.name, seed=int(o.get("seed", 0)),
        **{**v, "dataset": _normalise_dataset(v["dataset"])},
        adapter=None if adapter in (None, "", "none") else adapter,
        key_id=_key_id(o.get("key"), info.name, v["image_size"], block_size),
        key=str(o["key"]) if o.get("key") else None, attacks=_attack_names(o.get("attacks")),
        attacker_data=attacker_data, n_attack_images=int(o.get("n_attack_images", profile.n_attack_images)),
        jpeg_quality=None if jpeg_quality is None else int(jpeg_quality), device=str(resolve_device(o.get("device"))),
        results=str(o.get("results", "runs")), data_root=o.get("data_root"),
        download=bool(o.get("download", True)), force=bool(o.get("force", False)),
        resume=bool(o.get("resume", False)), progress=o.get("progress"),
    )


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
    """The run's data and training values: each flag in ``o`` over the network family's ``recipe`` over the
    ``profile`` (the one place where the three layers meet). Values are not checked here."""
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
    )


def _needs_weights(network: str) -> bool:
    """Whether building the network needs pretrained weights (or an explicit ``from_scratch``)."""
    from .networks import network_info

    return bool(network_info(network).needs_weights)
