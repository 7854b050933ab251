"""Encrypt or decrypt images on disk: one image file, a folder of images, or an ``.npz`` of arrays.

Nothing a user wrote is lost:

- Ciphertexts are written losslessly (PNG or npz): a lossy format would destroy them.
- OUTPUT is kept apart from INPUT: an OUTPUT that is the INPUT, lies inside it or contains it
  (compared after resolving symlinks) is refused before anything is read or written.
- Without ``--overwrite`` an existing OUTPUT is refused, and creating OUTPUT is exclusive: of two runs
  writing one OUTPUT at once, one succeeds and the other fails, and neither replaces the other's.
- With ``--overwrite`` a run replaces only the files it produces, each one atomically, and never removes
  anything else in an existing OUTPUT folder; it never replaces a folder by a file or a file by a folder.
- A folder is built whole in a staging folder beside OUTPUT (``.OUTPUT.ppbench-staging.<host>.<pid>.<random>``)
  and moved in only when every image is done, so a failure leaves OUTPUT as it was; the staging folder of
  a killed run is removed by the next run to the same OUTPUT.
- Two inputs that would give one output name (``a.png`` and ``a.jpg``) are refused before anything is written.
- Only images ppbench holds exactly are read: 8-bit RGB, or RGBA whose alpha is fully opaque (the alpha
  is dropped, nothing is lost). 16-bit, palette, grey, CMYK and translucent images are refused.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .atomic import atomic_path, make_staging_dir, remove_stale, rename_exclusive
from .errors import DataError, InputError, OutputError, OutputExistsError
from .npzfile import read_npz
from .schemes.base import MAX_IMAGE_SIDE
from .transforms import nchw_to_nhwc, nhwc_to_nchw, resize_uint8

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
LOSSLESS_SUFFIXES = {".png", ".bmp", ".tif", ".tiff"}

Transform = Callable[[torch.Tensor], torch.Tensor]


def _bit_depth(path: Path, img: Image.Image) -> int:
    """Bits per channel as stored in the file (PIL reads a 16-bit RGB PNG as 8-bit "RGB" silently)."""
    if img.format == "PNG":
        with open(path, "rb") as handle:
            header = handle.read(26)  # signature (8), IHDR length and type (8), width, height, bit depth
        if len(header) == 26 and header[12:16] == b"IHDR":
            return header[24]
    if img.format == "TIFF":
        bits = getattr(img, "tag_v2", {}).get(258, (8,))
        return max(bits) if isinstance(bits, tuple) else int(bits)
    return {"I;16": 16, "I;16B": 16, "I;16L": 16, "I": 32, "F": 32}.get(img.mode, 8)


def read_image(path: Path) -> np.ndarray:
    """An 8-bit RGB image file as uint8 H x W x 3; anything ppbench cannot hold exactly is refused, naming the fix."""
    try:
        with Image.open(path) as img:
            img.load()
            mode, kind, depth = img.mode, img.format or path.suffix.lstrip(".").upper(), _bit_depth(path, img)
            array = np.asarray(img)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path}: {exc.__class__.__name__}; is it a valid PNG/JPEG file?") from None
    if depth > 8:
        raise InputError(f"image {path} is a {depth}-bit {kind} (mode {mode}); ppbench encrypts 8-bit RGB only and would "
                         "drop the low bits: save it as 8-bit RGB first (e.g. `magick IN -depth 8 OUT.png`) if that loss is acceptable")
    if mode in ("P", "PA"):
        raise InputError(f"image {path} is a palette {kind} (mode {mode}); ppbench encrypts 8-bit RGB only: "
                         "convert it first (e.g. PIL's img.convert('RGB'))")
    if mode == "RGBA" and array.ndim == 3 and array.shape[2] == 4:
        if not (array[..., 3] == 255).all():
            raise InputError(f"image {path} has transparent pixels (RGBA); ciphertexts are RGB and would lose the alpha "
                             "channel: flatten it onto a background first (e.g. PIL's Image.alpha_composite) and save as RGB")
        array, mode = array[..., :3], "RGB"  # fully opaque: the alpha channel carries nothing
    if mode != "RGB" or array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"image {path} is {mode} ({array.shape[2] if array.ndim == 3 else 1} channel(s)); schemes need RGB: convert it first (e.g. PIL's img.convert('RGB'))")
    if array.dtype != np.uint8:
        raise InputError(f"image {path} has {array.dtype} pixels; schemes need 8-bit RGB")
    return np.ascontiguousarray(array)


def _save_png(path: Path, image: np.ndarray) -> None:
    """Write a PNG and flush it to disk (it is moved into place later)."""
    with open(path, "wb") as handle:
        Image.fromarray(image, mode="RGB").save(handle, format="PNG")
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _writing(output: Path) -> Iterator[None]:
    """Turn an OS refusal to write OUTPUT into one line naming it and the fix."""
    try:
        yield
    except FileExistsError:
        raise OutputExistsError(f"output {output} was created by another process while this run worked; nothing was "
                                "written: choose another path or pass --overwrite") from None
    except PermissionError as exc:
        raise OutputError(f"cannot write {exc.filename or output} (permission denied); choose an OUTPUT in a folder "
                          "you can write to") from None
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or output} ({exc.strerror or exc.__class__.__name__}); "
                          "choose another OUTPUT") from None


def _check_separate(input_path: Path, output: Path, suggestion: Path) -> None:
    """Refuse an OUTPUT that is the INPUT, lies inside it or contains it (symlinks resolved)."""
    src, dst = input_path.resolve(), output.resolve()
    if src == dst or (output.exists() and os.path.samefile(input_path, output)):
        problem = f"output {output} is the input {input_path} itself"
    elif src in dst.parents:
        problem = f"output {output} lies inside the input {input_path}"
    elif dst in src.parents:
        problem = f"output {output} contains the input {input_path}"
    else:
        return
    raise OutputError(f"{problem}; ppbench never writes into, over or around its input: choose a separate output, "
                      f"e.g. {suggestion}")


def _check_output(input_path: Path, output: Path, overwrite: bool, folder: bool) -> None:
    """Refuse an existing OUTPUT without --overwrite, and a file/folder mismatch even with it."""
    if folder and output.exists() and not output.is_dir():
        raise OutputError(f"output {output} is a file but the input {input_path} is a folder, which gives a folder; "
                          "--overwrite never replaces a file by a folder: choose another output")
    if not folder and output.is_dir():
        raise OutputError(f"output {output} is a folder but the input {input_path} gives one file; --overwrite never "
                          f"replaces a folder by a file: name a file, e.g. {output / output_name(input_path)}")
    if (output.exists() or output.is_symlink()) and not overwrite:
        raise OutputExistsError(f"output {output} already exists; choose another path or pass --overwrite")


def output_name(input_path: Path) -> str:
    """The name an input's ciphertext gets: PNG for images (lossless), the same name otherwise."""
    return input_path.with_suffix(".png").name if input_path.suffix.lower() in IMAGE_SUFFIXES else input_path.name


def _transform_batch(images: np.ndarray, transform: Transform, resize: int | None) -> np.ndarray:
    x = nhwc_to_nchw(images)
    if resize:
        x = resize_uint8(x, resize)
    return nchw_to_nhwc(transform(x))


def transform_path(input_path: Path, output: Path, transform: Transform, *, resize: int | None = None,
                   overwrite: bool = False) -> int:
    """Apply ``transform`` (a scheme's encrypt or decrypt) to INPUT and write OUTPUT; returns the image count.

    The rules that keep the user's files safe are in this module's docstring.
    """
    input_path, output = Path(input_path), Path(output)
    if not input_path.exists():
        raise DataError(f"input {input_path} does not exist")
    if resize is not None and not 1 <= resize <= MAX_IMAGE_SIDE:
        raise InputError(f"--resize {resize} is out of range; give a size from 1 to {MAX_IMAGE_SIDE} (the paper: --resize 224)")
    folder, suffix = input_path.is_dir(), input_path.suffix.lower()
    if not folder and suffix != ".npz" and suffix not in IMAGE_SUFFIXES:
        raise InputError(f"input {input_path} is neither an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a folder nor an .npz file")
    if suffix == ".npz" and not folder and output.suffix.lower() != ".npz" and not output.is_dir():
        raise InputError(f"output {output} must end in .npz for an .npz input (arrays are stored losslessly)")
    if suffix in IMAGE_SUFFIXES and not folder and output.suffix.lower() not in LOSSLESS_SUFFIXES and not output.is_dir():
        raise InputError(f"output {output} must be a lossless image (.png): a lossy format would destroy the ciphertext")
    stem = input_path.name[: len(input_path.name) - len(input_path.suffix)] if not folder else input_path.name
    _check_separate(input_path, output, input_path.with_name(f"{stem}-out{'' if folder else Path(output_name(input_path)).suffix}"))
    _check_output(input_path, output, overwrite, folder)
    if folder:
        return _transform_folder(input_path, output, transform, resize, overwrite)
    if suffix == ".npz":
        buffer, count = _transform_npz(input_path, transform, resize)
        _publish_bytes(output, buffer, overwrite)
        return count
    buffer = io.BytesIO()
    Image.fromarray(_transform_batch(read_image(input_path)[None], transform, resize)[0], mode="RGB").save(buffer, format="PNG")
    _publish_bytes(output, buffer.getvalue(), overwrite)
    return 1


def _publish_bytes(output: Path, data: bytes, overwrite: bool) -> None:
    """Write one output file atomically; exclusively (never replacing anything) without ``overwrite``."""
    remove_stale(output)
    with _writing(output), atomic_path(output, exclusive=not overwrite) as tmp:
        tmp.write_bytes(data)


def _plan_folder(folder: Path) -> list[tuple[Path, Path]]:
    """(image file, its output path relative to OUTPUT) for every image under ``folder``; name clashes refused."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    taken: dict[Path, Path] = {}
    for path in files:
        rel = path.relative_to(folder).with_suffix(".png")
        if rel in taken:
            raise InputError(f"{taken[rel]} and {path} would both be written as {rel} (ciphertexts are PNG); "
                             "rename one of them or move it to another folder")
        taken[rel] = path
    return [(path, rel) for rel, path in taken.items()]


def _check_targets(output: Path, rels: list[Path]) -> None:
    """In an existing OUTPUT folder, refuse a target that is a folder (or a parent that is a file) before any work."""
    for rel in rels:
        dest = output / rel
        if dest.is_dir():
            raise OutputError(f"{dest} is a folder where this run would write the image {rel}; --overwrite replaces "
                              "files only: move that folder away or choose another output")
        for parent in rel.parents:
            if parent != Path(".") and (output / parent).exists() and not (output / parent).is_dir():
                raise OutputError(f"{output / parent} is a file where this run needs the folder {parent}; move it "
                                  "away or choose another output")


def _transform_folder(folder: Path, output: Path, transform: Transform, resize: int | None, overwrite: bool) -> int:
    plan = _plan_folder(folder)
    existing = output.exists()
    if existing:
        _check_targets(output, [rel for _, rel in plan])
    with _writing(output):
        remove_stale(output)
        staging = make_staging_dir(output)
    try:
        for path, rel in plan:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            _save_png(target, _transform_batch(read_image(path)[None], transform, resize)[0])
        if not existing:
            try:
                rename_exclusive(staging, output)
                return len(plan)
            except FileExistsError:
                if not overwrite or not output.is_dir():
                    with _writing(output):
                        raise
                _check_targets(output, [rel for _, rel in plan])
        with _writing(output):
            for _, rel in plan:  # each file replaced atomically; nothing else in OUTPUT is touched
                dest = output / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / rel, dest)
        return len(plan)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _transform_npz(path: Path, transform: Transform, resize: int | None) -> tuple[bytes, int]:
    """The transformed .npz as bytes (every rank-4 image array transformed, other arrays copied) and the image count."""
    arrays = read_npz(path)
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
    return buffer.getvalue(), count
