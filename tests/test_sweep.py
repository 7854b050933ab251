"""ppbench.sweep / ``ppbench sweep``: grid expansion, skipping complete runs, the submitit executors
(debug in-process, local processes), requeue-and-resume, and the slurm job script (dry run).

Runs use the ``smoke`` profile cut to 96 training / 32 test images (one epoch of vit_smoke, a second each).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import ppbench.runner as runner
from ppbench import cli
from ppbench.data import SAMPLE_PATH
from ppbench.errors import InputError
from ppbench.sweep import (
    Resources, SweepJob, expand_runs, load_sweep, parse_assignment, parse_minutes, plan_sweep,
    slurm_script, sweep_from_dict,
)

from conftest import REPO_ROOT, shared_subset_path

SWEEPS = REPO_ROOT / "sweeps"
SMOKE = """\
[sweep]
name = "smoke"

[fixed]
profile = "smoke"
n-train = 96
n-test = 32
batch-size = 32

[grid]
scheme = ["proposed", "plain"]
"""


def write_smoke(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "smoke.toml"
    path.write_text(SMOKE + extra)
    return path


def spec_of(data: dict, tmp_path: Path, **kw):
    return sweep_from_dict(data, results=tmp_path / "results", report=tmp_path / "report", **kw)


def run_cli(*argv: str) -> int:
    return cli.main(["sweep", *map(str, argv)])


# -- the TOML grid -------------------------------------------------------------------------------------------
class TestExpansion:
    def test_grid_is_the_product_of_its_lists(self, tmp_path):
        spec = spec_of({"fixed": {"profile": "smoke"}, "grid": {"scheme": ["proposed", "le"], "seed": [0, 1, 2]}},
                       tmp_path)
        runs = expand_runs(spec)
        assert len(runs) == 6
        assert {(r["scheme"], r["seed"]) for r in runs} == {(s, i) for s in ("proposed", "le") for i in (0, 1, 2)}
        assert all(r["profile"] == "smoke" for r in runs)

    def test_hyphenated_options_and_the_attack_alias_are_accepted(self, tmp_path):
        spec = spec_of({"fixed": {"scheme": "le", "batch-size": 16, "attack": ["fr"]}}, tmp_path)
        assert expand_runs(spec) == [{"scheme": "le", "batch_size": 16, "attacks": ["fr"]}]

    def test_scheme_tables_override_and_a_list_there_adds_runs(self, tmp_path):
        spec = spec_of({"fixed": {"profile": "paper", "attacks": ["fr", "itn"]},
                        "grid": {"scheme": ["proposed", "plain"]},
                        "schemes": {"plain": {"network": ["vit_b16", "resnet18"], "attacks": []}}}, tmp_path)
        runs = expand_runs(spec)
        assert [(r["scheme"], r.get("network"), r["attacks"]) for r in runs] == [
            ("proposed", None, ["fr", "itn"]), ("plain", "vit_b16", []), ("plain", "resnet18", [])]

    def test_a_scheme_without_network_gets_its_profile_default(self, tmp_path):
        plan = plan_sweep(spec_of({"fixed": {"profile": "paper"}, "grid": {"scheme": ["proposed", "le", "pe"]}},
                                  tmp_path))
        assert [(r.config.network, r.config.image_size, r.config.block_size) for r in plan.runs] == [
            ("vit_b16", 224, 16), ("pyramidnet_shakedrop", 32, 4), ("resnet18", 32, 4)]

    def test_include_adds_runs_on_top_of_fixed(self, tmp_path):
        spec = spec_of({"fixed": {"profile": "smoke"}, "grid": {"scheme": ["plain"]},
                        "include": [{"scheme": "le", "seed": [3, 4]}]}, tmp_path)
        runs = expand_runs(spec)
        assert [(r["scheme"], r.get("seed")) for r in runs] == [("plain", None), ("le", 3), ("le", 4)]
        assert all(r["profile"] == "smoke" for r in runs)

    def test_runs_sharing_a_folder_merge_their_attacks(self, tmp_path):
        spec = spec_of({"fixed": {"profile": "smoke", "scheme": "le"}, "grid": {"attacks": ["fr", "itn"]}}, tmp_path)
        plan = plan_sweep(spec)
        assert len(plan.runs) == 1 and plan.runs[0].config.attacks == ("fr", "itn")

    def test_a_list_in_fixed_is_refused(self, tmp_path):
        with pytest.raises(InputError, match=r"\[grid\]"):
            spec_of({"fixed": {"scheme": "le", "seed": [0, 1]}}, tmp_path)

    def test_unknown_option_suggests_a_close_one(self, tmp_path):
        with pytest.raises(InputError, match="batch_size"):
            spec_of({"fixed": {"scheme": "le", "batch_sise": 3}}, tmp_path)

    def test_unknown_table_is_refused(self, tmp_path):
        with pytest.raises(InputError, match="unknown top-level"):
            spec_of({"scheme": "le"}, tmp_path)

    def test_a_bad_run_is_reported_before_anything_is_submitted(self, tmp_path):
        with pytest.raises(InputError, match=r"run #2 .*vit_smok"):
            plan_sweep(spec_of({"fixed": {"profile": "smoke"}, "grid": {"scheme": ["le"], "network": ["vit_smoke",
                                                                                                       "vit_smok"]}},
                               tmp_path))

    def test_set_replaces_an_option_and_a_list_makes_it_an_axis(self, tmp_path):
        spec = load_sweep(write_smoke(tmp_path), dict([parse_assignment("seed=[0, 1]"),
                                                       parse_assignment("scheme=le")]))
        assert [(r["scheme"], r["seed"]) for r in expand_runs(spec)] == [("le", 0), ("le", 1)]
        assert parse_assignment("dataset=npz:/x.npz") == ("dataset", "npz:/x.npz")

    def test_time_accepts_minutes_and_slurm_forms(self):
        assert [parse_minutes(v) for v in (90, "90", "1:30", "1:30:00", "2-00:00:00")] == [90, 90, 90, 90, 2880]
        with pytest.raises(InputError):
            parse_minutes("soon")


class TestShippedSweeps:
    def test_paper_sweep_is_table_one_at_paper_scale(self, tmp_path, capsys):
        assert run_cli(SWEEPS / "table1-paper.toml", "--executor", "slurm", "--partition", "gpu", "--dry-run",
                       "--results", tmp_path / "r") == 0
        out = capsys.readouterr().out
        assert "48 run(s) (48 new)" in out and "#SBATCH --partition=gpu" in out and "--array=0-47" in out
        plan = plan_sweep(load_sweep(SWEEPS / "table1-paper.toml", results=tmp_path / "r"))
        rows = {(r.config.scheme, r.config.network, r.config.image_size, r.config.block_size) for r in plan.runs}
        assert rows == {("proposed", "vit_b16", 224, 16), ("le", "pyramidnet_shakedrop", 32, 4),
                        ("ele", "pyramidnet_shakedrop", 32, 4), ("etc", "pyramidnet_shakedrop", 32, 4),
                        ("pe", "resnet18", 32, 4), ("plain", "resnet18", 32, 4), ("plain", "vit_b16", 224, 16),
                        ("plain", "pyramidnet_shakedrop", 32, 4)}
        assert {r.config.dataset for r in plan.runs} == {"cifar10", "cifar100"}
        encrypted = [r for r in plan.runs if r.config.scheme != "plain"]
        assert all(r.config.attacks == ("fr", "gan", "itn") for r in encrypted)
        assert all(r.config.profile == "paper" for r in plan.runs)

    def test_cpu_sweep_is_the_same_grid_on_the_sample(self, tmp_path, capsys):
        assert run_cli(SWEEPS / "table1-cpu.toml", "--dry-run", "--results", tmp_path / "r") == 0
        assert "24 run(s) (24 new)" in capsys.readouterr().out
        plan = plan_sweep(load_sweep(SWEEPS / "table1-cpu.toml", results=tmp_path / "r"))
        assert {r.config.dataset for r in plan.runs} == {"sample"}
        assert {(r.config.scheme, r.config.network) for r in plan.runs} >= {
            ("proposed", "vit_cpu"), ("le", "pyramidnet_shakedrop_cpu"), ("pe", "resnet18_cpu"),
            ("plain", "vit_cpu"), ("plain", "pyramidnet_shakedrop_cpu"), ("plain", "resnet18_cpu")}


# -- slurm: the job script, rendered by submitit without sbatch --------------------------------------------------
class TestSlurmDryRun:
    def test_script_carries_partition_gpus_time_and_the_array(self, tmp_path, capsys):
        assert run_cli(write_smoke(tmp_path), "--executor", "slurm", "--dry-run", "--partition", "gpu-long",
                       "--gpus", "2", "--cpus", "8", "--time", "12:00:00", "--mem", "64", "--max-parallel", "1",
                       "--results", tmp_path / "r") == 0
        script = capsys.readouterr().out.split("#!/bin/bash", 1)[1]
        for line in ("#SBATCH --partition=gpu-long", "#SBATCH --gpus-per-node=2", "#SBATCH --ntasks-per-node=2",
                     "#SBATCH --cpus-per-task=8", "#SBATCH --time=720", "#SBATCH --mem=64GB", "#SBATCH --array=0-1%1",
                     "#SBATCH --signal=USR2@120", "-m submitit.core._submit"):
            assert line in script
        assert not (tmp_path / "r").exists()  # a dry run writes nothing

    def test_script_holds_no_key_material(self, tmp_path, capsys):
        key = tmp_path / "key.json"
        assert cli.main(["keygen", "--scheme", "proposed", "--image-size", "32", "--block-size", "4", "--out",
                         str(key)]) == 0
        secret = json.loads(key.read_text())["secret"]
        assert run_cli(write_smoke(tmp_path), "--executor", "slurm", "--dry-run", "--set", f"key={key}",
                       "--set", "scheme=proposed", "--results", tmp_path / "r") == 0
        out = capsys.readouterr().out.split("sweep smoke", 1)[1]  # after keygen's own line
        script = out.split("#!/bin/bash", 1)[1]
        assert "#SBATCH" in script and secret not in out and str(key) not in script

    def test_file_defaults_are_overridden_by_flags(self):
        r = Resources.from_table({"gpus": 1, "time": "24:00:00", "partition": "a"}, partition="b", time=None)
        assert (r.gpus, r.time, r.partition) == (1, 1440, "b")
        script = slurm_script(Path("/tmp/x"), r, n_runs=1)
        assert "--array" not in script and "#SBATCH --partition=b" in script

    def test_unknown_slurm_key_is_refused(self):
        with pytest.raises(InputError, match="unknown"):
            Resources.from_table({"gpu": 1})

    def test_submitting_without_srun_says_where_to_run(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", str(tmp_path))  # no srun
        with pytest.raises(InputError, match="login node"):
            from ppbench.sweep import make_executor

            make_executor("slurm", tmp_path, Resources())


# -- running: skip, debug, local, requeue ------------------------------------------------------------------------
class TestRunning:
    def test_debug_executor_runs_the_grid_then_the_report(self, tmp_path, capsys):
        argv = [write_smoke(tmp_path), "--executor", "debug", "--results", tmp_path / "r", "--report-dir",
                tmp_path / "rep"]
        if shared_subset_path().exists():  # the real CIFAR-10 subset beside the checkout
            argv += ["--dataset", f"npz:{shared_subset_path()}"]
        assert run_cli(*argv) == 0
        out = capsys.readouterr().out
        assert "[2/2]" in out and "Table I: " in out and "Fig. 4: " in out
        assert (tmp_path / "rep" / "table1.md").exists() and (tmp_path / "rep" / "report.md").exists()
        records = sorted((tmp_path / "r").glob("*/result.json"))
        assert len(records) == 2 and all(json.loads(p.read_text())["status"] == "complete" for p in records)
        # a second sweep finds both complete and launches nothing
        assert run_cli(*argv) == 0
        out = capsys.readouterr().out
        assert "2 run(s) (2 complete)" in out and "running" not in out.split("report over")[0]

    def test_local_executor_runs_each_run_in_its_own_process(self, tmp_path, capsys):
        assert run_cli(write_smoke(tmp_path), "--max-parallel", "2", "--results", tmp_path / "r", "--report-dir",
                       tmp_path / "rep") == 0
        out = capsys.readouterr().out
        assert "2 at a time" in out and "[2/2]" in out and "Table I: " in out
        folders = [p.parent for p in (tmp_path / "r").glob("*/result.json")]
        assert len(folders) == 2
        logs = list((tmp_path / "r" / ".submitit").glob("*/*_log.err"))
        assert len(logs) == 2 and any("complete" in p.read_text() for p in logs)
        # keys stay in run folders: no job file holds a run's secret
        secrets = [json.loads((f / "key.json").read_text())["secret"] for f in folders if (f / "key.json").exists()]
        assert secrets
        for path in (tmp_path / "r" / ".submitit").rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(s.encode() in data for s in secrets), path

    def test_complete_runs_are_skipped_and_missing_attacks_make_a_run_pending(self, tmp_path):
        spec = load_sweep(write_smoke(tmp_path), {"scheme": "proposed"}, results=tmp_path / "r")
        plan = plan_sweep(spec)
        assert [r.state for r in plan.runs] == ["new"]
        runner.run(runner.resolve_config(**plan.runs[0].options))
        assert [r.state for r in plan_sweep(spec).runs] == ["complete"]
        assert plan_sweep(spec).pending == []
        with_attack = load_sweep(write_smoke(tmp_path), {"scheme": "proposed", "attacks": ["fr"]},
                                 results=tmp_path / "r")
        (run,) = plan_sweep(with_attack).runs
        assert (run.state, run.detail) == ("missing attacks", "fr")
        assert [r.state for r in plan_sweep(spec, force=True).runs] == ["new"]

    def test_an_attack_recorded_by_an_older_ppbench_makes_a_run_pending(self, tmp_path):
        spec = load_sweep(write_smoke(tmp_path), {"scheme": "proposed", "attacks": ["fr"]}, results=tmp_path / "r")
        (planned,) = plan_sweep(spec).runs
        record = runner.run(runner.resolve_config(**planned.options))
        assert [r.state for r in plan_sweep(spec).runs] == ["complete"]
        del record["metrics"]["attacks"]["fr"]["ssim_mean_mirrored"]  # as written before that field existed
        path = runner.run_dir_for(runner.resolve_config(**planned.options)) / "result.json"
        path.write_text(json.dumps(record))
        (run,) = plan_sweep(spec).runs
        assert (run.state, run.detail) == ("missing attacks", "fr")

    def test_a_requeued_job_resumes_from_the_last_checkpoint(self, tmp_path, monkeypatch):
        spec = load_sweep(write_smoke(tmp_path), {"scheme": "proposed", "epochs": 2}, results=tmp_path / "r")
        (planned,) = plan_sweep(spec).runs
        job = SweepJob(planned.options, planned.run_id, threads=1)

        class Preempted(Exception):
            pass

        real_save = runner.save_checkpoint

        def save_then_preempt(*args, **kwargs):  # the signal arrives right after epoch 1's checkpoint
            real_save(*args, **kwargs)
            raise Preempted

        monkeypatch.setattr(runner, "save_checkpoint", save_then_preempt)
        with pytest.raises(Preempted):
            job()
        record = json.loads((planned.run_dir / "result.json").read_text())
        assert record["status"] == "running" and (planned.run_dir / "checkpoint.pt").exists()
        assert plan_sweep(spec).runs[0].state == "incomplete"
        monkeypatch.setattr(runner, "save_checkpoint", real_save)

        requeued = job.checkpoint()  # what submitit pickles and requeues on preemption / timeout
        assert requeued.function is job
        summary = requeued.result()
        assert summary["status"] == "complete"
        record = json.loads((planned.run_dir / "result.json").read_text())
        assert [h["epoch"] for h in record["metrics"]["history"]] == [1, 2]
        assert "after epoch 1" in (planned.run_dir / "run.log").read_text()  # resumed, not retrained

    def test_a_user_error_in_a_job_is_a_failed_summary(self, tmp_path):
        data = tmp_path / "gone.npz"
        shutil.copy(SAMPLE_PATH, data)
        spec = load_sweep(write_smoke(tmp_path), {"scheme": "proposed", "dataset": f"npz:{data}"},
                          results=tmp_path / "r")
        (planned,) = plan_sweep(spec).runs
        data.unlink()  # the data set vanished between planning and the job
        summary = SweepJob(planned.options, planned.run_id)()
        assert summary["status"] == "failed" and "gone.npz" in summary["error"]

    def test_a_node_resolving_another_identity_fails_the_job(self, tmp_path):
        spec = load_sweep(write_smoke(tmp_path), {"scheme": "proposed"}, results=tmp_path / "r")
        (planned,) = plan_sweep(spec).runs
        summary = SweepJob(planned.options, "proposed-other-run")()
        assert summary["status"] == "failed" and "another ppbench version" in summary["error"]
