"""Bad inputs and broken state at the edges of run / sweep / report / data: each is refused on one line
(``ppbench: error: ...``, exit 2, no traceback) or recorded as what it is, never as complete.

Runs use the ``smoke`` profile on 16 training / 8 test images of the bundled sample (a second or two each).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ppbench import cli
from ppbench.data import SAMPLE_PATH, load_dataset
from ppbench.errors import CheckpointError, DataError, InputError
from ppbench.keys import SchemeKey
from ppbench.runner import resolve_config, run, run_dir_for
from ppbench.train import DivergedError, TrainSettings, TrainState, build_optimizer, fit

TINY = ["--profile", "smoke", "--n-train", "16", "--n-test", "8", "--dataset", "sample", "--no-progress"]
TESTDATA_RECORDS = Path(__file__).resolve().parent / "testdata" / "records"


def tiny(tmp_path: Path, **overrides):
    options = dict(scheme="proposed", profile="smoke", results=str(tmp_path / "results"), progress=False,
                   n_train=16, n_test=8, dataset="sample", batch_size=8)
    options.update(overrides)
    return resolve_config(**options)


def one_error_line(capsys) -> str:
    """The single ``ppbench: error:`` line on stderr (and no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("ppbench: error:")]
    assert len(lines) == 1, err
    return lines[0]


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def write_npz(path: Path, n_train: int = 16, n_test: int = 8, y_train=None, y_test=None, **extra) -> Path:
    with np.load(SAMPLE_PATH) as sample:
        x_train, x_test = sample["x_train"][:n_train], sample["x_test"][:n_test]
        y_train = sample["y_train"][:n_train] if y_train is None else np.asarray(y_train)
        y_test = sample["y_test"][:n_test] if y_test is None else np.asarray(y_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, **extra)
    return path


# -- checkpoints -------------------------------------------------------------------------------------------------
class TestCheckpoints:
    def test_a_byte_flipped_inside_tensor_data_is_refused_by_the_checksum(self, tmp_path):
        config = tiny(tmp_path, epochs=1)
        run(config)
        folder = run_dir_for(config)
        record = json.loads((folder / "result.json").read_text())
        record["status"] = "running"  # as if killed after its last checkpoint
        (folder / "result.json").write_text(json.dumps(record))
        path = folder / "checkpoint.pt"
        flip_byte(path, path.stat().st_size // 2)
        torch.load(path, weights_only=True)  # torch alone reads the damaged tensors without complaint
        before = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "run.log"}
        with pytest.raises(CheckpointError, match=r"checkpoint .*checkpoint\.pt is corrupt \(its SHA-256"):
            run(config)
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "run.log"} == before

    def test_a_corrupt_checkpoint_is_one_line_naming_the_file_and_the_fix(self, tmp_path, capsys):
        config = tiny(tmp_path, epochs=1)
        run(config)
        folder = run_dir_for(config)
        (folder / "result.json").unlink()
        flip_byte(folder / "checkpoint.pt", 100)
        argv = ["run", "--scheme", "proposed", *TINY, "--batch-size", "8", "--epochs", "1", "--results",
                str(tmp_path / "results")]
        assert cli.main(argv) == 2
        line = one_error_line(capsys)
        assert str(folder / "checkpoint.pt") in line and "delete" in line and "--force" in line
        assert not (folder / "result.json").exists()

    def test_a_checkpoint_without_a_checksum_is_refused(self, tmp_path):
        config = tiny(tmp_path, epochs=1)
        run(config)
        folder = run_dir_for(config)
        (folder / "result.json").unlink()
        payload = torch.load(folder / "checkpoint.pt", weights_only=True)
        torch.save(payload, folder / "checkpoint.pt")  # what a ppbench before checksums wrote
        with pytest.raises(CheckpointError, match="no SHA-256 trailer"):
            run(config)

    def test_deleting_key_and_record_does_not_resume_the_checkpoint_under_a_fresh_key(self, tmp_path, capsys):
        config = tiny(tmp_path, epochs=1)
        run(config)
        folder = run_dir_for(config)
        key_id = SchemeKey.load(folder / "key.json").key_id
        checkpoint = (folder / "checkpoint.pt").read_bytes()
        (folder / "key.json").unlink()
        (folder / "result.json").unlink()
        with pytest.raises(CheckpointError, match=f"trained under key {key_id}; restore that key file"):
            run(config)
        assert not (folder / "key.json").exists()  # no fresh key was made in its place
        assert (folder / "checkpoint.pt").read_bytes() == checkpoint and not (folder / "result.json").exists()

    def test_a_checkpoint_made_under_another_key_is_refused(self, tmp_path):
        from ppbench.schemes import generate_key

        config = tiny(tmp_path, epochs=1)
        run(config)
        folder = run_dir_for(config)
        (folder / "result.json").unlink()
        (folder / "key.json").unlink()  # the folder's key replaced by another one
        generate_key("proposed", image_size=32, block_size=4).save(folder / "key.json")
        with pytest.raises(CheckpointError, match="was trained under key .*, but this run's key is .*; restore the key"):
            run(config)
        assert not (folder / "result.json").exists()

    def test_an_attack_checkpoint_with_a_flipped_byte_is_refused(self, tmp_path):
        from ppbench.attacks import Attack, create_attack

        path = create_attack("itn", scheme_name="pe", image_size=32, profile="smoke").save(tmp_path / "itn.pt")
        assert type(Attack.load(path)).__name__  # intact: loads
        flip_byte(path, path.stat().st_size // 2)
        with pytest.raises(CheckpointError, match="corrupt"):
            Attack.load(path)


# -- a non-finite loss --------------------------------------------------------------------------------------------
class TestDivergence:
    def test_a_nan_loss_stops_the_run_on_one_line_and_the_record_says_failed(self, tmp_path, capsys):
        argv = ["run", "--scheme", "proposed", *TINY, "--batch-size", "4", "--lr", "1e8", "--results",
                str(tmp_path / "r")]
        assert cli.main(argv) == 2
        line = one_error_line(capsys)
        assert re.search(r"training loss became (nan|inf) at epoch 1 step \d+", line) and "--lr (now 1e+08)" in line
        (folder,) = (tmp_path / "r").iterdir()
        record = json.loads((folder / "result.json").read_text())
        assert record["status"] == "failed" and record["error"] in line and record["metrics"]["history"] == []
        assert not (folder / "checkpoint.pt").exists()  # nothing of the diverged state was saved

    def _fit(self, *, bad_step: int, poison: str, epochs: int = 3):
        """fit() on a linear model, 4 steps per epoch; at global step ``bad_step`` the loss or a weight goes NaN."""
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
        step = {"n": 0}

        class Pipeline:
            steps_per_epoch = 4

            def train_batches(self):
                for i in range(4):
                    step["n"] += 1
                    xb = x[i * 8:(i + 1) * 8].clone()
                    if poison == "loss" and step["n"] == bad_step:
                        xb[0, 0] = float("nan")
                    yield xb, y[i * 8:(i + 1) * 8]

            def test_batches(self):
                yield x, y

        class Poison:  # the scheduler runs after optimizer.step(): here a weight goes NaN with a finite loss
            def step(self):
                if poison == "weight" and step["n"] == bad_step:
                    with torch.no_grad():
                        model.weight[0, 0] = float("nan")

        settings = TrainSettings(optimizer="sgd", lr=0.1, momentum=0.0, beta2=0.999, nesterov=False, weight_decay=0.0,
                                 schedule="constant", total_steps=4 * epochs, epochs=epochs, warmup_steps=0,
                                 milestones=(), gamma=0.1, grad_clip=None, label_smoothing=0.0, amp=False)
        saved: list[int] = []
        with pytest.raises(DivergedError) as info:
            fit(model, Pipeline(), build_optimizer(model, settings), Poison(), settings, TrainState(),
                on_epoch_end=lambda st: saved.append(st.epoch), progress=False)
        return str(info.value), saved

    def test_a_nan_loss_in_epoch_2_keeps_epoch_1_checkpoint_and_names_the_step(self):
        message, saved = self._fit(bad_step=6, poison="loss")
        assert saved == [1]  # the checkpoint callback never saw epoch 2
        assert "training loss became nan at epoch 2 step 6" in message
        assert "lower --lr (now 0.1)" in message and "--grad-clip 1.0" in message

    def test_a_non_finite_weight_after_a_finite_loss_stops_before_the_checkpoint(self):
        message, saved = self._fit(bad_step=8, poison="weight")
        assert saved == [1] and "weight weight became non-finite at epoch 2 step 8" in message


# -- data --------------------------------------------------------------------------------------------------------
class TestLabels:
    def test_labels_100_to_109_without_classes_are_refused(self, tmp_path):
        path = write_npz(tmp_path / "d.npz", y_train=np.arange(16) % 10 + 100, y_test=np.arange(8) % 10 + 100)
        with pytest.raises(DataError, match=r"labels 100\.\.109 are not class indices 0\.\.C-1.*renumber the labels "
                                            r"to 0\.\.9, or add a 'classes' array"):
            load_dataset(f"npz:{path}")

    def test_sparse_label_ids_are_refused_naming_the_unused_indices(self, tmp_path):
        path = write_npz(tmp_path / "d.npz", y_train=[0, 10, 20, 30] * 4, y_test=[0, 10, 20, 30] * 2)
        with pytest.raises(DataError, match=r"only 4 of the 31 indices 0\.\.30 are used \(27 have no image: 1, 2, 3, 4, "
                                            r"5, \.\.\.\); renumber the labels to 0\.\.3"):
            load_dataset(f"npz:{path}")

    def test_labels_beyond_the_named_classes_are_refused(self, tmp_path):
        path = write_npz(tmp_path / "d.npz", y_train=[0, 1, 2, 3] * 4, y_test=[0, 1, 2, 3] * 2,
                         classes=np.array(["a", "b", "c"]))
        with pytest.raises(DataError, match=r"labels go up to 3 but 'classes' names only 3 classes"):
            load_dataset(f"npz:{path}")

    def test_a_small_sample_missing_a_class_loads_with_a_warning(self, tmp_path, caplog):
        path = write_npz(tmp_path / "a.npz")  # the first 16 + 8 sample images: no image of class 5
        assert load_dataset(f"npz:{path}").num_classes == 10
        assert "class index(es) 5 have no image" in caplog.text

    def test_named_sparse_labels_load(self, tmp_path):
        named = write_npz(tmp_path / "b.npz", y_train=[0, 4] * 8, y_test=[4] * 8, classes=np.array(list("abcde")))
        assert load_dataset(f"npz:{named}").classes == list("abcde")

    def test_out_of_range_labels_leave_no_run_folder(self, tmp_path, capsys):
        path = write_npz(tmp_path / "d.npz", y_train=np.arange(16) % 10 + 100, y_test=np.arange(8) % 10 + 100)
        argv = ["run", "--scheme", "proposed", *TINY, "--dataset", f"npz:{path}", "--results", str(tmp_path / "r")]
        assert cli.main(argv) == 2
        assert "are not class indices 0..C-1" in one_error_line(capsys) and not (tmp_path / "r").exists()


class TestEmptyData:
    @pytest.mark.parametrize("split", ["train", "test"])
    def test_an_npz_without_images_is_one_line_and_leaves_no_folder(self, tmp_path, capsys, split):
        path = write_npz(tmp_path / "d.npz", **({"n_train": 0} if split == "train" else {"n_test": 0}))
        argv = ["run", "--scheme", "proposed", *TINY, "--dataset", f"npz:{path}", "--results", str(tmp_path / "r")]
        assert cli.main(argv) == 2
        assert f"x_{split} holds no images" in one_error_line(capsys)
        assert not (tmp_path / "r").exists()  # neither the run folder nor the results folder made for it

    def test_an_empty_run_folder_is_removed_but_an_existing_results_folder_stays(self, tmp_path, capsys):
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "notes.txt").write_text("mine")
        path = write_npz(tmp_path / "d.npz", n_train=0)
        assert cli.main(["run", "--scheme", "proposed", *TINY, "--dataset", f"npz:{path}", "--results",
                         str(tmp_path / "r")]) == 2
        assert [p.name for p in (tmp_path / "r").iterdir()] == ["notes.txt"]

    def test_npz_of_a_directory_says_it_is_a_directory(self, tmp_path, capsys):
        assert cli.main(["run", "--scheme", "proposed", *TINY, "--dataset", f"npz:{tmp_path}", "--results",
                         str(tmp_path / "r")]) == 2
        line = one_error_line(capsys)
        assert "is a directory" in line and "not found" not in line and f"folder:{tmp_path}" in line


# -- sizes and hints ------------------------------------------------------------------------------------------------
def hinted(message: str, flag: str) -> list[int]:
    match = re.search(rf"{flag} ((?:\d+(?:, | or )?)+)", message)
    return [int(v) for v in re.findall(r"\d+", match.group(1))] if match else []


class TestGeometryHints:
    @pytest.mark.parametrize("scheme,network,image_size,block_size", [
        ("proposed", None, 30, 4), ("proposed", None, 30, 8), ("proposed", None, 30, 3), ("proposed", None, 6, 4),
        ("le", None, 30, 4), ("etc", None, 33, 4), ("plain", "vit_smoke", 30, 8), ("pe", "vit_smoke", 20, 3),
    ])
    def test_every_suggested_size_is_accepted(self, tmp_path, scheme, network, image_size, block_size):
        with pytest.raises(InputError) as info:
            tiny(tmp_path, scheme=scheme, network=network, image_size=image_size, block_size=block_size)
        message = str(info.value)
        sizes, blocks = hinted(message, "--image-size"), hinted(message, "--block-size")
        assert sizes or blocks, message
        assert "--resize" not in message  # an `encrypt` flag, which `run` lacks
        for size in sizes:
            assert size % block_size == 0
            tiny(tmp_path, scheme=scheme, network=network, image_size=size, block_size=block_size)
        for block in blocks:
            tiny(tmp_path, scheme=scheme, network=network, image_size=image_size, block_size=block)

    def test_block_size_0_is_one_line(self, tmp_path, capsys):
        assert cli.main(["run", "--scheme", "proposed", *TINY, "--block-size", "0", "--results", str(tmp_path)]) == 2
        assert "--block-size must be at least 1, got 0" in one_error_line(capsys)
        assert not any(tmp_path.iterdir())


# -- folders that cannot be written --------------------------------------------------------------------------------
class TestUnwritableFolders:
    @pytest.mark.parametrize("below", ["", "sub"])
    def test_results_that_is_a_file_is_one_line(self, tmp_path, capsys, below):
        file = tmp_path / "a-file"
        file.write_text("mine")
        results = file / below if below else file
        assert cli.main(["run", "--scheme", "plain", *TINY, "--results", str(results)]) == 2
        line = one_error_line(capsys)
        assert f"{file} is a file, not a folder; pass --results a folder" in line
        assert file.read_text() == "mine"

    @pytest.mark.parametrize("place", ["/proc", "/sys"])
    def test_results_on_a_read_only_file_system_is_one_line(self, tmp_path, capsys, place):
        if not Path(place).is_dir():
            pytest.skip(f"no {place} on this system")
        assert cli.main(["run", "--scheme", "plain", *TINY, "--results", f"{place}/ppbench-x"]) == 2
        assert "pass --results a folder you can write to" in one_error_line(capsys)

    def test_the_cli_process_prints_no_traceback(self, tmp_path):
        file = tmp_path / "a-file"
        file.write_text("mine")
        done = subprocess.run([sys.executable, "-m", "ppbench.cli", "run", "--scheme", "plain", *TINY, "--results",
                               str(file / "sub")], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].startswith("ppbench: error:")

    def test_report_out_that_is_a_file_is_one_line(self, tmp_path, capsys):
        out = tmp_path / "report.md"
        out.write_text("mine")
        assert cli.main(["report", "--results", str(TESTDATA_RECORDS), "--out", str(out)]) == 2
        assert f"{out} is a file, not a folder; pass --out a folder" in one_error_line(capsys)
        assert out.read_text() == "mine"

    def test_report_out_under_proc_is_one_line(self, tmp_path, capsys):
        if not Path("/proc").is_dir():
            pytest.skip("no /proc on this system")
        assert cli.main(["report", "--results", str(TESTDATA_RECORDS), "--out", "/proc/ppbench-report"]) == 2
        assert "pass --out a folder you can write to" in one_error_line(capsys)

    def test_report_results_that_is_a_file_is_one_line(self, tmp_path, capsys):
        file = tmp_path / "result.json"
        file.write_text("{}")
        assert cli.main(["report", "--results", str(file), "--out", str(tmp_path / "o")]) == 2
        assert f"--results {file} is a file" in one_error_line(capsys)

    def test_sweep_results_that_is_a_file_is_refused_before_any_run(self, tmp_path, capsys):
        sweep = write_sweep(tmp_path)
        file = tmp_path / "a-file"
        file.write_text("mine")
        assert cli.main(["sweep", str(sweep), "--results", str(file), "--no-report"]) == 2
        assert f"{file} is a file, not a folder; pass --results" in one_error_line(capsys)


# -- reports -------------------------------------------------------------------------------------------------------
class TestReport:
    def test_report_on_a_folder_without_records_fails_saying_where_it_looked(self, tmp_path, capsys):
        (tmp_path / "runs").mkdir()
        assert cli.main(["report", "--results", str(tmp_path / "runs"), "--out", str(tmp_path / "o")]) == 2
        line = one_error_line(capsys)
        assert f"no complete result record under {tmp_path / 'runs'}" in line and "ppbench run" in line
        assert not (tmp_path / "o").exists()

    def test_report_whose_filters_leave_no_record_says_so(self, tmp_path, capsys):
        assert cli.main(["report", "--results", str(TESTDATA_RECORDS), "--profile", "paper", "--out",
                         str(tmp_path / "o")]) == 2
        assert "outside --profile/--dataset" in one_error_line(capsys)

    @pytest.mark.parametrize("text,expected", [
        ('[rows."propsed/vit_cpu"]\nmin_accuracy = 0.4\n', "unknown scheme 'propsed'. Did you mean 'proposed'?"),
        ('[rows."proposed/vit_cpuu"]\nmin_accuracy = 0.4\n', "unknown network 'vit_cpuu'. Did you mean 'vit_cpu'"),
        ('[rows."proposed/vit_cpu"]\nmax_ssim.itm = 0.4\n', "unknown attack 'itm'. Did you mean 'itn'"),
        ('[defaults]\nmax_ssim.gn = 0.4\n[rows."le/none"]\nmin_ssim.itn = 0.4\n', "unknown attack 'gn'"),
    ])
    def test_thresholds_naming_an_unknown_name_say_so_with_close_matches(self, tmp_path, capsys, text, expected):
        path = tmp_path / "t.toml"
        path.write_text(text)
        assert cli.main(["report", "--results", str(TESTDATA_RECORDS), "--check", str(path)]) == 2
        line = one_error_line(capsys)
        assert expected in line and "no record" not in line


# -- sweeps --------------------------------------------------------------------------------------------------------
def write_sweep(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'[fixed]\nprofile = "smoke"\nscheme = "plain"\nn_train = 16\nn_test = 8\n{extra}')
    return path


class TestSweepValues:
    @pytest.mark.parametrize("extra,argv,expected", [
        ('epochs = "three"\n', [], "option epochs = 'three' must be an integer, got a string"),
        ("", ["--set", "seed=abc"], "option seed = 'abc' must be an integer, got a string"),
        ("", ["--set", "lr=true"], "option lr = True must be a number, got a boolean"),
        ("", ["--set", "n_train=2.5"], "option n_train = 2.5 must be an integer, got a number"),
        ('amp = "yes"\n', [], "option amp = 'yes' must be true or false"),
    ])
    def test_a_value_of_the_wrong_type_names_key_value_and_type(self, tmp_path, capsys, extra, argv, expected):
        code = cli.main(["sweep", str(write_sweep(tmp_path, extra)), "--results", str(tmp_path / "r"), "--dry-run",
                         *argv])
        assert code == 2 and expected in one_error_line(capsys)
        assert not (tmp_path / "r").exists()

    @pytest.mark.parametrize("extra,expected", [
        ('[sweep]\nresults = 5\n', "[sweep] results = 5 must be a string"),
        ('[slurm]\ngpus = "two"\n', "[slurm] gpus = 'two' must be an integer"),
        ('[slurm]\nmem = "lots"\n', "[slurm] mem = 'lots' must be a number of GB"),
    ])
    def test_sweep_and_slurm_tables_of_the_wrong_type_are_one_line(self, tmp_path, capsys, extra, expected):
        path = tmp_path / "s.toml"
        path.write_text(f'{extra}[fixed]\nprofile = "smoke"\nscheme = "plain"\n')
        assert cli.main(["sweep", str(path), "--dry-run"]) == 2
        assert expected in one_error_line(capsys)

    def test_a_failed_record_is_planned_again_with_its_error(self, tmp_path):
        from ppbench.sweep import load_sweep, plan_sweep

        spec = load_sweep(write_sweep(tmp_path, "batch_size = 4\nlr = 1e8\n"), results=tmp_path / "r")
        (planned,) = plan_sweep(spec).runs
        with pytest.raises(DivergedError):
            run(resolve_config(**planned.options))
        (again,) = plan_sweep(spec).runs
        assert again.state == "failed" and again.pending and "training loss became" in again.detail


class TestSweepJobFailure:
    def test_a_crashed_job_reports_the_exceptions_last_line_and_its_log(self, tmp_path):
        import submitit

        from ppbench.sweep import _job_error

        executor = submitit.LocalExecutor(folder=tmp_path / "%j")
        executor.update_parameters(timeout_min=2)
        job = executor.submit(int, "not-a-number")  # raises ValueError in the job's own process
        with pytest.raises(submitit.core.utils.FailedJobError) as info:
            job.result()
        message = _job_error(info.value, job)
        assert message.startswith("ValueError: invalid literal for int() with base 10: 'not-a-number'")
        assert "(log: " in message and "\n" not in message
