"""The GAN attack's optional SIA-GAN parts (key-free augmentation, mixup, the label loss) and the labels threat model."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ppbench.attacks.base import VIEW_FIELDS, AttackerView, NotApplicableError, ThreatModel, ThreatModelError, build_view
from ppbench.attacks.gan import GAN, GANLabels, block_grid_augment, key_free_refusal
from ppbench.errors import InputError
from ppbench.schemes import create_scheme, generate_key, scheme_info

SIZE = 32
LABELLED = ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN_LABELS


_SCHEMES: dict[str, object] = {}


def _scheme(name: str, block: int = 4):
    """One scheme (with one freshly drawn key) per name for the whole module, so fits can be compared."""
    if name not in _SCHEMES:
        b = block if scheme_info(name).block_wise else None
        _SCHEMES[name] = create_scheme(name, key=generate_key(name, image_size=SIZE, block_size=b))
    return _SCHEMES[name]


def _images(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _view(tm: ThreatModel, scheme, labels: bool = False, seed: int = 3) -> AttackerView:
    imgs = _images(160)
    extra = {"victim_labels": torch.arange(96) % 10} if labels else {}
    return build_view(tm, scheme=scheme, victim_train=imgs[:96], public_images=imgs[96:],
                      generator=torch.Generator().manual_seed(seed), **extra)


def _weights(cls=GAN, scheme_name: str = "le", labels: bool = False, **options) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    attack = cls(scheme_name=scheme_name, image_size=SIZE, block_size=4, profile="smoke", **options)
    attack.fit(_view(attack.threat_model, _scheme(scheme_name), labels=labels))
    return {f"{k}.{n}": t.clone() for k, net in attack.networks().items() for n, t in net.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class TestOptionsOff:
    def test_defaults_are_off_in_every_profile(self):
        for config in GAN.default_configs.values():
            assert config["augment"] == "none" and config["mixup"] == 0.0 and "label_loss" not in config

    def test_options_off_train_bit_identically_and_each_option_changes_training(self):
        off = _weights()
        assert _same(off, _weights(augment="none", mixup=0.0))
        assert not _same(off, _weights(augment="key_free"))
        assert not _same(off, _weights(mixup=0.2))

    def test_bad_option_values_are_refused(self):
        with pytest.raises(InputError, match="augment"):
            _weights(augment="flip")
        with pytest.raises(InputError, match="mixup"):
            _weights(mixup=-1.0)
        with pytest.raises(InputError, match="label_loss"):
            GAN(scheme_name="le", image_size=SIZE, block_size=4, profile="smoke", label_loss=1.0)


class TestKeyFreeAugmentation:
    @pytest.mark.parametrize("name", ["plain", "le"])
    def test_augmenting_a_ciphertext_equals_encrypting_the_augmented_image(self, name):
        scheme, x = _scheme(name), _images(8)
        block = scheme.block_size or 1
        moved_cipher = block_grid_augment(scheme.encrypt(x), block, torch.Generator().manual_seed(5))
        moved_plain = block_grid_augment(x, block, torch.Generator().manual_seed(5))
        assert not torch.equal(moved_plain, x)
        assert torch.equal(moved_cipher, scheme.encrypt(moved_plain))
        assert key_free_refusal(name) is None

    @pytest.mark.parametrize("name", ["ele", "etc", "proposed", "pe", "pe_np"])
    def test_schemes_whose_encryption_moves_with_position_are_refused(self, name):
        scheme, x = _scheme(name), _images(8)
        block = scheme.block_size or 1
        moved_cipher = block_grid_augment(scheme.encrypt(x), block, torch.Generator().manual_seed(5))
        moved_plain = block_grid_augment(x, block, torch.Generator().manual_seed(5))
        assert not torch.equal(moved_cipher, scheme.encrypt(moved_plain))  # the refusal is needed
        assert name in key_free_refusal(name) and "augment='none'" in key_free_refusal(name)
        attack = GAN(scheme_name=name, image_size=SIZE, block_size=scheme.block_size, profile="smoke", augment="key_free")
        with pytest.raises(NotApplicableError, match="not valid for scheme"):
            attack.fit(_view(attack.threat_model, scheme))

    def test_unknown_schemes_are_refused(self):
        assert "does not know" in key_free_refusal("someone_elses_plugin")


class TestLabelsThreatModel:
    def test_it_grants_the_unpaired_model_plus_labels_and_nothing_else(self):
        base, labelled = ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN.access, LABELLED.access
        assert labelled.victim_labels and not base.victim_labels
        assert dataclasses.replace(labelled, victim_labels=False) == base
        assert [tm for tm in ThreatModel if tm.access.victim_labels] == [LABELLED]

    def test_its_view_holds_the_labels_aligned_and_lacks_what_it_does_not_grant(self):
        view = _view(LABELLED, _scheme("le"), labels=True)
        assert torch.equal(view.victim_labels, torch.arange(96) % 10)
        assert view.victim_labels.shape[0] == view.victim_ciphertexts.shape[0]
        for field, flag in VIEW_FIELDS.items():
            assert hasattr(view, field) == getattr(LABELLED.access, flag)
        with pytest.raises(ThreatModelError, match="victim_plaintexts"):
            view.victim_plaintexts

    def test_other_views_lack_labels_even_when_given(self):
        view = _view(ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN, _scheme("le"), labels=True)
        assert not hasattr(view, "victim_labels")
        with pytest.raises(ThreatModelError, match="victim_labels"):
            view.victim_labels

    def test_build_view_needs_one_label_per_victim_image(self):
        with pytest.raises(InputError, match="victim_labels="):
            _view(LABELLED, _scheme("le"))
        with pytest.raises(InputError, match="victim_labels="):
            build_view(LABELLED, scheme=_scheme("le"), victim_train=_images(4), public_images=_images(4),
                       generator=torch.Generator(), victim_labels=torch.zeros(3, dtype=torch.long))


class TestGANLabels:
    def test_it_declares_the_labels_threat_model_and_refuses_the_plain_gan_view(self):
        attack = GANLabels(scheme_name="le", image_size=SIZE, block_size=4, profile="smoke")
        assert attack.threat_model is LABELLED
        with pytest.raises(ThreatModelError, match="ciphertext_only_unpaired_plain"):
            attack.fit(_view(ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN, _scheme("le")))

    def test_the_label_loss_is_trained_and_changes_the_generator(self):
        labelled = _weights(GANLabels, labels=True)
        assert not _same(labelled, _weights())
        assert labelled.keys() == _weights().keys()  # the classifier is a training aid, not a saved network
        attack = GANLabels(scheme_name="le", image_size=SIZE, block_size=4, profile="smoke")
        attack.fit(_view(LABELLED, _scheme("le"), labels=True))
        assert attack.history[-1]["label_loss"] > 0

    def test_a_zero_label_loss_is_refused(self):
        with pytest.raises(InputError, match="label_loss must be > 0"):
            _weights(GANLabels, labels=True, label_loss=0.0)
