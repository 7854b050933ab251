"""``pooled_generic``'s two assignment-heavy steps against their plain definitions (pytest-benchmark), in one process.

Run only in benchmark mode (the default ``addopts`` has ``--benchmark-skip``)::

    .venv/bin/python -m pytest tests/perf/test_assignment_benchmark.py --benchmark-only -q -s

- ``capacitated``: 3,072 items (a 32 x 32 image's bytes) into three groups of 1,024, by
  :func:`~ppbench.attacks.keyrecovery.matching.capacitated_assignment` and by scipy's dense assignment over each
  group's column repeated 1,024 times (what ``balanced_clusters`` used before; the same labels, pinned in
  ``tests/test_matching.py``).
- ``refine``: the refill costs of one sweep of :func:`~ppbench.attacks.keyrecovery.topology.refine.refine_bytes`
  (its 12 slot classes) on a scrambled 3 x 32 x 32 map, by
  :func:`~ppbench.attacks.keyrecovery.topology.refine.refill_costs` and by the definition it is pinned to in
  ``tests/test_topology_refine.py`` (the gathered (m, K, m) array summed over k).

The ratio of the medians is printed at the end (``-s``). Nothing here asserts on time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from ppbench.attacks.keyrecovery.matching import capacitated_assignment
from ppbench.attacks.keyrecovery.topology.refine import lattice_neighbours, refill_costs, slot_classes

_TESTS = Path(__file__).resolve().parents[1]
_PERF = Path(__file__).resolve().parent
for _folder in (_TESTS, _PERF):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from test_topology_refine import _refill_costs_by_definition, _smooth_distances  # noqa: E402  (tests/test_topology_refine.py)
from pairs import print_ratios, time_version  # noqa: E402  (tests/perf/pairs.py)

MEDIANS: dict[tuple[str, str], float] = {}


def _instance(step: str):
    """(ppbench's call, the definition's call) on one fixed random instance."""
    rng = np.random.default_rng(0)
    if step == "capacitated":
        features = np.concatenate([rng.normal(c, 1.0, (1024, 2)) for c in (-1.0, 0.0, 1.0)])
        cost = ((features[:, None, :] - rng.normal(size=(3, 2))[None]) ** 2).sum(-1)
        return (lambda: capacitated_assignment(cost, [1024] * 3),
                lambda: linear_sum_assignment(np.repeat(cost, 1024, axis=1)))
    dist = _smooth_distances(3, 32, 32, 0)
    flat = rng.permutation(dist.shape[0])
    nbr, wts = lattice_neighbours(3, 32, 32)
    classes = slot_classes(3, 32, 32)
    return (lambda: [refill_costs(flat, slots, nbr, wts, dist) for slots in classes],
            lambda: [_refill_costs_by_definition(flat, slots, nbr, wts, dist) for slots in classes])


@pytest.mark.parametrize("version", ["ppbench", "definition"])
@pytest.mark.parametrize("step", ["capacitated", "refine"])
def test_assignment_step(benchmark, step, version):
    time_version(benchmark, MEDIANS, step, version, *_instance(step), rounds=3)


@pytest.fixture(scope="module", autouse=True)
def report_ratios():
    """After the module's benchmarks: definition / ppbench median time per step."""
    yield
    print_ratios(MEDIANS, ("capacitated", "refine"))
