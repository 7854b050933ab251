"""The single-image jigsaw attack ``jigsaw`` (Chuman & Kiya 2023): its contract (ciphertext only, one image at a
time, ``proposed`` only), the paper's placement scores Dc / Nc / Lc on known cases, MGC on a known seam, and its
measured performance on real CIFAR-10 test images under a fixed key (so every number here reproduces)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppbench.attacks import NotApplicableError, ThreatModel, ThreatModelError, build_view, create_attack
from ppbench.attacks.jigsaw import jigsaw_metrics, mgc_dissimilarity, true_block_order
from ppbench.attacks.keyrecovery.geometry import from_sub_pixels, sub_pixels, to_blocks
from ppbench.errors import InputError
from ppbench.keys import SchemeKey
from ppbench.metrics import ssim_readings
from ppbench.schemes import Scheme, create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw, resize_uint8

SECRET = bytes.fromhex("686215f8825857f6aa8478e5c718ca940eecf68f7e6d0ba7dc1a308d08b7c7d4")
#: Measured with SECRET on the first 16 CIFAR-10 test images at 32/M4 (profile cpu): best-reading SSIM 0.3757,
#: Dc 0.3037, Nc 0.4777, Lc 0.4326; and on the first 4 upscaled to 224/M16: SSIM 1.0000, Dc 0.9974, Nc 0.9966.
#: The bounds below are these values less 0.02 (floating-point ties may fall differently on another machine).
MARGIN = 0.02


def fixed_scheme(size: int, block: int) -> Scheme:
    template = generate_key("proposed", image_size=size, block_size=block)
    return create_scheme("proposed", key=SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET))


@pytest.fixture(scope="module")
def plain(cifar_subset) -> torch.Tensor:
    return nhwc_to_nchw(cifar_subset["x_test"][:16])


def attack(size: int = 32, block: int = 4, profile: str = "cpu"):
    return create_attack("jigsaw", scheme_name="proposed", image_size=size, block_size=block, profile=profile)


def mean_scores(orders: np.ndarray, truth: np.ndarray, grid: tuple[int, int]) -> dict[str, float]:
    rows = [jigsaw_metrics(o, truth, grid) for o in orders]
    return {k: float(np.mean([r[k] for r in rows])) for k in ("Dc", "Nc", "Lc")}


# -- contract ------------------------------------------------------------------------------------------------------------
def test_declares_ciphertext_only_and_refuses_any_other_view(plain):
    scheme = fixed_scheme(32, 4)
    a = attack(profile="smoke")
    assert a.threat_model is ThreatModel.CIPHERTEXT_ONLY and not a.info.trainable
    other = build_view(ThreatModel.CIPHERTEXT_ONLY_MANY, scheme=scheme, victim_train=plain[:4],
                       public_images=plain[:0], generator=torch.Generator().manual_seed(0))
    with pytest.raises(ThreatModelError):
        a.fit(other)


def test_covers_only_proposed_and_needs_the_block_size():
    with pytest.raises(NotApplicableError, match="proposed"):
        create_attack("jigsaw", scheme_name="etc", image_size=32, block_size=4)
    with pytest.raises(InputError, match="block_size"):
        create_attack("jigsaw", scheme_name="proposed", image_size=32)


def test_restores_uint8_images_and_exposes_one_block_order_per_image(plain):
    a = attack(profile="smoke")
    cipher = fixed_scheme(32, 4).encrypt(plain[:3])
    restored = a(cipher)
    assert restored.dtype == torch.uint8 and restored.shape == cipher.shape
    assert a.last_orders.shape == (3, 64) and len(a.last_seconds) == 3 == len(a.last_confidence)
    assert all(np.array_equal(np.sort(o), np.arange(64)) for o in a.last_orders)


def test_each_image_is_restored_on_its_own(plain):
    cipher = fixed_scheme(32, 4).encrypt(plain[:4])
    a = attack(profile="smoke")
    together = a(cipher)
    alone = torch.cat([a(cipher[i : i + 1]) for i in range(4)])
    assert torch.equal(together, alone)


def test_true_block_order_with_the_true_pixel_order_decrypts_exactly(plain):
    scheme = fixed_scheme(32, 4)
    key = scheme.key_material()
    cells = sub_pixels(to_blocks(scheme.encrypt(plain[:2]).numpy(), 4))  # (2, 64, 4, 4, 3)
    blocks = from_sub_pixels(cells[..., np.argsort(key["k2"]), :], 4)[:, true_block_order(key["k1"])]
    restored = blocks.reshape(2, 8, 8, 3, 4, 4).transpose(0, 3, 1, 4, 2, 5).reshape(2, 3, 32, 32)
    assert np.array_equal(restored, plain[:2].numpy())


# -- the paper's scores ------------------------------------------------------------------------------------------------
def test_metrics_of_the_true_placement_are_all_one():
    truth = np.random.default_rng(0).permutation(12)
    assert jigsaw_metrics(truth, truth, (3, 4)) == {"Dc": 1.0, "Nc": 1.0, "Lc": 1.0}


def test_metrics_of_one_swap_on_a_2x2_grid():
    # true 0 1 / 2 3; recovered 1 0 / 2 3: two pieces in place; of the 4 true pairs only (2 right of... 3) survives
    assert jigsaw_metrics(np.array([1, 0, 2, 3]), np.arange(4), (2, 2)) == {"Dc": 0.5, "Nc": 0.25, "Lc": 0.5}


def test_metrics_of_a_shifted_row_keep_neighbours_but_not_positions():
    scores = jigsaw_metrics(np.array([2, 0, 1]), np.arange(3), (1, 3))
    assert scores == {"Dc": 0.0, "Nc": 0.5, "Lc": pytest.approx(2 / 3)}


def test_metrics_refuse_orders_that_are_not_placements():
    with pytest.raises(InputError, match="same 4 pieces"):
        jigsaw_metrics(np.array([0, 0, 1, 2]), np.arange(4), (2, 2))
    with pytest.raises(InputError, match="same 6 pieces"):
        jigsaw_metrics(np.arange(4), np.arange(4), (2, 3))


# -- MGC -------------------------------------------------------------------------------------------------------------------
def test_mgc_scores_a_seam_that_continues_the_edge_gradients_at_zero():
    ramp = np.broadcast_to(np.arange(8, dtype=np.float64) * 10 + np.arange(3)[:, None, None], (3, 4, 8))
    left, right = ramp[..., :4], ramp[..., 4:]  # one horizontal ramp cut in two blocks
    cost = mgc_dissimilarity(np.stack([left, right]))
    assert cost.shape == (4, 2, 2, 1)
    assert cost[0, 0, 1, 0] == pytest.approx(0.0, abs=1e-9)  # right block right of the left one: the ramp goes on
    assert cost[0, 1, 0, 0] > 1.0 and cost[2, 1, 0, 0] == pytest.approx(0.0, abs=1e-9)  # the reverse seam breaks it


# -- measured performance (fixed key, real images) ----------------------------------------------------------------------
@pytest.mark.slow
def test_restores_cifar_at_32_m4_as_measured(plain):
    scheme = fixed_scheme(32, 4)
    a = attack()
    restored = a(scheme.encrypt(plain))
    best = max(float(s.mean()) for s in ssim_readings(restored, plain))
    scores = mean_scores(a.last_orders, true_block_order(scheme.key_material()["k1"]), (8, 8))
    assert best >= 0.3757 - MARGIN
    assert scores["Dc"] >= 0.3037 - MARGIN and scores["Nc"] >= 0.4777 - MARGIN and scores["Lc"] >= 0.4326 - MARGIN


@pytest.mark.slow
def test_restores_upscaled_cifar_at_224_m16_as_measured(plain):
    scheme = fixed_scheme(224, 16)
    x = resize_uint8(plain[:4], 224)
    a = attack(224, 16)
    restored = a(scheme.encrypt(x))
    best = max(float(s.mean()) for s in ssim_readings(restored, x))
    scores = mean_scores(a.last_orders, true_block_order(scheme.key_material()["k1"]), (14, 14))
    assert best >= 1.0 - MARGIN and scores["Dc"] >= 0.9974 - MARGIN and scores["Nc"] >= 0.9966 - MARGIN
