"""``ppbench scorecard``: one page for one scheme, running first whatever runs the page lacks.

The page (:mod:`ppbench.reports.scorecard`) needs the scheme's run with every applicable attack and a
``plain`` run on the same network, profile and data. This command resolves both runs the way ``ppbench
run`` does (:func:`ppbench.runner.resolve_config`, the profile's defaults plus the options given here, and
``--attack all`` unless ``--attack`` names others), runs each one that has no complete record or lacks an
attack (:func:`ppbench.runner.run`: the runner's own resume, so an interrupted card continues where it
stopped and a finished one costs nothing), then renders the card from exactly those two records.
``--no-run`` never runs: it renders what is there and refuses, with the command to run, when the
scheme's own record is missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import PPBenchError
from ._common import add_command, ssim_threshold

EXAMPLES = """\
examples:
  ppbench scorecard --scheme proposed                      # cpu profile: runs what is missing, then renders
  ppbench scorecard --scheme pe --profile smoke --results runs/ --out cards/
  ppbench scorecard --scheme pixperm --plugin my_schemes.py --profile smoke
  ppbench scorecard --scheme le --no-run                   # render from the records only, never train
  ppbench scorecard --scheme etc --attack fr pooled kpa    # only these attacks (default: all that apply)

Writes OUT/<scheme>.md (figures beside it as PNG) and OUT/<scheme>.html (self-contained: figures embedded).
The runs go to RESULTS/<run_id>/ exactly as `ppbench run` would put them, so `ppbench report` reads them too.
"""


def _load_plugins(modules: list[str] | None) -> None:
    if not modules:
        return
    try:
        from ..plugins import load_plugins
    except ImportError:  # pragma: no cover - an installation without plugin support
        raise PPBenchError("--plugin needs ppbench.plugins, which this installation lacks; upgrade ppbench or "
                           "register the scheme in ppbench itself") from None
    load_plugins(modules)


def plan_runs(args: argparse.Namespace) -> list[Any]:
    """The run configs the card reads: the scheme's (with its attacks), then plain's on the same network."""
    from ..attack_eval import resolve_attack_names
    from ..runner import resolve_config
    from ..schemes import scheme_info

    scheme = scheme_info(args.scheme).name
    common = {"profile": args.profile, "dataset": args.dataset, "seed": args.seed, "n_train": args.n_train,
              "n_test": args.n_test, "results": str(args.results), "device": args.device,
              "progress": args.progress, "data_root": str(args.data_root) if args.data_root else None}
    attacks = resolve_attack_names(args.attacks or ["all"], scheme_name=scheme)
    configs = [resolve_config(scheme=scheme, network=args.network, attacks=attacks, **common)]
    if scheme != "plain" and configs[0].network != "none":
        configs.append(resolve_config(scheme="plain", network=configs[0].network, **common))
    return configs


def why_run(config: Any) -> str | None:
    """Why ``config`` must run before the card can be drawn (no record, incomplete, attacks missing), or None."""
    from ..reports.load import RESULT_FILE, load_results
    from ..runner import missing_attacks, run_dir_for

    folder = run_dir_for(config)
    if not (folder / RESULT_FILE).is_file():
        return "no record yet"
    records = load_results(folder)
    if not records.runs:
        return "; ".join(records.notes.lines()) or "its record is not complete"
    missing = missing_attacks(config, records.runs[0].record)
    return f"attack(s) {', '.join(missing)} not in its record" if missing else None


def _records(configs: list[Any], results: Path) -> Any:
    """The complete records of ``configs``' run folders, read by :func:`load_results`, as one RecordSet."""
    from ..reports.load import RESULT_FILE, Notes, RecordSet, load_results
    from ..runner import run_dir_for

    runs, notes = [], Notes()
    for config in configs:
        folder = run_dir_for(config)
        if (folder / RESULT_FILE).is_file():
            records = load_results(folder)
            runs += records.runs
            notes.incomplete += records.notes.incomplete
            notes.unreadable += records.notes.unreadable
    return RecordSet(folder=results, runs=runs, notes=notes)


def _command(config: Any) -> str:
    parts = [f"ppbench run --scheme {config.scheme} --network {config.network} --profile {config.profile}",
             f"--dataset {config.dataset}", f"--seed {config.seed}"]
    parts += [f"--n-train {config.n_train}"] if config.n_train is not None else []
    parts += [f"--n-test {config.n_test}"] if config.n_test is not None else []
    parts += [f"--attack {' '.join(config.attacks)}"] if config.attacks else []
    return " ".join(parts + [f"--results {config.results}"])


def scorecard_command(args: argparse.Namespace) -> str:
    """The ``ppbench scorecard`` command line that reproduces this card (options given, defaults left out)."""
    parts = ["ppbench scorecard", f"--scheme {args.scheme}"]
    parts += [f"--plugin {m}" for m in args.scorecard_plugins or []]
    for flag, value in (("--profile", args.profile), ("--network", args.network), ("--dataset", args.dataset),
                        ("--seed", args.seed), ("--n-train", args.n_train), ("--n-test", args.n_test)):
        parts += [f"{flag} {value}"] if value is not None else []
    parts += [f"--attack {' '.join(args.attacks)}"] if args.attacks else []
    parts += [f"--results {args.results}", f"--out {args.out}"]
    parts += ["--no-run"] if args.no_run else []
    return " ".join(parts)


def cmd_scorecard(args: argparse.Namespace) -> int:
    """Run what the card lacks (unless --no-run), render it, print where it went."""
    _load_plugins(args.scorecard_plugins)
    from ..attacks import ThreatModel
    from ..reports.scorecard import build_scorecard, write_scorecard
    from ..runner import run, run_dir_for

    configs = plan_runs(args)
    for config in configs:
        reason = why_run(config)
        if reason is None:
            print(f"up to date: {run_dir_for(config).name}")
        elif args.no_run:
            if config is configs[0]:
                raise PPBenchError(f"--no-run: {run_dir_for(config)} cannot make the card ({reason}); drop "
                                   f"--no-run to run it (resumable), or run `{_command(config)}`")
            print(f"not run (--no-run): {run_dir_for(config).name}: {reason}")
        else:
            print(f"running {run_dir_for(config).name}: {reason}", flush=True)
            run(config)
    results = Path(args.results)
    records = _records(configs, results)
    card = build_scorecard(records, configs[0].scheme, network=configs[0].network, ssim_threshold=args.ssim_threshold,
                           expected_attacks=configs[0].attacks,
                           threat_descriptions={m.value: m.description for m in ThreatModel},
                           strip_images=args.strip_images)
    card.command = scorecard_command(args)
    paths = write_scorecard(card, Path(args.out))
    print(f"scorecard of {card.scheme}: {card.verdict} ({card.verdict_reason})")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ppbench scorecard`` to the ppbench command line."""
    from ..reports.security import DEFAULT_SSIM_THRESHOLD

    text = ("one page for one scheme (Markdown + self-contained HTML): accuracy beside plain, every attack's SSIM, "
            "threat model and cost, key space, verdict and rule, restored images; runs what is missing first")
    p = add_command(subparsers, "scorecard", cmd_scorecard, text, epilog=EXAMPLES)
    p.add_argument("--scheme", required=True, help="the scheme to score (ppbench list schemes)")
    p.add_argument("--plugin", dest="scorecard_plugins", action="append", metavar="MODULE",
                   help="load a plugin module or .py file first (repeatable; same as ppbench --plugin)")
    p.add_argument("--profile", help="cpu (default), smoke or paper: the runs' profile (ppbench list profiles)")
    p.add_argument("--network", help="the classifier (default: the profile's for the scheme); plain runs on it too")
    p.add_argument("--dataset", help="the data set (default: the profile's)")
    p.add_argument("--seed", type=int, help="the runs' seed (default 0)")
    p.add_argument("--n-train", type=int, help="use the first N training images (default: the profile's)")
    p.add_argument("--n-test", type=int, help="use the first N test images (default: the profile's)")
    p.add_argument("--attack", dest="attacks", nargs="+", metavar="NAME",
                   help="attacks the scheme's run must hold, run if missing (default: all that apply to the "
                        "scheme); the card shows every attack its record holds")
    p.add_argument("--results", type=Path, default=Path("runs"), metavar="DIR",
                   help="results folder the runs are read from and written to (default: runs, your runs)")
    p.add_argument("--out", type=Path, default=Path("scorecard"), metavar="DIR",
                   help="where to write <scheme>.md, <scheme>.html and the figures (default: scorecard)")
    p.add_argument("--no-run", action="store_true",
                   help="never run: render from the records there are; fail if the scheme's run has no record")
    p.add_argument("--ssim-threshold", type=ssim_threshold, default=DEFAULT_SSIM_THRESHOLD, metavar="T",
                   help=f"secure when the strongest attack's mean SSIM is below T (default {DEFAULT_SSIM_THRESHOLD})")
    p.add_argument("--strip-images", type=_positive, default=4, metavar="K",
                   help="test images (rows) in the strip of restored images (default 4; runs keep 8)")
    p.add_argument("--device", help="where runs train: auto (default), cpu, cuda, ...")
    p.add_argument("--data-root", type=Path, help="cache folder of downloaded data sets")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bars")
