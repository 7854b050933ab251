"""The generic attacks on family F (``kpa_generic``: known plaintext, ``cpa_generic``: chosen plaintext), which
know nothing of the scheme: exact against every registered scheme under a fixed key, exact against an F member
ppbench has never seen (written here, registered only for the test, exposing no key material), and "not in F,
no break claimed" against a keyed byte substitution. Plus the chosen-plaintext threat model, enforced like the
others."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppbench.attack_eval import evaluate_attacks
from ppbench.attacks import Attack, AttackerView, ThreatModel, ThreatModelError, build_view, create_attack
from ppbench.attacks.base import VIEW_FIELDS
from ppbench.attacks.bitmap import BitMap, bit_count, probe
from ppbench.attacks.cpa_generic import chosen_images_needed
from ppbench.attacks.kpa_generic import NO_CLAIM_VALUE, recover_bitmap_kpa
from ppbench.attacks.oracle import EncryptionOracle
from ppbench.curve import ciphertexts_to_break, smallest_exact_n, sweep_key_recovery
from ppbench.errors import InputError
from ppbench.keys import SchemeKey
from ppbench.reports.security import DEFAULT_SSIM_THRESHOLD
from ppbench.schemes import Scheme, create_scheme, generate_key, list_schemes, scheme_info
from ppbench.transforms import nhwc_to_nchw, resize_uint8
from unseen_schemes import ByteSubstitution, HiddenPixelShuffle as UnseenInF, keyed, registered

SECRET = bytes.fromhex("9b4e1f0a7c3d52e6b8a9f01d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4")
N_PAIRS = 64
"""Pairs that settle every registered scheme's bit map at 32 x 32 on these images (measured with this key:
ELE from 30, LE from 21, the byte movers from 17, PE-NP and plain from 1: see test_smallest_n_...)."""
CURVE_NS = (1, 2, 5, 10, 20, 50, 100)


def fixed_scheme(name: str, size: int = 32, block: int = 4):
    template = generate_key(name, image_size=size, block_size=block if scheme_info(name).block_wise else None)
    return create_scheme(name, key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))


@pytest.fixture(scope="module")
def images(cifar_subset) -> dict[str, torch.Tensor]:
    x = nhwc_to_nchw(cifar_subset["x_test"][:500])
    return {"known": x[:100], "unseen": x[400:500], "train": nhwc_to_nchw(cifar_subset["x_train"][:100])}


def kpa_view(scheme, plain: torch.Tensor) -> AttackerView:
    return build_view(ThreatModel.KNOWN_PLAINTEXT, scheme=scheme, victim_train=plain, public_images=plain[:0],
                      generator=torch.Generator().manual_seed(0))


def cpa_view(scheme) -> AttackerView:
    empty = torch.zeros((0, 3, *scheme.image_size), dtype=torch.uint8)
    return build_view(ThreatModel.CHOSEN_PLAINTEXT, scheme=scheme, victim_train=empty, public_images=empty,
                      generator=torch.Generator().manual_seed(0))


def generic(name: str, scheme) -> Attack:
    return create_attack(name, scheme_name=scheme.info.name, image_size=scheme.image_size[0], block_size=scheme.block_size)


@pytest.fixture(scope="module")
def test_schemes():
    """Both test schemes registered for this module only, each under a fixed key; unregistered afterwards."""
    with registered(UnseenInF, ByteSubstitution):
        yield {cls.info.name: keyed(cls, SECRET) for cls in (UnseenInF, ByteSubstitution)}
    assert UnseenInF.info.name not in list_schemes()


# -- kpa_generic -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_schemes())
def test_kpa_generic_recovers_every_registered_scheme_exactly_and_decrypts_unseen_images(name, images):
    scheme = fixed_scheme(name)
    attack = generic("kpa_generic", scheme).fit(kpa_view(scheme, images["known"][:N_PAIRS]))
    assert attack.in_family and attack.recovery.consistent
    assert BitMap.from_key_material(attack.key_material, 32) == probe(scheme.encrypt, 32)
    assert torch.equal(attack(scheme.encrypt(images["unseen"])), images["unseen"])


@pytest.mark.parametrize("name", list_schemes())
def test_smallest_n_the_curve_reports_is_where_the_map_first_becomes_exact(name, images):
    """The n-curve's exact_key for a generic attack compares the recovered map with the victim's probed map;
    checked here against recovering at every grid n by hand. The break level (SSIM) comes no later."""
    scheme = fixed_scheme(name)
    rows = sweep_key_recovery("kpa_generic", victim=scheme, attacker_plain=images["known"], eval_plain=images["unseen"][:16],
                              ns=CURVE_NS)
    truth = probe(scheme.encrypt, 32)
    by_hand = [n for n in CURVE_NS
               if BitMap.from_key_material(recover_bitmap_kpa(images["known"][:n], scheme.encrypt(images["known"][:n])).key_material, 32) == truth]
    assert [r["exact_key"] for r in rows] == [n in by_hand for n in CURVE_NS]
    exact = smallest_exact_n(rows)
    assert exact is not None and exact <= N_PAIRS and exact == min(by_hand)
    assert ciphertexts_to_break(rows) is not None and ciphertexts_to_break(rows) <= exact
    assert all(r["ssim_mean"] == pytest.approx(1.0) for r in rows if r["exact_key"])


def test_kpa_generic_reports_ambiguity_when_the_pairs_are_too_few(images):
    scheme = fixed_scheme("proposed")
    plain = images["known"][:5]  # 5 bits per column: at most 16 classes for 24,576 bit positions
    recovery = recover_bitmap_kpa(plain, scheme.encrypt(plain), prior=False)
    assert recovery.in_family and recovery.consistent and not recovery.unique
    assert recovery.ambiguous["src"] == bit_count(32)
    assert BitMap.from_key_material(recovery.key_material, 32) != probe(scheme.encrypt, 32)


def test_checkpoint_keeps_the_map_and_the_family_verdict(images, test_schemes, tmp_path):
    scheme = test_schemes["test_sbox"]
    attack = generic("kpa_generic", scheme).fit(kpa_view(scheme, images["known"][:N_PAIRS]))
    loaded = Attack.load(attack.save(tmp_path / "kpa_generic.pt"))
    assert loaded.in_family is False and np.array_equal(loaded.key_material["src"], attack.key_material["src"])
    scheme = fixed_scheme("ele")
    attack = generic("kpa_generic", scheme).fit(kpa_view(scheme, images["known"][:N_PAIRS]))
    loaded = Attack.load(attack.save(tmp_path / "kpa_generic_ele.pt"))
    assert loaded.in_family and torch.equal(loaded(scheme.encrypt(images["unseen"])), images["unseen"])


# -- cpa_generic ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_schemes())
def test_cpa_generic_recovers_every_registered_scheme_from_log2_bits_plus_one_chosen_images(name, images):
    scheme = fixed_scheme(name)
    view = cpa_view(scheme)
    attack = generic("cpa_generic", scheme).fit(view)
    assert attack.in_family and attack.chosen_images == view.encryption_oracle.queries == chosen_images_needed(32)
    assert chosen_images_needed(32) == 1 + 15 + 2  # all-zero + ceil(log2(24 * 32 * 32)) coded + 2 verification
    assert BitMap.from_key_material(attack.key_material, 32) == probe(scheme.encrypt, 32)
    assert torch.equal(attack(scheme.encrypt(images["unseen"])), images["unseen"])
    assert attack.record_fields() == {"in_family": True, "ambiguous_bits": 0, "chosen_images": 18}


# -- schemes ppbench has never seen ---------------------------------------------------------------------------------
@pytest.mark.parametrize("attack_name", ["kpa_generic", "cpa_generic"])
def test_an_unseen_member_of_f_that_hides_its_key_is_broken_exactly(attack_name, test_schemes, images):
    scheme = test_schemes["test_unseen_f"]
    view = kpa_view(scheme, images["known"][:N_PAIRS]) if attack_name == "kpa_generic" else cpa_view(scheme)
    attack = generic(attack_name, scheme).fit(view)
    assert attack.in_family and BitMap.from_key_material(attack.key_material, 32).unit == 8
    assert torch.equal(attack(scheme.encrypt(images["unseen"])), images["unseen"])


@pytest.mark.parametrize("attack_name", ["kpa_generic", "cpa_generic"])
def test_a_keyed_byte_substitution_is_not_in_f_and_no_break_is_claimed(attack_name, test_schemes, images):
    scheme = test_schemes["test_sbox"]
    view = kpa_view(scheme, images["known"][:N_PAIRS]) if attack_name == "kpa_generic" else cpa_view(scheme)
    attack = generic(attack_name, scheme).fit(view)
    assert attack.in_family is False and attack.recovery.in_family is False
    assert any(note.startswith("not in F") for note in attack.recovery.notes)
    assert attack.recovery.to_dict()["in_family"] is False
    restored = attack(scheme.encrypt(images["unseen"][:8]))
    assert bool((restored == NO_CLAIM_VALUE).all())
    if attack_name == "kpa_generic":
        assert attack.recovery.unmatched_bits > 0 and attack.recovery.consistent is False


def test_the_evaluator_records_in_family_and_broken_for_both_test_schemes(test_schemes, images, tmp_path):
    """Run through the evaluator (what `ppbench run --attack ...` does): in F, broken with SSIM 1 and the pairs and
    chosen images recorded; outside F, in_family false and broken false however the SSIM came out."""
    args = dict(train_images=images["train"], test_images=images["unseen"][:16], image_size=32, profile="smoke",
                n_images=16, device=torch.device("cpu"), seed=0)
    inside = evaluate_attacks(["kpa_generic", "cpa_generic"], scheme=test_schemes["test_unseen_f"],
                              out_dir=tmp_path / "in", **args)["attacks"]
    for name in ("kpa_generic", "cpa_generic"):
        assert inside[name]["in_family"] is True and inside[name]["broken"] is True
        assert inside[name]["ssim_mean"] == pytest.approx(1.0)
    assert inside["cpa_generic"]["chosen_images"] == 18 and inside["cpa_generic"]["threat_model"] == "chosen_plaintext"
    assert inside["kpa_generic"]["ciphertexts_to_break"] is not None and inside["kpa_generic"]["smallest_exact_n"] <= N_PAIRS
    outside = evaluate_attacks(["kpa_generic", "cpa_generic"], scheme=test_schemes["test_sbox"],
                               out_dir=tmp_path / "out", **args)["attacks"]
    for name in ("kpa_generic", "cpa_generic"):
        assert outside[name]["in_family"] is False and outside[name]["broken"] is False
        assert outside[name]["ssim_mean"] < DEFAULT_SSIM_THRESHOLD  # the grey "no claim" image: a secure verdict
    assert outside["kpa_generic"]["ciphertexts_to_break"] is None


# -- the chosen-plaintext threat model ---------------------------------------------------------------------------------
class TestChosenPlaintext:
    def test_the_view_grants_only_the_encryption_oracle(self):
        scheme = fixed_scheme("pe")
        view = cpa_view(scheme)
        assert view.fields == ["encryption_oracle"] and isinstance(view.encryption_oracle, EncryptionOracle)
        for field in VIEW_FIELDS:
            if field != "encryption_oracle":
                assert not hasattr(view, field)
                with pytest.raises(ThreatModelError, match="chosen_plaintext"):
                    getattr(view, field)

    def test_the_view_refuses_the_victims_key_or_plaintexts(self):
        scheme = fixed_scheme("pe")
        oracle = EncryptionOracle(scheme.encrypt, 32)
        for extra in ({"victim_scheme": scheme}, {"victim_plaintexts": torch.zeros(1, 3, 32, 32, dtype=torch.uint8)}):
            with pytest.raises(ThreatModelError, match="does not grant"):
                AttackerView(ThreatModel.CHOSEN_PLAINTEXT, scheme_name="pe", image_size=32, block_size=None,
                             generator=torch.Generator(), encryption_oracle=oracle, **extra)

    def test_only_chosen_plaintext_grants_an_oracle(self):
        for tm in ThreatModel:
            assert tm.access.encryption_oracle == (tm is ThreatModel.CHOSEN_PLAINTEXT)
        assert ThreatModel.parse("chosen_plaintext") is ThreatModel.CHOSEN_PLAINTEXT

    def test_the_oracle_returns_only_ciphertexts_and_counts_them(self, images):
        scheme = fixed_scheme("etc")
        oracle = cpa_view(scheme).encryption_oracle
        x = images["unseen"][:3]
        kept = x.clone()
        out = oracle(x)
        assert type(out) is torch.Tensor and out.dtype == torch.uint8 and torch.equal(out, scheme.encrypt(x))
        assert torch.equal(x, kept) and oracle.queries == 3
        assert {a for a in dir(oracle) if not a.startswith("_")} == {"image_size", "queries"}
        for attribute in ("scheme", "key", "key_material", "decrypt", "encrypt", "victim_scheme"):
            assert not hasattr(oracle, attribute)
        assert not any(isinstance(getattr(oracle, a), Scheme) for a in ("image_size", "queries"))

    def test_the_oracle_refuses_what_is_not_an_image_batch_of_its_size(self):
        oracle = cpa_view(fixed_scheme("pe")).encryption_oracle
        with pytest.raises(InputError, match="uint8"):
            oracle(torch.zeros(1, 3, 32, 32))
        with pytest.raises(InputError, match="32x32"):
            oracle(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
        assert oracle.queries == 0


# -- the paper's size ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_both_generic_attacks_at_224_block_16_on_proposed(cifar_subset):
    scheme = fixed_scheme("proposed", 224, 16)
    x = resize_uint8(nhwc_to_nchw(cifar_subset["x_test"][:300]), 224)
    known, unseen = x[:200], x[200:240]
    cpa = generic("cpa_generic", scheme).fit(cpa_view(scheme))
    assert cpa.in_family and cpa.chosen_images == chosen_images_needed(224) == 1 + 21 + 2
    assert torch.equal(cpa(scheme.encrypt(unseen)), unseen)
    kpa = generic("kpa_generic", scheme).fit(kpa_view(scheme, known))
    assert kpa.in_family and kpa.recovery.consistent
    restored = kpa(scheme.encrypt(unseen))
    assert float((restored == unseen).float().mean()) > 0.999
