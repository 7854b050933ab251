"""The attack base class, its metadata and the attack registry (threat models and views: ppbench.attacks.threat).

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
(``smoke``: seconds, ``cpu``: minutes on 2 cores, ``paper``: the original settings; ``cpu224``: the learned
attacks sized for 224 x 224 on 2 cores, the others as ``cpu``, :data:`PROFILE_FALLBACK`), overridable by
keyword: ``create_attack("itn", scheme_name="le", image_size=32, block_size=4, profile="cpu", epochs=5)``.
"""

from __future__ import annotations

import abc
import copy
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

import torch
import torch.nn as nn

from ppbench.errors import CheckpointError, InputError, PPBenchError
from ppbench.metrics import to_uint8
from ppbench.paper import seed_paper_attacks
from ppbench.registry import Registry, drop_none

log = logging.getLogger("ppbench.attacks")

PROFILES = ("smoke", "cpu", "cpu224", "paper")
#: A profile an attack need not list: it then takes the configuration of the profile named here (``cpu224``
#: differs from ``cpu`` only for the learned attacks, whose networks are sized for 224 x 224 on 2 cores).
PROFILE_FALLBACK = {"cpu224": "cpu"}
CHECKPOINT_FORMAT = "ppbench-attack"


from .threat import (  # noqa: F401 - re-exported: the threat models are part of this module's public API
    Access, AttackerView, KeySource, NotApplicableError, ThreatModel, ThreatModelError, VIEW_FIELDS, build_view,
)

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
    curve: bool = False  # grows with the n victim images it holds: runs and `ppbench curve` sweep n

    def supports(self, scheme_name: str) -> bool:
        return not self.schemes or scheme_name in self.schemes

    @property
    def in_seed_paper(self) -> bool:
        """Whether the seed paper evaluated this attack (its FR, GAN, ITN): Table I's "Paper's attacks only"."""
        return self.name in seed_paper_attacks()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threat_model"] = self.threat_model.value
        d["schemes"] = list(self.schemes)
        d["in_seed_paper"] = self.in_seed_paper
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
        if self.configuration_profile(profile) not in self.default_configs:
            known = [*self.default_configs, *(p for p, base in PROFILE_FALLBACK.items() if base in self.default_configs)]
            raise InputError(f"unknown profile {profile!r} for attack {self.info.name!r}; known: {', '.join(dict.fromkeys(known))}")
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
        config = copy.deepcopy(self.default_configs[self.configuration_profile(profile)])
        unknown = sorted(set(overrides) - set(config))
        if unknown:
            raise InputError(f"attack {self.info.name!r} has no option(s) {unknown}; options: {', '.join(sorted(config))}")
        config.update(overrides)
        return config

    @classmethod
    def configuration_profile(cls, profile: str) -> str:
        """The key of :attr:`default_configs` that ``profile`` uses: its own, else its :data:`PROFILE_FALLBACK`."""
        if profile in cls.default_configs:
            return profile
        return PROFILE_FALLBACK.get(profile, profile)

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
