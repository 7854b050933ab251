"""Channel order and polarity per pixel, then the global reading, for a byte map laid out on the grid.

A byte map says, for every plain value (channel, row, column), which cipher byte it reads and whether
to negate it. Once the pixels sit on the grid, the channels inside each pixel are synchronised with
their neighbours by ``pooled``'s group synchronisation over the 48 channel orders x negation patterns
(:func:`~ppbench.attacks.pooled.synchronise_pixels`). What no pooled statistic can see is one global
transform: the 8 symmetries of the square x 6 channel orders x 8 negation patterns. It is chosen by a
natural-image prior learnt from the attacker's own plain images: the Mahalanobis distance of the decoded
images' mean features (channel means, sky on top, dark and bright channel, skewness, channel
correlations: :func:`~ppbench.attacks.pooled.image_features`) from the public images'. Natural images
are mirror-symmetric in distribution, so the left-right mirror stays a tie (noted in the record).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import CHANNEL_ORDERS, NEGATION_PATTERNS
from ..colour import synchronise_pixels
from ..prior import NaturalPrior

#: Images decoded to score each global reading, and ciphertexts pooled for the channel synchronisation.
PRIOR_SAMPLE = 128
SYNC_SAMPLE = 1000


@dataclass
class ByteMap:
    """Plain value (c, y, x) = cipher byte ``source[c, y, x]`` (flat index into C x H x W), negated
    (255 - v) where ``negate``; the whole-byte decryption any member of family F reduces to."""

    source: np.ndarray
    negate: np.ndarray

    def decrypt(self, ciphertexts: np.ndarray) -> np.ndarray:
        """uint8 (n, C, H, W) ciphertexts -> uint8 (n, C, H, W) plain images under this map."""
        n = ciphertexts.shape[0]
        flat = np.ascontiguousarray(ciphertexts).reshape(n, -1)
        out = np.take(flat, self.source.ravel(), axis=1)
        out ^= (self.negate.ravel() * np.uint8(255)).astype(np.uint8)
        return out.reshape((n,) + self.source.shape)

    def pixel_transform(self, labels: np.ndarray) -> "ByteMap":
        """Apply a colour transform per pixel (``labels`` (H, W) or one int, ``pooled``'s element index
        8 * order + pattern): output channel c reads input channel order[c], negated where pattern[c]."""
        labels = np.broadcast_to(np.asarray(labels), self.source.shape[1:])
        orders = CHANNEL_ORDERS[labels // 8].transpose(2, 0, 1)
        pattern = NEGATION_PATTERNS[labels % 8].transpose(2, 0, 1)
        return ByteMap(np.take_along_axis(self.source, orders, axis=0),
                       np.take_along_axis(self.negate, orders, axis=0) ^ pattern)

    def dihedral(self, k: int) -> "ByteMap":
        """The map read through symmetry k of the square (k % 4 quarter turns, then a mirror if k >= 4)."""
        def move(a: np.ndarray) -> np.ndarray:
            a = np.rot90(a, k % 4, axes=(1, 2))
            return np.ascontiguousarray(a[:, :, ::-1] if k >= 4 else a)
        return ByteMap(move(self.source), move(self.negate))


def synchronise(byte_map: ByteMap, ciphertexts: np.ndarray) -> tuple[ByteMap, float]:
    """Make channel order and polarity agree between neighbouring pixels (up to one global transform);
    returns the new map and the median confidence gap of the neighbour edges."""
    decoded = byte_map.decrypt(ciphertexts[:SYNC_SAMPLE])
    labels, info = synchronise_pixels(decoded, np.arange(48))
    return byte_map.pixel_transform(labels), float(info["edge_gap_median"])


def choose_reading(byte_map: ByteMap, ciphertexts: np.ndarray, prior: NaturalPrior,
                   sample_size: int = PRIOR_SAMPLE) -> tuple[ByteMap, float, list[str]]:
    """The global reading (symmetry of the square x colour transform) the prior finds most natural, judged on
    the first ``sample_size`` ciphertexts. Returns the map, the margin to the best reading other than it and
    its mirror image, and notes."""
    sample = ciphertexts[:sample_size]
    scored = []
    for k in range(8):
        turned = byte_map.dihedral(k).decrypt(sample)
        table = prior.colour_distances(turned)  # (order, pattern); g = 8 order + pattern
        scored += [(float(table[g // 8, g % 8]), k, g) for g in range(48)]
    scored.sort()
    _, k, g = scored[0]
    ties = {(k, g), (_mirror_of(k), g)}
    margin = next((s - scored[0][0] for s, kk, gg in scored[1:] if (kk, gg) not in ties), float("inf"))
    notes = [f"global reading (8 symmetries x 48 colour transforms) chosen by the natural-image prior learnt from "
             f"the attacker's public images; margin {margin:.2f} (Mahalanobis, runner-up minus best); the left-right "
             "mirror is a tie natural images cannot settle"]
    return byte_map.dihedral(k).pixel_transform(g), float(margin), notes


def _mirror_of(k: int) -> int:
    """The symmetry equal to k followed by a left-right mirror of the result."""
    probe = np.arange(12).reshape(1, 3, 4)[:, :3, :3]
    target = np.rot90(probe, k % 4, axes=(1, 2))
    target = target[:, :, ::-1] if k >= 4 else target
    target = target[:, :, ::-1]
    for j in range(8):
        t = np.rot90(probe, j % 4, axes=(1, 2))
        t = t[:, :, ::-1] if j >= 4 else t
        if np.array_equal(t, target):
            return j
    raise AssertionError("the dihedral group is closed")
