"""Family F: ciphers that, once their key is fixed, move the bits of an image and flip a fixed set of them.

Every scheme in ppbench is such a cipher (bytes or nibbles moved, negation = XOR 255 or 15), and so is any
scheme that permutes and negates with one key for every image. A member of F on uint8 C x H x W images is a
:class:`BitMap`: cipher bit ``i`` is plain bit ``src[i]`` XOR ``mask[i]``, over the ``B = 8 C H W`` bit
positions numbered ``8 * byte + k`` (``byte`` the C-order index into the flattened C x H x W image, ``k``
the bit, 0 = least significant). The generic attacks (``kpa_generic``, ``cpa_generic``) recover this map
from data alone, so they judge a scheme with no code written for it.

:func:`probe` reads the map of any encryption function with ``ceil(log2 B) + 1`` chosen images (the
all-zero image gives ``mask``; image ``k`` sets plain bit ``p`` to bit ``k`` of ``p``, so each cipher bit
spells its source index in binary) and :func:`verify` checks it on further images: the only test of
membership in F there is, since a function outside F can agree with a map on the probes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from ppbench.errors import InputError

CHANNELS = 3
_CHUNK_BITS = 1 << 26  # unpacked bits per batch on the general path (64 MB of uint8)


def bit_count(image_size: int | tuple[int, int], channels: int = CHANNELS) -> int:
    """``B = 8 C H W``, the bit positions of one image."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    return 8 * channels * int(h) * int(w)


def probe_count(image_size: int | tuple[int, int]) -> int:
    """``ceil(log2 B)``: the binary-coded images :func:`probe` needs besides the all-zero one."""
    return max(1, math.ceil(math.log2(bit_count(image_size))))


def as_uint8_numpy(x: torch.Tensor | np.ndarray, what: str = "images") -> np.ndarray:
    """uint8 N x 3 x H x W tensor or array -> a contiguous numpy array on the CPU."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] != CHANNELS:
        raise InputError(f"{what} must be uint8 N x {CHANNELS} x H x W, got {x.dtype} {x.shape}")
    return x


def to_bits(x: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) -> (N, B) of 0/1, bit ``8 * byte + k`` = bit k of the byte."""
    return np.unpackbits(x.reshape(x.shape[0], -1), axis=1, bitorder="little")


def from_bits(bits: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`to_bits` for images of ``shape`` (C, H, W)."""
    return np.packbits(bits, axis=1, bitorder="little").reshape(bits.shape[0], *shape)


class BitMap:
    """One member of F on images of ``shape`` (C, H, W): cipher bit i = plain bit ``src[i]`` ^ ``mask[i]``.

    ``apply`` encrypts, ``decrypt`` inverts (``src`` must then be a permutation); both take uint8
    N x C x H x W tensors or arrays and return the same kind, on the input's device. A map that moves whole
    bytes (or nibbles) in bit order is applied with one byte (nibble) gather; any other with unpacked bits.
    Duck-types as a scheme for :class:`~ppbench.attacks.kpa.KeyRecoveryAttack` (``decrypt``, ``key_material``).
    """

    def __init__(self, src: np.ndarray, mask: np.ndarray, shape: tuple[int, int, int]) -> None:
        self.shape = tuple(int(s) for s in shape)
        n = 8 * int(np.prod(self.shape))
        self.src = np.ascontiguousarray(src, dtype=np.int64).ravel()
        self.mask = np.ascontiguousarray(mask, dtype=np.uint8).ravel()
        if self.src.size != n or self.mask.size != n:
            raise InputError(f"a bit map for {self.shape} images needs {n} entries, got src {self.src.size}, mask {self.mask.size}")
        if n and (self.src.min() < 0 or self.src.max() >= n or self.mask.max() > 1):
            raise InputError(f"a bit map needs src in 0..{n - 1} and mask bits 0/1")
        self._inverse: BitMap | None = None
        self.unit = self._unit()

    @classmethod
    def from_key_material(cls, material: dict[str, np.ndarray], image_size: int | tuple[int, int]) -> "BitMap":
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        return cls(np.asarray(material["src"]), np.asarray(material["mask"]), (CHANNELS, int(h), int(w)))

    @classmethod
    def identity(cls, shape: tuple[int, int, int]) -> "BitMap":
        n = 8 * int(np.prod(shape))
        return cls(np.arange(n), np.zeros(n, np.uint8), shape)

    # -- what it is -----------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.src.size

    def is_permutation(self) -> bool:
        """True when every plain bit feeds exactly one cipher bit (the map can be inverted)."""
        return bool(np.array_equal(np.bincount(self.src, minlength=self.size), np.ones(self.size, np.int64)))

    def moves(self, width: int) -> bool:
        """True when the map moves aligned groups of ``width`` bits (8: bytes, 4: nibbles) whole, in bit order."""
        groups = self.src.reshape(-1, width)
        return bool(np.all(groups[:, :1] % width == 0) and np.all(groups - groups[:, :1] == np.arange(width)))

    def _unit(self) -> int:
        return 8 if self.moves(8) else 4 if self.moves(4) else 1

    def unit_masks(self, width: int) -> np.ndarray:
        """The mask as one integer per aligned group of ``width`` bits (bytes: 0..255, nibbles: 0..15)."""
        weights = (1 << np.arange(width)).astype(np.int64)
        return self.mask.reshape(-1, width).astype(np.int64) @ weights

    def key_material(self) -> dict[str, np.ndarray]:
        """The map as arrays (copies): ``src`` (int64) and ``mask`` (uint8 0/1), one entry per cipher bit."""
        return {"src": self.src.copy(), "mask": self.mask.copy()}

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, BitMap) and self.shape == other.shape and np.array_equal(self.src, other.src)
                and np.array_equal(self.mask, other.mask))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        kind = {8: "bytes", 4: "nibbles", 1: "bits"}[self.unit]
        return f"BitMap({'x'.join(map(str, self.shape))}, moves {kind}, {int(self.mask.sum())} bits flipped)"

    # -- applying it ----------------------------------------------------------------------------------------
    def inverse(self) -> "BitMap":
        """The map that undoes this one (plain bit ``src[i]`` = cipher bit i ^ ``mask[i]``)."""
        if self._inverse is None:
            if not self.is_permutation():
                raise InputError("this bit map is not a permutation of the bit positions, so it cannot be inverted")
            inv = np.empty_like(self.src)
            inv[self.src] = np.arange(self.size)
            self._inverse = BitMap(inv, self.mask[inv], self.shape)
        return self._inverse

    def apply(self, x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Encrypt uint8 N x C x H x W images with this map."""
        return self._run(x, self._apply_numpy)

    def decrypt(self, y: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Invert :meth:`apply` exactly."""
        return self._run(y, self.inverse()._apply_numpy)

    def reproduces(self, plain: torch.Tensor | np.ndarray, cipher: torch.Tensor | np.ndarray) -> bool:
        """True when the map encrypts every image of ``plain`` to the matching image of ``cipher``, bit for bit."""
        x, y = as_uint8_numpy(plain, "plain images"), as_uint8_numpy(cipher, "cipher images")
        return x.shape == y.shape and bool(np.array_equal(self._apply_numpy(x), y))

    def _run(self, x: torch.Tensor | np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor | np.ndarray:
        arr = as_uint8_numpy(x)
        if tuple(arr.shape[1:]) != self.shape:
            raise InputError(f"this bit map is for {'x'.join(map(str, self.shape))} images, got {'x'.join(map(str, arr.shape[1:]))}")
        out = fn(arr)
        return torch.from_numpy(out).to(x.device) if isinstance(x, torch.Tensor) else out

    def _apply_numpy(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        if self.unit == 8:
            out = np.take(flat, self.src[::8] // 8, axis=1)
            out ^= self.unit_masks(8).astype(np.uint8)
            return out.reshape(x.shape)
        if self.unit == 4:
            nib = np.stack([flat & 15, flat >> 4], axis=2).reshape(n, -1)
            out = np.take(nib, self.src[::4] // 4, axis=1)
            out ^= self.unit_masks(4).astype(np.uint8)
            out = out.reshape(n, -1, 2)
            return (out[:, :, 0] | (out[:, :, 1] << 4)).reshape(x.shape)
        out = np.empty_like(flat)
        step = max(1, _CHUNK_BITS // self.size)
        for s in range(0, n, step):
            bits = np.take(to_bits(x[s : s + step]), self.src, axis=1)
            bits ^= self.mask
            out[s : s + step] = np.packbits(bits, axis=1, bitorder="little")
        return out.reshape(x.shape)


# -- probing with chosen images --------------------------------------------------------------------------------
def coded_images(shape: tuple[int, int, int]) -> np.ndarray:
    """``ceil(log2 B)`` uint8 images: in image k, plain bit p is bit k of p (so cipher bits spell their source)."""
    n = 8 * int(np.prod(shape))
    positions = np.arange(n, dtype=np.int64)
    k = probe_count(shape[1:])
    bits = ((positions[None, :] >> np.arange(k)[:, None]) & 1).astype(np.uint8)
    return from_bits(bits, shape)


def decode(zero_cipher: np.ndarray, coded_ciphers: np.ndarray) -> BitMap | None:
    """The map that explains the ciphertexts of the all-zero image and of :func:`coded_images`, or None when
    the decoded source indices are not a permutation of the bit positions (then no member of F does)."""
    shape = tuple(zero_cipher.shape[1:])
    mask = to_bits(zero_cipher)[0]
    src = np.zeros(mask.size, np.int64)
    for k, bits in enumerate(to_bits(coded_ciphers)):
        src |= (bits ^ mask).astype(np.int64) << k
    if src.max() >= mask.size:
        return None
    found = BitMap(src, mask, shape)  # type: ignore[arg-type]
    return found if found.is_permutation() else None


def probe(encrypt: Callable[[torch.Tensor], torch.Tensor], image_size: int | tuple[int, int]) -> BitMap | None:
    """Read the map of ``encrypt`` (uint8 N x 3 x H x W -> same) from ``probe_count + 1`` chosen images:
    the map that explains them, or None when none does. Check the result with :func:`verify`."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    shape = (CHANNELS, int(h), int(w))
    zero = as_uint8_numpy(encrypt(torch.zeros((1, *shape), dtype=torch.uint8)), "ciphertexts")
    coded = as_uint8_numpy(encrypt(torch.from_numpy(coded_images(shape))), "ciphertexts")
    if zero.shape[1:] != shape or coded.shape[1:] != shape:
        raise InputError(f"the encryption returned {zero.shape[1:]} images for {shape} inputs; family F keeps the shape")
    return decode(zero, coded)


def verify(bitmap: BitMap, encrypt: Callable[[torch.Tensor], torch.Tensor], count: int,
           generator: torch.Generator | None = None) -> bool:
    """True when ``bitmap`` reproduces ``encrypt`` on ``count`` uniformly random images (a function outside F
    that agrees with a map on the probes disagrees on random images with overwhelming probability)."""
    if count < 1:
        return True
    x = torch.randint(0, 256, (count, *bitmap.shape), dtype=torch.uint8, generator=generator)
    return bitmap.reproduces(x, encrypt(x))


def describe(bitmap: BitMap) -> dict[str, Any]:
    """What a map moves and flips, for records and tests: unit (8 bytes, 4 nibbles, 1 bits), flipped bits."""
    return {"unit": bitmap.unit, "bits": bitmap.size, "flipped_bits": int(bitmap.mask.sum()),
            "permutation": bitmap.is_permutation()}


__all__ = ["BitMap", "bit_count", "probe_count", "coded_images", "decode", "probe", "verify", "to_bits", "from_bits",
           "as_uint8_numpy", "describe"]
