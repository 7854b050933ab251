"""A user's runs default to the git-ignored ``runs/`` folder, never into the committed studies under ``results/``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ppbench.cli import build_parser
from ppbench.runner import resolve_config
from ppbench.sweep import load_sweep, sweep_from_dict

from conftest import REPO_ROOT


def test_run_writes_to_runs_by_default():
    args = build_parser().parse_args(["run", "--scheme", "plain"])
    assert args.results is None  # "not given": resolve_config supplies the default
    assert resolve_config(scheme="plain", profile="smoke").results == "runs"


def test_report_reads_runs_by_default():
    assert build_parser().parse_args(["report"]).results == Path("runs")


def test_sweep_without_a_results_folder_writes_to_runs_name():
    spec = sweep_from_dict({"sweep": {"name": "mine"}, "fixed": {"scheme": "plain", "profile": "smoke"}})
    assert spec.results == Path("runs") / "mine"


@pytest.mark.parametrize("name", ["table1-cpu.toml", "table1-paper.toml"])
def test_the_bundled_grid_sweeps_write_to_runs(name):
    spec = load_sweep(REPO_ROOT / "sweeps" / name)
    assert spec.results.parts[0] == "runs"


def test_runs_is_ignored_by_git_and_the_committed_studies_are_not():
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/smoke/x/result.json"], cwd=REPO_ROOT).returncode
    committed = subprocess.run(["git", "check-ignore", "-q", "results/reference-cpu/x/result.json"], cwd=REPO_ROOT).returncode
    assert (ignored, committed) == (0, 1)


def fake_ppbench(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose ``ppbench`` only logs its arguments, and the log."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    (bin_dir / "ppbench").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (bin_dir / "ppbench").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PPBENCH_SCHEMES": "plain"}
    return env, log


@pytest.mark.parametrize(("argv", "folder"), [(["smoke"], "runs/smoke"),
                                              (["cpu", "results/reference-cpu"], "results/reference-cpu")])
def test_reproduce_script_writes_to_runs_unless_given_a_folder(tmp_path, argv, folder):
    env, log = fake_ppbench(tmp_path)
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "reproduce.sh"), *argv], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    run_call, recognise_call, report_call = log.read_text().splitlines()
    assert f"--results {folder}" in run_call
    assert recognise_call == f"recognise --results {folder}"
    assert report_call == f"report --results {folder} --out {folder}/report"


@pytest.mark.parametrize(("profile", "schemes"), [("cpu", "plain proposed le ele pe pe_np etc"),
                                                  ("smoke", "plain proposed le ele pe etc")])
def test_reproduce_script_runs_each_default_scheme_of_its_profile(tmp_path, profile, schemes):
    # the cpu reference shows pe_np (the seed paper's PE) beside pe; the CI smoke study keeps its six
    env, log = fake_ppbench(tmp_path)
    del env["PPBENCH_SCHEMES"]
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "reproduce.sh"), profile], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    runs = [line.split() for line in log.read_text().splitlines() if line.startswith("run ")]
    assert [argv[argv.index("--scheme") + 1] for argv in runs] == schemes.split()
