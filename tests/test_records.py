"""ppbench.records and ppbench.environment: the record contract, atomic writes, and the pandas view."""

from __future__ import annotations

import copy
import json

import pytest

from pathlib import Path

from ppbench import environment as env_mod
from ppbench.errors import CheckpointError
from ppbench.records import (
    REQUIRED_KEYS, SCHEMA_VERSION, UNSET, AttackEntry, Epoch, Metrics, RunRecord, iter_records, load_records,
    missing_keys, read_record, read_run_record, validate_record, write_record,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = sorted([*ROOT.glob("results/**/result.json"), *(ROOT / "tests" / "testdata" / "records").glob("**/result.json")])
FIXTURES = ROOT / "tests" / "testdata" / "records"


def make_record(run_id: str = "proposed-vit_smoke-sample-smoke-s0-00000000", *, status: str = "complete",
                accuracy: float | None = 0.5, lr: float = 0.002) -> dict:
    """A minimal record that follows docs/records.md."""
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "status": status,
        "scheme": {"name": "proposed", "version": 1, "key_id": "abc"},
        "network": {"name": "vit_smoke", "params": 10},
        "dataset": {"name": "sample", "n_train": 256, "n_test": 128},
        "profile": "smoke", "seed": 0, "config": {"lr": lr, "milestones": []},
        "metrics": {"accuracy": accuracy, "history": [{"epoch": 1, "train_loss": 2.0, "test_accuracy": accuracy}],
                    "attacks": {"fr": {"ssim_mean": 0.1, "n_images": 8}}},
        "environment": {"python": "3.11", "torch": "2", "timm": "1", "ppbench": "0.1.0", "git_commit": None,
                        "device_name": "cpu"},
        "started_at": "2026-01-01T00:00:00+00:00", "duration_s": 1.0,
    }


class TestContract:
    def test_minimal_record_is_valid(self):
        assert validate_record(make_record())["run_id"]

    @pytest.mark.parametrize("key", REQUIRED_KEYS)
    def test_each_required_key_is_enforced(self, key):
        record = make_record()
        node = record
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        del node[last]
        with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
            validate_record(record)

    def test_complete_trained_run_needs_accuracy(self):
        record = make_record()
        del record["metrics"]["accuracy"]
        assert missing_keys(record) == ["metrics.accuracy"]

    def test_attack_only_run_needs_no_accuracy(self):
        record = make_record()
        record["network"] = None
        record["metrics"] = {"attacks": {}}
        assert missing_keys(record) == []

    def test_percentages_are_refused(self):
        with pytest.raises(CheckpointError, match="fraction"):
            validate_record(make_record(accuracy=96.6))

    def test_other_schema_version_is_refused(self):
        record = make_record()
        record["schema_version"] = 99
        with pytest.raises(CheckpointError, match="schema_version"):
            validate_record(record)


class TestFiles:
    def test_written_record_reads_back_identical(self, tmp_path):
        record = make_record()
        path = write_record(tmp_path, record)
        assert read_record(path) == record and read_record(tmp_path) == record
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left

    def test_invalid_record_is_not_written(self, tmp_path):
        write_record(tmp_path, make_record())
        before = (tmp_path / "result.json").read_bytes()
        bad = make_record()
        del bad["metrics"]
        with pytest.raises(CheckpointError):
            write_record(tmp_path, bad)
        assert (tmp_path / "result.json").read_bytes() == before

    def test_corrupt_record_is_a_clear_error(self, tmp_path):
        (tmp_path / "result.json").write_text('{"schema_version": 1, "run_')
        with pytest.raises(CheckpointError, match="corrupt"):
            read_record(tmp_path / "result.json")


class TestTables:
    def _folder(self, tmp_path):
        for i, (status, acc) in enumerate([("complete", 0.4), ("complete", 0.6), ("running", None)]):
            run = tmp_path / f"run{i}"
            run.mkdir()
            (run / "result.json").write_text(json.dumps(make_record(f"run{i}", status=status, accuracy=acc, lr=0.1 * i)))
        (tmp_path / "broken").mkdir()
        (tmp_path / "broken" / "result.json").write_text("{")
        return tmp_path

    def test_load_records_flattens_into_dotted_columns(self, tmp_path):
        frame = load_records(self._folder(tmp_path))
        assert sorted(frame["run_id"]) == ["run0", "run1"]
        assert {"metrics.accuracy", "config.lr", "scheme.name", "metrics.attacks.fr.ssim_mean"} <= set(frame.columns)
        assert frame.set_index("run_id").loc["run1", "metrics.accuracy"] == 0.6
        assert isinstance(frame["metrics.history"].iloc[0], list)

    def test_incomplete_and_unreadable_records_are_skipped_and_reported(self, tmp_path):
        frame = load_records(self._folder(tmp_path))
        assert [p.split("/")[-2] for p in frame.attrs["skipped"]["incomplete"]] == ["run2"]
        assert [p.split("/")[-2] for p in frame.attrs["skipped"]["unreadable"]] == ["broken"]

    def test_incomplete_records_on_request(self, tmp_path):
        frame = load_records(self._folder(tmp_path), include_incomplete=True)
        assert sorted(frame["run_id"]) == ["run0", "run1", "run2"]

    def test_iter_records_yields_dicts(self, tmp_path):
        records = list(iter_records(self._folder(tmp_path)))
        assert all(isinstance(r, dict) and r["status"] == "complete" for r in records)

    def test_empty_folder_gives_an_empty_table(self, tmp_path):
        assert len(load_records(tmp_path)) == 0

    def test_missing_folder_is_a_clear_error(self, tmp_path):
        with pytest.raises(CheckpointError, match="does not exist"):
            load_records(tmp_path / "nope")

    def test_records_are_not_mutated_by_loading(self, tmp_path):
        folder = self._folder(tmp_path)
        before = copy.deepcopy(json.loads((folder / "run0" / "result.json").read_text()))
        load_records(folder)
        assert json.loads((folder / "run0" / "result.json").read_text()) == before


class TestEnvironment:
    def test_environment_has_the_versions_and_device(self):
        import torch

        env = env_mod.environment(torch.device("cpu"))
        assert env["torch"] == torch.__version__ and env["ppbench"] and env["timm"]
        assert "threads" in env["device_name"] and env["device"] == "cpu"

    def test_git_commit_outside_a_checkout_falls_back_without_failing(self, tmp_path, monkeypatch):
        monkeypatch.setattr(env_mod, "_REPO", tmp_path)
        monkeypatch.setenv("PPBENCH_GIT_COMMIT", "feedface")
        assert env_mod.git_info() == {"git_commit": "feedface", "git_describe": None, "git_dirty": None}

    def test_git_commit_without_git_binary_falls_back(self, monkeypatch):
        monkeypatch.setenv("PATH", "/nonexistent")
        monkeypatch.delenv("PPBENCH_GIT_COMMIT", raising=False)
        assert env_mod.git_info()["git_commit"] is None


class TestRunRecord:
    def test_records_are_committed(self):
        assert len(COMMITTED) >= 9  # the fixtures and at least one results folder

    @pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(ROOT)))
    def test_every_committed_record_round_trips_exactly(self, path):
        text = path.read_text()
        data = json.loads(text)
        out = RunRecord.from_json(data).to_json()
        assert out == data
        assert json.dumps(out) == json.dumps(data)  # key order too
        assert json.loads(text) == data  # reading did not modify the input

    def test_typed_access_reads_the_fields(self):
        record = read_run_record(FIXTURES / "proposed-vit_cpu-sample-cpu-s0-1a2b3c4d")
        assert isinstance(record.metrics, Metrics) and isinstance(record.metrics.attacks["fr"], AttackEntry)
        assert record.metrics.attacks["fr"].ssim_mean == pytest.approx(0.051)
        assert record.metrics.accuracy == 0.437 and isinstance(record.metrics.history[0], Epoch)
        assert record.scheme.name == "proposed" and record.network.family == "vit" and record.dataset.n_test == 500
        assert record.config.epochs == 1 and record.config.get("lr") == record.config.extra["lr"]
        assert record.paper.accuracy_cifar10 == 0.9664

    def test_attack_only_record_has_no_network(self):
        record = read_run_record(FIXTURES / "le-none-sample-cpu-s0-0c1d2e3f")
        assert record.network is None and record.metrics.accuracy is UNSET and record.metrics.get("accuracy") is None

    def test_unknown_keys_survive_at_every_level(self):
        data = make_record()
        data["future"] = {"a": 1}
        data["scheme"]["new_field"] = [1, 2]
        data["metrics"]["attacks"]["fr"]["new_score"] = 0.5
        data["metrics"]["history"][0]["grad_norm"] = 3.0
        record = RunRecord.from_json(copy.deepcopy(data))
        assert record.extra == {"future": {"a": 1}} and record.metrics.attacks["fr"].extra == {"new_score": 0.5}
        assert record.to_json() == data

    def test_absent_and_null_stay_apart(self):
        data = make_record()
        del data["metrics"]["accuracy"]
        data["network"] = None
        out = RunRecord.from_json(data).to_json()
        assert "accuracy" not in out["metrics"] and out["network"] is None

    def test_a_field_set_after_reading_is_written_in_declaration_order(self):
        record = RunRecord.from_json(make_record())
        record.error = "diverged"
        record.metrics.train_seconds = 2.0
        out = record.to_json()
        assert out["error"] == "diverged" and list(out)[-1] == "error"
        assert list(out["metrics"])[-1] == "train_seconds"

    def test_output_shares_nothing_with_the_record(self):
        record = RunRecord.from_json(make_record())
        out = record.to_json()
        out["metrics"]["attacks"]["fr"]["ssim_mean"] = 0.9
        out["config"]["milestones"].append(3)
        assert record.metrics.attacks["fr"].ssim_mean == 0.1 and record.config.extra["milestones"] == []

    def test_a_section_that_is_not_an_object_is_kept_as_it_is(self):
        data = make_record()
        data["metrics"]["attacks"]["fr"] = "broken"
        assert RunRecord.from_json(data).to_json() == data

    def test_a_record_that_is_not_an_object_is_a_clear_error(self):
        with pytest.raises(CheckpointError, match="JSON object"):
            RunRecord.from_json([1, 2])

    def test_write_record_takes_a_run_record(self, tmp_path):
        record = RunRecord.from_json(make_record())
        write_record(tmp_path, record)
        assert read_run_record(tmp_path) == record and read_record(tmp_path) == make_record()

    def test_an_invalid_run_record_is_not_written(self, tmp_path):
        record = RunRecord.from_json(make_record())
        record.metrics = UNSET
        with pytest.raises(CheckpointError, match="metrics"):
            write_record(tmp_path, record)
        assert not (tmp_path / "result.json").exists()


@pytest.fixture(scope="module")
def smoke_record(tmp_path_factory) -> dict:
    """The record of a real (tiny) smoke run, as the runner wrote it."""
    from ppbench.cli import main

    results = tmp_path_factory.mktemp("smoke")
    assert main(["run", "--profile", "smoke", "--scheme", "pe", "--dataset", "sample", "--n-train", "32",
                 "--n-test", "16", "--results", str(results)]) == 0
    (path,) = results.glob("*/result.json")
    return json.loads(path.read_text())


class TestWriter:
    def test_the_writers_record_round_trips_exactly(self, smoke_record):
        out = RunRecord.from_json(smoke_record).to_json()
        assert out == smoke_record and list(out) == list(smoke_record)
        assert RunRecord.from_json(smoke_record).metrics.history[0].test_accuracy == smoke_record["metrics"]["accuracy"]

    def test_the_writer_leaves_nothing_to_extra_outside_config(self, smoke_record):
        record = RunRecord.from_json(smoke_record)
        parts = [record, record.scheme, record.network, record.dataset, record.environment, record.metrics,
                 *record.metrics.history]
        assert all(part.extra == {} for part in parts)

    @pytest.mark.parametrize("run", ["proposed-vit_cpu-sample-cpu-s0-1a2b3c4d", "plain-resnet18_cpu-sample-cpu-s0-11111111"])
    def test_fixtures_have_every_field_the_writer_writes(self, smoke_record, run):
        fixture = json.loads((FIXTURES / run / "result.json").read_text())
        assert set(smoke_record) <= set(fixture)
        for section in ("scheme", "network", "dataset", "environment", "config", "metrics"):
            assert set(smoke_record[section]) <= set(fixture[section]), section
        assert set(smoke_record["config"]["derived"]) <= set(fixture["config"]["derived"])
        assert set(smoke_record["metrics"]["history"][0]) <= set(fixture["metrics"]["history"][0])


class TestPaperTable:
    def test_the_records_paper_figures_come_from_the_reports_table(self):
        from ppbench.profiles import PAPER_TABLE_I
        from ppbench.reports.table1 import load_paper_table

        _, rows = load_paper_table()
        assert len(PAPER_TABLE_I) == len(rows)
        for row in rows:
            family = {"pyramidnet_shakedrop*": "pyramidnet", "resnet18*": "resnet", "vit*": "vit"}[row.networks[0]]
            paper = PAPER_TABLE_I[(row.scheme, family)]
            assert (paper["accuracy_cifar10"], paper["accuracy_cifar100"]) == (row.accuracy["cifar10"], row.accuracy["cifar100"])
            assert paper["security"] == {True: "high", False: "low", None: None}[row.security]

    def test_committed_records_carry_the_tables_figures(self):
        from ppbench.profiles import PAPER_TABLE_I

        for path in COMMITTED:
            data = json.loads(path.read_text())
            family = (data.get("network") or {}).get("family")
            if family:
                assert data["paper"] == PAPER_TABLE_I.get((data["scheme"]["name"], family)), path
