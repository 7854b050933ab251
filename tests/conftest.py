"""Shared fixtures: real CIFAR-10 images, from the larger optional subset when present, else the bundled sample.

A bare clone has only the bundled sample (``bench/sample/cifar10-sample.npz``, 2,000 train / 500 test
images); the optional subset (5,085 / 1,017 real CIFAR-10 images, ``$PPBENCH_SHARED/data/`` or ``../shared/data/``
beside the checkout) starts with the same images in the same order, so tests that read at most 2,000 train /
500 test images see identical pixels either way. A test whose bounds depend on the data reads ``cifar_data``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from ppbench.data import SAMPLE_PATH

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(__file__).resolve().parent / "testdata"


def shared_root() -> Path:
    """``$PPBENCH_SHARED`` when set (even to a missing folder, which then counts as absent), else ``../shared``."""
    env = os.environ.get("PPBENCH_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def shared_subset_path() -> Path:
    """Where the optional larger CIFAR-10 subset would be: ``<shared root>/data/cifar10-subset.npz``."""
    return shared_root() / "data" / "cifar10-subset.npz"


@dataclass(frozen=True)
class CifarData:
    """The real CIFAR-10 images this session got, and where from (so data-dependent bounds can tell)."""

    source: Literal["shared", "sample"]
    path: Path
    arrays: dict[str, np.ndarray] = field(repr=False)

    @property
    def dataset(self) -> str:
        """The same images as a ``--dataset`` value for ``ppbench`` commands."""
        return "sample" if self.source == "sample" else f"npz:{self.path}"


def locate_cifar_data() -> tuple[Literal["shared", "sample"], Path]:
    """The optional shared subset when its file exists, else the bundled sample."""
    shared = shared_subset_path()
    return ("shared", shared) if shared.is_file() else ("sample", SAMPLE_PATH)


def pytest_report_header(config: pytest.Config) -> str:
    """Say in the header which real images the tests run on."""
    source, path = locate_cifar_data()
    what = "optional shared subset" if source == "shared" else "bundled sample (no shared subset found)"
    return f"ppbench test images: {what}: {path}"


@pytest.fixture(scope="session")
def cifar_data() -> CifarData:
    """Real CIFAR-10 images (uint8 NHWC arrays x_train, y_train, x_test, y_test, classes) and their source."""
    source, path = locate_cifar_data()
    with np.load(path, allow_pickle=False) as data:
        return CifarData(source, path, {k: data[k] for k in data.files})


@pytest.fixture(scope="session")
def cifar_subset(cifar_data: CifarData) -> dict[str, np.ndarray]:
    """The arrays of ``cifar_data``: at least 2,000 train / 500 test real CIFAR-10 images, uint8 NHWC."""
    return cifar_data.arrays


@pytest.fixture(scope="session")
def real_images(cifar_subset: dict[str, np.ndarray]) -> np.ndarray:
    """Sixteen real test images, uint8 NHWC 32x32."""
    return cifar_subset["x_test"][:16]


# -- the report fixture records (tests/testdata/records, made by make_records.py there) --------------------------------
REPORT_RECORDS = TESTDATA / "records"


@pytest.fixture(scope="module")
def records():
    """The fixture records, loaded as the report loads them."""
    from ppbench.reports.load import load_results

    return load_results(REPORT_RECORDS)


@pytest.fixture(scope="session")
def load_script():
    """A loader for ``scripts/<name>.py`` as a module (the scripts are not part of the installed package)."""
    import importlib.util

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def results_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture records."""
    import shutil

    dest = tmp_path / "results"
    shutil.copytree(REPORT_RECORDS, dest, ignore=shutil.ignore_patterns("*.py"))
    return dest
