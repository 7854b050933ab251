"""Data for ``ppbench run``: loading data sets as uint8 tensors, and the paper's order of operations.

Data set names (``--dataset``):

- ``cifar10`` / ``cifar100``: torchvision's loaders over a cache folder, ``$PPBENCH_DATA`` or else
  ``$XDG_CACHE_HOME/ppbench/data`` (default ``~/.cache/ppbench/data``). Downloading is allowed by default
  (``download=True``; ``--no-download`` forbids it). torchvision verifies every file by MD5 (the archive
  after download, then each pickled batch and the meta file before loading). Offline and not cached, the
  error says where to get the official tarball and where to put it; a tarball already in the cache folder
  is verified and extracted without touching the network.
- ``npz:PATH``: arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` (uint8 N x H x W x 3 images,
  integer labels) and optionally ``classes``. Labels are class indices: with ``classes``, each is below
  ``len(classes)``; without it, there are C = max label + 1 classes, and at least half of the indices
  0..C-1 must be used by some image (train and test together). So labels 100..109 (10 of 110 indices)
  are refused instead of being read as 110 classes, while a small sample that happens to miss a class
  or two loads (with a warning naming them). Both splits need at least one image.
- ``folder:PATH``: ``PATH/train/<class>/*.png`` and ``PATH/test/<class>/*.png`` (torchvision's ImageFolder
  layout); every image must have the same size.
- ``sample``: the bundled real CIFAR-10 sample (``ppbench/sample/cifar10-sample.npz``, 2,000 / 500 images).

Every data set loads to uint8 N x 3 x H x W tensors at its native size and int64 labels, in the data set's
own order. :class:`BatchPipeline` then applies the paper's order of operations batch by batch, on the
training device: resize to the run's image size (bicubic, :func:`ppbench.transforms.resize_uint8`; per batch,
so 50,000 images are never held at 224 x 224), plain-domain augmentation (random crop with zero padding
4 * size / 32 and a horizontal flip, both drawn from a seeded ``torch.Generator`` on the CPU so that the
draws do not depend on the device), then encryption with the run's fixed key, then float in [0, 1].
Test images are resized and encrypted the same way, never augmented.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import logging
import os
import pickle
import tarfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .errors import DataError, InputError
from .npzfile import read_npz
from .transforms import nhwc_to_nchw, resize_uint8

__all__ = [
    "Dataset", "load_dataset", "data_root", "dataset_label", "check_dataset_name", "random_crop_flip",
    "BatchPipeline", "crop_padding_for", "SAMPLE_PATH", "TORCHVISION_SETS", "dataset_fingerprint", "file_sha256",
]

log = logging.getLogger(__name__)

SAMPLE_PATH = Path(__file__).resolve().parent / "sample" / "cifar10-sample.npz"
TORCHVISION_SETS = ("cifar10", "cifar100")
BUILTIN_NAMES = ("sample",) + TORCHVISION_SETS
PREFIXES = ("npz:", "folder:")
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class Dataset:
    """A labelled train/test split as uint8 N x 3 x H x W tensors and int64 labels, in data set order."""

    name: str
    source: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.x_train.shape[2]), int(self.x_train.shape[3])

    def subset(self, n_train: int | None, n_test: int | None) -> "Dataset":
        """The first ``n_train`` training and ``n_test`` test images (data set order; None keeps all)."""
        for what, n in (("n_train", n_train), ("n_test", n_test)):
            if n is not None and n < 1:
                raise InputError(f"{what} must be at least 1, got {n}")
        return Dataset(
            name=self.name, source=self.source,
            x_train=self.x_train[:n_train], y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test], y_test=self.y_test[:n_test], classes=list(self.classes),
        )

    def describe(self) -> dict[str, object]:
        """The record's ``dataset`` section (sizes after any subset)."""
        return {"name": self.name, "source": self.source, "n_train": len(self.y_train), "n_test": len(self.y_test),
                "num_classes": self.num_classes, "native_size": list(self.image_size), "classes": list(self.classes)}


# -- names --------------------------------------------------------------------------------------------------
def check_dataset_name(spec: str) -> str:
    """Refuse an unknown data set name early, suggesting close names and the local forms."""
    if not isinstance(spec, str) or not spec:
        raise DataError("a data set name is required: cifar10, cifar100, sample, npz:PATH or folder:PATH")
    if spec.lower() in BUILTIN_NAMES or spec.startswith(PREFIXES):
        return spec.lower() if spec.lower() in BUILTIN_NAMES else spec
    close = difflib.get_close_matches(spec.lower(), BUILTIN_NAMES, n=2, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shared = (" For the project's shared CIFAR-10 subset use npz:PATH, e.g. "
              "npz:PATH/TO/cifar10-subset.npz.") if spec.lower() == "shared" else ""
    raise DataError(f"unknown data set {spec!r}.{hint}{shared} Available: {', '.join(BUILTIN_NAMES)}, "
                    f"npz:PATH (x_train/y_train/x_test/y_test, uint8 NHWC) or folder:PATH (train/ and test/ "
                    f"ImageFolder trees).")


def dataset_label(spec: str) -> str:
    """A short file-name-safe label for run ids: ``cifar10``, ``npz-cifar10-subset``, ``folder-mydata``."""
    spec = check_dataset_name(spec)
    for prefix in PREFIXES:
        if spec.startswith(prefix):
            stem = Path(spec[len(prefix):]).stem or "data"
            safe = "".join(c if c.isalnum() or c in "._" else "-" for c in stem).strip("-") or "data"
            return f"{prefix[:-1]}-{safe}"
    return spec


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The cache folder for downloaded data sets: ``root``, ``$PPBENCH_DATA`` or the user's cache folder."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("PPBENCH_DATA"):
        return Path(os.environ["PPBENCH_DATA"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "ppbench" / "data"


# -- loading ------------------------------------------------------------------------------------------------
def load_dataset(spec: str, *, root: str | os.PathLike | None = None, download: bool = True) -> Dataset:
    """Load a data set by name (see the module docstring) as uint8 NCHW tensors."""
    spec = check_dataset_name(spec)
    if spec == "sample":
        ds = _load_npz(SAMPLE_PATH, name="sample")
        ds.source = "bundled"
        return ds
    if spec in TORCHVISION_SETS:
        return _load_torchvision(spec, data_root(root), download)
    if spec.startswith("npz:"):
        return _load_npz(Path(spec[4:]).expanduser(), name=dataset_label(spec))
    return _load_folder(Path(spec[len("folder:"):]).expanduser(), name=dataset_label(spec))


def _torchvision_class(name: str):
    from torchvision.datasets import CIFAR10, CIFAR100

    return {"cifar10": CIFAR10, "cifar100": CIFAR100}[name]


def _offline_message(name: str, cls, root: Path, why: str) -> str:
    return (f"{name} is not in the cache {root} ({why}). Either allow the download (drop --no-download; "
            f"needs internet), or fetch the official archive {cls.url} (MD5 {cls.tgz_md5}) yourself and put it "
            f"at {root / cls.filename} (or extract it there so that {root / cls.base_folder}/ exists), or set "
            f"$PPBENCH_DATA / --data-root to a folder that holds it, or use local data: npz:PATH or folder:PATH.")


def _load_torchvision(name: str, root: Path, download: bool) -> Dataset:
    """CIFAR through torchvision's own loading code (MD5-checked files), converted to tensors."""
    cls = _torchvision_class(name)
    archive = root / cls.filename
    # a tarball already in the cache is verified and extracted by torchvision without any network access
    allow = download or archive.is_file()
    try:
        train = cls(str(root), train=True, download=allow)
        test = cls(str(root), train=False, download=False)
    except (urllib.error.URLError, OSError, ConnectionError) as exc:
        raise DataError(_offline_message(name, cls, root, f"download failed: {exc.__class__.__name__}: {exc}")) from None
    except RuntimeError as exc:
        why = "download not allowed" if not allow else f"download or MD5 verification failed: {exc}"
        raise DataError(_offline_message(name, cls, root, why)) from None
    except (tarfile.TarError, EOFError, pickle.UnpicklingError, KeyError, ValueError) as exc:
        raise DataError(f"{name} files under {root} are unreadable ({exc.__class__.__name__}); delete "
                        f"{root / cls.base_folder} and {archive} and load again") from None
    return Dataset(
        name=name, source=f"torchvision:{root / cls.base_folder}",
        x_train=nhwc_to_nchw(np.asarray(train.data, dtype=np.uint8)),
        y_train=torch.as_tensor(np.asarray(train.targets), dtype=torch.int64),
        x_test=nhwc_to_nchw(np.asarray(test.data, dtype=np.uint8)),
        y_test=torch.as_tensor(np.asarray(test.targets), dtype=torch.int64),
        classes=[str(c) for c in train.classes],
    )


def _check_images(name: str, array: np.ndarray, path: Path) -> None:
    if array.dtype != np.uint8:
        raise DataError(f"array {name!r} in {path} is {array.dtype}; images must be uint8 (0..255)")
    if array.ndim != 4 or array.shape[-1] != 3:
        raise DataError(f"array {name!r} in {path} has shape {array.shape}; images must be N x H x W x 3 "
                        "(channels last, RGB)")


def _check_labels(name: str, labels: np.ndarray, n: int, path: Path) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(f"array {name!r} in {path} has shape {labels.shape}; expected ({n},), one label per image")
    if not np.issubdtype(labels.dtype, np.integer) or (len(labels) and labels.min() < 0):
        raise DataError(f"array {name!r} in {path} must hold non-negative integer class indices, got {labels.dtype}")
    return labels.astype(np.int64)


def _classes(arrays: dict[str, np.ndarray], y_train: np.ndarray, y_test: np.ndarray, path: Path) -> list[str]:
    """The class names; DataError for labels that are not indices 0..C-1 into them (see the module docstring)."""
    top = int(max(y_train.max(initial=0), y_test.max(initial=0)))
    if "classes" in arrays:
        classes = [str(c) for c in np.atleast_1d(arrays["classes"])]
        if top >= len(classes):
            raise DataError(f"{path}: labels go up to {top} but 'classes' names only {len(classes)} classes (labels "
                            f"must be 0..{len(classes) - 1}); renumber the labels or name every class in 'classes'")
        return classes
    used = np.union1d(y_train, y_test)
    unused = np.setdiff1d(np.arange(top + 1), used)
    shown = ", ".join(map(str, unused[:5])) + (", ..." if len(unused) > 5 else "")
    if 2 * len(used) < top + 1:
        raise DataError(f"{path}: labels {int(used.min())}..{top} are not class indices 0..C-1: only {len(used)} of "
                        f"the {top + 1} indices 0..{top} are used ({len(unused)} have no image: {shown}); renumber the "
                        f"labels to 0..{len(used) - 1}, or add a 'classes' array naming all {top + 1} classes")
    if len(unused):
        log.warning("%s: class index(es) %s have no image (labels without 'classes': %d classes assumed)", path,
                    shown, top + 1)
    return [str(i) for i in range(top + 1)]


def _check_npz_path(path: Path) -> None:
    if path.is_dir():
        raise DataError(f"data file {path} is a directory, not an .npz file; pass npz:FILE.npz, or folder:{path} "
                        "for train/<class>/ and test/<class>/ image folders")
    if not path.is_file():
        raise DataError(f"data file {path} not found; pass npz:PATH with an existing .npz holding "
                        f"{', '.join(NPZ_ARRAYS)}")


def _load_npz(path: Path, *, name: str) -> Dataset:
    """An .npz with x_train/y_train/x_test/y_test (uint8 NHWC) and optional classes."""
    _check_npz_path(path)
    arrays = read_npz(path)
    missing = [k for k in NPZ_ARRAYS if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks array(s) {', '.join(missing)}; an npz data set needs {', '.join(NPZ_ARRAYS)} "
                        f"(uint8 N x H x W x 3 images and integer labels); it has {', '.join(sorted(arrays)) or 'none'}")
    for split in ("train", "test"):
        _check_images(f"x_{split}", arrays[f"x_{split}"], path)
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(f"{path}: train images are {arrays['x_train'].shape[1:3]} but test images "
                        f"{arrays['x_test'].shape[1:3]}; both splits must have one size")
    for split in ("train", "test"):
        if not len(arrays[f"x_{split}"]):
            raise DataError(f"{path}: x_{split} holds no images; a data set needs at least one training and one "
                            "test image")
    y_train = _check_labels("y_train", arrays["y_train"], len(arrays["x_train"]), path)
    y_test = _check_labels("y_test", arrays["y_test"], len(arrays["x_test"]), path)
    classes = _classes(arrays, y_train, y_test, path)
    return Dataset(name=name, source=str(path.resolve()), x_train=nhwc_to_nchw(arrays["x_train"]),
                   y_train=torch.from_numpy(y_train), x_test=nhwc_to_nchw(arrays["x_test"]),
                   y_test=torch.from_numpy(y_test), classes=classes)


def _folder_split(folder: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from .files import read_image

    images, labels = [], []
    for index, cls in enumerate(classes):
        for path in _class_files(folder / cls):
            images.append(read_image(path))
            labels.append(index)
    if not images:
        raise DataError(f"{folder} holds no images under its class folders")
    sizes = {im.shape for im in images}
    if len(sizes) > 1:
        raise DataError(f"images under {folder} have different sizes {sorted(sizes)[:3]}; resize them to one size "
                        "first (e.g. `ppbench encrypt --scheme plain --resize 32 IN OUT`)")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _class_files(folder: Path) -> list[Path]:
    """The image files of one class folder, in the order they are loaded."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _check_folder_layout(path: Path) -> None:
    for split in ("train", "test"):
        if not (path / split).is_dir():
            raise DataError(f"folder data set {path} needs {path / split}/<class>/<image> trees "
                            "(torchvision ImageFolder layout)")


def _load_folder(path: Path, *, name: str) -> Dataset:
    """``PATH/train/<class>/...`` and ``PATH/test/<class>/...`` image trees (class = sorted folder names)."""
    _check_folder_layout(path)
    classes = sorted(p.name for p in (path / "train").iterdir() if p.is_dir())
    test_classes = sorted(p.name for p in (path / "test").iterdir() if p.is_dir())
    if not classes or set(test_classes) - set(classes):
        raise DataError(f"{path}: train/ has classes {classes} but test/ has {test_classes}; test classes must "
                        "be a subset of the training classes")
    x_train, y_train = _folder_split(path / "train", classes)
    x_test, y_test = _folder_split(path / "test", classes)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"{path}: train images are {x_train.shape[1:3]} but test images {x_test.shape[1:3]}")
    return Dataset(name=name, source=str(path.resolve()), x_train=nhwc_to_nchw(x_train),
                   y_train=torch.from_numpy(y_train), x_test=nhwc_to_nchw(x_test),
                   y_test=torch.from_numpy(y_test), classes=classes)


# -- content fingerprints ---------------------------------------------------------------------------------
def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), computed once per process for each (path, size, mtime)."""
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    return _sha256_of(str(resolved), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a changed file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_fingerprint(spec: str) -> str | None:
    """What identifies a local data set's content, wherever it lies: ``npz:sha256:<hex>`` (the file's bytes) or
    ``folder:sha256:<hex>`` (each image's path under the folder and its bytes); None for a named data set
    (``sample``, ``cifar10``, ``cifar100``), whose name identifies it. A missing file fails as loading would."""
    spec = check_dataset_name(spec)
    if spec.startswith("npz:"):
        path = Path(spec[len("npz:"):]).expanduser()
        _check_npz_path(path)
        return f"npz:sha256:{file_sha256(path)}"
    if spec.startswith("folder:"):
        root = Path(spec[len("folder:"):]).expanduser()
        _check_folder_layout(root)
        digest = hashlib.sha256()
        for split in ("train", "test"):
            for cls in sorted(p for p in (root / split).iterdir() if p.is_dir()):
                for path in _class_files(cls):
                    digest.update(f"{path.relative_to(root).as_posix()}\0{file_sha256(path)}\n".encode())
        return f"folder:sha256:{digest.hexdigest()}"
    return None


# -- the paper's order of operations ---------------------------------------------------------------------
def crop_padding_for(image_size: int) -> int:
    """Random-crop padding 4 * size / 32 (CIFAR's usual 4 pixels, scaled with the image: 28 at 224)."""
    return max(0, round(4 * image_size / 32))


def random_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator, flip: bool = True) -> torch.Tensor:
    """Random crop of a zero-padded uint8 batch back to its size, and a random horizontal flip, per image.

    The offsets and flips are drawn on the CPU from ``generator`` (so a seed gives the same draws on any
    device); the crop and flip are one gather on ``x``'s device.
    """
    n, _, h, w = x.shape
    if padding <= 0 and not flip:
        return x
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    offsets, flips = offsets.to(x.device), flips.to(x.device)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding)) if padding else x
    rows = offsets[:, :1] + torch.arange(h, device=x.device)  # (N, H)
    span = torch.arange(w, device=x.device)
    cols = offsets[:, 1:] + torch.where(flips[:, None], w - 1 - span, span)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chans, rows[:, None, :, None], cols[:, None, None, :]]


Encrypt = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class BatchPipeline:
    """Batches of float images in [0, 1]: index, resize, (augment,) encrypt, on ``device``.

    ``order`` draws each epoch's permutation of the training set and ``augment_gen`` the crops and flips;
    both are CPU generators whose states go into every checkpoint.
    """

    data: Dataset
    encrypt: Encrypt
    image_size: int
    batch_size: int
    eval_batch_size: int
    device: torch.device
    plain_augment: bool
    order: torch.Generator
    augment_gen: torch.Generator
    channels_last: bool = False

    @property
    def steps_per_epoch(self) -> int:
        """Full batches per epoch (the last partial batch is dropped; at least one step)."""
        return max(1, len(self.data.y_train) // self.batch_size)

    def _prepare(self, x: torch.Tensor, augment: bool) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        x = resize_uint8(x, self.image_size)
        if augment:
            x = random_crop_flip(x, crop_padding_for(self.image_size), self.augment_gen)
        x = self.encrypt(x).float().div_(255.0)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def train_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch: a fresh permutation, ``steps_per_epoch`` batches of ``batch_size`` images."""
        n = len(self.data.y_train)
        batch = min(self.batch_size, n)
        perm = torch.randperm(n, generator=self.order)
        for step in range(self.steps_per_epoch):
            idx = perm[step * batch:(step + 1) * batch]
            x = self._prepare(self.data.x_train[idx], self.plain_augment)
            yield x, self.data.y_train[idx].to(self.device, non_blocking=True)

    def test_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The test set in order, resized and encrypted, never augmented."""
        n = len(self.data.y_test)
        for start in range(0, n, self.eval_batch_size):
            x = self._prepare(self.data.x_test[start:start + self.eval_batch_size], augment=False)
            yield x, self.data.y_test[start:start + self.eval_batch_size].to(self.device, non_blocking=True)
