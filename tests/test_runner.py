"""ppbench.runner / train / profiles / run CLI: config resolution, records, resume, skip, errors, the ViT property.

Runs use the ``smoke`` profile (vit_smoke, the bundled sample cut to a few hundred images, 1-2 epochs).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from ppbench import cli
from ppbench.data import SAMPLE_PATH
from ppbench.errors import CheckpointError, DataError, InputError, PPBenchError
from ppbench.keys import SchemeKey
from ppbench.networks import create_network, permute_vit_embeddings
from ppbench.profiles import get_profile, list_profiles
from ppbench.records import REQUIRED_KEYS, load_records, missing_keys, read_record
from ppbench.registry import UnknownNameError
from ppbench.runner import RunConfig, RunLockedError, resolve_config, run, run_dir_for, run_id, run_lock
from ppbench.schemes import create_scheme, generate_key
from ppbench.train import TrainSettings, build_optimizer, train_step

REPO = Path(__file__).resolve().parents[1]


def smoke(tmp_path: Path, **overrides) -> RunConfig:
    """A smoke-profile config writing under ``tmp_path/results`` (128 train / 64 test images)."""
    options = dict(scheme="proposed", profile="smoke", results=str(tmp_path / "results"), progress=False,
                   n_train=128, n_test=64)
    options.update(overrides)
    return resolve_config(**options)


# -- profiles and config -------------------------------------------------------------------------------------
class TestProfiles:
    def test_four_profiles_are_registered_with_descriptions(self):
        assert list_profiles() == ["cpu", "cpu224", "paper", "smoke"]
        assert all(get_profile(n).description for n in list_profiles())

    def test_list_profiles_command_prints_each(self, capsys):
        assert cli.main(["list", "profiles"]) == 0
        out = capsys.readouterr().out
        assert "paper" in out and "ViT-B/16" in out and "smoke" in out

    def test_paper_profile_follows_the_paper(self):
        config = resolve_config(scheme="proposed", profile="paper", device="cpu")
        assert (config.network, config.image_size, config.block_size) == ("vit_b16", 224, 16)
        assert (config.optimizer, config.lr, config.momentum, config.weight_decay) == ("sgd", 0.3, 0.9, 5e-4)
        assert (config.batch_size, config.steps, config.warmup_steps, config.grad_clip) == (512, 10_000, 500, 1.0)
        assert config.pretrained and config.amp and config.dataset == "cifar10"

    def test_paper_plain_images_use_the_plain_learning_rate(self):
        assert resolve_config(scheme="plain", profile="paper", device="cpu").lr == 0.03

    @pytest.mark.parametrize("scheme,network,size,block", [
        ("le", "pyramidnet_shakedrop", 32, 4), ("etc", "pyramidnet_shakedrop", 32, 4), ("pe", "resnet18", 32, 4)])
    def test_paper_conventional_schemes_run_at_32_with_their_networks(self, scheme, network, size, block):
        config = resolve_config(scheme=scheme, profile="paper", device="cpu")
        assert (config.network, config.image_size, config.block_size) == (network, size, block)

    def test_cpu_profile_defaults(self):
        config = resolve_config(scheme="proposed")
        assert (config.profile, config.network, config.dataset, config.optimizer) == ("cpu", "vit_cpu", "sample", "adamw")


class TestResolveConfig:
    def test_le_and_ele_get_their_adapter(self, tmp_path):
        assert smoke(tmp_path, scheme="le").adapter == "le"
        assert smoke(tmp_path, scheme="ele").adapter == "ele"
        assert smoke(tmp_path, scheme="proposed").adapter is None

    def test_every_value_can_be_overridden(self, tmp_path):
        config = smoke(tmp_path, epochs=3, batch_size=16, lr=0.01, optimizer="sgd", image_size=64, block_size=8,
                       weight_decay=0.0, schedule="constant", plain_augment=False)
        assert (config.epochs, config.batch_size, config.lr, config.optimizer) == (3, 16, 0.01, "sgd")
        assert (config.image_size, config.block_size, config.plain_augment) == (64, 8, False)

    def test_epochs_replace_a_step_based_length(self):
        config = resolve_config(scheme="proposed", profile="paper", epochs=2, device="cpu")
        assert (config.epochs, config.steps) == (2, None)

    def test_run_id_names_the_run_and_ignores_execution_flags(self, tmp_path):
        a = smoke(tmp_path)
        b = smoke(tmp_path / "elsewhere", attacks=["fr"], force=True, device="cpu")
        assert run_id(a) == run_id(b) and run_id(a).startswith("proposed-vit_smoke-sample-smoke-s0-")
        assert run_id(smoke(tmp_path, lr=0.1)) != run_id(a)
        assert run_id(smoke(tmp_path, seed=1)) != run_id(a)

    def test_jpeg_quality_is_part_of_the_run_identity_only_when_set(self, tmp_path):
        a = smoke(tmp_path)
        assert "jpeg_quality" not in a.identity()  # runs from before the flag keep their ids
        assert run_id(smoke(tmp_path, jpeg_quality=75)) != run_id(a)
        assert run_id(smoke(tmp_path, jpeg_quality=75)) != run_id(smoke(tmp_path, jpeg_quality=50))

    @pytest.mark.parametrize("quality", [-1, 101])
    def test_jpeg_quality_outside_0_to_100_is_a_user_error(self, tmp_path, quality):
        with pytest.raises(InputError, match="0..100"):
            smoke(tmp_path, jpeg_quality=quality)

    @pytest.mark.parametrize("option,value,message", [
        ("scheme", "propsed", "Did you mean 'proposed'"),
        ("network", "vit_smok", "Did you mean 'vit_smoke'"),
        ("profile", "smok", "Did you mean 'smoke'"),
    ])
    def test_bad_names_suggest_close_ones(self, tmp_path, option, value, message):
        with pytest.raises(UnknownNameError, match=message):
            smoke(tmp_path, **{option: value})

    def test_image_size_not_divisible_by_block(self, tmp_path):
        with pytest.raises(InputError, match="not divisible by the block size 4"):
            smoke(tmp_path, image_size=30)

    def test_odd_block_for_proposed(self, tmp_path):
        with pytest.raises(InputError, match="odd"):
            smoke(tmp_path, image_size=33, block_size=3)

    def test_unknown_option(self, tmp_path):
        with pytest.raises(InputError, match="unknown run option"):
            smoke(tmp_path, learning_rate=0.1)

    def test_bad_dataset_name(self, tmp_path):
        with pytest.raises(DataError, match="Did you mean 'cifar10'"):
            smoke(tmp_path, dataset="cifar-10")

    def test_key_for_another_scheme_is_refused(self, tmp_path):
        key = generate_key("le", image_size=32, block_size=4).save(tmp_path / "le.json")
        with pytest.raises(PPBenchError, match="not for scheme 'proposed'"):
            smoke(tmp_path, key=str(key))

    def test_non_positive_numbers_are_refused(self, tmp_path):
        with pytest.raises(InputError, match="--epochs must be at least 1"):
            smoke(tmp_path, epochs=0)


# -- runs ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One complete smoke run (shared by the tests that only read it)."""
    tmp = tmp_path_factory.mktemp("finished")
    config = smoke(tmp, epochs=2)
    return config, run(config)


class TestRecord:
    def test_run_writes_a_complete_record_with_every_required_key(self, finished):
        config, record = finished
        assert record["status"] == "complete" and missing_keys(record) == []
        assert read_record(run_dir_for(config)) == record
        for key in REQUIRED_KEYS:
            node = record
            for part in key.split("."):
                node = node[part]
        assert 0.0 <= record["metrics"]["accuracy"] <= 1.0 and len(record["metrics"]["history"]) == 2
        assert record["config"]["lr"] == config.lr and record["config"]["derived"]["steps_per_epoch"] == 2

    def test_key_file_beside_the_record_is_private_and_secret_not_in_record(self, finished):
        config, record = finished
        key_path = run_dir_for(config) / "key.json"
        assert key_path.stat().st_mode & 0o777 == 0o600
        key = SchemeKey.load(key_path)
        text = (run_dir_for(config) / "result.json").read_text()
        assert key.secret.hex() not in text and record["scheme"]["key_id"] == key.key_id

    def test_log_file_and_checkpoint_exist(self, finished):
        config, _ = finished
        folder = run_dir_for(config)
        assert "epoch 2/2" in (folder / "run.log").read_text() and (folder / "checkpoint.pt").is_file()
        assert not (folder / ".lock").exists()

    def test_records_load_into_a_table(self, finished):
        config, record = finished
        frame = load_records(config.results)
        row = frame.set_index("run_id").loc[record["run_id"]]
        assert row["metrics.accuracy"] == record["metrics"]["accuracy"] and row["scheme.name"] == "proposed"

    def test_plain_augmentation_choice_is_recorded(self, tmp_path):
        record = run(smoke(tmp_path, plain_augment=False, n_train=64, n_test=32))
        assert record["config"]["plain_augment"] is False
        assert "no augmentation" in record["config"]["derived"]["augmentation"]


class TestIdempotence:
    def test_rerun_of_a_complete_run_is_skipped(self, finished):
        config, record = finished
        path = run_dir_for(config) / "result.json"
        before = path.stat().st_mtime_ns
        assert run(config) == record and path.stat().st_mtime_ns == before

    def test_force_reruns_and_reproduces_the_result(self, tmp_path):
        config = smoke(tmp_path, n_train=64, n_test=32)
        first = run(config)
        again = run(resolve_config(**{**config.to_dict(), "force": True}))
        assert again["started_at"] >= first["started_at"]
        assert again["metrics"]["accuracy"] == first["metrics"]["accuracy"]
        assert [h["train_loss"] for h in again["metrics"]["history"]] == [h["train_loss"] for h in first["metrics"]["history"]]

    def test_resume_with_nothing_to_resume_is_an_error(self, tmp_path):
        with pytest.raises(CheckpointError, match="nothing to resume"):
            run(smoke(tmp_path, resume=True))

    def test_failed_run_leaves_no_folder(self, tmp_path):
        (tmp_path / "broken.npz").write_bytes(b"not a zip archive")  # found (and fingerprinted), not readable
        config = smoke(tmp_path, dataset=f"npz:{tmp_path / 'broken.npz'}")
        with pytest.raises(DataError, match="cannot read"):
            run(config)
        assert not run_dir_for(config).exists()

    def test_a_missing_data_file_is_refused_before_the_run(self, tmp_path):
        with pytest.raises(DataError, match="not found"):
            smoke(tmp_path, dataset=f"npz:{tmp_path / 'missing.npz'}")
        assert not (tmp_path / "results").exists()

    def test_a_run_under_its_old_path_based_id_continues_there(self, tmp_path, monkeypatch):
        data = tmp_path / "set.npz"
        shutil.copy(SAMPLE_PATH, data)
        config = smoke(tmp_path, dataset=f"npz:{data}", n_train=64, n_test=32)
        with monkeypatch.context() as old_version:  # ppbench before content ids hashed the data file's path
            old_version.setattr(RunConfig, "identity", RunConfig._path_identity)
            first = run(config)
        folder = tmp_path / "results" / run_id(config, config.legacy_config_hash)
        assert first["run_id"] == folder.name != run_id(config)
        assert first["config"]["derived"]["config_hash"] == config.legacy_config_hash
        record = json.loads((folder / "result.json").read_text())
        record["status"] = "running"  # interrupted: resumes from the checkpoint made under the old hash
        (folder / "result.json").write_text(json.dumps(record))
        again = run(config)
        assert again["run_id"] == folder.name and again["status"] == "complete"
        assert "resuming" in (folder / "run.log").read_text()
        assert again["metrics"]["history"] == first["metrics"]["history"]
        assert [p.name for p in (tmp_path / "results").iterdir()] == [folder.name]  # no second folder
        assert run(config) == again  # complete: skipped under its old id


def _record_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != "run.log"}


class TestCheckpoints:
    def _foreign_checkpoint(self, tmp_path) -> RunConfig:
        """A run folder holding the key and the checkpoint of another configuration (1 epoch instead of 2)."""
        config = smoke(tmp_path, epochs=2, n_train=64, n_test=32)
        run(resolve_config(**{**config.to_dict(), "epochs": 1}))  # a different run: borrow its files
        src = run_dir_for(resolve_config(**{**config.to_dict(), "epochs": 1}))
        dst = run_dir_for(config)
        dst.mkdir(parents=True)
        for name in ("key.json", "checkpoint.pt"):
            (dst / name).write_bytes((src / name).read_bytes())
        (dst / "key.json").chmod(0o600)  # a key file readable by others is refused
        return config

    def test_corrupt_checkpoint_is_a_clear_error_and_nothing_is_overwritten(self, tmp_path):
        config = smoke(tmp_path, epochs=2, n_train=64, n_test=32)
        folder = run_dir_for(config)
        run(config)
        record = json.loads((folder / "result.json").read_text())
        record["status"] = "running"  # pretend it was interrupted
        (folder / "result.json").write_text(json.dumps(record))
        (folder / "checkpoint.pt").write_bytes(b"\x80\x02 not a checkpoint")
        before = _record_bytes(folder)
        with pytest.raises(CheckpointError, match="is corrupt"):
            run(config)
        assert _record_bytes(folder) == before

    def test_checkpoint_of_another_configuration_is_refused(self, tmp_path):
        config = self._foreign_checkpoint(tmp_path)
        folder = run_dir_for(config)
        before = _record_bytes(folder)
        with pytest.raises(CheckpointError, match="another configuration"):
            run(config)
        assert _record_bytes(folder) == before

    def test_corrupt_record_is_a_clear_error(self, tmp_path):
        config = smoke(tmp_path, n_train=64, n_test=32)
        folder = run_dir_for(config)
        folder.mkdir(parents=True)
        (folder / "result.json").write_text("{not json")
        with pytest.raises(CheckpointError, match="corrupt"):
            run(config)
        assert (folder / "result.json").read_text() == "{not json"

    @staticmethod
    def _epochs_recorded(results: Path) -> int:
        for path in results.glob("*/result.json"):
            try:
                return len(json.loads(path.read_text())["metrics"]["history"])
            except (OSError, ValueError, KeyError):
                return 0
        return 0

    def test_kill_9_and_resume_gives_the_identical_record(self, tmp_path):
        key = generate_key("proposed", image_size=32, block_size=4).save(tmp_path / "key.json")
        args = ["--scheme", "proposed", "--profile", "smoke", "--key", str(key), "--epochs", "4", "--n-train", "128",
                "--batch-size", "32", "--n-test", "32", "--no-progress"]
        killed_dir = tmp_path / "killed"
        command = [sys.executable, "-m", "ppbench.cli", "run", *args, "--results", str(killed_dir)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not self._epochs_recorded(killed_dir):  # the checkpoint is written first, then the record
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        folder = next(killed_dir.iterdir())
        interrupted = json.loads((folder / "result.json").read_text())
        assert interrupted["status"] == "running" and 1 <= len(interrupted["metrics"]["history"]) < 4
        assert (folder / ".lock").exists()  # left behind by the killed process: must be taken over

        resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming" in (folder / "run.log").read_text()
        final = read_record(folder)
        reference = run(resolve_config(**{**smoke(tmp_path).to_dict(), "key": str(key), "epochs": 4, "n_train": 128,
                                          "batch_size": 32, "n_test": 32, "results": str(tmp_path / "reference")}))
        assert final["run_id"] == reference["run_id"]
        assert final["metrics"]["accuracy"] == reference["metrics"]["accuracy"]
        fields = ("epoch", "step", "lr", "train_loss", "train_accuracy", "test_accuracy")
        assert [[h[f] for f in fields] for h in final["metrics"]["history"]] == \
               [[h[f] for f in fields] for h in reference["metrics"]["history"]]


class TestLocking:
    def test_live_lock_keeps_a_second_process_out(self, tmp_path):
        config = smoke(tmp_path, n_train=64, n_test=32)
        folder = run_dir_for(config)
        folder.mkdir(parents=True)
        with run_lock(folder):
            with pytest.raises(RunLockedError, match="in use by process"):
                run(config)
        assert not (folder / ".lock").exists()

    def test_lock_of_a_dead_process_is_taken_over(self, tmp_path):
        config = smoke(tmp_path, n_train=64, n_test=32)
        folder = run_dir_for(config)
        folder.mkdir(parents=True)
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        import socket

        (folder / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
        assert run(config)["status"] == "complete"

    def test_concurrent_processes_share_a_results_folder_without_clobbering(self, tmp_path):
        results = tmp_path / "results"
        base = [sys.executable, "-m", "ppbench.cli", "run", "--scheme", "plain", "--profile", "smoke", "--n-train", "64",
                "--n-test", "32", "--no-progress", "--results", str(results)]
        commands = [base + ["--seed", "0"], base + ["--seed", "1"], base + ["--seed", "1"]]  # the last two: one run
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
        outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        assert outcomes[0][0] == 0 and (outcomes[1][0] == 0 or outcomes[2][0] == 0)
        for code, err in outcomes:  # the duplicate either waited its turn (skipped) or was refused by the lock
            assert code == 0 or (code == 2 and "in use by process" in err), err
        frame = load_records(results)
        assert len(frame) == 2 and set(frame["seed"]) == {0, 1} and not list(results.glob("*/.lock"))
        assert not list(results.glob("*/.*.tmp"))


# -- attacks ---------------------------------------------------------------------------------------------------
@pytest.fixture()
def fake_attacks(monkeypatch):
    """Stand in for ppbench.attack_eval.evaluate_attacks and count its calls (the real attacks have their tests)."""
    calls: list[dict] = []
    crash_at: list[str | None] = [None]  # set [name]: the fake is "killed" when that attack starts

    def evaluate_attacks(attack_names, *, scheme, train_images, test_images, image_size, profile, n_images,
                         attacker_data="disjoint", device, seed, out_dir, jpeg_quality=None, train_labels=None,
                         on_attack=None):
        assert train_labels is not None and len(train_labels) == len(train_images)  # the cloud's labels reach the evaluator
        calls.append(dict(names=list(attack_names), n_images=n_images, attacker_data=attacker_data,
                          train=tuple(train_images.shape), dtype=test_images.dtype, image_size=image_size))
        out = {"attacks": {}, "baselines": {"ciphertext": {"ssim_mean": 0.05, "n_images": n_images}}}
        for n in attack_names:
            if n == crash_at[0]:
                raise KeyboardInterrupt  # killed while this attack ran
            out["attacks"][n] = {"ssim_mean": 0.1, "ssim_median": 0.1, "ssim_std": 0.0, "psnr_mean": 9.0,
                                 "n_images": n_images, "threat_model": "ciphertext_only", "version": 1}
            if on_attack is not None:
                on_attack(n, out)
        return out

    module = types.ModuleType("ppbench.attack_eval")
    module.evaluate_attacks = evaluate_attacks
    module.stale_fields = lambda name, entry: []  # every recorded entry is current
    module.crash_at = crash_at
    monkeypatch.setitem(sys.modules, "ppbench.attack_eval", module)
    return calls


class TestAttacks:
    def test_attacks_run_after_training_and_merge_into_metrics(self, tmp_path, fake_attacks):
        record = run(smoke(tmp_path, attacks=["fr", "itn"], n_train=64, n_test=32))
        assert [c["names"] for c in fake_attacks] == [["fr", "itn"]]  # one call: data and baselines made once
        assert fake_attacks[0]["train"] == (64, 3, 32, 32) and fake_attacks[0]["dtype"] == torch.uint8
        assert set(record["metrics"]["attacks"]) == {"fr", "itn"} and "accuracy" in record["metrics"]
        assert record["metrics"]["baselines"]["ciphertext"]["ssim_mean"] == 0.05

    def test_complete_record_runs_only_the_missing_attacks(self, tmp_path, fake_attacks):
        config = smoke(tmp_path, attacks=["fr"], n_train=64, n_test=32)
        first = run(config)
        second = run(resolve_config(**{**config.to_dict(), "attacks": ["fr", "itn"]}))
        assert [c["names"] for c in fake_attacks] == [["fr"], ["itn"]]
        assert set(second["metrics"]["attacks"]) == {"fr", "itn"}
        assert second["metrics"]["history"] == first["metrics"]["history"]  # not retrained

    def test_a_changed_number_of_attack_images_runs_the_attacks_again(self, tmp_path, fake_attacks):
        config = smoke(tmp_path, attacks=["fr"], n_train=64, n_test=32, n_attack_images=8)
        run(config)
        more = resolve_config(**{**config.to_dict(), "n_attack_images": 16})
        assert run(more)["metrics"]["attacks"]["fr"]["n_images"] == 16
        run(more)  # now current: skipped
        beyond = resolve_config(**{**config.to_dict(), "n_attack_images": 500})  # capped at the 32 test images
        run(beyond)
        run(beyond)
        assert [c["n_images"] for c in fake_attacks] == [8, 16, 32]

    def test_entry_from_an_older_evaluator_is_run_again(self, tmp_path, fake_attacks, monkeypatch):
        config = smoke(tmp_path, attacks=["fr", "itn"], n_train=64, n_test=32)
        run(config)
        # the evaluator now also writes "new_field"; the recorded itn entry lacks it, fr's has it
        record_path = run_dir_for(config) / "result.json"
        record = json.loads(record_path.read_text())
        record["metrics"]["attacks"]["fr"]["new_field"] = 1.0
        record_path.write_text(json.dumps(record))
        monkeypatch.setattr(sys.modules["ppbench.attack_eval"], "stale_fields",
                            lambda name, entry: [] if "new_field" in entry else ["new_field"], raising=False)
        run(config)
        assert [c["names"] for c in fake_attacks] == [["fr", "itn"], ["itn"]]

    def test_each_attack_is_recorded_as_it_finishes_so_a_kill_during_the_next_keeps_it(self, tmp_path, fake_attacks):
        config = smoke(tmp_path, attacks=["fr", "itn"], n_train=64, n_test=32)
        sys.modules["ppbench.attack_eval"].crash_at[0] = "itn"
        with pytest.raises(KeyboardInterrupt):
            run(config)
        on_disk = json.loads((run_dir_for(config) / "result.json").read_text())
        assert set(on_disk["metrics"]["attacks"]) == {"fr"} and on_disk["status"] == "running"
        sys.modules["ppbench.attack_eval"].crash_at[0] = None
        resumed = run(config)
        assert [c["names"] for c in fake_attacks] == [["fr", "itn"], ["itn"]]  # fr is not run a second time
        assert resumed["status"] == "complete" and set(resumed["metrics"]["attacks"]) == {"fr", "itn"}

    @pytest.mark.parametrize("network", [None, "none"], ids=["trained", "attack_only"])
    def test_a_run_killed_between_attacks_resumes_with_the_attacks_it_had_not_finished(self, tmp_path, fake_attacks,
                                                                                       network):
        config = smoke(tmp_path, attacks=["fr", "itn"], n_train=64, n_test=32, network=network)
        run(config)
        record_path = run_dir_for(config) / "result.json"
        record = json.loads(record_path.read_text())
        record["status"] = "running"  # killed after fr was recorded, before itn finished
        del record["metrics"]["attacks"]["itn"]
        record_path.write_text(json.dumps(record))
        resumed = run(config)
        assert [c["names"] for c in fake_attacks] == [["fr", "itn"], ["itn"]]  # fr is not run a second time
        assert resumed["status"] == "complete" and set(resumed["metrics"]["attacks"]) == {"fr", "itn"}

    def test_with_jpeg_the_classifier_trains_and_tests_on_compressed_ciphertexts(self, tmp_path, monkeypatch):
        import ppbench.attack_eval as attack_eval

        seen: list[tuple[int, int]] = []
        original = attack_eval.jpeg_roundtrip

        def spy(x, quality):
            seen.append((x.shape[0], quality))
            return original(x, quality)

        monkeypatch.setattr(attack_eval, "jpeg_roundtrip", spy)
        record = run(smoke(tmp_path, jpeg_quality=60, n_train=64, n_test=32, batch_size=32))
        assert record["config"]["jpeg_quality"] == 60
        assert sum(n for n, _ in seen) == 64 + 32 and {q for _, q in seen} == {60}  # one epoch + the test set

    def test_attack_only_run_has_no_classifier(self, tmp_path, fake_attacks):
        record = run(smoke(tmp_path, scheme="pe", network="none", attacks=["fr"], n_train=64, n_test=32))
        assert record["network"] is None and "accuracy" not in record["metrics"]
        assert record["status"] == "complete" and missing_keys(record) == []

    def test_unknown_attack_suggests_names(self, tmp_path):
        with pytest.raises(UnknownNameError, match="Did you mean 'itn'"):
            smoke(tmp_path, attacks=["itm"])


# -- CLI -------------------------------------------------------------------------------------------------------
class TestCli:
    def test_run_command_prints_the_accuracy(self, tmp_path, capsys):
        code = cli.main(["run", "--scheme", "plain", "--profile", "smoke", "--n-train", "64", "--n-test", "32",
                         "--results", str(tmp_path), "--no-progress"])
        out = capsys.readouterr().out
        assert code == 0 and "accuracy" in out and "result.json" in out

    @pytest.mark.parametrize("entry, text", [
        ({"ssim_mean": 0.206, "ssim_mean_inverted": -0.059, "ssim_mean_mirrored": 0.996}, "SSIM 0.996 (mirrored)"),
        ({"ssim_mean": -0.5, "ssim_mean_inverted": 0.5, "ssim_mean_mirrored": 0.1}, "SSIM 0.500 (negative)"),
        ({"ssim_mean": 0.3}, "SSIM 0.300")], ids=["mirrored", "negative", "as_is_only"])
    def test_run_summary_shows_each_attack_by_its_best_reading_as_table_i_does(self, entry, text):
        from ppbench.cli.run import _ssim_text

        assert _ssim_text(entry) == text

    def test_dry_run_prints_the_config_and_runs_nothing(self, tmp_path, capsys):
        assert cli.main(["run", "--scheme", "le", "--profile", "smoke", "--results", str(tmp_path), "--dry-run"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["adapter"] == "le" and not any(tmp_path.iterdir())

    def test_bad_input_exits_2_with_one_line(self, tmp_path, capsys):
        assert cli.main(["run", "--scheme", "proposed", "--image-size", "30", "--results", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ppbench: error:") and "block size" in err

    def test_help_has_examples(self, capsys):
        with pytest.raises(SystemExit):
            cli.main(["run", "--help"])
        out = capsys.readouterr().out
        assert "examples:" in out and "--no-plain-augment" in out and "--attack" in out


# -- the seed paper's property ---------------------------------------------------------------------------------
def _block_pixel_permutation(k2: np.ndarray, m: int) -> np.ndarray:
    """The proposed scheme's pixel shuffle (K2 in each of the 4 sub-blocks) as one permutation of a block's
    M*M pixels (row-major, gather convention): encrypted pixel k of a block = plain pixel perm[k]."""
    h = m // 2
    perm = np.empty(m * m, dtype=np.int64)
    for r in range(m):
        for c in range(m):
            src = k2[(r % h) * h + c % h]
            perm[r * m + c] = ((r // h) * h + src // h) * m + (c // h) * h + src % h
    return perm


class TestViTProperty:
    """Properties 1 and 2 of the seed paper, exactly, for our training step: a ViT with patch = block whose
    position and patch embeddings are permuted by the key, trained on encrypted images, stays that
    permutation of the same ViT trained on the plain images (same batches, same optimiser) - up to float
    rounding, since the permuted patch embedding sums its terms in another order."""

    def _setup(self):
        data = np.load(REPO / "bench" / "sample" / "cifar10-sample.npz")
        x = torch.from_numpy(data["x_train"][:32]).permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(data["y_train"][:32].astype(np.int64))
        scheme = create_scheme("proposed", key=generate_key("proposed", image_size=32, block_size=4))
        material = scheme.key_material()
        return x, y, scheme, material["k1"], _block_pixel_permutation(material["k2"], 4)

    def test_permuted_vit_gives_identical_logits_on_encrypted_images(self):
        x, _, scheme, k1, pix = self._setup()
        torch.manual_seed(0)
        plain = create_network("vit_smoke", num_classes=10, block_size=4).eval()
        encrypted = permute_vit_embeddings(plain, k1, pix).eval()
        with torch.no_grad():
            a, b = plain(x.float() / 255), encrypted(scheme.encrypt(x).float() / 255)
        assert torch.allclose(a, b, atol=1e-5)

    def test_training_on_encrypted_images_is_a_permutation_of_training_on_plain(self):
        x, y, scheme, k1, pix = self._setup()
        torch.manual_seed(0)
        plain = create_network("vit_smoke", num_classes=10, block_size=4)
        encrypted = permute_vit_embeddings(plain, k1, pix)
        settings = TrainSettings(optimizer="adamw", lr=2e-3, momentum=0.9, beta2=0.999, nesterov=False,
                                 weight_decay=0.05, schedule="constant", total_steps=3, epochs=1, warmup_steps=0,
                                 milestones=(), gamma=0.1, grad_clip=1.0, label_smoothing=0.0, amp=False)
        opt_plain, opt_enc = build_optimizer(plain, settings), build_optimizer(encrypted, settings)
        for step in range(3):
            batch = slice(step * 8, step * 8 + 16)
            train_step(plain, x[batch].float() / 255, y[batch], opt_plain, None, settings)
            train_step(encrypted, scheme.encrypt(x[batch]).float() / 255, y[batch], opt_enc, None, settings)
        expected = permute_vit_embeddings(plain, k1, pix).state_dict()
        got = encrypted.state_dict()
        moved = max((expected[k] - plain.state_dict()[k]).abs().max().item() for k in expected)
        assert moved > 0  # the permutation is not trivial
        for name, value in expected.items():
            assert torch.allclose(got[name], value, atol=2e-5), name
        with torch.no_grad():
            a = plain.eval()(x.float() / 255)
            b = encrypted.eval()(scheme.encrypt(x).float() / 255)
        assert torch.allclose(a, b, atol=1e-4)
