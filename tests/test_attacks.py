"""The attack registry and every attack's contract, parametrised over the registry (smoke sizes, real images).

A new attack registered in ``ppbench.attacks`` is tested here the moment it exists: metadata and
threat model, docstring sections, repr, fit + call on real CIFAR-10 images, the view it is given, input
checks, checkpoints. Then behaviour specific to FR / FR-adv and the SIA-GAN networks.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ppbench.attacks import (
    Access,
    Attack,
    AttackerView,
    ThreatModel,
    ThreatModelError,
    attack_info,
    build_view,
    create_attack,
    list_attacks,
    KeySource,
)
from ppbench.attacks.base import VIEW_FIELDS
from ppbench.attacks.blocknet import BlockNet
from ppbench.attacks.fr import candidates, fold
from ppbench.attacks.siagan_net import BlockwiseConv, SIAGANGenerator
from ppbench.attacks.unet import UNet
from ppbench.errors import InputError, PPBenchError
from ppbench.metrics import ssim
from ppbench.registry import UnknownNameError
from ppbench.schemes import create_scheme, generate_key, scheme_info
from ppbench.transforms import nhwc_to_nchw

ALL = list_attacks()
TRAINABLE = [n for n in ALL if attack_info(n).trainable]
SCHEME, SIZE, BLOCK = "le", 32, 4


@pytest.fixture(scope="module")
def images(cifar_subset) -> dict[str, torch.Tensor]:
    return {"train": nhwc_to_nchw(cifar_subset["x_train"][:64]), "test": nhwc_to_nchw(cifar_subset["x_test"][:16]),
            "train_labels": torch.as_tensor(cifar_subset["y_train"][:64])}


@pytest.fixture(scope="module")
def victim():
    return create_scheme(SCHEME, key=generate_key(SCHEME, image_size=SIZE, block_size=BLOCK))


def target(name: str) -> tuple[str, int | None]:
    """The scheme (and block size) an attack's contract tests run on: LE/M4, or the first it supports."""
    info = attack_info(name)
    scheme = SCHEME if info.supports(SCHEME) else info.schemes[0]
    return scheme, (BLOCK if scheme_info(scheme).block_wise else None)


def make_view(threat_model, victim, images, seed: int = 0, secret: bytes | None = None) -> AttackerView:
    return build_view(threat_model, scheme=victim, victim_train=images["train"][:32],
                      public_images=images["train"][32:], generator=torch.Generator().manual_seed(seed),
                      key_source=KeySource(secret), victim_labels=images["train_labels"][:32])


def smoke(name: str, **overrides) -> Attack:
    scheme, block = target(name)
    return create_attack(name, scheme_name=scheme, image_size=SIZE, block_size=block, profile="smoke", **overrides)


@pytest.fixture(scope="module")
def victims() -> dict[str, object]:
    """One victim scheme (with its key) per scheme name the registered attacks are tested on."""
    out = {}
    for name in ALL:
        scheme, block = target(name)
        if scheme not in out:
            out[scheme] = create_scheme(scheme, key=generate_key(scheme, image_size=SIZE, block_size=block), block_size=block)
    return out


@pytest.fixture(scope="module")
def fitted(victims, images) -> dict[str, Attack]:
    """Every attack at smoke size, fitted once on its own view (shared by the contract tests)."""
    out = {}
    for name in ALL:
        torch.manual_seed(0)
        attack = smoke(name)
        out[name] = attack.fit(make_view(attack.threat_model, victims[attack.scheme_name], images))
    return out


# -- registry ----------------------------------------------------------------------------------------------
class TestRegistry:
    def test_every_attack_module_is_registered_on_import(self):
        assert {"fr", "fr_adv", "gan", "itn", "itn_unet"} <= set(ALL)

    def test_unknown_attack_name_suggests_close_matches(self):
        with pytest.raises(UnknownNameError, match="itn"):
            create_attack("itm", scheme_name=SCHEME, image_size=SIZE)

    def test_list_attacks_filters_with_wildcards_and_sorts(self):
        assert list_attacks("itn*") == ["itn", "itn_unet"]
        assert list_attacks("fr*") == ["fr", "fr_adv"]

    def test_none_overrides_keep_the_profile_defaults(self):
        attack = create_attack("itn", scheme_name=SCHEME, image_size=SIZE, block_size=BLOCK, epochs=None)
        assert attack.config["epochs"] == type(attack).default_configs["cpu"]["epochs"]

    def test_overrides_replace_defaults(self):
        assert smoke("gan", epochs=7, lr_g=1e-3).config["epochs"] == 7

    def test_unknown_option_is_refused_listing_the_options(self):
        with pytest.raises(InputError, match="epochs"):
            smoke("itn", epoch=3)

    def test_unknown_profile_is_refused(self):
        with pytest.raises(InputError, match="profile"):
            create_attack("itn", scheme_name=SCHEME, image_size=SIZE, profile="huge")

    def test_every_profile_has_the_same_options(self):
        for name in ALL:
            configs = type(smoke(name)).default_configs  # on the attack's own target scheme (not every attack covers LE)
            assert {tuple(sorted(c)) for c in configs.values()} == {tuple(sorted(configs["smoke"]))}, name


# -- the contract every attack keeps ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
class TestContract:
    def test_info_declares_a_machine_readable_threat_model(self, name):
        info = attack_info(name)
        assert isinstance(info.threat_model, ThreatModel)
        assert info.name == name and info.title and info.paper and info.url.startswith("https://")
        assert info.to_dict()["threat_model"] == info.threat_model.value

    def test_no_attack_holds_the_victims_key_and_known_plaintext_is_named(self, name):
        info = attack_info(name)
        assert not info.threat_model.access.victim_key
        if info.threat_model.access.victim_plaintexts:
            assert "known-plaintext" in info.title.lower()

    def test_docstring_has_paper_threat_model_arguments_shapes_and_example(self, name):
        doc = type(smoke(name)).__doc__
        for section in ("Paper:", "Threat model:", "Arguments", "Shapes:", "Example::"):
            assert section in doc, f"{name} docstring lacks {section!r}"

    def test_repr_prints_every_hyperparameter(self, name):
        attack = smoke(name)
        text = repr(attack)
        assert all(f"{k}=" in text for k in attack.config)

    def test_fit_then_call_restores_uint8_images_of_the_input_shape(self, name, fitted, victims, images):
        attack = fitted[name]
        ciphertexts = victims[attack.scheme_name].encrypt(images["test"])
        restored = attack(ciphertexts)
        assert restored.dtype == torch.uint8 and restored.shape == ciphertexts.shape
        assert restored.device == ciphertexts.device
        assert attack.train_seconds >= 0 and attack.fitted

    def test_view_lacks_every_field_its_threat_model_does_not_grant(self, name, victims, images):
        view = make_view(attack_info(name).threat_model, victims[target(name)[0]], images)
        access = view.threat_model.access
        for field, flag in VIEW_FIELDS.items():
            if getattr(access, flag):
                assert hasattr(view, field)
            else:
                assert not hasattr(view, field)
                with pytest.raises(ThreatModelError, match=field):
                    getattr(view, field)

    def test_fit_refuses_a_view_built_for_another_threat_model(self, name, victims, images):
        other = next(tm for tm in ThreatModel if tm is not attack_info(name).threat_model)
        with pytest.raises(ThreatModelError):
            smoke(name).fit(make_view(other, victims[target(name)[0]], images))

    def test_call_refuses_float_input_and_the_wrong_size(self, name, fitted):
        attack = fitted[name]
        with pytest.raises(InputError, match="uint8"):
            attack(torch.zeros(1, 3, SIZE, SIZE))
        with pytest.raises(InputError, match="built for"):
            attack(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))


@pytest.mark.parametrize("name", TRAINABLE)
class TestTrainable:
    def test_calling_before_fit_raises(self, name):
        with pytest.raises(PPBenchError, match="not trained"):
            smoke(name)(torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8))

    def test_fit_records_time_and_one_history_row_per_epoch(self, name, fitted):
        attack = fitted[name]
        assert attack.train_seconds > 0
        assert [row["epoch"] for row in attack.history] == list(range(1, attack.config["epochs"] + 1))

    def test_checkpoint_roundtrip_restores_identical_outputs(self, name, fitted, victims, images, tmp_path):
        attack = fitted[name]
        path = attack.save(tmp_path / f"{name}.pt")
        loaded = Attack.load(path)
        assert type(loaded) is type(attack) and loaded.config == attack.config
        ciphertexts = victims[attack.scheme_name].encrypt(images["test"][:4])
        assert torch.equal(loaded(ciphertexts), attack(ciphertexts))


# -- threat models and the attacker's view -----------------------------------------------------------------------
class TestThreatModel:
    def test_ciphertext_only_view_holds_no_plaintexts_keys_or_ciphertexts(self, victim, images):
        view = make_view(ThreatModel.CIPHERTEXT_ONLY, victim, images)
        assert view.fields == []
        for field in ("victim_scheme", "victim_plaintexts", "public_images", "victim_ciphertexts", "new_scheme"):
            with pytest.raises(ThreatModelError, match="ciphertext_only"):
                getattr(view, field)

    def test_only_known_key_grants_the_key_and_only_known_plaintext_the_plaintexts(self):
        for tm in ThreatModel:
            assert tm.access.victim_key == (tm is ThreatModel.KNOWN_KEY)
            assert tm.access.victim_plaintexts == (tm is ThreatModel.KNOWN_PLAINTEXT)

    def test_view_refuses_data_its_threat_model_does_not_grant(self, victim):
        with pytest.raises(ThreatModelError, match="does not grant"):
            AttackerView(ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS, scheme_name=SCHEME, image_size=SIZE, block_size=BLOCK,
                         generator=torch.Generator(), public_images=torch.zeros(1), new_scheme=lambda: None,
                         victim_scheme=victim)

    def test_build_view_never_encrypts_with_the_victim_key_for_an_own_keys_attacker(self, victim, images):
        class Spy:
            info, image_size, block_size = victim.info, victim.image_size, victim.block_size

            def encrypt(self, x):
                raise AssertionError("the victim key was used")

        view = build_view(ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS, scheme=Spy(), victim_train=images["train"],
                          public_images=images["train"], generator=torch.Generator().manual_seed(0))
        assert set(view.fields) == {"public_images", "new_scheme"}

    def test_own_keys_view_encrypts_each_image_with_a_fresh_key(self, victim, images):
        view = make_view(ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS, victim, images)
        same = images["test"][:1].repeat(4, 1, 1, 1)
        ciphertexts = view.encrypt_with_fresh_keys(same)
        assert len({bytes(c.numpy().tobytes()) for c in ciphertexts}) == 4
        assert not torch.equal(ciphertexts[:1], victim.encrypt(same[:1]))

    def test_own_keys_are_reproducible_from_a_kept_secret_and_fresh_otherwise(self, victim, images):
        x = images["test"][:3]
        secret = bytes(range(32))  # test-only: a run keeps its CSPRNG attacker secret to repeat itself
        a = make_view(ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS, victim, images, secret=secret).encrypt_with_fresh_keys(x)
        b = make_view(ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS, victim, images, secret=secret).encrypt_with_fresh_keys(x)
        c = make_view(ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS, victim, images).encrypt_with_fresh_keys(x)
        assert torch.equal(a, b) and not torch.equal(a, c)

    def test_parse_normalises_names_and_rejects_unknown_ones(self):
        assert ThreatModel.parse("Ciphertext_Only") is ThreatModel.CIPHERTEXT_ONLY
        with pytest.raises(InputError, match="known"):
            ThreatModel.parse("adaptive_chosen_ciphertext")

    def test_access_is_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            Access().victim_key = True  # type: ignore[misc]


# -- FR and FR-adv ---------------------------------------------------------------------------------------------
def fr(name: str, scheme: str = "pe_np") -> Attack:
    return create_attack(name, scheme_name=scheme, image_size=SIZE, block_size=BLOCK if scheme == "proposed" else None)


class TestFR:
    def test_fr_on_pe_np_ciphertexts_equals_the_fold_of_the_plain_image(self, images):
        x = images["test"]
        scheme = create_scheme("pe_np", key=generate_key("pe_np", image_size=SIZE))
        assert torch.equal(fr("fr")(scheme.encrypt(x)), fold(x))

    def test_fr_restores_pe_np_far_above_the_ciphertext_baseline(self, images):
        x = images["test"]
        c = create_scheme("pe_np", key=generate_key("pe_np", image_size=SIZE)).encrypt(x)
        assert ssim(fr("fr")(c), x).mean() > ssim(c, x).mean() + 0.15

    def test_fr_does_nothing_against_a_pure_permutation(self, images):
        x = images["test"]
        scheme = create_scheme("proposed", key=generate_key("proposed", image_size=SIZE, block_size=BLOCK))
        c = scheme.encrypt(x)
        restored = fr("fr", "proposed")(c)
        assert torch.equal(restored, scheme.encrypt(fold(x)))  # it only folds values, in place
        assert ssim(restored, x).mean() < ssim(c, x).mean() + 0.05

    def test_fr_adv_inverts_pe_up_to_one_global_channel_order_on_a_smooth_dark_image(self):
        i, j = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
        # smooth (steps <= 1), every value <= 127, channels >= 30 apart everywhere: the truth is always nearest
        x = torch.stack([5 + i // 2, 50 + j // 2, 100 + (i + j) // 4]).to(torch.uint8)[None]
        for _ in range(3):  # three fresh PE keys
            scheme = KeySource().new_scheme("pe", SIZE, None)
            restored = fr("fr_adv", "pe")(scheme.encrypt(x))
            # the start pixel's order is unknown to a ciphertext-only attacker: one global order remains
            assert any(torch.equal(restored, x[:, list(p)]) for p in itertools.permutations(range(3)))

    def test_fr_adv_restores_pe_above_the_ciphertext_baseline(self, images):
        x = images["test"]
        key = KeySource(bytes(32)).new_key("pe", SIZE, None)
        c = create_scheme("pe", key=key).encrypt(x)
        assert ssim(fr("fr_adv", "pe")(c), x).mean() > ssim(c, x).mean() + 0.05

    def test_fr_adv_treats_every_image_of_a_batch_alone(self, images):
        c = create_scheme("pe", key=generate_key("pe", image_size=SIZE)).encrypt(images["test"][:4])
        attack = fr("fr_adv", "pe")
        batch = attack(c)
        assert all(torch.equal(batch[k : k + 1], attack(c[k : k + 1])) for k in range(4))

    def test_fr_adv_candidates_follow_the_authors_order(self):
        x = torch.tensor([10, 20, 30], dtype=torch.uint8).view(1, 3, 1, 1)
        cand = candidates(x)[0, :, :, 0, 0]
        assert cand.shape == (48, 3)
        assert cand[0].tolist() == [10, 20, 30]  # identity order, nothing negated
        assert cand[1].tolist() == [10, 20, 225]  # pattern 1 negates the third channel
        assert cand[4].tolist() == [245, 20, 30]  # pattern 4 negates the first channel
        assert cand[8].tolist() == [10, 30, 20]  # second order: (0, 2, 1)
        assert cand[47].tolist() == [225, 235, 245]  # order (2, 1, 0), all negated


# -- networks -----------------------------------------------------------------------------------------------------
class TestNetworks:
    def test_blockwise_conv_equals_one_convolution_per_block_position(self):
        torch.manual_seed(0)
        conv = BlockwiseConv(3, 8, block_size=4, num_blocks=4).eval()
        x = torch.randn(2, 3, 8, 8)
        weight = conv.normalized_weight().view(4, 8, 3, 4, 4)
        expected = torch.empty(2, 8, 2, 2)
        for b in range(4):
            r, c = divmod(b, 2)
            expected[:, :, r, c] = F.conv2d(x[:, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4], weight[b])[:, :, 0, 0]
        torch.testing.assert_close(conv(x), expected)

    def test_blockwise_conv_is_spectrally_normalised_per_block(self):
        torch.manual_seed(0)
        conv = BlockwiseConv(3, 8, block_size=2, num_blocks=3)
        for _ in range(30):  # power iterations converge in training mode
            w = conv.normalized_weight()
        assert torch.allclose(torch.linalg.matrix_norm(w, ord=2), torch.ones(3), atol=1e-3)

    def test_block_layers_use_kernel_and_stride_of_the_block_size_at_m16(self):
        net = BlockNet(16)
        first = net.main[0]
        assert first.kernel_size == (16, 16) and first.stride == (16, 16)
        assert any(isinstance(m, torch.nn.PixelShuffle) and m.upscale_factor == 16 for m in net.modules())
        gen = SIAGANGenerator(block_size=16, image_size=32, feature_channels=2, width=4)
        assert gen.adaptation.conv.block_size == 16 and gen.adaptation.shuffle.upscale_factor == 16
        assert gen(torch.zeros(2, 3, 32, 32)).shape == (2, 3, 32, 32)

    def test_gan_trains_with_the_paper_networks_and_hinge_loss(self, victim, images):
        attack = smoke("gan", generator="siagan", discriminator="sngan", loss="hinge", batch_size=16,
                       feature_channels=4, decoder_width=8, d_width=32, init="default")
        attack.fit(make_view(attack.threat_model, victim, images))
        assert attack(victim.encrypt(images["test"][:2])).shape == (2, 3, SIZE, SIZE)

    def test_itn_paper_key_handling_fixed_pairs_with_flips(self, victim, images):
        attack = smoke("itn_unet", key_refresh="once", hflip=True, milestones=(1,))
        attack.fit(make_view(attack.threat_model, victim, images))
        assert attack.history and attack(victim.encrypt(images["test"][:2])).dtype == torch.uint8

    def test_pixel_wise_schemes_get_the_1x1_network(self):
        attack = create_attack("itn", scheme_name="pe", image_size=SIZE, profile="smoke")
        assert all(m.kernel_size == (1, 1) for m in attack.network.modules() if isinstance(m, torch.nn.Conv2d))

    def test_unet_keeps_the_resolution(self):
        assert UNet(width=4, depth=3)(torch.zeros(2, 3, 32, 32)).shape == (2, 3, 32, 32)
        with pytest.raises(ValueError, match="divisible"):
            UNet(width=4, depth=3)(torch.zeros(1, 3, 20, 20))


def test_attack_moves_to_another_device_after_construction(fitted, victim, images):
    attack = fitted["itn"].to("cpu")
    assert attack.device == torch.device("cpu")
    out = attack(victim.encrypt(images["test"][:2]))
    assert out.device.type == "cpu" and np.asarray(out).dtype == np.uint8


def _tensors_of(attack) -> dict[str, torch.Tensor]:
    """Every tensor an attack holds: its networks' parameters and buffers, and tensors kept as attributes."""
    found = {f"{net_name}.{name}": t for net_name, net in attack.networks().items()
             for name, t in itertools.chain(net.named_parameters(), net.named_buffers())}
    found.update({name: t for name, t in vars(attack).items() if isinstance(t, torch.Tensor)})
    return found


@pytest.mark.parametrize("name", [n for n in list_attacks() if attack_info(n).trainable])
@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_moving_an_attack_moves_every_tensor_it_holds(name, profile):
    """The meta device holds no data, so a tensor ``to`` forgets stays visibly behind on the CPU."""
    scheme, block = target(name)
    attack = create_attack(name, scheme_name=scheme, image_size=SIZE, block_size=block, profile=profile)
    tensors = _tensors_of(attack.to("meta"))
    assert attack.device == torch.device("meta")
    left_behind = [k for k, t in tensors.items() if t.device.type != "meta"]
    assert not left_behind, f"{name} kept {left_behind} off the target device"
