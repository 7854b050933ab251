"""What every key-recovery attack shares: the result (:class:`KeyRecovery`), the attack base class that
decrypts with the recovered key, input checks and exactness measures, and the colour-transform tables.

Kept free of any solver so that every other module of :mod:`ppbench.attacks.keyrecovery` (and the generic
attacks) can import it without pulling the solvers in.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ppbench.errors import InputError

from ..base import PROFILES, Attack, AttackerView

# The 6 channel orders (itertools order) and the 8 negation patterns (bit 2 = first channel): the per-pixel
# colour transforms of PE and the colour part of EtC's per-block transforms, indexed as the solvers count them.
CHANNEL_ORDERS = np.array(list(itertools.permutations(range(3))), dtype=np.int64)  # (6, 3)
NEGATION_PATTERNS = np.array([[(b >> 2) & 1, (b >> 1) & 1, b & 1] for b in range(8)], dtype=bool)  # (8, 3)

#: What a known-plaintext solver returns: the key material, the entries left open per key array, notes.
KpaResult = tuple[dict[str, np.ndarray], dict[str, int], list[str]]
#: What a ciphertext-only solver returns: the key material, its own confidence scores, notes, alternatives.
PooledResult = tuple[dict[str, np.ndarray], dict[str, float], list[str], list[dict[str, np.ndarray]]]


@dataclass
class KeyRecovery:
    """A recovered key and what the attacker can say about it without knowing the true key.

    ``key_material``: the scheme's key-material arrays (docs/schemes.md#key-material), ready for ``create_scheme(scheme, key_material=...)``.
    ``ambiguous``: per key array, how many of its entries the data leave open (0 everywhere: the data
    determine the key uniquely). ``consistent``: known-plaintext only, whether the recovered key
    re-encrypts every known plaintext to its ciphertext (``None`` for ciphertext-only attacks).
    ``confidence``: ciphertext-only attacks' own score of their key (higher is better; see the attack).
    ``notes``: global symmetries chosen by a prior, and anything else a reader of the record must know.
    ``alternatives``: other keys the attack cannot tell from ``key_material`` (a symmetry no statistic of
    natural images settles, e.g. EtC's left-right mirror); evaluators may report "exact up to symmetry".
    """

    scheme: str
    key_material: dict[str, np.ndarray]
    n: int
    seconds: float = 0.0
    ambiguous: dict[str, int] = field(default_factory=dict)
    consistent: bool | None = None
    confidence: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    alternatives: list[dict[str, np.ndarray]] = field(default_factory=list)

    @property
    def unique(self) -> bool:
        """True when no key entry is left open by the data."""
        return not any(self.ambiguous.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able summary a record keeps (no key material: records must not hold the victim's key)."""
        return {
            "scheme": self.scheme,
            "n": self.n,
            "seconds": round(self.seconds, 4),
            "ambiguous": {k: int(v) for k, v in self.ambiguous.items()},
            "unique": self.unique,
            "consistent": self.consistent,
            "confidence": {k: round(float(v), 6) for k, v in self.confidence.items()},
            "notes": list(self.notes),
            "alternatives": len(self.alternatives),
        }


def same_key(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """True when two key-material dicts hold the same arrays (the definition of "exact recovery")."""
    return set(a) == set(b) and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def key_agreement(recovered: dict[str, np.ndarray], true: dict[str, np.ndarray]) -> dict[str, float]:
    """Per key array, the fraction of its entries recovered exactly (a partial-recovery measure)."""
    return {name: float(np.mean(np.asarray(recovered[name]) == np.asarray(t))) if np.size(t) else 1.0
            for name, t in true.items()}


def as_numpy_uint8(x: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    """uint8 N x 3 x H x W tensor or array -> contiguous numpy array (on the CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"{what} must be uint8 N x 3 x H x W, got {x.dtype} {x.shape}")
    return x


class KeyRecoveryAttack(Attack):
    """Shared bookkeeping of the key-recovery attacks: the recovered scheme decrypts; checkpoints keep the key.

    Subclasses implement :meth:`recover` (view -> :class:`KeyRecovery`).
    """

    input_range = "uint8"
    # No training: "epochs" is fixed at 1 (one pass over the data), kept so that every trainable attack
    # reports one history row per epoch. "max_images": the first images of the view used (a run's whole
    # training set would only cost time: a few to a few hundred images settle every key here).
    default_configs = {p: {"batch_size": 256, "epochs": 1, "max_images": 1000} for p in PROFILES}

    def build(self) -> None:
        """No networks: the attack holds a recovery and the scheme rebuilt from the recovered key."""
        self.recovery: KeyRecovery | None = None
        self.scheme = None

    def recover(self, view: AttackerView) -> KeyRecovery:  # pragma: no cover - abstract
        """The key recovered from what ``view`` grants."""
        raise NotImplementedError

    def _fit(self, view: AttackerView) -> None:
        """Recover the key, rebuild the scheme under it, record one history row."""
        self.recovery = self.recover(view)
        self._set_scheme(self.recovery.key_material)
        self.history.append({"epoch": 1, **{f"ambiguous_{k}": float(v) for k, v in self.recovery.ambiguous.items()}})

    def _set_scheme(self, material: dict[str, np.ndarray]) -> None:
        """The victim's scheme under the recovered key (what decrypts)."""
        from ppbench.schemes import create_scheme, scheme_info

        block = self.block_size if scheme_info(self.scheme_name).block_wise else None
        self.scheme = create_scheme(self.scheme_name, key_material=material, image_size=self.image_size, block_size=block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Decrypt with the recovered key."""
        return self.scheme.decrypt(x)

    @property
    def key_material(self) -> dict[str, np.ndarray]:
        """The recovered key (after ``fit`` or ``load``)."""
        if self.scheme is None:
            raise InputError(f"attack {self.info.name!r} has no key yet: call fit(view) first")
        return self.scheme.key_material()

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint: the base state, the recovered key (int64 tensors) and the recovery's summary."""
        state = super().state_dict()
        state["key_material"] = {k: torch.from_numpy(np.asarray(v).astype(np.int64)) for k, v in self.key_material.items()} if self.scheme else {}
        state["recovery"] = self.recovery.to_dict() if self.recovery else None
        return state

    def load_state_dict(self, state: dict[str, Any]) -> "KeyRecoveryAttack":
        """Restore a checkpoint written by :meth:`state_dict`."""
        state = dict(state)
        material = state.pop("key_material", {})
        super().load_state_dict(state)
        # Stored as int64 tensors (weights_only loading); "negate" arrays are boolean in the spec.
        self._set_scheme({k: v.numpy().astype(bool if k == "negate" else np.int64) for k, v in material.items()})
        return self
