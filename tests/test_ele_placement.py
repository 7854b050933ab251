"""``pooled``'s placement of ELE's blocks (attacks/keyrecovery/solvers/tanaka.py): blocks decrypted in place with
right nibble keys go back to their true order, which is what placing the blocks again after the re-read relies on
(the first placement reads blocks the in-block reading left rough). Real CIFAR-10 images upscaled to 96 x 96, and
native 32 x 32 ones end to end."""

from __future__ import annotations

import numpy as np
import pytest

from ppbench.attacks.keyrecovery.base import same_key
from ppbench.attacks.keyrecovery.ciphertext_only import recover_key_pooled
from ppbench.attacks.keyrecovery.solvers import tanaka
from ppbench.attacks.keyrecovery.solvers.tanaka import _by_original, _place
from ppbench.keys import SchemeKey
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw, resize_uint8

SECRET = bytes.fromhex("1f2e3d4c5b6a79880f1e2d3c4b5a6978e1d2c3b4a5968778695a4b3c2d1e0f00")


def test_refined_keys_put_an_exchanged_pair_of_blocks_back(cifar_subset):
    plain = resize_uint8(nhwc_to_nchw(cifar_subset["x_train"][:60]), 96)
    template = generate_key("ele", image_size=96, block_size=8)
    scheme = create_scheme("ele", key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))
    y = scheme.encrypt(plain).numpy()
    key = scheme.key_material()
    at_cipher = key["perms"][key["block_perm"]]  # cipher block i's nibble key
    wrong = key["block_perm"].copy()
    wrong[[3, 40]] = wrong[[40, 3]]  # a first placement that exchanged two blocks
    keys_under_wrong = _by_original(at_cipher, wrong)
    assert not np.array_equal(keys_under_wrong, key["perms"])
    again, solution = _place(y, keys_under_wrong[wrong], 8)  # what pooled_ele does after re-reading
    assert np.array_equal(again, key["block_perm"]) and np.array_equal(_by_original(at_cipher, again), key["perms"])
    assert solution.buddy_fraction > 0.9


@pytest.mark.slow  # about 10-20 s
def test_a_first_placement_that_exchanged_two_blocks_is_put_right_before_the_later_steps(cifar_subset, monkeypatch):
    template = generate_key("ele", image_size=32, block_size=4)
    scheme = create_scheme("ele", key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))
    y = scheme.encrypt(nhwc_to_nchw(cifar_subset["x_train"][:200]))
    calls = {"place": 0, "refine": 0}
    place, refine = tanaka._place, tanaka._refine

    def first_one_wrong(*args):
        order, solution = place(*args)
        calls["place"] += 1
        if calls["place"] == 1:  # as the first placement did for three of five fresh 224 keys
            order = order.copy()
            order[[3, 40]] = order[[40, 3]]
        return order, solution

    def counted(*args):
        calls["refine"] += 1
        return refine(*args)

    rounds_read = []
    reread = tanaka.reread_assembled

    def reread_counted(*args, rounds=None):
        rounds_read.append(rounds)
        return reread(*args, rounds=rounds)

    monkeypatch.setattr(tanaka, "_place", first_one_wrong)
    monkeypatch.setattr(tanaka, "_refine", counted)
    monkeypatch.setattr(tanaka, "reread_assembled", reread_counted)
    recovery = recover_key_pooled("ele", y, block_size=4)
    assert same_key(recovery.key_material, scheme.key_material())
    assert recovery.confidence["blocks_moved_by_placing_again"] == 2 / 64
    # placed after the reading, the re-read's first round (which puts the pair right), the re-read, the refinement;
    # refined once
    assert calls == {"place": 4, "refine": 1}
    assert rounds_read[:2] == [1, None]  # one round, then the whole re-read from the reading under the new order
