"""``ppbench recognise``: the study's plain-trained classifier's accuracy on every attack's restored images.

The work is :func:`ppbench.recognition.recognise`, imported when the command runs (torch), so ``ppbench --help``
stays instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_command

EXAMPLES = """\
  ppbench recognise --results runs/cpu                  # after `bash scripts/reproduce.sh cpu`, before the report
  ppbench recognise --results runs/ --device cuda       # classify on the GPU

The study's plain classifier is its complete `--scheme plain` run of the same profile, data set and image size
(every seed of it); it needs that run's checkpoint.pt. Each record gains per attack recognition_accuracy and
recognition_images, and per run metrics.recognition (chance, plain and encrypted accuracy); `ppbench report`
then shows a Recognition column."""


def cmd_recognise(args: argparse.Namespace) -> int:
    """Measure every run under ``--results`` and print a line per run and attack."""
    from ..recognition import recognise

    recognise(args.results, device=args.device, progress=False if args.no_progress else None, echo=print)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ppbench recognise`` to the ppbench command line."""
    text = "classify every attack's restored images with the study's plain-trained classifier; write it into the records"
    parser = add_command(subparsers, "recognise", cmd_recognise, text, EXAMPLES)
    parser.add_argument("--results", type=Path, default=Path("runs"), metavar="DIR",
                        help="folder of run folders holding result.json (default: runs, where ppbench run writes)")
    parser.add_argument("--device", default="cpu", help="where the classifier runs (default: cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
