"""Known-plaintext key recovery (``kpa``): read the victim's key material off n plain/cipher pairs.

Every scheme in ppbench uses **one key for every image** (and, for ``proposed``, LE, PE and EtC, one
key for every block or pixel position), so each plain/cipher pair the attacker holds constrains the same
key. ``kpa`` turns the pairs into the key-material arrays (``docs/schemes.md#key-material``), builds
the scheme with ``create_scheme(name, key_material=...)`` and decrypts any ciphertext under that key
exactly. It is an upper bound on what the key hides, the strongest attack a
benchmark of these schemes should report beside FR, GAN and ITN (which the seed paper uses).

Threat model: ``known_plaintext`` (victim-key ciphertexts paired with their plain images; the
attacker's own public images are granted by that threat model but not used). No training: ``fit``
solves for the key and the attack then decrypts.

How each key is read, and why it is exact (``consistent`` edges below are those that agree with *all*
pairs; a permutation is read as a perfect matching on them, see :func:`match`):

- ``plain``: nothing to recover.
- ``pe_np``: ``negate = (cipher != plain)`` per value; one pair decides it (q != 255 - q for integers).
- ``pe``: per pixel, the 6 channel orders x 8 negation patterns that reproduce the cipher pixel from
  the plain one in every pair; a grey or two-equal-channel pixel leaves several, more pairs settle it.
- ``proposed``: K1 by matching blocks whose sub-blocks hold the same multiset of pixels in every pair
  (a pixel's 3 values move together, so the multiset is invariant to K2), then K2 by matching pixel
  columns (a sub-block pixel position's values over every sub-block of every block and pair), then K1
  again with K2 undone (exact block equality). Uniform blocks that are identical in every pair stay
  ambiguous.
- ``le``: every block of every pair is a sample of the one nibble key, so one image gives N samples.
  Cipher nibble k comes from plain nibble P[k], possibly negated (15 - v): k's column of values over
  all samples must equal P[k]'s column or its negation. The mask is derived from P (r = P > d), so it
  needs no separate recovery; re-encrypting the pairs checks it.
- ``ele``: block scrambling first (a block's multiset of nibble columns, each folded to the smaller of
  v and 15 - v, is invariant to its nibble key), then LE's matching per original block position, with
  only n samples per position, so ELE needs many more pairs than LE.
- ``etc``: block scrambling first (a block's sorted folded values min(q, 255 - q) are invariant to its
  rotation/flip, negation and channel order), then for each matched pair the ones of the 96 transforms
  that reproduce it. Symmetric or grey blocks leave several transforms.

Where the pairs do not determine the key, the attack returns a key that reproduces every pair (the
"most consistent" one; among equals, the first found) and reports how many entries of each key array
the data leave open (:attr:`KeyRecovery.ambiguous`); ``consistent`` says whether re-encrypting the
known plaintexts with the recovered key reproduces the ciphertexts bit for bit.

Example::

    attack = create_attack("kpa", scheme_name="proposed", image_size=224, block_size=16)
    attack.fit(build_view("known_plaintext", scheme=victim, victim_train=plain, public_images=plain[:0],
                          generator=torch.Generator().manual_seed(0)))
    restored = attack(ciphertexts)          # exact where attack.recovery.unique
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, maximum_bipartite_matching

from ppbench.errors import InputError

from .base import PROFILES, Attack, AttackerView, AttackInfo, ThreatModel, register_attack

LSA_LIMIT = 400  # rows above which match() uses Hopcroft-Karp instead of a dense linear assignment
KPA_SCHEMES = ("proposed", "le", "ele", "pe", "pe_np", "etc", "plain")

# The 6 channel orders (itertools order) and the 8 negation patterns (bit 2 = first channel).
CHANNEL_ORDERS = np.array(list(itertools.permutations(range(3))), dtype=np.int64)  # (6, 3)
NEGATION_PATTERNS = np.array([[(b >> 2) & 1, (b >> 1) & 1, b & 1] for b in range(8)], dtype=bool)  # (8, 3)


# -- the result ------------------------------------------------------------------------------------------
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


# -- geometry helpers (numpy, shared with the ciphertext-only attack) -----------------------------------------
def to_blocks(x: np.ndarray, m: int) -> np.ndarray:
    """(n, C, H, W) -> (n, N, C, M, M): blocks in row-major order, as the schemes number them."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // m, m, w // m, m).transpose(0, 2, 4, 1, 3, 5).reshape(n, -1, c, m, m)


def from_blocks(b: np.ndarray, h: int, w: int) -> np.ndarray:
    """Inverse of :func:`to_blocks`: (n, N, C, M, M) -> (n, C, H, W)."""
    n, _, c, m, _ = b.shape
    return b.reshape(n, h // m, w // m, c, m, m).transpose(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


def sub_pixels(blocks: np.ndarray) -> np.ndarray:
    """(..., C, M, M) -> (..., 4, S, C): the 4 sub-blocks of each block, pixels row-major, channels last."""
    *lead, c, m, _ = blocks.shape
    h = m // 2
    k = len(lead)
    s = blocks.reshape(*lead, c, 2, h, 2, h)
    order = tuple(range(k)) + (k + 1, k + 3, k + 2, k + 4, k)
    return s.transpose(order).reshape(*lead, 4, h * h, c)


def from_sub_pixels(s: np.ndarray, m: int) -> np.ndarray:
    """Inverse of :func:`sub_pixels`: (..., 4, S, C) -> (..., C, M, M)."""
    *lead, _, _, c = s.shape
    h = m // 2
    k = len(lead)
    t = s.reshape(*lead, 2, 2, h, h, c)
    order = tuple(range(k)) + (k + 4, k, k + 2, k + 1, k + 3)
    return t.transpose(order).reshape(*lead, c, m, m)


def nibbles(blocks: np.ndarray) -> np.ndarray:
    """(..., C, M, M) uint8 -> (..., 2d) nibbles in Tanaka's order: (row, column, channel), lows then highs."""
    *lead, c, m, _ = blocks.shape
    k = len(lead)
    flat = blocks.transpose(tuple(range(k)) + (k + 1, k + 2, k)).reshape(*lead, c * m * m)
    return np.concatenate([flat & 15, flat >> 4], axis=-1)


def _labels(*arrays: np.ndarray) -> list[np.ndarray]:
    """Integer labels for the rows of several 2-D arrays (equal rows, equal labels, across arrays)."""
    stacked = np.concatenate([np.ascontiguousarray(a).reshape(a.shape[0], -1) for a in arrays])
    _, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    out, start = [], 0
    for a in arrays:
        out.append(inverse[start : start + a.shape[0]])
        start += a.shape[0]
    return out


# -- matching with ambiguity ---------------------------------------------------------------------------------------
def match(consistent: np.ndarray, cost: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """A permutation ``perm`` (row r -> column perm[r]) using only ``consistent`` edges if it can.

    Rows with a single candidate whose column has no other candidate are fixed at once; the rest is a
    linear assignment on ``(not consistent) + 1e-6 * cost`` (``cost``: a tie-breaker, lower is better).
    Returns ``perm``, ``ambiguous`` (rows whose column differs in some other perfect matching of the
    consistent graph: they lie on an alternating cycle, i.e. in a strongly connected component of more
    than one row of the graph r -> r' whenever r is consistent with perm[r']) and ``perfect`` (every
    chosen edge is consistent).
    """
    consistent = np.asarray(consistent, dtype=bool)
    n = consistent.shape[0]
    row_deg = consistent.sum(axis=1)
    col_deg = consistent.sum(axis=0)
    only = consistent.argmax(axis=1)
    fixed = (row_deg == 1) & (col_deg[only] == 1)
    perm = np.full(n, -1, dtype=np.int64)
    perm[fixed] = only[fixed]
    rows = np.flatnonzero(~fixed)
    if rows.size:
        used = np.zeros(n, dtype=bool)
        used[perm[fixed]] = True
        cols = np.flatnonzero(~used)
        sub_cons = consistent[np.ix_(rows, cols)]
        if cost is not None and rows.size <= LSA_LIMIT:
            sub = (~sub_cons).astype(np.float64)
            c = np.asarray(cost, dtype=np.float64)[np.ix_(rows, cols)]
            span = float(c.max() - c.min()) if c.size else 0.0
            sub += 1e-6 * (c - c.min()) / (span if span > 0 else 1.0)
            r, c = linear_sum_assignment(sub)
            perm[rows[r]] = cols[c]
        else:
            # Large or untied: a maximum matching on the consistent edges (Hopcroft-Karp), the rest in order.
            got = maximum_bipartite_matching(csr_matrix(sub_cons), perm_type="column")
            ok = got >= 0
            perm[rows[ok]] = cols[got[ok]]
            free = np.setdiff1d(np.arange(cols.size), got[ok])
            perm[rows[~ok]] = cols[free]
    chosen_ok = consistent[np.arange(n), perm]
    ambiguous = np.zeros(n, dtype=bool)
    if rows.size > 1:
        # Graph on the non-fixed rows: r -> r' when r could take r''s column.
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        sub_cons = consistent[np.ix_(rows, perm[rows])]
        np.fill_diagonal(sub_cons, False)
        ncomp, lab = connected_components(csr_matrix(sub_cons), directed=True, connection="strong")
        sizes = np.bincount(lab, minlength=ncomp)
        ambiguous[rows] = sizes[lab] > 1
    return perm, ambiguous, bool(chosen_ok.all())


# -- per-scheme solvers -----------------------------------------------------------------------------------------------
#: What a solver returns: the key material, the number of entries left open per key array, notes.
SolverResult = tuple[dict[str, np.ndarray], dict[str, int], list[str]]
Solver = Callable[[np.ndarray, np.ndarray, int | None], SolverResult]


def _kpa_plain(x: np.ndarray, y: np.ndarray, m: int | None) -> SolverResult:
    return {}, {}, []


def _kpa_pe_np(x: np.ndarray, y: np.ndarray, m: int | None) -> SolverResult:
    neg_votes = (y == 255 - x).sum(axis=0)  # (3, H, W)
    keep_votes = (y == x).sum(axis=0)
    negate = (neg_votes > keep_votes).transpose(1, 2, 0)
    return {"negate": negate}, {"negate": 0}, []


def _kpa_pe(x: np.ndarray, y: np.ndarray, m: int | None) -> SolverResult:
    n, c, h, w = x.shape
    miss_keep = np.zeros((6, 3, h, w), np.int64)  # mismatches if output channel c reads order[c] unnegated
    miss_neg = np.zeros((6, 3, h, w), np.int64)
    for start in range(0, n, 16):
        xs, ys = x[start : start + 16], y[start : start + 16]
        moved = xs[:, CHANNEL_ORDERS]  # (b, 6, 3, H, W): output channel c <- input channel order[c]
        miss_keep += (moved != ys[:, None]).sum(axis=0)
        miss_neg += (255 - moved != ys[:, None]).sum(axis=0)
    # errors[order, pattern, H, W]
    errors = np.where(NEGATION_PATTERNS[None, :, :, None, None], miss_neg[:, None], miss_keep[:, None]).sum(axis=2)
    errors = errors.reshape(48, h, w)
    best = errors.argmin(axis=0)  # first minimum: order-major, like fr_adv's candidate order
    ambiguous = int(((errors == 0).sum(axis=0) > 1).sum())
    order, pattern = CHANNEL_ORDERS[best // 8], NEGATION_PATTERNS[best % 8]  # (H, W, 3)
    negate = np.zeros((h, w, 3), dtype=bool)
    np.put_along_axis(negate, order, pattern, axis=2)  # negate[src channel order[c]] = pattern[c]
    return {"negate": negate, "channel_perm": order}, {"negate": ambiguous, "channel_perm": ambiguous}, []


def _mismatch_cost(a: np.ndarray, b: np.ndarray, chunk: int = 16) -> np.ndarray:
    """(R, L) x (C, L) -> (R, C) counts of differing entries (a tie-breaker for :func:`match`)."""
    out = np.empty((a.shape[0], b.shape[0]), np.int64)
    for s in range(0, a.shape[0], chunk):
        out[s : s + chunk] = (a[s : s + chunk, None, :] != b[None, :, :]).sum(axis=-1)
    return out


def _kpa_proposed(x: np.ndarray, y: np.ndarray, m: int | None) -> SolverResult:
    assert m is not None
    xb, yb = to_blocks(x, m), to_blocks(y, m)  # (n, N, 3, M, M)
    nb = xb.shape[1]
    pack = lambda s: (s[..., 0].astype(np.int32) << 16) | (s[..., 1].astype(np.int32) << 8) | s[..., 2]  # noqa: E731
    px, py = pack(sub_pixels(xb)), pack(sub_pixels(yb))  # (n, N, 4, S)
    s_pixels = px.shape[-1]
    # K1, first pass: per block, the sorted pixels of each sub-block in every pair (invariant to K2).
    sig_x = np.sort(px, axis=-1).transpose(1, 0, 2, 3).reshape(nb, -1)
    sig_y = np.sort(py, axis=-1).transpose(1, 0, 2, 3).reshape(nb, -1)
    lx, ly = _labels(sig_x, sig_y)
    cons1 = ly[:, None] == lx[None, :]
    k1, _, _ = match(cons1, _mismatch_cost(sig_y, sig_x) if not cons1.any(axis=1).all() else None)
    # K2: cipher pixel column k (values over every sub-block, block and pair) = plain column K2[k].
    cols_y = py.transpose(3, 0, 1, 2).reshape(s_pixels, -1)
    cols_x = px[:, k1].transpose(3, 0, 1, 2).reshape(s_pixels, -1)
    lx2, ly2 = _labels(cols_x, cols_y)
    cons2 = ly2[:, None] == lx2[None, :]
    k2, amb2, _ = match(cons2, _mismatch_cost(cols_y, cols_x))
    # K1 again with K2 undone: exact block equality (identical blocks in every pair stay ambiguous).
    plain_k2 = px[..., k2]  # plain pixels gathered with K2 = what the cipher block must hold
    full_x = plain_k2.transpose(1, 0, 2, 3).reshape(nb, -1)
    full_y = py.transpose(1, 0, 2, 3).reshape(nb, -1)
    lx3, ly3 = _labels(full_x, full_y)
    cons3 = ly3[:, None] == lx3[None, :]
    k1, amb1, _ = match(cons3, _mismatch_cost(full_y, full_x) if not cons3.any(axis=1).all() else None)
    return {"k1": k1, "k2": k2}, {"k1": int(amb1.sum()), "k2": int(amb2.sum())}, []


def _le_match(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """LE's nibble key from samples ``v`` (plain nibbles) and ``w`` (cipher nibbles), both (samples, 2d).

    Cipher nibble k may come from plain nibble j unnegated (polarity 0) or negated (polarity 1) if its
    column of values equals j's column or 15 minus it. LE's mask is not free: with r[i] = P[i] > d the
    polarity of k is r[P[k]] xor r[k], so choosing P[k] = j with polarity s forces row j's own column to
    lie above d or not (s xor [j > d]). :func:`_prune_le` propagates that (and the one-to-one rule) to a
    fixed point before the matching, so that the key returned reproduces the pairs.
    """
    dd = v.shape[1]
    lv, lvn, lw = _labels(v.T, (15 - v).T, w.T)
    cons0 = lw[:, None] == lv[None, :]
    cons1 = lw[:, None] == lvn[None, :]
    if int(cons0.sum() + cons1.sum()) <= 8 * dd:  # nearly determined: worth propagating the mask rule
        cons0, cons1 = _prune_le(cons0, cons1, dd // 2)
    cons = cons0 | cons1
    tie = None
    open_rows = np.flatnonzero(cons.sum(axis=1) > 1)
    if 1 < open_rows.size <= LSA_LIMIT:
        # Tie-breaker for the rows left open: more agreeing samples (either polarity) is better.
        tie = np.zeros(cons.shape)
        tie[open_rows] = -np.maximum(_agreement(w[:, open_rows], v), _agreement(w[:, open_rows], 15 - v))
    perm, amb, ok = match(cons, tie)
    return perm, amb, ok


def _prune_le(cons0: np.ndarray, cons1: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Arc consistency for LE's derived mask and the permutation rule (see :func:`_le_match`)."""
    big = np.arange(cons0.shape[1]) > d  # columns whose flag r would be set if a row took them
    cons0, cons1 = cons0.copy(), cons1.copy()
    for _ in range(64):
        before = int(cons0.sum() + cons1.sum())
        cand = cons0 | cons1
        own_big = cand[:, big].any(axis=1)  # row j can take a column above d
        own_small = cand[:, ~big].any(axis=1)
        # An edge into column j with polarity s needs row j to take a column of class s xor big[j].
        cons0 &= np.where(big, own_big, own_small)[None, :]
        cons1 &= np.where(big, own_small, own_big)[None, :]
        in_big = np.where(big, cons0.any(axis=0), cons1.any(axis=0))  # some edge into j asks row j for "above d"
        in_small = np.where(big, cons1.any(axis=0), cons0.any(axis=0))
        keep = np.where(big[None, :], in_big[:, None], in_small[:, None])
        cons0 &= keep
        cons1 &= keep
        # One-to-one: a row with a single column claims it; a column with a single row is claimed by it.
        cand = cons0 | cons1
        single_row = cand.sum(axis=1) == 1
        if single_row.any():
            cols = cand[single_row].argmax(axis=1)
            claim = np.zeros_like(cand)
            claim[:, cols] = True
            claim[np.flatnonzero(single_row), cols] = False
            cons0 &= ~claim
            cons1 &= ~claim
        cand = cons0 | cons1
        single_col = cand.sum(axis=0) == 1
        if single_col.any():
            rows = cand[:, single_col].argmax(axis=0)
            claim = np.zeros_like(cand)
            claim[rows, :] = True
            claim[rows, np.flatnonzero(single_col)] = False
            cons0 &= ~claim
            cons1 &= ~claim
        if int(cons0.sum() + cons1.sum()) == before:
            break
    return cons0, cons1


def _agreement(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(k, 2d) counts of samples where cipher nibble column k of ``w`` (samples, k) equals plain nibble j."""
    if w.shape[0] * w.shape[1] * v.shape[1] <= 5e7:  # few samples: compare directly
        out = np.zeros((w.shape[1], v.shape[1]), np.float64)
        for start in range(0, w.shape[0], 16):
            out += (w[start : start + 16, :, None] == v[start : start + 16, None, :]).sum(axis=0)
        return out
    out = np.zeros((w.shape[1], v.shape[1]), np.float64)
    for value in range(16):  # many samples: one-hot products
        out += (w == value).T.astype(np.float32) @ (v == value).astype(np.float32)
    return out


def _kpa_le(x: np.ndarray, y: np.ndarray, m: int | None) -> SolverResult:
    assert m is not None
    v = nibbles(to_blocks(x, m)).reshape(-1, 6 * m * m)
    w = nibbles(to_blocks(y, m)).reshape(-1, 6 * m * m)
    perm, amb, _ = _le_match(v, w)
    return {"perm": perm}, {"perm": int(amb.sum())}, []


def _fold_canonical(cols: np.ndarray) -> np.ndarray:
    """Nibble columns (..., n) mapped to one representative of {col, 15 - col} (the one with col[0] < 8)."""
    return np.where(cols[..., :1] < 8, cols, 15 - cols)


def _kpa_ele(x: np.ndarray, y: np.ndarray, m: int | None) -> SolverResult:
    assert m is not None
    v = nibbles(to_blocks(x, m))  # (n, N, 2d)
    w = nibbles(to_blocks(y, m))
    n, nb, dd = v.shape
    # Block scrambling: a block's multiset of folded nibble columns is invariant to its nibble key.
    cv = _fold_canonical(v.transpose(1, 2, 0)).reshape(nb * dd, n)
    cw = _fold_canonical(w.transpose(1, 2, 0)).reshape(nb * dd, n)
    lcv, lcw = _labels(cv, cw)
    sig_v = np.sort(lcv.reshape(nb, dd), axis=1)
    sig_w = np.sort(lcw.reshape(nb, dd), axis=1)
    lbv, lbw = _labels(sig_v, sig_w)
    cons = lbw[:, None] == lbv[None, :]
    block_perm, amb_b, _ = match(cons, _mismatch_cost(sig_w, sig_v) if not cons.any(axis=1).all() else None)
    perms = np.empty((nb, dd), np.int64)
    amb_p = 0
    for i in range(nb):
        p = block_perm[i]
        perm, amb, _ = _le_match(v[:, p], w[:, i])
        perms[p] = perm
        amb_p += int(amb.sum())
    return {"perms": perms, "block_perm": block_perm}, {"perms": amb_p, "block_perm": int(amb_b.sum())}, []


def etc_transforms(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EtC's 96 per-block transforms as gathers on a flattened (3, M, M) block.

    Returns ``index`` (96, 3 M^2): output value q = input value index[t, q]; ``negate`` (96,) bool;
    ``params`` (96, 3): (dihedral, negate, channel order index into :data:`CHANNEL_ORDERS`). Order:
    dihedral outer, negation, channel order inner.
    """
    grid = np.arange(3 * m * m).reshape(3, m, m)
    index, negate, params = [], [], []
    for dih in range(8):
        g = np.rot90(grid, dih % 4, axes=(1, 2))
        if dih >= 4:
            g = g[:, :, ::-1]
        for neg in (False, True):
            for o, order in enumerate(CHANNEL_ORDERS):
                index.append(g[order].ravel())
                negate.append(neg)
                params.append((dih, int(neg), o))
    return np.array(index), np.array(negate), np.array(params)


def _kpa_etc(x: np.ndarray, y: np.ndarray, m: int | None) -> SolverResult:
    assert m is not None
    n = x.shape[0]
    xb = to_blocks(x, m).transpose(1, 0, 2, 3, 4)
    nb = xb.shape[0]
    xb = xb.reshape(nb, n, 3 * m * m)  # (N, n, 3M^2)
    yb = to_blocks(y, m).transpose(1, 0, 2, 3, 4).reshape(nb, n, 3 * m * m)
    fold = lambda a: np.minimum(a, 255 - a)  # noqa: E731
    sig_x = np.sort(fold(xb), axis=-1).reshape(nb, -1)
    sig_y = np.sort(fold(yb), axis=-1).reshape(nb, -1)
    lx, ly = _labels(sig_x, sig_y)
    index, negs, params = etc_transforms(m)
    cand = ly[:, None] == lx[None, :]
    # Exact check of the candidate pairs: which of the 96 transforms reproduce cipher block i from plain p.
    errors: dict[tuple[int, int], np.ndarray] = {}
    ii, pp = np.nonzero(cand)
    for s in range(0, ii.size, 64):
        i_s, p_s = ii[s : s + 64], pp[s : s + 64]
        moved = xb[p_s][:, :, index]  # (k, n, 96, 3M^2)
        moved = np.where(negs[None, None, :, None], 255 - moved, moved)
        err = (moved != yb[i_s][:, :, None, :]).sum(axis=(1, 3))  # (k, 96)
        for a, b, e in zip(i_s, p_s, err):
            errors[(int(a), int(b))] = e
    cons = np.zeros((nb, nb), dtype=bool)
    for (a, b), e in errors.items():
        cons[a, b] = bool((e == 0).any())
    tie = _mismatch_cost(sig_y, sig_x) if not cons.any(axis=1).all() else None
    block_perm, amb_b, _ = match(cons, tie)
    dihedral = np.zeros(nb, np.int64)
    negate = np.zeros(nb, dtype=bool)
    channel_perm = np.tile(np.arange(3), (nb, 1))
    amb_t = 0
    for i in range(nb):
        p = int(block_perm[i])
        e = errors.get((i, p))
        if e is None:  # not even the signature matches: take the closest transform
            moved = xb[p][:, index]
            moved = np.where(negs[None, :, None], 255 - moved, moved)
            e = (moved != yb[i][:, None, :]).sum(axis=(0, 2))
        t = int(np.argmin(e))
        amb_t += int((e == 0).sum() > 1)
        dihedral[p], negate[p], channel_perm[p] = params[t, 0], bool(params[t, 1]), CHANNEL_ORDERS[params[t, 2]]
    material = {"block_perm": block_perm, "dihedral": dihedral, "negate": negate, "channel_perm": channel_perm}
    return material, {"block_perm": int(amb_b.sum()), "dihedral": amb_t, "negate": amb_t, "channel_perm": amb_t}, []


SOLVERS: dict[str, Solver] = {
    "plain": _kpa_plain,
    "pe_np": _kpa_pe_np,
    "pe": _kpa_pe,
    "proposed": _kpa_proposed,
    "le": _kpa_le,
    "ele": _kpa_ele,
    "etc": _kpa_etc,
}


def as_numpy_uint8(x: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    """uint8 N x 3 x H x W tensor or array -> contiguous numpy array (on the CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"{what} must be uint8 N x 3 x H x W, got {x.dtype} {x.shape}")
    return x


def recover_key_kpa(
    scheme_name: str,
    plaintexts: torch.Tensor | np.ndarray,
    ciphertexts: torch.Tensor | np.ndarray,
    *,
    block_size: int | None = None,
) -> KeyRecovery:
    """Recover ``scheme_name``'s key material from paired uint8 N x 3 x H x W plain and cipher images.

    The image size is the images'; ``block_size`` is needed by the block-wise schemes. See the module
    docstring for the method per scheme; :class:`KeyRecovery` says how unique and consistent it is.
    """
    from ppbench.schemes import create_scheme, scheme_info

    name = scheme_info(scheme_name).name
    if name not in SOLVERS:
        raise InputError(f"kpa has no key solver for scheme {scheme_name!r}; supported: {', '.join(KPA_SCHEMES)}")
    x, y = as_numpy_uint8(plaintexts, "plaintexts"), as_numpy_uint8(ciphertexts, "ciphertexts")
    if x.shape != y.shape:
        raise InputError(f"kpa needs plain and cipher images of the same shape, got {x.shape} and {y.shape}")
    if x.shape[0] < 1:
        raise InputError("kpa needs at least one plain/cipher pair")
    block = block_size if scheme_info(name).block_wise else None
    start = time.perf_counter()
    material, ambiguous, notes = SOLVERS[name](x, y, block)
    scheme = create_scheme(name, key_material=material, image_size=tuple(x.shape[2:]), block_size=block)
    consistent = bool(torch.equal(scheme.encrypt(torch.from_numpy(x)), torch.from_numpy(y)))
    if not consistent:
        notes.append("the recovered key does not reproduce every pair: the pairs were not made with one key of this scheme")
    return KeyRecovery(
        scheme=name, key_material=material, n=int(x.shape[0]), seconds=time.perf_counter() - start,
        ambiguous=ambiguous, consistent=consistent, notes=notes,
    )


# -- the attack ---------------------------------------------------------------------------------------------------------
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
        self.recovery: KeyRecovery | None = None
        self.scheme = None

    def recover(self, view: AttackerView) -> KeyRecovery:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, view: AttackerView) -> None:
        self.recovery = self.recover(view)
        self._set_scheme(self.recovery.key_material)
        self.history.append({"epoch": 1, **{f"ambiguous_{k}": float(v) for k, v in self.recovery.ambiguous.items()}})

    def _set_scheme(self, material: dict[str, np.ndarray]) -> None:
        from ppbench.schemes import create_scheme, scheme_info

        block = self.block_size if scheme_info(self.scheme_name).block_wise else None
        self.scheme = create_scheme(self.scheme_name, key_material=material, image_size=self.image_size, block_size=block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scheme.decrypt(x)

    @property
    def key_material(self) -> dict[str, np.ndarray]:
        """The recovered key (after ``fit`` or ``load``)."""
        if self.scheme is None:
            raise InputError(f"attack {self.info.name!r} has no key yet: call fit(view) first")
        return self.scheme.key_material()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["key_material"] = {k: torch.from_numpy(np.asarray(v).astype(np.int64)) for k, v in self.key_material.items()} if self.scheme else {}
        state["recovery"] = self.recovery.to_dict() if self.recovery else None
        return state

    def load_state_dict(self, state: dict[str, Any]) -> "KeyRecoveryAttack":
        state = dict(state)
        material = state.pop("key_material", {})
        super().load_state_dict(state)
        # Stored as int64 tensors (weights_only loading); "negate" arrays are boolean in the spec.
        self._set_scheme({k: v.numpy().astype(bool if k == "negate" else np.int64) for k, v in material.items()})
        return self


@register_attack
class KPA(KeyRecoveryAttack):
    """Known-plaintext key recovery: exact key material from n plain/cipher pairs, then exact decryption.

    Paper: the schemes' keys are permutations (plus negations) shared by every image, i.e.
    permutation-only ciphers, which a few known plaintexts break (S. Li, C. Li, G. Chen, N. G. Bourbakis,
    K.-T. Lo, Signal Processing: Image Communication 23(3), 212-223, 2008); ppbench's solvers per scheme
    are in :mod:`ppbench.attacks.kpa`.
    Threat model: ``known_plaintext`` (victim-key ciphertexts paired with their plain images; the
    public images that threat model also grants are not read).
    Arguments: ``scheme_name`` (any of ``proposed, le, ele, pe, pe_np, etc, plain``), ``image_size``,
    ``block_size`` (block-wise schemes), ``profile`` (all the same), ``device=None`` (CPU),
    ``batch_size=256`` (decryption batch), ``epochs=1`` (fixed: one pass over the pairs),
    ``max_images=1000`` (pairs used at most: the first ones of the view).
    Shapes: uint8 N x 3 x H x W ciphertexts in 0..255 -> uint8 N x 3 x H x W restored images.
    After ``fit``: ``recovery`` (a :class:`KeyRecovery`: entries left open per key array, whether the
    key reproduces every pair, seconds) and ``key_material`` (the key-material arrays).
    Example::

        attack = create_attack("kpa", scheme_name="le", image_size=32, block_size=4).fit(view)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="kpa",
        title="Known-plaintext key recovery: the key material from n plain/cipher pairs, then exact decryption",
        paper=("S. Li, C. Li, G. Chen, N. G. Bourbakis, K.-T. Lo, A general quantitative cryptanalysis of "
               "permutation-only multimedia ciphers against plaintext attacks, Signal Processing: Image "
               "Communication 23(3), 212-223, 2008"),
        url="https://doi.org/10.1016/j.image.2008.01.003",
        threat_model=ThreatModel.KNOWN_PLAINTEXT,
        version=1,
        curve=True,
        trainable=True,
        notes="exact wherever the pairs determine the key; recovery.ambiguous counts the entries they leave open",
    )

    @classmethod
    def applicable(cls, scheme: Any) -> str | None:
        """Only schemes with a key solver here; a plugin scheme exposes no structure these solvers know."""
        if scheme.name not in SOLVERS:
            return f"it has key solvers only for the schemes whose structure it knows ({', '.join(KPA_SCHEMES)})"
        return super().applicable(scheme)

    def recover(self, view: AttackerView) -> KeyRecovery:
        k = int(self.config["max_images"])
        return recover_key_kpa(self.scheme_name, view.victim_plaintexts[:k], view.victim_ciphertexts[:k],
                               block_size=self.block_size)
