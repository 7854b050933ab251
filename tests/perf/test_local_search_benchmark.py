"""The key solvers' local searches against their plain definitions (pytest-benchmark), in one process.

Run only in benchmark mode (the default ``addopts`` has ``--benchmark-skip``)::

    .venv/bin/python -m pytest tests/perf/test_local_search_benchmark.py --benchmark-only -q -s

Each pair times ppbench's search and the definition it is pinned to in ``tests/test_local_search.py`` (the
code it replaced) on the same random instance: the jigsaw's greedy placement and swap refinement on a 16 x 16
frame of pixels (256 pieces, no orientation, as ``pooled_generic`` lays out pixels), and the pairwise layout
search on 48 items (ELE's 16 pixels x 3 channels at M = 4). The ratio of the medians is printed at the end
(``-s``). Nothing here asserts on time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from ppbench.attacks.keyrecovery.geometry import grid_adjacent
from ppbench.attacks.keyrecovery.layout import pair_swap_search

_TESTS = Path(__file__).resolve().parents[1]
_PERF = Path(__file__).resolve().parent
for _folder in (_TESTS, _PERF):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from test_local_search import (  # noqa: E402  (tests/test_local_search.py)
    greedy_by_definition,
    pair_swap_search_by_definition,
    random_jigsaw,
    swap_refine_by_definition,
)
from pairs import print_ratios, time_version  # noqa: E402  (tests/perf/pairs.py)

MEDIANS: dict[tuple[str, str], float] = {}


def _instance(search: str):
    """(ppbench's call, the definition's call) on one fixed random instance."""
    rng = np.random.default_rng(0)
    if search == "pair_swap_search":
        ga, gb = grid_adjacent(4)
        a, b = np.concatenate([ga * 3 + c for c in range(3)]), np.concatenate([gb * 3 + c for c in range(3)])
        dists, start, kind = rng.random((1, 48, 48)), rng.permutation(48), np.zeros(a.size, np.int64)
        return (lambda: pair_swap_search(start, dists, a, b, kind),
                lambda: pair_swap_search_by_definition(start, dists, a, b, kind))
    jigsaw = random_jigsaw(rng, "trivial", 16, 16)
    if search == "greedy":
        return jigsaw.greedy, lambda: greedy_by_definition(jigsaw)
    pieces, orient = rng.permutation(jigsaw.n).reshape(16, 16), np.zeros((16, 16), np.int64)
    return (lambda: jigsaw.swap_refine(pieces, orient, max_iter=200),
            lambda: swap_refine_by_definition(jigsaw, pieces, orient, max_iter=200))


@pytest.mark.parametrize("version", ["ppbench", "definition"])
@pytest.mark.parametrize("search", ["greedy", "swap_refine", "pair_swap_search"])
def test_local_search(benchmark, search, version):
    time_version(benchmark, MEDIANS, search, version, *_instance(search), rounds=5)


@pytest.fixture(scope="module", autouse=True)
def report_ratios():
    """After the module's benchmarks: definition / ppbench median time per search."""
    yield
    print_ratios(MEDIANS, ("greedy", "swap_refine", "pair_swap_search"))
