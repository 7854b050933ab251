"""Which cipher bytes are the three channels of one pixel.

A byte's most correlated partners are its spatial neighbours in the same channel and the other channels
of its own pixel, at nearly equal correlation, so correlation alone cannot tell them apart. Their
*differences* can: the difference of two channels of one pixel is a colour (chroma) signal, and colour
casts are shared by the whole image (a blue sky, a green field), while the difference of two neighbours
in one channel is a local gradient. So the leading principal directions (in sample space) of the
differences of strongly correlated pairs are the images' colour casts, and every byte's correlation
with them says which channel it is: a red byte follows the image's redness wherever it sits. Bytes are
clustered into three equal channels by these loadings; a pixel is then one byte of each channel,
matched by linear assignment on correlation (a pixel's own channels correlate more than a neighbour's).

The loadings alone mislabel a few per cent of the bytes at n = 100. The pairs whose difference the
colour casts explain *least* are neighbours within one channel (99.9 % of them at n = 100), so the
connected components of those pairs are whole channel sheets: the three largest seed the channels, and
every smaller component joins the channel whose mean loading is nearest, as one piece.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..matching import capacitated_assignment

#: Colour-cast directions, candidate partners per byte, k-means restarts, and the quantiles of the
#: colour-explained fraction below which a pair is trusted as "same channel" (tried in order).
CAST_DIRECTIONS = 2
CANDIDATES = 12
RESTARTS = 8
SAME_CHANNEL_QUANTILES = (0.5, 0.4, 0.3, 0.2)


def top_partners(corr: np.ndarray, k: int) -> np.ndarray:
    """(D, k) the k most correlated other positions of each position (unordered)."""
    c = corr.copy()
    np.fill_diagonal(c, -np.inf)
    return np.argpartition(-c, k, axis=1)[:, :k]


def candidate_pairs(partners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique unordered pairs (i < j) among every position's partners."""
    d, k = partners.shape
    i = np.repeat(np.arange(d), k)
    j = partners.ravel()
    key = np.unique(np.minimum(i, j) * d + np.maximum(i, j))
    return key // d, key % d


def colour_loadings(z: np.ndarray, corr: np.ndarray, r: int = CAST_DIRECTIONS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every byte's correlation with the r leading directions of strongly correlated pairs' differences
    (D, r), and the candidate pairs (i, j) with the fraction of their difference those directions explain."""
    i, j = candidate_pairs(top_partners(corr, min(CANDIDATES, corr.shape[0] - 1)))
    diff = z[:, i] - z[:, j]
    diff /= np.linalg.norm(diff, axis=0, keepdims=True) + 1e-9
    gram = (diff @ diff.T).astype(np.float64)  # n x n: the left singular vectors of diff
    _, vecs = np.linalg.eigh(gram)
    u = vecs[:, ::-1][:, :r].astype(np.float32)
    explained = ((u.T @ diff) ** 2).sum(axis=0)
    return (z.T @ u) / np.float32(np.sqrt(z.shape[0])), i, j, explained


def channel_labels(loadings: np.ndarray, i: np.ndarray, j: np.ndarray, explained: np.ndarray, k: int) -> np.ndarray:
    """(D,) channel of every byte, k equal channels: sheets of same-channel pairs, else balanced k-means."""
    d = loadings.shape[0]
    size = d // k
    for q in SAME_CHANNEL_QUANTILES:
        keep = explained < np.quantile(explained, q)
        graph = coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(d, d))
        count, comp = connected_components(graph, directed=False)
        sizes = np.bincount(comp, minlength=count)
        seeds = np.argsort(-sizes, kind="stable")[:k]
        if count >= k and sizes[seeds].min() >= size // 2 and sizes[seeds].max() <= size:
            break
    else:
        return balanced_clusters(loadings, k)
    labels = np.full(d, -1)
    for c, s in enumerate(seeds):
        labels[comp == s] = c
    centres = np.stack([loadings[labels == c].mean(0) for c in range(k)])
    room = size - np.bincount(labels[labels >= 0], minlength=k)
    rest = [c for c in np.argsort(-sizes, kind="stable") if c not in set(seeds.tolist())]
    for c in rest:  # largest first, as one piece where it fits
        members = np.flatnonzero(comp == c)
        order = np.argsort(((loadings[members].mean(0) - centres) ** 2).sum(-1))
        fit = next((int(t) for t in order if room[t] >= members.size), None)
        if fit is not None:
            labels[members] = fit
            room[fit] -= members.size
    left = np.flatnonzero(labels < 0)
    if left.size:  # pieces too big for the room left: byte by byte
        cost = ((loadings[left][:, None, :] - centres[None]) ** 2).sum(-1)
        labels[left] = capacitated_assignment(cost, room)
    return labels


def balanced_clusters(features: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(D,) labels of k equal clusters: k-means (best of :data:`RESTARTS`), then an equal-size assignment."""
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(RESTARTS):
        centres, labels = kmeans2(features.astype(np.float64), k, minit="++", seed=rng, iter=30)
        inertia = float(((features - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, centres)
    assert best is not None
    centres = best[1]
    size = features.shape[0] // k
    for _ in range(5):
        cost = ((features[:, None, :] - centres[None]) ** 2).sum(-1)
        labels = capacitated_assignment(cost, [size] * k)
        new = np.stack([features[labels == c].mean(0) for c in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return labels


def group_pixels(z: np.ndarray, corr: np.ndarray, channels: int = 3) -> np.ndarray:
    """(D / channels, channels) cipher byte positions grouped into pixels, column c = channel cluster c."""
    d = corr.shape[0]
    if d % channels:
        raise ValueError(f"{d} byte positions do not split into pixels of {channels} channels")
    labels = channel_labels(*colour_loadings(z, corr), channels)
    members = [np.flatnonzero(labels == c) for c in range(channels)]
    pixels = members[0][:, None]
    for other in members[1:]:
        score = sum(corr[np.ix_(pixels[:, c], other)] for c in range(pixels.shape[1]))
        rows, cols = linear_sum_assignment(-score)
        pixels = np.concatenate([pixels[rows], other[cols][:, None]], axis=1)
    return pixels
