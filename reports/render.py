"""Render a results folder into a report: Table I, Fig. 4, the curves and ``report.md``, as one call.

:func:`render` is what ``ppbench report`` and a finished sweep call. It imports pandas and matplotlib only
when it runs, and never torch, so rendering stays seconds on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppbench.errors import PPBenchError
from ppbench.paths import make_folder

from .security import DEFAULT_SSIM_THRESHOLD


class ReportError(PPBenchError):
    """A report that cannot be made: no records to show, or an output folder that cannot be written."""


@dataclass
class Rendered:
    """What :func:`render` read and wrote: the records, and the files of each view."""

    records: Any  # ppbench.reports.load.RecordSet
    table1: list[Path]
    fig4: list[Path]
    curves: list[Path]
    page: Path
    attacks: list[Path] = field(default_factory=list)
    paths: list[Path] = field(init=False)

    def __post_init__(self) -> None:
        self.paths = [*self.table1, *self.attacks, *self.fig4, *self.curves, self.page]

    def lines(self) -> list[str]:
        """The summary ``ppbench report`` prints: what was read, where each view went, the notes."""
        lines = [f"read {self.records.describe()} from {self.records.folder}",
                 f"Table I: {', '.join(str(p) for p in self.table1)}",
                 *([f"attacks: {', '.join(str(p) for p in self.attacks)}"] if self.attacks else []),
                 f"Fig. 4:  {', '.join(str(p) for p in self.fig4)}"]
        if self.curves:
            lines.append(f"curves:  {', '.join(str(p) for p in self.curves)}")
        lines.append(f"index:   {self.page}")
        notes = self.records.notes.lines()
        if notes:
            lines.append(f"{len(notes)} note(s) about the records, listed in {self.page}:")
            lines += [f"  {n}" for n in notes]
        return lines


def check_results_folder(results: Path) -> None:
    """Refuse a ``--results`` that is a file, naming the folder to pass instead."""
    if results.exists() and not results.is_dir():
        raise ReportError(f"--results {results} is a file; pass the folder that holds the run folders "
                          "(RUN/result.json), e.g. the --results folder of `ppbench run`")


def _no_records(records: Any) -> ReportError:
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


def render(results: Path | str, out: Path | str, *, ssim_threshold: float = DEFAULT_SSIM_THRESHOLD,
           fig4_index: int = 0, profile: str | None = None, dataset: str | None = None) -> Rendered:
    """Read the complete records under ``results`` (optionally of one profile / data set) and write the report
    into ``out``; :class:`ReportError` when there is nothing to report or ``out`` cannot be written."""
    from .attack_table import write_attack_table
    from .curves import write_curves
    from .fig4 import write_fig4
    from .load import load_results
    from .page import write_page
    from .table1 import write_table1

    results, out = Path(results), Path(out)
    check_results_folder(results)
    records = load_results(results, profile=profile, dataset=dataset)
    if not records.runs:
        raise _no_records(records)
    out = make_folder(out, "--out")
    try:
        table, table_paths = write_table1(records, out, ssim_threshold)
        attack_paths = write_attack_table(records, out, table.description)
        fig4, fig_paths = write_fig4(records, out, fig4_index)
        curves, curve_paths = write_curves(records, out)
        page = write_page(records, table, fig4, out, curves)
    except OSError as exc:
        where = exc.filename or out
        raise ReportError(f"cannot write the report into {out} ({exc.strerror or exc.__class__.__name__}: {where}); "
                          "pass --out a folder you can write to") from None
    return Rendered(records=records, table1=list(table_paths), fig4=list(fig_paths), curves=list(curve_paths),
                    page=page, attacks=attack_paths)
