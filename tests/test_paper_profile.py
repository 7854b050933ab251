"""The ``paper`` profile end to end on the CPU at toy scale, and the commands of the prepared GPU session.

The paper profile had never run as a whole: these tests run it through ``ppbench run --profile paper``
(in-process) on a handful of bundled-sample images with one training step, so that a shape, dtype,
memory or configuration bug of paper size surfaces on the CPU before a GPU session meets it:

- ``proposed`` with ViT-B/16 (random init, ``--from-scratch``: nothing can be downloaded) at 224 x 224,
  block 16, and every attack at its ``paper`` configuration;
- ``le`` with PyramidNet-110 + ShakeDrop and ``pe`` with ResNet-18 at 32 x 32, block 4.

The trained attacks (gan, itn, itn_unet) run their paper configuration with one epoch instead of 50 to 200
(the only change; each record entry's config is checked against the paper configuration). Two paper-size
attacks stand apart: ``gan`` at 224 (its 617 M-parameter adaptation network and Adam state hold ~19 GB on
the CPU: run only where that much memory is free) and ``pooled_generic`` at 224 (refused by design: recorded as
not applicable, the run goes on).

``scripts/gpu_session.sh --dry-run`` prints the GPU session's commands; the fast tests check that every
one of them resolves (with ``--device cpu`` in place of ``cuda``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from ppbench import cli
from ppbench.attacks import attack_class

REPO = Path(__file__).resolve().parents[1]
SESSION = REPO / "scripts" / "gpu_session.sh"
GPU_PROFILE = REPO / "scripts" / "gpu_profile.py"
TRAINED_ATTACKS = ("gan", "itn", "itn_unet")
GAN_CPU_BYTES = 24 * 2**30  # one paper-size SIA-GAN step at 224 peaked at ~19 GB resident on the CPU


# -- helpers -------------------------------------------------------------------------------------------------
@pytest.fixture
def one_epoch_attacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trained attacks' paper configurations with one epoch (everything else as the paper's)."""
    for name in TRAINED_ATTACKS:
        monkeypatch.setitem(attack_class(name).default_configs["paper"], "epochs", 1)


def _toy_paper_run(tmp_path: Path, scheme: str, *flags: str) -> dict[str, Any]:
    """``ppbench run --profile paper`` on the bundled sample, one optimiser step of batch 2; the record."""
    results = tmp_path / "results"
    argv = ["run", "--profile", "paper", "--scheme", scheme, "--dataset", "sample", "--no-download",
            "--from-scratch", "--steps", "1", "--batch-size", "2", "--eval-batch-size", "2", "--n-test", "2",
            "--device", "cpu", "--results", str(results), "--no-progress", *flags]
    assert cli.main(argv) == 0
    (record_file,) = results.glob("*/result.json")
    return json.loads(record_file.read_text())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _check_attacks_at_paper_config(record: dict[str, Any], names: list[str], image_size: int,
                                   block: int | None) -> None:
    """Every attack ran (numbers, not ``not_applicable``) at this size with its paper configuration."""
    attacks = record["metrics"]["attacks"]
    assert sorted(attacks) == sorted(names)
    for name in names:
        entry = attacks[name]
        assert entry.get("status") != "not_applicable", (name, entry.get("reason"))
        assert math.isfinite(entry["ssim_mean"]), name
        config = entry["config"]
        assert (config["profile"], config["image_size"], config["block_size"]) == ("paper", image_size, block), name
        paper = _jsonable(attack_class(name).default_configs["paper"])
        assert {k: config[k] for k in paper} == paper, name


def _check_one_step(record: dict[str, Any]) -> None:
    assert record["status"] == "complete"
    derived = record["config"]["derived"]
    assert derived["total_steps"] == 1 and derived["batch_size_effective"] == 2
    assert derived["amp_effective"] is False  # bf16 autocast is CUDA-only; the profile still asks for it
    assert record["config"]["amp"] is True and record["config"]["channels_last"] is True
    (epoch,) = record["metrics"]["history"]
    assert math.isfinite(epoch["train_loss"]) and 0.0 <= epoch["test_accuracy"] <= 1.0


# -- the paper profile end to end ----------------------------------------------------------------------------
@pytest.mark.slow
def test_paper_proposed_trains_vit_b16_at_224_and_runs_the_attacks_at_paper_size(tmp_path, one_epoch_attacks):
    attacks = ["cpa_generic", "fr", "fr_adv", "itn", "itn_unet", "kpa", "kpa_generic", "pooled"]
    record = _toy_paper_run(tmp_path, "proposed", "--n-train", "8", "--attack", *attacks)
    _check_one_step(record)
    network = record["network"]
    assert (network["name"], network["family"], network["from_scratch"]) == ("vit_b16", "vit", True)
    assert 85e6 < network["params"] < 87e6  # ViT-B/16 with a 10-class head: 85.8 M parameters
    assert record["scheme"]["image_size"] == [224, 224] and record["scheme"]["block_size"] == 16
    config = record["config"]
    assert (config["optimizer"], config["lr"], config["grad_clip"]) == ("sgd", 0.3, 1.0)  # the paper's ViT recipe
    _check_attacks_at_paper_config(record, attacks, 224, 16)


@pytest.mark.slow
def test_paper_le_trains_pyramidnet_shakedrop_at_32_and_runs_the_attacks_at_paper_size(tmp_path, one_epoch_attacks):
    attacks = ["cpa_generic", "fr", "fr_adv", "gan", "itn", "itn_unet", "kpa", "kpa_generic", "pooled"]
    record = _toy_paper_run(tmp_path, "le", "--n-train", "8", "--attack", *attacks)
    _check_one_step(record)
    network = record["network"]
    assert (network["name"], network["family"], network["adapter"]) == ("pyramidnet_shakedrop", "pyramidnet", "le")
    assert record["scheme"]["image_size"] == [32, 32] and record["scheme"]["block_size"] == 4
    config = record["config"]
    assert (config["optimizer"], config["lr"], config["nesterov"], config["schedule"]) == ("sgd", 0.1, True, "multistep")
    _check_attacks_at_paper_config(record, attacks, 32, 4)


@pytest.mark.slow
def test_paper_pe_trains_resnet18_at_32(tmp_path):
    record = _toy_paper_run(tmp_path, "pe", "--n-train", "4", "--attack", "fr_adv")
    _check_one_step(record)
    assert (record["network"]["name"], record["network"]["family"]) == ("resnet18", "resnet")
    assert record["scheme"]["image_size"] == [32, 32]
    assert (record["config"]["lr"], record["config"]["weight_decay"]) == (0.1, 1e-4)
    _check_attacks_at_paper_config(record, ["fr_adv"], 32, None)  # PE is pixel-wise: no block


def _sample_images() -> tuple[torch.Tensor, torch.Tensor]:
    from ppbench.data import load_dataset

    data = load_dataset("sample")
    return data.x_train, data.x_test


def _proposed_224() -> Any:
    from ppbench.schemes import create_scheme, generate_key

    return create_scheme("proposed", key=generate_key("proposed", image_size=224, block_size=16), image_size=224,
                         block_size=16)


def _mem_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@pytest.mark.slow
@pytest.mark.skipif(_mem_available() < GAN_CPU_BYTES,
                    reason="one paper-size SIA-GAN step at 224 / M16 holds ~19 GB on the CPU (617 M-parameter "
                           "adaptation network, its gradient and Adam state); needs 24 GiB available")
def test_paper_gan_trains_one_step_at_224(tmp_path, one_epoch_attacks):
    from ppbench.attack_eval import evaluate_attacks

    x_train, x_test = _sample_images()
    out = evaluate_attacks(["gan"], scheme=_proposed_224(), train_images=x_train[:8], test_images=x_test[:2],
                           image_size=224, profile="paper", n_images=2, device=torch.device("cpu"), seed=0,
                           out_dir=tmp_path)
    _check_attacks_at_paper_config({"metrics": out}, ["gan"], 224, 16)


@pytest.mark.slow
def test_pooled_generic_at_224_is_recorded_not_applicable_instead_of_stopping_the_run(tmp_path):
    from ppbench.attack_eval import NOT_APPLICABLE, evaluate_attacks

    x_train, x_test = _sample_images()
    out = evaluate_attacks(["pooled_generic"], scheme=_proposed_224(), train_images=x_train[:64],
                           test_images=x_test[:2], image_size=224, profile="paper", n_images=2,
                           device=torch.device("cpu"), seed=0, out_dir=tmp_path)
    entry = out["attacks"]["pooled_generic"]
    assert entry["status"] == NOT_APPLICABLE and "up to 64 x 64" in entry["reason"]


# -- the prepared GPU session --------------------------------------------------------------------------------
def _session_dry_run(tmp_path: Path) -> list[list[str]]:
    """``gpu_session.sh --dry-run``'s commands, each split into its arguments by bash itself."""
    env = {**os.environ, "OUT": str(tmp_path / "out"), "RUNS": str(tmp_path / "runs")}
    done = subprocess.run(["bash", str(SESSION), "--dry-run"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    commands = []
    for line in done.stdout.splitlines():
        assert line.startswith("+ "), line
        split = subprocess.run(["bash", "-c", f"printf '%s\\0' {line[2:]}"], capture_output=True, text=True,
                               check=True, timeout=30)
        commands.append(split.stdout.split("\0")[:-1])
    return commands


def test_gpu_session_dry_run_prints_every_step_and_runs_nothing(tmp_path):
    commands = _session_dry_run(tmp_path)
    text = [shlex.join(c) for c in commands]
    assert any("scripts/gpu_profile.py" in t for t in text)
    assert sum("--profile paper" in t for t in text) == 4  # train, attacks, gan, itn
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_gpu_session_with_its_budget_spent_skips_every_step_and_fails(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path / "out"), "RUNS": str(tmp_path / "runs"), "BUDGET_S": "10",
           "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(SESSION)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    steps = [line.split("\t") for line in (tmp_path / "out" / "steps.tsv").read_text().splitlines()]
    assert [name for name, _, _ in steps] == ["profile", "train", "attacks", "gan", "itn"]  # ppbench is installed
    assert {status for _, status, _ in steps} == {"skipped"}
    assert "FAILED: profile train attacks gan itn" in done.stderr


def _cpu(argv: list[str]) -> list[str]:
    i = argv.index("--device")
    assert argv[i + 1] == "cuda"  # the session insists on the GPU; here the flags are checked on the CPU
    return [*argv[:i + 1], "cpu", *argv[i + 2:]]


def test_gpu_session_commands_resolve(tmp_path, capsys, monkeypatch):
    commands = _session_dry_run(tmp_path)
    runs, drivers, profile = [], [], []
    for argv in commands:
        if argv[1:3] == ["-m", "ppbench"]:
            runs.append(argv[3:])
        elif argv[1:2] == ["-c"]:
            drivers.append(argv)
        elif "scripts/gpu_profile.py" in argv:
            profile.append(argv)
    assert len(runs) == 2 and len(drivers) == 2 and len(profile) == 1

    spec = importlib.util.spec_from_file_location("gpu_profile", GPU_PROFILE)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up there
    assert spec.loader is not None
    spec.loader.exec_module(module)
    assert module.parse_args(profile[0][2:]).out == tmp_path / "out" / "gpu-profile"

    resolved = []
    for argv in runs + [d[4:] for d in drivers]:
        capsys.readouterr()
        assert cli.main([*_cpu(argv), "--dry-run"]) == 0
        resolved.append(json.loads(capsys.readouterr().out))
    train, attack_only, gan, itn = resolved
    assert (train["network"], train["image_size"], train["block_size"], train["from_scratch"]) == ("vit_b16", 224, 16, True)
    assert train["steps"] == 100 and train["warmup_steps"] == 5 and train["batch_size"] == 512
    assert {c["network"] for c in (attack_only, gan, itn)} == {"none"}
    assert attack_only["run_id"] == gan["run_id"] == itn["run_id"]  # the attacks merge into one record
    assert gan["attacks"] == ["gan"] and itn["attacks"] == ["itn", "itn_unet"]

    # the driver itself: shortens the trained attacks' epochs, then runs the same CLI (here a dry run)
    code, epochs = drivers[0][2], drivers[0][3]
    assert epochs == "5"
    check = (f"{code.rsplit(chr(10), 1)[0]}\nfrom ppbench.attacks import attack_class as a\n"
             f"print([a(n).default_configs['paper']['epochs'] for n in ('gan', 'itn', 'itn_unet')])")
    done = subprocess.run([sys.executable, "-c", check, epochs], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[5, 5, 5]"
