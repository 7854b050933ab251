"""Reading a permutation off a bipartite "consistent" graph, with the rows the data leave open.

Known-plaintext solvers mark which cipher item may come from which plain item (``consistent``: agrees with
every pair); :func:`match` picks a perfect matching on those edges and says which rows lie on an
alternating cycle (another perfect matching moves them), i.e. which key entries the pairs do not determine.
Ciphertext-only solvers re-place items by cost instead: :func:`improving_assignment` moves them only where a linear
assignment beats their current placement.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, maximum_bipartite_matching

LSA_LIMIT = 400  # rows above which match() uses Hopcroft-Karp instead of a dense linear assignment


def row_labels(*arrays: np.ndarray) -> list[np.ndarray]:
    """Integer labels for the rows of several 2-D arrays (equal rows, equal labels, across arrays)."""
    stacked = np.concatenate([np.ascontiguousarray(a).reshape(a.shape[0], -1) for a in arrays])
    _, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    out, start = [], 0
    for a in arrays:
        out.append(inverse[start : start + a.shape[0]])
        start += a.shape[0]
    return out


def mismatch_cost(a: np.ndarray, b: np.ndarray, chunk: int = 16) -> np.ndarray:
    """(R, L) x (C, L) -> (R, C) counts of differing entries (a tie-breaker for :func:`match`)."""
    out = np.empty((a.shape[0], b.shape[0]), np.int64)
    for s in range(0, a.shape[0], chunk):
        out[s : s + chunk] = (a[s : s + chunk, None, :] != b[None, :, :]).sum(axis=-1)
    return out


def improving_assignment(cost: np.ndarray, rel_tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray] | None:
    """A linear assignment of the square ``cost`` that beats the current placement (row i at column i) by more than
    ``rel_tol`` (1 + the new cost), as (rows, cols), or None: near-ties keep what is there.

    Row, then column reduction gives a lower bound on every assignment's cost (the dual of the assignment
    problem); where the diagonal is within half the tolerance of it, no assignment can be better by the whole
    tolerance (the half left over covers the bound's rounding), and the O(n^3) solver is skipped. That is the
    common case for a key that has settled (re-read again and again), so the answer is the solver's, only cheaper."""
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        raise ValueError(f"improving_assignment needs a square cost matrix, got shape {cost.shape}")
    if cost.size == 0:
        return None
    old = float(np.trace(cost))
    rows_min = cost.min(axis=1)
    bound = float(rows_min.sum() + (cost - rows_min[:, None]).min(axis=0).sum())
    if old - bound <= 0.5 * rel_tol * (1.0 + max(bound, 0.0)):
        return None
    rows, cols = linear_sum_assignment(cost)
    new = float(cost[rows, cols].sum())
    return (rows, cols) if new < old - rel_tol * (1.0 + abs(new)) else None


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
        sub_cons = consistent[np.ix_(rows, perm[rows])]
        np.fill_diagonal(sub_cons, False)
        ncomp, lab = connected_components(csr_matrix(sub_cons), directed=True, connection="strong")
        sizes = np.bincount(lab, minlength=ncomp)
        ambiguous[rows] = sizes[lab] > 1
    return perm, ambiguous, bool(chosen_ok.all())
