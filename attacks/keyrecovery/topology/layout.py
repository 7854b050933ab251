"""Where the pixels sit: a jigsaw of 1 x 1 pieces on the known frame, from pooled correlations.

The distance of two pixels is sqrt(2 (1 - r)) for r the mean correlation of their like channels. ``pooled``'s
:class:`~ppbench.attacks.pooled.Jigsaw` places the pixels greedily with the same cost in all four
directions (a pixel has no edges; the lattice emerges from every placed neighbour agreeing), then
refines by swaps. Its typical failure is a correct patch placed at the wrong offset in the frame, the
weakly correlated border pixels crammed into what is left: so the largest patch whose neighbours are all
mutual nearest neighbours is kept and re-placed at every offset that fits, the rest re-grown around it,
and the placement of lowest total cost wins. What survives is typically a band of rows (or columns) one
pixel out of line with the rest; :func:`seam_shifts` tries every such cyclic shift of a band (Le Roux et al., NIPS 2007, learn the same 2-D topology from
correlations with a manifold embedding, which distorts the border and fails here).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import label as connected_regions

from ..jigsaw import Jigsaw

#: Rounds of "keep the trusted patch, try every offset", the most offsets tried per round (more: the
#: patch floats instead), and the mutual-neighbour rank that trusts a link.
OFFSET_ROUNDS = 4
MAX_OFFSETS = 16
MUTUAL_RANK = 6
#: Start pixels tried at most, and the trusted-patch coverage of the frame that ends the search early.
SEEDS = 3
GOOD_PATCH = 0.9


def pixel_distances(corr: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(P, P) float32 distances sqrt(2 (1 - r)) of pixels (P, C byte positions, column c = channel c),
    r the mean correlation of their like channels."""
    r = sum(corr[np.ix_(groups[:, c], groups[:, c])] for c in range(groups.shape[1])) / groups.shape[1]
    return np.sqrt(np.maximum(2.0 * (1.0 - r), 0.0)).astype(np.float32)


def trusted_patch(pieces: np.ndarray, dist: np.ndarray, rank: int = MUTUAL_RANK) -> np.ndarray:
    """(rows, cols) bool: the largest 4-connected region of cells whose every in-frame neighbour is a
    mutual ``rank``-nearest neighbour of it."""
    n = dist.shape[0]
    d = dist.copy()
    np.fill_diagonal(d, np.inf)
    near = np.zeros((n, n), bool)
    near[np.repeat(np.arange(n), rank), np.argpartition(d, rank, axis=1)[:, :rank].ravel()] = True
    mutual = near & near.T
    ok = np.ones(pieces.shape, bool)
    ok[:, :-1] &= mutual[pieces[:, :-1], pieces[:, 1:]]
    ok[:, 1:] &= mutual[pieces[:, 1:], pieces[:, :-1]]
    ok[:-1, :] &= mutual[pieces[:-1, :], pieces[1:, :]]
    ok[1:, :] &= mutual[pieces[1:, :], pieces[:-1, :]]
    labels, count = connected_regions(ok)
    if count == 0:
        return ok
    return labels == (int(np.argmax(np.bincount(labels.ravel())[1:])) + 1)


def grid_layout(dist: np.ndarray, rows: int, cols: int, rounds: int = OFFSET_ROUNDS, seeds: int = SEEDS,
                good: float = GOOD_PATCH) -> tuple[np.ndarray, float]:
    """(rows, cols) pixel index per cell, and its cost (sum of neighbour distances): greedy placement from
    the pixel with the most mutual nearest neighbours, offset rounds; while the trusted patch covers less
    than ``good`` of the frame, again from the next of ``seeds`` start pixels; the lowest cost wins."""
    jigsaw = Jigsaw(np.broadcast_to(dist[None, :, :, None], (4,) + dist.shape + (1,)), rows, cols)
    best: tuple[float, np.ndarray] | None = None
    for seed in jigsaw.seed_pieces(seeds):
        found = _place(jigsaw, dist, {(0, 0): (seed, 0)}, rounds)
        if best is None or found[0] < best[0]:
            best = found
        if trusted_patch(best[1], dist).mean() >= good:
            break
    assert best is not None
    pieces = seam_shifts(best[1], dist)
    return pieces, layout_cost(pieces, dist)


def layout_cost(pieces: np.ndarray, dist: np.ndarray) -> float:
    """Summed distance of all 4-adjacent cells."""
    return float(dist[pieces[:, :-1], pieces[:, 1:]].sum() + dist[pieces[:-1], pieces[1:]].sum())


def seam_shifts(pieces: np.ndarray, dist: np.ndarray, max_moves: int = 64) -> np.ndarray:
    """Best-improvement moves that shift the band of rows above or below a cut (or of columns left or right of
    it) cyclically by one cell along the cut, until none lowers :func:`layout_cost`."""
    pieces = pieces.copy()
    current = layout_cost(pieces, dist)
    for _ in range(max_moves):
        best: tuple[float, np.ndarray] | None = None
        for axis in (0, 1):
            length = pieces.shape[axis]
            for cut in range(1, length):
                for band in (slice(0, cut), slice(cut, length)):
                    index = (band, slice(None)) if axis == 0 else (slice(None), band)
                    for step in (-1, 1):
                        trial = pieces.copy()
                        trial[index] = np.roll(trial[index], step, axis=1 - axis)
                        cost = layout_cost(trial, dist)
                        if cost < current - 1e-9 and (best is None or cost < best[0]):
                            best = (cost, trial)
        if best is None:
            break
        current, pieces = best
    return pieces


def _place(jigsaw: Jigsaw, dist: np.ndarray, start: dict[tuple[int, int], tuple[int, int]], rounds: int) -> tuple[float, np.ndarray]:
    """Greedy placement from ``start``, swap refinement, then the offset rounds; (cost, pieces)."""
    rows, cols = jigsaw.rows, jigsaw.cols
    zero = np.zeros((rows, cols), np.int64)
    pieces, _ = jigsaw.swap_refine(*jigsaw.greedy(start))
    best = (jigsaw.total_cost(pieces, zero), pieces)
    for _ in range(rounds):
        patch = trusted_patch(best[1], dist)
        if patch.all() or not patch.any():
            break
        rs, cs = np.nonzero(patch)
        improved = False
        offsets = [(dr, dc) for dr in range(rows - (rs.max() - rs.min())) for dc in range(cols - (cs.max() - cs.min()))]
        if len(offsets) > MAX_OFFSETS:  # too many to try: the patch floats, the rest re-grows around it
            offsets, anchored = [(int(rs.min()), int(cs.min()))], False
        else:
            anchored = True
        tries = [({(int(r - rs.min() + dr), int(c - cs.min() + dc)): (int(best[1][r, c]), 0) for r, c in zip(rs, cs)}, anchored)
                 for dr, dc in offsets]
        for seed, anchored in tries:
            pieces, _ = jigsaw.swap_refine(*jigsaw.greedy(seed, anchored=anchored))
            cost = jigsaw.total_cost(pieces, zero)
            if cost < best[0] - 1e-9:
                best, improved = (cost, pieces), True
        if not improved:
            break
    return best
