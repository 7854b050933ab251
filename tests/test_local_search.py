"""The key solvers' searches make exactly the moves of their plain definitions: the jigsaw's greedy placement
(each open cell's best two pieces cached) and swap refinement (gains kept up to date incrementally), and the
pairwise layout search (its per-cell energies summed as one product instead of term by term), so each ends where
its definition ends."""

from __future__ import annotations

import numpy as np
import pytest

from ppbench.attacks.keyrecovery.geometry import grid_adjacent
from ppbench.attacks.keyrecovery.jigsaw import DIRS, OPPOSITE, Jigsaw, PieceGroup
from ppbench.attacks.keyrecovery.layout import pair_swap_search
from ppbench.attacks.keyrecovery.solvers.etc import etc_group


def random_jigsaw(rng: np.random.Generator, group_name: str, rows: int, cols: int, ties: bool = False) -> Jigsaw:
    """A jigsaw of random seam costs, pieces without orientation ("trivial") or with EtC's ("etc"); ``ties``: the
    right-hand seams rounded to one decimal, so that many costs tie and both versions must break ties alike."""
    group = PieceGroup.trivial() if group_name == "trivial" else etc_group(2)[0]
    n = rows * cols
    costs = rng.random((4, n, n, group.size), dtype=np.float32)
    if ties:
        costs[0] = np.round(costs[0], 1) + 0.05
    return Jigsaw(costs, rows, cols, group)


def swap_refine_by_definition(jigsaw: Jigsaw, pieces: np.ndarray, orient: np.ndarray, max_iter: int = 500):
    """Best-improvement swaps of non-adjacent cells and in-place re-orientations, every gain recomputed from
    scratch before each move: the reference the incremental version must match move for move."""
    pieces, orient = pieces.copy(), orient.copy()
    rows, cols, n = jigsaw.rows, jigsaw.cols, jigsaw.rows * jigsaw.cols
    nbr = [[(d, (r + dr) * cols + c + dc) for d, (dr, dc) in enumerate(DIRS) if 0 <= r + dr < rows and 0 <= c + dc < cols]
           for r in range(rows) for c in range(cols)]
    flat_p, flat_o = pieces.ravel(), orient.ravel()
    adjacent = np.eye(n, dtype=bool)
    for i in range(n):
        adjacent[i, [j for _, j in nbr[i]]] = True
    for _ in range(max_iter):
        fit = np.zeros((n, jigsaw.n, jigsaw.group.size), np.float32)
        for i in range(n):
            for d, j in nbr[i]:
                fit[i] += jigsaw.row(flat_p[j], flat_o[j], OPPOSITE[d], jigsaw.rel)
        best_fit = fit.min(axis=2)
        current = fit[np.arange(n), flat_p, flat_o]
        delta = best_fit[:, flat_p].T + best_fit[:, flat_p] - current[:, None] - current[None, :]
        delta[adjacent] = np.inf
        reorient = best_fit[np.arange(n), flat_p] - current
        i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if delta[i, j] < -1e-6 and delta[i, j] <= reorient.min():
            pi, pj = flat_p[i], flat_p[j]
            oi, oj = int(np.argmin(fit[j, pi])), int(np.argmin(fit[i, pj]))
            flat_p[i], flat_o[i], flat_p[j], flat_o[j] = pj, oj, pi, oi
        elif reorient.min() < -1e-6:
            i = int(np.argmin(reorient))
            flat_o[i] = int(np.argmin(fit[i, flat_p[i]]))
        else:
            break
    return pieces, orient


@pytest.mark.parametrize("group_name, rows, cols", [("trivial", 6, 6), ("trivial", 5, 7), ("etc", 3, 4)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_swap_refine_makes_the_moves_of_its_definition(group_name, rows, cols, seed):
    rng = np.random.default_rng(seed)
    jigsaw = random_jigsaw(rng, group_name, rows, cols)
    group, n = jigsaw.group, jigsaw.n
    pieces = rng.permutation(n).reshape(rows, cols)
    orient = rng.integers(group.size, size=(rows, cols))
    for max_iter in (3, 500):  # stopped part way, and run until no move helps
        got = jigsaw.swap_refine(pieces, orient, max_iter=max_iter)
        want = swap_refine_by_definition(jigsaw, pieces, orient, max_iter=max_iter)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert not np.array_equal(got[0], pieces)  # random costs: refinement did move pieces


def pair_swap_search_by_definition(layout, dists, a, b, kind, max_iter=5000):
    """Best-improvement swaps for E(L) = sum_t dists[kind_t][L[a_t], L[b_t]], each cell's energy summed term by
    term with np.add.at, shared terms corrected: the reference for :func:`pair_swap_search`."""
    layout = layout.copy()
    cells = layout.size
    for _ in range(max_iter):
        f = np.zeros((cells, dists.shape[1]))
        np.add.at(f, a, dists[kind, :, layout[b]])
        np.add.at(f, b, dists[kind, layout[a], :])
        g = f[:, layout]
        current = np.diag(g).copy()
        delta = g + g.T - current[:, None] - current[None, :]
        li, lj = layout[a], layout[b]
        corr = dists[kind, lj, li] - dists[kind, lj, lj] - dists[kind, li, li] + dists[kind, li, lj]
        np.add.at(delta, (a, b), corr)
        np.add.at(delta, (b, a), corr)
        np.fill_diagonal(delta, np.inf)
        i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if delta[i, j] >= -1e-9 * max(1.0, float(np.abs(current).sum())):
            break
        layout[i], layout[j] = layout[j], layout[i]
    return layout


@pytest.mark.parametrize("m, kinds, repeated", [(4, 1, False), (4, 2, True), (14, 4, False)])
@pytest.mark.parametrize("seed", [0, 1])
def test_pair_swap_search_makes_the_moves_of_its_definition(m, kinds, repeated, seed):
    # grid neighbours under several kinds of term, as the block solvers use them (each ordered pair then occurs once
    # per kind, and every occurrence must count); "repeated": one pair twice within a kind as well
    rng = np.random.default_rng(seed)
    ga, gb = grid_adjacent(m)
    a, b = np.tile(ga, kinds), np.tile(gb, kinds)
    kind = np.repeat(np.arange(kinds), ga.size)
    if repeated:
        a, b, kind = np.append(a, a[0]), np.append(b, b[0]), np.append(kind, kinds - 1)
    dists = rng.random((kinds, m * m, m * m))
    start = rng.permutation(m * m)
    for max_iter in (2, 5000):
        want = pair_swap_search_by_definition(start, dists, a, b, kind, max_iter)
        assert np.array_equal(pair_swap_search(start, dists, a, b, kind, max_iter), want)
    assert not np.array_equal(want, start)


def greedy_by_definition(self: Jigsaw, seed=None, anchored: bool = False):
    """Most confident placement first, every open cell's score recomputed at every step: the reference
    for :meth:`Jigsaw.greedy`."""
    n, k, rows, cols = self.n, self.group.size, self.rows, self.cols
    height, width = 2 * rows + 1, 2 * cols + 1
    grid = -np.ones((height, width), np.int64)
    orient = np.zeros((height, width), np.int64)
    used = np.zeros(n, bool)
    acc: dict[tuple[int, int], np.ndarray] = {}
    cnt: dict[tuple[int, int], int] = {}
    box = [rows, 2 * rows - 1, cols, 2 * cols - 1] if anchored else [height, -1, width, -1]  # rmin, rmax, cmin, cmax

    def place(r: int, c: int, p: int, o: int) -> None:
        grid[r, c], orient[r, c], used[p] = p, o, True
        box[0], box[1], box[2], box[3] = min(box[0], r), max(box[1], r), min(box[2], c), max(box[3], c)
        acc.pop((r, c), None)
        cnt.pop((r, c), None)
        for d, (dr, dc) in enumerate(DIRS):
            cell = (r + dr, c + dc)
            if 0 <= cell[0] < height and 0 <= cell[1] < width and grid[cell] < 0:
                acc[cell] = acc.get(cell, 0.0) + self.row(p, o, d)
                cnt[cell] = cnt.get(cell, 0) + 1

    if not seed:
        seed = {(0, 0): (self.seed_piece(), 0)}
    r0 = rows if anchored else rows - min(r for r, _ in seed)
    c0 = cols if anchored else cols - min(c for _, c in seed)
    for (r, c), (p, o) in seed.items():
        place(r + r0, c + c0, p, o)
    while not used.all():
        cells = [cell for cell in acc if max(box[1], cell[0]) - min(box[0], cell[0]) < rows
                 and max(box[3], cell[1]) - min(box[2], cell[1]) < cols]
        if not cells:  # cannot happen inside a frame that still has room; guard against bad input
            raise InputError("jigsaw: no free cell inside the frame")
        scores = np.stack([acc[cell] / cnt[cell] for cell in cells])  # (F, N, K)
        scores[:, used, :] = np.inf
        flat = scores.reshape(len(cells), -1)
        part = np.partition(flat, 1, axis=1) if flat.shape[1] > 1 else np.concatenate([flat, flat], 1)
        per_piece = scores.min(axis=2)
        second_piece = np.partition(per_piece, 1, axis=1)[:, 1] if n - used.sum() > 1 else part[:, 0] + 1.0
        confidence = (second_piece - part[:, 0]) * np.sqrt([cnt[cell] for cell in cells])
        i = int(np.argmax(confidence))
        p, o = divmod(int(np.argmin(flat[i])), k)
        place(cells[i][0], cells[i][1], p, o)
    sl = (slice(box[0], box[0] + rows), slice(box[2], box[2] + cols))
    return grid[sl].copy(), orient[sl].copy()


@pytest.mark.parametrize("group_name, rows, cols", [("trivial", 6, 6), ("trivial", 4, 7), ("etc", 3, 4)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_places_what_its_definition_places(group_name, rows, cols, seed):
    jigsaw = random_jigsaw(np.random.default_rng(seed), group_name, rows, cols, ties=True)
    segment = {(0, 0): (3, 0), (0, 1): (5, 0), (1, 1): (7, 0)}
    for start, anchored in ((None, False), (segment, False), (segment, True)):
        got = jigsaw.greedy(start, anchored=anchored)
        want = greedy_by_definition(jigsaw, start, anchored=anchored)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
