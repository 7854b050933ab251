"""Schemes ppbench has never seen, written only for tests and benchmarks of the generic attacks (one copy).

Three are in family F (a fixed permutation of byte positions plus a fixed XOR mask), one is outside it:

- :class:`PixelShuffle`: a whole-image pixel permutation, a channel order per pixel and a negation per value,
  written in the table form (``subkeys`` / ``derive_key_material`` / ``build_tables``);
- :class:`HiddenPixelShuffle`: the same map written as ``encrypt`` / ``decrypt`` overrides that expose no key
  material (what a plugin that hides its structure looks like);
- :class:`ByteShuffle`: one permutation of all 3 H W byte positions and a negation per byte;
- :class:`ByteSubstitution`: outside F, a keyed random substitution (S-box) per byte position.

:func:`registered` registers them for the duration of a ``with`` block only, so the registry is left as found.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from ppbench.keys import SchemeKey
from ppbench.schemes import Scheme, SchemeInfo, create_scheme
from ppbench.schemes import base as schemes_base


def _info(name: str, title: str, key_space: str) -> SchemeInfo:
    return SchemeInfo(name=name, family="test", title=f"test only: {title}", paper="(test only)", version=1,
                      key_space=key_space, block_wise=False, default_image_size=32, default_block_size=None)


def _pixel_shuffle_tables(key: SchemeKey, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Source index per output byte and XOR mask: output (c, i) <- input (order[i, c], perm[i]), negated or not."""
    perm, order = key.stream("pixels").permutation(n), key.stream("channels").permutations(n, 3)
    return (order.T * n + perm[None, :]).ravel(), (255 * key.stream("negate").bits(3 * n)).astype(np.uint8)


class PixelShuffle(Scheme):
    """In F: a whole-image pixel permutation, a channel order per pixel, a negation per value (table form)."""

    info = _info("test_pixel_shuffle", "pixel permutation + channel order + negation", "(HW)! 6^(HW) 2^(3HW)")

    def subkeys(self):
        n = self.image_size[0] * self.image_size[1]
        return {"pixel_perm": ((n,), "perm"), "channel_perm": ((n, 3), "perm"), "negate": ((3 * n,), "bool")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        n = self.image_size[0] * self.image_size[1]
        return {"pixel_perm": key.stream("pixels").permutation(n), "channel_perm": key.stream("channels").permutations(n, 3),
                "negate": key.stream("negate").bits(3 * n)}

    def build_tables(self, material):
        n = self.image_size[0] * self.image_size[1]
        src = material["channel_perm"].T * n + material["pixel_perm"][None, :]
        return src.ravel(), 255 * material["negate"].astype(np.uint8)


class HiddenPixelShuffle(Scheme):
    """In F: the map of :class:`PixelShuffle` as encrypt/decrypt overrides; it does not expose key material."""

    info = _info("test_unseen_f", "pixel permutation + channel order + negation, key hidden", "(HW)! 6^(HW) 2^(3HW)")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._src, self._mask = _pixel_shuffle_tables(kwargs["key"], self.image_size[0] * self.image_size[1])
        self._inv = np.argsort(self._src)

    def key_material(self):
        raise NotImplementedError("this test scheme does not expose its key material")

    def encrypt(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return torch.from_numpy(x.reshape(x.shape[0], -1).numpy()[:, self._src] ^ self._mask).reshape(x.shape)

    def decrypt(self, y: torch.Tensor) -> torch.Tensor:
        self.check_input(y, "ciphertexts")
        return torch.from_numpy((y.reshape(y.shape[0], -1).numpy() ^ self._mask)[:, self._inv]).reshape(y.shape)


class ByteShuffle(Scheme):
    """In F: one permutation of all 3 H W byte positions and a negation per byte (colour planes mixed freely)."""

    info = _info("test_byte_shuffle", "permutation of all byte positions + negation per byte", "(3HW)! 2^(3HW)")

    def subkeys(self):
        d = 3 * self.image_size[0] * self.image_size[1]
        return {"perm": ((d,), "perm"), "negate": ((d,), "bool")}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        d = 3 * self.image_size[0] * self.image_size[1]
        return {"perm": key.stream("perm").permutation(d), "negate": key.stream("negate").bits(d)}

    def build_tables(self, material):
        return material["perm"], 255 * material["negate"].astype(np.uint8)


class ByteSubstitution(Scheme):
    """Outside F: a keyed random substitution (S-box) per byte position, the same for every image."""

    info = _info("test_sbox", "keyed byte substitution per position", "(256!)^(3HW)")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        h, w = self.image_size
        self._boxes = kwargs["key"].stream("sbox").permutations(3 * h * w, 256).astype(np.uint8)
        self._inverse = np.argsort(self._boxes, axis=1).astype(np.uint8)
        self._rows = np.arange(3 * h * w)[None, :]

    def key_material(self):
        raise NotImplementedError("this test scheme does not expose its key material")

    def _substitute(self, x: torch.Tensor, boxes: np.ndarray) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1).numpy().astype(np.int64)
        return torch.from_numpy(boxes[self._rows, flat]).reshape(x.shape)

    def encrypt(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self._substitute(x, self._boxes)

    def decrypt(self, y: torch.Tensor) -> torch.Tensor:
        self.check_input(y, "ciphertexts")
        return self._substitute(y, self._inverse)


IN_F = (PixelShuffle, HiddenPixelShuffle, ByteShuffle)
OUTSIDE_F = (ByteSubstitution,)
ALL = IN_F + OUTSIDE_F


@contextmanager
def registered(*classes: type[Scheme]) -> Iterator[None]:
    """Register ``classes`` (default: all four) for the block only; the registry is restored afterwards."""
    classes = classes or ALL
    for cls in classes:
        schemes_base.SCHEMES.register(cls.info.name, cls)
    try:
        yield
    finally:
        for cls in classes:
            schemes_base.SCHEMES.unregister(cls.info.name)


def keyed(cls: type[Scheme], secret: bytes, size: int = 32) -> Scheme:
    """An instance of a registered test scheme under a fixed secret (a failure must reproduce)."""
    return create_scheme(cls.info.name, key=SchemeKey(scheme=cls.info.name, params={"image_size": [size, size]}, secret=secret))
