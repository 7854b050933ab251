"""``scripts/calibrate_verdict.py``: the verdict's calibration reads every restored image a study kept."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "reference-cpu"


def test_results_cases_score_all_restored_images_against_the_runs_own_test_images(load_script):
    """The runner keeps 8 plain images in each npz (for Fig. 4) but all 100 restored: the calibration must
    score the 100, against the run's test images, and agree with the record's own per-image numbers."""
    from ppbench.reports.load import load_results

    runs = {run.scheme: run for run in load_results(REFERENCE).runs}
    entry = runs["pe"].attacks["fr"]
    assert entry["best_reading_images"] == 100  # the rerun of issue 16 kept every restored image
    rows = {r["case"]: r for r in load_script("calibrate_verdict").results_cases(REFERENCE)}
    fr = rows["fr on pe (results)"]
    assert fr["n"] == 100
    assert fr["mean"] == pytest.approx(entry["ssim_best_image_mean"], abs=1e-6)
    assert fr["median"] == pytest.approx(entry["ssim_best_image_median"], abs=1e-6)
    assert fr["share >= 0.3"] == pytest.approx(entry["share_restored"])
    assert fr["recognition"] == entry.get("recognition_accuracy")
