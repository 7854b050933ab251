"""The key solvers' view of where values go is the schemes' own: blocks, sub-blocks, LE's nibbles and
derived mask, EtC's 96 block transforms, each checked against what the scheme's encryption does to an
image; and the jigsaw's segment search joins cells only through mutual best matches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppbench.attacks.keyrecovery.base import CHANNEL_ORDERS
from ppbench.attacks.keyrecovery.geometry import (
    block_nibbles,
    from_blocks,
    from_sub_pixels,
    le_negated,
    sub_pixels,
    to_blocks,
)
from ppbench.attacks.keyrecovery.jigsaw import Jigsaw
from ppbench.attacks.keyrecovery.solvers.etc import etc_transforms
from ppbench.schemes import create_scheme


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (3, 3, 32, 48), dtype=np.uint8)


def encrypt(name: str, material: dict[str, np.ndarray], x: np.ndarray, m: int) -> np.ndarray:
    scheme = create_scheme(name, key_material=material, image_size=x.shape[2:], block_size=m)
    return scheme.encrypt(torch.from_numpy(x)).numpy()


def test_blocks_are_numbered_as_the_schemes_scramble_them_and_round_trip(images):
    m, k1 = 8, np.random.default_rng(1).permutation(24)
    y = encrypt("proposed", {"k1": k1, "k2": np.arange(16)}, images, m)
    assert np.array_equal(to_blocks(y, m), to_blocks(images, m)[:, k1])
    assert np.array_equal(from_blocks(to_blocks(images, m), 32, 48), images)


def test_sub_pixels_are_what_proposed_shuffles_with_k2(images):
    m, k2 = 8, np.random.default_rng(2).permutation(16)
    y = encrypt("proposed", {"k1": np.arange(24), "k2": k2}, images, m)
    plain = sub_pixels(to_blocks(images, m))  # (n, N, 4, S, C)
    assert np.array_equal(sub_pixels(to_blocks(y, m)), plain[..., k2, :])
    assert np.array_equal(from_sub_pixels(plain, m), to_blocks(images, m))


def test_block_nibbles_and_the_derived_negation_describe_le(images):
    m, perm = 4, np.random.default_rng(3).permutation(96)
    y = encrypt("le", {"perm": perm}, images, m)
    v, w = block_nibbles(images, m), block_nibbles(y, m)  # (n, N, 2d)
    assert np.array_equal(w, np.where(le_negated(perm), 15 - v[..., perm], v[..., perm]))


def test_etc_transforms_are_the_schemes_own_block_transforms(images):
    m = 4
    index, negate, params = etc_transforms(m)
    flat = to_blocks(images, m).reshape(3, 96, -1)
    for t in range(96):
        material = {"block_perm": np.arange(96), "dihedral": np.full(96, params[t, 0]),
                    "negate": np.full(96, bool(params[t, 1])), "channel_perm": np.tile(CHANNEL_ORDERS[params[t, 2]], (96, 1))}
        moved = flat[:, :, index[t]]
        expected = 255 - moved if negate[t] else moved
        assert np.array_equal(to_blocks(encrypt("etc", material, images, m), m).reshape(3, 96, -1), expected), t


class _Links(Jigsaw):
    """A jigsaw whose mutual-best-match links are given (right, down per cell), for the segment search alone."""

    def __init__(self, links: np.ndarray) -> None:
        self.rows, self.cols = links.shape[:2]
        self.links = links

    def buddies(self, pieces: np.ndarray, orient: np.ndarray) -> np.ndarray:
        return self.links


def test_largest_segment_follows_links_not_adjacency_and_breaks_ties_row_major():
    links = np.zeros((3, 3, 2), bool)
    links[0, 0, 0] = links[0, 1, 0] = links[0, 2, 1] = True  # (0,0)-(0,1)-(0,2) and (0,2) down to (1,2)
    links[2, 0, 0] = links[2, 1, 0] = links[1, 0, 1] = True  # (2,0)-(2,1)-(2,2) and (1,0) down to (2,0)
    pieces = np.arange(9).reshape(3, 3)
    segment = _Links(links).largest_segment(pieces, np.zeros((3, 3), np.int64))
    assert list(segment) == [(0, 0), (0, 1), (0, 2), (1, 2)]  # two segments of 4 (never joined at (1,2)-(2,2)): the first
    assert segment[(1, 2)] == (5, 0)
