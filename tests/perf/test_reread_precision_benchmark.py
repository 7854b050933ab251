"""ELE's re-read at 224 x 224 in single precision (``ele_assembled.REREAD_DTYPE``) against double (pytest-benchmark),
in one process, on its two heaviest kernels at the real shapes (their speed does not depend on the values):

- ``placement``: one position's placement cost, (767 x 200) x (200 x 767): 767 cipher highs of 200 samples priced at
  767 plain slots (:func:`~ppbench.attacks.keyrecovery.solvers.ele_assembled.placement_cost`).
- ``fitted``: the fitted predictor (:func:`~ppbench.attacks.keyrecovery.solvers.ele_assembled.fitted_prediction`) over
  50 smooth 224 x 224 images (a fit makes about 30 such calls on 200 images).

Run only in benchmark mode (the default ``addopts`` has ``--benchmark-skip``)::

    .venv/bin/python -m pytest tests/perf/test_reread_precision_benchmark.py --benchmark-only -q -s

"ppbench" is single precision, "definition" double; the ratio of the medians is printed at the end (``-s``). Nothing
here asserts on time; that the keys stay right in either precision is pinned in ``tests/test_ele_assembled.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from ppbench.attacks.keyrecovery.solvers.ele_assembled import fitted_prediction, placement_cost

_PERF = Path(__file__).resolve().parent
if str(_PERF) not in sys.path:
    sys.path.insert(0, str(_PERF))

from pairs import print_ratios, time_version  # noqa: E402  (tests/perf/pairs.py)

MEDIANS: dict[tuple[str, str], float] = {}
STEPS = ("placement", "fitted")


def _instance(step: str, dtype: type):
    """The step's call on one fixed random instance in ``dtype``."""
    rng = np.random.default_rng(0)
    if step == "placement":
        values = rng.integers(0, 16, (200, 767)).astype(dtype)
        target = rng.uniform(0, 15, (200, 767)).astype(dtype)
        negated = rng.random(767) < 0.5
        return lambda: placement_cost(values, target, negated)
    images = gaussian_filter(rng.uniform(0, 255, (50, 224, 224, 3)), sigma=(0, 3, 3, 0)).astype(dtype)
    return lambda: fitted_prediction(images)


@pytest.mark.parametrize("version", ["ppbench", "definition"])
@pytest.mark.parametrize("step", STEPS)
def test_reread_kernel(benchmark, step, version):
    single, double = _instance(step, np.float32), _instance(step, np.float64)
    time_version(benchmark, MEDIANS, step, version, single, double, rounds=5)


@pytest.fixture(scope="module", autouse=True)
def report_ratios():
    """After the module's benchmarks: double / single median time per step."""
    yield
    print_ratios(MEDIANS, STEPS)
