"""Two example schemes, one in each form the ppbench contract allows (docs/plugins.md).

``pixperm`` (table form): output pixel ``i`` is plain pixel ``pixel_perm[i]``; its output channel ``c`` is
that pixel's channel ``channel_perm[i, c]``, XORed with 255 where ``negate[i, c]``. Given as key material
plus ``build_tables``, so ppbench's base class encrypts and decrypts whole batches with one gather.

``rowshift`` (free form): each row ``r`` is shifted cyclically to the right by ``shifts[r]`` pixels (all
three channels together). Written as ``encrypt`` / ``decrypt`` overrides, the way any transform that is
not a gather plus XOR would be.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ppbench.keys import SchemeKey
from ppbench.schemes import Scheme, SchemeInfo, register_scheme


@register_scheme
class PixelPermutation(Scheme):
    """Whole-image pixel permutation + a channel order per pixel + a negation per value."""

    info = SchemeInfo(
        name="pixperm",
        family="example",
        title="Example plugin: whole-image pixel permutation, channel order per pixel, negation per value",
        paper="(example plugin, not published)",
        version=1,
        key_space="(HW)! * 6^(HW) * 2^(3HW)",
        block_wise=False,
        default_image_size=32,
        default_block_size=None,
    )

    def subkeys(self) -> dict[str, tuple[tuple[int, ...], str]]:
        h, w = self.image_size
        return {"pixel_perm": ((h * w,), "perm"), "channel_perm": ((h * w, 3), "perm"), "negate": ((h * w, 3), "bool")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        n = self.image_size[0] * self.image_size[1]
        return {
            "pixel_perm": key.stream("pixel_perm").permutation(n),
            "channel_perm": key.stream("channel_perm").permutations(n, 3),
            "negate": key.stream("negate").bits(n * 3).reshape(n, 3),
        }

    def build_tables(self, material: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        # Flattened C x H x W: output value (c, i) = input value (channel_perm[i, c], pixel_perm[i]) ^ mask.
        n = self.image_size[0] * self.image_size[1]
        src = material["channel_perm"].T * n + material["pixel_perm"][None, :]  # (3, n)
        mask = 255 * material["negate"].T.astype(np.uint8)
        return src.ravel(), mask.ravel()

    def key_space_bits(self) -> float:
        n = self.image_size[0] * self.image_size[1]
        return math.lgamma(n + 1) / math.log(2) + n * math.log2(6) + 3 * n  # log2((HW)!) + ...


@register_scheme
class RowShift(Scheme):
    """A keyed cyclic shift of each row, written as encrypt/decrypt (no tables)."""

    info = SchemeInfo(
        name="rowshift",
        family="example",
        title="Example plugin: keyed cyclic shift of each row (encrypt/decrypt override)",
        paper="(example plugin, not published)",
        version=1,
        key_space="W^H",
        block_wise=False,
        default_image_size=32,
        default_block_size=None,
    )

    def subkeys(self) -> dict[str, tuple[tuple[int, ...], str]]:
        h, w = self.image_size
        return {"shifts": ((h,), f"range{w}")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        h, w = self.image_size
        return {"shifts": key.stream("shifts").integers(w, h)}

    def key_space_bits(self) -> float:
        h, w = self.image_size
        return h * math.log2(w)

    def encrypt(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x, "images")
        return self._shift(x, +1)

    def decrypt(self, y: torch.Tensor) -> torch.Tensor:
        self.check_input(y, "ciphertexts")
        return self._shift(y, -1)

    def _shift(self, x: torch.Tensor, sign: int) -> torch.Tensor:
        """``out[..., r, j] = x[..., r, (j - sign * shifts[r]) mod W]`` for a whole batch at once."""
        h, w = self.image_size
        shifts = torch.as_tensor(self.key_material()["shifts"], dtype=torch.int64)
        columns = (torch.arange(w)[None, :] - sign * shifts[:, None]) % w  # (H, W)
        index = columns.to(x.device).expand(x.shape[0], x.shape[1], h, w)
        return torch.gather(x, 3, index)
