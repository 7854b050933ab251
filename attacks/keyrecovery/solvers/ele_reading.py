"""Reading one ELE position's nibble key from its n block samples (one cipher block position over n
ciphertexts): LE's reading (:mod:`.le_reading`) without seams, with LE's derived mask used up front.

Steps (:func:`ele_key`): (1-4) as LE: the high nibbles, their relative negation, their channel groups and
each group's layout on the block grid (no seams: every group's layout is known up to the square's 8
symmetries); (5) the reading, i.e. each group's symmetry, the channel order and the global negative, is
the one whose derived mask (r = P > d, which the high/low split already fixes for every cipher position)
explains the highs' polarities; (6) each low nibble goes to the pixel whose predicted fine part it
correlates with best, the sign of that correlation being fixed by the same mask (a low nibble at plain
slot s is negated exactly when cipher position s holds a high), by linear assignment, refined with the
bytes it completes; the predictor is the mean of the pixel's in-block neighbours, corrected by the
pixel's other channels (their differences to their own neighbours), clipped to the nibble's range.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..geometry import dihedral_grids, le_negated
from ..layout import pooled_l1
from .ele_assembled import neighbour_mean_prediction
from .ele_search import deeper_layout
from .le_reading import _le_high_layout, candidate_groupings, high_nibbles, spectral_grouping

#: Refinements of the low nibbles' assignment with the bytes it completes.
LOW_ROUNDS = 4
#: Largest block size whose every candidate layout of the highs is tried (above it, only the first).
FULL_SEARCH_M = 4
#: Fewest block samples for the deeper layout search (:mod:`.ele_search`, a few seconds per position): below
#: it nearly no position is explained, so it would run on nearly all of them (minutes of CPU at n = 1-20,
#: where the tests of too few ciphertexts run); not measured whether it helps there.
DEEP_MIN_SAMPLES = 50


def ele_key(samples: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    """One ELE position's key from its block samples ``samples`` (n, 2d): (mask agreement, P).

    Tries LE's candidate layouts of the highs until one's key explains every polarity; from M = 8 on
    only the first (the spectral groups laid out alone), which is right when any is and costs a
    fraction of the others (anchor splits by ICM over M^2 pixels). Where none does (M <= 4, n >= 50), an
    iterated local search from every candidate (:mod:`.ele_search`) gives one more, the lowest-energy layout."""
    n, two_d = samples.shape
    d = two_d // 2
    samples = samples.astype(np.float64)
    high, low, flip_high = high_nibbles(samples)
    hv = np.where(flip_high, 15.0 - samples[:, high], samples[:, high])
    d_in = pooled_l1(hv.T)
    no_seam = np.zeros((d, d))
    groupings = candidate_groupings(d_in, hv) if m <= FULL_SEARCH_M else [spectral_grouping(d_in)]
    best: tuple[float, np.ndarray] | None = None
    starts: list[np.ndarray] = []
    for groups in groupings:
        for slots in _le_high_layout(d_in, no_seam, no_seam, groups, m):
            agree, perm = _ele_finish(slots, d_in, hv, samples, high, low, flip_high, m)
            if best is None or agree > best[0] + 1e-12:
                best = (agree, perm)
            if agree == 1.0 or m > FULL_SEARCH_M:
                return best
            starts.append(slots)
    if n < DEEP_MIN_SAMPLES:  # too few samples: skipped (see DEEP_MIN_SAMPLES)
        assert best is not None
        return best
    # No candidate explains every polarity: its descent may have stopped in a local minimum, so search deeper.
    _, slots = deeper_layout(starts, d_in, m)
    agree, perm = _ele_finish(slots, d_in, hv, samples, high, low, flip_high, m)
    if best is None or agree > best[0] + 1e-12:
        best = (agree, perm)
    assert best is not None
    return best


def _aligned(slots: np.ndarray, d_in: np.ndarray, m: int) -> np.ndarray:
    """The laid-out groups turned onto the first group's symmetry: groups laid out alone each have their
    own, and the same pixel's channels are closer to each other than to the channel's other pixels."""
    grids = dihedral_grids(m)
    out = slots.copy()
    for g in (1, 2):
        cost = [d_in[slots[:, 0], slots[t, g]].sum() for t in grids]
        out[:, g] = slots[grids[int(np.argmin(cost))], g]
    return out


def _high_reading(slots: np.ndarray, flip_high: np.ndarray, high: np.ndarray, m: int, d: int
                  ) -> tuple[np.ndarray, bool, int]:
    """Step 5: plain index of every high (by its index in ``high``) and the global negative: of the 8
    symmetries x 6 channel orders x 2 negatives, the reading whose derived mask explains the most high
    polarities (the mask on the highs depends only on where the highs go; the lows have r = 0).
    Returns (plain index per high, negative, highs explained)."""
    best: tuple[int, np.ndarray, bool] | None = None
    perm = np.zeros(2 * d, np.int64)  # lows left at 0: r = 0 there, which is all the highs' mask reads
    for pix in dihedral_grids(m):
        for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
            plain_of = np.empty(d, np.int64)
            plain_of[slots] = d + pix[:, None] * 3 + np.array(order)[None, :]  # laid-out cell c is plain pixel pix[c]
            perm[high] = plain_of
            negated = le_negated(perm)[high]
            for negative in (False, True):
                explained = int((negated == (flip_high ^ negative)).sum())
                if best is None or explained > best[0]:
                    best = (explained, plain_of, negative)
    assert best is not None
    return best[1], best[2], best[0]


def _predicted_fine(values: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(n, M, M, 3) byte estimates -> the fine part each pixel's in-block neighbours predict, clipped to 0..15
    (:func:`~.ele_assembled.neighbour_mean_prediction` on the block alone)."""
    return np.clip(neighbour_mean_prediction(values) - 16.0 * hi, 0.0, 15.0)


def _zscore(a: np.ndarray) -> np.ndarray:
    """Columns to zero mean and unit spread (correlations as one matrix product)."""
    return (a - a.mean(axis=0)) / (a.std(axis=0) + 1e-9)


def _ele_finish(slots: np.ndarray, d_in: np.ndarray, hv: np.ndarray, samples: np.ndarray, high: np.ndarray,
                low: np.ndarray, flip_high: np.ndarray, m: int) -> tuple[float, np.ndarray]:
    """Steps 5-6 for one layout of the highs: (mask agreement, permutation)."""
    n, d = hv.shape
    plain_of, negative, _ = _high_reading(_aligned(slots, d_in, m), flip_high, high, m, d)
    perm = np.empty(2 * d, np.int64)
    perm[high] = plain_of
    r = np.zeros(2 * d, bool)
    r[high] = plain_of > d  # the cipher position holding plain d has r = 0
    # plain slot s (pixel * 3 + channel) -> its high's values, as the plain image has them
    hi = np.empty((n, d))
    hi[:, plain_of - d] = 15.0 - hv if negative else hv
    sign = np.where(r[:d], -1.0, 1.0)  # a low at plain slot s is negated iff r[s]
    lo_z = _zscore(samples[:, low])
    values = 16.0 * hi + 7.5
    assigned = None
    for _ in range(LOW_ROUNDS):
        target = _predicted_fine(values.reshape(n, m, m, 3), hi.reshape(n, m, m, 3)).reshape(n, d)
        c = lo_z.T @ _zscore(target) / n  # (low positions, plain slots)
        rows, cols = linear_sum_assignment(-(c * sign[None, :]))
        new = np.empty(d, np.int64)
        new[cols] = rows  # plain slot -> index into ``low``
        if assigned is not None and np.array_equal(new, assigned):
            break
        assigned = new
        lo = samples[:, low[assigned]]
        values = 16.0 * hi + np.where(sign < 0, 15.0 - lo, lo)
    assert assigned is not None
    perm[low[assigned]] = np.arange(d)
    pol = np.empty(2 * d, bool)
    pol[high] = flip_high ^ negative
    pol[low[assigned]] = c[assigned, np.arange(d)] < 0  # the plain reading is fixed: a negated low anti-correlates
    return float((le_negated(perm) == pol).mean()), perm
