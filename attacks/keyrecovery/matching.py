"""Reading a permutation off a bipartite "consistent" graph, with the rows the data leave open.

Known-plaintext solvers mark which cipher item may come from which plain item (``consistent``: agrees with
every pair); :func:`match` picks a perfect matching on those edges and says which rows lie on an
alternating cycle (another perfect matching moves them), i.e. which key entries the pairs do not determine.
Ciphertext-only solvers re-place items by cost instead: :func:`improving_assignment` moves them only where a linear
assignment beats their current placement, and :func:`capacitated_assignment` splits items into a few groups of given
sizes (equal-size clustering) without the dense assignment over repeated columns.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, maximum_bipartite_matching

LSA_LIMIT = 400  # rows above which match() uses Hopcroft-Karp instead of a dense linear assignment
#: :func:`capacitated_assignment`: most groups (it enumerates their chains: 325 per item at 5), and the margin, relative
#: to the summed magnitude of a chain's or cycle's own moves, by which it must be cheaper to count (a zero-cost cycle
#: summed in another order must not look negative by a rounding error, which is below 1e-15 of that magnitude).
MAX_GROUPS = 5
TIE = 1e-12


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


def reduced_cost(cost: np.ndarray) -> tuple[np.ndarray, float]:
    """The square ``cost`` less each row's least entry, then less each column's least entry of what is left (row, then
    column reduction), and the sum of everything taken off: a lower bound on the cost of every assignment (a feasible
    point of the assignment's dual). Every assignment's cost drops by that same sum, so the optimal ones are the same."""
    rows_min = cost.min(axis=1)
    reduced = cost - rows_min[:, None]
    cols_min = reduced.min(axis=0)
    reduced -= cols_min[None, :]
    return reduced, float(rows_min.sum() + cols_min.sum())


def reduction_bound(cost: np.ndarray) -> float:
    """A lower bound on the cost of every assignment of the square ``cost`` (:func:`reduced_cost`)."""
    return reduced_cost(cost)[1]


def improving_assignment(cost: np.ndarray, rel_tol: float = 1e-6,
                         total: Callable[[np.ndarray, np.ndarray], float] | None = None
                         ) -> tuple[np.ndarray, np.ndarray] | None:
    """A linear assignment of the square ``cost`` that beats the current placement (row i at column i) by more than
    ``rel_tol`` (1 + the new cost), as (rows, cols), or None: near-ties keep what is there.

    Row, then column reduction (:func:`reduced_cost`) gives a lower bound on every assignment's cost; where the
    diagonal is within half the tolerance of it, no assignment can be better by the whole tolerance (the half left over
    covers the bound's rounding), and the O(n^3) solver is skipped. That is the common case for a key that has settled
    (re-read again and again). Otherwise the solver runs on the reduced matrix: the same optimal assignments, found
    3-4 x faster by scipy's shortest augmenting paths on the re-read's 767-item matrices at 224 x 224 (whose every
    column then holds a zero); where several assignments tie exactly (cipher nibbles equal in every sample), it may
    pick another of them than on the unreduced matrix (docs/benchmarks.md, twenty-second session).

    ``total``: where ``cost`` was priced in single precision, the cost of an assignment (rows, cols) summed again in
    double precision from the data; the new assignment is then accepted on it. A float32 entry's rounding (about 0.02
    on the re-read's 224 matrices) exceeds the tolerance near an optimum (about 1e-4 there), so judged on the matrix
    itself, exact ties would move keys."""
    if cost.ndim != 2 or cost.shape[0] != cost.shape[1]:
        raise ValueError(f"improving_assignment needs a square cost matrix, got shape {cost.shape}")
    if cost.size == 0:
        return None
    old = float(np.trace(cost))
    reduced, bound = reduced_cost(cost)
    if old - bound <= 0.5 * rel_tol * (1.0 + max(bound, 0.0)):
        return None
    rows, cols = linear_sum_assignment(reduced)
    if total is None:
        new = float(cost[rows, cols].sum())
    else:
        diagonal = np.arange(cost.shape[0])
        old, new = total(diagonal, diagonal), total(rows, cols)
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


class GroupMoves:
    """The items of k groups and, per ordered pair (a, b), a heap of the cost of moving each item of a to b."""

    def __init__(self, rows: list[list[float]], k: int) -> None:
        self.rows, self.k = rows, k
        self.group = [-1] * len(rows)
        self.heaps: dict[tuple[int, int], list[tuple[float, int]]] = {(a, b): [] for a in range(k) for b in range(k) if a != b}

    def cheapest(self, a: int, b: int) -> tuple[float, int] | None:
        """(cost, item) of the cheapest move from a to b, or None when a is empty."""
        heap = self.heaps[a, b]
        while heap and self.group[heap[0][1]] != a:  # stale: that item has left a since (pushed again if it returns)
            heapq.heappop(heap)
        return heap[0] if heap else None

    def join(self, i: int, g: int) -> None:
        """Put item i in group g."""
        self.group[i] = g
        row = self.rows[i]
        for b in range(self.k):
            if b != g:
                heapq.heappush(self.heaps[g, b], (row[b] - row[g], i))

    def chain(self, seq: tuple[int, ...], closed: bool) -> tuple[float, float, list[tuple[int, int]]] | None:
        """Moving the cheapest item of each group along ``seq`` on to the next (and the last back to the first when
        ``closed``): (summed cost, summed magnitude of the moves, [(item, new group)]), or None if a group is empty."""
        total, scale, steps = 0.0, 0.0, []
        for a, b in zip(seq, seq[1:] + seq[:1] if closed else seq[1:]):
            top = self.cheapest(a, b)
            if top is None:
                return None
            total += top[0]
            scale += abs(top[0])
            steps.append((top[1], b))
        return total, scale, steps


@functools.lru_cache(maxsize=None)
def _simple_chains(k: int) -> tuple[tuple[int, ...], ...]:
    """Every sequence of distinct groups (length 1 to k); built once per k (both the insertion and the cycle step walk
    them, on every call)."""
    return tuple(c for length in range(1, k + 1) for c in itertools.permutations(range(k), length))


def undo_negative_cycles(moves: GroupMoves) -> int:
    """Undo the cheapest cycle of moves (an item of a to b, of b to c, ..., one back to a) while one lowers the cost by
    more than :data:`TIE` of its moves' magnitude; returns how many were undone. When none is left, a full assignment is
    optimal (the cheapest move per pair is enough to find a negative cycle: any cheaper cycle splits into simple ones)."""
    cycles = [c for c in _simple_chains(moves.k) if len(c) > 1 and c[0] == min(c)]  # each simple cycle once
    undone = 0
    while True:
        best: tuple[float, list[tuple[int, int]]] | None = None
        for seq in cycles:
            found = moves.chain(seq, closed=True)
            if found is not None and found[0] < -TIE * found[1] and (best is None or found[0] < best[0]):
                best = (found[0], found[2])
        if best is None:
            return undone
        for j, b in best[1]:
            moves.join(j, b)
        undone += 1


def capacitated_assignment(cost: np.ndarray, capacity: np.ndarray | list[int]) -> np.ndarray:
    """(n,) group of every item minimising ``sum(cost[i, group[i]])`` with exactly ``capacity[g]`` items in group g.

    The optimum of ``linear_sum_assignment(np.repeat(cost, capacity, axis=1))`` (column -> its group) for a few groups
    (k <= :data:`MAX_GROUPS`; 3 channels here) in O(n log n) steps instead of O(n^3): items join one at a time along
    the cheapest chain of moves between groups to a group with room (the cheapest move from a to b is the top of a heap
    per pair), then :func:`undo_negative_cycles` makes the full assignment optimal. Differences within :data:`TIE` of a
    chain's own magnitude count as ties (rounding); ties may fall on another of the equally cheap assignments than
    scipy's."""
    cost = np.asarray(cost, dtype=np.float64)
    given = np.asarray(capacity)
    if cost.ndim != 2 or given.shape != (cost.shape[1],):
        raise ValueError(f"capacitated_assignment needs an (n, k) cost and k capacities, got {cost.shape} and {given.shape}")
    n, k = cost.shape
    if given.size and not np.array_equal(given, np.round(given)):
        raise ValueError(f"the capacities {given.tolist()} must be whole numbers of items")
    capacity = given.astype(np.int64)
    if (capacity < 0).any() or int(capacity.sum()) != n:
        raise ValueError(f"the capacities {capacity.tolist()} must be non-negative and add up to the {n} items")
    if k > MAX_GROUPS:
        raise ValueError(f"capacitated_assignment enumerates the cycles of {k} groups; above {MAX_GROUPS} use "
                         "linear_sum_assignment(np.repeat(cost, capacity, axis=1))")
    if not np.isfinite(cost).all():
        raise ValueError("capacitated_assignment needs finite costs")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Each item is placed once, so a constant per row changes no choice: without it, what is compared is the row's
    # own differences (their rounding, not the constant's, is what TIE must cover)
    moves = GroupMoves((cost - cost.min(axis=1, keepdims=True)).tolist(), k)  # Python floats: exact float64 sums below
    free = capacity.tolist()
    chains = _simple_chains(k)
    for i in range(n):
        best: tuple[float, float, int, list[tuple[int, int]]] | None = None
        for seq in chains:  # i joins seq[0]; an item of each group along seq moves on to the next; the last has room
            if free[seq[-1]] > 0:
                found = moves.chain(seq, closed=False)
                if found is None:
                    continue
                value, scale = moves.rows[i][seq[0]] + found[0], moves.rows[i][seq[0]] + found[1]
                if best is None or value < best[0] - TIE * max(scale, best[1]):
                    best = (value, scale, seq[0], found[2])
        assert best is not None
        _, _, first, steps = best
        free[steps[-1][1] if steps else first] -= 1
        for j, b in steps:
            moves.join(j, b)
        moves.join(i, first)
    undo_negative_cycles(moves)
    return np.asarray(moves.group, dtype=np.int64)
