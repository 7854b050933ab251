"""The solvers' per-position threads (attacks/keyrecovery/parallel.py): the same results as one loop, in order,
and a clear error for a bad ``PPBENCH_SOLVER_THREADS``."""

from __future__ import annotations

import numpy as np
import pytest

from ppbench.attacks.keyrecovery.geometry import block_nibbles
from ppbench.attacks.keyrecovery.parallel import map_positions, solver_threads
from ppbench.attacks.keyrecovery.solvers.ele_assembled import reread_assembled
from ppbench.attacks.keyrecovery.solvers.ele_edges import peel_image_edges
from ppbench.attacks.keyrecovery.solvers.ele_first_pixel import first_pixel_candidates, settle_first_pixel
from ppbench.attacks.keyrecovery.solvers.ele_reading import ele_key
from ppbench.errors import InputError
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw, resize_uint8


def test_results_come_back_in_the_order_of_the_items(monkeypatch):
    monkeypatch.setenv("PPBENCH_SOLVER_THREADS", "4")
    assert map_positions(lambda i: i * i, range(50)) == [i * i for i in range(50)]
    assert map_positions(lambda i: i, []) == []


@pytest.mark.parametrize("setting", ["0", "-1", "two", " "])
def test_a_bad_thread_setting_is_refused_with_the_fix(monkeypatch, setting):
    monkeypatch.setenv("PPBENCH_SOLVER_THREADS", setting)
    with pytest.raises(InputError, match="PPBENCH_SOLVER_THREADS"):
        solver_threads()


def test_without_a_setting_every_core_up_to_the_cap(monkeypatch):
    monkeypatch.delenv("PPBENCH_SOLVER_THREADS", raising=False)
    assert 1 <= solver_threads() <= 8


def test_threads_give_the_ele_solver_steps_the_same_keys_as_one_loop(cifar_subset, monkeypatch):
    plain = resize_uint8(nhwc_to_nchw(cifar_subset["x_train"][:60]), 96)
    scheme = create_scheme("ele", key=generate_key("ele", image_size=96, block_size=8))
    y = scheme.encrypt(plain).numpy()
    nib = block_nibbles(y, 8)
    key = scheme.key_material()
    rng = np.random.default_rng(0)
    broken = key["perms"].copy()
    for p in range(0, broken.shape[0], 5):  # some positions' lows shuffled (edges too), so that the steps have work
        lows = np.flatnonzero(broken[p] < 192)
        broken[p][lows] = broken[p][rng.permutation(lows)]
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("PPBENCH_SOLVER_THREADS", threads)
        reread, _ = reread_assembled(y, nib, broken, key["block_perm"], 8)
        settled, _ = settle_first_pixel(y, nib, broken, key["block_perm"], 8, first_pixel_candidates(broken, 8),
                                        np.arange(13, 30))
        peeled, _ = peel_image_edges(y, nib, broken, key["block_perm"], 8, first_pixel_candidates(broken, 8))
        readings = map_positions(lambda i: ele_key(nib[:, i], 8)[1], range(4))
        results.append((reread, settled, peeled, np.stack(readings)))
    for one, many in zip(*results):
        assert np.array_equal(one, many)
