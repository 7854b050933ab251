"""The byte-level refinement of a laid-out map (attacks/keyrecovery/topology/refine.py): every refill is the exact
linear assignment of its slot class, so the energy never rises, and the map it returns is the one the definition
gives (each slot's cost summed over its lattice neighbours) bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from ppbench.attacks.keyrecovery.topology.refine import TOLERANCE, energy, lattice_neighbours, refine_bytes


def _refine_by_definition(source: np.ndarray, dist: np.ndarray, max_sweeps: int) -> np.ndarray:
    """The refinement written out: slot m's cost for item j is sum_k w[m, k] dist[neighbour byte k of m, j]."""
    c, h, w = source.shape
    nbr, wts = lattice_neighbours(c, h, w)
    flat = source.ravel().copy()
    cc, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    classes = [np.flatnonzero(((cc - f) % 3 == k).ravel())
               for f in ((yy + xx), (yy + 2 * xx), (2 * yy + xx), (yy - xx)) for k in range(3)]
    total = energy(source, dist) / 2.0
    for _ in range(max_sweeps):
        moved, gain = 0, 0.0
        for slots in classes:
            items = flat[slots]
            around = flat[np.maximum(nbr[slots], 0)]
            cost = np.einsum("mkj,mk->mj", dist[:, items][around], wts[slots])
            _, pick = linear_sum_assignment(cost)
            rows = np.arange(slots.size)
            drop = float(cost[rows, rows].sum() - cost[rows, pick].sum())
            if drop > 1e-6:
                moved += int((pick != rows).sum())
                gain += drop
                flat[slots] = items[pick]
        total -= gain
        if not moved or gain < TOLERANCE * total:
            break
    return flat.reshape(c, h, w)


def _smooth_distances(c: int, h: int, w: int, seed: int) -> np.ndarray:
    """sqrt(2 (1 - r)) of bytes whose correlation falls with lattice distance, plus noise: a natural image's shape."""
    cc, yy, xx = (a.ravel() for a in np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij"))
    far = np.abs(yy[:, None] - yy[None]) + np.abs(xx[:, None] - xx[None]) + 0.5 * (cc[:, None] != cc[None])
    noise = np.random.default_rng(seed).normal(0.0, 0.02, far.shape)
    r = np.clip(np.exp(-far / 3.0) + (noise + noise.T) / 2, -1.0, 1.0)
    return np.sqrt(2.0 * (1.0 - r))


@pytest.mark.parametrize("shape, seed", [((3, 8, 8), 0), ((3, 6, 10), 1), ((1, 9, 9), 2)])
def test_refinement_returns_the_definitions_map_bit_for_bit_and_never_raises_the_energy(shape, seed):
    dist = _smooth_distances(*shape, seed)
    rng = np.random.default_rng(seed)
    source = np.arange(dist.shape[0]).reshape(shape)
    scrambled = source.copy()
    for _ in range(30):  # a rough map: random pairs of slots exchanged
        a, b = rng.choice(source.size, 2, replace=False)
        scrambled.flat[a], scrambled.flat[b] = scrambled.flat[b], scrambled.flat[a]
    refined, sweeps = refine_bytes(scrambled, dist, max_sweeps=5)
    assert np.array_equal(refined, _refine_by_definition(scrambled, dist, 5))
    assert 1 <= sweeps <= 5
    assert np.array_equal(np.sort(refined.ravel()), np.arange(source.size))  # still a permutation of the bytes
    assert energy(refined, dist) <= energy(scrambled, dist) + 1e-9
