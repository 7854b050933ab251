"""Generic known-plaintext attack (``kpa_generic``): recover any member of family F from n plain/cipher pairs.

A member of F (see :mod:`ppbench.attacks.bitmap`) sends plain bit ``src[i]`` to cipher bit ``i`` and
flips it when ``mask[i]`` is set, the same for every image. Over n pairs, cipher bit i's column (its n
values) therefore equals plain bit ``src[i]``'s column, or that column complemented. The attack reads
every column of both sides as n packed bits, puts each in canonical polarity (complemented when the first
pair's bit is 1), and groups equal canonical columns exactly (sorting, no hashing). Then per group:

- one plain bit and one cipher bit: the data fix ``src[i]``, and ``mask[i]`` is the two first-pair bits'
  XOR;
- as many plain as cipher bits, several: any pairing inside the group reproduces every pair, so the
  data leave ``src`` open there (too few pairs, or bits constant in the data; counted in
  ``recovery.ambiguous["src"]``). The attack picks one bijection: first a tie-break prior that never
  overrides the data (a cipher bit whose neighbour in its cipher byte came from plain bit q is given plain
  bit q + their offset when that one is in its group and free: bits that travel together in bytes or
  nibbles, as in every scheme ppbench ships), then the rest in index order;
- a cipher bit whose group holds fewer plain bits than cipher bits, in particular none (no plain bit has
  its column in either polarity): no member of F explains the pairs. The attack then says so
  (``in_family = False``), claims no break, and its restorations are a uniform grey image, not a guess.

Nothing about the scheme is used beyond the threat model's data: it works on a scheme that does not expose
its key material (a plugin overriding ``encrypt`` / ``decrypt``). Cost: one pass of bit packing per 64
pairs and one sort of the 2 B column labels per 64 pairs (B = 24 H W bit positions; 1.2 M at 224 x 224),
memory O(B).

Example::

    from ppbench.attacks.kpa_generic import recover_bitmap_kpa
    recovery = recover_bitmap_kpa(plain, cipher)          # uint8 N x 3 x H x W each
    bitmap = BitMap.from_key_material(recovery.key_material, plain.shape[-1])
    restored = bitmap.decrypt(unseen_ciphertexts)         # exact where recovery.unique
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ppbench.errors import InputError

from .base import AttackerView, AttackInfo, ThreatModel, register_attack
from .bitmap import BitMap, as_uint8_numpy, probe, verify
from .keyrecovery.base import KeyRecovery, KeyRecoveryAttack

NO_CLAIM_VALUE = 128
"""What the generic attacks return for every pixel when no member of F explains their data: a uniform grey
image, which claims nothing about the plain image (its SSIM against any image is near 0)."""
_WORD = 64  # pairs per packed column word
_PRIOR_OFFSETS = tuple(d for k in range(1, 8) for d in (k, -k))  # neighbours in the cipher byte, nearest first


@dataclass
class BitMapRecovery(KeyRecovery):
    """A recovered member of F, with what the data say about it.

    ``key_material``: ``src`` and ``mask`` (see :class:`~ppbench.attacks.bitmap.BitMap`). ``in_family``:
    whether some member of F reproduces every pair (False: the attack claims no break). ``unmatched_bits``:
    cipher bits no consistent bijection can serve. ``prior_chosen``: ambiguous cipher bits settled by the
    tie-break prior (still counted in ``ambiguous``). ``queries``: chosen images used (``cpa_generic``).
    """

    in_family: bool = True
    unmatched_bits: int = 0
    prior_chosen: int = 0
    queries: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(in_family=self.in_family, unmatched_bits=int(self.unmatched_bits), prior_chosen=int(self.prior_chosen))
        if self.queries is not None:
            out["queries"] = int(self.queries)
        return out


# -- exact grouping of bit columns -------------------------------------------------------------------------------
def _column_words(x: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """(c <= 64, C, H, W) uint8 -> (B,) uint64: bit j of entry p is bit p of image j, complemented where ``flip``."""
    c = x.shape[0]
    flat = x.reshape(c, -1)
    words = np.empty((flat.shape[1], 8), np.uint64)
    buffer = np.zeros((8, flat.shape[1]), np.uint8)
    for k in range(8):
        packed = np.packbits((flat >> k) & 1, axis=0, bitorder="little")  # (ceil(c / 8), C H W)
        buffer[:] = 0
        buffer[: packed.shape[0]] = packed
        words[:, k] = np.ascontiguousarray(buffer.T).view("<u8").ravel()
    valid = np.uint64(0xFFFFFFFFFFFFFFFF) if c == _WORD else np.uint64((1 << c) - 1)
    return words.ravel() ^ (flip.astype(np.uint64) * valid)


def _refine(labels: np.ndarray, word: np.ndarray) -> np.ndarray:
    """Labels equal exactly where both ``labels`` and ``word`` are equal (a lexicographic sort)."""
    order = np.lexsort((word, labels))
    lab, w = labels[order], word[order]
    change = np.empty(order.size, bool)
    change[0] = True
    change[1:] = (lab[1:] != lab[:-1]) | (w[1:] != w[:-1])
    out = np.empty_like(labels)
    out[order] = np.cumsum(change) - 1
    return out


def column_labels(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group the bit columns of plain ``x`` and cipher ``y`` (uint8 n x 3 x H x W) by canonical polarity.

    Returns ``lab_p``, ``lab_c`` (B,) int64: equal labels exactly where two columns are equal or complementary;
    ``flip_p``, ``flip_c`` (B,) uint8: each column's first bit (1: it was complemented to its canonical form)."""
    flip_p = np.unpackbits(x[0].ravel(), bitorder="little")
    flip_c = np.unpackbits(y[0].ravel(), bitorder="little")
    flips = np.concatenate([flip_p, flip_c])
    labels = np.zeros(flips.size, np.int64)
    for s in range(0, x.shape[0], _WORD):
        word = np.concatenate([_column_words(x[s : s + _WORD], flip_p), _column_words(y[s : s + _WORD], flip_c)])
        labels = _refine(labels, word)
    b = flip_p.size
    return labels[:b], labels[b:], flip_p, flip_c


# -- choosing one bijection ------------------------------------------------------------------------------------------
def _assign_by_prior(src: np.ndarray, taken: np.ndarray, lab_p: np.ndarray, lab_c: np.ndarray) -> int:
    """Give each unassigned cipher bit i the plain bit ``src[j] + (i - j)`` of its nearest assigned neighbour j
    in the same cipher byte when that plain bit is free and in i's group; returns how many were assigned."""
    b = src.size
    assigned = 0
    for _ in range(8):
        before = assigned
        for d in _PRIOR_OFFSETS:
            i = np.flatnonzero(src < 0)
            if not i.size:
                return assigned
            i = i[(i % 8 - d >= 0) & (i % 8 - d < 8)]
            j = i - d
            proposal = src[j] + d
            ok = (src[j] >= 0) & (proposal >= 0) & (proposal < b)
            i, proposal = i[ok], proposal[ok]
            ok = (lab_p[proposal] == lab_c[i]) & ~taken[proposal]
            i, proposal = i[ok], proposal[ok]
            proposal, first = np.unique(proposal, return_index=True)  # one cipher bit per plain bit
            src[i[first]] = proposal
            taken[proposal] = True
            assigned += proposal.size
        if assigned == before:
            break
    return assigned


def _ranked(positions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``label * (B + 1) + rank`` of each position among the positions of its label (in index order)."""
    order = np.argsort(labels[positions], kind="stable")
    pos = positions[order]
    lab = labels[pos]
    start = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    rank = np.arange(pos.size) - np.repeat(start, np.diff(np.r_[start, pos.size]))
    keys = np.empty(positions.size, np.int64)
    keys[order] = lab * (labels.size + 1) + rank
    return keys


def choose_bijection(lab_p: np.ndarray, lab_c: np.ndarray, *, prior: bool = True) -> tuple[np.ndarray, int, int]:
    """A permutation ``src`` pairing equal labels wherever the group sizes allow.

    Returns ``src``, the number of cipher bits settled by the tie-break prior, and ``unmatched``: cipher
    bits left without a plain bit of their group (0 exactly when every group has as many plain as cipher
    bits), which are then given the remaining plain bits in index order so that ``src`` is a permutation."""
    b = lab_p.size
    n_labels = int(max(lab_p.max(), lab_c.max())) + 1
    cp = np.bincount(lab_p, minlength=n_labels)
    cc = np.bincount(lab_c, minlength=n_labels)
    unmatched = int(np.maximum(cc - cp, 0).sum())
    src = np.full(b, -1, np.int64)
    taken = np.zeros(b, bool)
    representative = np.empty(n_labels, np.int64)
    representative[lab_p] = np.arange(b)
    single = (cp[lab_c] == 1) & (cc[lab_c] == 1)
    src[single] = representative[lab_c[single]]
    taken[src[single]] = True
    by_prior = _assign_by_prior(src, taken, lab_p, lab_c) if prior else 0
    rest_c, rest_p = np.flatnonzero(src < 0), np.flatnonzero(~taken)
    key_c, key_p = _ranked(rest_c, lab_c), _ranked(rest_p, lab_p)
    _, ic, ip = np.intersect1d(key_c, key_p, assume_unique=True, return_indices=True)
    src[rest_c[ic]] = rest_p[ip]
    taken[rest_p[ip]] = True
    left = np.flatnonzero(src < 0)
    src[left] = np.flatnonzero(~taken)[: left.size]  # only outside F: no consistent plain bit was left
    return src, by_prior, unmatched


def recover_bitmap_kpa(plaintexts: torch.Tensor | np.ndarray, ciphertexts: torch.Tensor | np.ndarray, *,
                       scheme_name: str = "unknown", prior: bool = True) -> BitMapRecovery:
    """Recover the member of F that maps the uint8 N x 3 x H x W ``plaintexts`` to ``ciphertexts``, if any.

    ``prior=False`` breaks ties in index order only (tests use it to see what the data alone decide)."""
    x, y = as_uint8_numpy(plaintexts, "plaintexts"), as_uint8_numpy(ciphertexts, "ciphertexts")
    if x.shape != y.shape:
        raise InputError(f"kpa_generic needs plain and cipher images of the same shape, got {x.shape} and {y.shape}")
    if x.shape[0] < 1:
        raise InputError("kpa_generic needs at least one plain/cipher pair")
    start = time.perf_counter()
    lab_p, lab_c, flip_p, flip_c = column_labels(x, y)
    src, by_prior, unmatched = choose_bijection(lab_p, lab_c, prior=prior)
    mask = flip_c ^ flip_p[src]
    bitmap = BitMap(src, mask, x.shape[1:])
    in_family = unmatched == 0
    n_labels = int(max(lab_p.max(), lab_c.max())) + 1
    group = np.bincount(lab_c, minlength=n_labels)[lab_c]
    ambiguous = int((group > 1).sum()) if in_family else 0
    consistent = bitmap.reproduces(x, y)
    notes: list[str] = []
    if not in_family:
        orphans = int((np.bincount(lab_p, minlength=n_labels)[lab_c] == 0).sum())
        notes.append(f"not in F: {unmatched} of {src.size} cipher bits have no consistent plain bit left in either "
                     f"polarity ({orphans} have none at all); no member of F maps these plaintexts to these "
                     "ciphertexts, so no break is claimed")
    elif ambiguous:
        notes.append(f"{ambiguous} of {src.size} cipher bits share their column with other bits in all {x.shape[0]} "
                     f"pairs; {by_prior} of them settled by the neighbouring-bit prior, the rest in index order")
    return BitMapRecovery(
        scheme=scheme_name, key_material=bitmap.key_material(), n=int(x.shape[0]), seconds=time.perf_counter() - start,
        ambiguous={"src": ambiguous}, consistent=consistent, notes=notes, in_family=in_family,
        unmatched_bits=unmatched, prior_chosen=by_prior if in_family else 0,
    )


# -- the attacks ---------------------------------------------------------------------------------------------------------
class BitMapAttack(KeyRecoveryAttack):
    """Shared bookkeeping of the generic attacks: the recovered :class:`BitMap` decrypts, or (not in F) nothing
    is claimed and every restored pixel is :data:`NO_CLAIM_VALUE`. Subclasses implement :meth:`recover`."""

    def build(self) -> None:
        super().build()
        self.in_family = True

    def _fit(self, view: AttackerView) -> None:
        super()._fit(view)
        self.in_family = bool(getattr(self.recovery, "in_family", True))

    def _set_scheme(self, material: dict[str, np.ndarray]) -> None:
        self.scheme = BitMap.from_key_material(material, self.image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.in_family:
            return torch.full_like(x, NO_CLAIM_VALUE)
        return self.scheme.decrypt(x)

    def record_fields(self) -> dict[str, Any]:
        """Fields for the attack's record entry: whether the data fit F, and how much they left open."""
        recovery = self.recovery
        return {"in_family": self.in_family,
                "ambiguous_bits": int(recovery.ambiguous.get("src", 0)) if recovery is not None else None}

    def reference_key(self, victim: Any) -> dict[str, np.ndarray]:
        """The victim's own map in this attack's terms, for evaluators that score exactness (the evaluator holds
        the victim's scheme; the attack never does): probed and verified, or ``{}`` when the victim is not in F."""
        found = probe(victim.encrypt, self.image_size)
        if found is None or not verify(found, victim.encrypt, 2, torch.Generator().manual_seed(0)):
            return {}
        return found.key_material()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["in_family"] = bool(self.in_family)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> "BitMapAttack":
        state = dict(state)
        self.in_family = bool(state.pop("in_family", True))
        super().load_state_dict(state)
        return self


@register_attack
class KPAGeneric(BitMapAttack):
    """Generic known-plaintext attack: the bit map of any member of family F from n plain/cipher pairs.

    Paper: permutation-only ciphers (here: permutations of bit positions plus a fixed XOR, shared by every
    image) fall to a few known plaintexts (S. Li, C. Li, G. Chen, N. G. Bourbakis, K.-T. Lo, Signal
    Processing: Image Communication 23(3), 212-223, 2008); the method is in :mod:`ppbench.attacks.kpa_generic`.
    Threat model: ``known_plaintext`` (victim-key ciphertexts paired with their plain images; the public
    images that threat model also grants are not read). Nothing about the scheme is used.
    Arguments: ``scheme_name`` (any registered scheme, a plugin's too: only the name is recorded), ``image_size``,
    ``block_size`` (unused), ``profile`` (all the same), ``device=None`` (CPU), ``batch_size=256``
    (decryption batch), ``epochs=1`` (fixed: one pass over the pairs), ``max_images=1000`` (pairs used at most).
    Shapes: uint8 N x 3 x H x W ciphertexts in 0..255 -> uint8 N x 3 x H x W restored images (all 128 when
    the pairs fit no member of F).
    After ``fit``: ``recovery`` (a :class:`BitMapRecovery`: ``in_family``, bits left open, seconds),
    ``in_family`` and ``key_material`` (``src``, ``mask``).
    Example::

        attack = create_attack("kpa_generic", scheme_name="le", image_size=32).fit(view)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="kpa_generic",
        title="Generic known-plaintext attack: the bit map of any permutation-plus-XOR cipher (family F) from n pairs",
        paper=("S. Li, C. Li, G. Chen, N. G. Bourbakis, K.-T. Lo, A general quantitative cryptanalysis of "
               "permutation-only multimedia ciphers against plaintext attacks, Signal Processing: Image "
               "Communication 23(3), 212-223, 2008"),
        url="https://doi.org/10.1016/j.image.2008.01.003",
        threat_model=ThreatModel.KNOWN_PLAINTEXT,
        version=1,
        generic=True,
        curve=True,
        trainable=True,
        notes=("knows nothing of the scheme; exact where the pairs determine the map (recovery.ambiguous counts the "
               "bits they leave open); pairs that fit no member of F are reported as in_family false, no break claimed"),
    )

    def recover(self, view: AttackerView) -> BitMapRecovery:
        k = int(self.config["max_images"])
        return recover_bitmap_kpa(view.victim_plaintexts[:k], view.victim_ciphertexts[:k], scheme_name=self.scheme_name)


__all__ = ["BitMapRecovery", "BitMapAttack", "KPAGeneric", "recover_bitmap_kpa", "column_labels", "choose_bijection",
           "NO_CLAIM_VALUE"]
