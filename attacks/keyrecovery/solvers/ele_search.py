"""A deeper search for the layout of one ELE position's high nibbles: iterated local search from every
candidate, keeping the lowest energy. Moves: swaps of two items, and swaps of two whole pixels
(their three channels together, which single swaps cannot move: the same-pixel terms hold them); kicks: a
few random swaps of either kind.

With few samples (about 100 at 32 x 32) the one descent per candidate of :mod:`.le_reading` can stop in a
local minimum although the true layout scores lower; the kicks let the search leave it. Seeded, so a
position's result repeats.
"""

from __future__ import annotations

import numpy as np

from ..geometry import grid_adjacent
from ..layout import pair_swap_search
from .le_reading import _le_energy_terms

#: Kicks tried per start (each: a few random swaps, then a descent), and swaps per kick.
KICKS = 300
KICK_SWAPS = (2, 6)


def _descend(layout: np.ndarray, d_in: np.ndarray, m: int, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Alternate the best-swap descents over items and over whole pixels until neither improves."""
    zeros = np.zeros(pa.size, np.int64)
    ga, gb = grid_adjacent(m)
    gzeros = np.zeros(ga.size, np.int64)
    layout = layout.copy()
    energy = float(d_in[layout[pa], layout[pb]].sum())
    for _ in range(20):
        layout = pair_swap_search(layout, d_in[None], pa, pb, zeros)
        triples = layout.reshape(-1, 3)
        pixel_dist = d_in[triples[:, None, :], triples[None, :, :]].sum(-1)  # same channel slot, two pixels
        order = pair_swap_search(np.arange(m * m), pixel_dist[None], ga, gb, gzeros)
        if np.array_equal(order, np.arange(m * m)):
            # no pixel moved: the layout is what the item search returned, a fixed point of it (the search is
            # deterministic and stops where no swap improves), so another round would change nothing
            break
        layout = triples[order].ravel()
        new = float(d_in[layout[pa], layout[pb]].sum())
        if new >= energy - 1e-9:
            break
        energy = new
    return layout


def deeper_layout(starts: list[np.ndarray], d_in: np.ndarray, m: int, kicks: int = KICKS, seed: int = 0
                  ) -> tuple[float, np.ndarray]:
    """Iterated local search from each of ``starts`` (layouts (M^2, 3)): the lowest (energy, layout) found."""
    pa, pb, kind = _le_energy_terms(m)
    inside = kind == 0
    pa, pb = pa[inside], pb[inside]
    rng = np.random.default_rng(seed)
    found: tuple[float, np.ndarray] | None = None
    for start in starts:
        best = _descend(start.ravel(), d_in, m, pa, pb)
        best_e = float(d_in[best[pa], best[pb]].sum())
        for _ in range(kicks):
            trial = best.reshape(-1, 3).copy()
            for _ in range(int(rng.integers(KICK_SWAPS[0], KICK_SWAPS[1] + 1))):
                if rng.random() < 0.5:  # two whole pixels
                    i, j = rng.choice(m * m, 2, replace=False)
                    trial[[i, j]] = trial[[j, i]]
                else:  # two items
                    flat = trial.ravel()
                    i, j = rng.choice(flat.size, 2, replace=False)
                    flat[i], flat[j] = flat[j], flat[i]
            trial = _descend(trial.ravel(), d_in, m, pa, pb)
            e = float(d_in[trial[pa], trial[pb]].sum())
            if e < best_e - 1e-9:
                best_e, best = e, trial
        if found is None or best_e < found[0] - 1e-9:
            found = (best_e, best.reshape(-1, 3))
    assert found is not None
    return found
