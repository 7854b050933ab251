"""Add the per-image best-reading fields (``ssim_best_image_mean``, ``ssim_best_image_median``,
``share_restored``, ``restored_image_ssim``, ``best_reading_images``; docs/records.md) to records written
before the evaluator wrote them, from the files the run kept. Every other field stays as it was.

Source, per attack entry:

- the per-image CSV when it has the ``ssim_best`` column (every scored image: exact);
- else ``<attack>_restored.npz``: the images it holds both ``restored`` and ``plain`` for (older evaluators kept
  only the first 8 of the scored images, so the fields rest on those 8; ``best_reading_images`` says so and
  the reports print it).

Entries that already have the fields are left alone (``--force`` recomputes them); not-applicable entries have
no images. The record's no-information baselines (``metrics.baselines.grey`` and the per-image fields of
``metrics.baselines.ciphertext``, which the verdict compares shares with) are added from the run's data set and,
for the ciphertext, its ``key.json`` (committed studies keep no keys: then the grey baseline alone). Writes each
record atomically through ``ppbench.records.write_record``.

    python scripts/rescore_records.py results/reference-cpu
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import torch

from ppbench.attack_eval import best_reading_fields, no_information_baselines
from ppbench.errors import PPBenchError
from ppbench.metrics import ssim_readings
from ppbench.npzfile import read_npz
from ppbench.records import RECORD_FILE, read_record, write_record

FIELDS = ("ssim_best_image_mean", "ssim_best_image_median", "share_restored", "restored_image_ssim", "best_reading_images")


def _from_csv(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "ssim_best" not in rows[0]:
        return None
    as_is, inverted, mirrored = (torch.tensor([float(r[c]) for r in rows], dtype=torch.float64)
                                 for c in ("ssim", "ssim_inverted", "ssim_mirrored"))
    return best_reading_fields(as_is, inverted, mirrored)


def _from_npz(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    arrays = read_npz(path)
    if "restored" not in arrays or "plain" not in arrays:
        return None
    k = min(len(arrays["restored"]), len(arrays["plain"]))
    restored, plain = (torch.from_numpy(arrays[name][:k]).permute(0, 3, 1, 2).contiguous() for name in ("restored", "plain"))
    return best_reading_fields(*ssim_readings(restored, plain, preset="skimage"))


def rescore_entry(run_dir: Path, name: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The fields for one attack entry, or None when the run kept nothing to compute them from."""
    files = entry.get("files") or {}
    return (_from_csv(run_dir / str(files.get("per_image") or f"attacks/{name}_ssim.csv"))
            or _from_npz(run_dir / str(files.get("restored") or f"attacks/{name}_restored.npz")))


def rescore_run(run_dir: Path, force: bool = False) -> list[str]:
    """Add the fields to every entry of ``run_dir``'s record that lacks them; returns one line per change."""
    record = read_record(run_dir / RECORD_FILE)
    changed = []
    for name, entry in (record.get("metrics", {}).get("attacks") or {}).items():
        if entry.get("status") == "not_applicable" or (not force and "share_restored" in entry):
            continue
        fields = rescore_entry(run_dir, name, entry)
        if fields is None:
            changed.append(f"{run_dir.name} {name}: nothing to rescore from (no per-image readings, no restored npz)")
            continue
        entry.update(fields)
        changed.append(f"{run_dir.name} {name}: share_restored {fields['share_restored']:.3f}, best-image mean "
                       f"{fields['ssim_best_image_mean']:.3f} over {fields['best_reading_images']} image(s)")
    baselines = record.setdefault("metrics", {}).setdefault("baselines", {})
    if force or "grey" not in baselines:
        try:
            added = rescore_baselines(run_dir, record)
        except PPBenchError as exc:  # e.g. its data set is not on this machine: the other runs go on
            added = {}
            changed.append(f"{run_dir.name} baselines: not added ({exc})")
        if added:
            for label, fields in added.items():
                baselines[label] = {**baselines.get(label, {}), **fields}
            changed.append(f"{run_dir.name} baselines: " + ", ".join(
                f"{label} share_restored {fields['share_restored']:.3f}" for label, fields in added.items()))
    if any(": share_restored" in line or " baselines: " in line for line in changed):
        write_record(run_dir, record)
    return changed


def rescore_baselines(run_dir: Path, record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The no-information baselines on the test images the run's attacks were scored on ({} without attacks)."""
    from ppbench.recognition import encrypted_test_images, run_dataset
    from ppbench.transforms import resize_uint8

    scored = [int(e["n_images"]) for e in (record.get("metrics", {}).get("attacks") or {}).values() if e.get("n_images")]
    if not scored:
        return {}
    size = int(record["dataset"]["image_size"][0])
    plain = resize_uint8(run_dataset(record).x_test[: max(scored)], size)
    display, _ = encrypted_test_images(run_dir, record, plain)
    return no_information_baselines(plain, display)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a results folder (every */result.json under it)")
    parser.add_argument("--force", action="store_true", help="recompute entries that already have the fields")
    args = parser.parse_args(argv)
    for path in sorted(args.results.rglob(RECORD_FILE)):
        for line in rescore_run(path.parent, args.force):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
