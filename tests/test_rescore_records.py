"""``scripts/rescore_records.py`` adds what the verdict reads to older records: per-image fields of attack entries
from the files a run kept, and the no-information baselines (grey; the ciphertext where the run kept its key)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def rescore(load_script):
    return load_script("rescore_records")


def test_a_record_without_the_grey_baseline_gains_it_on_the_images_its_attacks_scored(rescore, results_copy):
    run_dir = next(results_copy.glob("le-none-*"))
    before = json.loads((run_dir / "result.json").read_text())
    lines = rescore.rescore_run(run_dir)
    after = json.loads((run_dir / "result.json").read_text())
    grey = after["metrics"]["baselines"]["grey"]
    assert grey["n_images"] == grey["best_reading_images"] == 500  # as many as the attacks scored
    assert 0.0 <= grey["share_restored"] < 0.25  # 32 x 32: the grey image restores nothing (calibration: 0.06)
    assert after["metrics"]["baselines"]["ciphertext"] == before["metrics"]["baselines"]["ciphertext"]  # no key kept
    assert any("baselines: grey share_restored" in line for line in lines)
    assert not any("baselines" in line for line in rescore.rescore_run(run_dir))  # nothing more to add
    assert json.loads((run_dir / "result.json").read_text()) == after
