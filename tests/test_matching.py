"""Linear assignment against the current placement (attacks/keyrecovery/matching.py): the key solvers keep what is
there unless an assignment is strictly better, and skip the solver where the assignment's dual bound proves that
nothing is; and the assignment of items to a few groups of given sizes, against scipy's assignment over repeated
columns and against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scipy.optimize import linear_sum_assignment

from ppbench.attacks.keyrecovery.matching import (MAX_GROUPS, GroupMoves, capacitated_assignment, improving_assignment,
                                                  reduced_cost, undo_negative_cycles)


def _brute_force_best(cost: np.ndarray) -> float:
    n = cost.shape[0]
    return min(float(cost[np.arange(n), list(p)].sum()) for p in itertools.permutations(range(n)))


@pytest.mark.parametrize("seed", range(30))
def test_an_assignment_is_returned_exactly_when_it_beats_the_diagonal(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    cost = rng.integers(0, 6, (n, n)).astype(np.float64)  # small integers: ties are common
    if seed % 3 == 0:
        cost[np.arange(n), np.arange(n)] = cost.min(axis=1)  # the diagonal is optimal (often one of several)
    best = _brute_force_best(cost)
    better = improving_assignment(cost)
    if best < np.trace(cost) - 1e-9:
        assert better is not None
        rows, cols = better
        assert sorted(cols) == list(range(n)) and cost[rows, cols].sum() == pytest.approx(best)
    else:
        assert better is None


def test_a_near_tie_within_the_tolerance_keeps_the_diagonal():
    cost = np.array([[1.0, 0.0], [0.0, 1.0]]) * 1e-7 + 5.0
    assert improving_assignment(cost) is None
    assert improving_assignment(cost, rel_tol=0.0) is not None


def test_a_gain_just_over_the_tolerance_is_not_lost_to_the_bounds_rounding():
    # found by a review: here the reduced bound rounds 1 ulp above the optimum, so a skip at the full tolerance kept a
    # placement that the solver (and the old code) would have improved on
    cost = np.array([[3.8297376179495752, 5.780857737735718], [8.290450177920716, 10.241585369014775]])
    better = improving_assignment(cost)
    assert better is not None and list(better[1]) == [1, 0]


def _placement_like_cost(seed: int, n: int = 60) -> np.ndarray:
    """Squared distances between n items' sample vectors and n shuffled, noisy targets (the shape of the re-read's
    costs: a constant per row and per column, items of equal samples tying exactly)."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 16, (40, n)).astype(np.float64)
    values[:, 1] = values[:, 0]  # two items equal in every sample: their columns tie exactly
    target = values[:, rng.permutation(n)] + rng.normal(0.0, 2.0, (40, n))
    return ((values[:, :, None] - target[:, None, :]) ** 2).sum(axis=0)


@pytest.mark.parametrize("seed", range(8))
def test_the_reduced_cost_holds_a_zero_in_every_row_and_column_and_shifts_every_assignment_by_its_bound(seed):
    cost = _placement_like_cost(seed)
    reduced, bound = reduced_cost(cost)
    assert (reduced >= 0).all()
    assert (reduced.min(axis=1) == 0).all() and (reduced.min(axis=0) == 0).all()
    rng, rows = np.random.default_rng(seed), np.arange(cost.shape[0])
    for perm in [rows] + [rng.permutation(cost.shape[0]) for _ in range(5)]:
        assert cost[rows, perm].sum() == pytest.approx(reduced[rows, perm].sum() + bound, rel=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_the_assignment_solved_on_the_reduced_cost_is_optimal_for_the_cost_itself(seed):
    cost = _placement_like_cost(seed)
    rows, cols = linear_sum_assignment(cost)
    optimum = float(cost[rows, cols].sum())
    better = improving_assignment(cost)
    assert better is not None  # the shuffled targets leave the diagonal far from optimal
    got_rows, got_cols = better
    assert sorted(got_cols) == list(range(cost.shape[0]))
    assert float(cost[got_rows, got_cols].sum()) == pytest.approx(optimum, rel=1e-12)


def test_an_empty_or_non_square_cost_is_handled_plainly():
    assert improving_assignment(np.zeros((0, 0))) is None
    with pytest.raises(ValueError, match="square"):
        improving_assignment(np.zeros((1, 3)))


# -- capacitated_assignment: items into a few groups of given sizes --------------------------------------------------------
def _scipy_groups(cost: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """The reference: a dense linear assignment over each group's column repeated capacity times."""
    _, col = linear_sum_assignment(np.repeat(cost, capacity, axis=1))
    return np.repeat(np.arange(cost.shape[1]), capacity)[col]


def _total(cost: np.ndarray, groups: np.ndarray) -> float:
    return float(cost[np.arange(cost.shape[0]), groups].sum())


@pytest.mark.parametrize("seed", range(40))
def test_groups_of_given_sizes_are_scipys_optimum_and_its_very_labels_where_the_optimum_is_unique(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, MAX_GROUPS + 1))
    capacity = rng.integers(0, 15, k)
    capacity[0] += 1  # at least one item
    cost = rng.normal(size=(int(capacity.sum()), k))  # continuous: the optimum is unique
    groups = capacitated_assignment(cost, capacity)
    assert np.array_equal(np.bincount(groups, minlength=k), capacity)
    assert np.array_equal(groups, _scipy_groups(cost, capacity))


@pytest.mark.parametrize("seed", range(40))
def test_groups_with_many_ties_reach_the_optimal_cost(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 4))
    capacity = rng.integers(1, 4, k)
    cost = rng.integers(0, 3, (int(capacity.sum()), k)).astype(np.float64)  # small integers: ties everywhere
    groups = capacitated_assignment(cost, capacity)
    assert np.array_equal(np.bincount(groups, minlength=k), capacity)
    every = (np.array(g) for g in itertools.product(range(k), repeat=cost.shape[0]))
    brute = min(_total(cost, g) for g in every if np.array_equal(np.bincount(g, minlength=k), capacity))
    assert _total(cost, groups) == brute


def test_three_equal_channels_of_three_thousand_items_as_pooled_generic_clusters_them():
    """The size it is for (a 32 x 32 image's 3,072 bytes into three channels): scipy's labels, exactly."""
    rng = np.random.default_rng(7)
    features = np.concatenate([rng.normal(c, 1.0, (1024, 2)) for c in (-1.0, 0.0, 1.0)])
    cost = ((features[:, None, :] - np.array([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0]])[None]) ** 2).sum(-1)
    capacity = np.array([1024, 1024, 1024])
    assert np.array_equal(capacitated_assignment(cost, capacity), _scipy_groups(cost, capacity))


def test_near_equal_costs_whose_moves_cancel_do_not_loop_and_stay_optimal():
    """Found while building it: items equidistant from every centre up to 1e-11 (spectral embeddings of isolated items)
    made a zero-cost cycle of moves look negative by a rounding error, and a margin on the largest cost then left the
    result 1.5e-11 above the optimum."""
    rng = np.random.default_rng(3)
    cost = 2.0 - rng.random((48, 3)) * 1e-11
    cost[:16] = rng.random((16, 3)) * 1e-24
    groups = capacitated_assignment(cost, [16, 16, 16])
    assert _total(cost, groups) - _total(cost, _scipy_groups(cost, np.array([16, 16, 16]))) <= 1e-20


@pytest.mark.parametrize("scale", [1e-20, 1e-14, 1.0, 1e12])
def test_the_labels_do_not_depend_on_the_costs_scale_or_a_constant_per_item(scale):
    """Found by a review: a margin with an absolute floor made every choice a tie for costs below about 1e-13, and a
    large constant on one item's costs (which changes no choice) turned the other items' differences into ties."""
    rng = np.random.default_rng(11)
    cost = rng.normal(size=(30, 3))
    capacity = np.array([12, 10, 8])
    expected = _scipy_groups(cost, capacity)
    assert np.array_equal(capacitated_assignment(cost * scale, capacity), expected)
    shifted = cost.copy()
    shifted[0] += 1e7
    assert np.array_equal(capacitated_assignment(shifted * scale, capacity), expected)


def test_a_cycle_through_three_groups_that_no_exchange_of_two_items_improves_is_undone():
    """Item g sits in group g; moving each item one group on saves 3, and exchanging any two items saves nothing:
    only a cycle of three moves finds the optimum."""
    cost = np.array([[1.0, 0.0, 2.0], [2.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    moves = GroupMoves(cost.tolist(), 3)
    for item in range(3):
        moves.join(item, item)
    assert undo_negative_cycles(moves) == 1
    assert moves.group == [1, 2, 0]
    assert undo_negative_cycles(moves) == 0  # optimal: nothing left to undo
    assert list(capacitated_assignment(cost, [1, 1, 1])) == [1, 2, 0]


@pytest.mark.parametrize("cost, capacity, message", [
    (np.zeros((4, 2)), [2, 1], "add up to the 4 items"),
    (np.zeros((4, 2)), [5, -1], "non-negative"),
    (np.zeros((3, 2)), [1.5, 1.5], "whole numbers"),
    (np.zeros((4, 2)), [1, 1, 2], r"\(n, k\) cost and k capacities"),
    (np.zeros((7, MAX_GROUPS + 2)), [1] * (MAX_GROUPS + 2), "linear_sum_assignment"),
    (np.array([[0.0, np.inf], [0.0, 1.0]]), [1, 1], "finite"),
])
def test_capacities_that_cannot_hold_the_items_or_too_many_groups_are_refused_with_the_fix(cost, capacity, message):
    with pytest.raises(ValueError, match=message):
        capacitated_assignment(cost, capacity)


def test_an_assignment_priced_in_single_precision_is_accepted_on_its_double_precision_total():
    cost = np.array([[5.0, 4.99], [5.0, 5.0]], np.float32)  # the exchange looks 0.01 cheaper: rounding, say
    assert improving_assignment(cost) is not None  # judged on the matrix itself, it would be taken
    assert improving_assignment(cost, total=lambda rows, cols: 10.0) is None  # the data say it ties
    rounded_up = np.array([[5.02, 4.99], [5.0, 5.0]], np.float32)  # the diagonal itself rounded 0.02 dearer
    assert improving_assignment(rounded_up, total=lambda rows, cols: 10.0) is None  # both totals from the data
    gain = lambda rows, cols: 10.0 if np.array_equal(rows, cols) else 9.9  # noqa: E731
    assert improving_assignment(cost, total=gain) is not None
