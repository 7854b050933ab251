"""Solving ELE's image-edge block positions again, layer by layer from the interior side.

After the re-read from the assembled images (:mod:`.ele_assembled`) nearly every inner block position of
an upscaled 224 x 224 image is right, but the blocks on the image's edge are not: their in-block reading
starts wrong there (bicubic upscaling clamps at the edge, so the outer three rows or columns are nearly
equal: neighbouring pixels differ by 0.05 grey levels on average, 1.8 inside, docs/benchmarks.md), and a
pixel's neighbours across the edge do not exist to correct it. Its inner neighbour block, though, is
right. So each edge block is solved again from scratch, one row (or column) of pixels at a time starting
at the side that touches the interior: a linear predictor fitted on the inner blocks (most of which are
right) predicts each pixel of the next layer from decided pixels behind it (two reaches, :data:`REACHES`),
and that layer's highs, then lows, then highs again, are assigned by linear assignment to the cipher
nibbles not yet used that fit those values best. Corners follow, from their horizontal neighbour.

A block keeps a new key only if every reach's predictor explains it better than the old one (squared
residual over the block), so where the re-read was already right (native 32 x 32 images: every block, in
the measured cases) nothing moves. The high/low split and plain nibble d's holder stay as read, so each
nibble's sign depends on its plain slot alone (:mod:`.ele_assembled`).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..parallel import map_positions
from .ele_assembled import _decryptor, _signs, cipher_positions, placement_cost, position_window
from .ele_first_pixel import with_first_pixel

#: The predictors' reaches, (depth, width): ``depth`` decided rows (or columns) behind each predicted pixel,
#: ``width`` pixels on either side. Each edge block is solved with each, and a solution replaces the block's key only
#: if every predictor explains it better. Measured (docs/benchmarks.md): the one row behind is robust where the inner neighbour
#: is slightly wrong (224 / M16: deeper reaches extrapolate, amplifying any wrong pixel they read), three rows
#: behind are exact where it is right and the upscaling is coarser (96 / M8, CIFAR upscaled 3x).
REACHES = ((1, 2), (3, 1))
#: Alternations of the highs' and the lows' assignment within one layer.
ALTERNATIONS = 3
#: Samples (pixel x image) for the fit of one direction's predictor.
FIT_SAMPLES = 20_000


def peel_image_edges(y: np.ndarray, nib: np.ndarray, perms: np.ndarray, block_perm: np.ndarray, m: int,
                     candidates: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """ELE key ``perms`` (N, 2d, by original position) with every image-edge position solved again from its
    inner neighbour; ``y`` the uint8 (n, 3, H, W) ciphertexts, ``nib`` their (n, N, 2d) cipher nibbles,
    ``block_perm`` the block order found. ``candidates`` (N, K): cipher nibbles that may hold plain nibble d
    instead of the current holder (:func:`~.ele_first_pixel.first_pixel_candidates`); each is tried as a start
    too, judged like the rest. Returns (perms, number of positions whose key changed)."""
    n, _, h, w = y.shape
    rows, cols = h // m, w // m
    if rows < 3 or cols < 3:  # no inner block to start from or to fit the predictor on
        return perms, 0
    # pixel-major (_features gathers whole pixels), in the re-read's precision
    plain = np.ascontiguousarray(_decryptor(y, block_perm, m)(perms))
    inner = np.zeros((h, w), bool)
    inner[m:h - m, m:w - m] = True
    cipher_at = cipher_positions(block_perm)
    order = edge_order(rows, cols)
    weights = {(direction, reach): fit_directional(plain, inner, direction, m, reach)
               for direction in {d for _, d in order} for reach in REACHES}
    candidate_starts = candidates if candidates is not None else np.zeros((perms.shape[0], 0), np.int64)

    def solve(item: tuple[int, tuple[int, int]]) -> np.ndarray:
        """One edge position's best key; its block of ``plain`` left decrypted under it."""
        p, direction = item
        r0, c0 = (p // cols) * m, (p % cols) * m
        block = position_window(p, cols, m)

        def residuals() -> np.ndarray:  # the block's squared residual under each reach's predictor
            return np.array([_block_residual(plain, weights[direction, reach], r0, c0, m, direction, reach)
                             for reach in REACHES])

        best_residuals, best_key, best_block = residuals(), perms[p], plain[block].copy()
        cipher = nib[:, cipher_at[p]].astype(plain.dtype)
        starts = [perms[p]] + [with_first_pixel(perms[p], int(c)) for c in candidate_starts[p] if perms[p][c] != 3 * m * m]
        for start in starts:
            for reach in REACHES:
                key = _peel_block(plain, weights[direction, reach], cipher, start, r0, c0, m, direction, reach)
                new = residuals()
                if (new < best_residuals).all():
                    best_residuals, best_key, best_block = new, key, plain[block].copy()
        plain[block] = best_block
        return best_key

    # A non-corner edge block reads only itself and its inner neighbour, so those are solved side by side; each
    # corner reads its horizontal neighbour, an edge block, so the corners (last in ``order``) follow.
    corners = {0, cols - 1, (rows - 1) * cols, rows * cols - 1}
    sides = [item for item in order if item[0] not in corners]
    out = perms.copy()
    for (p, _), key in zip(sides, map_positions(solve, sides)):
        out[p] = key
    for item in order:
        if item[0] in corners:
            out[item[0]] = solve(item)
    return out, int((out != perms).any(axis=1).sum())


def edge_order(rows: int, cols: int) -> list[tuple[int, tuple[int, int]]]:
    """The image-edge block positions with the direction (dy, dx) in which their decided neighbour lies:
    the four edges first (from the inner block beside them), then the corners (from their now solved
    horizontal neighbour)."""
    order = []
    for p in range(rows * cols):
        r, c = divmod(p, cols)
        if r in (0, rows - 1) and c in (0, cols - 1):
            continue
        if c == 0 or c == cols - 1:
            order.append((p, (0, 1 if c == 0 else -1)))
        elif r == 0 or r == rows - 1:
            order.append((p, (1 if r == 0 else -1, 0)))
    for p in (0, cols - 1, (rows - 1) * cols, rows * cols - 1):
        order.append((p, (0, 1 if p % cols == 0 else -1)))
    return order


def _offsets(direction: tuple[int, int], reach: tuple[int, int]) -> list[tuple[int, int]]:
    """The (dy, dx) a predictor of ``reach`` (depth, width) reads: ``depth`` pixels behind along ``direction``,
    each with ``width`` on either side."""
    (dy, dx), (depth, width) = direction, reach
    return [(j * dy + e * dx, j * dx + e * dy) for j in range(1, depth + 1) for e in range(-width, width + 1)]


def _features(plain: np.ndarray, rows: np.ndarray, cols: np.ndarray, direction: tuple[int, int], m: int,
              reach: tuple[int, int], images: np.ndarray | None = None) -> np.ndarray:
    """(n, k, F) features of the k pixels (rows, cols) on every image, or (k, F) on ``images`` (one image per
    pixel): the predictor's pixels behind each (:func:`_offsets`, every channel), and a constant. Sideways the
    reach stays within the pixel's own block (the edge blocks beside it may not be solved yet). ``plain``: C-ordered
    (n, H, W, 3) images, so that every feature pixel is one gather of three adjacent values."""
    n, h, w, _ = plain.shape
    side_rows = direction[1] != 0  # peeling columns: the sideways reach runs along the rows
    lo_r, lo_c = (rows // m) * m, (cols // m) * m
    at = []  # per offset, each pixel's feature pixel as an index into the flattened H x W grid
    for oy, ox in _offsets(direction, reach):
        r = np.clip(rows + oy, lo_r, lo_r + m - 1) if side_rows else rows + oy
        c = cols + ox if side_rows else np.clip(cols + ox, lo_c, lo_c + m - 1)
        at.append(np.clip(r, 0, h - 1) * w + np.clip(c, 0, w - 1))
    pixels = plain.reshape(n, h * w, 3)  # a view (C-ordered ``plain``)
    index = np.stack(at, axis=-1)  # (k, offsets)
    vals = np.take(pixels, index, axis=1) if images is None else pixels[images[:, None], index]  # (..., k, offsets, 3)
    vals = vals.reshape(vals.shape[:-2] + (-1,))  # offset by offset, every channel
    return np.concatenate([vals, np.ones(vals.shape[:-1] + (1,), vals.dtype)], axis=-1)


def fit_directional(plain: np.ndarray, inner: np.ndarray, direction: tuple[int, int], m: int,
                    reach: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(3, F) least-squares weights, per channel, predicting a pixel from the pixels behind it along ``direction``
    (:func:`_features`): fitted on pixels of the inner blocks (``inner``, (H, W) bool) only."""
    n = plain.shape[0]
    ii, jj = np.nonzero(inner)
    pick = np.random.default_rng(seed).choice(n * ii.size, min(FIT_SAMPLES, n * ii.size), replace=False)
    img, cell = np.divmod(pick, ii.size)
    feats = _features(plain, ii[cell], jj[cell], direction, m, reach, images=img)
    feats = feats.astype(np.float64)  # fitted in double precision whatever the images' precision
    return np.stack([np.linalg.lstsq(feats, plain[img, ii[cell], jj[cell], ch], rcond=None)[0] for ch in range(3)])


def _predict(plain: np.ndarray, weights: np.ndarray, rows: np.ndarray, cols: np.ndarray,
             direction: tuple[int, int], m: int, reach: tuple[int, int]) -> np.ndarray:
    """(n, len(rows), 3): each pixel's value as the pixels behind it predict it."""
    return _features(plain, rows, cols, direction, m, reach) @ weights.T.astype(plain.dtype)


def _layers(r0: int, c0: int, m: int, direction: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The block's rows or columns of pixels as (rows, cols) index arrays, nearest the decided side first."""
    dy, dx = direction
    line = np.arange(m)
    depth = [m - 1 - t if (dx == 1 or dy == 1) else t for t in range(m)]
    if dx:
        return [(r0 + line, np.full(m, c0 + t)) for t in depth]
    return [(np.full(m, r0 + t), c0 + line) for t in depth]


def _block_residual(plain: np.ndarray, weights: np.ndarray, r0: int, c0: int, m: int,
                    direction: tuple[int, int], reach: tuple[int, int]) -> float:
    """Squared residual of the directional predictor over the block's pixels."""
    ii, jj = (g.ravel() for g in np.meshgrid(np.arange(r0, r0 + m), np.arange(c0, c0 + m), indexing="ij"))
    residual = _predict(plain, weights, ii, jj, direction, m, reach) - plain[:, ii, jj, :]
    return float(np.square(residual).sum(dtype=np.float64))


def _peel_block(plain: np.ndarray, weights: np.ndarray, cipher: np.ndarray, perm: np.ndarray, r0: int, c0: int,
                m: int, direction: tuple[int, int], reach: tuple[int, int]) -> np.ndarray:
    """One position's key solved layer by layer from the ``direction`` side (``cipher``: (n, 2d) its cipher
    nibbles); writes each decided layer into ``plain``, which the next layer's prediction reads."""
    d = 3 * m * m
    sign_high, sign_low = _signs(perm, d, high=True), _signs(perm, d, high=False)
    holder_d = int(np.flatnonzero(perm == d)[0])  # stays (see the module docstring)
    free_high = np.flatnonzero(perm > d)
    free_low = np.flatnonzero(perm < d)
    out = perm.copy()
    by_nibble = np.ascontiguousarray(cipher.T)
    for rows, cols in _layers(r0, c0, m, direction):
        target = _predict(plain, weights, rows, cols, direction, m, reach).reshape(plain.shape[0], -1)  # (n, 3 m)
        slots = (((rows - r0) * m + (cols - c0))[:, None] * 3 + np.arange(3)[None, :]).ravel()  # plain slots
        pinned = slots == 0  # plain high nibble d belongs to slot 0
        low, low_of = np.full_like(target, 7.5), None
        highs, lows = _Candidates(by_nibble, free_high), _Candidates(by_nibble, free_low)
        for _ in range(ALTERNATIONS):
            high_of = np.full(slots.size, holder_d)
            free = ~pinned
            high_of[free] = highs.assign((target[:, free] - low[:, free]) / 16.0, sign_high[slots[free]])
            high = _values(cipher, high_of, sign_high[slots])
            previous, low_of = low_of, lows.assign(target - 16.0 * high, sign_low[slots])
            if previous is not None and np.array_equal(previous, low_of):
                break  # the lows as before: another alternation would choose the same highs and lows again
            low = _values(cipher, low_of, sign_low[slots])
        out[high_of] = d + slots
        out[low_of] = slots
        free_high = np.setdiff1d(free_high, high_of)
        free_low = np.setdiff1d(free_low, low_of)
        plain[:, rows, cols, :] = (16.0 * high + low).reshape(-1, rows.size, 3)
    return out


def _values(cipher: np.ndarray, holders: np.ndarray, negated: np.ndarray) -> np.ndarray:
    """(n, k) plain nibble values of cipher nibbles ``holders`` at slots negated where ``negated`` says."""
    v = cipher[:, holders]
    return np.where(negated[None, :], 15.0 - v, v)


class _Candidates:
    """The cipher nibbles a layer may still take (``holders``, indices into the (n, 2d) cipher nibbles), gathered once
    for the layer's alternations from ``by_nibble``, the (2d, n) transposed nibbles (rows gather fast; the values
    come out laid out as a column gather of the (n, 2d) nibbles would lay them out, so the products sum alike)."""

    def __init__(self, by_nibble: np.ndarray, holders: np.ndarray) -> None:
        self.holders = holders
        self.values = by_nibble[holders].T
        self.squares = (self.values * self.values).sum(axis=0)

    def assign(self, target: np.ndarray, negated: np.ndarray) -> np.ndarray:
        """For each of target's k slots, the distinct candidate whose value (negated where the slot says) is nearest
        its target values in squared error over the samples: linear assignment."""
        slot_rows, picked = linear_sum_assignment(placement_cost(self.values, target, negated, self.squares).T)
        out = np.empty(target.shape[1], np.int64)
        out[slot_rows] = self.holders[picked]
        return out
