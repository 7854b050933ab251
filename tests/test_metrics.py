"""ppbench.metrics against scikit-image, image by image, on real CIFAR-10 images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ppbench.metrics import SSIM_PRESETS, psnr, ssim, ssim_config, summarize, to_uint8

# The scikit-image arguments each preset reproduces (besides channel_axis=-1 and data_range).
SKIMAGE_ARGS = {
    "skimage": {},
    "gaussian": {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False},
}
TOL = 1e-5


def nchw(a: np.ndarray) -> torch.Tensor:
    """NHWC numpy images -> NCHW tensor (same dtype)."""
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)


def skimage_ssim(a: np.ndarray, b: np.ndarray, preset: str, data_range: float = 255.0) -> np.ndarray:
    return np.array(
        [
            structural_similarity(a[i], b[i], channel_axis=-1, data_range=data_range, **SKIMAGE_ARGS[preset])
            for i in range(len(a))
        ]
    )


def noisy(a: np.ndarray, sigma: float = 20.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(a + rng.normal(0.0, sigma, a.shape)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def other_images(cifar_subset) -> np.ndarray:
    """Sixteen real images different from ``real_images`` (training split)."""
    return cifar_subset["x_train"][:16]


@pytest.fixture(scope="module")
def large_images(cifar_subset) -> np.ndarray:
    """Six real test images upsampled to 224x224 (bicubic, rounded and clamped to uint8), NHWC."""
    x = torch.from_numpy(cifar_subset["x_test"][16:22]).permute(0, 3, 1, 2).double()
    up = F.interpolate(x, size=(224, 224), mode="bicubic", align_corners=False)
    return up.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


# --- SSIM equals scikit-image ----------------------------------------------------------------


@pytest.mark.parametrize("preset", list(SSIM_PRESETS))
def test_ssim_matches_skimage_on_different_real_images_32(real_images, other_images, preset):
    expected = skimage_ssim(real_images, other_images, preset)
    got = ssim(nchw(real_images), nchw(other_images), preset=preset)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("preset", list(SSIM_PRESETS))
def test_ssim_matches_skimage_on_image_vs_noisy_image_32(real_images, preset):
    degraded = noisy(real_images)
    expected = skimage_ssim(real_images, degraded, preset)
    got = ssim(nchw(real_images), nchw(degraded), preset=preset)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("preset", list(SSIM_PRESETS))
def test_ssim_matches_skimage_on_different_real_images_224(large_images, preset):
    a, b = large_images[:3], large_images[3:]
    expected = skimage_ssim(a, b, preset)
    got = ssim(nchw(a), nchw(b), preset=preset)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("preset", list(SSIM_PRESETS))
def test_ssim_matches_skimage_on_image_vs_noisy_image_224(large_images, preset):
    a = large_images[:3]
    degraded = noisy(a, seed=1)
    expected = skimage_ssim(a, degraded, preset)
    got = ssim(nchw(a), nchw(degraded), preset=preset)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL)


def test_ssim_of_float64_input_equals_ssim_of_uint8_input(real_images, other_images):
    expected = ssim(nchw(real_images), nchw(other_images))
    got = ssim(nchw(real_images).double(), nchw(other_images).double())
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_ssim_returns_float64_vector_of_one_value_per_image(real_images, other_images):
    got = ssim(nchw(real_images), nchw(other_images))
    assert got.dtype == torch.float64
    assert got.shape == (len(real_images),)


def test_empty_batch_gives_empty_results():
    x = torch.zeros(0, 3, 32, 32, dtype=torch.uint8)
    assert ssim(x, x).shape == (0,)
    assert psnr(x, x).shape == (0,)


def test_ssim_does_not_depend_on_chunk_size(real_images, other_images):
    x, y = nchw(real_images), nchw(other_images)
    torch.testing.assert_close(ssim(x, y, chunk_size=3), ssim(x, y, chunk_size=1000), rtol=0, atol=1e-12)


def test_ssim_and_psnr_accept_tensors_that_require_grad(real_images, other_images):
    x = nchw(real_images).double().requires_grad_()
    y = nchw(other_images).double()
    torch.testing.assert_close(ssim(x, y), ssim(x.detach(), y), rtol=0, atol=0)
    torch.testing.assert_close(psnr(x, y), psnr(x.detach(), y), rtol=0, atol=0)


@pytest.mark.parametrize("preset", list(SSIM_PRESETS))
def test_ssim_of_image_with_itself_is_one(real_images, preset):
    x = nchw(real_images)
    torch.testing.assert_close(ssim(x, x, preset=preset), torch.ones(len(x), dtype=torch.float64))


def test_ssim_of_constant_image_vs_real_image_is_near_zero(real_images):
    # Black, so that both the luminance and the structure term are small. (A mid-grey image scores
    # up to ~0.3 against images with large flat areas: SSIM stays high where both are flat.)
    x = nchw(real_images)
    constant = torch.zeros_like(x)
    assert (ssim(constant, x) < 0.1).all()


@pytest.mark.parametrize("preset", list(SSIM_PRESETS))
def test_ssim_uses_declared_data_range_not_the_data(real_images, other_images, preset):
    # Halving both images as floats with data_range still 255 changes SSIM (the constants C1, C2
    # weigh twice as much relative to the data) exactly as scikit-image does with the same range.
    a = real_images.astype(np.float64) * 0.5
    b = other_images.astype(np.float64) * 0.5
    expected = skimage_ssim(a, b, preset, data_range=255.0)
    got = ssim(nchw(a), nchw(b), data_range=255.0, preset=preset)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL)
    unscaled = ssim(nchw(real_images), nchw(other_images), preset=preset)
    assert not torch.allclose(got, unscaled, rtol=0, atol=1e-3)


def test_ssim_config_records_preset_and_declared_data_range():
    config = ssim_config("gaussian", data_range=1.0)
    assert config["preset"] == "gaussian"
    assert config["data_range"] == 1.0
    assert config["win_size"] == 11 and config["sigma"] == 1.5 and config["covariance"] == "population"
    assert SSIM_PRESETS["gaussian"]["data_range"] == 255.0  # the preset itself is untouched


# --- PSNR ------------------------------------------------------------------------------------


def test_psnr_matches_skimage_on_real_images(real_images, other_images):
    degraded = noisy(real_images)
    for b in (other_images, degraded):
        expected = [peak_signal_noise_ratio(real_images[i], b[i], data_range=255) for i in range(len(b))]
        got = psnr(nchw(real_images), nchw(b))
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=0)


def test_psnr_of_identical_images_is_inf_as_in_skimage(real_images):
    with np.errstate(divide="ignore"):
        expected = peak_signal_noise_ratio(real_images[0], real_images[0], data_range=255)
    assert expected == math.inf
    got = psnr(nchw(real_images), nchw(real_images))
    assert torch.isinf(got).all() and (got > 0).all()


# --- to_uint8 --------------------------------------------------------------------------------


def test_to_uint8_maps_minus_one_zero_one_to_0_128_255():
    # 0 -> 127.5, which rounds half to even -> 128.
    got = to_uint8(torch.tensor([-1.0, 0.0, 1.0]))
    assert got.dtype == torch.uint8
    assert got.tolist() == [0, 128, 255]


def test_to_uint8_rounds_half_to_even():
    # Float64 outputs whose pixel value (t * 0.5 + 0.5) * 255 is exactly k + 0.5.
    outputs = torch.tensor([0.0, -0.007843137254901988, 0.988235294117647], dtype=torch.float64)
    assert ((outputs * 0.5 + 0.5) * 255).tolist() == [127.5, 126.5, 253.5]
    assert to_uint8(outputs).tolist() == [128, 126, 254]


def test_to_uint8_clamps_out_of_range_outputs():
    assert to_uint8(torch.tensor([-3.0, -1.01, 1.01, 7.0])).tolist() == [0, 0, 255, 255]


def test_to_uint8_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(torch.tensor([0.0, float("nan")]))


def test_to_uint8_rejects_integer_input():
    with pytest.raises(TypeError, match="float"):
        to_uint8(torch.zeros(3, dtype=torch.uint8))


# --- summarize -------------------------------------------------------------------------------


def test_summarize_gives_mean_median_population_std_and_count():
    s = summarize(torch.tensor([1.0, 2.0, 3.0, 10.0], dtype=torch.float64))
    assert s == {"mean": 4.0, "median": 2.5, "std": pytest.approx(np.std([1, 2, 3, 10])), "n": 4}
    assert type(s["mean"]) is float and type(s["n"]) is int


def test_summarize_rejects_empty_input():
    with pytest.raises(ValueError, match="no values"):
        summarize([])


# --- errors ----------------------------------------------------------------------------------


def test_shape_mismatch_raises(real_images):
    x = nchw(real_images)
    with pytest.raises(ValueError, match="same shape"):
        ssim(x, x[:, :, :16])
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, x[:2])


def test_non_4d_input_raises(real_images):
    x = nchw(real_images)
    with pytest.raises(ValueError, match=r"4-D \(N, C, H, W\)"):
        ssim(x[0], x[0])
    with pytest.raises(ValueError, match=r"4-D \(N, C, H, W\)"):
        psnr(x[0], x[0])


def test_numpy_input_raises_with_conversion_hint(real_images):
    with pytest.raises(TypeError, match="permute"):
        ssim(real_images, real_images)


def test_unknown_preset_raises_and_suggests_close_match(real_images):
    x = nchw(real_images)
    with pytest.raises(ValueError, match="unknown SSIM preset 'gausian'.*'gaussian'"):
        ssim(x, x, preset="gausian")


def test_image_smaller_than_window_raises():
    x = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="smaller than the 11x11 window"):
        ssim(x, x, preset="gaussian")


@pytest.mark.parametrize("bad", [0, -255, float("nan"), float("inf")])
def test_non_positive_or_non_finite_data_range_raises(real_images, bad):
    x = nchw(real_images)
    with pytest.raises(ValueError, match="data_range"):
        ssim(x, x, data_range=bad)


def test_ssim_readings_score_a_negative_and_a_mirror_image_as_the_image_itself(real_images):
    from ppbench.metrics import ssim_readings

    x = torch.from_numpy(real_images[:4]).permute(0, 3, 1, 2).contiguous()  # NCHW uint8
    as_is, inverted, mirrored = ssim_readings(255 - x, x)
    assert torch.allclose(inverted, torch.ones(4, dtype=inverted.dtype)) and (as_is < 0.5).all()
    as_is, inverted, mirrored = ssim_readings(x.flip(-1), x)
    assert torch.allclose(mirrored, torch.ones(4, dtype=mirrored.dtype))
    assert torch.equal(as_is, ssim(x.flip(-1), x))
