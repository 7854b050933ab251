"""Shared fixtures: the real CIFAR-10 subset beside the checkout, and the bundled sample."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(__file__).resolve().parent / "testdata"


def shared_subset_path() -> Path:
    """``$PPBENCH_SHARED/data/cifar10-subset.npz``, default ``../shared`` beside the checkout."""
    shared = Path(os.environ.get("PPBENCH_SHARED", REPO_ROOT.parent / "shared"))
    return shared / "data" / "cifar10-subset.npz"


@pytest.fixture(scope="session")
def cifar_subset() -> dict[str, np.ndarray]:
    """The real CIFAR-10 subset (5,085 train / 1,017 test images, uint8 NHWC)."""
    path = shared_subset_path()
    if not path.exists():
        pytest.fail(f"real CIFAR-10 subset not found at {path}; set PPBENCH_SHARED to the shared/ folder")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def real_images(cifar_subset) -> np.ndarray:
    """Sixteen real test images, uint8 NHWC 32x32."""
    return cifar_subset["x_test"][:16]
