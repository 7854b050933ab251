"""Known-plaintext key recovery (``kpa``) on real CIFAR-10 images: exact keys where the pairs determine
them, an honest ambiguity report where they do not, and the attack's contract (threat model, checkpoint).
Every victim key comes from a fixed secret, so a failure repeats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppbench.attacks import Attack, ThreatModel, build_view, create_attack, list_attacks
from ppbench.attacks.keyrecovery.base import KeyRecovery, key_agreement, same_key
from ppbench.attacks.keyrecovery.known_plaintext import recover_key_kpa
from ppbench.attacks.keyrecovery.matching import match
from ppbench.errors import InputError
from ppbench.keys import SchemeKey
from ppbench.metrics import ssim
from ppbench.schemes import create_scheme, generate_key, list_schemes, scheme_info
from ppbench.transforms import nhwc_to_nchw, resize_uint8

#: Pairs that settle each scheme's key at 32 x 32 with block 4 (measured: docs/benchmarks.md, with margin).
ENOUGH = {"plain": 1, "pe_np": 1, "pe": 10, "proposed": 3, "le": 3, "ele": 40, "etc": 3}
#: The victims' secrets (a key is bound to its scheme and geometry by the key's labels, so one secret serves all).
SECRETS = (bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0112233445566778899aabbccddeeff00"),
           bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90aabbccddeeff00112233445566778899"))


def victim(name: str, size: int = 32, block: int = 4, secret: bytes = SECRETS[0]):
    """Scheme ``name`` under the fixed key made from ``secret``."""
    template = generate_key(name, image_size=size, block_size=block if scheme_info(name).block_wise else None)
    return create_scheme(name, key=SchemeKey(scheme=template.scheme, params=template.params, secret=secret))


@pytest.fixture(scope="module")
def test_images(cifar_subset) -> torch.Tensor:
    return nhwc_to_nchw(cifar_subset["x_test"][:200])


def test_every_scheme_has_a_solver():
    assert set(list_schemes()) <= set(ENOUGH)


@pytest.mark.parametrize("secret", SECRETS, ids=["secret0", "secret1"])
@pytest.mark.parametrize("name", sorted(ENOUGH))
def test_recovers_every_key_exactly_and_decrypts_unseen_images(name, secret, test_images):
    scheme = victim(name, secret=secret)
    plain = test_images[: ENOUGH[name]]
    recovery = recover_key_kpa(name, plain, scheme.encrypt(plain), block_size=scheme.block_size)
    assert same_key(recovery.key_material, scheme.key_material())
    assert recovery.consistent and recovery.unique
    rebuilt = create_scheme(name, key_material=recovery.key_material, image_size=32, block_size=scheme.block_size)
    unseen = test_images[100:140]
    assert torch.equal(rebuilt.decrypt(scheme.encrypt(unseen)), unseen)


@pytest.mark.parametrize("name", ["proposed", "le", "etc", "pe"])
def test_recovers_the_paper_size_224_block_16(name, test_images):
    scheme = victim(name, 224, 16)
    plain = resize_uint8(test_images[:5], 224)
    recovery = recover_key_kpa(name, plain, scheme.encrypt(plain), block_size=scheme.block_size)
    assert same_key(recovery.key_material, scheme.key_material()) and recovery.unique


class TestHonestReport:
    def test_ele_with_one_pair_reports_ambiguity_instead_of_pretending(self, test_images):
        scheme = victim("ele")
        plain = test_images[:1]
        recovery = recover_key_kpa("ele", plain, scheme.encrypt(plain), block_size=4)
        assert not recovery.unique and recovery.ambiguous["perms"] > 1000
        assert not same_key(recovery.key_material, scheme.key_material())
        rebuilt = create_scheme("ele", key_material=recovery.key_material, image_size=32, block_size=4)
        unseen = test_images[100:120]
        assert ssim(rebuilt.decrypt(scheme.encrypt(unseen)), unseen).mean() < 0.5

    def test_pe_with_one_pair_counts_grey_pixels_as_ambiguous_but_stays_consistent(self, test_images):
        scheme = victim("pe")
        plain = test_images[:1]
        recovery = recover_key_kpa("pe", plain, scheme.encrypt(plain))
        assert recovery.ambiguous["channel_perm"] > 0 and recovery.consistent

    def test_pairs_made_with_two_keys_are_reported_inconsistent(self, test_images):
        a, b = victim("proposed", secret=SECRETS[0]), victim("proposed", secret=SECRETS[1])
        plain = test_images[:4]
        cipher = torch.cat([a.encrypt(plain[:2]), b.encrypt(plain[2:])])
        recovery = recover_key_kpa("proposed", plain, cipher, block_size=4)
        assert recovery.consistent is False and recovery.notes

    def test_report_holds_no_key_material(self, test_images):
        scheme = victim("le")
        plain = test_images[:2]
        report = recover_key_kpa("le", plain, scheme.encrypt(plain), block_size=4).to_dict()
        assert "key_material" not in report and report["unique"] is True


class TestMatch:
    def test_unique_chain_is_resolved_by_propagation(self):
        consistent = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]], bool)
        perm, ambiguous, perfect = match(consistent)
        assert perm.tolist() == [0, 1, 2] and not ambiguous.any() and perfect

    def test_two_interchangeable_rows_are_ambiguous(self):
        consistent = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], bool)
        perm, ambiguous, perfect = match(consistent)
        assert sorted(perm.tolist()) == [0, 1, 2] and ambiguous.tolist() == [True, True, False] and perfect

    def test_no_consistent_matching_is_not_perfect(self):
        _, _, perfect = match(np.array([[1, 0], [1, 0]], bool))
        assert not perfect


def test_key_agreement_counts_matching_entries():
    true = {"k1": np.arange(4), "k2": np.arange(4)}
    got = {"k1": np.array([0, 1, 3, 2]), "k2": np.arange(4)}
    assert key_agreement(got, true) == {"k1": 0.5, "k2": 1.0}


def test_bad_input_is_refused(test_images):
    with pytest.raises(InputError, match="same shape"):
        recover_key_kpa("le", test_images[:2], test_images[:3], block_size=4)
    with pytest.raises(InputError, match="uint8"):
        recover_key_kpa("le", test_images[:2].float(), test_images[:2], block_size=4)


class TestAttack:
    def test_registered_with_a_named_known_plaintext_threat_model(self):
        attack = create_attack("kpa", scheme_name="le", image_size=32, block_size=4)
        assert "kpa" in list_attacks() and attack.threat_model is ThreatModel.KNOWN_PLAINTEXT
        assert "known-plaintext" in attack.info.title.lower()

    def test_fit_then_call_decrypts_exactly_and_checkpoint_keeps_the_key(self, test_images, tmp_path):
        scheme = victim("etc")
        view = build_view(ThreatModel.KNOWN_PLAINTEXT, scheme=scheme, victim_train=test_images[:5],
                          public_images=test_images[:0], generator=torch.Generator().manual_seed(0))
        attack = create_attack("kpa", scheme_name="etc", image_size=32, block_size=4).fit(view)
        unseen = test_images[100:110]
        assert torch.equal(attack(scheme.encrypt(unseen)), unseen)
        assert isinstance(attack.recovery, KeyRecovery) and attack.history[0]["epoch"] == 1
        loaded = Attack.load(attack.save(tmp_path / "kpa.pt"))
        assert same_key(loaded.key_material, scheme.key_material())
        assert torch.equal(loaded(scheme.encrypt(unseen)), unseen)
