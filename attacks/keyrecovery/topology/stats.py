"""Pooled statistics of cipher byte positions: standardised samples, correlations, relative polarity.

Every member of family F moves bytes and negates some of them (XOR 255) with one key for all images, so
cipher position j over n ciphertexts is a sample of one plain position, possibly negated. Natural
images correlate strongly and positively at nearby positions, so the sign of a strong correlation is the
relative polarity of its two positions. (The signs of the correlation matrix's leading eigenvector, the
textbook answer, flip whole weakly coupled regions at n = 100; a maximum spanning tree does not.)
"""

from __future__ import annotations

import numpy as np


def standardise(samples: np.ndarray) -> np.ndarray:
    """(n, D) values -> float32 (n, D) with zero mean and unit variance per column (constant columns: zero)."""
    z = np.asarray(samples, dtype=np.float32).copy()
    z -= z.mean(axis=0, keepdims=True)
    sd = np.sqrt((z * z).mean(axis=0, keepdims=True))
    z /= np.where(sd > 1e-6, sd, np.inf)
    return z


def correlation(z: np.ndarray) -> np.ndarray:
    """(D, D) float32 correlation matrix of standardised samples (n, D)."""
    return (z.T @ z) / np.float32(max(z.shape[0], 1))


def tree_polarity(corr: np.ndarray, partners: int = 8) -> np.ndarray:
    """(D,) +1/-1 relative polarity from a maximum spanning tree of |correlation| over every position's
    ``partners`` strongest partners: along a tree edge the sign of the correlation is the relative sign
    (|r| ~ 0.9 between neighbours, never negative in natural images), so every position is settled by its
    strongest chain to the root. Disconnected parts (rare) take the eigenvector's signs, aligned by vote."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

    d = corr.shape[0]
    c = np.abs(corr)
    np.fill_diagonal(c, -np.inf)
    top = np.argpartition(-c, partners, axis=1)[:, :partners]
    rows = np.repeat(np.arange(d), partners)
    strength = np.take_along_axis(c, top, axis=1).ravel()
    graph = coo_matrix((2.0 - strength, (rows, top.ravel())), shape=(d, d)).tocsr()  # positive weights: 1..2
    tree = minimum_spanning_tree(graph)
    tree = (tree + tree.T).tocsr()
    s = np.zeros(d, np.float32)
    count, comp = connected_components(tree, directed=False)
    for k in range(count):
        root = int(np.flatnonzero(comp == k)[0])
        order, pred = breadth_first_order(tree, root, directed=False, return_predecessors=True)
        s[root] = 1.0
        for node in order[1:]:
            parent = pred[node]
            s[node] = s[parent] * (1.0 if corr[parent, node] >= 0 else -1.0)
    if count > 1:  # align each part with the largest by the sign of their summed correlation
        main = int(np.argmax(np.bincount(comp)))
        inside = comp == main
        for k in range(count):
            if k != main:
                part = comp == k
                vote = float((corr[np.ix_(part, inside)] * s[part][:, None] * s[inside][None, :]).sum())
                if vote < 0:
                    s[part] *= -1.0
    return s if s.sum() >= 0 else -s
