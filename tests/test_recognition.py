"""``ppbench recognise``: the study's plain classifier's accuracy on every attack's restored images, in the records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ppbench.cli import main
from ppbench.data import load_dataset
from ppbench.records import RunRecord
from ppbench.recognition import RecognitionError, accuracy, load_classifier, recognise
from ppbench.reports.load import load_results
from ppbench.reports.table1 import build_table1, render_markdown

pytestmark = pytest.mark.slow  # two smoke runs (about 10 s on two busy cores)

TINY = ["--profile", "smoke", "--dataset", "sample", "--n-train", "64", "--n-test", "32", "--n-attack-images", "16",
        "--no-progress"]
N = 16
RECOGNITION_KEYS = ("recognition_accuracy", "recognition_accuracy_std", "recognition_images")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain run (FR) and a PE run (FR, KPA) of the smoke profile, not yet recognised."""
    results = tmp_path_factory.mktemp("study")
    assert main(["run", "--scheme", "plain", "--attack", "fr", "--results", str(results), *TINY]) == 0
    assert main(["run", "--scheme", "pe", "--attack", "fr", "kpa", "--results", str(results), *TINY]) == 0
    return results


@pytest.fixture()
def fresh(study: Path, tmp_path: Path) -> Path:
    """A private copy of the study, for a test that changes it."""
    return Path(shutil.copytree(study, tmp_path / "study"))


def records(results: Path) -> dict[str, dict]:
    """scheme name -> its record."""
    out = {}
    for path in sorted(results.glob("*/result.json")):
        record = json.loads(path.read_text())
        out[record["scheme"]["name"]] = record
    return out


def run_dir(results: Path, scheme: str) -> Path:
    return results / records(results)[scheme]["run_id"]


def test_every_attack_entry_of_every_run_gets_the_plain_classifiers_accuracy(fresh):
    lines = recognise(fresh, progress=False)
    recs = records(fresh)
    plain_id = recs["plain"]["run_id"]
    assert set(recs) == {"plain", "pe"}
    for scheme, record in recs.items():
        section = record["metrics"]["recognition"]
        assert section["classifier"] == [plain_id]
        assert section["chance"] == pytest.approx(0.1)
        assert section["images"] == N
        assert 0.0 <= section["plain_accuracy"] <= 1.0
        assert section["recorded_plain_accuracy"] == recs["plain"]["metrics"]["accuracy"]
        for name, entry in record["metrics"]["attacks"].items():
            assert 0.0 <= entry["recognition_accuracy"] <= 1.0, (scheme, name)
            assert entry["recognition_images"] == N
            assert entry["recognition_accuracy_std"] is None  # one seed: no spread
            assert any(line.startswith(f"{record['run_id']} {name}: recognition") for line in lines)
    assert set(recs["pe"]["metrics"]["attacks"]) == {"fr", "kpa"}


def test_exact_restoration_scores_exactly_the_plain_accuracy_on_the_same_images(fresh):
    recognise(fresh, progress=False)
    recs = records(fresh)
    section = recs["pe"]["metrics"]["recognition"]
    kept = np.load(run_dir(fresh, "pe") / "attacks" / "kpa_restored.npz")
    assert (kept["restored"][: len(kept["plain"])] == kept["plain"]).all()  # KPA restores PE exactly
    assert recs["pe"]["metrics"]["attacks"]["kpa"]["recognition_accuracy"] == section["plain_accuracy"]
    # the plain accuracy is the classifier's on the first N plain test images, computed independently here
    data = load_dataset("sample")
    model = load_classifier(run_dir(fresh, "plain"))
    assert section["plain_accuracy"] == accuracy(model, data.x_test[:N], data.y_test[:N])
    # on its whole test set the rebuilt classifier scores what its run recorded: the runner's network and input
    assert accuracy(model, data.x_test[:32], data.y_test[:32]) == recs["plain"]["metrics"]["accuracy"]
    # the plain scheme's ciphertexts are the plain images; PE's come from the run's key.json
    assert recs["plain"]["metrics"]["recognition"]["encrypted_accuracy"] == section["plain_accuracy"]
    assert 0.0 <= section["encrypted_accuracy"] <= 1.0
    assert "encrypted_note" not in section


def test_records_round_trip_and_keep_every_other_field(study, fresh):
    before = records(study)
    recognise(fresh, progress=False)
    for scheme, record in records(fresh).items():
        assert RunRecord.from_json(record).to_json() == record
        stripped = json.loads(json.dumps(record))
        del stripped["metrics"]["recognition"]
        for entry in stripped["metrics"]["attacks"].values():
            for key in RECOGNITION_KEYS:
                del entry[key]
        assert stripped == before[scheme]


def test_running_twice_gives_the_same_records(fresh):
    first_lines = recognise(fresh, progress=False)
    first = {p.name: p.read_bytes() for p in fresh.glob("*/result.json")}
    assert recognise(fresh, progress=False) == first_lines
    assert {p.name: p.read_bytes() for p in fresh.glob("*/result.json")} == first


def test_without_its_key_a_run_gets_no_encrypted_accuracy_and_says_why(fresh):
    (run_dir(fresh, "pe") / "key.json").unlink()
    recognise(fresh, progress=False)
    section = records(fresh)["pe"]["metrics"]["recognition"]
    assert section["encrypted_accuracy"] is None
    assert "key.json" in section["encrypted_note"]
    assert records(fresh)["pe"]["metrics"]["attacks"]["kpa"]["recognition_accuracy"] == section["plain_accuracy"]


def test_a_study_without_a_plain_run_is_refused_naming_the_run_to_make(fresh, capsys):
    shutil.rmtree(run_dir(fresh, "plain"))
    with pytest.raises(RecognitionError, match=r"no complete `plain` run of profile smoke.*ppbench run --scheme plain"):
        recognise(fresh, progress=False)
    assert main(["recognise", "--results", str(fresh), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ppbench: error: no complete `plain` run")


def test_a_plain_run_without_its_checkpoint_is_refused_naming_the_rerun(fresh):
    (run_dir(fresh, "plain") / "checkpoint.pt").unlink()
    with pytest.raises(RecognitionError, match=r"no checkpoint.pt; re-run `ppbench run --scheme plain --network vit_smoke "
                                               r"--profile smoke --dataset sample --seed 0 --attack fr --results .* --force`"):
        recognise(fresh, progress=False)


def test_a_run_the_study_has_no_plain_classifier_for_is_skipped_and_said_so(fresh, capsys):
    record_path = run_dir(fresh, "pe") / "result.json"
    record = json.loads(record_path.read_text())
    record["profile"] = "cpu"  # as if from another profile's study, which trained no plain classifier here
    record_path.write_text(json.dumps(record))
    lines = recognise(fresh, progress=False)
    assert any(line.startswith(f"{record['run_id']}: skipped: no complete `plain` run of profile cpu") for line in lines)
    assert "recognition" not in json.loads(record_path.read_text())["metrics"]
    assert "recognition" in records(fresh)["plain"]["metrics"]


def test_the_command_prints_a_line_per_run_and_attack(fresh, capsys):
    assert main(["recognise", "--results", str(fresh), "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 + 3  # a line per run, a line per attack (plain: fr; pe: fr, kpa)
    assert all("recognition" in line for line in out if ": classifier " not in line)


def test_the_report_shows_a_recognition_column_once_records_have_it(fresh):
    assert "Recognition" not in render_markdown(build_table1(load_results(fresh)), [])
    recognise(fresh, progress=False)
    markdown = render_markdown(build_table1(load_results(fresh)), [])
    assert "Recognition" in markdown
    section = records(fresh)["pe"]["metrics"]["recognition"]
    assert f"chance {section['chance']:.2f}" in markdown
