"""``pooled``'s second solve of ELE's image-edge block positions (attacks/keyrecovery/solvers/ele_edges.py):
every edge position is visited once from its inner side, a key whose edge blocks are scrambled comes back
from upscaled images, the true key is left alone, and plain nibble d's holder never moves. Real CIFAR-10
images (the shared subset or the bundled sample), the victim key fixed."""

from __future__ import annotations

import numpy as np
import pytest

from ppbench.attacks.keyrecovery.geometry import block_nibbles
from ppbench.attacks.keyrecovery.solvers.ele_assembled import _decryptor
from ppbench.attacks.keyrecovery.solvers.ele_edges import _Candidates, edge_order, peel_image_edges
from ppbench.keys import SchemeKey
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw, resize_uint8

SECRET = bytes.fromhex("3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff00f1e2d")
#: test_pooled.py's key: judged by the first reach's predictor alone, one of its true 32 x 32 positions would move
POOLED_SECRET = bytes.fromhex("5a0c3e9172d84b6fa1e2c3d4b5a69788f0e1d2c3b4a5968778695a4b3c2d1e0f")


def _victim(size: int, m: int, secret: bytes = SECRET):
    template = generate_key("ele", image_size=size, block_size=m)
    return create_scheme("ele", key=SchemeKey(scheme=template.scheme, params=template.params, secret=secret))


def _views(cifar_subset, size: int, m: int, n: int = 100, secret: bytes = SECRET):
    """(ciphertexts, cipher nibbles, true key, plain float (n, H, W, 3)) of n training images at ``size``."""
    plain = resize_uint8(nhwc_to_nchw(cifar_subset["x_train"][:n]), size)
    scheme = _victim(size, m, secret)
    y = scheme.encrypt(plain).numpy()
    return y, block_nibbles(y, m), scheme.key_material(), plain.numpy().transpose(0, 2, 3, 1).astype(np.float64)


def _scramble_edges(perms: np.ndarray, m: int, blocks: int) -> np.ndarray:
    """``perms`` with every image-edge position's highs (but plain d's holder) and lows shuffled among themselves."""
    d, rng, out = 3 * m * m, np.random.default_rng(0), perms.copy()
    for p, _ in edge_order(blocks, blocks):
        for holders in (np.flatnonzero(out[p] > d), np.flatnonzero(out[p] < d)):
            out[p][holders] = out[p][rng.permutation(holders)]
    return out


@pytest.mark.parametrize("rows,cols", [(3, 3), (8, 8), (14, 14), (4, 7)])
def test_every_edge_position_is_visited_once_from_its_inner_side(rows, cols):
    order = edge_order(rows, cols)
    positions = [p for p, _ in order]
    edge = {p for p in range(rows * cols) if p // cols in (0, rows - 1) or p % cols in (0, cols - 1)}
    assert len(positions) == len(set(positions)) and set(positions) == edge
    done: set[int] = set()
    for p, (dy, dx) in order:
        r, c = divmod(p, cols)
        neighbour = (r + dy) * cols + (c + dx)
        assert 0 <= r + dy < rows and 0 <= c + dx < cols
        assert neighbour not in edge or neighbour in done  # an inner block, or an edge block already solved
        done.add(p)


def test_assignment_picks_the_nearest_nibble_and_reads_negated_slots_negated():
    rng = np.random.default_rng(0)
    cipher = rng.integers(0, 16, (200, 10)).astype(np.float64)
    negated = np.array([False, True, False])
    truth = np.array([7, 2, 5])
    target = np.where(negated, 15.0 - cipher[:, truth], cipher[:, truth]) + rng.normal(0, 0.3, (200, 3))
    candidates = _Candidates(np.ascontiguousarray(cipher.T), np.arange(3, 13) % 10)  # in another order: the answer names the nibbles
    assert np.array_equal(candidates.assign(target, negated), truth)


def test_scrambled_edge_blocks_of_upscaled_images_come_back(cifar_subset):
    y, nib, key, plain = _views(cifar_subset, 96, 8)  # CIFAR upscaled 3x, as the paper's 224 is 7x
    broken = _scramble_edges(key["perms"], 8, 12)
    edge = np.ones((96, 96), bool)
    edge[8:-8, 8:-8] = False
    decrypt = _decryptor(y, key["block_perm"], 8)
    assert np.abs(decrypt(broken) - plain)[:, edge].mean() > 30
    perms, changed = peel_image_edges(y, nib, broken, key["block_perm"], 8)
    assert changed == 44  # every edge position (12 x 12 blocks)
    assert np.abs(decrypt(perms) - plain)[:, edge].mean() < 0.5  # measured 0.01 on the sample
    assert (perms == key["perms"]).all(axis=1).sum() >= 100 + 33  # the 100 inner keys, and 3 in 4 edge keys exact


@pytest.mark.parametrize("size,m,secret", [(32, 4, SECRET), (32, 4, POOLED_SECRET), (96, 8, SECRET)],
                         ids=["32", "32-other-key", "96"])
def test_the_true_key_is_left_alone(cifar_subset, size, m, secret):
    y, nib, key, _ = _views(cifar_subset, size, m, secret=secret)
    perms, changed = peel_image_edges(y, nib, key["perms"], key["block_perm"], m)
    assert changed == 0 and np.array_equal(perms, key["perms"])


def test_plain_nibble_d_keeps_its_holder_and_every_key_stays_a_permutation(cifar_subset):
    y, nib, key, _ = _views(cifar_subset, 96, 8)
    d = 3 * 8 * 8
    broken = _scramble_edges(key["perms"], 8, 12)
    perms, _ = peel_image_edges(y, nib, broken, key["block_perm"], 8)
    assert np.array_equal(np.argmax(perms == d, axis=1), np.argmax(broken == d, axis=1))
    assert np.array_equal(np.sort(perms, axis=1), np.broadcast_to(np.arange(2 * d), perms.shape))
    assert np.array_equal(perms >= d, broken >= d)  # which cipher nibbles are highs stays as read


def test_images_too_small_for_an_inner_block_are_returned_as_they_are(cifar_subset):
    y, nib, key, _ = _views(cifar_subset, 16, 8, n=10)
    perms, changed = peel_image_edges(y, nib, key["perms"], key["block_perm"], 8)
    assert changed == 0 and perms is key["perms"]
