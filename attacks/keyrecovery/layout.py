"""Laying items out on a grid from pooled pairwise distances (pixel positions of a shuffled block, nibble
positions of an LE key): an isomap/MDS start, best-swap local search, and an exact binary grid labelling.

Natural images are smooth, so items that were neighbours have small pooled differences; these routines
find the grid arrangement with the smallest summed difference between grid neighbours.
"""

from __future__ import annotations

import functools
import itertools
from typing import Callable

import numpy as np
import scipy.linalg
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import shortest_path

from .geometry import dihedral_grids, grid_adjacent
from .matching import reduction_bound


#: Starting rotations of the MDS embedding tried against the grid (evenly spaced over a quarter turn: the grid's own
#: symmetry covers the rest). Fewer would lose the reading: with 6, 39 of the tests' key's 196 positions came out fully
#: explained against 93 with 18 (docs/benchmarks.md).
MDS_ANGLES = 18
#: Of those rotations, how many are fitted on after their first round of assignment and affine fit (three rounds in
#: all): the ones whose first assignment cost least. At 224 the angle that ends best was among the first round's 3
#: cheapest in every one of 1,176 layouts measured (two keys; docs/benchmarks.md, twenty-first session). Fitting 4 on,
#: and solving a first round only where a bound leaves it in question, spends about 16 assignments a layout, not 54.
MDS_FITTED = 4


def pooled_l1(features: np.ndarray | torch.Tensor, other: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
    """Mean absolute difference between rows of ``features`` (P, L) (and ``other``), via ``torch.cdist``."""
    a = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32)
    b = a if other is None else torch.as_tensor(np.ascontiguousarray(other), dtype=torch.float32)
    return (torch.cdist(a, b, p=1) / max(a.shape[1], 1)).numpy().astype(np.float64)


def mds_grid_layout(dist: np.ndarray, h: int, neighbours: int = 4) -> np.ndarray:
    """Place S = h*h items on an h x h grid from their pairwise distances: cell -> item.

    Isomap: a symmetric k-nearest-neighbour graph, its shortest paths, classical MDS to 2-D; then an
    affine fit to the grid alternating with linear assignment (three rounds), from :data:`MDS_ANGLES`
    starting rotations, the :data:`MDS_FITTED` whose first round fits best fitted on
    (:func:`_cheapest_first_rounds`), keeping the best fit. Only a starting point for :func:`swap_search`.
    """
    s = dist.shape[0]
    nn = np.argsort(dist + np.diag(np.full(s, np.inf)), axis=1)[:, :neighbours]
    graph = np.zeros((s, s))
    rows = np.repeat(np.arange(s), neighbours)
    graph[rows, nn.ravel()] = np.maximum(dist[rows, nn.ravel()], 1e-9)
    graph = np.maximum(graph, graph.T)
    geo = shortest_path(graph, directed=False)
    finite = np.isfinite(geo)
    geo[~finite] = geo[finite].max() if finite.any() else 1.0
    centre = np.eye(s) - 1.0 / s
    gram = -0.5 * centre @ (geo**2) @ centre
    vals, vecs = scipy.linalg.eigh(gram, subset_by_index=[s - 2, s - 1])  # the two leading components
    emb = vecs[:, -2:] * np.sqrt(np.maximum(vals[-2:], 0.0))
    if emb.shape[1] < 2 or not np.isfinite(emb).all() or emb.std() == 0.0:
        return np.arange(s)  # degenerate distances (e.g. one sample, all ties): no geometry; the swap search starts from here
    gy, gx = np.divmod(np.arange(s), h)
    grid = np.stack([gy, gx], 1).astype(np.float64)
    grid -= grid.mean(0)
    emb = (emb - emb.mean(0)) / (emb.std() + 1e-12) * grid.std()
    starts = [emb @ _rotation(angle) for angle in np.linspace(0.0, np.pi / 2, MDS_ANGLES + 1)[:-1]]
    firsts = _cheapest_first_rounds(starts, grid, MDS_FITTED)
    best: tuple[float, np.ndarray] | None = None
    for i in sorted(firsts):  # in angle order, as every angle was: a tie keeps the first
        _, _, z = firsts[i]
        for _ in range(2):
            total, c, z = _fit_round(z, grid)
        if best is None or total < best[0]:
            best = (total, c)
    assert best is not None
    layout = np.empty(s, np.int64)
    layout[best[1]] = np.arange(s)
    return layout


def _rotation(angle: float) -> np.ndarray:
    """The rotation matrix [[cos, -sin], [sin, cos]] of ``angle`` (radians)."""
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def _cheapest_first_rounds(starts: list[np.ndarray], grid: np.ndarray, k: int
                           ) -> dict[int, tuple[float, np.ndarray, np.ndarray]]:
    """Start index -> its first round (:func:`_fit_round`), for the ``k`` starts whose first assignment costs least
    (a tie: the lower index), the same ones as solving every start's would pick. The starts are solved in the order of
    a lower bound on their cost (:func:`~.matching.reduction_bound`) until the k-th cheapest found costs less than
    every bound left: none of those can be among the k (at 224 about 8 of 18 solved, not all)."""
    costs = [_squared_distances(z, grid) for z in starts]
    bounds = [reduction_bound(cost) for cost in costs]
    done: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}
    for i in np.argsort(bounds, kind="stable"):
        if len(done) >= k:
            kth = sorted(total for total, _, _ in done.values())[k - 1]
            if kth < bounds[i] - 1e-9 * (1.0 + abs(bounds[i])):  # bounds ascending: every start left costs more
                break
        done[int(i)] = _fit_round(starts[i], grid, costs[i])
    cheapest = sorted(done, key=lambda i: (done[i][0], i))[:k]
    return {i: done[i] for i in cheapest}


def _fit_round(z: np.ndarray, grid: np.ndarray, cost: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """One round of :func:`mds_grid_layout`'s fit of 2-D points ``z`` to ``grid``: each point assigned a grid point
    (linear assignment on squared distances, ``cost`` where the caller has them), then the points moved by the affine
    map that best takes them to their grid points. Returns (the assignment's cost, point -> grid point, the moved
    points)."""
    cost = _squared_distances(z, grid) if cost is None else cost
    rows, cols = linear_sum_assignment(cost)
    design = np.c_[z, np.ones(len(z))]  # the points with a constant: an affine map is one product
    affine, *_ = np.linalg.lstsq(design, grid[cols], rcond=None)
    return float(cost[rows, cols].sum()), cols, design @ affine


def _squared_distances(z: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(s, s) squared Euclidean distances from 2-D points ``z`` to 2-D ``grid`` points: the same values as
    ``((z[:, None] - grid[None]) ** 2).sum(-1)`` (that sum over two terms adds them in this order), without
    the (s, s, 2) array and its reduction over a length-2 axis (15x faster at s = 256, the 224 x 224 reading's
    size, where this runs 26 times a layout)."""
    dy = np.subtract.outer(z[:, 0], grid[:, 0])
    dx = np.subtract.outer(z[:, 1], grid[:, 1])
    dy *= dy
    dx *= dx
    dy += dx
    return dy


def swap_search(layout: np.ndarray, energy: Callable[[np.ndarray], np.ndarray], max_iter: int = 2000,
                chunk: int = 4096) -> np.ndarray:
    """Best-improvement local search over all swaps of two cells; ``energy`` maps (k, S) layouts to (k,).
    Candidates are scored ``chunk`` at a time to bound memory."""
    layout = layout.copy()
    s = layout.size
    iu, ju = np.triu_indices(s, 1)
    current = float(energy(layout[None])[0])
    for _ in range(max_iter):
        best_e, best_j = np.inf, -1
        for start in range(0, iu.size, chunk):
            a, b = iu[start : start + chunk], ju[start : start + chunk]
            cand = np.repeat(layout[None], a.size, axis=0)
            rows = np.arange(a.size)
            cand[rows, a] = layout[b]
            cand[rows, b] = layout[a]
            e = energy(cand)
            j = int(np.argmin(e))
            if e[j] < best_e:
                best_e, best_j = float(e[j]), start + j
        if best_e >= current - 1e-9 * max(1.0, abs(current)):
            break
        a, b = iu[best_j], ju[best_j]
        layout[a], layout[b] = layout[b], layout[a]
        current = best_e
    return layout


def pair_swap_search(layout: np.ndarray, dists: np.ndarray, a: np.ndarray, b: np.ndarray, kind: np.ndarray,
                     max_iter: int = 5000) -> np.ndarray:
    """Best-improvement swap search for a pairwise layout energy E(L) = sum_t dists[kind_t][L[a_t], L[b_t]].

    The same search as :func:`swap_search`, with every swap scored at once from F[i, x] (the energy of
    the terms at cell i with item x placed there), corrected exactly for cells that share a term; each
    iteration costs O(terms x items + cells^2) instead of O(cells^2 x terms).
    """
    layout = layout.copy()
    cells = layout.size
    incidence, distinct = _term_incidence(cells, np.ascontiguousarray(a, np.int64).tobytes(),
                                          np.ascontiguousarray(b, np.int64).tobytes())
    diagonal = np.arange(cells)
    for _ in range(max_iter):
        f = incidence @ np.concatenate([dists[kind, :, layout[b]], dists[kind, layout[a], :]])  # F[i, x]
        g = f[:, layout]  # g[i, j] = F[i, L[j]]
        current = g[diagonal, diagonal]
        delta = g + g.T - current[:, None] - current[None, :]
        li, lj = layout[a], layout[b]
        corr = dists[kind, lj, li] - dists[kind, lj, lj] - dists[kind, li, li] + dists[kind, li, lj]
        if distinct:
            delta[a, b] += corr
            delta[b, a] += corr
        else:
            np.add.at(delta, (a, b), corr)
            np.add.at(delta, (b, a), corr)
        delta[diagonal, diagonal] = np.inf
        i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if delta[i, j] >= -1e-9 * max(1.0, float(np.abs(current).sum())):
            break
        layout[i], layout[j] = layout[j], layout[i]
    return layout


@functools.lru_cache(maxsize=64)
def _term_incidence(cells: int, a_bytes: bytes, b_bytes: bytes) -> tuple[np.ndarray, bool]:
    """For :func:`pair_swap_search`'s terms (a, b): the (cells, 2 T) 0/1 incidence of cells and terms (a-terms, then
    b-terms), and whether no ordered pair occurs twice. F is then one product of it with the terms' rows, the sum
    np.add.at would make term by term. Cached: an ELE fit at 32 x 32 runs the search about 140,000 times on the
    same two term sets, most of them moving nothing, so building these each time was a third of its cost."""
    a, b = np.frombuffer(a_bytes, np.int64), np.frombuffer(b_bytes, np.int64)
    terms = np.arange(a.size)
    incidence = np.zeros((cells, 2 * a.size))
    incidence[a, terms] = 1.0
    incidence[b, a.size + terms] = 1.0
    incidence.flags.writeable = False
    distinct = np.unique(a * cells + b).size == a.size  # no ordered pair twice: a plain indexed add is add.at
    return incidence, bool(distinct)


def grid_layout_with_neighbours(d_in: np.ndarray, d_right: np.ndarray, d_down: np.ndarray, m: int) -> np.ndarray:
    """Lay m*m items on an m x m grid (cell -> item) minimising pooled differences of grid neighbours
    inside a block plus those across the block's right and bottom seams (blocks stay in place, so the
    item on a block's right edge meets the left-edge item of the next block): the seams settle the
    square's 8 symmetries. Isomap/MDS start, best-swap search, the 8 symmetric readings, search again."""
    a, b = grid_adjacent(m)
    g = np.arange(m * m).reshape(m, m)
    ra, rb = g[:, -1], g[:, 0]  # right edge of a block meets left edge of the next one, same row
    da, db = g[-1, :], g[0, :]

    def energy(layouts: np.ndarray) -> np.ndarray:
        return (d_in[layouts[:, a], layouts[:, b]].sum(-1) + d_right[layouts[:, ra], layouts[:, rb]].sum(-1)
                + d_down[layouts[:, da], layouts[:, db]].sum(-1))

    if m * m <= 8:
        layouts = np.array(list(itertools.permutations(range(m * m))), dtype=np.int64)
        return layouts[int(np.argmin(energy(layouts)))]
    dists = np.stack([d_in, d_right, d_down])
    ta = np.concatenate([a, ra, da])
    tb = np.concatenate([b, rb, db])
    tk = np.concatenate([np.zeros(a.size, np.int64), np.ones(m, np.int64), np.full(m, 2, np.int64)])
    layout = pair_swap_search(mds_grid_layout(d_in, m), dists, ta, tb, tk)
    variants = np.stack([layout[t] for t in dihedral_grids(m)])
    return pair_swap_search(variants[int(np.argmin(energy(variants)))], dists, ta, tb, tk)


def binary_grid_optimum(e: np.ndarray, p_idx: np.ndarray, q_idx: np.ndarray, m: int) -> np.ndarray:
    """The exact minimiser of a binary labelling of an m x m grid (pixel p = row * m + col): ``e[t, bp, bq]``
    is edge t's cost (pixels ``p_idx[t]``, ``q_idx[t]``) for their bits; edges join pixels of one row or of
    rows r and r + 1 (mod m: the wrap-around seam). Dynamic programming over rows with the first row's
    state fixed, O(m 8^m) instead of O(2^(m^2)) for trying every labelling."""
    n_states = 1 << m
    bit = (np.arange(n_states)[:, None] >> np.arange(m)[None, :]) & 1  # (state, column)
    within = np.zeros((m, n_states))
    trans = np.zeros((m, n_states, n_states))  # trans[r, s, t]: edges between row r (state s) and row r+1 (t)
    for t in range(len(p_idx)):
        (rp, cp), (rq, cq) = divmod(int(p_idx[t]), m), divmod(int(q_idx[t]), m)
        if rp == rq:
            within[rp] += e[t, bit[:, cp], bit[:, cq]]
        elif rq == (rp + 1) % m:
            trans[rp] += e[t][bit[:, cp][:, None], bit[:, cq][None, :]]
        elif rp == (rq + 1) % m:
            trans[rq] += e[t][bit[:, cp][None, :], bit[:, cq][:, None]]
        else:
            raise ValueError(f"edge {t} joins rows {rp} and {rq}, which are not adjacent")
    value = np.full((n_states, n_states), np.inf)  # value[first-row state, current row state]
    value[np.arange(n_states), np.arange(n_states)] = within[0]
    back = []
    for r in range(1, m):
        total = value[:, :, None] + trans[r - 1][None]  # (first, previous, current)
        back.append(total.argmin(axis=1))
        value = total.min(axis=1) + within[r][None, :]
    closing = value + trans[m - 1].T  # closing[first, last]: the wrap-around edges from the last row to the first
    first, last = np.unravel_index(int(np.argmin(closing)), closing.shape)
    rows = [int(last)]
    for r in range(m - 1, 0, -1):
        rows.append(int(back[r - 1][first, rows[-1]]))
    rows = rows[::-1]
    return bit[rows].reshape(-1).astype(bool)
