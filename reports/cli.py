"""``ppbench report``: render Table I, Fig. 4 and report.md from result records, or run the CI check.

This module only declares the arguments; the handler imports pandas and matplotlib when it runs, so
``ppbench --help`` stays instant. Registered in ``ppbench.cli._EXTRA_COMMANDS``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ppbench.errors import PPBenchError
from ppbench.paths import make_folder

from .security import DEFAULT_SSIM_THRESHOLD


class ReportError(PPBenchError):
    """A report that cannot be made: no records to show, or an output folder that cannot be written."""

EXAMPLES = """\
  ppbench report                                   # reads ./runs (your runs), writes ./report
  ppbench report --results results/reference-cpu --out ref-report/   # the committed reference study
  ppbench report --results runs/ --out paper-report/ --ssim-threshold 0.25 --fig4-index 3
  ppbench report --profile cpu --dataset sample    # only the records of one profile and data set
  ppbench report --results runs/ --check ci/thresholds.toml   # the CI gate: exit 1 when a bound fails

THRESHOLDS (TOML; every rule in the docstring of ppbench/reports/check.py):
  [meta]
  profile = "cpu"
  [defaults]
  min_accuracy = 0.10
  [rows."proposed/vit_cpu"]
  min_accuracy = 0.40
  max_ssim.itn = 0.35
  [rows."le/none"]
  min_ssim.itn = 0.40"""


def _check_results(results: Path) -> None:
    if results.exists() and not results.is_dir():
        raise ReportError(f"--results {results} is a file; pass the folder that holds the run folders "
                          "(RUN/result.json), e.g. the --results folder of `ppbench run`")


def _output_folder(out: Path) -> Path:
    """Create ``--out`` (and its parents), or one line naming the folder and the fix."""
    return make_folder(out, "--out")


def _no_records(records) -> ReportError:
    """The error for a results folder with no complete record to report, saying where it looked and why."""
    notes = records.notes
    found = []
    if notes.incomplete:
        found.append(f"{len(notes.incomplete)} incomplete or failed")
    if notes.unreadable:
        found.append(f"{len(notes.unreadable)} unreadable")
    if notes.filtered_out:
        found.append(f"{notes.filtered_out} outside --profile/--dataset")
    seen = f"; skipped: {', '.join(found)}" if found else ""
    fix = ("drop or change --profile/--dataset" if notes.filtered_out else
           f"run `ppbench run --scheme NAME --results {records.folder}` first (or let it finish), or pass --results "
           "the folder your runs wrote to")
    return ReportError(f"no complete result record under {records.folder} (looked for result.json files at any "
                       f"depth{seen}); {fix}")


def cmd_report(args: argparse.Namespace) -> int:
    """Render the report (default) or run the regression check (``--check``)."""
    _check_results(Path(args.results))
    if args.check is not None:
        from .check import run_check

        status, lines = run_check(args.results, args.check, profile=args.profile, dataset=args.dataset)
        print("\n".join(lines))
        return status

    from .curves import write_curves
    from .fig4 import write_fig4
    from .load import load_results
    from .page import write_page
    from .table1 import write_table1

    records = load_results(args.results, profile=args.profile, dataset=args.dataset)
    if not records.runs:
        raise _no_records(records)
    out = _output_folder(Path(args.out))
    try:
        table, table_paths = write_table1(records, out, args.ssim_threshold)
        fig4, fig_paths = write_fig4(records, out, args.fig4_index)
        curves, curve_paths = write_curves(records, out)
        page = write_page(records, table, fig4, out, curves)
    except OSError as exc:
        where = exc.filename or out
        raise ReportError(f"cannot write the report into {out} ({exc.strerror or exc.__class__.__name__}: {where}); "
                          "pass --out a folder you can write to") from None
    print(f"read {records.describe()} from {records.folder}")
    print(f"Table I: {', '.join(str(p) for p in table_paths)}")
    print(f"Fig. 4:  {', '.join(str(p) for p in fig_paths)}")
    if curve_paths:
        print(f"curves:  {', '.join(str(p) for p in curve_paths)}")
    print(f"index:   {page}")
    notes = records.notes.lines()
    if notes:
        print(f"{len(notes)} note(s) about the records, listed in {page}:")
        print("\n".join(f"  {n}" for n in notes))
    return 0


def ssim_threshold(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"SSIM threshold must be in [0, 1], got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ppbench report`` to the ppbench command line."""
    text = "render Table I (md, csv, tex), Fig. 4 (png, pdf) and report.md from result records, or check them"
    parser = subparsers.add_parser(
        "report", help=text, description=f"{text}\n\nexamples:\n{EXAMPLES}",
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, max_help_position=32))
    parser.set_defaults(handler=cmd_report)
    parser.add_argument("--results", type=Path, default=Path("runs"), metavar="DIR",
                        help="folder of run folders holding result.json (default: runs, where ppbench run writes)")
    parser.add_argument("--out", type=Path, default=Path("report"), metavar="DIR",
                        help="where to write table1.*, fig4.*, curves.* and report.md (default: report)")
    parser.add_argument("--check", type=Path, metavar="THRESHOLDS",
                        help="check the records against a TOML file of bounds instead of rendering; "
                             "exit 1 naming every row that falls short")
    parser.add_argument("--ssim-threshold", type=ssim_threshold, default=DEFAULT_SSIM_THRESHOLD, metavar="T",
                        help=f"secure when the strongest attack's mean SSIM is below T (default {DEFAULT_SSIM_THRESHOLD})")
    parser.add_argument("--fig4-index", type=int, default=0, metavar="I",
                        help="which of the runs' first test images Fig. 4 shows (default 0)")
    parser.add_argument("--profile", help="use only records of this profile")
    parser.add_argument("--dataset", help="use only records of this dataset name")
