"""The byte-level refinement of a laid-out map (attacks/keyrecovery/topology/refine.py): every refill is the exact
linear assignment of its slot class, so the energy never rises, and the refill costs (a sparse product) are their
definition, each slot's distances summed over its lattice neighbours, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from ppbench.attacks.keyrecovery.topology.refine import energy, lattice_neighbours, refill_costs, refine_bytes, slot_classes


def _refill_costs_by_definition(flat: np.ndarray, slots: np.ndarray, nbr: np.ndarray, wts: np.ndarray,
                                dist: np.ndarray) -> np.ndarray:
    """Slot i's cost for the byte of slot j written out: the gathered (m, K, m) array summed over the K neighbours."""
    return np.einsum("mkj,mk->mj", dist[:, flat[slots]][flat[np.maximum(nbr[slots], 0)]], wts[slots])


def _smooth_distances(c: int, h: int, w: int, seed: int) -> np.ndarray:
    """sqrt(2 (1 - r)) of bytes whose correlation falls with lattice distance, plus noise: a natural image's shape."""
    cc, yy, xx = (a.ravel() for a in np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij"))
    far = np.abs(yy[:, None] - yy[None]) + np.abs(xx[:, None] - xx[None]) + 0.5 * (cc[:, None] != cc[None])
    noise = np.random.default_rng(seed).normal(0.0, 0.02, far.shape)
    r = np.clip(np.exp(-far / 3.0) + (noise + noise.T) / 2, -1.0, 1.0)
    return np.sqrt(2.0 * (1.0 - r))


@pytest.mark.parametrize("shape, seed", [((3, 8, 8), 0), ((3, 6, 10), 1), ((1, 9, 9), 2)])
def test_refill_costs_equal_their_definition_bit_for_bit(shape, seed):
    dist = _smooth_distances(*shape, seed)
    rng = np.random.default_rng(seed)
    flat = rng.permutation(dist.shape[0])
    nbr, wts = lattice_neighbours(*shape)
    for slots in slot_classes(*shape) + [np.sort(rng.choice(flat.size, flat.size // 4, replace=False))]:
        assert np.array_equal(refill_costs(flat, slots, nbr, wts, dist),
                              _refill_costs_by_definition(flat, slots, nbr, wts, dist))


@pytest.mark.parametrize("shape, seed", [((3, 8, 8), 0), ((3, 6, 10), 1), ((1, 9, 9), 2)])
def test_refinement_of_a_rough_map_never_raises_the_energy_and_keeps_every_byte(shape, seed):
    dist = _smooth_distances(*shape, seed)
    rng = np.random.default_rng(seed)
    source = np.arange(dist.shape[0]).reshape(shape)
    scrambled = source.copy()
    for _ in range(30):  # a rough map: random pairs of slots exchanged
        a, b = rng.choice(source.size, 2, replace=False)
        scrambled.flat[a], scrambled.flat[b] = scrambled.flat[b], scrambled.flat[a]
    refined, sweeps = refine_bytes(scrambled, dist, max_sweeps=5)
    assert 1 <= sweeps <= 5
    assert np.array_equal(np.sort(refined.ravel()), np.arange(source.size))  # still a permutation of the bytes
    assert energy(refined, dist) < energy(scrambled, dist)  # 30 exchanges leave something to mend
