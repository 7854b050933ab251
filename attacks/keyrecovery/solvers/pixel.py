"""Key solvers for the pixel-wise schemes PE and PE-NP: one colour transform per pixel (a channel order and
a negation pattern for PE, the pattern alone for PE-NP), shared by every image.

Known plaintext: per pixel, the transforms that reproduce every pair. Ciphertext only: the transforms
relative to the neighbours (:func:`~ppbench.attacks.keyrecovery.colour.synchronise_pixels`), then the one
global transform left open, chosen by the natural-image prior.
"""

from __future__ import annotations

import numpy as np

from ..base import CHANNEL_ORDERS, NEGATION_PATTERNS, KpaResult, PooledResult
from ..colour import colour_group, decode_pixels, synchronise_pixels
from ..prior import NaturalPrior, choose_colour, subsample


def pe_key_material(encrypt: np.ndarray, with_order: bool) -> dict[str, np.ndarray]:
    """Key material from per-pixel encryption transforms (H, W) (element 8 * order + pattern: output channel
    c reads input channel order[c], negated where pattern[c]); PE negates before it moves the channels."""
    order, pattern = CHANNEL_ORDERS[encrypt // 8], NEGATION_PATTERNS[encrypt % 8]  # (H, W, 3)
    negate = np.zeros(order.shape, dtype=bool)
    np.put_along_axis(negate, order, pattern, axis=2)  # negate[src channel order[c]] = pattern[c]
    return {"negate": negate, "channel_perm": order} if with_order else {"negate": negate}


def kpa_pe_np(x: np.ndarray, y: np.ndarray, m: int | None) -> KpaResult:
    """PE-NP from pairs: ``negate = (cipher != plain)`` per value; one pair decides it (q != 255 - q)."""
    neg_votes = (y == 255 - x).sum(axis=0)  # (3, H, W)
    keep_votes = (y == x).sum(axis=0)
    negate = (neg_votes > keep_votes).transpose(1, 2, 0)
    return {"negate": negate}, {"negate": 0}, []


def kpa_pe(x: np.ndarray, y: np.ndarray, m: int | None) -> KpaResult:
    """PE from pairs: per pixel, the 48 transforms that reproduce every pair (several for grey pixels)."""
    n, c, h, w = x.shape
    miss_keep = np.zeros((6, 3, h, w), np.int64)  # mismatches if output channel c reads order[c] unnegated
    miss_neg = np.zeros((6, 3, h, w), np.int64)
    for start in range(0, n, 16):
        xs, ys = x[start : start + 16], y[start : start + 16]
        moved = xs[:, CHANNEL_ORDERS]  # (b, 6, 3, H, W): output channel c <- input channel order[c]
        miss_keep += (moved != ys[:, None]).sum(axis=0)
        miss_neg += (255 - moved != ys[:, None]).sum(axis=0)
    # errors[order, pattern, H, W]
    errors = np.where(NEGATION_PATTERNS[None, :, :, None, None], miss_neg[:, None], miss_keep[:, None]).sum(axis=2)
    errors = errors.reshape(48, h, w)
    best = errors.argmin(axis=0)  # first minimum: order-major, like fr_adv's candidate order
    ambiguous = int(((errors == 0).sum(axis=0) > 1).sum())
    return pe_key_material(best, True), {"negate": ambiguous, "channel_perm": ambiguous}, []


def _decoding_key(decode: np.ndarray, with_order: bool) -> dict[str, np.ndarray]:
    """Key material from per-pixel decoding transforms (H, W): encryption is the inverse transform."""
    _, inverse = colour_group()
    return pe_key_material(inverse[decode], with_order)


def _pooled_pixelwise(y: np.ndarray, with_order: bool, prior: NaturalPrior | None) -> PooledResult:
    """PE (``with_order``) or PE-NP: per-pixel transforms up to a global one, which the prior then picks."""
    assert prior is not None
    compose, _ = colour_group()
    allowed = np.arange(48) if with_order else np.arange(8)
    lab, conf = synchronise_pixels(y, allowed)
    rel = decode_pixels(subsample(y, 256), lab[:: max(1, y.shape[2] // 32), :: max(1, y.shape[3] // 32)])
    o, s, margin, notes = choose_colour(rel, range(6) if with_order else [0], range(8), prior)
    decode = compose[8 * o + s][lab]  # global transform after the relative one
    conf["prior_margin"] = margin
    return _decoding_key(decode, with_order), conf, notes, []


def pooled_pe(y: np.ndarray, m: int | None, prior: NaturalPrior | None) -> PooledResult:
    """PE from ciphertexts alone: synchronised pixels, the 48 global readings chosen by the prior."""
    return _pooled_pixelwise(y, True, prior)


def pooled_pe_np(y: np.ndarray, m: int | None, prior: NaturalPrior | None) -> PooledResult:
    """PE-NP from ciphertexts alone: synchronised negations, the 8 global patterns chosen by the prior."""
    return _pooled_pixelwise(y, False, prior)


def pe_global_readings(name: str, material: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The keys of the 48 (PE) or 8 (PE-NP) global colour readings of ``material``, itself first."""
    compose, inverse = colour_group()
    neg, order = material["negate"], material.get("channel_perm")
    if order is None:
        order = np.broadcast_to(np.arange(3), neg.shape)
    pattern = np.take_along_axis(neg, order, axis=2)  # pattern[c] = negate[order[c]]
    codes = {tuple(CHANNEL_ORDERS[e // 8]) + tuple(NEGATION_PATTERNS[e % 8]): e for e in range(48)}
    enc = np.vectorize(lambda *v: codes[v])(*np.moveaxis(np.concatenate([order, pattern], axis=2), 2, 0))
    decode = inverse[enc]
    elements = range(48) if name == "pe" else range(8)
    return [_decoding_key(compose[g][decode], name == "pe") for g in elements]
