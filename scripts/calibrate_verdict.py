"""Calibration numbers of Table I's verdict rule (ppbench.reports.security): per-image best-reading SSIM
(as-is, negative, mirrored) of outputs the attack papers call restored and of outputs they call not
restored, on the bundled sample's first test images and on a results folder's restored images.

Cases (each scored against the plain test images with ppbench's ``skimage`` SSIM preset):

- ``fr on plain``: the FR fold applied to the plain image itself (a perfect FR: what FR gives on a scheme
  whose only change is negation), *restored*;
- ``<attack> on <scheme> (results)``: an attack's restored images from a results folder (e.g. the GAN on
  LE, *restored* in the seed paper), every image its ``<attack>_restored.npz`` holds, each against the run's own
  test image of the same index (the npz keeps only 8 plain images, for Fig. 4), with its recorded recognition;
- ``encrypted <scheme>``: the ciphertext of each built-in scheme under a fresh key, *not restored*;
- ``grey``: a uniform mid-grey image (128), *not restored*; ``mean image``: the test images' mean image.

With ``--classifier RUN_DIR`` (a plain-scheme run folder with its ``checkpoint.pt``) every synthetic case also
gets the classifier's accuracy (:mod:`ppbench.recognition`).

    python scripts/calibrate_verdict.py --results results/reference-cpu --n 100
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ppbench.attacks import KeySource
from ppbench.attacks.fr import fold
from ppbench.data import load_dataset
from ppbench.keys import SECRET_BYTES
from ppbench.metrics import ssim_readings
from ppbench.npzfile import read_npz
from ppbench.reports.load import load_results
from ppbench.reports.security import RESTORED_IMAGE_SSIM
from ppbench.transforms import resize_uint8

SCHEMES = ("le", "etc", "ele", "pe", "pe_np", "proposed")
LEVELS = (0.2, 0.3, 0.4)


def best_per_image(restored: torch.Tensor, plain: torch.Tensor) -> np.ndarray:
    """The best of the as-is, negative and mirrored SSIM readings of each image."""
    return torch.stack(ssim_readings(restored, plain)).amax(0).numpy()


def row(case: str, expected: str, best: np.ndarray, recognition: float | None = None) -> dict[str, object]:
    out: dict[str, object] = {"case": case, "papers say": expected, "n": len(best), "mean": float(best.mean()),
                              "median": float(np.median(best))}
    out.update({f"share >= {level:.1f}": float((best >= level).mean()) for level in LEVELS})
    out["recognition"] = recognition
    return out


def synthetic_cases(n: int, image_size: int, block_size: int) -> tuple[dict[str, tuple[str, torch.Tensor]], torch.Tensor, torch.Tensor]:
    data = load_dataset("sample")
    plain = resize_uint8(data.x_test[:n], image_size)
    keys = KeySource(secrets.token_bytes(SECRET_BYTES), purpose="calibration")
    cases: dict[str, tuple[str, torch.Tensor]] = {"fr on plain": ("restored", fold(plain))}
    for name in SCHEMES:
        scheme = keys.new_scheme(name, image_size, block_size)
        cases[f"encrypted {name}"] = ("not restored", scheme.to_display(scheme.encrypt(plain)))
    cases["fr on encrypted pe"] = ("(the paper: restored)", fold(cases["encrypted pe"][1]))
    cases["fr on encrypted pe_np"] = ("(the paper: restored)", fold(cases["encrypted pe_np"][1]))
    cases["grey"] = ("not restored", torch.full_like(plain, 128))
    mean = plain.float().mean(0, keepdim=True).round().to(torch.uint8).expand_as(plain).contiguous()
    cases["mean image"] = ("not restored", mean)
    return cases, plain, data.y_test[:n]


def results_cases(folder: Path) -> list[dict[str, object]]:
    rows = []
    for run in load_results(folder).runs:
        for attack, entry in sorted(run.attacks.items()):
            if not str(entry.get("threat_model", "")).startswith("ciphertext_only") or entry.get("status"):
                continue
            path = run.path / str((entry.get("files") or {}).get("restored") or f"attacks/{attack}_restored.npz")
            if not path.is_file():
                continue
            arrays = read_npz(path)
            restored = torch.from_numpy(arrays["restored"]).permute(0, 3, 1, 2).contiguous()
            plain = run_plain_images(run.record, arrays, len(restored))
            if plain is None:
                continue
            k = min(len(restored), len(plain))
            expected = "restored" if (run.scheme, attack) == ("le", "gan") else ""
            rows.append(row(f"{attack} on {run.scheme} (results)", expected, best_per_image(restored[:k], plain[:k]),
                            entry.get("recognition_accuracy")))
    return rows


def run_plain_images(record: dict[str, Any], arrays: dict[str, np.ndarray], n: int) -> torch.Tensor | None:
    """The plain test images an attack's restored images are scored against: those the npz kept, or, where it
    kept fewer than it restored (the runner keeps 8 for Fig. 4), the run's own test images at the same indices."""
    kept = torch.from_numpy(arrays["plain"]).permute(0, 3, 1, 2).contiguous() if "plain" in arrays else None
    if kept is not None and len(kept) >= n:
        return kept
    from ppbench.errors import PPBenchError
    from ppbench.recognition import run_dataset

    try:
        data = run_dataset(record)
    except PPBenchError:  # the run's data set is not here (e.g. offline): score what the npz kept
        return kept
    index = torch.from_numpy(np.asarray(arrays["index"], dtype=np.int64)) if "index" in arrays else torch.arange(n)
    size = int(arrays["restored"].shape[1])
    return resize_uint8(data.x_test[index], size)


def recognition_for(classifier: Path, cases: dict[str, tuple[str, torch.Tensor]], plain: torch.Tensor,
                    labels: torch.Tensor) -> dict[str, float]:
    """The classifier's accuracy on the plain images and on each case (``ppbench recognise``'s measure)."""
    from ppbench.errors import InputError
    from ppbench.records import read_record
    from ppbench.recognition import load_classifier, accuracy

    size = (read_record(classifier / "result.json")["dataset"].get("image_size") or [None])[0]
    if size != plain.shape[-1]:
        raise InputError(f"the classifier in {classifier} was trained at {size}px, the cases are at "
                         f"{plain.shape[-1]}px; pass --image-size {size}")
    model = load_classifier(classifier)
    out = {"plain": accuracy(model, plain, labels)}
    out.update({case: accuracy(model, images, labels) for case, (_, images) in cases.items()})
    return out


def fraction_of_plain(value: float | None, plain: float, chance: float) -> float | None:
    """(accuracy - chance) / (plain accuracy - chance): the R at which this case would just count as recognised."""
    return None if value is None or plain <= chance else (value - chance) / (plain - chance)


def markdown(rows: list[dict[str, object]]) -> str:
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame.to_markdown(index=False, floatfmt=".3f")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="test images of the bundled sample (default 100, as the cpu profile)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--block-size", type=int, default=4)
    parser.add_argument("--results", type=Path, action="append", default=[], help="results folder(s) whose restored npz files to score")
    parser.add_argument("--classifier", type=Path, help="a plain run folder with checkpoint.pt: adds recognition accuracy")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cases, plain, labels = synthetic_cases(args.n, args.image_size, args.block_size)
    accuracy = recognition_for(args.classifier, cases, plain, labels) if args.classifier else {}
    rows = [row(case, expected, best_per_image(images, plain), accuracy.get(case)) for case, (expected, images) in cases.items()]
    if accuracy:
        chance = 1.0 / load_dataset("sample").num_classes  # the cases' data set (synthetic_cases)
        for r in rows:
            r["R reached"] = fraction_of_plain(r["recognition"], accuracy["plain"], chance)
    for folder in args.results:
        rows += results_cases(folder)
    print(f"per-image best reading (as-is / negative / mirrored), {args.n} sample test images at {args.image_size}px; "
          f"the rule's per-image level: {RESTORED_IMAGE_SSIM}")
    if accuracy:
        print(f"classifier {args.classifier}: accuracy on the plain images {accuracy['plain']:.3f}; 'R reached': "
              "(accuracy - chance) / (plain accuracy - chance), recognised when >= R (ppbench.reports.security)")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
