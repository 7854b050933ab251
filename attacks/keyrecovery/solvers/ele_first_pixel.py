"""Which cipher nibble holds plain nibble d, the high nibble of a block's first pixel (channel 0), settled again
once the blocks are placed.

The re-read (:mod:`.ele_assembled`) and the edge step (:mod:`.ele_edges`) keep d's holder as the in-block
reading found it: moving it flips LE's r at two cipher positions and with them the signs of two plain slots (the
slots whose indices are those positions, anywhere in the block). The reading, though, lays the first pixel out
from its neighbours, and where they are nearly equal (a block on the image's clamped edge, a smooth corner inside)
it can exchange it with the pixel beside or below it. Then two slots are read negated in every sample, and
neither later step can mend that (measured on the tests' 224 x 224 key, docs/benchmarks.md: 39 of 196 positions,
all of them among the worst). So each position's holder of d is moved in turn to the channel-0 high of each
pixel near the first (:data:`CANDIDATES`), the position re-read against the assembled images' prediction, and
the holder kept whose re-read key fits the prediction best, strictly better than the current one re-read alike.
"""

from __future__ import annotations

import numpy as np

from ..parallel import map_positions
from .ele_assembled import (_decryptor, _residual, _roughness, cipher_positions, decrypt_position,
                            fitted_prediction, position_inputs, reread_position)

#: The pixels (row, column) of a block whose channel-0 high, as the in-block reading placed it, may hold plain nibble
#: d instead of the one read: the first pixel's nearest neighbours (measured on the tests' 224 key: where the
#: reading's d was wrong, the true holder sat at one of these, mostly the pixel below or beside).
CANDIDATES = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (0, 3), (3, 0))


def first_pixel_candidates(perms: np.ndarray, m: int) -> np.ndarray:
    """(N, K) cipher nibbles that may hold plain nibble d at each position: under the key ``perms`` (N, 2d) as
    read, the holders of the channel-0 highs of the pixels :data:`CANDIDATES`. Taken from the in-block reading,
    before later steps move anything: a wrong holder of d flips two slots' signs, and the steps that keep it then
    scatter the true holder over the block."""
    d = 3 * m * m
    slots = np.array([d + (r * m + c) * 3 for r, c in CANDIDATES if r < m and c < m], np.int64)
    return np.stack([np.argsort(perm)[slots] for perm in perms])


def with_first_pixel(perm: np.ndarray, holder: int) -> np.ndarray:
    """``perm`` with cipher nibble ``holder`` (a high) holding plain nibble d, and d's old holder taking its slot."""
    d = perm.size // 2
    old = int(np.flatnonzero(perm == d)[0])
    out = perm.copy()
    out[[old, holder]] = out[[holder, old]]
    return out


def settle_first_pixel(y: np.ndarray, nib: np.ndarray, perms: np.ndarray, block_perm: np.ndarray, m: int,
                       candidates: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, int]:
    """ELE key ``perms`` (N, 2d, by original position) with the holder of plain nibble d settled again at
    ``positions`` from the assembled images, trying ``candidates`` (N, K) (:func:`first_pixel_candidates`); ``y``
    the uint8 (n, 3, H, W) ciphertexts, ``nib`` their (n, N, 2d) cipher nibbles, ``block_perm`` the block order
    found. The pass is kept only if it makes the decrypted images smoother as a whole (as the re-read's passes).
    Returns (perms, number of positions whose holder moved)."""
    decrypt = _decryptor(y, block_perm, m)
    plain = decrypt(perms)
    predicted = fitted_prediction(plain)
    cipher_at = cipher_positions(block_perm)

    def one(p: int) -> np.ndarray:
        values, pred, cipher = position_inputs(plain, predicted, nib, cipher_at, p, m)
        return _best_holder(perms[p], cipher, values, pred, candidates[p])

    out = perms.copy()
    positions = [int(p) for p in positions]
    if positions:
        out[positions] = np.stack(map_positions(one, positions))
    moved = int((out != perms).any(axis=1).sum())
    if moved and _roughness(decrypt(out)) < _residual(plain, predicted):
        return out, moved
    return perms, 0


def _best_holder(perm: np.ndarray, cipher: np.ndarray, values: np.ndarray, pred: np.ndarray,
                 candidates: np.ndarray) -> np.ndarray:
    """``perm`` with plain d held by the candidate whose re-read key fits ``pred`` best, or ``perm`` unchanged
    when the current holder (re-read alike) fits at least as well."""
    d = perm.size // 2
    current = reread_position(perm, cipher, values, pred)
    best_cost, best = _cost(current, cipher, pred), perm
    for holder in candidates:
        if perm[holder] == d:
            continue
        moved = with_first_pixel(perm, int(holder))
        moved = reread_position(moved, cipher, decrypt_position(moved, cipher), pred)
        cost = _cost(moved, cipher, pred)
        if cost < best_cost - 1e-6 * (1.0 + best_cost):
            best_cost, best = cost, moved
    return best


def _cost(perm: np.ndarray, cipher: np.ndarray, pred: np.ndarray) -> float:
    """Squared difference between one position's decryption under ``perm`` and the prediction, over its samples."""
    return float(np.square(decrypt_position(perm, cipher) - pred).sum(dtype=np.float64))
