"""Every registered scheme is in family F: once its key is fixed, a permutation of the 24 H W bit positions
plus a fixed XOR mask, the same for every image.

For each scheme (a fixed key at 32 x 32, block 4 where block-wise, and ``proposed`` at 224 x 224, block 16)
the bit map is read by probing the encryption with chosen images (the all-zero image gives the mask, then
ceil(log2(24 H W)) binary-coded images spell each cipher bit's source index: ``ppbench.attacks.bitmap.probe``)
and then checked against the scheme itself:

- the decoded sources are a permutation of the bit positions, and ``encrypt(x) == bitmap(x) XOR mask`` bit for
  bit on uniformly random images and on real CIFAR-10 images (so the map is the scheme, not a fit to the probes);
  the scheme's ``decrypt`` equals the map's inverse on the same ciphertexts;
- the unit moved: for LE and ELE every aligned 4-bit group (nibble) of the ciphertext is one whole nibble of
  the plain image in bit order, the mask of each nibble is 0 or 15 (negation), and the map is *not* a byte
  map (some cipher byte takes its two nibbles from different plain bytes or in swapped order); for every
  other scheme every cipher byte is one whole plain byte in bit order and the mask of each byte is 0 or 255.

A keyed byte substitution per position (outside F) is the negative control: probing finds no map that
reproduces it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ppbench.attacks.bitmap import BitMap, bit_count, probe, probe_count, verify
from ppbench.keys import SchemeKey
from ppbench.schemes import create_scheme, generate_key, list_schemes, scheme_info
from ppbench.transforms import nhwc_to_nchw, resize_uint8

SECRET = bytes.fromhex("3f1c9a2e7b5d40e88c16a2f9d3b7045e6a1f2c8d9e0b3a4c5d6e7f8091a2b3c4")
NIBBLE_MOVERS = {"le", "ele"}
CASES = [(name, 32, 4) for name in list_schemes()] + [("proposed", 224, 16)]


def fixed_scheme(name: str, size: int, block: int):
    """Scheme ``name`` under a fixed key (the secret is bound to scheme and geometry by the key's labels)."""
    template = generate_key(name, image_size=size, block_size=block if scheme_info(name).block_wise else None)
    return create_scheme(name, key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))


@pytest.fixture(scope="module")
def natural(cifar_subset) -> torch.Tensor:
    return nhwc_to_nchw(cifar_subset["x_test"][:16])


def _id(case: tuple[str, int, int]) -> str:
    return f"{case[0]}-{case[1]}"


@pytest.fixture(scope="module", params=CASES, ids=_id)
def probed(request):
    """(scheme, its probed bit map, the images the probe used)."""
    name, size, block = request.param
    scheme = fixed_scheme(name, size, block)
    used = []

    def counted(x: torch.Tensor) -> torch.Tensor:
        used.append(x.shape[0])
        return scheme.encrypt(x)

    return scheme, probe(counted, size), sum(used)


def test_probe_asks_for_ceil_log2_of_the_bit_positions_plus_one_images(probed):
    scheme, _, used = probed
    size = scheme.image_size[0]
    assert used == probe_count(size) + 1 == math.ceil(math.log2(24 * size * size)) + 1


def test_every_scheme_is_a_bit_permutation_plus_a_fixed_mask(probed, natural):
    scheme, bitmap, _ = probed
    size = scheme.image_size[0]
    assert bitmap is not None, f"{scheme.info.name}: the probes decode to no permutation of the bit positions"
    assert bitmap.is_permutation() and bitmap.size == bit_count(size)
    random = torch.randint(0, 256, (8, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    images = torch.cat([random, natural if size == 32 else resize_uint8(natural[:4], size)])
    cipher = scheme.encrypt(images)
    assert torch.equal(bitmap.apply(images), cipher)
    assert torch.equal(bitmap.decrypt(cipher), images)
    assert torch.equal(scheme.decrypt(cipher), bitmap.decrypt(cipher))


def test_le_and_ele_move_nibbles_and_every_other_scheme_whole_bytes(probed):
    scheme, bitmap, _ = probed
    name = scheme.info.name
    if name in NIBBLE_MOVERS:
        assert bitmap.moves(4) and not bitmap.moves(8) and bitmap.unit == 4
        assert set(np.unique(bitmap.unit_masks(4)).tolist()) <= {0, 15}
    else:
        assert bitmap.moves(8) and bitmap.unit == 8
        assert set(np.unique(bitmap.unit_masks(8)).tolist()) <= {0, 255}
    if name == "plain":
        assert bitmap == BitMap.identity(bitmap.shape)


def test_a_keyed_byte_substitution_per_position_is_not_in_f():
    """The negative control: a random S-box per byte position; probing plus verification must reject it."""
    rng = np.random.default_rng(7)
    boxes = np.argsort(rng.random((3 * 32 * 32, 256)), axis=1).astype(np.uint8)

    def substitute(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1).numpy().astype(np.int64)
        return torch.from_numpy(boxes[np.arange(flat.shape[1]), flat]).reshape(x.shape)

    found = probe(substitute, 32)
    assert found is None or not verify(found, substitute, 2, torch.Generator().manual_seed(0))
