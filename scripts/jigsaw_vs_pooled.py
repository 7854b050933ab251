"""The published single-image attack ``jigsaw`` (Chuman & Kiya 2023) beside ``pooled`` on the same images and keys.

    python scripts/jigsaw_vs_pooled.py                       # fixed key, 16 images at 32/M4, 4 at 224/M16
    python scripts/jigsaw_vs_pooled.py --fresh --eval32 50 --eval224 8 --ns32 1,2,4,8 --ns224 1,2

For ``proposed`` at 32/M4 and at 224/M16 (CIFAR-10 upscaled with ``ppbench.transforms.resize_uint8``), under
one key (the fixed test secret, or a fresh one with ``--fresh``): ``jigsaw`` restores each of the first test
images on its own (best-reading SSIM as ``ppbench.curve.sweep_key_recovery`` scores it, its own Dc / Nc / Lc
against the true block placement, seconds per image); ``pooled`` is fitted on n training images' ciphertexts
under the same key and scored on the same test images (``sweep_key_recovery``: SSIM best reading, exact key,
fit seconds). Prints a Markdown table and one JSON line per row. EtC is not compared: the paper's attack is
for the ViT scheme (see ``ppbench.attacks.jigsaw``). Reads the bundled CIFAR-10 sample, or the optional subset
``$PPBENCH_SHARED/data/cifar10-subset.npz`` when set and present (it begins with the same images).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from ppbench.attacks import create_attack
from ppbench.attacks.jigsaw import jigsaw_metrics, true_block_order
from ppbench.curve import sweep_key_recovery
from ppbench.data import load_dataset
from ppbench.keys import SchemeKey
from ppbench.metrics import ssim_readings
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import resize_uint8

SECRET = bytes.fromhex("686215f8825857f6aa8478e5c718ca940eecf68f7e6d0ba7dc1a308d08b7c7d4")  # tests' fixed secret


def victim(size: int, block: int, fresh: bool):
    """``proposed`` under the fixed secret, or under a fresh random key."""
    template = generate_key("proposed", image_size=size, block_size=block)
    key = template if fresh else SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET)
    return create_scheme("proposed", key=key)


def run_jigsaw(scheme, plain: torch.Tensor, size: int, block: int) -> dict:
    """``jigsaw`` on every image alone: best-reading SSIM (max of the readings' means), mean Dc / Nc / Lc, s / image."""
    attack = create_attack("jigsaw", scheme_name="proposed", image_size=size, block_size=block, profile="cpu")
    restored = attack(scheme.encrypt(plain))
    readings = ssim_readings(restored, plain)
    truth = true_block_order(scheme.key_material()["k1"])
    scores = [jigsaw_metrics(o, truth, (size // block, size // block)) for o in attack.last_orders]
    return {"attack": "jigsaw", "n": 1, "ssim_best": max(float(r.mean()) for r in readings),
            "ssim_median": float(readings[0].median()), **{k: float(np.mean([s[k] for s in scores])) for k in ("Dc", "Nc", "Lc")},
            "exact_key": None, "seconds": float(np.mean(attack.last_seconds))}


def run_pooled(scheme, attacker: torch.Tensor, plain: torch.Tensor, ns: list[int]) -> list[dict]:
    """``pooled`` fitted on the first n of ``attacker``'s ciphertexts under the same key, scored on ``plain``."""
    rows = sweep_key_recovery("pooled", victim=scheme, attacker_plain=attacker, eval_plain=plain, ns=ns, profile="cpu")
    return [{"attack": "pooled", "n": r["n"], "ssim_best": r["ssim_best"], "ssim_median": r["ssim_median"],
             "Dc": None, "Nc": None, "Lc": None, "exact_key": r["exact_key"], "seconds": r["seconds"]} for r in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fresh", action="store_true", help="a fresh random key instead of the fixed test secret")
    p.add_argument("--eval32", type=int, default=16, help="test images at 32/M4")
    p.add_argument("--eval224", type=int, default=4, help="test images at 224/M16 (about 2.5 s each for jigsaw)")
    p.add_argument("--ns32", default="1,2,4,8", help="pooled's n (training ciphertexts) at 32/M4")
    p.add_argument("--ns224", default="1,2", help="pooled's n at 224/M16")
    args = p.parse_args()
    torch.set_num_threads(1)
    subset = os.path.join(os.environ.get("PPBENCH_SHARED", ""), "data", "cifar10-subset.npz")
    ds = load_dataset(f"npz:{subset}" if os.environ.get("PPBENCH_SHARED") and os.path.isfile(subset) else "sample")
    rows = []
    for size, block, n_eval, ns in ((32, 4, args.eval32, args.ns32), (224, 16, args.eval224, args.ns224)):
        ns_list = [int(v) for v in ns.split(",")]
        scheme = victim(size, block, args.fresh)
        plain = resize_uint8(ds.x_test[:n_eval], size)
        attacker = resize_uint8(ds.x_train[: max(ns_list)], size)
        start = time.perf_counter()
        found = [run_jigsaw(scheme, plain, size, block)] + run_pooled(scheme, attacker, plain, ns_list)
        for r in found:
            r.update({"scheme": "proposed", "geometry": f"{size}/M{block}", "n_eval": n_eval})
        rows += found
        print(f"# {size}/M{block}: {time.perf_counter() - start:.1f} s wall", flush=True)
    fmt = lambda v: "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))  # noqa: E731
    print("\n| scheme | geometry | attack | ciphertexts seen | eval images | SSIM best | SSIM median | Dc | Nc | Lc | exact key | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        seen = "1 (each image alone)" if r["attack"] == "jigsaw" else str(r["n"])
        secs = f"{r['seconds']:.2f} / image" if r["attack"] == "jigsaw" else f"{r['seconds']:.2f} fit"
        print(f"| {r['scheme']} | {r['geometry']} | {r['attack']} | {seen} | {r['n_eval']} | {fmt(r['ssim_best'])} | "
              f"{fmt(r['ssim_median'])} | {fmt(r['Dc'])} | {fmt(r['Nc'])} | {fmt(r['Lc'])} | {fmt(r['exact_key'])} | {secs} |")
    print()
    meta = {"key": "fresh" if args.fresh else "fixed test secret", "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "cpu_threads": torch.get_num_threads()}
    for r in rows:
        print(json.dumps({**r, **meta}))


if __name__ == "__main__":
    main()
