"""Reports rendered from result records: Table I, Fig. 4, the index page and the CI regression check.

Records are the truth, reports are views (RobustBench): every module here reads the records through
:func:`ppbench.reports.load.load_results` and writes its files atomically. Nothing here imports torch or
the training code, so ``ppbench report`` runs in seconds on any machine.

- ``load``: complete records of a results folder, de-duplicated, with notes (skipped, conflicts).
- ``security``: the stated SSIM-threshold rule behind the security verdict, and why T = 0.30.
- ``aggregate``: per scheme and profile, each attack's mean SSIM (best reading) and the fewest images to break.
- ``table1``: Table I (md, csv, tex), ours beside the paper's figures from ``paper_table1.json``.
- ``fig4``: Fig. 4 (png, pdf), plain / encrypted / restored by each attack, SSIM under each.
- ``page``: ``report.md``, which links both and states what they were made from.
- ``check``: ``ppbench report --check THRESHOLDS``, the regression gate CI runs.
- ``render``: :func:`render` (``render(results, out)``), all of the above in one call, as ``ppbench report``
  and a finished sweep use it (the command itself is :mod:`ppbench.cli.report`).
"""

from .render import Rendered, ReportError, render

__all__ = ["Rendered", "ReportError", "render"]
