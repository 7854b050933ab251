"""``report.md``: the index page that links Table I, Fig. 4 and the key-recovery curves and says what they
were made from.

A reader who opens only this page learns which profile(s), data set(s), image size(s) and how many runs
each view comes from (per row where the rows differ), the rule behind the security verdict (with the threshold used), and every note
(missing runs, conflicting records, skipped incomplete ones): RobustBench's users keep asking "what
exactly did this number come from?", and this page answers before they ask.
"""

from __future__ import annotations

from pathlib import Path

from ppbench.atomic import atomic_write_text

from .curves import Curves
from .fig4 import Fig4
from .load import RecordSet
from .security import rule_text
from .table1 import Table1, table_notes, which_per_row


def render_page(records: RecordSet, table: Table1, fig4: Fig4, curves: Curves | None = None) -> str:
    filters = ", ".join(f"{k} {v}" for k, v in records.filters.items())
    lines = ["# ppbench report: Table I and Fig. 4", "",
             f"Rendered by `ppbench report` from the complete result records in `{records.folder}`"
             + (f" (only {filters})" if filters else "") + f": {records.describe()}.", "",
             "## Table I", "",
             "[table1.md](table1.md) (Markdown) · [table1.csv](table1.csv) (numbers) · "
             "[table1.tex](table1.tex) (LaTeX, booktabs)", "",
             f"From {table.description}. {which_per_row(table)}Accuracy on each data set actually used, beside "
             "the seed paper's Table I figures.", "",
             "Every attack on every scheme (the evidence behind the verdicts: per-image distribution, recognition, "
             "how long each learned attack trained): [attacks.md](attacks.md) · [attacks.csv](attacks.csv)", "",
             "## Fig. 4", "",
             "![Fig. 4](fig4.png)", "",
             "[fig4.png](fig4.png) · [fig4.pdf](fig4.pdf)", ""]
    if fig4.rows:
        lines.append(f"Test image #{fig4.index} in every row, one run per scheme, from {fig4.description}.")
    else:
        lines.append("No record holds attack results, so Fig. 4 is empty.")
    if curves is not None and not curves.empty:
        lines += ["", "## Key recovery against the number of ciphertexts", "", "![curves](curves.png)", "",
                  "[curves.png](curves.png) · [curves.pdf](curves.pdf)", "",
                  "Mean SSIM on the runs' test ciphertexts when the key-recovery attack holds n images under the "
                  "victim's key (pooled: ciphertexts only; kpa: plain/cipher pairs); filled markers: the key was "
                  "recovered exactly; SSIM is the best reading (as-is, negative or mirrored). Table I's \"Ciphertexts to "
                  "break\" is the smallest n whose SSIM reaches 0.99 of the key holder's (0.99 on lossless ciphertexts). "
                  "From: " + ", ".join(f"{scheme}/{attack} {rid}" for (attack, scheme), rid in sorted(curves.sources.items()))
                  + "."]
    lines += ["", "## Security rule", "", rule_text(table.threshold) + ".", "", "## Notes", ""]
    notes = table_notes(table, []) + records.notes.lines() + fig4.notes
    lines += [f"- {note}" for note in notes] if notes else ["- none"]
    return "\n".join(lines) + "\n"


def write_page(records: RecordSet, table: Table1, fig4: Fig4, out_dir: Path, curves: Curves | None = None) -> Path:
    """Write ``report.md`` atomically into ``out_dir``."""
    path = out_dir / "report.md"
    atomic_write_text(path, render_page(records, table, fig4, curves))
    return path
