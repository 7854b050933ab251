"""Ciphertext-only key recovery by pooling statistics over many ciphertexts (``pooled``).

Every scheme here encrypts **every image with the same key**. One ciphertext hides its structure well
(the seed paper's FR, GAN and ITN fail on ``proposed``), but n ciphertexts under one key are n samples of
the same permutation, and natural images are smooth: statistics pooled over the n ciphertexts expose
what a single image hides. The attack holds only the n ciphertexts (no plain image, no key, no labels).

Threat model: ``ciphertext_only_many`` (n victim-key ciphertexts, nothing else: no plain image, no key,
no labels).

Method, per scheme (the key-material arrays are those of ``docs/schemes.md#key-material``; ``KeyRecovery.notes`` names every global
symmetry that smoothness cannot settle and what settled it):

- ``proposed``: (1) **pixel order K2.** Every sub-block of every block of every ciphertext is a sample
  of the same shuffle. The mean absolute difference between cipher pixel positions, pooled over all
  those samples, is small exactly for pixels that were neighbours in the plain image. Positions are laid
  on the (M/2) x (M/2) grid by minimising the summed pooled difference over grid-adjacent pairs of the
  whole M x M block (the 4 sub-blocks share K2, so the seams between sub-blocks count too): brute force
  over all (M/2)^2! orders for M <= 4, else an isomap/MDS layout snapped to the grid, then best-swap
  local search. Inside one sub-block the layout is only fixed up to the square's 8 symmetries; the seams
  between the 4 sub-blocks settle them, so K2 has no residual ambiguity. (2) **block order K1**, a
  jigsaw puzzle with N pieces and no rotation: the dissimilarity of two pieces' shared edge is the L1
  difference of the facing pixel columns summed over all n ciphertexts (every piece sits at the same
  place in every image, so n images give one n-layer puzzle); a greedy placer (most confident placement
  first, normalised by each piece's second-best match, inside the known frame), best-swap refinement,
  and restarts from the largest segment of mutual best matches at every offset inside the frame. Nothing
  global is left: the frame fixes the offset and pieces are not rotated.
- ``le`` (one nibble key for every block: N samples per ciphertext): (1) high nibbles are the d of the
  2d positions with the strongest pooled correlations (low nibbles of natural images are nearly noise);
  (2) their relative negation from the leading eigenvector of their correlation matrix (plain high
  nibbles all correlate positively); (3) their grouping into channels (spectral clustering, the
  positions' means, or their value histograms) and (4) each channel's layout on the block grid, the
  seams to the neighbouring block (LE leaves blocks in place) settling the square's symmetries; (5) each
  low nibble goes to the pixel whose predicted fine part (neighbours' value minus 16 x own high nibble)
  it correlates with best, the sign of the correlation giving its negation. (6) The global channel order
  and negative are settled **exactly by the key's own structure**: LE's mask is derived from the
  permutation (r = P > d), so only the right reading explains every observed polarity. The fraction
  explained (``mask_agreement``) is 1.0 exactly when the key is right, so the attack knows when it has
  succeeded; candidate readings are tried until one reaches it.
- ``pe``, ``pe_np`` (a transform per pixel, shared by all images): group synchronisation on the pixel
  grid. For every pair of 4-neighbours the pooled L1 cost of each relative transform (48 channel orders x
  negation patterns, or the 8 patterns) is computed; a maximum-confidence spanning tree fixes every pixel
  relative to one, then iterated conditional modes. One global transform stays open: a channel negated
  alone is settled by the positive correlation of R, G, B; the global negative and the channel order
  by the natural-image prior (:func:`natural_prior`: channel means, top/bottom difference, dark and
  bright channel, skewness, channel correlations, measured on public CIFAR-10 training images).
- ``etc``: a jigsaw whose pieces also carry one of 96 orientations (8 rotations/flips x negative x 6
  channel orders): pooled squared seam differences for every pair of pieces and relative orientation
  (Gram matrices), the same solver with orientations. Global readings of the whole image keep every seam;
  the prior settles rotation (sky on top), negative and channel order, but **not the left-right mirror**:
  natural images are mirror-symmetric in distribution, so an image and its mirror tie exactly and the key
  is exact only up to a mirror (the mirrored key is returned in ``KeyRecovery.alternatives``).
- ``ele``: every block position has its own nibble key, so n ciphertexts give only n samples per key
  (LE pools the N blocks of every image): LE's solver runs once per cipher block position on its n
  samples, without seams (the blocks are scrambled), and LE's derived mask also settles the 8 symmetries
  of the block's pixel grid; the blocks, decrypted where they are, are then placed by the jigsaw solver
  of ``proposed``. Hundreds of ciphertexts instead of a handful.
- ``plain``: nothing to recover.

:func:`global_readings` lists the keys a prior had to choose between, so that evaluations can report
"exact up to a global symmetry" (what smoothness alone recovered) beside "exact".

Example::

    attack = create_attack("pooled", scheme_name="proposed", image_size=224, block_size=16)
    attack.fit(view)                       # view.victim_ciphertexts: n ciphertexts under the victim's key
    restored = attack(other_ciphertexts)   # exact when the key was recovered exactly
"""

from __future__ import annotations

import functools
import itertools
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import scipy.linalg
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import shortest_path

from ppbench.errors import InputError

from .base import AttackerView, AttackInfo, ThreatModel, register_attack
from .kpa import (CHANNEL_ORDERS, NEGATION_PATTERNS, KeyRecovery, KeyRecoveryAttack, as_numpy_uint8, etc_transforms,
                  from_blocks, from_sub_pixels, nibbles, sub_pixels, to_blocks)

#: The threat model the attack declares: n victim-key ciphertexts and nothing else.
THREAT_MODEL: ThreatModel = ThreatModel.CIPHERTEXT_ONLY_MANY

POOLED_SCHEMES = ("proposed", "le", "ele", "etc", "pe", "pe_np", "plain")

#: Work budget of LE's pooled distances (items^2 x block samples): caps the samples at about 850 blocks at
#: M = 16 (plenty for 224 x 224 images, where one ciphertext suffices) and never binds at M = 4.
DISTANCE_BUDGET = 5e8

#: Directions of a neighbour p relative to a piece q: p right of q, below, left of, above.
DIRS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (0, -1), (-1, 0))
OPPOSITE = (2, 3, 0, 1)


# -- pooled statistics ------------------------------------------------------------------------------------
def pooled_l1(features: np.ndarray | torch.Tensor, other: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
    """Mean absolute difference between rows of ``features`` (P, L) (and ``other``), via ``torch.cdist``."""
    a = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32)
    b = a if other is None else torch.as_tensor(np.ascontiguousarray(other), dtype=torch.float32)
    return (torch.cdist(a, b, p=1) / max(a.shape[1], 1)).numpy().astype(np.float64)


def grid_adjacent(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (a, b) of horizontally and vertically adjacent cells of an m x m grid."""
    g = np.arange(m * m).reshape(m, m)
    return np.concatenate([g[:, :-1].ravel(), g[:-1, :].ravel()]), np.concatenate([g[:, 1:].ravel(), g[1:, :].ravel()])


def dihedral_grids(h: int) -> list[np.ndarray]:
    """The 8 symmetries of an h x h grid as flat index maps (``cells[t]``: new cell -> old cell)."""
    g = np.arange(h * h).reshape(h, h)
    out = []
    for k in range(8):
        t = np.rot90(g, k % 4)
        out.append((t[:, ::-1] if k >= 4 else t).ravel())
    return out


# -- pixel layout (K2 of proposed) -------------------------------------------------------------------------------
def mds_grid_layout(dist: np.ndarray, h: int, neighbours: int = 4) -> np.ndarray:
    """Place S = h*h items on an h x h grid from their pairwise distances: cell -> item.

    Isomap: a symmetric k-nearest-neighbour graph, its shortest paths, classical MDS to 2-D; then an
    affine fit to the grid alternating with linear assignment, from 18 starting rotations, keeping
    the best fit. Only a starting point for :func:`swap_search`.
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
    best: tuple[float, np.ndarray] | None = None
    for angle in np.linspace(0.0, np.pi / 2, 19)[:-1]:
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        z = emb @ rot
        for _ in range(3):
            cost = ((z[:, None, :] - grid[None]) ** 2).sum(-1)
            r, c = linear_sum_assignment(cost)
            affine, *_ = np.linalg.lstsq(np.c_[z, np.ones(s)], grid[c], rcond=None)
            z = np.c_[z, np.ones(s)] @ affine
        total = float(cost[r, c].sum())
        if best is None or total < best[0]:
            best = (total, c)
    assert best is not None
    layout = np.empty(s, np.int64)
    layout[best[1]] = np.arange(s)
    return layout


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
    for _ in range(max_iter):
        f = np.zeros((cells, dists.shape[1]))
        np.add.at(f, a, dists[kind, :, layout[b]])  # item x at a_t, partner fixed
        np.add.at(f, b, dists[kind, layout[a], :])  # item x at b_t
        g = f[:, layout]  # g[i, j] = F[i, L[j]]
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


# -- jigsaw ------------------------------------------------------------------------------------------------------------
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
        return int(self.inverse.size)

    @classmethod
    def trivial(cls) -> "PieceGroup":
        return cls(np.zeros((1, 1), np.int64), np.zeros(1, np.int64), np.arange(4)[None])


@dataclass
class JigsawSolution:
    """A placement: ``pieces[r, c]`` (piece index) and ``orient[r, c]`` (group element) on the frame."""

    pieces: np.ndarray
    orient: np.ndarray
    cost: float
    buddy_fraction: float


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
        second = np.partition(best_per_piece, 1, axis=2)[:, :, 1]  # (4, N)
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
        g = self.group
        ai = g.inverse[a]
        return float(self.rel[g.direction[ai, d], q, p, g.compose[ai, b]])

    def total_cost(self, pieces: np.ndarray, orient: np.ndarray) -> float:
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
        """The largest 4-connected set of cells joined by mutual best matches."""
        links = self.buddies(pieces, orient)
        label = -np.ones((self.rows, self.cols), np.int64)
        sizes = []
        for r0 in range(self.rows):
            for c0 in range(self.cols):
                if label[r0, c0] >= 0:
                    continue
                stack, label[r0, c0], size = [(r0, c0)], len(sizes), 0
                while stack:
                    r, c = stack.pop()
                    size += 1
                    nbrs = []
                    if c + 1 < self.cols and links[r, c, 0]:
                        nbrs.append((r, c + 1))
                    if r + 1 < self.rows and links[r, c, 1]:
                        nbrs.append((r + 1, c))
                    if c > 0 and links[r, c - 1, 0]:
                        nbrs.append((r, c - 1))
                    if r > 0 and links[r - 1, c, 1]:
                        nbrs.append((r - 1, c))
                    for cell in nbrs:
                        if label[cell] < 0:
                            label[cell] = len(sizes)
                            stack.append(cell)
                sizes.append(size)
        big = int(np.argmax(sizes))
        return {(int(r), int(c)): (int(pieces[r, c]), int(orient[r, c])) for r, c in zip(*np.nonzero(label == big))}

    # local search ------------------------------------------------------------------------------------------------------
    def swap_refine(self, pieces: np.ndarray, orient: np.ndarray, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Best-improvement moves until none helps: swap two non-adjacent cells (each piece taking its best
        orientation at its new cell), or re-orient one piece in place. ``fit[i, p, b]`` (cost of piece p
        in orientation b at cell i given the current neighbours) is kept up to date incrementally."""
        pieces, orient = pieces.copy(), orient.copy()
        rows, cols, k = self.rows, self.cols, self.group.size
        ncell = rows * cols
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
        for _ in range(max_iter):
            best_fit = fit.min(axis=2)  # (cells, N)
            current = fit[np.arange(ncell), flat_p, flat_o]
            delta = best_fit[:, flat_p].T + best_fit[:, flat_p] - current[:, None] - current[None, :]
            delta[adjacent] = np.inf  # adjacent swaps would be mis-scored (each sees the other's old piece)
            reorient = best_fit[np.arange(ncell), flat_p] - current
            i, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
            if delta[i, j] < -1e-6 and delta[i, j] <= reorient.min():
                pi, pj = flat_p[i], flat_p[j]
                oi, oj = int(np.argmin(fit[j, pi])), int(np.argmin(fit[i, pj]))
                flat_p[i], flat_o[i], flat_p[j], flat_o[j] = pj, oj, pi, oi
                touched = {c for _, c in nbr[i]} | {c for _, c in nbr[j]}
            elif reorient.min() < -1e-6:
                i = int(np.argmin(reorient))
                flat_o[i] = int(np.argmin(fit[i, flat_p[i]]))
                touched = {c for _, c in nbr[i]}
            else:
                break
            for c in touched:
                refresh(c)
        return pieces, orient

    def _finish(self, pieces: np.ndarray, orient: np.ndarray) -> JigsawSolution:
        pieces, orient = self.swap_refine(pieces, orient)
        links = self.buddies(pieces, orient)
        valid = np.zeros_like(links)
        valid[:, :-1, 0] = True
        valid[:-1, :, 1] = True
        fraction = float(links[valid].mean()) if valid.any() else 1.0
        return JigsawSolution(pieces, orient, self.total_cost(pieces, orient), fraction)

    def solve(self, restarts: int = 3, max_offsets: int = 16, seeds: int = 4, good: float = 0.9) -> JigsawSolution:
        """Greedy placement and swap refinement, then up to ``restarts`` rounds that keep the largest
        segment of mutual best matches and re-place everything else around it, trying every offset of
        the segment inside the frame (a segment built one row too low is the typical greedy failure);
        the lowest-cost placement is kept. While fewer than ``good`` of the placed neighbours are mutual
        best matches (the solver's own sign of a bad start), up to ``seeds`` other start pieces are tried."""
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


PooledResult = tuple[dict[str, np.ndarray], dict[str, float], list[str], list[dict[str, np.ndarray]]]


# -- the natural-image prior for global symmetries ------------------------------------------------------------
def image_features(images: np.ndarray) -> np.ndarray:
    """(n, 17) features of images (n, 3, H, W) that natural images have and their symmetric readings
    (negative, other channel order, rotated) lack: channel means (3); top-half minus bottom-half means
    (3, sky on top); left-half minus right-half means (3, zero for natural images); the mean of the
    darkest channel (the "dark channel") and of the brightest; per-channel skewness (3); the correlations
    G-B, R-B, R-G (3). Large images are subsampled to about 32 x 32 first (the prior's resolution)."""
    x = np.asarray(images, dtype=np.float64)
    step = max(1, x.shape[2] // 32)
    x = x[:, :, ::step, ::step]
    n, _, h, w = x.shape
    means = x.mean(axis=(2, 3))
    tb = x[:, :, : h // 2].mean(axis=(2, 3)) - x[:, :, h - h // 2 :].mean(axis=(2, 3))
    lr = x[:, :, :, : w // 2].mean(axis=(2, 3)) - x[:, :, :, w - w // 2 :].mean(axis=(2, 3))
    dark = x.min(axis=1).mean(axis=(1, 2))[:, None]
    bright = x.max(axis=1).mean(axis=(1, 2))[:, None]
    flat = x.reshape(n, 3, -1)
    centred = flat - flat.mean(axis=2, keepdims=True)
    sd = np.sqrt((centred**2).mean(axis=2)) + 1e-6
    skew = (centred**3).mean(axis=2) / sd**3
    cov = np.einsum("nci,ndi->ncd", centred, centred) / flat.shape[2]
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    pairs = np.stack([corr[:, 1, 2], corr[:, 0, 2], corr[:, 0, 1]], axis=1)
    return np.concatenate([means, tb, lr, dark, bright, skew, pairs], axis=1)


@functools.lru_cache(maxsize=1)
def natural_prior() -> tuple[np.ndarray, np.ndarray]:
    """Mean and inverse covariance of :func:`image_features` over natural images.

    Computed from the training images of ppbench's bundled CIFAR-10 sample (2,000 public natural
    images; curves and tests attack *test* images), then made mirror-symmetric: natural images are
    statistically unchanged by a left-right mirror, so the left-right features get mean zero and no
    correlation with the rest. This is the attack's only knowledge of natural images besides smoothness.
    """
    from ppbench.data import SAMPLE_PATH

    with np.load(SAMPLE_PATH, allow_pickle=False) as data:
        train = data["x_train"].transpose(0, 3, 1, 2)
    f = image_features(train)
    f = f[np.isfinite(f).all(axis=1)]
    mean, cov = f.mean(axis=0), np.cov(f.T)
    lr = slice(6, 9)
    mean[lr] = 0.0
    block = cov[lr, lr].copy()
    cov[lr, :] = 0.0
    cov[:, lr] = 0.0
    cov[lr, lr] = block
    return mean, np.linalg.inv(cov + 1e-9 * np.eye(cov.shape[0]))


def prior_distance(images: np.ndarray) -> float:
    """Mahalanobis distance of the images' mean features from natural images' (lower: more natural)."""
    mean, inv = natural_prior()
    f = image_features(images)
    f = f[np.isfinite(f).all(axis=1)].mean(axis=0) - mean
    return float(f @ inv @ f)


def colour_hypotheses(orders: Iterable[int], patterns: Iterable[int]) -> list[tuple[int, int]]:
    """(channel order index, negation pattern index) pairs."""
    return [(int(o), int(s)) for o in orders for s in patterns]


def apply_colour(images: np.ndarray, order: int, pattern: int) -> np.ndarray:
    """Output channel c = input channel CHANNEL_ORDERS[order][c], then 255 - v where the pattern says.
    Channels are axis 1 of a batch (n, 3, H, W), else axis 0 ((3, H, W) or (3,))."""
    axis = 1 if images.ndim == 4 else 0
    out = np.take(images, CHANNEL_ORDERS[order], axis=axis).astype(np.float64)
    neg = NEGATION_PATTERNS[pattern].reshape((3,) + (1,) * (images.ndim - axis - 1))
    return np.where(neg, 255.0 - out, out)


def choose_colour(images: np.ndarray, orders: Iterable[int], patterns: Iterable[int]) -> tuple[int, int, float, list[str]]:
    """The global channel order and negation pattern under which ``images`` (n, 3, H, W; decoded up to
    that global transform) look most natural (lowest :func:`prior_distance`).

    The features that decide: a channel negated alone correlates negatively with the others (settled
    already for small n); the global negative changes the means, the dark/bright channels and the
    skewness; red against blue shows in the means (blue darkest) and the top/bottom difference (sky).
    Returns (order, pattern, margin to the runner-up, notes).
    """
    sub = _subsample(images, 256)
    scored = sorted((prior_distance(apply_colour(sub, o, s)), o, s) for o, s in colour_hypotheses(orders, patterns))
    margin = scored[1][0] - scored[0][0] if len(scored) > 1 else float("inf")
    note = (f"global colour symmetry ({len(scored)} readings: channel order x negation) chosen by the natural-image "
            f"prior; margin {margin:.2f} (Mahalanobis, runner-up minus best)")
    return scored[0][1], scored[0][2], margin, [note]


def _subsample(images: np.ndarray, limit: int = 64) -> np.ndarray:
    """At most ``limit`` images, spatially subsampled to about 32 x 32 (what the prior needs)."""
    step = max(1, images.shape[2] // 32)
    return np.asarray(images[:limit, :, ::step, ::step], dtype=np.float64)


# -- pixel-wise schemes (PE, PE-NP): group synchronisation on the pixel grid ----------------------------------------
@functools.lru_cache(maxsize=1)
def colour_group() -> tuple[np.ndarray, np.ndarray]:
    """The 48 (order, pattern) transforms of a pixel as a group: ``compose[a, b]`` (a after b), ``inverse``.
    Element index = 8 * order + pattern (kpa's candidate order)."""
    probe = np.array([1.0, 2.0, 4.0])
    table = {}
    values = []
    for e in range(48):
        v = apply_colour(probe, e // 8, e % 8)
        table[tuple(v)] = e
        values.append(v)
    compose = np.empty((48, 48), np.int64)
    for a in range(48):
        for b in range(48):
            compose[a, b] = table[tuple(apply_colour(values[b], a // 8, a % 8))]
    inverse = np.argmax(compose == 0, axis=1)  # element 0 = order (0, 1, 2), no negation: the identity
    return compose, inverse


def _edge_tables(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Relative-transform costs (48, E) of edges between pixel samples a, b (n, 3, E): cost of g is
    sum |a - g(b)| over images and channels (g = D_a^-1 D_b; every g is an L1 isometry)."""
    n = a.shape[0]
    direct = np.abs(a[:, :, None, :] - b[:, None, :, :]).sum(axis=0)  # (3, 3, E): channel c vs channel c'
    negated = np.abs(a[:, :, None, :] - (255.0 - b[:, None, :, :])).sum(axis=0)
    out = np.empty((48, a.shape[2]))
    for e in range(48):
        order, neg = CHANNEL_ORDERS[e // 8], NEGATION_PATTERNS[e % 8]
        out[e] = sum(np.where(neg[c], negated[c, order[c]], direct[c, order[c]]) for c in range(3))
    return out / max(n, 1)


def synchronise_pixels(y: np.ndarray, allowed: np.ndarray, sweeps: int = 6) -> tuple[np.ndarray, dict[str, float]]:
    """Per-pixel decoding transforms (H, W) in the colour group, up to one global transform.

    Costs of relative transforms between 4-neighbours pooled over all ciphertexts; a maximum-confidence
    spanning tree (confidence = gap between the best and second-best relative transform) fixes every
    pixel relative to pixel (0, 0); then ``sweeps`` rounds of iterated conditional modes on all edges.
    ``allowed``: the element indices the scheme can produce (all 48 for PE, the 8 patterns for PE-NP).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

    compose, inverse = colour_group()
    n, _, h, w = y.shape
    yf = y.astype(np.float64)
    big = 1e18
    mask = np.full(48, big)
    mask[allowed] = 0.0
    ch = np.zeros((48, h, w - 1))
    for i in range(h):
        ch[:, i] = _edge_tables(yf[:, :, i, :-1], yf[:, :, i, 1:])
    cv = np.zeros((48, h - 1, w))
    for j in range(w):
        cv[:, :, j] = _edge_tables(yf[:, :, :-1, j], yf[:, :, 1:, j])
    # Allowed relative transforms form a subgroup here (PE: all; PE-NP: the patterns).
    ch += mask[:, None, None]
    cv += mask[:, None, None]
    idx = np.arange(h * w).reshape(h, w)
    src = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    dst = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    costs = np.concatenate([ch.reshape(48, -1), cv.reshape(48, -1)], axis=1)  # (48, E)
    best = costs.argmin(axis=0)
    part = np.partition(costs, 1, axis=0)
    gap = part[1] - part[0]
    weight = 1.0 / (gap + 1e-6)
    graph = coo_matrix((weight, (src, dst)), shape=(h * w, h * w)).tocsr()
    tree = minimum_spanning_tree(graph)
    tree = tree + tree.T
    order, pred = breadth_first_order(tree, 0, directed=False, return_predecessors=True)
    rel_of = {}
    for e, (a_, b_) in enumerate(zip(src, dst)):
        rel_of[(int(a_), int(b_))] = int(best[e])
    label = np.zeros(h * w, np.int64)
    for node in order[1:]:
        parent = int(pred[node])
        if (parent, int(node)) in rel_of:  # D_node = D_parent g
            label[node] = compose[label[parent], rel_of[(parent, int(node))]]
        else:  # edge stored as (node, parent): D_parent = D_node g  ->  D_node = D_parent g^-1
            label[node] = compose[label[parent], inverse[rel_of[(int(node), parent)]]]
    lab = label.reshape(h, w)
    # Iterated conditional modes on the checkerboard: each pixel takes its best transform given its neighbours.
    parity = (np.add.outer(np.arange(h), np.arange(w)) % 2).astype(bool)
    for _ in range(sweeps):
        changed = 0
        for colour in (False, True):
            total = np.zeros((48, h, w))
            # left neighbour p=(i, j-1), this pixel q=(i, j): relative D_p^-1 D
            rel = compose[inverse[lab[:, :-1]]]  # (h, w-1, 48): index by candidate D
            total[:, :, 1:] += np.take_along_axis(ch.transpose(1, 2, 0), rel, axis=2).transpose(2, 0, 1)
            # right neighbour q=(i, j+1) of this pixel p: relative D^-1 D_q
            rel = compose[inverse][:, lab[:, 1:]]  # (48, h, w-1)
            total[:, :, :-1] += np.take_along_axis(ch, rel, axis=0)
            rel = compose[inverse[lab[:-1, :]]]
            total[:, 1:, :] += np.take_along_axis(cv.transpose(1, 2, 0), rel, axis=2).transpose(2, 0, 1)
            rel = compose[inverse][:, lab[1:, :]]
            total[:, :-1, :] += np.take_along_axis(cv, rel, axis=0)
            new = total.argmin(axis=0)
            sel = parity == colour
            changed += int((new[sel] != lab[sel]).sum())
            lab = np.where(sel, new, lab)
        if not changed:
            break
    chosen_gap = float(np.median(gap))
    return lab, {"edge_gap_median": chosen_gap}


def _decode_pixels(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Apply per-pixel transforms (H, W) to ciphertexts (n, 3, H, W)."""
    orders = CHANNEL_ORDERS[labels // 8].transpose(2, 0, 1)  # (3, H, W)
    neg = NEGATION_PATTERNS[labels % 8].transpose(2, 0, 1)
    moved = np.take_along_axis(y.astype(np.float64), np.broadcast_to(orders, y.shape), axis=1)
    return np.where(neg[None], 255.0 - moved, moved)


def _pixel_key(decode: np.ndarray, with_order: bool) -> dict[str, np.ndarray]:
    """Key material from per-pixel decoding transforms (H, W): encryption is the inverse transform."""
    compose, inverse = colour_group()
    enc = inverse[decode]
    order, pattern = CHANNEL_ORDERS[enc // 8], NEGATION_PATTERNS[enc % 8]  # (H, W, 3)
    negate = np.zeros(order.shape, dtype=bool)
    np.put_along_axis(negate, order, pattern, axis=2)  # negate[src channel order[c]] = pattern[c]
    return {"negate": negate, "channel_perm": order} if with_order else {"negate": negate}


def _pooled_pixelwise(y: np.ndarray, with_order: bool) -> PooledResult:
    compose, _ = colour_group()
    allowed = np.arange(48) if with_order else np.arange(8)
    lab, conf = synchronise_pixels(y, allowed)
    rel = _decode_pixels(_subsample(y, 256), lab[:: max(1, y.shape[2] // 32), :: max(1, y.shape[3] // 32)])
    o, s, margin, notes = choose_colour(rel, range(6) if with_order else [0], range(8))
    decode = compose[8 * o + s][lab]  # global transform after the relative one
    conf["prior_margin"] = margin
    return _pixel_key(decode, with_order), conf, notes, []


def _pooled_pe(y: np.ndarray, m: int | None) -> PooledResult:
    return _pooled_pixelwise(y, with_order=True)


def _pooled_pe_np(y: np.ndarray, m: int | None) -> PooledResult:
    return _pooled_pixelwise(y, with_order=False)


# -- per-scheme solvers ------------------------------------------------------------------------------------------------
# -- EtC: a jigsaw whose pieces are also rotated, flipped, negated and colour-shuffled --------------------------------
@functools.lru_cache(maxsize=4)
def etc_group(m: int) -> tuple[PieceGroup, np.ndarray, np.ndarray, np.ndarray]:
    """EtC's 96 block transforms as a :class:`PieceGroup`, with kpa's ``etc_transforms(m)`` tables
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
        _side(marker, d)[...] = 1.0
        for t in range(96):
            moved = marker.ravel()[index[t]].reshape(3, m, m)
            direction[t, d] = next(s for s in range(4) if _side(moved, s).all())
    return PieceGroup(compose, inverse, direction), index, negate, params


def _side(block: np.ndarray, d: int) -> np.ndarray:
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
        return np.ascontiguousarray(_side(x, d).transpose(2, 1, 0, 3).reshape(c, nb, -1))

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


def _apply_dihedral(images: np.ndarray, dih: int) -> np.ndarray:
    """The spatial part of an EtC transform (rot90 by dih % 4, then mirror if dih >= 4) on the last two axes."""
    out = np.rot90(images, dih % 4, axes=(-2, -1))
    return out[..., ::-1] if dih >= 4 else out


def _pooled_etc(y: np.ndarray, m: int | None) -> PooledResult:
    assert m is not None
    group, index, negate, params = etc_group(m)
    n, _, h, w = y.shape
    rows, cols = h // m, w // m
    if rows != cols:
        raise InputError("pooled: EtC needs square images (its global rotations must keep the frame)")
    blocks = to_blocks(y, m)  # (n, N, 3, M, M)
    solution = Jigsaw(etc_dissimilarity(blocks, index, negate, params), rows, cols, group).solve()
    # The relative decoding: cell (r, c) holds cipher block pieces[r, c] re-oriented by orient[r, c].
    sub = y[:256].astype(np.float32)
    flat = to_blocks(sub, m).reshape(sub.shape[0], rows * cols, -1)
    cells = np.empty((sub.shape[0], rows * cols, 3 * m * m), np.float32)
    for cell, (piece, o) in enumerate(zip(solution.pieces.ravel(), solution.orient.ravel())):
        v = flat[:, piece, index[o]]
        cells[:, cell] = 255.0 - v if negate[o] else v
    relative = from_blocks(cells.reshape(sub.shape[0], rows * cols, 3, m, m), h, w)
    small = _subsample(relative, 256)
    # Global symmetry: any of the 96 transforms applied to the whole image keeps every seam; the prior picks.
    scores = []
    for g in range(96):
        dih, neg, order = params[g]
        cand = apply_colour(_apply_dihedral(small, int(dih)), int(order), 7 if neg else 0)
        scores.append(prior_distance(np.ascontiguousarray(cand)))
    scores = np.array(scores)
    g = int(np.argmin(scores))
    mirror = int(group.compose[4 * 12, g])  # the chosen reading, mirrored left-right (a tie by construction)

    def key_for(h: int) -> dict[str, np.ndarray]:
        return _etc_key(solution, h, group, params)

    others = np.delete(scores, [g, mirror])
    conf = {"buddy_fraction": solution.buddy_fraction, "jigsaw_cost": solution.cost,
            "prior_margin": float(others.min() - scores[g])}
    notes = [
        "global symmetry: the 96 readings (8 rotations/flips x negative x 6 channel orders) of the whole image keep "
        "every seam; chosen by the natural-image prior (means, dark/bright channel, skewness, channel "
        "correlations, top/bottom)",
        "left-right mirror: not identifiable (natural images are mirror-symmetric in distribution, and the "
        "prior is built mirror-symmetric, so an image and its mirror tie exactly); the unmirrored reading "
        "relative to the solver's seed block is returned, which is right half of the time: the key is "
        "exact only up to a mirror (the mirrored key is returned as the alternative)",
    ]
    return key_for(g), conf, notes, [key_for(mirror)]


# -- LE: nibble permutation and negation shared by every block ------------------------------------------------------
def _balanced_clusters(affinity: np.ndarray, k: int) -> np.ndarray:
    """Split items into k equal clusters: spectral embedding of ``affinity``, k-means-like refinement
    with equal sizes enforced by linear assignment."""
    size = affinity.shape[0] // k
    deg = affinity.sum(axis=1)
    lap = np.eye(affinity.shape[0]) - affinity / np.sqrt(np.outer(deg, deg) + 1e-12)
    _, vecs = scipy.linalg.eigh(lap, subset_by_index=[0, k - 1])
    emb = vecs[:, :k] / (np.linalg.norm(vecs[:, :k], axis=1, keepdims=True) + 1e-12)
    centres = emb[np.linspace(0, emb.shape[0] - 1, k).astype(int)]
    labels = np.zeros(emb.shape[0], np.int64)
    for _ in range(20):
        cost = ((emb[:, None, :] - centres[None]) ** 2).sum(-1)  # (items, k)
        r, c = linear_sum_assignment(np.repeat(cost, size, axis=1))
        new = c // size
        if np.array_equal(new, labels):
            break
        labels = new
        centres = np.stack([emb[labels == j].mean(axis=0) for j in range(k)])
    return labels


def _balanced_kmeans(features: np.ndarray, k: int, iters: int = 30) -> np.ndarray:
    """k equal-size clusters of the rows of ``features`` (k-means with sizes enforced by assignment)."""
    size = features.shape[0] // k
    order = np.argsort(features @ np.linalg.svd(features - features.mean(0), full_matrices=False)[2][0])
    labels = np.empty(features.shape[0], np.int64)
    labels[order] = np.arange(features.shape[0]) * k // features.shape[0]  # start: thirds along the main axis
    for _ in range(iters):
        centres = np.stack([features[labels == j].mean(axis=0) for j in range(k)])
        cost = ((features[:, None, :] - centres[None]) ** 2).sum(-1)
        _, c = linear_sum_assignment(np.repeat(cost, size, axis=1))
        new = c // size
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _grid_layout_with_neighbours(d_in: np.ndarray, d_right: np.ndarray, d_down: np.ndarray, m: int) -> np.ndarray:
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


def _le_energy_terms(m: int) -> tuple[np.ndarray, ...]:
    """Slot pairs of the high-nibble layout energy; slot = pixel * 3 + channel group (pixel row-major).
    Returns (a, b, kind): kind 0 = inside the block (same channel neighbours, or same pixel), 1 = across
    the right seam (a on the block's right edge, b on the next block's left edge), 2 = across the bottom seam."""
    a, b, kind = [], [], []
    for r in range(m):
        for c in range(m):
            p = r * m + c
            for ch in range(3):
                if c + 1 < m:
                    a.append(p * 3 + ch), b.append((p + 1) * 3 + ch), kind.append(0)
                if r + 1 < m:
                    a.append(p * 3 + ch), b.append((p + m) * 3 + ch), kind.append(0)
                for ch2 in range(ch + 1, 3):
                    a.append(p * 3 + ch), b.append(p * 3 + ch2), kind.append(0)
                if c == m - 1:
                    a.append(p * 3 + ch), b.append((r * m) * 3 + ch), kind.append(1)
                if r == m - 1:
                    a.append(p * 3 + ch), b.append(c * 3 + ch), kind.append(2)
    return np.array(a), np.array(b), np.array(kind)


def _le_high_layout(d_in: np.ndarray, d_right: np.ndarray, d_down: np.ndarray, groups: np.ndarray, m: int
                    ) -> Iterator[np.ndarray]:
    """Candidate layouts (M^2, 3) of the high nibbles (slot -> index among them), made lazily: every
    group laid out alone first, then each group as the anchor; see step 4 of :func:`_pooled_le`."""
    pa, pb, kind = _le_energy_terms(m)
    dist = np.stack([d_in, d_right, d_down])

    def energy(layouts: np.ndarray) -> np.ndarray:
        return dist[kind, layouts[:, pa], layouts[:, pb]].sum(-1)

    g = np.arange(m * m).reshape(m, m)
    nbr_pairs = [(p, q, 0) for p, q in zip(*grid_adjacent(m))] + [(int(x), int(y_), 1) for x, y_ in zip(g[:, -1], g[:, 0])] \
        + [(int(x), int(y_), 2) for x, y_ in zip(g[-1, :], g[0, :])]
    # Reading 0: every group laid out alone (right when the groups are the channels, as at M = 16).
    per_group = np.empty((m * m, 3), np.int64)
    for gidx in range(3):
        items = np.flatnonzero(groups == gidx)
        sub = np.ix_(items, items)
        per_group[:, gidx] = items[_grid_layout_with_neighbours(d_in[sub], d_right[sub], d_down[sub], m)]
    yield per_group
    # Readings 1-3: one group as the anchor, the other items joining its pixels two by two.
    for anchor in range(3):
        anchor_layout = per_group[:, anchor]
        rest = np.flatnonzero(groups != anchor)
        # Two of the remaining items per pixel: those closest to the anchor's item there.
        cost = d_in[np.ix_(rest, anchor_layout)]
        r_, c_ = linear_sum_assignment(np.repeat(cost, 2, axis=1))
        pairs = np.empty((m * m, 2), np.int64)
        fill = np.zeros(m * m, np.int64)
        for item, col in zip(rest[r_], c_ // 2):
            pairs[col, fill[col]] = item
            fill[col] += 1
        bits = _split_pairs(pairs, nbr_pairs, dist, m)
        layout = np.empty((m * m, 3), np.int64)
        layout[:, 0] = anchor_layout
        layout[:, 1] = np.where(bits, pairs[:, 1], pairs[:, 0])
        layout[:, 2] = np.where(bits, pairs[:, 0], pairs[:, 1])
        flat = layout.ravel()
        if flat.size <= 96:  # a final search over all items (M <= 4; at M = 16 the per-channel layouts suffice)
            flat = pair_swap_search(flat, dist, pa, pb, kind)
        yield flat.reshape(m * m, 3)


def _split_pairs(pairs: np.ndarray, nbr_pairs: list[tuple[int, int, int]], dist: np.ndarray, m: int) -> np.ndarray:
    """Which item of each pixel's pair belongs to the second channel: a binary labelling minimising the
    same-channel differences between neighbouring pixels (exhaustive for up to 16 pixels, else ICM)."""
    npix = pairs.shape[0]
    p_idx = np.array([p for p, _, _ in nbr_pairs])
    q_idx = np.array([q for _, q, _ in nbr_pairs])
    kinds = np.array([k for _, _, k in nbr_pairs])
    # e[t, bp, bq]: cost of edge t when pixel p has bit bp and pixel q bit bq.
    e = np.empty((len(nbr_pairs), 2, 2))
    for bp in (0, 1):
        for bq in (0, 1):
            first_p, second_p = pairs[p_idx, bp], pairs[p_idx, 1 - bp]
            first_q, second_q = pairs[q_idx, bq], pairs[q_idx, 1 - bq]
            e[:, bp, bq] = dist[kinds, first_p, first_q] + dist[kinds, second_p, second_q]
    if m <= 6:
        bits = _binary_grid_optimum(e, p_idx, q_idx, m)
        # Swapping the two channels everywhere costs exactly the same (each edge's two terms trade places),
        # so optima come in complementary pairs: keep the one with the last pixel's bit 0, as trying every
        # labelling in order did (the lower code), so that results do not depend on the solver.
        return ~bits if bits[-1] else bits
    bits = np.zeros(npix, np.int64)
    for _ in range(50):
        changed = False
        for p in range(npix):
            costs = np.zeros(2)
            for t in np.flatnonzero((p_idx == p) | (q_idx == p)):
                for b in (0, 1):
                    bp = b if p_idx[t] == p else bits[p_idx[t]]
                    bq = b if q_idx[t] == p else bits[q_idx[t]]
                    costs[b] += e[t, bp, bq]
            new = int(np.argmin(costs))
            if new != bits[p]:
                bits[p], changed = new, True
        if not changed:
            break
    return bits.astype(bool)


def _binary_grid_optimum(e: np.ndarray, p_idx: np.ndarray, q_idx: np.ndarray, m: int) -> np.ndarray:
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


def _le_mask(perm: np.ndarray) -> np.ndarray:
    """LE's polarity of every cipher nibble (True: negated), derived from the key: r[P[k]] xor r[k], r = P > d."""
    flag = perm > perm.size // 2
    return flag ^ flag[perm]


def _pooled_le(y: np.ndarray, m: int | None) -> PooledResult:
    assert m is not None
    n, _, h, w = y.shape
    nib = nibbles(to_blocks(y, m)).astype(np.float64).reshape(n, h // m, w // m, 6 * m * m)
    agree, perm = _le_key(nib, m)
    notes = ["channel order and global negation: the reading whose derived LE mask (r = P > d) agrees with "
             f"the observed polarities ({agree:.3f} of nibbles agree; 1.000 means every nibble's polarity "
             "is explained, which a wrong key practically never achieves)"]
    return {"perm": perm}, {"mask_agreement": agree}, notes, []


def _le_key(nib: np.ndarray, m: int, dihedral: bool = False) -> tuple[float, np.ndarray]:
    """One LE nibble key from block samples ``nib`` (n, R, C, 2d) that share it: (mask agreement, P).

    LE: the R x C blocks of every image (blocks stay in place, so seams to the neighbouring blocks fix
    the layout's symmetry). ELE: one cipher block position over n images (R = C = 1, no seams); then the
    8 symmetries of the block's pixel grid are also read through the derived mask (``dihedral``).
    """
    n, rows, cols, two_d = nib.shape
    d = two_d // 2
    samples = nib.reshape(-1, 2 * d)
    # 1. High nibbles are the strongly correlated ones (low nibbles of natural images are nearly noise).
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # constant positions (one sample): NaN, zeroed below
        corr = np.corrcoef(samples.T)
    corr = np.nan_to_num(corr)
    np.fill_diagonal(corr, 0.0)
    high = np.sort(np.argsort(-(corr**2).sum(axis=1))[:d])
    low = np.setdiff1d(np.arange(2 * d), high)
    # 2. Relative negation of the highs: all plain high nibbles correlate positively.
    _, vecs = scipy.linalg.eigh(corr[np.ix_(high, high)], subset_by_index=[d - 1, d - 1])
    flip_high = vecs[:, -1] < 0
    if flip_high.sum() > d / 2:
        flip_high = ~flip_high
    hv = np.where(flip_high, 15.0 - nib[..., high], nib[..., high]).reshape(n, rows, cols, d)
    # 3. Channels: three groups of M^2 highs (spatial neighbours of one channel are the closest pairs).
    flat = hv.reshape(-1, d)
    limit = max(64, int(DISTANCE_BUDGET / d**2))
    cap = lambda x: x[:: -(-x.shape[0] // limit)].T  # noqa: E731 - every k-th sample: enough, bounded time
    d_in = pooled_l1(cap(flat))
    no_seam = np.zeros((d, d))
    d_right = pooled_l1(cap(hv[:, :, :-1].reshape(-1, d)), cap(hv[:, :, 1:].reshape(-1, d))) if cols > 1 else no_seam
    d_down = pooled_l1(cap(hv[:, :-1].reshape(-1, d)), cap(hv[:, 1:].reshape(-1, d))) if rows > 1 else no_seam
    scale = np.median(d_in[d_in > 0]) if (d_in > 0).any() else 1.0
    knn = np.argsort(d_in + np.eye(d) * 1e9, axis=1)[:, : min(4, d - 1)]
    affinity = np.zeros((d, d))
    rr = np.repeat(np.arange(d), knn.shape[1])
    affinity[rr, knn.ravel()] = np.exp(-d_in[rr, knn.ravel()] / scale)
    affinity = np.maximum(affinity, affinity.T)
    # Candidate groupings: spectral (clean when spatial neighbours dominate, as at M = 16); the positions'
    # mean values split in thirds (the channels' brightness differs: blue darkest); balanced clustering of
    # the positions' value histograms (the channels' distributions differ in shape).
    hist = np.stack([(flat == v).mean(axis=0) for v in range(16)], axis=1)  # (d, 16)
    groupings = [_balanced_clusters(affinity, 3), np.argsort(np.argsort(flat.mean(axis=0))) * 3 // d,
                 _balanced_kmeans(hist, 3)]
    # 4. Each channel's pixels on the block grid, the seams to the neighbouring blocks fixing the symmetry.
    # Spectral grouping can mix two similar channels (R and G at 32 x 32), so besides laying out every
    # group alone, every group is tried as the anchor: the other items join the anchor's pixels two by
    # two and are split into two channels.
    # 5-6 for every reading until one explains every polarity (LE's derived mask tells when the key is right).
    best: tuple[float, np.ndarray] | None = None
    for groups in groupings:
        for slots in _le_high_layout(d_in, d_right, d_down, groups, m):
            agree, perm = _le_finish(slots, hv, nib, high, low, flip_high, m, rows, cols, dihedral)
            if best is None or agree > best[0] + 1e-12:
                best = (agree, perm)
            if agree == 1.0:
                break
        if best is not None and best[0] == 1.0:
            break
    assert best is not None
    return best


def _le_finish(slots: np.ndarray, hv: np.ndarray, nib: np.ndarray, high: np.ndarray, low: np.ndarray,
               flip_high: np.ndarray, m: int, rows: int, cols: int, dihedral: bool = False) -> tuple[float, np.ndarray]:
    """Steps 5 and 6 of :func:`_le_key` for one layout of the high nibbles: place the low nibbles, then
    choose the channel order and global negation (and, with ``dihedral``, the symmetry of the block's
    pixel grid); returns (mask agreement, permutation)."""
    n = nib.shape[0]
    d = high.size
    h, w = rows * m, cols * m
    samples = nib.reshape(-1, 2 * d)
    # 5. Low nibbles: the one that correlates best with (neighbours' value - 16 * own high nibble).
    def coarse(order: np.ndarray, lows: np.ndarray | None, low_flip: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        hi = hv.reshape(n, rows, cols, d)[..., slots[:, order]]  # (n, R, C, M*M, 3)
        value = 16.0 * hi + 7.5
        if lows is not None:
            lo = nib.reshape(n, rows, cols, 2 * d)[..., low[lows]]
            lo = np.where(low_flip, 15.0 - lo, lo).reshape(value.shape)
            value = 16.0 * hi + lo
        img = value.reshape(n, rows, cols, m, m, 3).transpose(0, 5, 1, 3, 2, 4).reshape(n, 3, h, w)
        return img, hi

    identity = np.arange(3)
    lows = low_flip = None
    for _ in range(3):
        img, hi = coarse(identity, lows, low_flip)
        pad = np.pad(img, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
        pred = (pad[:, :, :-2, 1:-1] + pad[:, :, 2:, 1:-1] + pad[:, :, 1:-1, :-2] + pad[:, :, 1:-1, 2:]) / 4.0
        target = pred.reshape(n, 3, rows, m, cols, m).transpose(0, 2, 4, 3, 5, 1).reshape(n * rows * cols, m * m * 3)
        target = target - 16.0 * hi.reshape(n * rows * cols, m * m * 3)
        cl = samples[:, low]
        cl = (cl - cl.mean(0)) / (cl.std(0) + 1e-9)
        tz = (target - target.mean(0)) / (target.std(0) + 1e-9)
        c = cl.T @ tz / cl.shape[0]  # (low positions, pixel-channel slots)
        r_, c_ = linear_sum_assignment(-np.abs(c))
        lows = np.empty(d, np.int64)  # slot -> index into ``low``
        lows[c_] = r_
        low_flip = c[lows, np.arange(d)] < 0
    # 6. Global symmetry: channel order x negation of everything. The key decides it: LE's mask is a
    # function of the permutation, so only the right reading agrees with the polarities observed.
    best = None
    # the 8 symmetries of the block grid (a group: each reading's inverse is also enumerated)
    readings = dihedral_grids(m) if dihedral else [np.arange(m * m)]
    for pix, o, flip in itertools.product(readings, range(6), (False, True)):
        order = CHANNEL_ORDERS[o]  # laid-out group g_slot is plain channel order[g_slot]
        perm = np.empty(2 * d, np.int64)
        pol = np.empty(2 * d, bool)
        for g_slot in range(3):
            plain_ch = order[g_slot]
            perm[high[slots[:, g_slot]]] = d + pix * 3 + plain_ch  # laid-out cell c is plain pixel pix[c]
            pol[high[slots[:, g_slot]]] = flip_high[slots[:, g_slot]] ^ flip
            k_low = low[lows.reshape(m * m, 3)[:, g_slot]]
            perm[k_low] = pix * 3 + plain_ch
            pol[k_low] = low_flip.reshape(m * m, 3)[:, g_slot] ^ flip
        agree = float((_le_mask(perm) == pol).mean())
        if best is None or agree > best[0]:
            best = (agree, perm)
    assert best is not None
    return best


def _pooled_ele(y: np.ndarray, m: int | None) -> PooledResult:
    """ELE: LE's solver once per cipher block position, then the block jigsaw of ``proposed``.

    Every original block position has its own nibble key, so the blocks at one cipher position over the n
    images are n samples of one LE key (LE pools the N blocks of every image: N n samples), and no seam to
    a neighbour is known (the blocks are scrambled). Each position's key is solved from its n samples
    alone, with the 8 symmetries of the pixel grid read through LE's derived mask like the channel order
    and negation; the decrypted blocks are then placed by the no-rotation jigsaw solver. Needs a few
    hundred ciphertexts (each position sees n samples where LE sees N n).
    """
    from ppbench.schemes import create_scheme

    assert m is not None
    n, _, h, w = y.shape
    rows, cols = h // m, w // m
    nb, d = rows * cols, 3 * m * m
    nib = nibbles(to_blocks(y, m)).astype(np.float64)  # (n, N, 2d)
    cipher_perms = np.empty((nb, 2 * d), np.int64)
    agreement = np.empty(nb)
    for i in range(nb):
        agreement[i], cipher_perms[i] = _le_key(nib[:, i].reshape(n, 1, 1, 2 * d), m, dihedral=True)
    in_place = {"perms": cipher_perms, "block_perm": np.arange(nb)}  # every cipher block decrypted where it is
    scheme = create_scheme("ele", key_material=in_place, image_size=(h, w), block_size=m)
    blocks = to_blocks(scheme.decrypt(torch.from_numpy(np.ascontiguousarray(y))).numpy(), m)
    solution = Jigsaw(edge_dissimilarity(blocks), rows, cols).solve()
    block_perm = np.empty(nb, np.int64)
    block_perm[solution.pieces.ravel()] = np.arange(nb)  # cipher block i came from plain position block_perm[i]
    perms = np.empty_like(cipher_perms)
    perms[block_perm] = cipher_perms
    confidence = {"mask_agreement_min": float(agreement.min()), "mask_agreement_mean": float(agreement.mean()),
                  "positions_fully_explained": float((agreement == 1.0).mean()),
                  "block_buddy_fraction": solution.buddy_fraction, "block_cost": solution.cost}
    notes = [f"ele: {int((agreement == 1.0).sum())} of {nb} block positions have a key whose derived LE mask "
             "explains every observed polarity (1.000: practically never by a wrong key)"]
    return {"perms": perms, "block_perm": block_perm}, confidence, notes, []


def _pooled_plain(y: np.ndarray, m: int | None) -> PooledResult:
    return {}, {}, ["plain: no key"], []


def _pooled_proposed(y: np.ndarray, m: int | None) -> PooledResult:
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


POOLED_SOLVERS: dict[str, Callable[[np.ndarray, int | None], PooledResult]] = {
    "plain": _pooled_plain,
    "pe": _pooled_pe,
    "pe_np": _pooled_pe_np,
    "etc": _pooled_etc,
    "le": _pooled_le,
    "ele": _pooled_ele,
    "proposed": _pooled_proposed,
}


def global_readings(scheme_name: str, material: dict[str, np.ndarray], *, block_size: int | None = None
                    ) -> list[dict[str, np.ndarray]]:
    """Every key that decrypts to a global symmetric reading of what ``material`` decrypts to: the
    readings smoothness cannot tell apart (EtC: the 96 rotations/flips x negation x channel orders of the
    whole image; PE: the 48 channel orders x negation patterns; PE-NP: the 8 negation patterns), the
    first being ``material`` itself. Evaluators use it to report "exact up to a global symmetry", i.e.
    what the attack got right before its natural-image prior chose the reading. Other schemes: only
    ``material`` (their global readings are settled by the key's structure, not by a prior)."""
    name = scheme_name.lower()
    if name in ("pe", "pe_np"):
        compose, inverse = colour_group()
        neg, order = material["negate"], material.get("channel_perm")
        if order is None:
            order = np.broadcast_to(np.arange(3), neg.shape)
        pattern = np.take_along_axis(neg, order, axis=2)  # pattern[c] = negate[order[c]]
        codes = {tuple(CHANNEL_ORDERS[e // 8]) + tuple(NEGATION_PATTERNS[e % 8]): e for e in range(48)}
        enc = np.vectorize(lambda *v: codes[v])(*np.moveaxis(np.concatenate([order, pattern], axis=2), 2, 0))
        decode = inverse[enc]
        elements = range(48) if name == "pe" else range(8)
        return [_pixel_key(compose[g][decode], name == "pe") for g in elements]
    if name == "etc":
        assert block_size is not None
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
        return [_etc_key(solution, h, group, params) for h in range(96)]
    return [material]


def _etc_key(solution: JigsawSolution, h: int, group: PieceGroup, params: np.ndarray) -> dict[str, np.ndarray]:
    """EtC key material of a placement (decoding orientations) read through the global transform h."""
    rows, cols = solution.pieces.shape
    dih = int(params[h, 0])
    pieces = np.ascontiguousarray(_apply_dihedral(solution.pieces, dih))
    orient = group.compose[h][np.ascontiguousarray(_apply_dihedral(solution.orient, dih))]
    block_perm = np.empty(rows * cols, np.int64)
    block_perm[pieces.ravel()] = np.arange(rows * cols)  # cipher block i sits at plain position block_perm[i]
    encrypt = group.inverse[orient.ravel()]  # the scheme's transform at each plain position
    return {
        "block_perm": block_perm,
        "dihedral": params[encrypt, 0].astype(np.int64),
        "negate": params[encrypt, 1].astype(bool),
        "channel_perm": CHANNEL_ORDERS[params[encrypt, 2]],
    }


def recover_key_pooled(scheme_name: str, ciphertexts: torch.Tensor | np.ndarray, *, block_size: int | None = None) -> KeyRecovery:
    """Recover ``scheme_name``'s key material from n uint8 N x 3 x H x W ciphertexts alone.

    See the module docstring for the method per scheme. The result's ``confidence`` holds the attack's
    own scores (no true key is consulted); ``notes`` names the global symmetries settled by a prior.
    """
    from ppbench.schemes import scheme_info

    name = scheme_info(scheme_name).name
    if name not in POOLED_SOLVERS:
        raise InputError(f"pooled has no solver for scheme {scheme_name!r}; supported: {', '.join(POOLED_SCHEMES)}")
    y = as_numpy_uint8(ciphertexts, "ciphertexts")
    if y.shape[0] < 1:
        raise InputError("pooled needs at least one ciphertext")
    block = block_size if scheme_info(name).block_wise else None
    start = time.perf_counter()
    material, confidence, notes, alternatives = POOLED_SOLVERS[name](y, block)
    return KeyRecovery(scheme=name, key_material=material, n=int(y.shape[0]), seconds=time.perf_counter() - start,
                       ambiguous={}, consistent=None, confidence=confidence, notes=notes, alternatives=alternatives)


@register_attack
class Pooled(KeyRecoveryAttack):
    """Ciphertext-only key recovery from statistics pooled over n ciphertexts under the victim's key.

    Paper: extends the single-image jigsaw-solver attack of T. Chuman and H. Kiya (Information 14(6),
    311, 2023) to what a shared key gives away: n ciphertexts are n samples of one permutation, so
    pixel order and block order are read from statistics pooled over all of them (see
    :mod:`ppbench.attacks.pooled` for the method per scheme and the priors used).
    Threat model: ``ciphertext_only_many``: n ciphertexts under the victim's key, nothing else.
    Arguments: ``scheme_name`` (see :data:`POOLED_SCHEMES`), ``image_size``, ``block_size``, ``profile``
    (all the same), ``device=None`` (CPU), ``batch_size=256`` (decryption batch), ``epochs=1`` (fixed),
    ``max_images=1000`` (ciphertexts used at most: the first ones of the view).
    Shapes: uint8 N x 3 x H x W ciphertexts in 0..255 -> uint8 N x 3 x H x W restored images.
    After ``fit``: ``recovery`` (a :class:`KeyRecovery` with the attack's own confidence scores and the
    priors it used, in ``notes``) and ``key_material``.
    Example::

        attack = create_attack("pooled", scheme_name="proposed", image_size=32, block_size=4).fit(view)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="pooled",
        title="Ciphertext-only key recovery: pixel order and block jigsaw from statistics pooled over n ciphertexts",
        paper=("T. Chuman, H. Kiya, A jigsaw puzzle solver-based attack on image encryption using vision transformer "
               "for privacy-preserving DNNs, Information 14(6), 311, 2023 (single image); pooling over the shared key: ppbench"),
        url="https://doi.org/10.3390/info14060311",
        threat_model=THREAT_MODEL,
        version=2,  # 2: a ciphertext-only solver for ELE (1 returned the identity key for ELE)
        curve=True,
        trainable=True,
        notes="global symmetries that smoothness cannot settle are chosen by a natural-image prior (see recovery.notes)",
    )

    @classmethod
    def applicable(cls, scheme: Any) -> str | None:
        """Only schemes with a solver here; a plugin scheme exposes no structure these solvers know."""
        if scheme.name not in POOLED_SOLVERS:
            return f"it has solvers only for the schemes whose structure it knows ({', '.join(POOLED_SCHEMES)})"
        return super().applicable(scheme)

    def recover(self, view: AttackerView) -> KeyRecovery:
        k = int(self.config["max_images"])
        return recover_key_pooled(self.scheme_name, view.victim_ciphertexts[:k], block_size=self.block_size)
