"""The block-wise scheme for ViT of Qi, MaungMaung, Kinoshita and Kiya (EUSIPCO 2022, Sec. III-B).

Definition (``docs/schemes.md#proposed``):
1. Cut the image into N = (H/M)(W/M) blocks of M x M pixels, row-major. Block scrambling with the
   permutation K1 of N: output block i = input block K1[i].
2. Cut every block into its 4 sub-blocks of (M/2) x (M/2) pixels, flatten each row-major into
   S = (M/2)^2 pixels, a pixel keeping its 3 channel values together. Pixel shuffling with one
   permutation K2 of S, the same for every sub-block of every block and image: output pixel k = input
   pixel K2[k].
Decryption inverts K2, then K1. Key space N! * S! (196! * 64! ~ 2^1511 at 224 x 224 with M = 16).
No negation and no colour shuffling. H and W must be divisible by M, and M must be even.
"""

from __future__ import annotations

import numpy as np

from ppbench.errors import InputError
from ppbench.keys import SchemeKey

from .base import Scheme, SchemeInfo, blocks_view, log2_factorial, register_scheme, unblock


@register_scheme
class Proposed(Scheme):
    info = SchemeInfo(
        name="proposed",
        family="proposed",
        title="Block scrambling + sub-block pixel shuffling for ViT",
        paper="Z. Qi, A. MaungMaung, Y. Kinoshita, H. Kiya, Privacy-Preserving Image Classification Using Vision Transformer, EUSIPCO 2022",
        version=1,
        key_space="N! * ((M/2)^2)!",
        block_wise=True,
        default_image_size=224,
        default_block_size=16,
        notes="Patch size of the ViT must equal the block size; the paper evaluates 224x224 with M=16.",
    )

    @classmethod
    def check_geometry(cls, image_size, block_size):
        size, m = super().check_geometry(image_size, block_size)
        if m % 2:
            raise InputError(
                f"proposed: block size {m} is odd, but each block is cut into 2 x 2 sub-blocks; use an even block size"
            )
        return size, m

    @property
    def sub_block_pixels(self) -> int:
        return (self.block_size // 2) ** 2

    def subkeys(self):
        return {"k1": ((self.num_blocks,), "perm"), "k2": ((self.sub_block_pixels,), "perm")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        return {
            "k1": key.stream("k1").permutation(self.num_blocks),
            "k2": key.stream("k2").permutation(self.sub_block_pixels),
        }

    @staticmethod
    def split_sub_blocks(blocks: np.ndarray) -> np.ndarray:
        """(..., C, M, M) -> (..., C, 4, S): each block's 4 sub-blocks (row-major), pixels row-major inside."""
        *lead, c, m, _ = blocks.shape
        half, k = m // 2, len(lead)
        order = tuple(range(k + 2)) + (k + 3, k + 2, k + 4)
        return blocks.reshape(*lead, c, 2, half, 2, half).transpose(order).reshape(*lead, c, 4, half * half)

    @staticmethod
    def join_sub_blocks(subs: np.ndarray, m: int) -> np.ndarray:
        """Inverse of :meth:`split_sub_blocks`: (..., C, 4, S) -> (..., C, M, M)."""
        *lead, c, _, _ = subs.shape
        half, k = m // 2, len(lead)
        order = tuple(range(k + 2)) + (k + 3, k + 2, k + 4)
        return subs.reshape(*lead, c, 2, 2, half, half).transpose(order).reshape(*lead, c, m, m)

    def build_tables(self, material):
        (h, w), m = self.image_size, self.block_size
        grid = np.arange(self.flat_size).reshape(self.channels, h, w)
        blocks = blocks_view(grid, m)[material["k1"]]  # (N, C, M, M), scrambled
        subs = self.split_sub_blocks(blocks)[..., material["k2"]]  # the same K2 in every sub-block; channels move together
        return unblock(self.join_sub_blocks(subs, m), h, w).ravel(), np.zeros(self.flat_size, np.uint8)

    def key_space_bits(self) -> float:
        return log2_factorial(self.num_blocks) + log2_factorial(self.sub_block_pixels)
