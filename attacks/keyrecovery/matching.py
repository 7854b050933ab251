"""Reading a permutation off a bipartite "consistent" graph, with the rows the data leave open.

Known-plaintext solvers mark which cipher item may come from which plain item (``consistent``: agrees with
every pair); :func:`match` picks a perfect matching on those edges and says which rows lie on an
alternating cycle (another perfect matching moves them), i.e. which key entries the pairs do not determine.
Ciphertext-only solvers re-place items by cost instead: :func:`improving_assignment` moves them only where a linear
assignment beats their current placement, and :func:`capacitated_assignment` splits items into a few groups of given
sizes (equal-size clustering) without the dense assignment over repeated columns.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, maximum_bipartite_matching

LSA_LIMIT = 400  # rows above which match() uses Hopcroft-Karp instead of a dense linear assignment
#: :func:`capacitated_assignment`: most groups (it enumerates their cycles), and the margin, relative to the largest
#: cost, by which a chain or cycle of moves must be cheaper to count (a zero-cost cycle summed in another order must not
#: look negative by a rounding error).
MAX_GROUPS = 5
TIE = 1e-13


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


def capacitated_assignment(cost: np.ndarray, capacity: np.ndarray | list[int]) -> np.ndarray:
    """(n,) group of every item minimising ``sum(cost[i, group[i]])`` with exactly ``capacity[g]`` items in group g.

    The optimum of ``linear_sum_assignment(np.repeat(cost, capacity, axis=1))`` (column -> its group) for a few groups
    (k <= :data:`MAX_GROUPS`; 3 channels here) in O(n log n) steps instead of O(n^3). A full assignment is optimal
    exactly when no cycle of moves between groups (an item of a to b, one of b to c, ..., one back to a) lowers the
    cost, and the cheapest move from a to b is the top of a heap per pair (a, b); so items join one at a time along
    the cheapest chain of moves to a group with room, then the cheapest negative cycle is undone until there is
    none. Ties may fall on another of the equally cheap assignments than scipy's."""
    cost = np.asarray(cost, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.int64)
    if cost.ndim != 2 or capacity.shape != (cost.shape[1],):
        raise ValueError(f"capacitated_assignment needs an (n, k) cost and k capacities, got {cost.shape} and {capacity.shape}")
    n, k = cost.shape
    if (capacity < 0).any() or int(capacity.sum()) != n:
        raise ValueError(f"the capacities {capacity.tolist()} must be non-negative and add up to the {n} items")
    if k > MAX_GROUPS:
        raise ValueError(f"capacitated_assignment enumerates the cycles of {k} groups; above {MAX_GROUPS} use "
                         "linear_sum_assignment(np.repeat(cost, capacity, axis=1))")
    if not np.isfinite(cost).all():
        raise ValueError("capacitated_assignment needs finite costs")
    rows = cost.tolist()  # Python floats: the heaps and the sums below are exact float64 arithmetic
    tie = TIE * (1.0 + float(np.abs(cost).max(initial=0.0)))
    group = [-1] * n
    free = capacity.tolist()
    moves: dict[tuple[int, int], list[tuple[float, int]]] = {(a, b): [] for a in range(k) for b in range(k) if a != b}
    chains = [c for length in range(1, k + 1) for c in itertools.permutations(range(k), length)]  # group sequences
    cycles = [c for c in chains if len(c) > 1 and c[0] == min(c)]  # each simple cycle once

    def cheapest(a: int, b: int) -> tuple[float, int] | None:
        heap = moves[a, b]
        while heap and group[heap[0][1]] != a:  # stale: that item has left a since (its entry is pushed again on return)
            heapq.heappop(heap)
        return heap[0] if heap else None

    def join(i: int, g: int) -> None:
        group[i] = g
        row = rows[i]
        for b in range(k):
            if b != g:
                heapq.heappush(moves[g, b], (row[b] - row[g], i))

    def chain_moves(seq: tuple[int, ...], closed: bool) -> tuple[float, list[tuple[int, int]]] | None:
        """Summed cost of moving the cheapest item along ``seq`` (and back to its start when ``closed``), and the moves."""
        total, steps = 0.0, []
        for a, b in zip(seq, seq[1:] + seq[:1] if closed else seq[1:]):
            top = cheapest(a, b)
            if top is None:
                return None
            total += top[0]
            steps.append((top[1], b))
        return total, steps

    for i in range(n):
        best: tuple[float, int, list[tuple[int, int]]] | None = None
        for seq in chains:  # i joins seq[0]; an item of each group along seq moves on to the next; the last has room
            if free[seq[-1]] > 0:
                found = chain_moves(seq, closed=False)
                if found is not None and (best is None or rows[i][seq[0]] + found[0] < best[0] - tie):
                    best = (rows[i][seq[0]] + found[0], seq[0], found[1])
        assert best is not None
        _, first, steps = best
        free[steps[-1][1] if steps else first] -= 1
        for j, b in steps:
            join(j, b)
        join(i, first)
    while True:  # undo the cheapest negative cycle of moves until none is left: then the assignment is optimal
        best_cycle: tuple[float, list[tuple[int, int]]] | None = None
        for seq in cycles:
            found = chain_moves(seq, closed=True)
            if found is not None and found[0] < -tie and (best_cycle is None or found[0] < best_cycle[0]):
                best_cycle = found
        if best_cycle is None:
            return np.asarray(group, dtype=np.int64)
        for j, b in best_cycle[1]:
            join(j, b)
