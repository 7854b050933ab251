"""``pooled``'s second look at which cipher nibble holds ELE's plain nibble d, the high nibble of a block's first
pixel (attacks/keyrecovery/solvers/ele_first_pixel.py): the in-block reading can exchange the first pixel with
its neighbour, which flips two slots' signs that no later step mends. Real CIFAR-10 images upscaled 3x (the
paper's 224 is 7x), the victim key fixed."""

from __future__ import annotations

import numpy as np
import pytest

from ppbench.attacks.keyrecovery.geometry import block_nibbles, le_negated
from ppbench.attacks.keyrecovery.solvers.ele_assembled import _decryptor, reread_assembled
from ppbench.attacks.keyrecovery.solvers.ele_edges import edge_order, peel_image_edges
from ppbench.attacks.keyrecovery.solvers.ele_first_pixel import (CANDIDATES, first_pixel_candidates,
                                                                  settle_first_pixel, with_first_pixel)
from ppbench.keys import SchemeKey
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw, resize_uint8

SECRET = bytes.fromhex("77e0c1b2a3948576f8e9dacbbcad9e8f70615243342516071829a3b4c5d6e7f8")
M, SIZE, BLOCKS = 8, 96, 12


@pytest.fixture(scope="module")
def views(cifar_subset):
    """(ciphertexts, cipher nibbles, true key, plain float (n, H, W, 3)) of 100 training images at 96 x 96."""
    plain = resize_uint8(nhwc_to_nchw(cifar_subset["x_train"][:100]), SIZE)
    template = generate_key("ele", image_size=SIZE, block_size=M)
    scheme = create_scheme("ele", key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))
    y = scheme.encrypt(plain).numpy()
    return y, block_nibbles(y, M), scheme.key_material(), plain.numpy().transpose(0, 2, 3, 1).astype(np.float64)


def _holder(perm: np.ndarray, slot: int) -> int:
    return int(np.flatnonzero(perm == slot)[0])


def _first_pixel_moved(perms: np.ndarray, positions, pixel=(1, 0)) -> np.ndarray:
    """``perms`` with plain d's holder exchanged with the holder of ``pixel``'s channel-0 high, as the reading does
    where the first pixel and its neighbour are nearly equal."""
    d, out = 3 * M * M, perms.copy()
    for p in positions:
        out[p] = with_first_pixel(out[p], _holder(out[p], d + (pixel[0] * M + pixel[1]) * 3))
    return out


def test_candidates_are_the_holders_of_the_first_pixels_neighbours_channel_0_highs(views):
    _, _, key, _ = views
    d = 3 * M * M
    candidates = first_pixel_candidates(key["perms"], M)
    assert candidates.shape == (BLOCKS * BLOCKS, len(CANDIDATES))
    for p in (0, 17, 143):
        assert [_holder(key["perms"][p], d + (r * M + c) * 3) for r, c in CANDIDATES] == candidates[p].tolist()
    two = np.random.default_rng(0).permutation(24)[None]  # a key of M = 2: only (0, 1), (1, 0), (1, 1) exist
    assert first_pixel_candidates(two, 2).shape == (1, 3)


def test_moving_the_first_pixel_exchanges_two_slots_and_flips_r_at_both_holders(views):
    _, _, key, _ = views
    d, perm = 3 * M * M, key["perms"][5]
    old, new = _holder(perm, d), _holder(perm, d + 3)  # pixel (0, 1)'s channel-0 high
    moved = with_first_pixel(perm, new)
    assert moved[new] == d and moved[old] == d + 3 and np.array_equal(np.sort(moved), np.arange(2 * d))
    assert np.array_equal(with_first_pixel(moved, old), perm)
    r, r_moved = perm > d, moved > d  # LE's r: the holders of highs other than d
    assert np.flatnonzero(r != r_moved).tolist() == sorted([old, new])
    assert (le_negated(moved) != le_negated(perm)).any()  # so two plain slots are read with the other sign


def test_inner_first_pixels_exchanged_with_a_neighbour_come_back(views):
    y, nib, key, plain = views
    inner = np.array([p for p in range(BLOCKS * BLOCKS) if p not in {q for q, _ in edge_order(BLOCKS, BLOCKS)}])
    broken = _first_pixel_moved(key["perms"], inner[::10], pixel=(1, 0))
    broken = _first_pixel_moved(broken, inner[5::10], pixel=(0, 1))
    assert not np.array_equal(broken, key["perms"])
    perms, moved = settle_first_pixel(y, nib, broken, key["block_perm"], M, first_pixel_candidates(broken, M), inner)
    d = 3 * M * M
    assert moved == 20 and all(_holder(perms[p], d) == _holder(key["perms"][p], d) for p in range(BLOCKS * BLOCKS))
    perms, _ = reread_assembled(y, nib, perms, key["block_perm"], M)  # as pooled does next: the true key again
    assert np.array_equal(perms, key["perms"])


def test_the_true_key_is_left_alone(views):
    y, nib, key, _ = views
    positions = np.arange(BLOCKS * BLOCKS)
    perms, moved = settle_first_pixel(y, nib, key["perms"], key["block_perm"], M,
                                      first_pixel_candidates(key["perms"], M), positions)
    assert moved == 0 and perms is key["perms"]
    perms, changed = peel_image_edges(y, nib, key["perms"], key["block_perm"], M, first_pixel_candidates(key["perms"], M))
    assert changed == 0 and np.array_equal(perms, key["perms"])


def test_edge_first_pixels_exchanged_with_a_neighbour_come_back_only_with_candidates(views):
    y, nib, key, plain = views
    d = 3 * M * M
    edges = [p for p, _ in edge_order(BLOCKS, BLOCKS)]
    broken = _first_pixel_moved(key["perms"], edges, pixel=(1, 0))
    right_holder = lambda perms: sum(_holder(perms[p], d) == _holder(key["perms"][p], d) for p in edges)  # noqa: E731
    without, _ = peel_image_edges(y, nib, broken, key["block_perm"], M)
    assert right_holder(without) == 0  # the edge step alone keeps d where it was read
    perms, _ = peel_image_edges(y, nib, broken, key["block_perm"], M, first_pixel_candidates(broken, M))
    assert right_holder(perms) == len(edges)
    edge = np.ones((SIZE, SIZE), bool)
    edge[M:-M, M:-M] = False
    decrypt = _decryptor(y, key["block_perm"], M)
    assert np.abs(decrypt(perms) - plain)[:, edge].mean() < 0.5
