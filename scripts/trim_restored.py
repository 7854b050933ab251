"""Keep only the first K restored images of each attack in a study's ``attacks/*_restored.npz`` (compressed), so that
a 224 x 224 study can be committed: its 100 restored images take 13-15 MB per attack. The records, the per-image
SSIM CSVs (every scored image) and the recognition results are untouched; Fig. 4 (test image #0 by default) renders
from what is kept. Each file is rewritten atomically; a file already at K images or fewer is left alone.

    python scripts/trim_restored.py results/reference-cpu224 --keep 2
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from ppbench.atomic import atomic_write_bytes
from ppbench.npzfile import read_npz


def trim(path: Path, keep: int) -> bool:
    """Rewrite ``path`` with its first ``keep`` images; whether it changed."""
    arrays = read_npz(path)
    if arrays["restored"].shape[0] <= keep:
        return False
    cut = {name: (a[:keep] if a.ndim >= 1 and a.shape[0] > keep else a) for name, a in arrays.items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **cut)
    atomic_write_bytes(path, buffer.getvalue())
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a results folder")
    parser.add_argument("--keep", type=int, default=4, help="restored images kept per attack (default 4)")
    args = parser.parse_args(argv)
    if args.keep < 1:
        parser.error("--keep must be at least 1")
    for path in sorted(args.results.rglob("attacks/*_restored.npz")):
        if trim(path, args.keep):
            print(f"{path}: kept the first {args.keep} restored images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
