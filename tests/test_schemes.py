"""Every registered scheme against its definition: invertibility, the independent reference, known
answers, the permutation structure the spec states, key space, device parity and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import reference
from conftest import TESTDATA
from ppbench.errors import InputError, KeyFileError
from ppbench.keys import SchemeKey
from ppbench.schemes import (
    create_scheme,
    decrypt_numpy,
    encrypt_numpy,
    generate_key,
    list_schemes,
    scheme_info,
)

ALL = list_schemes()
KEYED = [n for n in ALL if n != "plain"]
FIXED_SECRET = bytes(range(32))  # test-only key material source, never used outside tests


def sizes_for(name: str, image: int = 32, block: int = 4) -> dict:
    return {"image_size": image, "block_size": block if scheme_info(name).block_wise else None}


def make(name: str, image: int = 32, block: int = 4, secret: bytes | None = None):
    geometry = sizes_for(name, image, block)
    if secret is None:
        key = generate_key(name, **geometry)
    else:
        params = {"image_size": [image, image], **({"block_size": block} if scheme_info(name).block_wise else {})}
        key = SchemeKey(scheme=name, params=params, secret=secret)
    return create_scheme(name, key=key)


def as_batch(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


# -- exactness ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("image,block", [(32, 4), (64, 8), (16, 2)])
def test_decrypt_inverts_encrypt_on_random_images(name, image, block):
    scheme = make(name, image, block)
    x = torch.randint(0, 256, (5, 3, image, image), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(scheme.decrypt(scheme.encrypt(x)), x)


@pytest.mark.parametrize("name", ALL)
def test_decrypt_inverts_encrypt_on_real_images(name, cifar_subset):
    scheme = make(name)
    x = as_batch(cifar_subset["x_test"][:200])
    y = scheme.encrypt(x)
    assert y.dtype == torch.uint8 and y.shape == x.shape
    assert torch.equal(scheme.decrypt(y), x)


@pytest.mark.parametrize("name", KEYED)
def test_encryption_changes_real_images(name, real_images):
    x = as_batch(real_images)
    assert (make(name).encrypt(x) != x).float().mean() > 0.3


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("image,block", [(32, 4), (16, 8)])
def test_matches_the_independent_naive_reference(name, image, block, cifar_subset):
    scheme = make(name, image, block)
    images = cifar_subset["x_train"][:6, :image, :image]
    material = scheme.key_material()
    ours = encrypt_numpy(scheme, images)
    theirs = reference.encrypt_batch(name, images, material, scheme.block_size)
    assert np.array_equal(ours, theirs)
    assert np.array_equal(decrypt_numpy(scheme, ours), reference.decrypt_batch(name, theirs, material, scheme.block_size))


def test_le_matches_tanakas_published_code():
    """Ciphertexts produced by mastnk/ICCE-TW2018's BlockScramble.py (see le_tanaka_kat.md)."""
    kat = np.load(TESTDATA / "le_tanaka_kat.npz")
    scheme = create_scheme("le", key_material={"perm": kat["perm"]}, image_size=8, block_size=int(kat["block_size"]))
    assert np.array_equal(encrypt_numpy(scheme, kat["plain"]), kat["cipher"])
    assert np.array_equal(encrypt_numpy(scheme, kat["plain_batch"]), kat["cipher_batch"])
    alt = create_scheme("le", key_material={"perm": kat["perm_alt"]}, image_size=8, block_size=4)
    assert np.array_equal(encrypt_numpy(alt, kat["plain"]), kat["cipher_alt"])


# -- known answers ---------------------------------------------------------------------------------------
KAT_FILE = TESTDATA / "kat_schemes_v1.npz"


@pytest.mark.parametrize("name", ALL)
def test_known_answer_vectors(name):
    """Frozen ciphertexts of an 8x8 image under explicit key material (made by tests/reference.py)."""
    kat = np.load(KAT_FILE)
    material = {k.split("/", 1)[1]: kat[k] for k in kat.files if k.startswith(f"{name}/") and k != f"{name}/cipher"}
    scheme = create_scheme(name, key_material=material, image_size=8, block_size=4 if scheme_info(name).block_wise else None)
    assert np.array_equal(encrypt_numpy(scheme, kat["plain"]), kat[f"{name}/cipher"])
    assert np.array_equal(decrypt_numpy(scheme, kat[f"{name}/cipher"]), kat["plain"])


@pytest.mark.parametrize("name", ALL)
def test_key_derivation_is_frozen(name):
    """The same secret must give the same key material forever (format version 1)."""
    kat = np.load(KAT_FILE)
    scheme = make(name, 8, 4, secret=FIXED_SECRET)
    for array_name, array in scheme.key_material().items():
        assert np.array_equal(array, kat[f"derived/{name}/{array_name}"]), array_name


def test_known_answer_proposed_by_hand():
    """4x4 image, M = 4 (one block, K1 trivial): K2 reverses each 2x2 sub-block's pixels."""
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    scheme = create_scheme("proposed", key_material={"k1": np.array([0]), "k2": np.array([3, 2, 1, 0])}, image_size=4, block_size=4)
    out = encrypt_numpy(scheme, img)
    expected = img.copy()
    for r0 in (0, 2):
        for c0 in (0, 2):
            sub = img[r0 : r0 + 2, c0 : c0 + 2].reshape(4, 3)
            expected[r0 : r0 + 2, c0 : c0 + 2] = sub[::-1].reshape(2, 2, 3)
    assert np.array_equal(out, expected)


# -- permutation structure ---------------------------------------------------------------------------------
def position_coded(n_images: int = 2, size: int = 16) -> np.ndarray:
    """Images whose red value names the pixel (size*size <= 256); green/blue vary per image."""
    idx = np.arange(size * size, dtype=np.uint8).reshape(size, size)
    images = np.empty((n_images, size, size, 3), np.uint8)
    for i in range(n_images):
        images[i, ..., 0] = idx
        images[i, ..., 1] = idx + 17 * (i + 1)
        images[i, ..., 2] = 255 - idx - i
    return images


def source_positions(out: np.ndarray) -> np.ndarray:
    return out[..., 0].astype(int)  # red value = source pixel index


def test_proposed_structure_blocks_whole_subblock_pixels_one_k1_one_k2():
    size, m = 16, 4
    scheme = make("proposed", size, m)
    images = position_coded(3, size)
    out = encrypt_numpy(scheme, images)
    src = source_positions(out)
    k1, k2 = scheme.key_material()["k1"], scheme.key_material()["k2"]
    nb = size // m
    for i in range(len(images)):
        assert np.array_equal(src[i], src[0]), "one K1 and K2 for every image"
        # channels moved together: green and blue come from the same source pixel as red
        assert np.array_equal(out[i, ..., 1], images[i, ..., 1].ravel()[src[i].ravel()].reshape(size, size))
        assert np.array_equal(out[i, ..., 2], images[i, ..., 2].ravel()[src[i].ravel()].reshape(size, size))
    sub_perms = set()
    for block in range(nb * nb):
        r, c = divmod(block, nb)
        got = src[0, r * m : (r + 1) * m, c * m : (c + 1) * m]
        sr, sc = divmod(int(k1[block]), nb)
        # the output block is a whole input block (block k1[i]), row-major numbering
        assert set(got.ravel() // size // m * nb + got.ravel() % size // m) == {int(k1[block])}
        for q in range(4):
            qr, qc = divmod(q, 2)
            sub = got[qr * 2 : qr * 2 + 2, qc * 2 : qc * 2 + 2].ravel()
            rows, cols = sub // size - sr * m, sub % size - sc * m
            assert set(rows // 2) == {qr} and set(cols // 2) == {qc}, "pixels move only inside their sub-block"
            sub_perms.add(tuple((rows % 2) * 2 + cols % 2))
    assert sub_perms == {tuple(k2)}, "one K2 for every sub-block of every block"


def test_le_keeps_blocks_in_place_and_uses_one_key_for_all_blocks():
    scheme = make("le", 16, 4)
    x = position_coded(1, 16)[0]
    out = encrypt_numpy(scheme, x)
    for r in range(0, 16, 4):  # change one block: only that block of the ciphertext changes
        for c in range(0, 16, 4):
            y = x.copy()
            y[r : r + 4, c : c + 4] ^= 0x5A
            changed = np.argwhere((encrypt_numpy(scheme, y) != out).any(-1))
            assert changed.size and set(changed[:, 0] // 4) == {r // 4} and set(changed[:, 1] // 4) == {c // 4}
    blocks = np.zeros((16, 16, 3), np.uint8)  # the same plain block everywhere -> the same cipher block everywhere
    blocks[:] = np.tile(x[:4, :4], (4, 4, 1))
    enc = encrypt_numpy(scheme, blocks)
    assert all(np.array_equal(enc[r : r + 4, c : c + 4], enc[:4, :4]) for r in range(0, 16, 4) for c in range(0, 16, 4))


def test_ele_uses_a_key_per_block_position_then_scrambles_blocks():
    scheme = make("ele", 16, 4)
    block = position_coded(1, 16)[0, :4, :4]
    same = np.tile(block, (4, 4, 1))
    enc = encrypt_numpy(scheme, same)
    cipher_blocks = {enc[r : r + 4, c : c + 4].tobytes() for r in range(0, 16, 4) for c in range(0, 16, 4)}
    assert len(cipher_blocks) > 1, "different block positions use different keys"
    material = scheme.key_material()
    for i, p in enumerate(material["block_perm"]):  # output block i is original block p, encrypted with LE key p
        le = create_scheme("le", key_material={"perm": material["perms"][p]}, image_size=4, block_size=4)
        r, c = divmod(i, 4)
        assert np.array_equal(enc[r * 4 : r * 4 + 4, c * 4 : c * 4 + 4], encrypt_numpy(le, block))


def test_pe_keeps_pixels_in_place_and_permutes_their_channels():
    scheme = make("pe", 16)
    x = position_coded(1, 16)[0]
    out = encrypt_numpy(scheme, x).astype(int)
    mat = scheme.key_material()
    negated = np.where(mat["negate"], 255 - x.astype(int), x.astype(int))
    assert np.array_equal(out, np.take_along_axis(negated, mat["channel_perm"], axis=2))
    assert all(sorted(p) == [0, 1, 2] for p in mat["channel_perm"].reshape(-1, 3).tolist())


def test_etc_output_blocks_are_transformed_whole_input_blocks():
    scheme = make("etc", 16, 4)
    x = position_coded(1, 16)[0]
    out = encrypt_numpy(scheme, x)
    mat = scheme.key_material()
    for i, p in enumerate(mat["block_perm"]):
        pr, pc = divmod(int(p), 4)
        block = x[pr * 4 : pr * 4 + 4, pc * 4 : pc * 4 + 4]
        block = np.rot90(block, int(mat["dihedral"][p]) % 4, axes=(0, 1))
        if mat["dihedral"][p] >= 4:
            block = block[:, ::-1]
        if mat["negate"][p]:
            block = 255 - block
        block = block[..., mat["channel_perm"][p]]
        r, c = divmod(i, 4)
        assert np.array_equal(out[r * 4 : r * 4 + 4, c * 4 : c * 4 + 4], block)


# -- key space ------------------------------------------------------------------------------------------
def log2_fact(n: int) -> float:
    return sum(math.log2(k) for k in range(2, n + 1))


def test_key_space_of_proposed_at_224_block_16_is_the_papers_2_to_1511():
    scheme = create_scheme("proposed", key=generate_key("proposed", image_size=224, block_size=16))
    assert round(scheme.key_space_bits()) == 1511
    assert scheme.key_space_bits() == pytest.approx(log2_fact(196) + log2_fact(64), rel=1e-12)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("proposed", log2_fact(64) + log2_fact(4)),
        ("le", log2_fact(96)),
        ("ele", log2_fact(64) + 64 * log2_fact(96)),
        ("pe", 3 * 1024 + 1024 * math.log2(6)),
        ("pe_np", 3 * 1024),
        ("etc", log2_fact(64) + 64 * math.log2(96)),
        ("plain", 0.0),
    ],
)
def test_key_space_bits_follow_the_spec_formulas_at_32_block_4(name, expected):
    assert make(name).key_space_bits() == pytest.approx(expected, rel=1e-12)


# -- devices ----------------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("name", ALL)
def test_cpu_and_cuda_give_the_same_bytes(name, real_images):
    scheme = make(name)
    x = as_batch(real_images)
    y_cuda = scheme.encrypt(x.cuda())
    assert y_cuda.device.type == "cuda"
    assert torch.equal(y_cuda.cpu(), scheme.encrypt(x))
    assert torch.equal(scheme.decrypt(y_cuda).cpu(), x)


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", KEYED)
def test_float_and_int16_input_are_refused_naming_uint8(name):
    scheme = make(name)
    for dtype in (torch.float32, torch.int16):
        with pytest.raises(InputError, match="uint8"):
            scheme.encrypt(torch.zeros(1, 3, 32, 32, dtype=dtype))


@pytest.mark.parametrize("name", KEYED)
def test_wrong_channel_count_is_refused(name):
    with pytest.raises(InputError, match="3 channels"):
        make(name).encrypt(torch.zeros(1, 4, 32, 32, dtype=torch.uint8))


@pytest.mark.parametrize("name", [n for n in ALL if scheme_info(n).block_wise])
def test_image_size_not_divisible_by_block_is_refused_naming_the_fix(name):
    with pytest.raises(InputError, match="not divisible by the block size 4.*resize"):
        generate_key(name, image_size=30, block_size=4)


def test_proposed_refuses_an_odd_block_size():
    with pytest.raises(InputError, match="odd.*even"):
        generate_key("proposed", image_size=30, block_size=3)


@pytest.mark.parametrize("name", KEYED)
def test_images_of_another_size_than_the_key_are_refused(name):
    with pytest.raises(InputError, match="key is for 32x32"):
        make(name).encrypt(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_key_material_of_the_wrong_shape_or_not_a_permutation_is_refused():
    with pytest.raises(KeyFileError, match="shape"):
        create_scheme("proposed", key_material={"k1": np.arange(3), "k2": np.arange(4)}, image_size=8, block_size=4)
    with pytest.raises(KeyFileError, match="permutations"):
        create_scheme("proposed", key_material={"k1": np.array([0, 0, 1, 2]), "k2": np.arange(4)}, image_size=8, block_size=4)


@pytest.mark.parametrize("name", KEYED)
def test_a_scheme_without_a_key_is_refused(name):
    with pytest.raises(KeyFileError, match="needs a key"):
        create_scheme(name, image_size=32)


def test_unknown_scheme_suggests_close_names():
    with pytest.raises(KeyError, match="Did you mean 'proposed'"):
        create_scheme("propsed")


def test_metadata_names_the_adapter_le_and_ele_need():
    assert scheme_info("le").adapter == "le" and scheme_info("ele").adapter == "ele"
    assert all(scheme_info(n).adapter is None for n in ("proposed", "pe", "pe_np", "etc", "plain"))
    assert all(scheme_info(n).shared_key for n in ALL)


def test_list_schemes_takes_wildcards():
    assert list_schemes("pe*") == ["pe", "pe_np"]
    assert list_schemes("*", exclude="p*") == ["ele", "etc", "le"]
