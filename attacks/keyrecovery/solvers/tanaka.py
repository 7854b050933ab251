"""Key solvers for Tanaka's LE (one nibble permutation-and-negation key for every block) and ELE (a key
per block position, then block scrambling).

Known plaintext: cipher nibble k comes from plain nibble P[k], possibly negated (15 - v), so k's column
of values over all block samples must equal P[k]'s column or its negation; LE's derived mask (r = P > d)
is propagated before matching. ELE first matches blocks by their multisets of folded nibble columns.
Ciphertext only: :func:`~.le_reading.le_key` on every block of every image (LE), or
:func:`~.ele_reading.ele_key` per cipher block position on its n samples, the decrypted blocks then placed
by the jigsaw (ELE: a few hundred ciphertexts at 32 x 32).
"""

from __future__ import annotations

import numpy as np
import torch

from ppbench.schemes import create_scheme

from ..base import KpaResult, PooledResult
from ..geometry import block_nibbles, to_blocks
from ..jigsaw import Jigsaw, JigsawSolution, edge_dissimilarity
from ..matching import LSA_LIMIT, match, mismatch_cost, row_labels
from ..parallel import map_positions
from ..prior import NaturalPrior
from .ele_assembled import ROUNDS as REREAD_ROUNDS, reread_assembled
from .ele_edges import edge_order, peel_image_edges
from .ele_first_pixel import first_pixel_candidates, settle_first_pixel
from .ele_reading import FULL_SEARCH_M, ele_key
from .le_reading import le_key


def _le_match(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """LE's nibble key from samples ``v`` (plain nibbles) and ``w`` (cipher nibbles), both (samples, 2d).

    Cipher nibble k may come from plain nibble j unnegated (polarity 0) or negated (polarity 1) if its
    column of values equals j's column or 15 minus it. LE's mask is not free: with r[i] = P[i] > d the
    polarity of k is r[P[k]] xor r[k], so choosing P[k] = j with polarity s forces row j's own column to
    lie above d or not (s xor [j > d]). :func:`_prune_le` propagates that (and the one-to-one rule) to a
    fixed point before the matching, so that the key returned reproduces the pairs.
    """
    dd = v.shape[1]
    lv, lvn, lw = row_labels(v.T, (15 - v).T, w.T)
    cons0 = lw[:, None] == lv[None, :]
    cons1 = lw[:, None] == lvn[None, :]
    if int(cons0.sum() + cons1.sum()) <= 8 * dd:  # nearly determined: worth propagating the mask rule
        cons0, cons1 = _prune_le(cons0, cons1, dd // 2)
    cons = cons0 | cons1
    tie = None
    open_rows = np.flatnonzero(cons.sum(axis=1) > 1)
    if 1 < open_rows.size <= LSA_LIMIT:
        # Tie-breaker for the rows left open: more agreeing samples (either polarity) is better.
        tie = np.zeros(cons.shape)
        tie[open_rows] = -np.maximum(_agreement(w[:, open_rows], v), _agreement(w[:, open_rows], 15 - v))
    perm, amb, ok = match(cons, tie)
    return perm, amb, ok


def _prune_le(cons0: np.ndarray, cons1: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Arc consistency for LE's derived mask and the permutation rule (see :func:`_le_match`)."""
    big = np.arange(cons0.shape[1]) > d  # columns whose flag r would be set if a row took them
    cons0, cons1 = cons0.copy(), cons1.copy()
    for _ in range(64):
        before = int(cons0.sum() + cons1.sum())
        cand = cons0 | cons1
        own_big = cand[:, big].any(axis=1)  # row j can take a column above d
        own_small = cand[:, ~big].any(axis=1)
        # An edge into column j with polarity s needs row j to take a column of class s xor big[j].
        cons0 &= np.where(big, own_big, own_small)[None, :]
        cons1 &= np.where(big, own_small, own_big)[None, :]
        in_big = np.where(big, cons0.any(axis=0), cons1.any(axis=0))  # some edge into j asks row j for "above d"
        in_small = np.where(big, cons1.any(axis=0), cons0.any(axis=0))
        keep = np.where(big[None, :], in_big[:, None], in_small[:, None])
        cons0 &= keep
        cons1 &= keep
        # One-to-one: a row with a single column claims it; a column with a single row is claimed by it.
        cand = cons0 | cons1
        single_row = cand.sum(axis=1) == 1
        if single_row.any():
            cols = cand[single_row].argmax(axis=1)
            claim = np.zeros_like(cand)
            claim[:, cols] = True
            claim[np.flatnonzero(single_row), cols] = False
            cons0 &= ~claim
            cons1 &= ~claim
        cand = cons0 | cons1
        single_col = cand.sum(axis=0) == 1
        if single_col.any():
            rows = cand[:, single_col].argmax(axis=0)
            claim = np.zeros_like(cand)
            claim[rows, :] = True
            claim[rows, np.flatnonzero(single_col)] = False
            cons0 &= ~claim
            cons1 &= ~claim
        if int(cons0.sum() + cons1.sum()) == before:
            break
    return cons0, cons1


def _agreement(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(k, 2d) counts of samples where cipher nibble column k of ``w`` (samples, k) equals plain nibble j."""
    if w.shape[0] * w.shape[1] * v.shape[1] <= 5e7:  # few samples: compare directly
        out = np.zeros((w.shape[1], v.shape[1]), np.float64)
        for start in range(0, w.shape[0], 16):
            out += (w[start : start + 16, :, None] == v[start : start + 16, None, :]).sum(axis=0)
        return out
    out = np.zeros((w.shape[1], v.shape[1]), np.float64)
    for value in range(16):  # many samples: one-hot products
        out += (w == value).T.astype(np.float32) @ (v == value).astype(np.float32)
    return out


def open_nibbles(nib: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Per key, the cipher nibbles whose place the samples cannot fix: (K,) counts for ``nib`` (n, K, 2d), the
    cipher nibbles of n samples at K cipher positions (ELE: its N block positions; LE: one key, every block of
    every image a sample), and ``perms`` (K, 2d) the key read at each.

    Two cipher nibbles of one key that both hold highs (or both lows) and show the same value in every sample can
    exchange their plain slots without changing a single decrypted byte: a slot's sign depends on the slot alone
    (r[k] = P[k] > d is the same for both), so each slot still reads the same values. Plain nibble d's holder is
    left out (moving it flips r at two places). No attack, ciphertext-only or known-plaintext, can tell such keys
    apart from these samples, so a nonzero count means the exact key is out of reach at this n; 0 means no such
    exchange exists (a lower bound on what is open: longer cycles of equal columns are counted too, other
    equivalences are not)."""
    n, k, two_d = nib.shape
    d = two_d // 2
    out = np.zeros(k, np.int64)
    for i in range(k):
        columns = nib[:, i].T  # (2d, n) each cipher nibble's values over the samples
        for holders in (np.flatnonzero(perms[i] > d), np.flatnonzero(perms[i] < d)):
            _, inverse, counts = np.unique(columns[holders], axis=0, return_inverse=True, return_counts=True)
            out[i] += int((counts[inverse.ravel()] > 1).sum())
    return out


def kpa_le(x: np.ndarray, y: np.ndarray, m: int | None) -> KpaResult:
    """LE from pairs: every block of every pair is a sample of the one nibble key (N samples per image)."""
    assert m is not None
    v = block_nibbles(x, m).reshape(-1, 6 * m * m)
    w = block_nibbles(y, m).reshape(-1, 6 * m * m)
    perm, amb, _ = _le_match(v, w)
    return {"perm": perm}, {"perm": int(amb.sum())}, []


def _fold_canonical(cols: np.ndarray) -> np.ndarray:
    """Nibble columns (..., n) mapped to one representative of {col, 15 - col} (the one with col[0] < 8)."""
    return np.where(cols[..., :1] < 8, cols, 15 - cols)


def kpa_ele(x: np.ndarray, y: np.ndarray, m: int | None) -> KpaResult:
    """ELE from pairs: blocks matched first, then LE's matching per position on its n samples."""
    assert m is not None
    v = block_nibbles(x, m)  # (n, N, 2d)
    w = block_nibbles(y, m)
    n, nb, dd = v.shape
    # Block scrambling: a block's multiset of folded nibble columns is invariant to its nibble key.
    cv = _fold_canonical(v.transpose(1, 2, 0)).reshape(nb * dd, n)
    cw = _fold_canonical(w.transpose(1, 2, 0)).reshape(nb * dd, n)
    lcv, lcw = row_labels(cv, cw)
    sig_v = np.sort(lcv.reshape(nb, dd), axis=1)
    sig_w = np.sort(lcw.reshape(nb, dd), axis=1)
    lbv, lbw = row_labels(sig_v, sig_w)
    cons = lbw[:, None] == lbv[None, :]
    block_perm, amb_b, _ = match(cons, mismatch_cost(sig_w, sig_v) if not cons.any(axis=1).all() else None)
    perms = np.empty((nb, dd), np.int64)
    amb_p = 0
    for i in range(nb):
        p = block_perm[i]
        perm, amb, _ = _le_match(v[:, p], w[:, i])
        perms[p] = perm
        amb_p += int(amb.sum())
    return {"perms": perms, "block_perm": block_perm}, {"perms": amb_p, "block_perm": int(amb_b.sum())}, []


def pooled_le(y: np.ndarray, m: int | None, prior: NaturalPrior | None = None) -> PooledResult:
    """LE from ciphertexts alone; the derived mask, not a prior, settles the global reading."""
    assert m is not None
    n, _, h, w = y.shape
    nib = block_nibbles(y, m).astype(np.float64).reshape(n, h // m, w // m, 6 * m * m)
    agree, perm = le_key(nib, m)
    notes = ["channel order and global negation: the reading whose derived LE mask (r = P > d) agrees with "
             f"the observed polarities ({agree:.3f} of nibbles agree; 1.000 means every nibble's polarity "
             "is explained, which a wrong key practically never achieves)"]
    return {"perm": perm}, {"mask_agreement": agree}, notes, []


def pooled_ele(y: np.ndarray, m: int | None, prior: NaturalPrior | None = None) -> PooledResult:
    """ELE: a nibble key per cipher block position (:func:`~.ele_reading.ele_key`), then the block jigsaw of
    ``proposed``.

    Every original block position has its own nibble key, so the blocks at one cipher position over the n
    images are n samples of one LE key (LE pools the N blocks of every image: N n samples), and no seam to
    a neighbour is known (the blocks are scrambled). Each position's key is read from its n samples alone,
    LE's derived mask choosing the 8 symmetries of the block's grid, channel order and negative from the
    highs and fixing the sign of every low nibble's correlation; the decrypted blocks are then placed by
    the no-rotation jigsaw solver, and every position's nibbles are read again from the assembled images
    (:mod:`.ele_assembled`: the neighbours across block borders predict them better; the blocks are placed again after
    its first round, and the re-read restarted from the reading where they moved); then each inner position's
    holder of plain nibble d (the first pixel's high, which no later step moves) is tried at the first pixel's
    neighbours as the reading placed them (:mod:`.ele_first_pixel`); last, the image-edge
    positions, where the upscaled images' clamped borders defeat both readings, are solved again layer by layer
    from their inner neighbour (:mod:`.ele_edges`, from d's holder as it stands and from each of those
    neighbours), kept only where that explains them better, and if any
    changed, every position is read from the assembled images once more. The blocks are placed again after the
    re-read and after the last step (see the comment in the code).
    """
    assert m is not None
    n, _, h, w = y.shape
    rows, cols = h // m, w // m
    nb = rows * cols
    nib = block_nibbles(y, m)  # (n, N, 2d)
    # up to M = 4 a position's reading is a local search of thousands of small numpy calls, which hold the GIL: two
    # threads took 1.5 x as long as one loop at 32 x 32 (39-48 s against 26-32 s from 100 ciphertexts, two keys)
    readings = map_positions(lambda i: ele_key(nib[:, i], m), range(nb), gil_bound=m <= FULL_SEARCH_M)
    agreement = np.array([a for a, _ in readings])
    cipher_perms = np.stack([perm for _, perm in readings]).astype(np.int64)  # by cipher position
    candidates = first_pixel_candidates(cipher_perms, m)  # from the in-block reading, before anything moves
    # The blocks are placed again after the re-read and again after the last step: the first placement reads blocks
    # that the in-block reading left rough (measured: three of five fresh 224 keys had two blocks exchanged; placed
    # from the re-read blocks, the order was right). Where a placement moves blocks, the steps after it restart from
    # the reading under the new order: refined beside the wrong neighbours, the moved blocks and theirs would start
    # from worse than the reading (measured: restarting from the refined keys left 55 positions wrong where a right
    # first placement leaves about 20). Placing before the first-pixel and edge steps saves running them twice.
    def placed_again(perms: np.ndarray, block_perm: np.ndarray) -> tuple[int, np.ndarray, JigsawSolution,
                                                                        tuple[np.ndarray, int] | None]:
        """The blocks decrypted under ``perms`` placed again: (blocks moved, order, solution, and where blocks
        moved, the reading's keys re-read under the new order with the positions that re-read changed)."""
        order, placed = _place(y, perms[block_perm], m)
        moved = int((order != block_perm).sum())
        restart = reread_assembled(y, nib, _by_original(cipher_perms, order), order, m) if moved else None
        return moved, order, placed, restart

    def refine(perms: np.ndarray, block_perm: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
        return _refine(y, nib, perms, block_perm, m, _by_original(candidates, block_perm))

    # The first placement is checked after one round of the re-read already: that round mends most of what made the
    # reading's blocks rough, and where the blocks then move, the re-read's other rounds are not spent on the wrong
    # order (measured at 224: a restarted fit took 204 s instead of 344 s, the same key; a fit that keeps its first
    # order takes the same time, the same key).
    block_perm, solution = _place(y, cipher_perms, m)
    read = _by_original(cipher_perms, block_perm)
    one_round, _ = reread_assembled(y, nib, read, block_perm, m, rounds=1)
    reordered, order, placed, restart = placed_again(one_round, block_perm)
    if restart is not None:  # the whole re-read, from the reading under the new order
        block_perm, solution, (perms, changed) = order, placed, restart
    else:  # the rounds left
        perms, _ = reread_assembled(y, nib, one_round, block_perm, m, rounds=REREAD_ROUNDS - 1)
        changed = int((perms != read).any(axis=1).sum())
    late, order, placed, restart = placed_again(perms, block_perm)
    reordered += late
    if restart is not None:
        block_perm, solution, (perms, changed) = order, placed, restart
    perms, (settled, peeled, again_read) = refine(perms, block_perm)
    late, order, placed, restart = placed_again(perms, block_perm)
    if restart is not None:
        reordered += late
        block_perm, solution, (perms, changed) = order, placed, restart
        perms, (settled, peeled, again_read) = refine(perms, block_perm)
    confidence = {"mask_agreement_min": float(agreement.min()), "mask_agreement_mean": float(agreement.mean()),
                  "positions_fully_explained": float((agreement == 1.0).mean()),
                  "block_buddy_fraction": solution.buddy_fraction, "block_cost": solution.cost,
                  "blocks_moved_by_placing_again": reordered / nb,
                  "positions_changed_by_reread": changed / nb, "first_pixels_moved": settled / nb,
                  "positions_changed_by_edge_solve": peeled / nb,
                  "positions_changed_by_second_reread": again_read / nb}
    notes = [f"ele: {int((agreement == 1.0).sum())} of {nb} block positions have a key whose derived LE mask "
             "explains every observed polarity (1.000: practically never by a wrong key)",
             f"ele: the keys of {changed} of {nb} block positions changed when read again from the assembled "
             "images (their neighbours across block borders)",
             f"ele: the holder of the first pixel's high nibble moved at {settled} inner block positions",
             f"ele: the keys of {peeled} image-edge block positions changed when solved again layer by layer from "
             f"their inner neighbour, and then {again_read} when every position was read again",
             f"ele: placing the re-read and the refined blocks again moved {reordered} of {nb} blocks"
             + (" (the steps after the placement were run again from the reading, on the new order)" if reordered else "")]
    return {"perms": perms, "block_perm": block_perm}, confidence, notes, []


def _by_original(at_cipher: np.ndarray, block_perm: np.ndarray) -> np.ndarray:
    """Rows indexed by cipher position -> the same rows indexed by original position (``block_perm[i]``: the
    original position of cipher block i)."""
    out = np.empty_like(at_cipher)
    out[block_perm] = at_cipher
    return out


def _place(y: np.ndarray, cipher_perms: np.ndarray, m: int) -> tuple[np.ndarray, JigsawSolution]:
    """The block order (``block_perm``) and the jigsaw's solution for blocks decrypted in place with the nibble keys
    ``cipher_perms`` (by cipher position): the no-rotation jigsaw of ``proposed``."""
    n, _, h, w = y.shape
    rows, cols = h // m, w // m
    in_place = {"perms": cipher_perms, "block_perm": np.arange(rows * cols)}  # every cipher block decrypted where it is
    scheme = create_scheme("ele", key_material=in_place, image_size=(h, w), block_size=m)
    blocks = to_blocks(scheme.decrypt(torch.from_numpy(np.ascontiguousarray(y))).numpy(), m)
    solution = Jigsaw(edge_dissimilarity(blocks), rows, cols).solve()
    block_perm = np.empty(rows * cols, np.int64)
    block_perm[solution.pieces.ravel()] = np.arange(rows * cols)  # cipher block i came from plain position block_perm[i]
    return block_perm, solution


def _refine(y: np.ndarray, nib: np.ndarray, perms: np.ndarray, block_perm: np.ndarray, m: int,
            candidates: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The steps after the re-read (see :func:`pooled_ele`), on keys ``perms`` by original position: the refined
    keys and how many positions each step changed (first pixel, edge step, second re-read)."""
    _, _, h, w = y.shape
    rows, cols = h // m, w // m
    edge = {p for p, _ in edge_order(rows, cols)} if rows >= 3 and cols >= 3 else set()
    inner = np.array([p for p in range(rows * cols) if p not in edge], np.int64)
    perms, settled = settle_first_pixel(y, nib, perms, block_perm, m, candidates, inner)
    perms, peeled = peel_image_edges(y, nib, perms, block_perm, m, candidates)
    again = 0
    if peeled or settled:  # read again: neighbours of the positions that changed were read beside them
        perms, again = reread_assembled(y, nib, perms, block_perm, m)
    return perms, (settled, peeled, again)
