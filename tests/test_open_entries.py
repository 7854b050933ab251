"""``open_entries``: the LE/ELE key entries that the ciphertexts cannot fix, so that "exact key" is only claimed
reachable where it is (ELE on CIFAR upscaled to 224 leaves some at every n measured, docs/benchmarks.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppbench.attacks.keyrecovery.ciphertext_only import open_entries
from ppbench.attacks.keyrecovery.geometry import block_nibbles
from ppbench.attacks.keyrecovery.solvers.tanaka import open_nibbles
from ppbench.keys import SchemeKey
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw, resize_uint8

SECRET = bytes.fromhex("0b9e4d1a7c3f2e8d5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b")


def victim(name: str, size: int, block: int):
    template = generate_key(name, image_size=size, block_size=block)
    return create_scheme(name, key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))


@pytest.fixture(scope="module")
def images(cifar_subset) -> torch.Tensor:
    return nhwc_to_nchw(cifar_subset["x_test"][:100])


def test_native_images_leave_no_ele_or_le_entry_open(images):
    for name in ("ele", "le"):
        scheme = victim(name, 32, 4)
        key = "perms" if name == "ele" else "perm"
        assert open_entries(name, scheme.encrypt(images).numpy(), scheme.key_material(), 4) == {key: 0}


def test_one_flat_image_leaves_nearly_every_le_nibble_open():
    scheme = victim("le", 32, 4)
    grey = torch.full((1, 3, 32, 32), 100, dtype=torch.uint8)
    # every high reads 6 (or 9 negated), every low 4 (or 11): all but d's holder sit in groups of equal columns
    assert open_entries("le", scheme.encrypt(grey).numpy(), scheme.key_material(), 4)["perm"] >= 2 * 48 - 1 - 4


def test_upscaled_images_leave_ele_nibbles_open_and_exchanging_them_changes_no_decryption(images):
    plain = resize_uint8(images[:20], 96)  # bicubic 3x: the clamped image edges repeat their pixels
    scheme = victim("ele", 96, 8)
    y = scheme.encrypt(plain)
    truth = scheme.key_material()
    assert open_entries("ele", y.numpy(), truth, 8)["perms"] > 0
    nib = block_nibbles(y.numpy(), 8)
    d = 3 * 8 * 8
    for cipher_pos, original in enumerate(truth["block_perm"]):
        perm = truth["perms"][original]
        highs = np.flatnonzero(perm > d)
        columns = nib[:, cipher_pos, highs].T
        _, inverse, counts = np.unique(columns, axis=0, return_inverse=True, return_counts=True)
        group = np.flatnonzero(counts[inverse.ravel()] > 1)
        if group.size:
            a = highs[group[0]]
            b = highs[group[1:]][(columns[group[1:]] == columns[group[0]]).all(axis=1)][0]
            break
    else:
        pytest.fail("no two high nibbles of one position with equal columns")
    other = {k: v.copy() for k, v in truth.items()}
    other["perms"][original, [a, b]] = other["perms"][original, [b, a]]  # exchange the two holders' plain slots
    rebuilt = create_scheme("ele", key_material=other, image_size=96, block_size=8)
    assert not np.array_equal(other["perms"], truth["perms"])
    assert torch.equal(rebuilt.decrypt(y), plain)  # no ciphertext seen tells the two keys apart
    assert open_entries("ele", y.numpy(), other, 8) == open_entries("ele", y.numpy(), truth, 8)


def test_plain_nibble_d_holder_is_never_counted_open():
    d = 3  # M = 1: one pixel, three channels; cipher nibble k holds plain nibble perms[k]
    perms = np.array([[3, 4, 5, 0, 1, 2]])  # cipher 0 holds d (the first high), 1 and 2 the other highs
    same = np.array([[[7, 7, 9, 1, 2, 3]]])  # d's holder and cipher 1 equal: moving d would flip signs
    assert open_nibbles(same, perms).tolist() == [0]
    assert open_nibbles(np.array([[[7, 9, 9, 1, 2, 3]]]), perms).tolist() == [2]  # two other highs: open
    assert open_nibbles(np.array([[[7, 9, 8, 1, 1, 1]]]), perms).tolist() == [3]  # three equal lows: open


def test_other_schemes_count_nothing(images):
    scheme = victim("proposed", 32, 4)
    assert open_entries("proposed", scheme.encrypt(images[:2]).numpy(), scheme.key_material(), 4) == {}


def test_known_plaintext_leaves_open_exactly_the_entries_counted(images):
    """kpa's matcher counts what the pairs leave open by its own route; on upscaled images the two counts agree
    (measured at 224 x 224 too: 1,419 from 200 pairs, 82 from 1,000)."""
    from ppbench.attacks.keyrecovery.known_plaintext import recover_key_kpa

    plain = resize_uint8(images[:20], 96)
    scheme = victim("ele", 96, 8)
    y = scheme.encrypt(plain)
    recovery = recover_key_kpa("ele", plain, y, block_size=8)
    open_ = open_entries("ele", y.numpy(), scheme.key_material(), 8)["perms"]
    assert open_ > 0 and recovery.ambiguous["perms"] == open_ and recovery.consistent
