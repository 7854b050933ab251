"""``ppbench curve``: mean SSIM on unseen ciphertexts against the number of ciphertexts an attack holds.

The work is :mod:`ppbench.curve`; this module declares the arguments and prints the rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_command

EXAMPLES = """\
  ppbench curve --scheme proposed --attack pooled --out curves/proposed-224           # 224x224, block 16
  ppbench curve --scheme proposed --attack pooled --image-size 32 --block-size 4 --out curves/proposed-32
  ppbench curve --scheme le --attack kpa --n 1,2,5,10 --out curves/le-kpa
  ppbench curve --scheme etc --attack pooled --dataset npz:cifar.npz --results runs/ --out curves/etc"""


def _counts(text: str) -> list[int]:
    """``--n 1,2,5``: positive integers (argparse prints the error and exits 2 otherwise)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--n takes comma-separated integers like 1,2,5,10, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--n takes positive integers, got {text!r}")
    return values


def cmd_curve(args: argparse.Namespace) -> int:
    """Run the curve, print one line per count and the break points, say where the files went."""
    from ..curve import ciphertexts_to_break, curve, resolve_config, smallest_exact_n

    config = resolve_config(
        args.scheme, args.attack, dataset=args.dataset, image_size=args.image_size, block_size=args.block_size,
        ns=args.n, n_eval=args.n_eval, profile=args.profile, results=str(args.results) if args.results else None,
    )
    rows, paths = curve(config, args.out, overwrite=args.overwrite)
    for r in rows:
        print(f"n={r['n']:>4}  ssim_mean={r['ssim_mean']:.4f}  exact_key={r['exact_key']!s:<5}  {r['seconds']:.2f} s")
    broken = ciphertexts_to_break(rows)
    exact = smallest_exact_n(rows)
    print(f"ciphertexts_to_break (mean SSIM >= 0.99): {broken if broken is not None else 'not within the sweep'}; "
          f"smallest n with the exact key: {exact if exact is not None else 'none'}")
    print(f"wrote {paths['csv']}, {paths['json']}, {paths['png']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``curve`` subcommand to ``ppbench``'s subparsers."""
    p = add_command(subparsers, "curve", cmd_curve,
                    "sweep the number of ciphertexts an attack holds under one fresh victim key; write curve.csv/json/png",
                    EXAMPLES)
    p.add_argument("--scheme", required=True, help="scheme to attack (see `ppbench list schemes`)")
    p.add_argument("--attack", required=True, metavar="ATTACK",
                   help="a key-recovery attack: pooled (ciphertext-only), kpa (known-plaintext pairs), kpa_generic (the same, knowing nothing of the scheme)")
    p.add_argument("--profile", help="take the data set, image and block size defaults from this profile")
    p.add_argument("--dataset", help="sample (default), cifar10, npz:PATH, folder:PATH; the test split is used")
    p.add_argument("--image-size", type=int, help="default: the scheme's paper setting (proposed: 224, others: 32)")
    p.add_argument("--block-size", type=int, help="block size M for block-wise schemes (default: the paper's)")
    p.add_argument("--n", type=_counts, metavar="N1,N2,...", help="ciphertext counts (default: 1,2,5,10,20,50,100)")
    p.add_argument("--n-eval", type=int, help="unseen test images to score (default: 100)")
    p.add_argument("--results", type=Path, help="folder of run records: FR/GAN/ITN SSIM of the same scheme as reference lines")
    p.add_argument("--out", required=True, type=Path, help="folder for curve.csv, curve.json, curve.png")
    p.add_argument("--overwrite", action="store_true", help="replace an existing curve in --out")
