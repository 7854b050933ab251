"""A jigsaw solver on a known frame: pieces (cipher blocks, or pixels) placed by pooled seam costs, with an
optional group of orientations per piece (EtC's 96 block transforms), greedy placement, swap refinement
and restarts from the largest segment of mutual best matches.

Every block sits at the same place in every ciphertext under one key, so n ciphertexts make one n-layer
puzzle whose seam costs are summed over the layers (:func:`edge_dissimilarity`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import label as connected_regions

from ppbench.errors import InputError

#: Directions of a neighbour p relative to a piece q: p right of q, below, left of, above.
DIRS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (0, -1), (-1, 0))
OPPOSITE = (2, 3, 0, 1)


@dataclass(frozen=True)
class PieceGroup:
    """The orientations a piece may take, as a group: ``compose[a, b]`` = a after b, ``inverse[a]``, and
    ``direction[a, d]``: the side a piece's side d ends up on once the piece is re-oriented by a.
    The trivial group (one orientation) is the jigsaw without rotation."""

    compose: np.ndarray
    inverse: np.ndarray
    direction: np.ndarray

    @property
    def size(self) -> int:
        """The number of orientations."""
        return int(self.inverse.size)

    @classmethod
    def trivial(cls) -> "PieceGroup":
        """One orientation: pieces are not rotated."""
        return cls(np.zeros((1, 1), np.int64), np.zeros(1, np.int64), np.arange(4)[None])


@dataclass
class JigsawSolution:
    """A placement: ``pieces[r, c]`` (piece index) and ``orient[r, c]`` (group element) on the frame."""

    pieces: np.ndarray
    orient: np.ndarray
    cost: float
    buddy_fraction: float


class _OpenCell:
    """What an open cell's greedy score needs: the mean cost of every (piece, orientation) there (N, K), each piece's
    best (N,), and the best two pieces with their values (with one piece left, the second's value is the best's + 1)."""

    __slots__ = ("mean", "per_piece", "best", "best_value", "second", "second_value")

    def __init__(self, mean: np.ndarray, one_left: bool) -> None:
        self.mean = mean
        self.per_piece = mean.min(axis=1)
        self._rank(one_left)

    def drop(self, piece: int, one_left: bool) -> None:
        """Piece ``piece`` was placed elsewhere: it is no longer a candidate here."""
        self.mean[piece, :] = np.inf
        self.per_piece[piece] = np.inf
        if piece == self.best or piece == self.second or one_left:
            self._rank(one_left)

    def _rank(self, one_left: bool) -> None:
        self.best = int(np.argmin(self.per_piece))
        self.best_value = self.per_piece[self.best]
        if one_left:
            self.second, self.second_value = -1, self.best_value + 1.0
        else:
            rest = self.per_piece.copy()
            rest[self.best] = np.inf
            self.second = int(np.argmin(rest))
            self.second_value = rest[self.second]


class Jigsaw:
    """A jigsaw with known frame (rows x cols), pieces that may carry an orientation from a group.

    ``rel[d][q, p, k]`` is the dissimilarity of piece p, re-oriented by k, lying in direction d of piece
    q in its identity orientation. Every cost is invariant to re-orienting both pieces and the
    direction by the same element, so ``rel`` gives the cost of any pair of orientations.
    """

    def __init__(self, rel: np.ndarray, rows: int, cols: int, group: PieceGroup | None = None) -> None:
        self.rel = np.array(rel, dtype=np.float32)  # (4, N, N, K), a copy (the diagonal is overwritten)
        self.rows, self.cols = rows, cols
        self.group = group or PieceGroup.trivial()
        self.n = self.rel.shape[1]
        if self.n != rows * cols:
            raise InputError(f"jigsaw: {self.n} pieces do not fill a {rows} x {cols} frame")
        big = np.float32(1e30)
        self.rel[:, np.arange(self.n), np.arange(self.n), :] = big  # a piece is never its own neighbour
        # Normalise per (piece, direction): divide by the second-best other piece (any orientation).
        best_per_piece = self.rel.min(axis=3)  # (4, N, N)
        # (4, N); a frame of one piece has no other piece to compare with (its placement is trivial)
        second = np.partition(best_per_piece, 1, axis=2)[:, :, 1] if self.n > 1 else np.ones((4, self.n), np.float32)
        self.norm = self.rel / np.maximum(second, 1e-12).astype(np.float32)[:, :, None, None]
        self.norm[:, np.arange(self.n), np.arange(self.n), :] = big

    # cost rows ------------------------------------------------------------------------------------------
    def row(self, q: int, a: int, d: int, table: np.ndarray | None = None) -> np.ndarray:
        """(N, K): cost of every (piece p, orientation b) lying in direction d of piece q oriented a."""
        t = self.norm if table is None else table
        g = self.group
        ai = g.inverse[a]
        return t[g.direction[ai, d], q][:, g.compose[ai]]

    def pair_cost(self, q: int, a: int, p: int, b: int, d: int) -> float:
        """Raw cost of piece p (orientation b) lying in direction d of piece q (orientation a)."""
        g = self.group
        ai = g.inverse[a]
        return float(self.rel[g.direction[ai, d], q, p, g.compose[ai, b]])

    def total_cost(self, pieces: np.ndarray, orient: np.ndarray) -> float:
        """Summed raw cost of every right and down seam of a placement (the score placements compete on)."""
        total = 0.0
        for r in range(self.rows):
            for c in range(self.cols):
                if c + 1 < self.cols:
                    total += self.pair_cost(pieces[r, c], orient[r, c], pieces[r, c + 1], orient[r, c + 1], 0)
                if r + 1 < self.rows:
                    total += self.pair_cost(pieces[r, c], orient[r, c], pieces[r + 1, c], orient[r + 1, c], 1)
        return total

    # greedy placement ------------------------------------------------------------------------------------------
    def greedy(self, seed: dict[tuple[int, int], tuple[int, int]] | None = None, anchored: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Place pieces one by one, most confident placement first, inside the frame.

        ``seed``: cells -> (piece, orientation) placed first (a trusted segment); default: the piece
        with the most mutual best matches, in orientation 0. ``anchored``: the seed's cells are frame
        coordinates (the segment's offset in the frame is fixed); otherwise only their relative
        positions count and the frame floats until the placed pieces span it.
        """
        n, rows, cols = self.n, self.rows, self.cols
        height, width = 2 * rows + 1, 2 * cols + 1
        grid = -np.ones((height, width), np.int64)
        orient = np.zeros((height, width), np.int64)
        used = np.zeros(n, bool)
        acc: dict[tuple[int, int], np.ndarray] = {}
        cnt: dict[tuple[int, int], int] = {}
        # An open cell's scores are rebuilt when a neighbour is placed; placing piece p elsewhere changes its best
        # two pieces only if p was one of them (or one piece is left).
        scores: dict[tuple[int, int], _OpenCell] = {}
        box = [rows, 2 * rows - 1, cols, 2 * cols - 1] if anchored else [height, -1, width, -1]  # rmin, rmax, cmin, cmax

        def place(r: int, c: int, p: int, o: int) -> None:
            grid[r, c], orient[r, c], used[p] = p, o, True
            box[0], box[1], box[2], box[3] = min(box[0], r), max(box[1], r), min(box[2], c), max(box[3], c)
            acc.pop((r, c), None)
            cnt.pop((r, c), None)
            scores.pop((r, c), None)
            changed = []
            for d, (dr, dc) in enumerate(DIRS):
                cell = (r + dr, c + dc)
                if 0 <= cell[0] < height and 0 <= cell[1] < width and grid[cell] < 0:
                    acc[cell] = acc.get(cell, 0.0) + self.row(p, o, d)
                    cnt[cell] = cnt.get(cell, 0) + 1
                    changed.append(cell)
            one_left = n - int(used.sum()) <= 1
            for open_cell in scores.values():
                open_cell.drop(p, one_left)
            for cell in changed:
                mean = acc[cell] / cnt[cell]
                mean[used, :] = np.inf
                scores[cell] = _OpenCell(mean, one_left)

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
            confidence = [(scores[cell].second_value - scores[cell].best_value) * np.sqrt(cnt[cell]) for cell in cells]
            i = int(np.argmax(confidence))
            best = scores[cells[i]].best
            place(cells[i][0], cells[i][1], best, int(np.argmin(scores[cells[i]].mean[best])))
        sl = (slice(box[0], box[0] + rows), slice(box[2], box[2] + cols))
        return grid[sl].copy(), orient[sl].copy()

    def seed_piece(self) -> int:
        """The piece with the most mutual best matches (identity orientation of both)."""
        best = self.norm[:, :, :, 0].argmin(axis=2)  # (4, N)
        mutual = np.zeros(self.n)
        for d in range(4):
            back = best[OPPOSITE[d]][best[d]]
            mutual += back == np.arange(self.n)
        return int(np.argmax(mutual))

    # buddies and segments ------------------------------------------------------------------------------------------
    def buddies(self, pieces: np.ndarray, orient: np.ndarray) -> np.ndarray:
        """(rows, cols, 2): whether each right / down adjacency is a mutual best match."""
        out = np.zeros((self.rows, self.cols, 2), bool)
        for r in range(self.rows):
            for c in range(self.cols):
                q, a = pieces[r, c], orient[r, c]
                for d, (dr, dc) in ((0, (0, 1)), (1, (1, 0))):
                    rr, cc = r + dr, c + dc
                    if rr >= self.rows or cc >= self.cols:
                        continue
                    p, b = pieces[rr, cc], orient[rr, cc]
                    fwd = self.row(q, a, d)
                    back = self.row(p, b, OPPOSITE[d])
                    out[r, c, d] = np.unravel_index(np.argmin(fwd), fwd.shape) == (p, b) and \
                        np.unravel_index(np.argmin(back), back.shape) == (q, a)
        return out

    def largest_segment(self, pieces: np.ndarray, orient: np.ndarray) -> dict[tuple[int, int], tuple[int, int]]:
        """The largest 4-connected set of cells joined by mutual best matches (the first in row-major order
        among equals). Cells and links are drawn on a grid of twice the resolution (cell (r, c) at (2r, 2c),
        its right link at (2r, 2c + 1), its down link at (2r + 1, 2c)), whose regions scipy labels."""
        links = self.buddies(pieces, orient)
        fine = np.zeros((2 * self.rows - 1, 2 * self.cols - 1), bool)
        fine[::2, ::2] = True
        fine[::2, 1::2] = links[:, :-1, 0]
        fine[1::2, ::2] = links[:-1, :, 1]
        regions, _ = connected_regions(fine)  # numbered in raster order: a region's first pixel is a cell
        label = regions[::2, ::2]
        big = int(np.argmax(np.bincount(label.ravel())[1:])) + 1
        return {(int(r), int(c)): (int(pieces[r, c]), int(orient[r, c])) for r, c in zip(*np.nonzero(label == big))}

    # local search ------------------------------------------------------------------------------------------------------
    def swap_refine(self, pieces: np.ndarray, orient: np.ndarray, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Best-improvement moves until none helps: swap two non-adjacent cells (each piece taking its best
        orientation at its new cell), or re-orient one piece in place. ``fit[i, p, b]`` (cost of piece p
        in orientation b at cell i given the current neighbours) and the swap gains ``delta[i, j]`` are kept
        up to date incrementally: a move changes the rows and columns of the cells it touched, not the rest."""
        pieces, orient = pieces.copy(), orient.copy()
        rows, cols, k = self.rows, self.cols, self.group.size
        ncell = rows * cols
        cells = np.arange(ncell)
        nbr = [[(d, (r + dr) * cols + c + dc) for d, (dr, dc) in enumerate(DIRS) if 0 <= r + dr < rows and 0 <= c + dc < cols]
               for r in range(rows) for c in range(cols)]
        flat_p, flat_o = pieces.ravel(), orient.ravel()  # views: updates reach pieces / orient
        fit = np.zeros((ncell, self.n, k), np.float32)

        def refresh(i: int) -> None:
            fit[i] = 0.0
            for d, j in nbr[i]:
                fit[i] += self.row(flat_p[j], flat_o[j], OPPOSITE[d], self.rel)

        for i in range(ncell):
            refresh(i)
        adjacent = np.zeros((ncell, ncell), bool)
        for i in range(ncell):
            adjacent[i, [j for _, j in nbr[i]]] = True
        np.fill_diagonal(adjacent, True)
        best_fit = fit.min(axis=2)  # (cells, N)
        current = fit[cells, flat_p, flat_o]
        # delta[i, j]: the change in cost if the pieces at cells i and j swapped (i, j not adjacent)
        delta = best_fit[:, flat_p].T + best_fit[:, flat_p] - current[:, None] - current[None, :]
        delta[adjacent] = np.inf  # adjacent swaps would be mis-scored (each sees the other's old piece)
        for _ in range(max_iter):
            reorient = best_fit[cells, flat_p] - current
            i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
            if delta[i, j] < -1e-6 and delta[i, j] <= reorient.min():
                pi, pj = flat_p[i], flat_p[j]
                oi, oj = int(np.argmin(fit[j, pi])), int(np.argmin(fit[i, pj]))
                flat_p[i], flat_o[i], flat_p[j], flat_o[j] = pj, oj, pi, oi
                touched = {c for _, c in nbr[i]} | {c for _, c in nbr[j]}
                moved = touched | {int(i), int(j)}
            elif reorient.min() < -1e-6:
                i = int(np.argmin(reorient))
                flat_o[i] = int(np.argmin(fit[i, flat_p[i]]))
                touched = {c for _, c in nbr[i]}
                moved = touched | {i}
            else:
                break
            for c in touched:
                refresh(c)
            changed = np.fromiter(moved, np.int64)
            best_fit[changed] = fit[changed].min(axis=2)
            current[changed] = fit[changed, flat_p[changed], flat_o[changed]]
            # the same float32 expression as the full matrix above, for the rows and columns that changed
            delta[changed, :] = best_fit[:, flat_p[changed]].T + best_fit[changed][:, flat_p] - current[changed, None] - current[None, :]
            delta[:, changed] = best_fit[changed][:, flat_p].T + best_fit[:, flat_p[changed]] - current[:, None] - current[None, changed]
            delta[changed, :] = np.where(adjacent[changed, :], np.inf, delta[changed, :])
            delta[:, changed] = np.where(adjacent[:, changed], np.inf, delta[:, changed])
        return pieces, orient

    def _finish(self, pieces: np.ndarray, orient: np.ndarray) -> JigsawSolution:
        """Refine a placement by swaps and score it (cost, fraction of seams that are mutual best matches)."""
        pieces, orient = self.swap_refine(pieces, orient)
        links = self.buddies(pieces, orient)
        valid = np.zeros_like(links)
        valid[:, :-1, 0] = True
        valid[:-1, :, 1] = True
        fraction = float(links[valid].mean()) if valid.any() else 1.0
        return JigsawSolution(pieces, orient, self.total_cost(pieces, orient), fraction)

    def solve(self, restarts: int = 3, max_offsets: int = 16, seeds: int = 4, good: float = 1.0) -> JigsawSolution:
        """Greedy placement and swap refinement, then up to ``restarts`` rounds that keep the largest
        segment of mutual best matches and re-place everything else around it, trying every offset of
        the segment inside the frame (a segment built one row too low is the typical greedy failure);
        the lowest-cost placement is kept. While fewer than ``good`` of the placed neighbours are mutual
        best matches (the solver's own sign of a bad start), up to ``seeds`` other start pieces are tried.
        ``good`` = 1.0: only a placement whose every neighbour pair is a mutual best match stops the search
        early (at 0.9, EtC's smoke-size jigsaw kept a wrong placement with 0.902 for 4 of 60 fresh keys;
        docs/benchmarks.md)."""
        best = self._solve_from(None, restarts, max_offsets)
        for seed in self.seed_pieces(seeds)[1:]:
            if best.buddy_fraction >= good:
                break
            sol = self._solve_from({(0, 0): (seed, 0)}, restarts, max_offsets)
            if sol.cost < best.cost - 1e-9:
                best = sol
        return best

    def seed_pieces(self, k: int) -> list[int]:
        """The k pieces with the most mutual best matches (the first is :meth:`seed_piece`)."""
        best = self.norm[:, :, :, 0].argmin(axis=2)
        mutual = np.zeros(self.n)
        for d in range(4):
            mutual += best[OPPOSITE[d]][best[d]] == np.arange(self.n)
        return [int(i) for i in np.argsort(-mutual, kind="stable")[:k]]

    def _solve_from(self, seed: dict[tuple[int, int], tuple[int, int]] | None, restarts: int, max_offsets: int) -> JigsawSolution:
        """Greedy placement from ``seed``, then restarts from its largest segment (see :meth:`solve`)."""
        best = self._finish(*self.greedy(seed))
        tried: set[frozenset] = set()
        for _ in range(restarts):
            segment = self.largest_segment(best.pieces, best.orient)
            key = frozenset(segment.items())
            if len(segment) == self.n or key in tried:
                break
            tried.add(key)
            rs = [r for r, _ in segment]
            cs = [c for _, c in segment]
            span_r, span_c = max(rs) - min(rs), max(cs) - min(cs)
            offsets = [(dr, dc) for dr in range(self.rows - span_r) for dc in range(self.cols - span_c)]
            improved = False
            if len(offsets) <= max_offsets:
                for dr, dc in offsets:
                    seed = {(r - min(rs) + dr, c - min(cs) + dc): v for (r, c), v in segment.items()}
                    sol = self._finish(*self.greedy(seed, anchored=True))
                    if sol.cost < best.cost - 1e-9:
                        best, improved = sol, True
            else:
                sol = self._finish(*self.greedy(segment))
                if sol.cost < best.cost - 1e-9:
                    best, improved = sol, True
            if not improved:
                break
        return best


def edge_dissimilarity(blocks: np.ndarray) -> np.ndarray:
    """(4, N, N, 1) pooled L1 dissimilarity of the facing edges of blocks (n, N, 3, M, M), no rotation."""
    n, nb = blocks.shape[:2]
    b = torch.from_numpy(np.ascontiguousarray(blocks, dtype=np.float32))

    def left_right(t: torch.Tensor) -> np.ndarray:  # t[..., row, col]: cost[a, b] for b right of a
        right_edge = t[..., :, -1].permute(1, 0, 2, 3).reshape(nb, -1)
        left_edge = t[..., :, 0].permute(1, 0, 2, 3).reshape(nb, -1)
        return torch.cdist(right_edge, left_edge, p=1).numpy().astype(np.float64) / right_edge.shape[1]

    lr = left_right(b)
    tb = left_right(b.transpose(-1, -2))
    return np.stack([lr, tb, lr.T, tb.T])[..., None]
