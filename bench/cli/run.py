"""``ppbench run``: the argparse front end of :mod:`ppbench.runner`.

Every option defaults to None, meaning "the profile's value", so the profile stays the one place where
defaults live (:mod:`ppbench.profiles`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._common import add_command

EXAMPLES = """\
examples:
  ppbench run --scheme proposed                          # cpu profile: vit_cpu on the bundled sample
  ppbench run --scheme plain --seed 1 --epochs 5         # any profile value can be overridden
  ppbench run --scheme le --profile smoke                # seconds; LE's adaptation network is added
  ppbench run --scheme proposed --dataset npz:PATH/TO/data.npz --n-train 4000   # your own uint8 NHWC arrays
  ppbench run --scheme proposed --profile paper --pretrained            # GPU: ViT-B/16, 224, block 16
  ppbench run --scheme etc --profile paper --dataset cifar100           # ShakeDrop, 32, block 4
  ppbench run --scheme proposed --attack all --attacker-data disjoint   # train, then every attack
  ppbench run --scheme pe --network none --attack fr itn                # attack-only run
  ppbench run --scheme proposed --dry-run                # print the resolved config and run id

Re-running a command continues its run from the last checkpoint (or skips it if complete); --force
starts it over. Results: RESULTS/<run_id>/result.json (docs/records.md), key.json (mode 0600), run.log.
Profiles: `ppbench list profiles`; schemes, networks, attacks: `ppbench list schemes|networks|attacks`.
"""


def _bool_pair(group: argparse._ArgumentGroup, name: str, help: str) -> None:
    group.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None, help=help)


def _add_what(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to run")
    g.add_argument("--scheme", required=True, help="encryption scheme (ppbench list schemes)")
    g.add_argument("--network", help="classifier (ppbench list networks), or 'none' for an attack-only run "
                                     "(default: the profile's network for the scheme)")
    g.add_argument("--profile", help="cpu (default), smoke, cpu224 or paper (ppbench list profiles)")
    g.add_argument("--dataset", help="cifar10, cifar100, sample, npz:PATH or folder:PATH (default: the profile's)")
    g.add_argument("--seed", type=int, help="seed of initialisation, data order and augmentation (default 0)")
    g.add_argument("--key", type=Path, help="key file (ppbench keygen); default: a fresh key kept as RUN/key.json")
    g.add_argument("--n-train", type=int, help="use the first N training images")
    g.add_argument("--n-test", type=int, help="use the first N test images")
    g.add_argument("--image-size", type=int, help="resize to SIZE x SIZE before encryption")
    g.add_argument("--block-size", type=int, help="block size M (= the ViT patch size)")


def _add_training(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (defaults: the profile's recipe for the network)")
    g.add_argument("--epochs", type=int, help="epochs (replaces a step-based length)")
    g.add_argument("--steps", type=int, help="optimiser steps (replaces an epoch-based length)")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--eval-batch-size", type=int)
    g.add_argument("--optimizer", choices=["sgd", "adamw"])
    g.add_argument("--lr", type=float, help="learning rate (the paper's ViT: 0.03 plain, 0.3 encrypted)")
    g.add_argument("--momentum", type=float, help="SGD momentum / AdamW beta1")
    g.add_argument("--beta2", type=float, help="AdamW beta2")
    _bool_pair(g, "nesterov", "Nesterov momentum (SGD)")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--schedule", choices=["cosine", "multistep", "constant"])
    g.add_argument("--warmup-steps", type=int, help="linear warm-up steps of the cosine schedule (0: use --warmup-fraction)")
    g.add_argument("--warmup-fraction", type=float, help="warm-up as a fraction of all steps (if no --warmup-steps)")
    g.add_argument("--milestones", type=float, nargs="+", metavar="F",
                   help="multistep: fractions of training at which the lr is multiplied by --gamma")
    g.add_argument("--gamma", type=float, help="multistep lr factor")
    g.add_argument("--grad-clip", type=float, help="clip the gradient norm (0: off)")
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--no-plain-augment", dest="plain_augment", action="store_false", default=None,
                   help="no plain-domain augmentation: train on images encrypted once (stricter threat model)")
    g.add_argument("--adapter", help="adaptation network in front (le, ele, none; default: the scheme's)")
    _bool_pair(g, "pretrained", "start from the network's published weights (local cache only)")
    g.add_argument("--weights", type=Path, help="start from this weights file")
    g.add_argument("--from-scratch", action="store_true", default=None, help="random start for a network that "
                                                                           "otherwise needs weights (vit_b16)")
    _bool_pair(g, "amp", "bf16 autocast on CUDA")
    _bool_pair(g, "channels-last", "channels-last memory format on CUDA")


def _add_attacks(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attacks (after training)")
    g.add_argument("--attack", dest="attacks", nargs="+", metavar="NAME", help="attacks to run, or 'all'")
    g.add_argument("--attacker-data", choices=["disjoint", "overlap"],
                   help="the attacker's plain images: disjoint from (default) or overlapping the victim's")
    g.add_argument("--n-attack-images", type=int, help="test images each attack is scored on")
    g.add_argument("--jpeg-quality", "--jpeg", dest="jpeg_quality", type=int, metavar="Q",
                   help="JPEG-compress every ciphertext (OpenCV, quality Q in 0..100) before training, testing "
                        "and attacks: what a cloud that stores JPEGs receives")


def _add_execution(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution (does not change results)")
    g.add_argument("--results", type=Path, help="results folder (default ./runs, git-ignored)")
    g.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda, cuda:1, ...")
    g.add_argument("--data-root", type=Path, help="cache folder of downloaded data sets (default $PPBENCH_DATA or "
                                                 "~/.cache/ppbench/data)")
    g.add_argument("--no-download", dest="download", action="store_false", default=None,
                   help="never download a data set (fail with instructions instead)")
    g.add_argument("--resume", action="store_true", default=None, help="continue the run; fail if there is nothing to resume")
    g.add_argument("--force", action="store_true", default=None, help="rerun from scratch even if the run is complete")
    g.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bars")
    g.add_argument("--dry-run", action="store_true", help="print the resolved config and run folder, run nothing")


def cmd_run(args: argparse.Namespace) -> int:
    """Resolve the config, run it, print one summary line."""
    from ..runner import resolve_config, run, run_dir_for, run_id

    options = {k: v for k, v in vars(args).items() if k not in ("handler", "command", "verbose", "dry_run")}
    for name in ("key", "weights", "results", "data_root"):
        if options.get(name) is not None:
            options[name] = str(options[name])
    config = resolve_config(**options)
    if args.dry_run:
        shown = {"run_id": run_id(config), "run_dir": str(run_dir_for(config)), **config.to_dict()}
        print(json.dumps(shown, indent=2))
        return 0
    record = run(config)
    if not record:  # a DDP rank > 0: rank 0 reports the run
        return 0
    accuracy = record.get("metrics", {}).get("accuracy")
    acc = f"accuracy {accuracy:.4f}" if accuracy is not None else "no classifier"
    attacks = record.get("metrics", {}).get("attacks") or {}
    extra = "".join(f", {name} n/a" if e.get("status") == "not_applicable" else f", {name} {_ssim_text(e)}"
                    for name, e in attacks.items())
    print(f"{record['run_id']}: {acc}{extra} ({record['status']}, {record['duration_s']:.0f} s) -> "
          f"{run_dir_for(config) / 'result.json'}", file=sys.stdout)
    return 0


def _ssim_text(entry: dict) -> str:
    """``SSIM 0.996 (mirrored)``: the entry's best reading, as Table I reads it (an attack that restored the mirror
    image or the negative has broken the scheme as surely as one that restored it as is)."""
    from ppbench.reports.load import best_reading

    reading, value = best_reading(entry)
    return f"SSIM {value:.3f}{reading.suffix}"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ppbench run`` to the CLI."""
    description = "train a classifier on encrypted images (and attack them); write RESULTS/<run_id>/result.json"
    p = add_command(subparsers, "run", cmd_run, description, epilog=EXAMPLES)
    _add_what(p)
    _add_training(p)
    _add_attacks(p)
    _add_execution(p)
