"""The one reader of .npz files (data sets, image batches, restored-image files): no pickles, one clear error."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .errors import DataError


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at ``path``, loaded into memory (``allow_pickle=False``: an .npz never runs code).

    A missing, truncated or non-npz file raises :class:`~ppbench.errors.DataError` naming the file and the fix.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise DataError(f"{path} not found; check the path") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read {path} as .npz ({type(exc).__name__}); is the file complete?") from None
