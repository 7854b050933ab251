"""Tanaka's learnable encryption (LE) and Madono et al.'s extension with block scrambling (ELE).

LE (M. Tanaka, "Learnable image encryption", ICCE-TW 2018; code: mastnk/ICCE-TW2018, BlockScramble.py).
Per M x M block, flatten the M*M*3 values in (row, column, channel) order, channel fastest:
x[0..d-1], d = 3M^2. Split each byte into nibbles, v[j] = x[j] & 15 and v[d + j] = x[j] >> 4. With
one permutation P of 2d and the mask r[k] = P[k] > d ("greater than d" as in Tanaka's code, so d - 1
positions are flagged): negate (15 - v) where r, gather w[k] = v[P[k]], negate again where r, and
recombine y[j] = 16 w[d + j] + w[j]. Blocks stay in place; the same key serves every block of every
image. Decryption: the same with the inverse permutation and the same mask. Key space (2d)!.

ELE (K. Madono, M. Tanaka, M. Onishi, T. Ogawa, "Block-wise scrambled image recognition using
adaptation network", AAAI-WS 2020): LE with a different permutation P_p for each original block
position p, then block scrambling (output block i = block ``block_perm[i]``). Key space
N! * ((2d)!)^N. Both need an adaptation network in front of the classifier.
"""

from __future__ import annotations

import numpy as np

from ppbench.keys import SchemeKey

from .base import Scheme, SchemeInfo, blocks_view, log2_factorial, register_scheme


class _NibbleScheme(Scheme):
    """Shared geometry of LE and ELE: the nibble positions of every block in Tanaka's order."""

    nibbles = True

    @property
    def block_values(self) -> int:
        """d = 3 M^2, the byte values in one block."""
        return self.channels * self.block_size**2

    def nibble_positions(self) -> np.ndarray:
        """(N, 2d): flat nibble index (half, channel, row, column) of block b's nibble k."""
        h, w = self.image_size
        grid = np.arange(self.flat_size).reshape(2, self.channels, h, w)
        halves = []
        for half in grid:  # low nibbles first, then high nibbles
            blocks = blocks_view(half, self.block_size)  # (N, C, M, M)
            halves.append(blocks.transpose(0, 2, 3, 1).reshape(blocks.shape[0], -1))  # (row, col, channel)
        return np.concatenate(halves, axis=1)

    @staticmethod
    def derived_negation(perms: np.ndarray) -> np.ndarray:
        """Bool (..., 2d): nibble k is negated when exactly one of r[P[k]] and r[k] holds, r = P > d (d = 2d / 2)."""
        flagged = perms > perms.shape[-1] // 2
        return flagged ^ np.take_along_axis(flagged, perms, axis=-1)

    def _mask_for(self, perms: np.ndarray) -> np.ndarray:
        """15 where exactly one of "negate before" (at P[k]) and "negate after" (at k) applies."""
        return 15 * self.derived_negation(perms)


@register_scheme
class LE(_NibbleScheme):
    info = SchemeInfo(
        name="le",
        family="tanaka",
        title="Learnable image encryption (nibble permutation and negation per block)",
        paper="M. Tanaka, Learnable image encryption, ICCE-TW 2018",
        version=1,
        key_space="(6 M^2)!",
        block_wise=True,
        default_image_size=32,
        default_block_size=4,
        adapter="le",
    )

    def subkeys(self):
        return {"perm": ((2 * self.block_values,), "perm")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        return {"perm": key.stream("perm").permutation(2 * self.block_values)}

    def build_tables(self, material):
        perm = material["perm"]
        where = self.nibble_positions()
        src = np.empty(self.flat_size, np.int64)
        mask = np.empty(self.flat_size, np.uint8)
        src[where] = where[:, perm]
        mask[where] = self._mask_for(perm)[None, :]
        return src, mask

    def key_space_bits(self) -> float:
        return log2_factorial(2 * self.block_values)


@register_scheme
class ELE(_NibbleScheme):
    info = SchemeInfo(
        name="ele",
        family="tanaka",
        title="Extended learnable encryption (per-position nibble keys + block scrambling)",
        paper="K. Madono, M. Tanaka, M. Onishi, T. Ogawa, Block-wise scrambled image recognition using adaptation network, AAAI-WS 2020",
        version=1,
        key_space="N! * ((6 M^2)!)^N",
        block_wise=True,
        default_image_size=32,
        default_block_size=4,
        adapter="ele",
    )

    def subkeys(self):
        return {"perms": ((self.num_blocks, 2 * self.block_values), "perm"), "block_perm": ((self.num_blocks,), "perm")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        return {
            "perms": key.stream("perms").permutations(self.num_blocks, 2 * self.block_values),
            "block_perm": key.stream("block_perm").permutation(self.num_blocks),
        }

    def build_tables(self, material):
        perms, order = material["perms"], material["block_perm"]
        where = self.nibble_positions()
        src = np.empty(self.flat_size, np.int64)
        mask = np.empty(self.flat_size, np.uint8)
        # Output block i holds original block p = order[i], nibble-permuted with that position's key.
        src[where] = np.take_along_axis(where[order], perms[order], axis=1)
        mask[where] = self._mask_for(perms)[order]
        return src, mask

    def key_space_bits(self) -> float:
        return log2_factorial(self.num_blocks) + self.num_blocks * log2_factorial(2 * self.block_values)
