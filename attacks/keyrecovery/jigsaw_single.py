"""The parts of the single-image jigsaw attack ``jigsaw`` (Chuman and Kiya, Information 14(6), 311, 2023):
Gallagher's Mahalanobis Gradient Compatibility (MGC) between the blocks of ONE image, the restoration of one
``proposed`` ciphertext, and the paper's own scores of a block placement (Dc, Nc, Lc).

- :func:`mgc_dissimilarity`: MGC (A. C. Gallagher, "Jigsaw puzzles with pieces of unknown orientation",
  CVPR 2012): the gradient across a seam is scored by the Mahalanobis distance to the distribution of
  gradients just inside each piece's edge (mean and 3 x 3 colour covariance, regularised by Gallagher's nine
  dummy gradients), summed over both sides of the seam. One image's blocks only: nothing is pooled.
- :func:`restore_proposed_one`: the pixel order K2 of one ciphertext from its own 4N sub-blocks (every
  sub-block of the image shares K2, so the image alone holds 4N samples of each pixel position), then the
  block jigsaw (K1) with MGC seams.
- :func:`jigsaw_metrics`: Direct comparison, Neighbour comparison and Largest component of a placement
  against the true one (evaluation: the truth needs the key, which the attack never holds);
  :func:`true_block_order` reads that truth from a ``proposed`` scheme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ppbench.errors import InputError

from .geometry import from_sub_pixels, sub_pixels, to_blocks
from .jigsaw import Jigsaw
from .solvers.proposed import solve_proposed_k2

#: Gallagher's dummy gradients, added to every edge's gradient sample so that its covariance is invertible
#: (flat or single-colour edges otherwise give a singular 3 x 3 matrix).
DUMMY_GRADIENTS = np.array([[0, 0, 0], [1, 1, 1], [-1, -1, -1], [0, 0, 1], [0, 1, 0], [1, 0, 0],
                            [-1, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=np.float64)


def _mgc_left_right(blocks: np.ndarray) -> np.ndarray:
    """(N, N) MGC cost of block j lying right of block i, both sides of the seam (Gallagher's D_LR + D_RL).

    ``blocks``: (N, 3, M, M) float64. D_LR(i, j) = sum over rows p of (g - mu_i)^T S_i^-1 (g - mu_i) with
    g = x_j[p, first] - x_i[p, last] and (mu_i, S_i) the mean and covariance of x_i[p, last] - x_i[p, last - 1]
    over the rows p (plus the dummies); D_RL mirrors it from block j's left edge."""
    right, right_in = blocks[:, :, :, -1].transpose(0, 2, 1), blocks[:, :, :, -2].transpose(0, 2, 1)  # (N, M, 3)
    left, left_in = blocks[:, :, :, 0].transpose(0, 2, 1), blocks[:, :, :, 1].transpose(0, 2, 1)

    def stats(grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # grad (N, M, 3) -> mean (N, 3), inverse cov (N, 3, 3)
        sample = np.concatenate([grad, np.broadcast_to(DUMMY_GRADIENTS, (grad.shape[0], 9, 3))], axis=1)
        mean = grad.mean(axis=1)  # Gallagher: the mean of the edge's own gradients; the dummies only regularise S
        centred = sample - sample.mean(axis=1, keepdims=True)
        cov = np.einsum("npc,npd->ncd", centred, centred) / (sample.shape[1] - 1)
        return mean, np.linalg.pinv(cov, hermitian=True)

    mu_r, inv_r = stats(right - right_in)  # gradients leaving block i to the right
    mu_l, inv_l = stats(left - left_in)  # gradients leaving block j to the left (x_j[p, 0] - x_j[p, 1])
    seam = left[None, :] - right[:, None]  # (N_i, N_j, M, 3): x_j[p, first] - x_i[p, last]
    d = seam - mu_r[:, None, None, :]
    d_lr = np.einsum("ijpc,icd,ijpd->ij", d, inv_r, d)
    e = -seam - mu_l[None, :, None, :]  # from j's side: x_i[p, last] - x_j[p, first]
    d_rl = np.einsum("ijpc,jcd,ijpd->ij", e, inv_l, e)
    return d_lr + d_rl


def mgc_dissimilarity(blocks: np.ndarray) -> np.ndarray:
    """(4, N, N, 1) MGC cost of one image's blocks (N, 3, M, M), in :class:`~.jigsaw.Jigsaw`'s directions
    (``[d][q, p]``: p right of, below, left of, above q); costs are >= 0, lower is more compatible."""
    if blocks.ndim != 4 or blocks.shape[1] != 3 or blocks.shape[2] != blocks.shape[3] or blocks.shape[2] < 2:
        raise InputError(f"MGC needs N x 3 x M x M blocks with M >= 2, got shape {tuple(blocks.shape)}")
    b = np.asarray(blocks, dtype=np.float64)
    lr = _mgc_left_right(b)
    tb = _mgc_left_right(b.transpose(0, 1, 3, 2))  # below = right of the transposed blocks
    return np.stack([lr, tb, lr.T, tb.T])[..., None]


@dataclass(frozen=True)
class SingleRestoration:
    """One restored ciphertext: the image (3, H, W) uint8, ``order[c]`` = the cipher block placed at cell c
    (row-major), the pixel layout it read (``k2``: cipher sub-block pixel k -> plain pixel k2[k]) and the
    solver's own confidence (fraction of placed seams that are mutual best matches)."""

    image: np.ndarray
    order: np.ndarray
    k2: np.ndarray
    buddy_fraction: float


def restore_proposed_one(cipher: np.ndarray, m: int, *, restarts: int = 3, seeds: int = 4) -> SingleRestoration:
    """Restore ONE ``proposed`` ciphertext (3, H, W) uint8: K2 from its own sub-blocks, then the block jigsaw
    with MGC seams. ``restarts`` / ``seeds``: the jigsaw solver's effort (see :meth:`~.jigsaw.Jigsaw.solve`)."""
    if cipher.ndim != 3 or cipher.shape[0] != 3:
        raise InputError(f"restore_proposed_one takes one 3 x H x W ciphertext, got shape {tuple(cipher.shape)}")
    _, h, w = cipher.shape
    one = cipher[None]
    k2, _ = solve_proposed_k2(one, m)  # the statistics of this image's 4N sub-blocks only
    cells = sub_pixels(to_blocks(one, m))  # (1, N, 4, S, 3)
    blocks = from_sub_pixels(cells[..., np.argsort(k2), :], m)[0]  # (N, 3, M, M): pixel order undone
    rows, cols = h // m, w // m
    with np.errstate(over="ignore"):  # flat regions give MGC 0; the solver's 1e30 diagonal then overflows to inf, as meant
        jigsaw = Jigsaw(mgc_dissimilarity(blocks), rows, cols)
    solution = jigsaw.solve(restarts=restarts, seeds=seeds)
    order = solution.pieces.ravel().astype(np.int64)
    placed = blocks[order].reshape(rows, cols, 3, m, m).transpose(2, 0, 3, 1, 4).reshape(3, h, w)
    return SingleRestoration(np.ascontiguousarray(placed, dtype=np.uint8), order, k2, float(solution.buddy_fraction))


# -- the paper's own scores (evaluation: they need the true placement) ----------------------------------------------
def _adjacent_pairs(order: np.ndarray, rows: int, cols: int) -> set[tuple[int, int, int]]:
    """(piece, piece, direction 0 = right / 1 = below) of every neighbouring pair of a placement."""
    g = order.reshape(rows, cols)
    right = {(int(a), int(b), 0) for a, b in zip(g[:, :-1].ravel(), g[:, 1:].ravel())}
    below = {(int(a), int(b), 1) for a, b in zip(g[:-1, :].ravel(), g[1:, :].ravel())}
    return right | below


def jigsaw_metrics(recovered_order: np.ndarray, true_order: np.ndarray, grid: tuple[int, int]) -> dict[str, float]:
    """The jigsaw literature's scores of a placement, as Chuman and Kiya report them (fractions in [0, 1]).

    ``recovered_order[c]`` / ``true_order[c]``: the piece at cell c (row-major) of a ``grid`` = (rows, cols)
    frame, recovered and true. ``Dc`` (direct comparison): pieces at their true cell; ``Nc`` (neighbour
    comparison): true right/below neighbour pairs that the placement also has; ``Lc`` (largest component):
    the largest set of pieces joined by such correct pairs (so placed right relative to each other), over N."""
    rows, cols = int(grid[0]), int(grid[1])
    rec, true = np.asarray(recovered_order).ravel(), np.asarray(true_order).ravel()
    n = rows * cols
    for name, o in (("recovered_order", rec), ("true_order", true)):
        if o.size != n or not np.array_equal(np.sort(o), np.sort(true)):
            raise InputError(f"jigsaw_metrics: {name} must place the same {n} pieces on the {rows} x {cols} grid; "
                             "pass one piece index per cell")
    if not np.array_equal(np.sort(true), np.arange(n)):
        raise InputError(f"jigsaw_metrics: pieces must be numbered 0..{n - 1}; pass indices, not labels")
    true_pairs = _adjacent_pairs(true, rows, cols)
    good = true_pairs & _adjacent_pairs(rec, rows, cols)
    if good:
        a, b = np.array([(p, q) for p, q, _ in good]).T
        graph = coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        largest = int(np.bincount(labels).max())
    else:
        largest = 1
    return {"Dc": float(np.mean(rec == true)), "Nc": len(good) / len(true_pairs) if true_pairs else 1.0,
            "Lc": largest / n}


def true_block_order(k1: np.ndarray) -> np.ndarray:
    """The true placement of ``proposed``'s cipher blocks from the key's K1 (cipher block i = plain block
    K1[i]): cell c holds cipher block argsort(K1)[c]. Evaluation only: it reads the key."""
    return np.argsort(np.asarray(k1)).astype(np.int64)
