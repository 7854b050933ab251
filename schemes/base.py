"""The scheme base class, its metadata, and the registry (``register_scheme``, ``create_scheme``, ...).

Every scheme in ppbench moves values and flips bits with one key shared by all images, so each one is,
once its key is fixed, a *gather plus XOR*: ``y[i] = x[src[i]] ^ mask[i]`` over the flattened image
(bytes for most schemes, 4-bit nibbles for LE and ELE). A scheme module states its definition and
builds ``src`` and ``mask`` from its key material once, with numpy, at construction; the base class
then encrypts and decrypts whole batches with one ``index_select`` on the input's device, with no loop
over images or blocks. Decryption uses the inverse permutation: ``x[j] = y[inv[j]] ^ mask[inv[j]]``.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from ppbench.errors import InputError, KeyFileError
from ppbench.keys import SchemeKey
from ppbench.registry import Registry, drop_none


@dataclass(frozen=True)
class SchemeInfo:
    """What a scheme is and what it needs, travelling with it into every record."""

    name: str
    family: str
    title: str
    paper: str
    version: int
    key_space: str  # the formula, in words
    block_wise: bool
    default_image_size: int
    default_block_size: int | None
    adapter: str | None = None  # the adaptation network the classifier needs in front ("le", "ele")
    shared_key: bool = True  # one key for every image (true for all schemes here)
    rgb_ciphertext: bool = True  # ciphertext is uint8 H x W x 3 like the plain image
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ImageSize = tuple[int, int]


MAX_IMAGE_SIDE = 4096  # key tables grow with the image: 4096 x 4096 already needs a few GB


def _whole(value: Any, what: str) -> int:
    try:
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(value)
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number, got {value!r}; give e.g. --image-size 224 --block-size 16") from None


def _image_size(value: int | tuple[int, int] | list[int]) -> ImageSize:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InputError(f"image size must be one number or (height, width), got {value!r}")
        return _whole(value[0], "image size"), _whole(value[1], "image size")
    return _whole(value, "image size"), _whole(value, "image size")


def _block_hint(h: int, w: int, default: int | None) -> int:
    """A block size that divides both sides: the scheme's default if it does, else the largest one below it."""
    g = math.gcd(h, w)
    return max(d for d in range(1, min(g, default or g) + 1) if g % d == 0)


def blocks_view(grid: np.ndarray, block_size: int) -> np.ndarray:
    """(C, H, W) -> (N, C, M, M): blocks in row-major order (block i at row i // (W/M), column i % (W/M))."""
    c, h, w = grid.shape
    m = block_size
    return grid.reshape(c, h // m, m, w // m, m).transpose(1, 3, 0, 2, 4).reshape(-1, c, m, m)


def unblock(blocks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`blocks_view`: (N, C, M, M) -> (C, H, W)."""
    n, c, m, _ = blocks.shape
    return blocks.reshape(height // m, width // m, c, m, m).transpose(2, 0, 3, 1, 4).reshape(c, height, width)


class Scheme:
    """A learnable image encryption scheme bound to one key, one image size and one block size.

    Subclasses set :attr:`info`, :attr:`subkeys` (the names and shapes of the key-material arrays),
    and implement :meth:`derive_key_material`, :meth:`build_tables` and :meth:`key_space_bits`.
    """

    info: ClassVar[SchemeInfo]
    nibbles: ClassVar[bool] = False  # True: the gather works on 4-bit halves (LE, ELE)
    channels: ClassVar[int] = 3
    any_size: ClassVar[bool] = False  # True: works on any image size (no key bound to a size)

    def __init__(
        self,
        *,
        key: SchemeKey | None = None,
        key_material: dict[str, np.ndarray] | None = None,
        image_size: int | tuple[int, int] | None = None,
        block_size: int | None = None,
        key_source: str = "the key",
    ) -> None:
        self.image_size, self.block_size = self.check_geometry(image_size, block_size)
        self.key_id: str | None = key.key_id if key is not None else None
        if key_material is not None:
            material = {k: np.asarray(v) for k, v in key_material.items()}
            self._check_material(material)
        elif key is not None:
            if key.scheme != self.info.name:
                key.check(self.info.name, {}, key_source)
            key.check(self.info.name, self.key_params(), key_source)
            material = self.derive_key_material(key)
        elif not self.subkeys():
            material = {}
        else:
            raise KeyFileError(
                f"scheme {self.info.name!r} needs a key: pass key=SchemeKey.generate(...), a key file path, "
                "or key_material={...}"
            )
        self._material = material
        src, mask = self.build_tables(material)
        self._forward = (torch.from_numpy(src.astype(np.int64)), torch.from_numpy(mask.astype(np.uint8)))
        inverse = np.argsort(src, kind="stable")
        self._inverse = (torch.from_numpy(inverse.astype(np.int64)), torch.from_numpy(mask[inverse].astype(np.uint8)))
        self._has_mask = bool(mask.any())
        self._on_device: dict[tuple[str, bool], tuple[torch.Tensor, torch.Tensor]] = {}

    # -- what subclasses define ---------------------------------------------------------------------
    def subkeys(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Name -> (shape, dtype) of each key-material array (docs/schemes.md, "Key material")."""
        return {}

    def derive_key_material(self, key: SchemeKey) -> dict[str, np.ndarray]:
        return {}

    def build_tables(self, material: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``src`` and ``mask`` over the flattened C*H*W image (2*C*H*W nibbles when ``nibbles``)."""
        size = self.flat_size
        return np.arange(size), np.zeros(size, np.uint8)

    def key_space_bits(self) -> float:
        return 0.0

    # -- geometry ------------------------------------------------------------------------------------
    @property
    def flat_size(self) -> int:
        h, w = self.image_size
        return self.channels * h * w * (2 if self.nibbles else 1)

    @property
    def num_blocks(self) -> int:
        h, w = self.image_size
        return (h // self.block_size) * (w // self.block_size)

    def key_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"image_size": list(self.image_size)}
        if self.block_size is not None:
            params["block_size"] = self.block_size
        return params

    @classmethod
    def check_geometry(
        cls, image_size: int | tuple[int, int] | None, block_size: int | None
    ) -> tuple[ImageSize, int | None]:
        """Resolve defaults and refuse sizes the scheme cannot work on, naming the fix."""
        h, w = _image_size(image_size if image_size is not None else cls.info.default_image_size)
        m = (block_size if block_size is not None else cls.info.default_block_size) if cls.info.block_wise else None
        if not (1 <= h <= MAX_IMAGE_SIDE and 1 <= w <= MAX_IMAGE_SIDE):
            raise InputError(f"{cls.info.name}: image size {h}x{w} is out of range; give a size from 1 to "
                             f"{MAX_IMAGE_SIDE} (e.g. --image-size {cls.info.default_image_size}, the paper's)")
        m = _whole(m, "block size") if m is not None else None
        if m is not None and m < 1:
            raise InputError(f"{cls.info.name}: block size {m} must be at least 1; give one that divides the image size "
                             f"{h}x{w} (e.g. --block-size {_block_hint(h, w, cls.info.default_block_size)})")
        if m is not None and (h % m or w % m):
            raise InputError(
                f"{cls.info.name}: image size {h}x{w} is not divisible by the block size {m}; "
                f"resize the images to a multiple of {m} (e.g. {max(m, (h // m) * m)}) or pick a block size that "
                f"divides {h} and {w} (e.g. {_block_hint(h, w, m)})"
            )
        return (h, w), m

    def _check_material(self, material: dict[str, np.ndarray]) -> None:
        expected = self.subkeys()
        if set(material) != set(expected):
            raise KeyFileError(
                f"{self.info.name}: key material must have arrays {sorted(expected)}, got {sorted(material)}"
            )
        for name, (shape, kind) in expected.items():
            arr = material[name]
            if arr.shape != shape:
                raise KeyFileError(f"{self.info.name}: key array {name!r} must have shape {shape}, got {arr.shape}")
            if kind == "perm" and not np.array_equal(np.sort(arr, axis=-1), np.broadcast_to(np.arange(shape[-1]), shape)):
                raise KeyFileError(f"{self.info.name}: key array {name!r} must hold permutations of range({shape[-1]})")
            if kind == "bool" and arr.dtype != bool:
                raise KeyFileError(f"{self.info.name}: key array {name!r} must be boolean")
            if kind.startswith("range") and (arr.min() < 0 or arr.max() >= int(kind[5:])):
                raise KeyFileError(f"{self.info.name}: key array {name!r} must hold values in 0..{int(kind[5:]) - 1}")

    # -- public API ----------------------------------------------------------------------------------
    def key_material(self) -> dict[str, np.ndarray]:
        """The key as named numpy arrays (copies; docs/schemes.md, "Key material")."""
        return {k: v.copy() for k, v in self._material.items()}

    def encrypt(self, x: torch.Tensor) -> torch.Tensor:
        """Encrypt a uint8 batch N x C x H x W on its own device."""
        return self._apply(x, inverse=False)

    def decrypt(self, y: torch.Tensor) -> torch.Tensor:
        """Invert :meth:`encrypt` exactly."""
        return self._apply(y, inverse=True)

    def to_display(self, y: torch.Tensor) -> torch.Tensor:
        """The ciphertext as an RGB uint8 image for figures (the identity for RGB ciphertexts)."""
        return y

    def check_input(self, x: torch.Tensor, what: str = "images") -> None:
        if not isinstance(x, torch.Tensor):
            raise InputError(f"{what} must be a torch.Tensor (N x C x H x W uint8), got {type(x).__name__}; use encrypt_numpy for arrays")
        if x.dtype != torch.uint8:
            raise InputError(
                f"{what} must be uint8 (0..255), got {x.dtype}; convert with (x * 255).round().clamp(0, 255).to(torch.uint8) "
                "if they are floats in [0, 1]"
            )
        if x.dim() != 4:
            raise InputError(f"{what} must be a batch N x C x H x W, got shape {tuple(x.shape)}; add a batch axis with x[None]")
        if x.shape[1] != self.channels:
            raise InputError(f"{what} must have {self.channels} channels (RGB), got {x.shape[1]}; convert grey or RGBA images to RGB")
        if not self.any_size and tuple(x.shape[2:]) != self.image_size:
            h, w = x.shape[2:]
            raise InputError(
                f"{what} are {h}x{w} but this {self.info.name} key is for {self.image_size[0]}x{self.image_size[1]}; "
                f"resize the images or make a key for {h}x{w} (ppbench keygen --image-size {h})"
            )

    def _tables(self, device: torch.device, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        cache_key = (str(device), inverse)
        if cache_key not in self._on_device:
            src, mask = self._inverse if inverse else self._forward
            self._on_device[cache_key] = (src.to(device), mask.to(device))
        return self._on_device[cache_key]

    def _apply(self, x: torch.Tensor, inverse: bool) -> torch.Tensor:
        self.check_input(x, "ciphertexts" if inverse else "images")
        src, mask = self._tables(x.device, inverse)
        flat = x.reshape(x.shape[0], -1)
        if self.nibbles:
            flat = torch.cat([flat & 15, flat >> 4], dim=1)
        out = _gather_columns(flat, src)
        if self._has_mask:
            out.bitwise_xor_(mask)
        if self.nibbles:
            half = out.shape[1] // 2
            out = out[:, :half] | (out[:, half:] << 4)
        return out.reshape(x.shape)

    def __repr__(self) -> str:
        h, w = self.image_size
        block = f", block_size={self.block_size}" if self.block_size else ""
        key = f", key_id={self.key_id}" if self.key_id else ""
        return f"{type(self).__name__}(name={self.info.name!r}, image_size={h}x{w}{block}{key})"


def _gather_columns(flat: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """``flat[:, src]`` as a new tensor. On CPU numpy's ``take`` is about 3x faster than torch's
    ``index_select`` for uint8 (measured: docs/benchmarks.md), so CPU tensors go through numpy
    (sharing memory, no copy); other devices use ``index_select``."""
    if flat.device.type == "cpu":
        return torch.from_numpy(np.take(flat.contiguous().numpy(), src.numpy(), axis=1))
    return flat.index_select(1, src)


# -- numpy helpers -------------------------------------------------------------------------------------
def encrypt_numpy(scheme: Scheme, images: np.ndarray) -> np.ndarray:
    """Encrypt uint8 NHWC (or one HWC) numpy images; returns the same layout."""
    return _numpy_call(scheme.encrypt, images)


def decrypt_numpy(scheme: Scheme, images: np.ndarray) -> np.ndarray:
    return _numpy_call(scheme.decrypt, images)


def _numpy_call(fn: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise InputError(f"expected a numpy array of images, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise InputError(f"images must be uint8 (0..255), got {images.dtype}; convert with np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)")
    single = images.ndim == 3
    batch = images[None] if single else images
    if batch.ndim != 4:
        raise InputError(f"images must be H x W x C or N x H x W x C, got shape {images.shape}")
    out = fn(torch.from_numpy(np.require(batch, requirements=["C", "W"])).permute(0, 3, 1, 2).contiguous())
    result = out.permute(0, 2, 3, 1).contiguous().numpy()
    return result[0] if single else result


def log2_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(2)


# -- registry --------------------------------------------------------------------------------------------
SCHEMES: Registry[type[Scheme]] = Registry("scheme")


def register_scheme(cls: type[Scheme]) -> type[Scheme]:
    """Class decorator: register ``cls`` under ``cls.info.name``."""
    return SCHEMES.register(cls.info.name, cls)


def list_schemes(pattern: str = "*", exclude: str | tuple[str, ...] = ()) -> list[str]:
    return SCHEMES.names(pattern, exclude)


def scheme_info(name: str) -> SchemeInfo:
    return SCHEMES.get(name).info


def create_scheme(
    name: str,
    *,
    key: SchemeKey | str | os.PathLike | None = None,
    key_material: dict[str, np.ndarray] | None = None,
    image_size: int | tuple[int, int] | None = None,
    block_size: int | None = None,
) -> Scheme:
    """Build scheme ``name`` from a key (object or key-file path) or explicit key material.

    Image and block size default to the key's parameters, then to the scheme's defaults; a key made
    for another scheme or size is refused with a message naming both.
    """
    cls = SCHEMES.get(name)
    source = "the key"
    if isinstance(key, (str, os.PathLike)):
        source = f"key file {Path(key)}"
        key = SchemeKey.load(key)
    if key is not None and not isinstance(key, SchemeKey):
        raise KeyFileError(
            f"key must be a SchemeKey or a key-file path, got {type(key).__name__}; integers are not keys: "
            "make one with generate_key(...) or `ppbench keygen`"
        )
    if key is not None:
        try:  # a key made outside `ppbench keygen` may carry sizes no scheme can use
            cls.check_geometry(key.params.get("image_size"), key.params.get("block_size"))
        except InputError as exc:
            raise KeyFileError(f"{source} holds unusable sizes ({exc}); make a new key with `ppbench keygen`") from None
        image_size = image_size if image_size is not None else key.params.get("image_size")
        block_size = block_size if block_size is not None else key.params.get("block_size")
    return cls(key=key, key_material=key_material, image_size=image_size, block_size=block_size, key_source=source)


def generate_key(name: str, *, image_size: int | tuple[int, int] | None = None, block_size: int | None = None) -> SchemeKey:
    """A fresh key for scheme ``name`` (the scheme's default sizes where not given)."""
    cls = SCHEMES.get(name)
    if block_size is not None and not cls.info.block_wise:
        raise InputError(f"scheme {name!r} is not block-wise: drop --block-size")
    size, block = cls.check_geometry(image_size, block_size)
    params: dict[str, Any] = {"image_size": list(size)}
    if block is not None:
        params["block_size"] = block
    return SchemeKey.generate(cls.info.name, **params)
