"""Measure ``pooled_generic`` on real CIFAR-10: SSIM on 100 unseen test images against the number n of
ciphertexts it pools, and its seconds, for every registered scheme at 32 x 32 (block 4) and for two
members of family F ppbench has never seen (tests/unseen_schemes.py, registered only while this script runs).

Data: the optional shared subset (``$PPBENCH_SHARED/data/cifar10-subset.npz``, default
``../shared/data/cifar10-subset.npz`` beside the checkout); with ``--dataset sample`` the bundled sample.
The victim's ciphertexts are training images 0..n-1; the attacker's own images (the prior) are training
images from the second half, disjoint from them; the evaluation images are the first 100 test images.
Each scheme gets one fresh key (OS CSPRNG) for all n. SSIM is scikit-image's, read as-is, as the
negative and as the left-right mirror (the attack cannot tell an image from its mirror); "best" is the
largest, the reading Table I's verdict uses.

Usage::

    python scripts/pooled_generic_bench.py --out results/pooled_generic   # writes bench.csv and bench.md
    python scripts/pooled_generic_bench.py --schemes pe,test_byte_shuffle --n 100,1000
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

import torch

from ppbench.atomic import atomic_write_text
from ppbench.curve import sweep_key_recovery
from ppbench.errors import PPBenchError
from ppbench.schemes import create_scheme, generate_key, list_schemes, scheme_info

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from unseen_schemes import ByteShuffle, PixelShuffle, registered  # noqa: E402  (the never-seen schemes, one copy)

UNSEEN = (PixelShuffle, ByteShuffle)
COLUMNS = ("scheme", "image_size", "block_size", "n", "ssim_best", "ssim_as_is", "ssim_negative", "ssim_mirrored",
           "exact_key", "seconds")


def load_images(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) uint8 N x 3 x 32 x 32 real CIFAR-10 images."""
    from ppbench.data import load_dataset

    if dataset == "sample":
        ds = load_dataset("sample")
    else:
        path = Path(os.environ.get("PPBENCH_SHARED", REPO.parent / "shared")) / "data" / "cifar10-subset.npz"
        if not path.is_file():
            raise PPBenchError(f"no CIFAR-10 subset at {path}; set PPBENCH_SHARED to the folder holding "
                               "data/cifar10-subset.npz or pass --dataset sample")
        ds = load_dataset(f"npz:{path}")
    return ds.x_train, ds.x_test


def measure(name: str, ns: list[int], train: torch.Tensor, test: torch.Tensor, size: int = 32, block: int = 4,
            n_eval: int = 100) -> list[dict]:
    """One fresh key of ``name``; one row per n, measured by the curve's own sweep (see the module docstring)."""
    from ppbench.transforms import resize_uint8

    info = scheme_info(name)
    geometry = {"image_size": size, "block_size": block if info.block_wise else None}
    scheme = create_scheme(name, key=generate_key(name, **geometry))
    half = train.shape[0] // 2
    victim, public, unseen = train[: min(max(ns), half)], train[half : half + 2000], test[:n_eval]
    if size != train.shape[-1]:
        victim, public, unseen = (resize_uint8(x, size) for x in (victim, public, unseen))
    ns = [n for n in ns if n <= victim.shape[0]]
    rows = []
    for r in sweep_key_recovery("pooled_generic", victim=scheme, attacker_plain=victim, eval_plain=unseen, ns=ns,
                                profile="cpu", public_images=public):
        row = {"scheme": name, "image_size": size, "block_size": geometry["block_size"] or "", "n": r["n"],
               "ssim_best": r["ssim_best"], "ssim_as_is": r["ssim_mean"], "ssim_negative": r["ssim_mean_inverted"],
               "ssim_mirrored": r["ssim_mean_mirrored"], "exact_key": r["exact_key"], "seconds": r["seconds"]}
        rows.append(row)
        print(f"{name:18s} {size}px n={row['n']:5d}  best {row['ssim_best']:.4f}  (as-is {row['ssim_as_is']:.4f}, "
              f"negative {row['ssim_negative']:.4f}, mirrored {row['ssim_mirrored']:.4f})  {row['seconds']:.1f} s", flush=True)
    return rows


def markdown(rows: list[dict], ns: list[int]) -> str:
    """Scheme x n table of best SSIM (seconds)."""
    out = ["| scheme | size | " + " | ".join(f"n = {n}" for n in ns) + " |", "| --- | --- |" + " --- |" * len(ns)]
    for key in dict.fromkeys((r["scheme"], r["image_size"], r["block_size"]) for r in rows):
        cells = []
        for n in ns:
            r = next((r for r in rows if (r["scheme"], r["image_size"], r["block_size"]) == key and r["n"] == n), None)
            cells.append(f"{r['ssim_best']:.3f} ({r['seconds']:.0f} s)" if r else "-")
        size = f"{key[1]}" + (f"/M{key[2]}" if key[2] else "")
        out.append(f"| {key[0]} | {size} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("shared", "sample"), default="shared")
    parser.add_argument("--schemes", default="all", help="comma-separated scheme names (default: all registered + unseen)")
    parser.add_argument("--n", default="100,200,500,1000", help="comma-separated ciphertext counts")
    parser.add_argument("--out", type=Path, default=None, help="folder for bench.csv and bench.md")
    args = parser.parse_args(argv)
    ns = [int(v) for v in args.n.split(",")]
    try:
        with registered(*UNSEEN):
            train, test = load_images(args.dataset)
            names = list_schemes() if args.schemes == "all" else args.schemes.split(",")
            rows = [row for name in names for row in measure(name, ns, train, test)]
    except PPBenchError as exc:
        print(f"pooled_generic_bench: error: {exc}", file=sys.stderr)
        return 2
    table = markdown(rows, ns)
    print(table)
    if args.out is not None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "bench.csv", buffer.getvalue())
        atomic_write_text(args.out / "bench.md", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
