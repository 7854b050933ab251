"""Key solvers for EtC: block scrambling plus, per block, one of 96 transforms (8 rotations/flips x
negative x 6 channel orders), taken from :class:`~ppbench.schemes.etc.EtC` itself.

Known plaintext: blocks matched by their sorted folded values min(q, 255 - q) (invariant to the block's
transform), then the transforms that reproduce each matched pair. Ciphertext only: a jigsaw whose pieces
carry one of the 96 orientations, the global reading of the whole image chosen by the natural-image
prior, up to the left-right mirror no statistic of natural images settles.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ppbench.errors import InputError
from ppbench.schemes.etc import EtC

from ..base import CHANNEL_ORDERS, KpaResult, PooledResult
from ..colour import apply_colour
from ..geometry import apply_dihedral, from_blocks, to_blocks
from ..jigsaw import OPPOSITE, Jigsaw, JigsawSolution, PieceGroup
from ..matching import match, mismatch_cost, row_labels
from ..prior import NaturalPrior, subsample

ETC_JIGSAW_SEEDS = 16
"""Start pieces the EtC jigsaw may try before it keeps its lowest-cost placement (it stops at the first whose every
neighbour pair is a mutual best match). The default 4 lost 2 of 15 fixed test keys at 1,000 ciphertexts of the
bundled sample (the same wrong placement, cost 163,497 against the true 67,976, grown from each of the 4 best-matched
start pieces; the reference study's EtC run fell to SSIM 0.07 there although 10 of its ciphertexts had broken it);
16 placed all 15. One placement costs about 0.1 s at 32 x 32, and the search stops at the first perfect one. Kept to
EtC, where it was measured, rather than made :meth:`Jigsaw.solve`'s default: the LE and proposed solvers were not
measured with more start pieces, and wherever few ciphertexts leave every placement imperfect (a key-recovery curve's
first points) each extra start piece is spent, 196 pieces a placement at 224 x 224."""


def etc_transforms(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EtC's 96 per-block transforms as gathers on a flattened (3, M, M) block.

    Returns ``index`` (96, 3 M^2): output value q = input value index[t, q]; ``negate`` (96,) bool;
    ``params`` (96, 3): (dihedral, negate, channel order index into :data:`CHANNEL_ORDERS`). Order:
    dihedral outer, negation, channel order inner.
    """
    grid = np.arange(3 * m * m).reshape(3, m, m)
    index, negate, params = [], [], []
    for dih in range(8):
        for neg in (False, True):
            for o, order in enumerate(CHANNEL_ORDERS):
                index.append(EtC.dihedral(grid, dih)[order].ravel())  # the scheme's own steps 1 and 3
                negate.append(neg)
                params.append((dih, int(neg), o))
    return np.array(index), np.array(negate), np.array(params)


def kpa_etc(x: np.ndarray, y: np.ndarray, m: int | None) -> KpaResult:
    """Block permutation and per-block transforms from pairs; symmetric or grey blocks leave several transforms."""
    assert m is not None
    n = x.shape[0]
    xb = to_blocks(x, m).transpose(1, 0, 2, 3, 4)
    nb = xb.shape[0]
    xb = xb.reshape(nb, n, 3 * m * m)  # (N, n, 3M^2)
    yb = to_blocks(y, m).transpose(1, 0, 2, 3, 4).reshape(nb, n, 3 * m * m)
    fold = lambda a: np.minimum(a, 255 - a)  # noqa: E731
    sig_x = np.sort(fold(xb), axis=-1).reshape(nb, -1)
    sig_y = np.sort(fold(yb), axis=-1).reshape(nb, -1)
    lx, ly = row_labels(sig_x, sig_y)
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
    tie = mismatch_cost(sig_y, sig_x) if not cons.any(axis=1).all() else None
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


@functools.lru_cache(maxsize=4)
def etc_group(m: int) -> tuple[PieceGroup, np.ndarray, np.ndarray, np.ndarray]:
    """EtC's 96 block transforms as a :class:`PieceGroup`, with :func:`etc_transforms`'s tables
    (``index`` (96, 3 M^2) gathers, ``negate`` (96,), ``params`` (96, 3)); element 0 is the identity.
    Composition, inverses and the movement of the block's sides are computed from the gathers."""
    index, negate, params = etc_transforms(m)
    lookup = {(index[t].tobytes(), bool(negate[t])): t for t in range(96)}
    compose = np.empty((96, 96), np.int64)
    for a in range(96):
        for b in range(96):  # T_a(T_b(x))[q] = x[index_b[index_a[q]]], negations add up
            compose[a, b] = lookup[(index[b][index[a]].tobytes(), bool(negate[a] ^ negate[b]))]
    inverse = np.argmax(compose == 0, axis=1)
    direction = np.empty((96, 4), np.int64)
    for d in range(4):
        marker = np.zeros((3, m, m))
        side_of(marker, d)[...] = 1.0
        for t in range(96):
            moved = marker.ravel()[index[t]].reshape(3, m, m)
            direction[t, d] = next(s for s in range(4) if side_of(moved, s).all())
    return PieceGroup(compose, inverse, direction), index, negate, params


def side_of(block: np.ndarray, d: int) -> np.ndarray:
    """A view of a block's side d (0 right column, 1 bottom row, 2 left column, 3 top row), ordered along the seam."""
    return (block[..., :, -1], block[..., -1, :], block[..., :, 0], block[..., 0, :])[d]


def etc_dissimilarity(blocks: np.ndarray, index: np.ndarray, negate: np.ndarray, params: np.ndarray) -> np.ndarray:
    """(4, N, N, 96): pooled mean squared seam difference of block q (as is) and block p re-oriented by
    transform k lying in direction d of q, for blocks (n, N, 3, M, M).

    Squared differences split over channel pairs, so all 96 transforms come from 8 spatial readings x
    9 channel-pair Gram matrices (matrix products), not 96 separate distance computations.
    """
    n, nb, c, m, _ = blocks.shape
    b = blocks.astype(np.float64)
    flat = b.reshape(n, nb, -1)
    scale = 1.0 / (n * c * m)

    def side(x: np.ndarray, d: int) -> np.ndarray:  # (n, N, 3, M) -> (3, N, n*M)
        return np.ascontiguousarray(side_of(x, d).transpose(2, 1, 0, 3).reshape(c, nb, -1))

    own = [side(b, d) for d in range(4)]
    own_sq = [(q**2).sum(axis=2) for q in own]  # (3, N)
    own_sum = [q.sum(axis=2) for q in own]
    length = own[0].shape[2]
    out = np.empty((4, nb, nb, 96), np.float32)
    for dih in range(8):
        t = dih * 12  # the spatial transform alone (no negation, channels in order)
        moved = flat[:, :, index[t]].reshape(n, nb, c, m, m)
        for d in range(4):
            q, p = own[d], side(moved, OPPOSITE[d])
            gram = np.einsum("cil,djl->cdij", q, p)  # (3, 3, N, N): q channel c . p channel c'
            p_sq, p_sum = (p**2).sum(axis=2), p.sum(axis=2)
            neg_sq = 255.0**2 * length - 2 * 255.0 * p_sum + p_sq  # |255 - p|^2 per channel
            for k in range(t, t + 12):
                _, neg, o = params[k]
                order = CHANNEL_ORDERS[o]
                total = np.zeros((nb, nb))
                for ch in range(3):
                    src = order[ch]
                    if neg:  # |q - (255 - p)|^2 = |q|^2 + |255 - p|^2 - 2 (255 sum q - q.p)
                        cross = 255.0 * own_sum[d][ch][:, None] - gram[ch, src]
                        total += own_sq[d][ch][:, None] + neg_sq[src][None, :] - 2 * cross
                    else:
                        total += own_sq[d][ch][:, None] + p_sq[src][None, :] - 2 * gram[ch, src]
                out[d, :, :, k] = np.maximum(total, 0.0) * scale
    return out


def pooled_etc(y: np.ndarray, m: int | None, prior: NaturalPrior | None) -> PooledResult:
    """Block jigsaw with orientations, then the global reading chosen by ``prior`` (up to the mirror)."""
    assert prior is not None
    assert m is not None
    group, index, negate, params = etc_group(m)
    n, _, h, w = y.shape
    rows, cols = h // m, w // m
    if rows != cols:
        raise InputError(f"pooled: EtC needs square images (its global rotations must keep the frame), got {h}x{w}; "
                         "attack square images (e.g. --image-size 32)")
    blocks = to_blocks(y, m)  # (n, N, 3, M, M)
    solution = Jigsaw(etc_dissimilarity(blocks, index, negate, params), rows, cols, group).solve(seeds=ETC_JIGSAW_SEEDS)
    # The relative decoding: cell (r, c) holds cipher block pieces[r, c] re-oriented by orient[r, c].
    sub = y[:256].astype(np.float32)
    flat = to_blocks(sub, m).reshape(sub.shape[0], rows * cols, -1)
    cells = np.empty((sub.shape[0], rows * cols, 3 * m * m), np.float32)
    for cell, (piece, o) in enumerate(zip(solution.pieces.ravel(), solution.orient.ravel())):
        v = flat[:, piece, index[o]]
        cells[:, cell] = 255.0 - v if negate[o] else v
    relative = from_blocks(cells.reshape(sub.shape[0], rows * cols, 3, m, m), h, w)
    small = subsample(relative, 256)
    # Global symmetry: any of the 96 transforms applied to the whole image keeps every seam; the prior picks.
    scores = []
    for g in range(96):
        dih, neg, order = params[g]
        cand = apply_colour(apply_dihedral(small, int(dih)), int(order), 7 if neg else 0)
        scores.append(prior.distance(np.ascontiguousarray(cand)))
    scores = np.array(scores)
    g = int(np.argmin(scores))
    mirror = int(group.compose[4 * 12, g])  # the chosen reading, mirrored left-right (a tie by construction)

    def key_for(h: int) -> dict[str, np.ndarray]:
        return etc_key(solution, h, group, params)

    others = np.delete(scores, [g, mirror])
    conf = {"buddy_fraction": solution.buddy_fraction, "jigsaw_cost": solution.cost,
            "prior_margin": float(others.min() - scores[g])}
    notes = [
        "global symmetry: the 96 readings (8 rotations/flips x negative x 6 channel orders) of the whole image keep "
        "every seam; chosen by the natural-image prior learnt from the attacker's public images (means, dark/bright "
        "channel, skewness, channel correlations, top/bottom)",
        "left-right mirror: not identifiable (natural images are mirror-symmetric in distribution, and the "
        "prior is built mirror-symmetric, so an image and its mirror tie exactly); the unmirrored reading "
        "relative to the solver's seed block is returned, which is right half of the time: the key is "
        "exact only up to a mirror (the mirrored key is returned as the alternative)",
    ]
    return key_for(g), conf, notes, [key_for(mirror)]


def etc_key(solution: JigsawSolution, h: int, group: PieceGroup, params: np.ndarray) -> dict[str, np.ndarray]:
    """EtC key material of a placement (decoding orientations) read through the global transform h."""
    rows, cols = solution.pieces.shape
    dih = int(params[h, 0])
    pieces = np.ascontiguousarray(apply_dihedral(solution.pieces, dih))
    orient = group.compose[h][np.ascontiguousarray(apply_dihedral(solution.orient, dih))]
    block_perm = np.empty(rows * cols, np.int64)
    block_perm[pieces.ravel()] = np.arange(rows * cols)  # cipher block i sits at plain position block_perm[i]
    encrypt = group.inverse[orient.ravel()]  # the scheme's transform at each plain position
    return {
        "block_perm": block_perm,
        "dihedral": params[encrypt, 0].astype(np.int64),
        "negate": params[encrypt, 1].astype(bool),
        "channel_perm": CHANNEL_ORDERS[params[encrypt, 2]],
    }


def etc_global_readings(material: dict[str, np.ndarray], block_size: int) -> list[dict[str, np.ndarray]]:
    """The keys of the 96 global readings of ``material`` (rotations/flips x negation x channel orders of
    the whole image), itself first."""
    group, _, _, params = etc_group(block_size)
    nb = material["block_perm"].size
    side = int(round(math.sqrt(nb)))
    lookup = {(int(a), int(b), int(c)): t for t, (a, b, c) in enumerate(params)}
    order_index = {tuple(o): i for i, o in enumerate(CHANNEL_ORDERS.tolist())}
    enc = np.array([lookup[(int(material["dihedral"][p]), int(material["negate"][p]),
                            order_index[tuple(material["channel_perm"][p].tolist())])] for p in range(nb)])
    pieces = np.empty(nb, np.int64)
    pieces[material["block_perm"]] = np.arange(nb)
    solution = JigsawSolution(pieces.reshape(side, side), group.inverse[enc].reshape(side, side), 0.0, 1.0)
    return [etc_key(solution, h, group, params) for h in range(96)]
