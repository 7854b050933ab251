"""How many of a true ELE key's entries n ciphertexts leave open (no attack can fix them), against n.

    python scripts/ele_open_entries.py 224 16 50 100 200 500 1000 2000 5000   # size, block, then the n values

For the tests' fixed key and one fresh key: the first n training images of the optional CIFAR-10 subset
``$PPBENCH_SHARED/data/cifar10-subset.npz`` (the bundled sample without it), upscaled bicubic to the size,
encrypted, and :func:`ppbench.attacks.keyrecovery.ciphertext_only.open_entries` on the true key. Nonzero means no
attack, ciphertext-only or known-plaintext, can name the exact key from those ciphertexts (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from ppbench.attacks.keyrecovery.ciphertext_only import open_entries
from ppbench.attacks.keyrecovery.geometry import block_nibbles
from ppbench.attacks.keyrecovery.solvers.tanaka import open_nibbles
from ppbench.data import load_dataset
from ppbench.keys import SchemeKey
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import resize_uint8

#: The fixed secret of tests/test_pooled.py, so that its numbers match the tests' key.
TESTS_SECRET = bytes.fromhex("5a0c3e9172d84b6fa1e2c3d4b5a69788f0e1d2c3b4a5968778695a4b3c2d1e0f")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("size", type=int)
    parser.add_argument("block", type=int)
    parser.add_argument("n", type=int, nargs="+")
    args = parser.parse_args()
    subset = os.path.join(os.environ.get("PPBENCH_SHARED", ""), "data", "cifar10-subset.npz")
    ds = load_dataset(f"npz:{subset}" if os.environ.get("PPBENCH_SHARED") and os.path.isfile(subset) else "sample")
    template = generate_key("ele", image_size=args.size, block_size=args.block)
    schemes = [create_scheme("ele", key=SchemeKey(scheme=template.scheme, params=template.params, secret=TESTS_SECRET)),
               create_scheme("ele", key=generate_key("ele", image_size=args.size, block_size=args.block))]
    for n in args.n:
        if n > ds.x_train.shape[0]:
            raise SystemExit(f"n = {n} needs as many training images; the data set holds {ds.x_train.shape[0]}")
        x = torch.cat([resize_uint8(ds.x_train[i:min(n, i + 500)], args.size) for i in range(0, n, 500)])
        cells = []
        for scheme in schemes:
            y, key = scheme.encrypt(x).numpy(), scheme.key_material()
            per_position = open_nibbles(block_nibbles(y, args.block), key["perms"][key["block_perm"]])
            assert int(per_position.sum()) == open_entries("ele", y, key, args.block)["perms"]
            cells.append(f"{int(per_position.sum())} in {int((per_position > 0).sum())} positions")
        print(f"{args.size}/M{args.block} n={n}: open entries of the true key (tests' key; fresh key): " + "; ".join(cells),
              flush=True)


if __name__ == "__main__":
    main()
