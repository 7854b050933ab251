"""``ppbench report``: render Table I, Fig. 4 and report.md from result records, or run the CI check.

The work is :func:`ppbench.reports.render` and :func:`ppbench.reports.check.run_check`, imported when the
command runs (pandas and matplotlib, never torch), so ``ppbench --help`` stays instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..reports.security import DEFAULT_SSIM_THRESHOLD
from ._common import add_command, ssim_threshold

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


def cmd_report(args: argparse.Namespace) -> int:
    """Render the report (default) or run the regression check (``--check``)."""
    from ..reports.render import check_results_folder, render

    check_results_folder(Path(args.results))
    if args.check is not None:
        from ..reports.check import run_check

        status, lines = run_check(args.results, args.check, profile=args.profile, dataset=args.dataset)
        print("\n".join(lines))
        return status
    rendered = render(args.results, args.out, ssim_threshold=args.ssim_threshold, fig4_index=args.fig4_index,
                      profile=args.profile, dataset=args.dataset)
    print("\n".join(rendered.lines()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ppbench report`` to the ppbench command line."""
    text = "render Table I (md, csv, tex), Fig. 4 (png, pdf) and report.md from result records, or check them"
    parser = add_command(subparsers, "report", cmd_report, text, EXAMPLES)
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
