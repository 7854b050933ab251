"""Pixel-based encryption (PE) of Sirichotedumrong, Kinoshita and Kiya (IEEE Access 2019).

``pe``: for every pixel and channel a key bit; where it is 1, q -> 255 - q (negative-positive). Then
for every pixel one of the 6 orders of (R, G, B): output channel c of pixel (h, w) = channel
``channel_perm[h, w, c]``. Decryption undoes the channel order, then the negation. One key for all
images (the PE paper also allows a key per image; the published attack code uses one shared key).
Key space 2^(3HW) * 6^(HW).

``pe_np``: the negative-positive step alone, as implemented by the attack-evaluation code the seed
paper's security results come from (for parity with those results). Key space 2^(3HW).
"""

from __future__ import annotations

import math

import numpy as np

from ppbench.keys import SchemeKey

from .base import Scheme, SchemeInfo, register_scheme

_PAPER = "W. Sirichotedumrong, Y. Kinoshita, H. Kiya, Pixel-based image encryption without key management for privacy-preserving deep neural networks, IEEE Access 2019"


@register_scheme
class PE(Scheme):
    info = SchemeInfo(
        name="pe",
        family="pixel",
        title="Pixel-wise negative-positive transformation + colour component shuffling",
        paper=_PAPER,
        version=1,
        key_space="2^(3HW) * 6^(HW)",
        block_wise=False,
        default_image_size=32,
        default_block_size=None,
    )

    def subkeys(self):
        h, w = self.image_size
        return {"negate": ((h, w, 3), "bool"), "channel_perm": ((h, w, 3), "perm")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        h, w = self.image_size
        return {
            "negate": key.stream("negate").bits(h * w * 3).reshape(h, w, 3),
            "channel_perm": key.stream("channel_perm").permutations(h * w, 3).reshape(h, w, 3),
        }

    def build_tables(self, material):
        h, w = self.image_size
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        chosen = material["channel_perm"].transpose(2, 0, 1)  # (C, H, W): source channel of each output value
        src = chosen * h * w + rows * w + cols
        negate = material["negate"].transpose(2, 0, 1)  # negation happens before the channel move
        mask = 255 * np.take_along_axis(negate, chosen, axis=0).astype(np.uint8)
        return src.ravel(), mask.ravel()

    def key_space_bits(self) -> float:
        h, w = self.image_size
        return 3 * h * w + h * w * math.log2(6)


@register_scheme
class PENegativePositive(Scheme):
    info = SchemeInfo(
        name="pe_np",
        family="pixel",
        title="Pixel-wise negative-positive transformation only (PE without colour shuffling)",
        paper=_PAPER,
        version=1,
        key_space="2^(3HW)",
        block_wise=False,
        default_image_size=32,
        default_block_size=None,
        notes="Parity variant: the step the attack-evaluation code implements.",
    )

    def subkeys(self):
        h, w = self.image_size
        return {"negate": ((h, w, 3), "bool")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        h, w = self.image_size
        return {"negate": key.stream("negate").bits(h * w * 3).reshape(h, w, 3)}

    def build_tables(self, material):
        mask = 255 * material["negate"].transpose(2, 0, 1).astype(np.uint8)
        return np.arange(self.flat_size), mask.ravel()

    def key_space_bits(self) -> float:
        h, w = self.image_size
        return 3 * h * w
