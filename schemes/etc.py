"""Block scrambling-based Encryption-then-Compression (EtC) of Kurihara, Chuman and Kiya.

For the block at original position p (M = 4 at 32 x 32), with the key's choices for p:
1. rotate counter-clockwise by 90 * (dihedral[p] % 4) degrees (numpy's rot90 on the H, W axes), then
   mirror left-right if dihedral[p] >= 4 (the 8 symmetries of the square);
2. negative-positive of the whole block (q -> 255 - q in all 3 channels) if negate[p];
3. colour channel order: output channel c = channel channel_perm[p, c].
Then block scrambling: output block i = block block_perm[i]. Decryption inverts in reverse order.
Key space N! * (8 * 2 * 6)^N. The public reference code's colour step overwrites channels instead of
permuting them (lossy, not decryptable); ppbench implements the true permutation.
"""

from __future__ import annotations

import math

import numpy as np

from ppbench.keys import SchemeKey

from .base import Scheme, SchemeInfo, blocks_view, log2_factorial, register_scheme, unblock


@register_scheme
class EtC(Scheme):
    info = SchemeInfo(
        name="etc",
        family="etc",
        title="Block scrambling, rotation/flip, negative-positive and colour shuffling per block",
        paper="T. Chuman, W. Sirichotedumrong, H. Kiya, Encryption-then-compression systems using grayscale-based image encryption for JPEG images, IEEE TIFS 2019 (colour block-scrambling EtC of Kurihara et al.)",
        version=1,
        key_space="N! * 96^N",
        block_wise=True,
        default_image_size=32,
        default_block_size=4,
    )

    @staticmethod
    def dihedral(a: np.ndarray, k: int) -> np.ndarray:
        """Step 1 on the last two axes of ``a``: rot90 by k % 4 quarter turns, then a left-right mirror if k >= 4."""
        out = np.rot90(a, k % 4, axes=(-2, -1))
        return out[..., ::-1] if k >= 4 else out

    def subkeys(self):
        n = self.num_blocks
        return {
            "block_perm": ((n,), "perm"),
            "dihedral": ((n,), "range8"),
            "negate": ((n,), "bool"),
            "channel_perm": ((n, 3), "perm"),
        }

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        n = self.num_blocks
        return {
            "block_perm": key.stream("block_perm").permutation(n),
            "dihedral": key.stream("dihedral").integers(8, n),
            "negate": key.stream("negate").bits(n),
            "channel_perm": key.stream("channel_perm").permutations(n, 3),
        }

    def build_tables(self, material):
        h, w = self.image_size
        blocks = blocks_view(np.arange(self.flat_size).reshape(self.channels, h, w), self.block_size)
        moved = np.empty_like(blocks)
        for p, block in enumerate(blocks):  # key set-up only; encryption itself is one gather
            moved[p] = self.dihedral(block, int(material["dihedral"][p]))[material["channel_perm"][p]]
        order = material["block_perm"]
        mask = np.broadcast_to((255 * material["negate"].astype(np.uint8))[order, None, None, None], blocks.shape)
        return unblock(moved[order], h, w).ravel(), unblock(np.ascontiguousarray(mask), h, w).ravel()

    def key_space_bits(self) -> float:
        return log2_factorial(self.num_blocks) + self.num_blocks * math.log2(96)
