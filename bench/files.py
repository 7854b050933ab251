"""Encrypt or decrypt images on disk: one image file, a folder of images, or an ``.npz`` of arrays.

Ciphertexts are written losslessly (PNG or npz): a lossy format would destroy them. Every output is
written atomically (a file via temp + rename, a folder built beside the target and renamed into
place), so a failure never leaves half an output behind.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .atomic import atomic_path
from .errors import DataError, InputError, OutputExistsError
from .transforms import nchw_to_nhwc, nhwc_to_nchw, resize_uint8

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
LOSSLESS_SUFFIXES = {".png", ".bmp", ".tif", ".tiff"}

Transform = Callable[[torch.Tensor], torch.Tensor]


def read_image(path: Path) -> np.ndarray:
    """An RGB image file as uint8 H x W x 3; other channel counts are refused, naming the fix."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            array = np.asarray(img)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image {path}: {exc.__class__.__name__}; is it a valid PNG/JPEG file?") from None
    if mode != "RGB" or array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"image {path} is {mode} ({array.shape[2] if array.ndim == 3 else 1} channel(s)); schemes need RGB: convert it first (e.g. PIL's img.convert('RGB'))")
    if array.dtype != np.uint8:
        raise InputError(f"image {path} has {array.dtype} pixels; schemes need 8-bit RGB")
    return array


def write_png(path: Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(image, mode="RGB").save(tmp, format="PNG")


def _check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise OutputExistsError(f"output {output} already exists; choose another path or pass --overwrite")


def _transform_batch(images: np.ndarray, transform: Transform, resize: int | None) -> np.ndarray:
    x = nhwc_to_nchw(images)
    if resize:
        x = resize_uint8(x, resize)
    return nchw_to_nhwc(transform(x))


def transform_path(input_path: Path, output: Path, transform: Transform, *, resize: int | None = None,
                   overwrite: bool = False) -> int:
    """Apply ``transform`` (a scheme's encrypt or decrypt) to INPUT and write OUTPUT; returns the image count."""
    input_path, output = Path(input_path), Path(output)
    if not input_path.exists():
        raise DataError(f"input {input_path} does not exist")
    _check_output(output, overwrite)
    if input_path.is_dir():
        return _transform_folder(input_path, output, transform, resize)
    if input_path.suffix.lower() == ".npz":
        if output.suffix.lower() != ".npz":
            raise InputError(f"output {output} must end in .npz for an .npz input (arrays are stored losslessly)")
        return _transform_npz(input_path, output, transform, resize)
    if input_path.suffix.lower() in IMAGE_SUFFIXES:
        if output.suffix.lower() not in LOSSLESS_SUFFIXES:
            raise InputError(f"output {output} must be a lossless image (.png): a lossy format would destroy the ciphertext")
        image = read_image(input_path)
        write_png(output, _transform_batch(image[None], transform, resize)[0])
        return 1
    raise InputError(f"input {input_path} is neither an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a folder nor an .npz file")


def _transform_folder(folder: Path, output: Path, transform: Transform, resize: int | None) -> int:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for path in files:
            target = staging / path.relative_to(folder).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_transform_batch(read_image(path)[None], transform, resize)[0], mode="RGB").save(target, format="PNG")
        if output.exists():
            shutil.rmtree(output) if output.is_dir() else output.unlink()
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return len(files)


def _transform_npz(path: Path, output: Path, transform: Transform, resize: int | None) -> int:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read {path} as .npz ({exc.__class__.__name__}); is the file complete?") from None
    count = 0
    out: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        if array.ndim == 4:
            if array.dtype != np.uint8:
                raise InputError(f"array {name!r} in {path} is {array.dtype}; images must be uint8 N x H x W x 3 (0..255)")
            if array.shape[-1] != 3:
                raise InputError(f"array {name!r} in {path} has shape {array.shape}; images must be N x H x W x 3 (channels last, RGB)")
            out[name] = _transform_batch(array, transform, resize)
            count += len(array)
        else:
            out[name] = array
    if count == 0:
        raise InputError(f"{path} holds no rank-4 uint8 N x H x W x 3 image arrays")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **out)
    with atomic_path(output) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return count
