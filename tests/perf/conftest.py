"""The benchmarks import definitions from the test modules beside them (``tests/``) and the timing helpers in
``tests/perf/pairs.py``: both folders on ``sys.path`` once, here, whatever pytest's import mode."""

from __future__ import annotations

import sys
from pathlib import Path

for _folder in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
