"""Key solvers for ``proposed`` (block scrambling K1, then one pixel shuffle K2 in every sub-block).

Known plaintext: K1 by matching blocks whose sub-blocks hold the same multiset of pixels in every pair
(invariant to K2), then K2 by matching pixel columns, then K1 again with K2 undone (exact block
equality). Ciphertext only: K2 by laying the cipher pixel positions on the sub-block grid from their
pooled differences (the seams between the 4 sub-blocks fix the square's symmetry), then K1 as a jigsaw.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..base import KpaResult, PooledResult
from ..geometry import dihedral_grids, from_sub_pixels, grid_adjacent, sub_pixels, to_blocks
from ..jigsaw import Jigsaw, edge_dissimilarity
from ..layout import mds_grid_layout, pair_swap_search, pooled_l1
from ..matching import match, mismatch_cost, row_labels
from ..prior import NaturalPrior


def kpa_proposed(x: np.ndarray, y: np.ndarray, m: int | None) -> KpaResult:
    """K1 and K2 from pairs (see the module docstring); identical uniform blocks stay ambiguous."""
    assert m is not None
    xb, yb = to_blocks(x, m), to_blocks(y, m)  # (n, N, 3, M, M)
    nb = xb.shape[1]
    pack = lambda s: (s[..., 0].astype(np.int32) << 16) | (s[..., 1].astype(np.int32) << 8) | s[..., 2]  # noqa: E731
    px, py = pack(sub_pixels(xb)), pack(sub_pixels(yb))  # (n, N, 4, S)
    s_pixels = px.shape[-1]
    # K1, first pass: per block, the sorted pixels of each sub-block in every pair (invariant to K2).
    sig_x = np.sort(px, axis=-1).transpose(1, 0, 2, 3).reshape(nb, -1)
    sig_y = np.sort(py, axis=-1).transpose(1, 0, 2, 3).reshape(nb, -1)
    lx, ly = row_labels(sig_x, sig_y)
    cons1 = ly[:, None] == lx[None, :]
    k1, _, _ = match(cons1, mismatch_cost(sig_y, sig_x) if not cons1.any(axis=1).all() else None)
    # K2: cipher pixel column k (values over every sub-block, block and pair) = plain column K2[k].
    cols_y = py.transpose(3, 0, 1, 2).reshape(s_pixels, -1)
    cols_x = px[:, k1].transpose(3, 0, 1, 2).reshape(s_pixels, -1)
    lx2, ly2 = row_labels(cols_x, cols_y)
    cons2 = ly2[:, None] == lx2[None, :]
    k2, amb2, _ = match(cons2, mismatch_cost(cols_y, cols_x))
    # K1 again with K2 undone: exact block equality (identical blocks in every pair stay ambiguous).
    plain_k2 = px[..., k2]  # plain pixels gathered with K2 = what the cipher block must hold
    full_x = plain_k2.transpose(1, 0, 2, 3).reshape(nb, -1)
    full_y = py.transpose(1, 0, 2, 3).reshape(nb, -1)
    lx3, ly3 = row_labels(full_x, full_y)
    cons3 = ly3[:, None] == lx3[None, :]
    k1, amb1, _ = match(cons3, mismatch_cost(full_y, full_x) if not cons3.any(axis=1).all() else None)
    return {"k1": k1, "k2": k2}, {"k1": int(amb1.sum()), "k2": int(amb2.sum())}, []


def solve_proposed_k2(ciphertexts: np.ndarray, m: int) -> tuple[np.ndarray, dict[str, float]]:
    """K2 of ``proposed`` from pooled pixel differences (see the module docstring); cipher k -> plain K2[k]."""
    h = m // 2
    s = h * h
    cells = sub_pixels(to_blocks(ciphertexts, m))  # (n, N, 4, S, 3)
    samples = cells.reshape(-1, 4 * s, 3).transpose(1, 0, 2).reshape(4 * s, -1)
    dist = pooled_l1(samples)  # (4S, 4S): item = (sub-block, cipher position)
    # Adjacent pixel pairs of the M x M block as (sub-block, in-sub-block cell) pairs.
    idx = np.arange(m * m).reshape(1, 1, 1, m, m)
    where = sub_pixels(idx)[0, 0, :, :, 0]  # (4, S): block pixel of (sub-block, cell)
    sub_of = np.empty(m * m, np.int64)
    cell_of = np.empty(m * m, np.int64)
    for sb in range(4):
        sub_of[where[sb]] = sb
        cell_of[where[sb]] = np.arange(s)
    a, b = grid_adjacent(m)
    sa, ca, sbb, cb = sub_of[a], cell_of[a], sub_of[b], cell_of[b]

    def energy(layouts: np.ndarray) -> np.ndarray:  # layouts: (k, S) cell -> cipher position
        return dist[sa * s + layouts[:, ca], sbb * s + layouts[:, cb]].sum(axis=-1)

    if s <= 8:
        layouts = np.array(list(itertools.permutations(range(s))), dtype=np.int64)
        e = energy(layouts)
        layout = layouts[int(np.argmin(e))]
    else:
        within = sum(dist[k * s : (k + 1) * s, k * s : (k + 1) * s] for k in range(4)) / 4
        blocks4 = dist.reshape(4, s, 4, s).transpose(0, 2, 1, 3).reshape(16, s, s)  # (sub a, sub b) -> S x S
        kinds = sa * 4 + sbb
        layout = pair_swap_search(mds_grid_layout(within, h), blocks4, ca, cb, kinds)
        variants = np.stack([layout[t] for t in dihedral_grids(h)])  # the 8 symmetric readings
        layout = pair_swap_search(variants[int(np.argmin(energy(variants)))], blocks4, ca, cb, kinds)
    best = float(energy(layout[None])[0])
    # How much worse the best other symmetric reading is (the seams' verdict), for the record.
    others = np.stack([layout[t] for t in dihedral_grids(h)[1:]])
    margin = float(energy(others).min() / best - 1.0) if best > 0 else float("inf")
    k2 = np.empty(s, np.int64)
    k2[layout] = np.arange(s)  # cipher position layout[c] sits at plain cell c
    return k2, {"k2_symmetry_margin": margin}


def pooled_proposed(y: np.ndarray, m: int | None, prior: NaturalPrior | None = None) -> PooledResult:
    """K2 from pooled pixel differences, then K1 as a jigsaw without rotation (no prior needed)."""
    assert m is not None
    k2, conf = solve_proposed_k2(y, m)
    cells = sub_pixels(to_blocks(y, m))  # (n, N, 4, S, 3)
    layout = np.argsort(k2)  # plain cell -> cipher position
    blocks = from_sub_pixels(cells[..., layout, :], m)  # pixel order undone, blocks still scrambled
    rows, cols = y.shape[2] // m, y.shape[3] // m
    solution = Jigsaw(edge_dissimilarity(blocks), rows, cols).solve()
    k1 = np.empty(rows * cols, np.int64)
    k1[solution.pieces.ravel()] = np.arange(rows * cols)  # cipher block i came from plain position k1[i]
    conf.update({"k1_buddy_fraction": solution.buddy_fraction, "k1_cost": solution.cost})
    return {"k1": k1, "k2": k2}, conf, [], []
