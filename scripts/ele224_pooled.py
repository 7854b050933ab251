"""One ciphertext-only fit of ``pooled`` against ELE (by default at 224 x 224 / M16, CIFAR upscaled), one fresh key.

    python scripts/ele224_pooled.py N                   # N ciphertexts (multiple of 50), prints one JSON line
    python scripts/ele224_pooled.py N --size 32         # at 32 x 32 / M4
    python scripts/ele224_pooled.py N --no-reread       # without the re-read from the assembled images (pooled v5)
    python scripts/ele224_pooled.py N --no-edges        # without solving the image-edge positions again (pooled v6)
    python scripts/ele224_pooled.py N --stages          # also the seconds each stage of the solver took

The in-run curve is too slow at 224 (196 block positions x LE's 768-item solver, minutes per fit), so
docs/benchmarks.md records single fits made with this script. Reads the bundled sample, or the optional larger
CIFAR-10 subset ``$PPBENCH_SHARED/data/cifar10-subset.npz`` when that is set and present (it begins with the
sample's images, so N <= 2000 gives the same pixels either way), and scores 50 unseen test images. Also prints
how many block positions' keys are wrong (the key is fresh: the script holds it, the attack never sees it), how many
of them decrypt the N seen ciphertexts wrongly, whether every seen ciphertext comes back byte for byte
(``exact_on_seen``), and how many key entries the N ciphertexts leave open for the recovered key and for the true
one (``open_entries``: nonzero for the true key means no attack can name the exact key from these ciphertexts).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

import ppbench.attacks.keyrecovery.solvers.tanaka as tanaka
from ppbench.attacks.keyrecovery.ciphertext_only import open_entries
from ppbench.attacks.kpa import key_agreement, same_key
from ppbench.attacks.pooled import recover_key_pooled
from ppbench.data import load_dataset
from ppbench.metrics import ssim
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import resize_uint8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, help="ciphertexts (a multiple of 50)")
    parser.add_argument("--size", type=int, default=224, choices=(32, 224), help="image size (block 4 at 32, 16 at 224)")
    parser.add_argument("--no-reread", action="store_true", help="skip the re-read from the assembled images")
    parser.add_argument("--no-edges", action="store_true", help="skip solving the image-edge positions again")
    parser.add_argument("--stages", action="store_true", help="time each stage of the solver")
    args = parser.parse_args()
    stages: dict[str, float] = {}
    if args.stages:
        for name in ("ele_key", "reread_assembled", "settle_first_pixel", "peel_image_edges"):
            setattr(tanaka, name, _timed(name, getattr(tanaka, name), stages))
        tanaka.Jigsaw.solve = _timed("jigsaw", tanaka.Jigsaw.solve, stages)
    if args.no_reread:
        tanaka.reread_assembled = lambda y, nib, perms, block_perm, m: (perms, 0)
    if args.no_edges:
        tanaka.peel_image_edges = lambda y, nib, perms, block_perm, m: (perms, 0)
    block = 16 if args.size == 224 else 4
    torch.set_num_threads(1)
    subset = os.path.join(os.environ.get("PPBENCH_SHARED", ""), "data", "cifar10-subset.npz")
    ds = load_dataset(f"npz:{subset}" if os.environ.get("PPBENCH_SHARED") and os.path.isfile(subset) else "sample")
    scheme = create_scheme("ele", key=generate_key("ele", image_size=args.size, block_size=block))
    seen = torch.cat([resize_uint8(ds.x_train[i:i + 50], args.size) for i in range(0, args.n, 50)])
    y = scheme.encrypt(seen)
    start = time.perf_counter()
    recovery = recover_key_pooled("ele", y, block_size=block)
    seconds = time.perf_counter() - start
    test = resize_uint8(ds.x_test[:50], args.size)
    rebuilt = create_scheme("ele", key_material=recovery.key_material, image_size=(args.size, args.size),
                            block_size=block)
    restored = rebuilt.decrypt(scheme.encrypt(test))
    truth = scheme.key_material()
    wrong = int((recovery.key_material["perms"] != truth["perms"]).any(axis=1).sum())
    seen_back = rebuilt.decrypt(y)
    m, rows = block, args.size // block
    differs = (seen_back != seen).reshape(args.n, 3, rows, m, rows, m).any(dim=5).any(dim=3).any(dim=1).any(dim=0)
    out = {"n": args.n, "size": args.size, "reread": not args.no_reread, "edges": not args.no_edges, "seconds": round(seconds, 1),
           "exact": bool(same_key(recovery.key_material, truth)),
           "block_order_right": bool(np.array_equal(recovery.key_material["block_perm"], truth["block_perm"])),
           "positions_wrong": wrong, "positions": int(truth["perms"].shape[0]),
           "exact_on_seen": bool(torch.equal(seen_back, seen)),
           "positions_decrypting_seen_wrongly": int(differs.sum()),
           "open_entries_recovered": recovery.ambiguous,
           "open_entries_true": open_entries("ele", y.numpy(), truth, block),
           "agreement": key_agreement(recovery.key_material, truth), "confidence": recovery.confidence,
           "ssim_unseen_50": float(ssim(restored, test).mean()), "torch": torch.__version__}
    if args.stages:
        out["stage_seconds"] = {name: round(sec, 1) for name, sec in stages.items()}
    print(json.dumps(out))


def _timed(name: str, function, spent: dict[str, float]):
    """``function`` adding the seconds of each call to ``spent[name]``."""
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
    return wrapper


if __name__ == "__main__":
    main()
