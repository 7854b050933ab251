"""The solvers' per-position threads (attacks/keyrecovery/parallel.py): the same results as one loop, in order,
and a clear error for a bad ``PPBENCH_SOLVER_THREADS``."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from ppbench.attacks.keyrecovery import ciphertext_only, known_plaintext
from ppbench.attacks.keyrecovery.geometry import block_nibbles
from ppbench.attacks.keyrecovery.parallel import map_positions, solver_threads
from ppbench.attacks.keyrecovery.solvers.ele_assembled import fitted_prediction, reread_assembled
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


def test_gil_bound_work_runs_in_one_loop_on_the_calling_thread(monkeypatch):
    monkeypatch.setenv("PPBENCH_SOLVER_THREADS", "4")
    caller = threading.get_ident()
    assert set(map_positions(lambda i: threading.get_ident(), range(20), gil_bound=True)) == {caller}
    assert map_positions(lambda i: i * i, range(20), gil_bound=True) == [i * i for i in range(20)]


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


def test_the_fitted_predictor_gives_the_same_bits_whatever_blas_threads_the_caller_allows(cifar_subset):
    # a multi-threaded BLAS sums a least-squares fit in another order (last bits differ): the solver's fits run
    # on one BLAS thread, so a key found on a 2-core machine is the one a 16-core machine finds
    images = resize_uint8(nhwc_to_nchw(cifar_subset["x_train"][:40]), 64).numpy().transpose(0, 2, 3, 1) * 1.0
    predictions = []
    for threads in (1, 2, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            predictions.append(fitted_prediction(images))
    assert all(np.array_equal(predictions[0], p) for p in predictions[1:])


@pytest.mark.parametrize("entry", ["pooled", "kpa"])
def test_key_recovery_runs_its_solver_on_one_blas_thread(entry, monkeypatch):
    seen = []

    def solver(*args):
        seen.append([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"])
        return ({}, {}, ["plain: no key"], []) if entry == "pooled" else ({}, 0, ["plain: no key"])

    y = np.zeros((2, 3, 8, 8), np.uint8)
    with threadpool_limits(limits=2, user_api="blas"):
        if entry == "pooled":
            monkeypatch.setitem(ciphertext_only.POOLED_SOLVERS, "plain", solver)
            ciphertext_only.recover_key_pooled("plain", y)
        else:
            monkeypatch.setitem(known_plaintext.SOLVERS, "plain", solver)
            known_plaintext.recover_key_kpa("plain", y, y)
    assert seen and all(threads == 1 for threads in seen[0])
