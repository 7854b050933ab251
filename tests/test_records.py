"""ppbench.records and ppbench.environment: the record contract, atomic writes, and the pandas view."""

from __future__ import annotations

import copy
import json

import pytest

from ppbench import environment as env_mod
from ppbench.errors import CheckpointError
from ppbench.records import (
    REQUIRED_KEYS, SCHEMA_VERSION, iter_records, load_records, missing_keys, read_record, validate_record,
    write_record,
)


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
