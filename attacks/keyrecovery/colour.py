"""The 48 colour transforms of a pixel (6 channel orders x 8 negation patterns) and their synchronisation
over the pixel grid: PE's key is one such transform per pixel, shared by every image.

:func:`synchronise_pixels` reads every pixel's transform relative to its neighbours from pooled
statistics of many ciphertexts (natural images are smooth), leaving one global transform open.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

from .base import CHANNEL_ORDERS, NEGATION_PATTERNS


def apply_colour(images: np.ndarray, order: int, pattern: int) -> np.ndarray:
    """Output channel c = input channel CHANNEL_ORDERS[order][c], then 255 - v where the pattern says.
    Channels are axis 1 of a batch (n, 3, H, W), else axis 0 ((3, H, W) or (3,))."""
    axis = 1 if images.ndim == 4 else 0
    out = np.take(images, CHANNEL_ORDERS[order], axis=axis).astype(np.float64)
    neg = NEGATION_PATTERNS[pattern].reshape((3,) + (1,) * (images.ndim - axis - 1))
    return np.where(neg, 255.0 - out, out)


@functools.lru_cache(maxsize=1)
def colour_group() -> tuple[np.ndarray, np.ndarray]:
    """The 48 (order, pattern) transforms of a pixel as a group: ``compose[a, b]`` (a after b), ``inverse``.
    Element index = 8 * order + pattern (the order the known-plaintext solver tries them in)."""
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


def edge_tables(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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
    compose, inverse = colour_group()
    n, _, h, w = y.shape
    yf = y.astype(np.float64)
    big = 1e18
    mask = np.full(48, big)
    mask[allowed] = 0.0
    ch = np.zeros((48, h, w - 1))
    for i in range(h):
        ch[:, i] = edge_tables(yf[:, :, i, :-1], yf[:, :, i, 1:])
    cv = np.zeros((48, h - 1, w))
    for j in range(w):
        cv[:, :, j] = edge_tables(yf[:, :, :-1, j], yf[:, :, 1:, j])
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


def decode_pixels(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Apply per-pixel transforms (H, W) to ciphertexts (n, 3, H, W)."""
    orders = CHANNEL_ORDERS[labels // 8].transpose(2, 0, 1)  # (3, H, W)
    neg = NEGATION_PATTERNS[labels % 8].transpose(2, 0, 1)
    moved = np.take_along_axis(y.astype(np.float64), np.broadcast_to(orders, y.shape), axis=1)
    return np.where(neg[None], 255.0 - moved, moved)
