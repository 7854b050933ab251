"""Regenerate the report fixtures in this folder: ``python tests/testdata/records/make_records.py``.

Eight small run folders following docs/records.md (schema_version 1), chosen so that every rule of the
reports has a case: two seeds of one run (mean +- std), an attack-only run (network null), a run on a
second data set (missing cells elsewhere), two records of the same run that disagree (a conflict), an
incomplete run (skipped), runs without attack files (Fig. 4 picks the run that has them). Images are
2 synthetic 32 x 32 test images per run (smooth, so the npz files stay a few KB); the numbers are made
up but consistent (each ``ssim_mean`` is the mean of its per-image CSV).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N, H, W = 2, 32, 32


def plain_images() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    out = np.zeros((N, H, W, 3), np.uint8)
    for i in range(N):
        disc = (yy - 12 - 6 * i) ** 2 + (xx - 16 + 4 * i) ** 2 < (8 + 2 * i) ** 2
        out[i, ..., 0] = (xx * 7 + 40 * i) % 256
        out[i, ..., 1] = yy * 6
        out[i, ..., 2] = 200 - 120 * disc
    return out


def block_shuffle(images: np.ndarray, seed: int, m: int = 4) -> np.ndarray:
    perm = np.random.default_rng(seed).permutation((H // m) * (W // m))
    blocks = images.reshape(N, H // m, m, W // m, m, 3).transpose(0, 1, 3, 2, 4, 5).reshape(N, -1, m, m, 3)
    blocks = blocks[:, perm]
    return blocks.reshape(N, H // m, W // m, m, m, 3).transpose(0, 1, 3, 2, 4, 5).reshape(N, H, W, 3)


def coarse(images: np.ndarray, m: int) -> np.ndarray:
    means = images.reshape(N, H // m, m, W // m, m, 3).mean(axis=(2, 4), keepdims=True)
    return np.broadcast_to(means, (N, H // m, m, W // m, m, 3)).reshape(N, H, W, 3).round().astype(np.uint8)


def record(run_id: str, scheme: str, network: str | None, dataset: str, seed: int, accuracy: float | None,
           attacks: dict[str, list[float]], *, status: str = "complete", finished: str = "2026-11-26T11:05:00+00:00",
           files: bool = False) -> dict:
    ds = {"sample": {"name": "sample", "n_train": 2000, "n_test": 500, "num_classes": 10, "source": "bundled"},
          "cifar100": {"name": "cifar100", "n_train": 50000, "n_test": 10000, "num_classes": 100, "source": "torchvision"}}[dataset]
    metrics: dict = {"history": [], "attacks": {}, "baselines": {}}
    if accuracy is not None:
        metrics["accuracy"] = accuracy
    for name, per_image in attacks.items():
        entry = {"ssim_mean": round(float(np.mean(per_image)), 6), "ssim_median": round(float(np.median(per_image)), 6),
                 "ssim_std": round(float(np.std(per_image)), 6), "psnr_mean": 12.0, "n_images": 500,
                 "threat_model": "ciphertext_only_own_keys", "version": 1, "ssim_preset": "skimage"}
        if files:
            entry["files"] = {"per_image": f"attacks/{name}_ssim.csv", "grid": f"attacks/{name}.png",
                              "restored": f"attacks/{name}_restored.npz"}
        metrics["attacks"][name] = entry
    return {
        "schema_version": 1, "run_id": run_id, "status": status,
        "scheme": {"name": scheme, "version": 1, "image_size": [32, 32], "block_size": None if scheme == "pe" else 4,
                   "key_id": "0000000000000000", "key_space_bits": 0.0, "adapter": "le" if scheme == "le" and network else None},
        "network": None if network is None else {"name": network, "adapter": None, "params": 1000},
        "dataset": dict(ds, image_size=[32, 32]),
        "profile": "cpu", "seed": seed,
        "config": {"epochs": 1, "batch_size": 64, "device": "cpu"},
        "metrics": metrics,
        "paper": {},
        "environment": {"python": "3.11.7", "ppbench": "0.1.0", "git_commit": "fixture", "device": "cpu"},
        "started_at": "2026-11-26T11:00:00+00:00", "finished_at": finished, "duration_s": 300.0,
    }


def write_run(rec: dict, attack_images: dict[str, np.ndarray] | None = None, encrypted: np.ndarray | None = None,
              encrypted_ssim: list[float] | None = None, per_image: dict[str, list[float]] | None = None) -> None:
    run = HERE / rec["run_id"]
    run.mkdir()
    (run / "result.json").write_text(json.dumps(rec, indent=2) + "\n")
    if attack_images is None:
        return
    (run / "attacks").mkdir()
    samples = {"plain": plain_images(), "encrypted": encrypted}
    if encrypted_ssim is not None:
        samples["encrypted_ssim"] = np.array(encrypted_ssim)
    np.savez_compressed(run / "attacks" / "samples.npz", **samples)
    for name, restored in attack_images.items():
        np.savez_compressed(run / "attacks" / f"{name}_restored.npz", restored=restored)
        lines = ["index,ssim,psnr"] + [f"{i},{v},{12 + i}" for i, v in enumerate(per_image[name])]
        (run / "attacks" / f"{name}_ssim.csv").write_text("\n".join(lines) + "\n")


def main() -> None:
    for old in HERE.iterdir():
        if old.is_dir():
            shutil.rmtree(old)
    plain = plain_images()
    enc_p = block_shuffle(plain, 1)
    prop = {"fr": [0.050, 0.052], "itn": [0.205, 0.219]}
    write_run(record("proposed-vit_cpu-sample-cpu-s0-1a2b3c4d", "proposed", "vit_cpu", "sample", 0, 0.437, prop, files=True),
              {"fr": np.minimum(enc_p, 255 - enc_p), "itn": coarse(enc_p, 8)}, enc_p, [0.041, 0.063], prop)
    write_run(record("proposed-vit_cpu-sample-cpu-s1-5e6f7a8b", "proposed", "vit_cpu", "sample", 1, 0.463,
                     {"fr": [0.049], "itn": [0.232]}))
    write_run(record("proposed-vit_cpu-cifar100-cpu-s0-44444444", "proposed", "vit_cpu", "cifar100", 0, 0.201, {}))
    le = {"fr": [0.110, 0.126], "gan": [0.395, 0.409], "itn": [0.601, 0.625]}
    enc_le = 255 - block_shuffle(plain, 2)
    write_run(record("le-none-sample-cpu-s0-0c1d2e3f", "le", None, "sample", 0, None, le, files=True),
              {"fr": np.minimum(enc_le, 255 - enc_le), "gan": coarse(plain, 8), "itn": coarse(plain, 4)}, enc_le, None, le)
    write_run(record("le-pyramidnet_shakedrop_cpu-sample-cpu-s0-9a8b7c6d", "le", "pyramidnet_shakedrop_cpu", "sample", 0, 0.301, {}))
    write_run(record("plain-resnet18_cpu-sample-cpu-s0-11111111", "plain", "resnet18_cpu", "sample", 0, 0.52, {},
                     finished="2026-11-26T10:00:00+00:00"))
    write_run(record("plain-resnet18_cpu-sample-cpu-s0-22222222", "plain", "resnet18_cpu", "sample", 0, 0.55, {},
                     finished="2026-11-26T12:00:00+00:00"))
    write_run(record("pe-resnet18_cpu-sample-cpu-s0-33333333", "pe", "resnet18_cpu", "sample", 0, None, {}, status="running"))


if __name__ == "__main__":
    main()
