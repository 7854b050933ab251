"""``pooled``'s re-read of ELE's nibbles from the assembled images (attacks/keyrecovery/solvers/ele_assembled.py):
the sign rule it relies on is LE's derived mask, the true key is left alone, and a key with its last lows or
highs swapped is mended. Real CIFAR-10 images (the shared subset or the bundled sample), the victim key fixed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppbench.attacks.keyrecovery.geometry import block_nibbles, le_negated
from ppbench.attacks.keyrecovery.solvers import ele_assembled
from ppbench.attacks.keyrecovery.solvers.ele_assembled import (_plain_nibbles, _signs, fitted_prediction,
                                                              neighbour_mean_prediction, reread_assembled)
from ppbench.keys import SchemeKey
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw

SECRET = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0")
M = 4
D = 3 * M * M


@pytest.fixture(scope="module")
def victim():
    template = generate_key("ele", image_size=32, block_size=M)
    return create_scheme("ele", key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))


@pytest.fixture(scope="module")
def views(victim, cifar_subset):
    """(ciphertexts uint8 (n, 3, H, W), their cipher nibbles, the true key) for 100 training images."""
    plain = nhwc_to_nchw(cifar_subset["x_train"][:100])
    y = victim.encrypt(plain).numpy()
    return y, block_nibbles(y, M), victim.key_material(), plain


@pytest.mark.parametrize("high", [True, False], ids=["highs", "lows"])
def test_a_nibbles_sign_depends_on_its_plain_slot_alone_as_les_derived_mask_says(high):
    rng = np.random.default_rng(0)
    for _ in range(20):
        perm = rng.permutation(2 * D)
        holders = np.flatnonzero(perm >= D) if high else np.flatnonzero(perm < D)
        slots = perm[holders] - (D if high else 0)
        assert np.array_equal(le_negated(perm)[holders], _signs(perm, D, high)[slots])


def test_the_true_key_reads_every_blocks_plain_nibbles(views):
    y, nib, key, plain = views
    cipher_at = np.argsort(key["block_perm"])
    blocks = block_nibbles(plain.numpy(), M)  # plain nibbles at each original position: lows then highs
    for p in (0, 9, 63):
        cipher = nib[:, cipher_at[p]].astype(np.float64)
        assert np.array_equal(_plain_nibbles(key["perms"][p], cipher, D, high=False), blocks[:, p, :D])
        assert np.array_equal(_plain_nibbles(key["perms"][p], cipher, D, high=True), blocks[:, p, D:])


def test_the_fitted_predictor_never_sees_the_pixel_it_predicts_not_even_at_the_edges():
    noise = np.random.default_rng(0).uniform(0, 255, (50, 32, 32, 3))  # nothing to predict anywhere
    residual = (fitted_prediction(noise) - noise) ** 2
    inside, edges = residual[:, 2:-2, 2:-2].mean(), np.concatenate([residual[:, 0], residual[:, :, 0]]).mean()
    assert edges > 0.5 * inside  # an edge-replicating pad would hand the pixel to its own predictor (residual 0)


def test_moving_plain_d_would_flip_two_signs_so_the_high_pass_never_moves_it(views):
    y, nib, key, _ = views
    perm = key["perms"][5]
    holder = int(np.flatnonzero(perm == D)[0])
    other = int(np.flatnonzero(perm > D)[0])
    moved = perm.copy()
    moved[[holder, other]] = moved[[other, holder]]
    flipped = (_signs(moved, D, True) != _signs(perm, D, True)).sum() + (_signs(moved, D, False) != _signs(perm, D, False)).sum()
    assert flipped == 2  # r changes at the two cipher positions, so the signs of their two plain slots do
    cipher = nib[:, np.argsort(key["block_perm"])[5]].astype(np.float64)
    for seed in range(5):  # whatever the targets, d's holder stays
        target = np.random.default_rng(seed).uniform(0, 15, (cipher.shape[0], D))
        assert ele_assembled._reassign(perm, cipher, target, high=True)[holder] == D


def test_the_fitted_predictor_is_exact_on_a_linear_ramp_and_close_on_real_images(cifar_subset):
    yy, xx = np.mgrid[0:32, 0:32]
    slopes = np.random.default_rng(0).uniform(-3, 3, (400, 2, 3))  # enough images for every edge class's own fit
    ramp = slopes[:, 0, None, None, :] * yy[None, :, :, None] + slopes[:, 1, None, None, :] * xx[None, :, :, None]
    np.testing.assert_allclose(fitted_prediction(ramp), ramp, atol=1e-6)
    real = cifar_subset["x_test"][:50].astype(np.float64)
    fitted = np.sqrt(((fitted_prediction(real) - real) ** 2).mean())
    mean = np.sqrt(((neighbour_mean_prediction(real) - real) ** 2).mean())
    assert fitted < mean  # least squares over a larger neighbourhood: never worse in its own measure


def test_the_true_key_is_left_alone(views):
    y, nib, key, _ = views
    perms, changed = reread_assembled(y, nib, key["perms"], key["block_perm"], M)
    assert changed == 0 and np.array_equal(perms, key["perms"])


@pytest.mark.parametrize("high", [True, False], ids=["highs", "lows"])
def test_a_key_with_two_nibbles_swapped_in_some_positions_is_mended(views, high):
    y, nib, key, _ = views
    rng = np.random.default_rng(1)
    broken = key["perms"].copy()
    for p in (3, 27, 40):
        holders = np.flatnonzero(broken[p] >= D) if high else np.flatnonzero(broken[p] < D)
        slots = broken[p][holders] - (D if high else 0)
        # two nibbles of one channel in horizontally adjacent pixels (what the reading gets wrong)
        a = int(rng.integers(0, D - 3))
        i, j = np.flatnonzero(slots == a)[0], np.flatnonzero(slots == a + 3)[0]
        broken[p][holders[[i, j]]] = broken[p][holders[[j, i]]]
    assert not np.array_equal(broken, key["perms"])
    perms, changed = reread_assembled(y, nib, broken, key["block_perm"], M)
    assert changed == 3 and np.array_equal(perms, key["perms"])


def test_a_pass_that_makes_the_images_rougher_is_not_kept(views, monkeypatch):
    y, nib, key, _ = views

    def swap_everything(images: np.ndarray) -> np.ndarray:  # a predictor that predicts each pixel's mirror
        return images[:, :, ::-1]

    plain = ele_assembled._decryptor(y, key["block_perm"], M)(key["perms"])
    moved = ele_assembled._reread(plain, swap_everything(plain), nib, key["perms"], key["block_perm"], M)
    assert not np.array_equal(moved, key["perms"])  # the pass would move nibbles ...
    monkeypatch.setattr(ele_assembled, "PREDICTORS", (swap_everything,))  # ... but it is not kept
    perms, changed = reread_assembled(y, nib, key["perms"], key["block_perm"], M)
    assert changed == 0 and np.array_equal(perms, key["perms"])


def test_a_predictor_refused_twice_running_is_not_tried_again_within_the_call(views, badly_read, monkeypatch):
    y, nib, key, _ = views
    tried = []

    def swap_everything(images: np.ndarray) -> np.ndarray:  # moves nibbles every pass, and every pass is refused
        tried.append(1)
        return images[:, :, ::-1]

    passes = []
    reread = ele_assembled._reread
    monkeypatch.setattr(ele_assembled, "_reread", lambda *a: passes.append(1) or reread(*a))
    monkeypatch.setattr(ele_assembled, "PREDICTORS", (swap_everything, fitted_prediction))
    perms, changed = reread_assembled(y, nib, badly_read, key["block_perm"], M)
    fitted_passes = len(passes) - len(tried)
    assert changed > 0 and fitted_passes > ele_assembled.GIVE_UP_AFTER  # the call went on for more rounds ...
    assert len(tried) == ele_assembled.GIVE_UP_AFTER  # ... without the refused predictor


def test_a_channels_bytes_swapped_between_neighbouring_pixels_are_mended_by_the_byte_pass(views):
    """What the re-read of highs and lows left at 224 x 224 (docs/benchmarks.md): one channel's high and low nibble
    of a pixel placed at its neighbour's, and the neighbour's at its; the byte pass moves both together, each
    nibble read with its new slot's sign, against predictions exact or off by a few grey levels."""
    y, nib, key, plain = views
    truth_blocks = block_nibbles(plain.numpy(), M)  # plain nibbles per original position: lows then highs
    # two bytes exchanged, and three moved round a cycle (pixel a's byte to b, b's to c, c's to a: pins the direction)
    for p, pixels, channel in ((3, (5, 6), 1), (27, (9, 13), 2), (40, (14, 10), 0), (0, (0, 1), 1),
                               (12, (2, 3, 7), 2), (33, (4, 8, 9), 0)):
        broken = key["perms"][p].copy()
        for offset in (0, D):  # the low, then the high nibble of the channel
            holders = [np.flatnonzero(broken == offset + 3 * q + channel)[0] for q in pixels]
            broken[holders] = broken[np.roll(holders, 1)]
        cipher = nib[:, np.argsort(key["block_perm"])[p]].astype(np.float64)
        exact = 16.0 * truth_blocks[:, p, D:] + truth_blocks[:, p, :D]  # the true values: a perfect predictor
        noisy = exact + np.random.default_rng(p).normal(0, 3.0, exact.shape)
        for target in (exact, noisy):
            assert np.array_equal(ele_assembled._reassign_bytes(broken, cipher, target), key["perms"][p])


def test_the_byte_pass_never_moves_plain_ds_holder(views):
    y, nib, key, _ = views
    cipher = nib[:, np.argsort(key["block_perm"])[5]].astype(np.float64)
    holder = int(np.flatnonzero(key["perms"][5] == D)[0])
    for seed in range(5):  # whatever the targets, pixel 0's channel-0 byte stays
        target = np.random.default_rng(seed).uniform(0, 255, (cipher.shape[0], D))
        assert ele_assembled._reassign_bytes(key["perms"][5], cipher, target)[holder] == D


@pytest.mark.parametrize("n", [1, 13], ids=["one image", "a chunk and a part"])
def test_the_predictors_give_the_same_values_however_the_images_are_sliced(monkeypatch, n):
    images = np.random.default_rng(1).uniform(0, 255, (n, 32, 32, 3))
    whole = {f: f(images) for f in (fitted_prediction, neighbour_mean_prediction)}
    monkeypatch.setattr(ele_assembled, "IMAGE_CHUNK", 3)
    for f, expected in whole.items():
        assert np.array_equal(f(images), expected)


def test_the_neighbour_mean_of_a_few_pixels_is_the_whole_images_at_those_pixels():
    images = np.random.default_rng(2).uniform(0, 255, (4, 20, 24, 3))
    whole = neighbour_mean_prediction(images)
    for rows, cols in [((0, 1), (0, 1)), ((19, 20), (23, 24)), ((0, 2), (10, 14)), ((5, 9), (22, 24)), ((0, 20), (0, 24))]:
        rr, cc = np.arange(*rows), np.arange(*cols)
        assert np.array_equal(ele_assembled._neighbour_mean_at(images, rr, cc), whole[:, rr[0]:rr[-1] + 1, cc[0]:cc[-1] + 1])


def test_placement_cost_is_the_summed_squared_error_of_each_nibble_as_each_slot_reads_it():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 16, (30, 7)).astype(np.float64)  # 30 samples of 7 cipher nibbles
    target = rng.uniform(-2.0, 17.0, (30, 5))  # 5 plain slots' predicted values (may leave the nibble range)
    negated = np.array([True, False, True, True, False])
    read = np.where(negated[None, :, None], 15.0 - values[:, None, :], values[:, None, :])  # (sample, slot, nibble)
    expected = ((read - target[:, :, None]) ** 2).sum(axis=0).T  # (nibble, slot)
    np.testing.assert_allclose(ele_assembled.placement_cost(values, target, negated), expected, rtol=1e-12, atol=1e-9)


def test_a_position_is_stale_when_its_key_moved_or_a_pixel_within_reach_decrypts_differently():
    m, r = 4, ele_assembled.RADIUS  # a 3 x 3 grid of 4 x 4 blocks; position 4 is the middle block, rows/cols 4..7
    keys = np.zeros((9, 2 * 3 * m * m), np.int64)
    before = np.zeros((2, 12, 12, 3))
    stale = lambda plain, perms=keys: ele_assembled._stale(perms, keys, plain, before, m)  # noqa: E731
    assert not stale(before.copy()).any()
    inner = before.copy()
    inner[1, 1, 1, 2] = 5.0  # position 0's pixel (1, 1): more than RADIUS from every other block
    assert np.flatnonzero(stale(inner)).tolist() == [0]
    refitted = ele_assembled._stale(keys, keys, inner, before, m, refits=True)  # the fitted predictor's edge weights
    assert np.flatnonzero(refitted).tolist() == [0, 1, 2, 3, 5, 6, 7, 8]  # moved: every image-edge position, not 4
    corner = before.copy()
    corner[0, 4 - r, 4 - r, 0] = 1.0  # position 0's pixel diagonally RADIUS away from the middle block's first pixel
    assert {0, 4} <= set(np.flatnonzero(stale(corner))) and not stale(corner)[[2, 6, 8]].any()
    far = before.copy()
    far[0, 4 - r - 1, 4, 0] = 1.0  # RADIUS + 1 above the middle block: out of its reach
    assert not stale(far)[4]
    moved = keys.copy()
    moved[7, [0, 1]] = 1, 0  # a swap no image tells apart: the pixels are unchanged, the key moved
    assert np.flatnonzero(stale(before.copy(), moved)).tolist() == [7]


@pytest.fixture(scope="module")
def badly_read(views):
    """The true key with nibbles swapped at a third of the positions (highs at some, lows at others, both at a few):
    a start from which the re-read needs several rounds, as from the in-block reading."""
    _, _, key, _ = views
    rng = np.random.default_rng(7)
    broken = key["perms"].copy()
    for p in rng.choice(broken.shape[0], broken.shape[0] // 3, replace=False):
        for high in ((True,), (False,), (True, False))[int(rng.integers(0, 3))]:
            holders = np.flatnonzero(broken[p] > D) if high else np.flatnonzero(broken[p] < D)
            i, j = rng.choice(holders, 2, replace=False)
            broken[p][[i, j]] = broken[p][[j, i]]
    return broken


@pytest.mark.parametrize("predictors", ["neighbour_mean", "both"])
def test_rereading_only_changed_neighbourhoods_reads_the_same_keys_as_rereading_every_position(
        views, badly_read, monkeypatch, predictors):
    """Exact for the neighbour mean (the same pixels in); for the fitted predictor the refitted weights differ a
    little, and here (as on the 224 fits measured) that changes nothing either."""
    y, nib, key, _ = views
    if predictors == "neighbour_mean":
        monkeypatch.setattr(ele_assembled, "PREDICTORS", (neighbour_mean_prediction,))
    reads = []
    original = ele_assembled.reread_position
    monkeypatch.setattr(ele_assembled, "reread_position", lambda *a: reads.append(1) or original(*a))
    results = {}
    for skip in (False, True):
        monkeypatch.setattr(ele_assembled, "SKIP_UNCHANGED", skip)
        reads.clear()
        results[skip] = reread_assembled(y, nib, badly_read, key["block_perm"], M), len(reads)
    (every, every_reads), (changed_only, changed_only_reads) = results[False], results[True]
    assert every[1] > 0 and np.array_equal(changed_only[0], every[0]) and changed_only[1] == every[1]
    assert changed_only_reads < every_reads  # and it did skip positions


def test_a_pass_rereads_exactly_the_positions_whose_key_or_pixels_within_reach_changed(views, badly_read,
                                                                                   monkeypatch):
    """Against the definition in pixels: position p is read again when its key moved since the predictor's last pass,
    or some image decrypts differently at a pixel within RADIUS pixels (either direction, diagonals too) of p's; for
    the fitted predictor also when p lies on the image's edge and a pixel within 2 RADIUS of the edge changed."""
    y, nib, key, _ = views
    passes = []
    reread = ele_assembled._reread
    monkeypatch.setattr(ele_assembled, "_reread", lambda plain, predicted, nib_, perms, block_perm, m, only=None:
                        passes.append((perms, plain, only)) or reread(plain, predicted, nib_, perms, block_perm, m, only))
    reread_assembled(y, nib, badly_read, key["block_perm"], M)
    cols, reach = 32 // M, ele_assembled.RADIUS
    assert len(passes) > 4 and passes[0][2] is None and passes[1][2] is None  # each predictor's first pass: all
    fitted_passes = [i % 2 == 1 for i in range(len(passes))]  # each round: the neighbour mean, then the fitted one
    for (keys_then, plain_then, _), (keys_now, plain_now, only), refits in zip(passes, passes[2:], fitted_passes[2:]):
        changed = (plain_now != plain_then).any(axis=(0, 3))  # against the same predictor's previous pass, two back
        inside = changed[2 * reach:32 - 2 * reach, 2 * reach:32 - 2 * reach]
        edge_refit = refits and changed.sum() > inside.sum()
        expected = []
        for p in range(cols * cols):
            r0, c0 = divmod(p, cols)
            box = changed[max(r0 * M - reach, 0):r0 * M + M + reach, max(c0 * M - reach, 0):c0 * M + M + reach]
            on_edge = r0 in (0, cols - 1) or c0 in (0, cols - 1)
            expected.append(box.any() or (keys_now[p] != keys_then[p]).any() or (edge_refit and on_edge))
        assert np.array_equal(only, np.array(expected))
    assert any(0 < only.sum() < only.size for _, _, only in passes[2:])  # some passes skip some positions


def test_a_placement_total_is_what_the_cost_matrix_sums_over_that_assignment():
    rng = np.random.default_rng(3)
    values, target = rng.integers(0, 16, (30, 12)).astype(np.float64), rng.uniform(0, 15, (30, 12))
    negated = rng.random(12) < 0.5
    cost = ele_assembled.placement_cost(values, target, negated)
    total = ele_assembled.placement_total(values, target, negated)
    for _ in range(5):
        rows, cols = rng.permutation(12), rng.permutation(12)
        assert total(rows, cols) == pytest.approx(float(cost[rows, cols].sum()), rel=1e-12)


def test_a_reread_pass_never_moves_a_key_over_an_exact_tie_the_matrix_rounds_into_a_gain(views, monkeypatch):
    """Two cipher highs equal in every sample, at slots read alike, tie exactly; in single precision the matrix's
    entries round by up to about 0.02 at 224 x 224, enough to make their exchange look cheaper than the tolerance."""
    y, nib, key, _ = views
    perm = key["perms"][6]
    cipher = nib[:, np.argsort(key["block_perm"])[6]].astype(np.float32)
    holders = np.flatnonzero(perm > D)
    signs = _signs(perm, D, True)[perm[holders] - D]
    a, b = holders[np.flatnonzero(signs == signs[0])[:2]]
    cipher[:, b] = cipher[:, a]
    target = _plain_nibbles(perm, cipher, D, high=True).astype(np.float32)  # the true key fits it exactly
    real = ele_assembled.placement_cost

    def rounded(*args, **kwargs):  # every placement off the diagonal rounded 0.01 cheaper
        cost = real(*args, **kwargs)
        return cost - 0.01 * (1.0 - np.eye(cost.shape[0], dtype=cost.dtype))

    monkeypatch.setattr(ele_assembled, "placement_cost", rounded)
    assert np.array_equal(ele_assembled._reassign(perm, cipher, target, high=True), perm)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["single", "double"])
def test_the_reread_mends_a_badly_read_key_in_either_precision(views, badly_read, monkeypatch, dtype):
    y, nib, key, _ = views
    monkeypatch.setattr(ele_assembled, "REREAD_DTYPE", dtype)
    perms, _ = reread_assembled(y, nib, badly_read, key["block_perm"], M)
    assert np.array_equal(perms, key["perms"])
