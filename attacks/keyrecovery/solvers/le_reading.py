"""Reading one LE nibble key from ciphertexts alone: samples of blocks that share the key (every block of
every image for LE; one cipher block position over n images for ELE) -> the permutation P of 2d nibbles.

Steps (:func:`le_key`): (1) high nibbles are the d positions with the strongest pooled correlations (low
nibbles of natural images are nearly noise); (2) their relative negation from the leading eigenvector of
their correlation matrix; (3) their grouping into channels (spectral clustering, the positions' means, or
their value histograms) and (4) each channel's layout on the block grid, seams to the neighbouring block
settling the square's symmetries; (5) each low nibble goes to the pixel whose predicted fine part it
correlates with best; (6) the global channel order and negative are settled by the key's own structure:
LE's mask is derived from P (r = P > d), so only the right reading explains every observed polarity.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Iterator

import numpy as np
import scipy.linalg
from scipy.optimize import linear_sum_assignment

from ..base import CHANNEL_ORDERS
from ..geometry import dihedral_grids, grid_adjacent, le_negated
from ..layout import binary_grid_optimum, grid_layout_with_neighbours, pair_swap_search, pooled_l1

#: Work budget of LE's pooled distances (items^2 x block samples): caps the samples at about 850 blocks at
#: M = 16 (plenty for 224 x 224 images, where one ciphertext suffices) and never binds at M = 4.
DISTANCE_BUDGET = 5e8


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
    group laid out alone first, then each group as the anchor; see step 4 of :func:`le_key`."""
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
        per_group[:, gidx] = items[grid_layout_with_neighbours(d_in[sub], d_right[sub], d_down[sub], m)]
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
        bits = binary_grid_optimum(e, p_idx, q_idx, m)
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


def high_nibbles(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1-2 of :func:`le_key` on block samples (samples, 2d): the cipher positions of the high nibbles,
    those of the low ones, and the highs' negation relative to each other (the global one stays open)."""
    d = samples.shape[1] // 2
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
    return high, low, flip_high


def candidate_groupings(d_in: np.ndarray, flat: np.ndarray) -> list[np.ndarray]:
    """Step 3 of :func:`le_key`: candidate splits of the d highs into three groups of M^2 (the channels),
    from their pooled distances ``d_in`` (d, d) and their values ``flat`` (samples, d)."""
    d = d_in.shape[0]
    # Candidate groupings: spectral (clean when spatial neighbours dominate, as at M = 16); the positions'
    # mean values split in thirds (the channels' brightness differs: blue darkest); balanced clustering of
    # the positions' value histograms (the channels' distributions differ in shape).
    hist = np.stack([(flat == v).mean(axis=0) for v in range(16)], axis=1)  # (d, 16)
    return [spectral_grouping(d_in), np.argsort(np.argsort(flat.mean(axis=0))) * 3 // d, _balanced_kmeans(hist, 3)]


def spectral_grouping(d_in: np.ndarray) -> np.ndarray:
    """Three equal groups of the highs from their 4 nearest neighbours' graph (spatial neighbours of one
    channel are the closest pairs): the first of :func:`candidate_groupings`."""
    d = d_in.shape[0]
    scale = np.median(d_in[d_in > 0]) if (d_in > 0).any() else 1.0
    knn = np.argsort(d_in + np.eye(d) * 1e9, axis=1)[:, : min(4, d - 1)]
    affinity = np.zeros((d, d))
    rr = np.repeat(np.arange(d), knn.shape[1])
    affinity[rr, knn.ravel()] = np.exp(-d_in[rr, knn.ravel()] / scale)
    affinity = np.maximum(affinity, affinity.T)
    return _balanced_clusters(affinity, 3)


def le_key(nib: np.ndarray, m: int, dihedral: bool = False) -> tuple[float, np.ndarray]:
    """One LE nibble key from block samples ``nib`` (n, R, C, 2d) that share it: (mask agreement, P).

    LE: the R x C blocks of every image (blocks stay in place, so seams to the neighbouring blocks fix
    the layout's symmetry). ELE: one cipher block position over n images (R = C = 1, no seams); then the
    8 symmetries of the block's pixel grid are also read through the derived mask (``dihedral``).
    """
    n, rows, cols, two_d = nib.shape
    d = two_d // 2
    high, low, flip_high = high_nibbles(nib.reshape(-1, 2 * d))
    hv = np.where(flip_high, 15.0 - nib[..., high], nib[..., high]).reshape(n, rows, cols, d)
    # 3. Channels: three groups of M^2 highs (spatial neighbours of one channel are the closest pairs).
    flat = hv.reshape(-1, d)
    limit = max(64, int(DISTANCE_BUDGET / d**2))
    cap = lambda x: x[:: -(-x.shape[0] // limit)].T  # noqa: E731 - every k-th sample: enough, bounded time
    d_in = pooled_l1(cap(flat))
    no_seam = np.zeros((d, d))
    d_right = pooled_l1(cap(hv[:, :, :-1].reshape(-1, d)), cap(hv[:, :, 1:].reshape(-1, d))) if cols > 1 else no_seam
    d_down = pooled_l1(cap(hv[:, :-1].reshape(-1, d)), cap(hv[:, 1:].reshape(-1, d))) if rows > 1 else no_seam
    groupings = candidate_groupings(d_in, flat)
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
    """Steps 5 and 6 of :func:`le_key` for one layout of the high nibbles: place the low nibbles, then
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
        agree = float((le_negated(perm) == pol).mean())
        if best is None or agree > best[0]:
            best = (agree, perm)
    assert best is not None
    return best
