"""The attack base class, its threat models, the attacker's view of the data, and the attack registry.

An attack tries to restore plain images from ciphertexts made with the victim's secret key. What it
may learn from is fixed by its **threat model**, a machine-readable attribute (:class:`ThreatModel`,
whose :attr:`~ThreatModel.access` is a frozen :class:`Access`). The evaluator does not trust attacks
to ignore what they should not see: it builds an :class:`AttackerView` from the declared threat model,
and a field the threat model does not grant is *absent* from that view (reading it raises
:class:`ThreatModelError`, and ``hasattr`` is false), so no attack can touch the victim's key or
plaintexts by accident.

torchattacks' pattern: one attack per class, one base class whose ``__call__`` owns the bookkeeping
(device, eval mode, batching, no-grad, value-range conversion) and delegates to :meth:`Attack.forward`;
``fit(view)`` trains (progress bar, logging, ``train_seconds``). Configurations are per profile
(``smoke``: seconds, ``cpu``: minutes on 2 cores, ``paper``: the original settings), overridable by
keyword: ``create_attack("itn", scheme_name="le", image_size=32, block_size=4, profile="cpu", epochs=5)``.
"""

from __future__ import annotations

import abc
import copy
import enum
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import torch
import torch.nn as nn

from ppbench.errors import CheckpointError, InputError, PPBenchError
from ppbench.keys import SECRET_BYTES, KeyStream, SchemeKey
from ppbench.metrics import to_uint8
from ppbench.registry import Registry, drop_none

log = logging.getLogger("ppbench.attacks")

PROFILES = ("smoke", "cpu", "paper")
CHECKPOINT_FORMAT = "ppbench-attack"


# -- threat models -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Access:
    """What an attacker holds besides the algorithm (which is public) and the ciphertexts it attacks.

    ``victim_ciphertexts``: the victim's training images encrypted with the victim's key (what the
    cloud holds), unpaired. ``public_images``: natural plain images of the same domain, the attacker's
    own, disjoint from the victim's test images. ``own_keys``: keys of the attacker's own choosing (to
    encrypt its own images). ``victim_plaintexts``: the plain images behind ``victim_ciphertexts``,
    paired (known-plaintext). ``victim_key``: the victim's key itself. ``encryption_oracle``: encryptions
    under the victim's key of images the attacker chose (chosen-plaintext), counted, ciphertexts only.
    """

    victim_ciphertexts: bool = False
    public_images: bool = False
    own_keys: bool = False
    victim_plaintexts: bool = False
    victim_key: bool = False
    encryption_oracle: bool = False


class ThreatModel(enum.Enum):
    """The threat models ppbench knows; the value is the name records carry."""

    CIPHERTEXT_ONLY = "ciphertext_only"
    CIPHERTEXT_ONLY_MANY = "ciphertext_only_many"
    CIPHERTEXT_ONLY_UNPAIRED_PLAIN = "ciphertext_only_unpaired_plain"
    CIPHERTEXT_ONLY_OWN_KEYS = "ciphertext_only_own_keys"
    KNOWN_PLAINTEXT = "known_plaintext"
    CHOSEN_PLAINTEXT = "chosen_plaintext"
    KNOWN_KEY = "known_key"

    @property
    def access(self) -> Access:
        return _ACCESS[self]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]

    @classmethod
    def parse(cls, value: "str | ThreatModel") -> "ThreatModel":
        """Normalise a name or member on entry; an unknown name fails at once, listing the known ones."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise InputError(f"unknown threat model {value!r}; known: {', '.join(m.value for m in cls)}") from None

    def __str__(self) -> str:
        return self.value


_ACCESS = {
    ThreatModel.CIPHERTEXT_ONLY: Access(),
    ThreatModel.CIPHERTEXT_ONLY_MANY: Access(victim_ciphertexts=True),
    ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN: Access(victim_ciphertexts=True, public_images=True),
    ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS: Access(public_images=True, own_keys=True),
    ThreatModel.KNOWN_PLAINTEXT: Access(victim_ciphertexts=True, victim_plaintexts=True, public_images=True),
    ThreatModel.CHOSEN_PLAINTEXT: Access(encryption_oracle=True),
    ThreatModel.KNOWN_KEY: Access(victim_key=True),
}
_DESCRIPTIONS = {
    ThreatModel.CIPHERTEXT_ONLY: "one ciphertext at a time, nothing else",
    ThreatModel.CIPHERTEXT_ONLY_MANY: "many victim-key ciphertexts of the victim's training images, nothing else",
    ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN: (
        "victim-key ciphertexts of the victim's training images (unpaired) and the attacker's own plain images"
    ),
    ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS: "the attacker's own plain images, encrypted with keys it draws itself",
    ThreatModel.KNOWN_PLAINTEXT: "victim-key ciphertexts paired with their plain images (known-plaintext)",
    ThreatModel.CHOSEN_PLAINTEXT: "the attacker obtains encryptions of images it chose, under the victim's key (chosen-plaintext)",
    ThreatModel.KNOWN_KEY: "the victim's key (not an attack: an upper bound for testing the pipeline)",
}


class NotApplicableError(InputError):
    """An attack asked to attack a scheme it has no method for (see :meth:`Attack.applicable`)."""


class ThreatModelError(PPBenchError, AttributeError):
    """An attack asked for data its declared threat model does not grant."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# -- the attacker's view ---------------------------------------------------------------------------------
#: view field -> the Access flag that grants it
VIEW_FIELDS: dict[str, str] = {
    "victim_ciphertexts": "victim_ciphertexts",
    "public_images": "public_images",
    "new_scheme": "own_keys",
    "victim_plaintexts": "victim_plaintexts",
    "victim_scheme": "victim_key",
    "encryption_oracle": "encryption_oracle",
}


class AttackerView:
    """Exactly the data one threat model allows, plus the public facts every attacker knows.

    Always present: ``threat_model``, ``scheme_name``, ``image_size``, ``block_size`` (the algorithm
    and its public parameters) and ``generator`` (a seeded ``torch.Generator`` for the attacker's own
    randomness). Granted by the threat model (see :data:`VIEW_FIELDS`): ``victim_ciphertexts`` and
    ``public_images`` / ``victim_plaintexts`` (uint8 N x 3 x H x W), ``new_scheme()`` (a scheme under a
    key freshly drawn by the attacker), ``victim_scheme``, ``encryption_oracle`` (an
    :class:`~ppbench.attacks.oracle.EncryptionOracle`). Anything else is absent.
    """

    __slots__ = ("threat_model", "scheme_name", "image_size", "block_size", "generator", "_data")

    def __init__(
        self,
        threat_model: ThreatModel | str,
        *,
        scheme_name: str,
        image_size: int,
        block_size: int | None,
        generator: torch.Generator,
        **data: Any,
    ) -> None:
        self.threat_model = ThreatModel.parse(threat_model)
        self.scheme_name = scheme_name
        self.image_size = int(image_size)
        self.block_size = block_size
        self.generator = generator
        access = self.threat_model.access
        for name in data:
            if name not in VIEW_FIELDS:
                raise InputError(f"unknown attacker-view field {name!r}; known: {', '.join(VIEW_FIELDS)}")
            if not getattr(access, VIEW_FIELDS[name]):
                raise ThreatModelError(
                    f"threat model {self.threat_model.value!r} does not grant {name!r}; "
                    "the evaluator must not put it into the view"
                )
        missing = [n for n, flag in VIEW_FIELDS.items() if getattr(access, flag) and n not in data]
        if missing:
            raise InputError(f"threat model {self.threat_model.value!r} grants {missing} but the view lacks them")
        self._data = dict(data)

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        if name.startswith("__") or name == "_data":
            raise AttributeError(name)
        data = object.__getattribute__(self, "_data")
        if name in data:
            return data[name]
        if name in VIEW_FIELDS:
            tm = object.__getattribute__(self, "threat_model")
            raise ThreatModelError(
                f"{name!r} is not available to an attacker under threat model {tm.value!r} ({tm.description})"
            )
        raise AttributeError(f"AttackerView has no field {name!r}; fields: {', '.join(self.fields)}")

    @property
    def fields(self) -> list[str]:
        """The granted data fields of this view."""
        return list(self._data)

    def encrypt_with_fresh_keys(self, images: torch.Tensor) -> torch.Tensor:
        """Encrypt each image with its own freshly drawn key (own-keys threat models only)."""
        new_scheme = self.new_scheme  # raises ThreatModelError unless granted
        out = torch.empty_like(images)
        for i in range(images.shape[0]):
            out[i : i + 1] = new_scheme().encrypt(images[i : i + 1])
        return out

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for k, v in self._data.items()}
        return f"AttackerView({self.threat_model.value}, scheme={self.scheme_name}, {shapes})"


class KeySource:
    """The attacker's own keys (and the wrong-key baseline's): one 256-bit secret from the OS CSPRNG,
    stretched with SHAKE-256 into a new key per draw (label ``"<purpose>/<i>"``).

    Never a seed: pass ``secret`` only to repeat a run exactly (the evaluator keeps it, mode 0600, in
    the run folder as ``attacks/attacker_secret.json``); otherwise a fresh one is drawn.
    """

    def __init__(self, secret: bytes | None = None, purpose: str = "attacker") -> None:
        self.secret = secret if secret is not None else secrets.token_bytes(SECRET_BYTES)
        if len(self.secret) != SECRET_BYTES:
            raise InputError(f"a key source needs a {SECRET_BYTES}-byte secret")
        self.purpose = purpose
        self.drawn = 0

    def new_key(self, scheme_name: str, image_size: int, block_size: int | None) -> SchemeKey:
        from ppbench.schemes import generate_key, scheme_info

        block = block_size if scheme_info(scheme_name).block_wise else None
        template = generate_key(scheme_name, image_size=image_size, block_size=block)  # validates the geometry
        secret = KeyStream(self.secret, f"ppbench/{self.purpose}/{self.drawn}").read(SECRET_BYTES)
        self.drawn += 1
        return SchemeKey(scheme=template.scheme, params=template.params, secret=secret)

    def new_scheme(self, scheme_name: str, image_size: int, block_size: int | None) -> Any:
        from ppbench.schemes import create_scheme

        return create_scheme(scheme_name, key=self.new_key(scheme_name, image_size, block_size))

    def __repr__(self) -> str:
        return f"KeySource(purpose={self.purpose!r}, drawn={self.drawn}, secret=<hidden>)"


def build_view(
    threat_model: ThreatModel | str,
    *,
    scheme: Any,
    victim_train: torch.Tensor,
    public_images: torch.Tensor,
    generator: torch.Generator,
    key_source: KeySource | None = None,
    encrypt_victim: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> AttackerView:
    """Build the view the threat model allows from the evaluator's data; nothing else is computed.

    ``scheme`` is the victim's scheme (with its key), ``victim_train`` the victim's plain training
    images, ``public_images`` the attacker's own plain images. ``encrypt_victim`` (default
    ``scheme.encrypt``) makes the victim-key ciphertexts, e.g. with JPEG compression afterwards.
    """
    tm = ThreatModel.parse(threat_model)
    access = tm.access
    name, size, block = scheme.info.name, scheme.image_size[0], scheme.block_size
    data: dict[str, Any] = {}
    if access.victim_ciphertexts:
        data["victim_ciphertexts"] = (encrypt_victim or scheme.encrypt)(victim_train)
    if access.victim_plaintexts:
        data["victim_plaintexts"] = victim_train
    if access.public_images:
        data["public_images"] = public_images
    if access.own_keys:
        keys = key_source if key_source is not None else KeySource()
        data["new_scheme"] = lambda: keys.new_scheme(name, size, block)
    if access.victim_key:
        data["victim_scheme"] = scheme
    if access.encryption_oracle:
        from .oracle import EncryptionOracle

        data["encryption_oracle"] = EncryptionOracle(encrypt_victim or scheme.encrypt, size)
    return AttackerView(tm, scheme_name=name, image_size=size, block_size=block, generator=generator, **data)


# -- metadata ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttackInfo:
    """What an attack is, travelling with it into every record."""

    name: str
    title: str
    paper: str
    url: str
    threat_model: ThreatModel
    version: int
    trainable: bool
    notes: str = ""
    schemes: tuple[str, ...] = ()  # the schemes it can attack; empty: every scheme
    generic: bool = False  # knows nothing of a scheme beyond its threat model (family F): judges plugins too

    def supports(self, scheme_name: str) -> bool:
        return not self.schemes or scheme_name in self.schemes

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threat_model"] = self.threat_model.value
        d["schemes"] = list(self.schemes)
        return d


# -- the base class ------------------------------------------------------------------------------------------
class Attack(abc.ABC):
    """Base class: ``fit(view)`` learns (if the attack trains), ``attack(ciphertexts)`` restores.

    Subclasses set :attr:`info` and :attr:`default_configs` (one dict per profile, the same keys in
    each), build their networks in :meth:`build`, list them in :meth:`networks`, train in :meth:`_fit`
    and map one batch in :meth:`forward`. ``input_range`` says what ``forward`` works on:
    ``"uint8"`` (uint8 in, uint8 out) or ``"tanh"`` (float32 in [-1, 1] in and out, as the papers'
    networks; uint8 -> ``x / 127.5 - 1`` on the way in, :func:`ppbench.metrics.to_uint8` on the way out).
    """

    info: ClassVar[AttackInfo]
    default_configs: ClassVar[dict[str, dict[str, Any]]] = {p: {"batch_size": 256} for p in PROFILES}
    input_range: ClassVar[str] = "tanh"

    def __init__(
        self,
        *,
        scheme_name: str,
        image_size: int,
        block_size: int | None = None,
        profile: str = "cpu",
        device: torch.device | str | None = None,
        **overrides: Any,
    ) -> None:
        from ppbench.schemes import scheme_info

        reason = type(self).applicable(scheme_info(scheme_name))
        if reason is not None:
            raise NotApplicableError(f"attack {self.info.name!r} does not apply to scheme {scheme_name!r}: {reason}; "
                                     "pick another attack (ppbench list attacks)")
        if profile not in self.default_configs:
            raise InputError(f"unknown profile {profile!r} for attack {self.info.name!r}; known: {', '.join(self.default_configs)}")
        self.scheme_name = scheme_name
        self.image_size = int(image_size)
        self.block_size = None if block_size is None else int(block_size)
        self.profile = profile
        self.config = self.resolve_config(profile, drop_none(overrides))
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.train_seconds = 0.0
        self.history: list[dict[str, float]] = []
        self.fitted = not self.info.trainable
        self.build()
        self.to(self.device)

    @classmethod
    def applicable(cls, scheme: Any) -> str | None:
        """Why this attack cannot attack ``scheme`` (a :class:`~ppbench.schemes.SchemeInfo`), or None if it can.

        The default: every scheme listed in ``info.schemes`` (all when empty). Attacks that rely on a scheme's
        structure (e.g. per-scheme key solvers) override it; the evaluator then records the attack as
        ``{"status": "not_applicable", "reason": ...}`` instead of running it."""
        if not cls.info.supports(scheme.name):
            return f"it has a method only for {', '.join(cls.info.schemes)}"
        return None

    # -- configuration --------------------------------------------------------------------------------
    def resolve_config(self, profile: str, overrides: dict[str, Any]) -> dict[str, Any]:
        """The profile's defaults updated with ``overrides``; an unknown key is refused, naming the known ones."""
        config = copy.deepcopy(self.default_configs[profile])
        unknown = sorted(set(overrides) - set(config))
        if unknown:
            raise InputError(f"attack {self.info.name!r} has no option(s) {unknown}; options: {', '.join(sorted(config))}")
        config.update(overrides)
        return config

    @property
    def threat_model(self) -> ThreatModel:
        return self.info.threat_model

    @property
    def net_block(self) -> int:
        """Block size of the attack's block-wise layers: the scheme's, or 1 (pixel-wise) if it has none."""
        return self.block_size or 1

    # -- what subclasses define ----------------------------------------------------------------------------
    def build(self) -> None:
        """Create the networks (called once from ``__init__``)."""

    def networks(self) -> dict[str, nn.Module]:
        """The attack's modules by name (saved in checkpoints, moved by :meth:`to`)."""
        return {}

    def _fit(self, view: AttackerView) -> None:
        """Train on ``view`` (on :attr:`device`); attacks without training keep the default."""

    @abc.abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore one batch (already on :attr:`device`, in ``input_range``)."""

    # -- the bookkeeping ------------------------------------------------------------------------------
    def to(self, device: torch.device | str) -> "Attack":
        """Move the attack (its networks) to ``device``; later calls run there."""
        self.device = torch.device(device)
        for net in self.networks().values():
            net.to(self.device)
        return self

    def fit(self, view: AttackerView) -> "Attack":
        """Learn from ``view``, which must have been built for this attack's threat model."""
        if not isinstance(view, AttackerView):
            raise InputError(f"fit expects an AttackerView (see build_view), got {type(view).__name__}")
        if view.threat_model is not self.threat_model:
            raise ThreatModelError(
                f"attack {self.info.name!r} declares threat model {self.threat_model.value!r} but got a view "
                f"built for {view.threat_model.value!r}"
            )
        if (view.scheme_name, view.image_size) != (self.scheme_name, self.image_size):
            raise InputError(
                f"attack was built for {self.scheme_name} at {self.image_size}px, the view is for "
                f"{view.scheme_name} at {view.image_size}px"
            )
        log.info("%s: fitting on %s", self, view)
        start = time.perf_counter()
        for net in self.networks().values():
            net.to(self.device).train()
        self._fit(view)
        self.train_seconds = time.perf_counter() - start
        self.fitted = True
        log.info("%s: fitted in %.1f s", self.info.name, self.train_seconds)
        return self

    def check_ciphertexts(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"attacks take uint8 N x 3 x H x W ciphertexts, got {got}")
        if tuple(x.shape[2:]) != (self.image_size, self.image_size):
            raise InputError(
                f"attack {self.info.name!r} was built for {self.image_size}x{self.image_size} ciphertexts, "
                f"got {x.shape[2]}x{x.shape[3]}"
            )

    @torch.no_grad()
    def __call__(self, ciphertexts: torch.Tensor) -> torch.Tensor:
        """Restore uint8 N x 3 x H x W ciphertexts; the result is uint8, on the input's device."""
        self.check_ciphertexts(ciphertexts)
        if not self.fitted:
            raise PPBenchError(f"attack {self.info.name!r} is not trained: call fit(view) or load a checkpoint first")
        nets = self.networks().values()
        for net in nets:
            net.to(self.device).eval()
        out = torch.empty_like(ciphertexts)
        step = int(self.config.get("batch_size", 256))
        for start in range(0, ciphertexts.shape[0], step):
            x = ciphertexts[start : start + step].to(self.device)
            if self.input_range == "tanh":
                y = to_uint8(self.forward(x.float().div_(127.5).sub_(1.0)))
            else:
                y = self.forward(x)
            out[start : start + step] = y.to(out.device)
        return out

    # -- checkpoints ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "attack": self.info.name,
            "version": self.info.version,
            "scheme_name": self.scheme_name,
            "image_size": self.image_size,
            "block_size": self.block_size,
            "profile": self.profile,
            "config": copy.deepcopy(self.config),
            "train_seconds": self.train_seconds,
            "history": list(self.history),
            "networks": {k: {n: t.detach().cpu() for n, t in v.state_dict().items()} for k, v in self.networks().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> "Attack":
        if state.get("format") != CHECKPOINT_FORMAT or state.get("attack") != self.info.name:
            raise CheckpointError(f"not a checkpoint of attack {self.info.name!r} (got {state.get('attack')!r})")
        if state.get("version") != self.info.version:
            raise CheckpointError(
                f"checkpoint of {self.info.name!r} version {state.get('version')}, this code is version {self.info.version}; retrain"
            )
        nets = self.networks()
        if set(state["networks"]) != set(nets):
            raise CheckpointError(f"checkpoint networks {sorted(state['networks'])} != {sorted(nets)}")
        for name, net in nets.items():
            net.load_state_dict(state["networks"][name])
            net.to(self.device)
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.history = list(state.get("history", []))
        self.fitted = True
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write the checkpoint atomically (networks' state dicts, config, geometry) with its SHA-256."""
        from ppbench.checked_file import save_checked

        return save_checked(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: torch.device | str | None = None) -> "Attack":
        """Rebuild an attack from a checkpoint written by :meth:`save` (any registered attack)."""
        from ppbench.checked_file import load_checked

        try:  # CheckpointError for a changed (SHA-256), truncated or unreadable file
            state = load_checked(Path(path), "delete it and train the attack again")
        except FileNotFoundError:
            raise CheckpointError(f"attack checkpoint {path} not found") from None
        except OSError as exc:
            raise CheckpointError(f"cannot read attack checkpoint {path}: {exc.strerror or exc}") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is not a ppbench attack checkpoint")
        attack = create_attack(
            state["attack"], scheme_name=state["scheme_name"], image_size=state["image_size"],
            block_size=state["block_size"], profile=state["profile"], device=device, **state["config"],
        )
        return attack.load_state_dict(state)

    def __repr__(self) -> str:
        geometry = f"scheme={self.scheme_name!r}, image_size={self.image_size}"
        if self.block_size:
            geometry += f", block_size={self.block_size}"
        options = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({geometry}, profile={self.profile!r}, {options})"


# -- training helpers shared by the trainable attacks ----------------------------------------------------------
def to_tanh(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [-1, 1] (``(x / 255 - 0.5) / 0.5``, the papers' normalisation)."""
    return x.float().div_(127.5).sub_(1.0)


def minibatches(n: int, batch_size: int, generator: torch.Generator, *, drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Index batches of a fresh random order of ``range(n)``; a final short batch unless ``drop_last``."""
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def progress(total: int, desc: str):
    """A tqdm bar over epochs that shows only on a terminal (logs carry the numbers)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", leave=False, disable=None)


def log_epoch(attack: Attack, epoch: int, epochs: int, stats: dict[str, float]) -> None:
    """Record one epoch in ``attack.history`` and log it (every epoch at DEBUG, about ten at INFO)."""
    attack.history.append({"epoch": epoch, **{k: round(float(v), 6) for k, v in stats.items()}})
    level = logging.INFO if epoch == epochs or epoch % max(1, epochs // 10) == 0 else logging.DEBUG
    log.log(level, "%s epoch %d/%d %s", attack.info.name, epoch, epochs, " ".join(f"{k}={v:.4g}" for k, v in stats.items()))


# -- registry ------------------------------------------------------------------------------------------------
ATTACKS: Registry[type[Attack]] = Registry("attack")


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: register ``cls`` under ``cls.info.name``."""
    return ATTACKS.register(cls.info.name, cls)


def list_attacks(pattern: str = "*", exclude: str | tuple[str, ...] = ()) -> list[str]:
    """Registered attack names matching the fnmatch ``pattern``, naturally sorted."""
    return ATTACKS.names(pattern, exclude)


def attack_info(name: str) -> AttackInfo:
    return ATTACKS.get(name).info


def attack_class(name: str) -> type[Attack]:
    """The registered class of attack ``name`` (for its classmethods, e.g. :meth:`Attack.applicable`)."""
    return ATTACKS.get(name)


def create_attack(
    name: str,
    *,
    scheme_name: str,
    image_size: int,
    block_size: int | None = None,
    profile: str = "cpu",
    device: torch.device | str | None = None,
    **overrides: Any,
) -> Attack:
    """Build attack ``name`` for ciphertexts of ``scheme_name`` at ``image_size`` (block ``block_size``).

    ``overrides`` replace the profile's defaults; ``None`` values are dropped (timm's rule), so a CLI
    can pass every optional flag through.
    """
    cls = ATTACKS.get(name)
    return cls(scheme_name=scheme_name, image_size=image_size, block_size=block_size, profile=profile,
               device=device, **drop_none(overrides))
