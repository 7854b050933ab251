"""Regenerate the report fixtures in this folder: ``python tests/testdata/records/make_records.py``.

Eight small run folders following docs/records.md (schema_version 1), each record built as a
:class:`ppbench.records.RunRecord` with every field the runner writes and written by ``write_record``
(the writer's own validation), chosen so that every rule of the
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

from ppbench.data import load_dataset
from ppbench.networks import network_info
from ppbench.profiles import PAPER_TABLE_I
from ppbench.records import (
    SCHEMA_VERSION, AttackEntry, DatasetEntry, Environment, Epoch, Metrics, NetworkEntry, PaperFigures, RecordConfig, RunRecord,
    SchemeEntry, Summary, write_record,
)
from ppbench.runner import resolve_config
from ppbench.schemes import scheme_info

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


ENVIRONMENT = Environment(
    python="3.11.7", torch="2.14.1", torchvision="0.29.1", timm="1.0.31", numpy="2.4.6", ppbench="0.1.0",
    git_commit="fixture", git_describe=None, git_dirty=None, device="cpu", device_name="x86_64 (2 threads)",
    torch_threads=2, cuda=None, platform="Linux-fixture-x86_64", hostname_hash="000000000000")
"""A fixed environment, so the fixtures do not change with the machine that makes them."""


def dataset_entry(name: str) -> DatasetEntry:
    """The ``dataset`` section :meth:`ppbench.data.Dataset.describe` gives, at the sizes the reports need."""
    if name == "sample":
        data = load_dataset("sample")
        return DatasetEntry(name="sample", source=data.source, n_train=2000, n_test=500, num_classes=data.num_classes,
                            native_size=list(data.image_size), classes=list(data.classes), image_size=[32, 32],
                            spec="sample")
    # CIFAR-100 is not bundled: its class names stand in as their label numbers
    return DatasetEntry(name="cifar100", source="torchvision", n_train=50000, n_test=10000, num_classes=100,
                        native_size=[32, 32], classes=[str(i) for i in range(100)], image_size=[32, 32], spec="cifar100")


def attack_entry(name: str, per_image: list[float], *, files: bool) -> AttackEntry:
    """An attack's entry as ``ppbench.attack_eval`` writes it; the inverted and mirrored readings are made up,
    low as a restored image's negative and mirror image score, so the as-is reading is each attack's best."""
    mean = round(float(np.mean(per_image)), 6)
    files_entry = {"per_image": f"attacks/{name}_ssim.csv", "grid": f"attacks/{name}.png",
                   "restored": f"attacks/{name}_restored.npz"}
    return AttackEntry(
        ssim_mean=mean, ssim_median=round(float(np.median(per_image)), 6), ssim_std=round(float(np.std(per_image)), 6),
        psnr_mean=12.0, n_images=500, ssim_mean_inverted=-0.1, ssim_mean_mirrored=0.01,
        threat_model="ciphertext_only_own_keys", train_seconds=10.0,
        config={"profile": "cpu", "image_size": 32, "seed": 0, "device": "cpu"}, version=1, ssim_preset="skimage",
        files=files_entry if files else {}, attacker_data="disjoint")


def baselines() -> dict[str, Summary]:
    """``metrics.baselines`` of a lossless run: the key holder gets SSIM 1."""
    return {"ciphertext": Summary(ssim_mean=0.05, ssim_median=0.04, ssim_std=0.03, psnr_mean=8.1, n_images=500),
            "wrong_key": Summary(ssim_mean=0.06, ssim_median=0.05, ssim_std=0.03, psnr_mean=8.3, n_images=500),
            "key_holder": Summary(ssim_mean=1.0, ssim_median=1.0, ssim_std=0.0, psnr_mean=float("inf"), n_images=500)}


def record(run_id: str, scheme: str, network: str | None, dataset: str, seed: int, accuracy: float | None,
           attacks: dict[str, list[float]], *, status: str = "complete", finished: str = "2026-11-26T11:05:00+00:00",
           files: bool = False) -> RunRecord:
    """One record with every field the runner writes (ppbench.runner), its config resolved by
    :func:`ppbench.runner.resolve_config`; the run id (and so the folder name) is the fixture's own."""
    config = resolve_config(scheme=scheme, network=network or "none", dataset=dataset, profile="cpu", seed=seed,
                            epochs=1, batch_size=64, device="cpu", results="runs", attacks=tuple(attacks),
                            progress=False)
    info = scheme_info(scheme)
    adapter = config.adapter
    family = network_info(network).family if network else None
    derived = {"run_id": run_id, "config_hash": run_id.rsplit("-", 1)[-1], "crop_padding": 4}
    if network:
        derived |= {"steps_per_epoch": 32, "total_steps": 32, "epochs_effective": 1, "warmup_steps_effective": 3,
                    "batch_size_effective": 64, "amp_effective": False,
                    "augmentation": "random crop (zero padding 4) + horizontal flip on plain images, then encryption"}
    trained = status == "complete" and network is not None
    history = [Epoch(epoch=1, step=32, lr=0.002, train_loss=2.0, train_accuracy=accuracy, test_accuracy=accuracy,
                     images_per_s=500.0, seconds=4.0, eval_seconds=0.3)] if trained else []
    metrics = Metrics(history=history) if network else Metrics()
    if trained:
        metrics.accuracy, metrics.train_seconds = accuracy, 4.3
    if attacks:
        metrics.attacks = {name: attack_entry(name, values, files=files) for name, values in attacks.items()}
        metrics.baselines = baselines()
        metrics.attacker_data = {"mode": "disjoint", "victim_train": [0, 1000], "attacker_train": [1000, 2000],
                                 "test": [0, 500], "n_train_given": 2000}
    paper = PAPER_TABLE_I.get((scheme, family)) if family else None
    return RunRecord(
        schema_version=SCHEMA_VERSION, run_id=run_id, status=status,
        scheme=SchemeEntry(name=scheme, version=info.version, image_size=[32, 32],
                           block_size=4 if info.block_wise else None, key_id="0000000000000000",
                           key_space_bits=0.0, adapter=adapter, info=info.to_dict()),
        network=None if network is None else NetworkEntry(
            name=network, family=family, adapter=adapter, params=1000, pretrained=False, weights=None,
            from_scratch=False),
        dataset=dataset_entry(dataset), profile="cpu", seed=seed,
        config=RecordConfig.from_json({**json.loads(json.dumps(config.to_dict())), "derived": derived}),
        metrics=metrics, paper=None if paper is None else PaperFigures.from_json(paper), environment=ENVIRONMENT,
        started_at="2026-11-26T11:00:00+00:00", finished_at=finished if status == "complete" else None,
        duration_s=300.0)


def write_run(rec: RunRecord, attack_images: dict[str, np.ndarray] | None = None, encrypted: np.ndarray | None = None,
              encrypted_ssim: list[float] | None = None, per_image: dict[str, list[float]] | None = None) -> None:
    run = HERE / rec.run_id
    run.mkdir()
    write_record(run, rec)  # validated and written as the runner writes it
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
