"""The jigsaw solver's swap refinement: its incremental bookkeeping makes exactly the moves of the plain
definition (every move's gain recomputed over the whole frame), so it ends in the same placement."""

from __future__ import annotations

import numpy as np
import pytest

from ppbench.attacks.keyrecovery.jigsaw import DIRS, OPPOSITE, Jigsaw, PieceGroup
from ppbench.attacks.keyrecovery.solvers.etc import etc_group


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
    group = PieceGroup.trivial() if group_name == "trivial" else etc_group(2)[0]
    n = rows * cols
    jigsaw = Jigsaw(rng.random((4, n, n, group.size), dtype=np.float32), rows, cols, group)
    pieces = rng.permutation(n).reshape(rows, cols)
    orient = rng.integers(group.size, size=(rows, cols))
    for max_iter in (3, 500):  # stopped part way, and run until no move helps
        got = jigsaw.swap_refine(pieces, orient, max_iter=max_iter)
        want = swap_refine_by_definition(jigsaw, pieces, orient, max_iter=max_iter)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert not np.array_equal(got[0], pieces)  # random costs: refinement did move pieces
