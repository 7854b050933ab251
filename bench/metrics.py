"""Image-quality metrics for attack results: batched SSIM and PSNR, the uint8 mapping, summaries.

The papers ppbench reproduces score reconstructions with scikit-image's ``structural_similarity``
on uint8 H x W x 3 images, one call per image; torch SSIM libraries use other windows, covariances
and border handling, which is why published SSIM figures disagree. This module computes exactly
scikit-image's numbers (to about 1e-12; tested to 1e-5), but for a whole batch at once on the
input's device: float64 throughout, a separable "valid" filter (no padding) over the stack
``[x, y, x*x, y*y, x*y]``, the declared data range (never inferred from the data), no clamping of
variances, and per image the mean over the valid SSIM map, then over channels. Each preset's exact
settings are in ``SSIM_PRESETS`` so that every result record can say which SSIM it holds.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

__all__ = ["SSIM_PRESETS", "psnr", "ssim", "ssim_config", "ssim_readings", "summarize", "to_uint8"]

#: Exact settings of each SSIM preset; ``reference`` is the scikit-image call it reproduces.
#: ``data_range`` is the default; ``ssim_config`` gives the settings with the range actually used.
SSIM_PRESETS: dict[str, dict[str, Any]] = {
    "skimage": {
        "window": "uniform",
        "win_size": 7,
        "sigma": None,
        "truncate": None,
        "K1": 0.01,
        "K2": 0.03,
        "covariance": "sample",
        "cov_norm": 49.0 / 48.0,
        "crop": 3,
        "data_range": 255.0,
        "reduction": "mean over the valid map (cropped by crop px per side), then over channels",
        "reference": "skimage.metrics.structural_similarity(a, b, channel_axis=-1, data_range=255)",
    },
    "gaussian": {
        "window": "gaussian",
        "win_size": 11,
        "sigma": 1.5,
        "truncate": 3.5,
        "K1": 0.01,
        "K2": 0.03,
        "covariance": "population",
        "cov_norm": 1.0,
        "crop": 5,
        "data_range": 255.0,
        "reduction": "mean over the valid map (cropped by crop px per side), then over channels",
        "reference": (
            "skimage.metrics.structural_similarity(a, b, channel_axis=-1, data_range=255, "
            "gaussian_weights=True, sigma=1.5, use_sample_covariance=False)"
        ),
    },
}

# Pixel-channels per SSIM chunk (images x C x H x W); peak memory is about 150 bytes per pixel-channel.
# On the CPU, chunks that mostly stay in cache (~20 MB) are over 3x faster than one big pass (1,000
# CIFAR images, one core); on an accelerator, larger chunks (~2.5 GB, 111 images at 224x224) keep it
# busy. PSNR needs only 16 bytes per pixel-channel and a few operations, so its chunks are larger.
_SSIM_CHUNK_ELEMENTS = {"cpu": 2**17, "accelerator": 2**24}
_PSNR_CHUNK_ELEMENTS = {"cpu": 2**22, "accelerator": 2**26}


def ssim_config(preset: str = "skimage", *, data_range: float = 255.0) -> dict[str, Any]:
    """A fresh copy of a preset's settings, with ``preset`` and the ``data_range`` used, for records."""
    config = dict(SSIM_PRESETS[_check_preset(preset)])
    config["preset"] = preset
    config["data_range"] = _check_data_range(data_range)
    return config


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    data_range: float = 255.0,
    preset: str = "skimage",
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Per-image SSIM of two (N, C, H, W) batches, as a float64 tensor of shape (N,) on x's device.

    Equals ``skimage.metrics.structural_similarity(a, b, channel_axis=-1, data_range=data_range)``
    on each H x W x C image pair for ``preset="skimage"`` (7x7 uniform window, sample covariance),
    and the Wang et al. settings for ``preset="gaussian"`` (see ``SSIM_PRESETS``). Inputs may be
    uint8 or float; they are converted to float64 and never rescaled: ``data_range`` is the declared
    range of the pixel values (255 for uint8 images). ``chunk_size`` (images per chunk) bounds
    memory; by default it is chosen from the image size and the device. Not differentiable.
    """
    settings = SSIM_PRESETS[_check_preset(preset)]
    r = _check_data_range(data_range)
    _check_pair(x, y, "ssim")
    n, c, h, w = x.shape
    k = settings["win_size"]
    if h < k or w < k:
        raise ValueError(
            f"ssim: images are {h}x{w}, smaller than the {k}x{k} window of preset {preset!r}; "
            "pass larger images (batches are (N, C, H, W), not channels-last)"
        )
    taps = _window_taps(settings)
    c1 = (settings["K1"] * r) ** 2
    c2 = (settings["K2"] * r) ** 2
    cov_norm = settings["cov_norm"]
    out = torch.empty(n, dtype=torch.float64, device=x.device)
    with torch.no_grad():
        for start, stop in _chunks(x, chunk_size, _SSIM_CHUNK_ELEMENTS):
            out[start:stop] = _ssim_chunk(x[start:stop], y[start:stop], taps, c1, c2, cov_norm)
    return out


def ssim_readings(restored: torch.Tensor, plain: torch.Tensor, *, preset: str = "skimage") -> tuple[torch.Tensor, ...]:
    """Per-image SSIM of uint8 ``restored`` against ``plain`` read as it is, colour-inverted (255 - x) and
    mirrored left-right: a restored negative or mirror image reveals the image as plainly as the image."""
    return tuple(ssim(r, plain, preset=preset) for r in (restored, 255 - restored, restored.flip(-1)))


def psnr(
    x: torch.Tensor, y: torch.Tensor, *, data_range: float = 255.0, chunk_size: int | None = None
) -> torch.Tensor:
    """Per-image PSNR in dB of two (N, C, H, W) batches, float64 of shape (N,) on x's device.

    Equals ``skimage.metrics.peak_signal_noise_ratio(a, b, data_range=data_range)`` per image:
    ``10 * log10(data_range**2 / MSE)`` with the MSE over all pixels and channels in float64;
    identical images give ``inf``, as in scikit-image. Not differentiable.
    """
    r = _check_data_range(data_range)
    _check_pair(x, y, "psnr")
    out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    with torch.no_grad():
        for start, stop in _chunks(x, chunk_size, _PSNR_CHUNK_ELEMENTS):
            diff = x[start:stop].to(torch.float64) - y[start:stop].to(torch.float64)
            mse = diff.square_().mean(dim=(1, 2, 3))
            out[start:stop] = torch.log10((r * r) / mse).mul_(10.0)
    return out


def to_uint8(t: torch.Tensor) -> torch.Tensor:
    """Map network outputs in [-1, 1] to uint8 pixels: ``round(clamp((t * 0.5 + 0.5) * 255, 0, 255))``.

    Rounding is ``torch.round``, i.e. round half to even (127.5 -> 128, 126.5 -> 126), after
    clamping to [0, 255]. The arithmetic runs in the input's float dtype (float16 and bfloat16 are
    promoted to float32 first). NaN has no pixel value and raises ``ValueError``.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"to_uint8: expected a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(
            f"to_uint8: expected a float tensor of network outputs in [-1, 1], got {t.dtype}; "
            "uint8 images need no conversion"
        )
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    if bool(torch.isnan(t).any()):
        raise ValueError("to_uint8: input contains NaN; check the network or attack that produced it")
    return torch.round(((t * 0.5 + 0.5) * 255.0).clamp_(0.0, 255.0)).to(torch.uint8)


def summarize(values: torch.Tensor | np.ndarray | Iterable[float]) -> dict[str, float | int]:
    """Mean, median, population std (ddof=0) and count of per-image values, as plain Python numbers.

    The median of an even count is the mean of the two middle values (numpy's). Infinite values
    (e.g. PSNR of identical images) are kept, so the mean is then ``inf`` and the std ``nan``.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64)
    arr = arr.reshape(-1)
    if arr.size == 0:
        raise ValueError("summarize: no values given; pass the per-image values of at least one image")
    with np.errstate(invalid="ignore"):
        return {
            "mean": float(np.mean(arr)),
            "median": float(np.median(arr)),
            "std": float(np.std(arr, ddof=0)),
            "n": int(arr.size),
        }


# --- internals -------------------------------------------------------------------------------


def _check_preset(preset: str) -> str:
    if preset not in SSIM_PRESETS:
        close = difflib.get_close_matches(str(preset), SSIM_PRESETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown SSIM preset {preset!r}.{hint} Available: {', '.join(map(repr, SSIM_PRESETS))}"
        )
    return preset


def _check_data_range(data_range: float) -> float:
    try:
        r = float(data_range)
    except (TypeError, ValueError):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}") from None
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"data_range must be a positive finite number (255 for uint8), got {data_range!r}")
    return r


def _check_pair(x: torch.Tensor, y: torch.Tensor, name: str) -> None:
    for label, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"{name}: {label} must be a torch.Tensor, got {type(t).__name__}; "
                "for NHWC numpy images use torch.from_numpy(a).permute(0, 3, 1, 2)"
            )
        if t.dim() != 4:
            raise ValueError(
                f"{name}: {label} must be a 4-D (N, C, H, W) batch, got shape {tuple(t.shape)}; "
                "add a batch axis with t.unsqueeze(0) for a single image"
            )
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"{name}: {label} must hold real pixel values (uint8 or float), got {t.dtype}")
    if x.shape != y.shape:
        raise ValueError(
            f"{name}: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}; "
            "compare images of the same size (resize one of them first)"
        )
    if x.device != y.device:
        raise ValueError(f"{name}: x is on {x.device} and y on {y.device}; move both to one device")


def _window_taps(settings: dict[str, Any]) -> list[float]:
    """1-D filter taps; the 2-D window is their outer product (both windows are separable)."""
    k = settings["win_size"]
    if settings["window"] == "uniform":
        return [1.0 / k] * k
    radius = (k - 1) // 2  # scipy.ndimage: radius = int(truncate * sigma + 0.5)
    g = np.exp(-0.5 / settings["sigma"] ** 2 * np.arange(-radius, radius + 1, dtype=np.float64) ** 2)
    return (g / g.sum()).tolist()


def _chunks(
    x: torch.Tensor, chunk_size: int | None, budgets: dict[str, int]
) -> Iterable[tuple[int, int]]:
    """(start, stop) of each chunk of images; by default as many as fit the device's budget."""
    n = x.shape[0]
    if chunk_size is None:
        budget = budgets["cpu" if x.device.type == "cpu" else "accelerator"]
        chunk_size = max(1, budget // max(1, math.prod(x.shape[1:])))
    elif int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive number of images, got {chunk_size!r}")
    step = int(chunk_size)
    return ((s, min(s + step, n)) for s in range(0, n, step))


def _valid_filter(z: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """Separable 'valid' correlation of the last two axes with ``taps`` (no padding).

    Written as one multiply-add per tap and axis on shifted views: the same sums as a separable
    ``conv2d``, and 4-15x faster than float64 ``conv2d`` on the CPU (torch 2.14).
    """
    k = len(taps)
    wo = z.shape[-1] - k + 1
    rows = z[..., :, 0:wo] * taps[0]
    for i in range(1, k):
        rows.add_(z[..., :, i : i + wo], alpha=taps[i])
    ho = z.shape[-2] - k + 1
    out = rows[..., 0:ho, :] * taps[0]
    for i in range(1, k):
        out.add_(rows[..., i : i + ho, :], alpha=taps[i])
    return out


def _ssim_chunk(
    x: torch.Tensor, y: torch.Tensor, taps: list[float], c1: float, c2: float, cov_norm: float
) -> torch.Tensor:
    n, c, h, w = x.shape
    stack = torch.empty((n, 5, c, h, w), dtype=torch.float64, device=x.device)  # [x, y, xx, yy, xy]
    xd, yd = stack[:, 0], stack[:, 1]
    xd.copy_(x)
    yd.copy_(y)
    torch.mul(xd, xd, out=stack[:, 2])
    torch.mul(yd, yd, out=stack[:, 3])
    torch.mul(xd, yd, out=stack[:, 4])
    ux, uy, uxx, uyy, uxy = _valid_filter(stack, taps).unbind(dim=1)
    # skimage's A1 = 2 ux uy + C1, B1 = ux^2 + uy^2 + C1, A2 = 2 cov + C2, B2 = var_x + var_y + C2,
    # rearranged to save passes over memory: B1 = A1 + (ux - uy)^2 and
    # B2 = cov_norm * (uxx + uyy - (B1 - C1)) + C2.
    ux_uy = ux * uy
    a1 = ux_uy.mul(2.0).add_(c1)
    diff = ux - uy
    b1 = torch.addcmul(a1, diff, diff)
    a2 = (uxy - ux_uy).mul_(2.0 * cov_norm).add_(c2)
    b2 = (uxx + uyy).sub_(b1).mul_(cov_norm).add_(cov_norm * c1 + c2)
    ssim_map = a1.mul_(a2).div_(b1.mul_(b2))
    return ssim_map.mean(dim=(-2, -1)).mean(dim=-1)
