"""The generic ciphertext-only attack ``pooled_generic``: from n ciphertexts under one key (and the attacker's own
natural images for its prior) it learns the byte map of any whole-byte member of family F without knowing the
scheme, and restores unseen ciphertexts. On the bundled CIFAR-10 sample under fixed keys, so every number here
reproduces: victim images = training images 0..999, the attacker's own = training images 1000..1999, unseen =
the first 100 test images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppbench.attacks import ThreatModel, ThreatModelError, build_view, create_attack
from ppbench.attacks.keyrecovery.topology.pixels import group_pixels
from ppbench.attacks.keyrecovery.topology.reading import ByteMap
from ppbench.attacks.keyrecovery.topology.stats import correlation, standardise, tree_polarity
from ppbench.attacks.pooled_generic import MIN_PUBLIC_IMAGES, recover_byte_map, true_byte_map
from ppbench.data import load_dataset
from ppbench.errors import InputError
from ppbench.keys import SchemeKey
from ppbench.metrics import ssim_readings
from ppbench.schemes import Scheme, create_scheme, generate_key, list_schemes, scheme_info
from ppbench.schemes import base as schemes_base
from unseen_schemes import ByteShuffle, ByteSubstitution, PixelShuffle, keyed, registered

SECRET = bytes.fromhex("686215f8825857f6aa8478e5c718ca940eecf68f7e6d0ba7dc1a308d08b7c7d4")
N = 1000
WHOLE_BYTE = [name for name in list_schemes() if not schemes_base.SCHEMES.get(name).nibbles]
NIBBLE = [name for name in list_schemes() if schemes_base.SCHEMES.get(name).nibbles]

#: Best-reading SSIM on the 100 unseen images measured with SECRET from N ciphertexts (this code, this data),
#: less a margin of 0.02 for floating-point ties that may fall differently on another machine.
MEASURED = {"plain": 0.9955, "pe_np": 0.9955, "pe": 0.9955, "proposed": 1.0, "etc": 0.9961, "test_pixel_shuffle": 1.0,
            "test_byte_shuffle": 0.9649, "test_sbox": 0.0096, "le": 0.0315, "ele": 0.0202}  # LE, ELE: for the record only (a byte map cannot express them)
MARGIN = 0.02
WHOLE_BYTE_FIT = 2.6
"""The attack's own fit score (mean neighbour distance per byte) stays below this for every whole-byte scheme here
(2.53..2.56 measured) and lands far above it for the nibble movers (5.9 LE, 6.1 ELE): it can tell it failed."""


def fixed_scheme(name: str, size: int = 32, block: int = 4) -> Scheme:
    template = generate_key(name, image_size=size, block_size=block if scheme_info(name).block_wise else None)
    return create_scheme(name, key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))


@pytest.fixture(scope="module")
def images() -> dict[str, torch.Tensor]:
    sample = load_dataset("sample")
    return {"victim": sample.x_train[:N], "public": sample.x_train[N : 2 * N], "unseen": sample.x_test[:100]}


@pytest.fixture()
def unseen():
    """The never-seen test schemes, registered for one test and removed after it, each under SECRET."""
    with registered():
        yield {cls.info.name: keyed(cls, SECRET) for cls in (PixelShuffle, ByteShuffle, ByteSubstitution)}
    assert PixelShuffle.info.name not in list_schemes()


def attack_view(scheme: Scheme, images: dict[str, torch.Tensor], public: torch.Tensor | None = None):
    return build_view(ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN, scheme=scheme, victim_train=images["victim"],
                      public_images=images["public"] if public is None else public, generator=torch.Generator().manual_seed(0))


def best_unseen_ssim(attack, scheme: Scheme, images: dict[str, torch.Tensor]) -> float:
    """Mean SSIM of the restored unseen images, read as-is, as the negative or mirrored (whichever is best)."""
    return max(float(v.mean()) for v in ssim_readings(attack(scheme.encrypt(images["unseen"])), images["unseen"]))


# -- the parts ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", WHOLE_BYTE)
def test_true_byte_map_decrypts_every_whole_byte_scheme_exactly(name, images):
    scheme = fixed_scheme(name)
    cipher = scheme.encrypt(images["unseen"][:8]).numpy()
    assert np.array_equal(true_byte_map(scheme).decrypt(cipher), images["unseen"][:8].numpy())


@pytest.mark.parametrize("name", NIBBLE)
def test_true_byte_map_refuses_a_scheme_that_moves_nibbles(name):
    with pytest.raises(InputError, match="does not move whole bytes"):
        true_byte_map(fixed_scheme(name))


def test_relative_polarity_finds_every_negated_byte_up_to_the_global_negative(images):
    scheme = fixed_scheme("pe_np")
    z = standardise(scheme.encrypt(images["victim"][:100]).numpy().reshape(100, -1))
    negated = tree_polarity(correlation(z)) < 0
    truth = true_byte_map(scheme).negate.ravel()  # pe_np keeps positions: byte j is plain value j
    assert min(int((negated != truth).sum()), int((negated == truth).sum())) == 0


def test_group_pixels_puts_the_three_channels_of_each_pixel_together(images):
    scheme = fixed_scheme("etc")
    y = scheme.encrypt(images["victim"]).numpy().reshape(N, -1)
    z = standardise(y)
    signs = tree_polarity(correlation(z))
    z *= signs
    groups = group_pixels(z, correlation(z))
    plain_of = np.empty(y.shape[1], np.int64)
    plain_of[true_byte_map(scheme).source.ravel()] = np.arange(y.shape[1])
    pixel = plain_of[groups] % (32 * 32)
    assert groups.shape == (32 * 32, 3) and np.array_equal(np.sort(groups.ravel()), np.arange(y.shape[1]))
    assert (pixel.min(axis=1) == pixel.max(axis=1)).mean() >= 0.99


def test_byte_map_transforms_compose_like_the_images_they_decode(images):
    rng = np.random.default_rng(0)
    source = rng.permutation(3 * 32 * 32).reshape(3, 32, 32)
    byte_map = ByteMap(source, rng.random((3, 32, 32)) < 0.5)
    cipher = images["unseen"][:4].numpy()
    plain = byte_map.decrypt(cipher)
    assert np.array_equal(byte_map.dihedral(1).decrypt(cipher), np.rot90(plain, 1, axes=(2, 3)))
    assert np.array_equal(byte_map.dihedral(4).decrypt(cipher), plain[:, :, :, ::-1])
    assert np.array_equal(byte_map.pixel_transform(1).decrypt(cipher), np.stack([plain[:, 0], plain[:, 1], 255 - plain[:, 2]], 1))


# -- the threat model and the attack's shape ---------------------------------------------------------------------------
def test_declares_ciphertext_only_with_the_attackers_own_images_and_reads_nothing_else(images):
    scheme = fixed_scheme("pe")
    attack = create_attack("pooled_generic", scheme_name="pe", image_size=32)
    assert attack.threat_model is ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN
    many = build_view(ThreatModel.CIPHERTEXT_ONLY_MANY, scheme=scheme, victim_train=images["victim"][:10],
                      public_images=images["public"][:0], generator=torch.Generator().manual_seed(0))
    with pytest.raises(ThreatModelError):
        attack.fit(many)
    with pytest.raises(AttributeError):
        attack_view(scheme, images).victim_plaintexts


def test_too_few_public_images_for_the_prior_is_refused_naming_the_fix(images):
    scheme = fixed_scheme("pe")
    with pytest.raises(InputError, match=f"at least {MIN_PUBLIC_IMAGES}.*pass at least {MIN_PUBLIC_IMAGES} public_images"):
        recover_byte_map(scheme.encrypt(images["victim"][:50]), images["public"][: MIN_PUBLIC_IMAGES - 1])


def test_images_larger_than_the_dense_statistics_allow_are_refused(images):
    big = torch.zeros((4, 3, 96, 96), dtype=torch.uint8)
    with pytest.raises(InputError, match="up to 64 x 64"):
        recover_byte_map(big, images["public"])


def test_checkpoint_keeps_the_byte_map(tmp_path, images):
    scheme = fixed_scheme("proposed")
    attack = create_attack("pooled_generic", scheme_name="proposed", image_size=32, block_size=4)
    truth = true_byte_map(scheme)
    attack._set_scheme({"byte_source": truth.source, "byte_negate": truth.negate})
    attack.fitted = True
    path = attack.save(tmp_path / "pooled_generic.pt")
    loaded = type(attack).load(path)
    assert np.array_equal(loaded.key_material["byte_source"], truth.source)
    assert torch.equal(loaded(scheme.encrypt(images["unseen"][:4])), images["unseen"][:4])


# -- restoring unseen ciphertexts (tens of seconds each) ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", WHOLE_BYTE)
def test_restores_unseen_ciphertexts_of_every_whole_byte_scheme(name, images):
    scheme = fixed_scheme(name)
    attack = create_attack("pooled_generic", scheme_name=name, image_size=32, block_size=scheme.block_size)
    attack.fit(attack_view(scheme, images))
    assert best_unseen_ssim(attack, scheme, images) >= MEASURED[name] - MARGIN
    assert attack.recovery.n == N and "mirror" in attack.recovery.notes[0]
    assert attack.recovery.confidence["neighbour_distance_per_byte"] < WHOLE_BYTE_FIT


@pytest.mark.slow
@pytest.mark.parametrize("name", [PixelShuffle.info.name, ByteShuffle.info.name])
def test_restores_members_of_F_written_only_in_the_tests(name, unseen, images):
    scheme = unseen[name]
    attack = create_attack("pooled_generic", scheme_name=name, image_size=32)
    attack.fit(attack_view(scheme, images))
    assert best_unseen_ssim(attack, scheme, images) >= MEASURED[name] - MARGIN


@pytest.mark.slow
def test_a_byte_substitution_outside_F_is_not_restored_and_the_fit_score_says_so(unseen, images):
    """A keyed S-box per position destroys the correlations the attack pools: nothing is restored (no break
    can be claimed from its SSIM) and its own fit score lands far above any whole-byte scheme's."""
    scheme = unseen[ByteSubstitution.info.name]
    attack = create_attack("pooled_generic", scheme_name=ByteSubstitution.info.name, image_size=32)
    attack.fit(attack_view(scheme, images))
    assert best_unseen_ssim(attack, scheme, images) < MEASURED[ByteSubstitution.info.name] + MARGIN
    assert attack.recovery.confidence["neighbour_distance_per_byte"] > WHOLE_BYTE_FIT


@pytest.mark.slow
@pytest.mark.parametrize("name", NIBBLE)
def test_nibble_movers_are_out_of_reach_and_the_attack_says_so(name, images):
    """LE and ELE move 4-bit nibbles: a cipher byte mixes two plain bytes' halves, so no byte map restores them
    (SSIM 0.03 and 0.02 measured). The record says why, and the attack's own fit score flags the failure."""
    scheme = fixed_scheme(name)
    attack = create_attack("pooled_generic", scheme_name=name, image_size=32, block_size=scheme.block_size)
    attack.fit(attack_view(scheme, images))
    assert any("nibbles" in note for note in attack.recovery.notes)
    assert attack.recovery.confidence["neighbour_distance_per_byte"] > 2 * WHOLE_BYTE_FIT
