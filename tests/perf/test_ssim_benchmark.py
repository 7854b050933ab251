"""Batched ppbench.metrics SSIM/PSNR vs a Python loop of scikit-image calls on the same real images.

Run with ``pytest tests/perf/test_ssim_benchmark.py --benchmark-only`` (skipped by default).
Timings are reported, never asserted; the only assertions check that both sides agree.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ppbench.metrics import psnr, ssim

N_SMALL = 1000  # real 32x32 CIFAR-10 pairs
N_LARGE = 64  # real CIFAR-10 pairs upsampled to 224x224
SKIMAGE_ARGS = {
    "skimage": {},
    "gaussian": {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False},
}


def _pairs_nhwc(cifar_subset, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """n pairs of different real images (test image i vs training image i), uint8 NHWC."""
    a, b = cifar_subset["x_test"][:n], cifar_subset["x_train"][:n]
    if size == a.shape[1]:
        return a, b

    def up(u: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(u).permute(0, 3, 1, 2).double()
        t = F.interpolate(t, size=(size, size), mode="bicubic", align_corners=False)
        return t.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()

    return up(a), up(b)


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def small_pairs(cifar_subset):
    return _pairs_nhwc(cifar_subset, N_SMALL, 32)


@pytest.fixture(scope="module")
def large_pairs(cifar_subset):
    return _pairs_nhwc(cifar_subset, N_LARGE, 224)


def _skimage_ssim_loop(a: np.ndarray, b: np.ndarray, preset: str = "skimage") -> np.ndarray:
    kw = SKIMAGE_ARGS[preset]
    return np.array(
        [structural_similarity(a[i], b[i], channel_axis=-1, data_range=255, **kw) for i in range(len(a))]
    )


def _skimage_psnr_loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([peak_signal_noise_ratio(a[i], b[i], data_range=255) for i in range(len(a))])


def _best_of(fn: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def _one_thread(fn: Callable[[], float]) -> float:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


# --- pytest-benchmark pairs: same data, same run, one group per size ---------------------------


@pytest.mark.benchmark(group="ssim")
def test_ssim_batched_1000_cifar32(benchmark, small_pairs):
    x, y = map(_nchw, small_pairs)
    result = benchmark(ssim, x, y)
    assert result.shape == (N_SMALL,)


@pytest.mark.benchmark(group="ssim")
def test_ssim_skimage_loop_1000_cifar32(benchmark, small_pairs):
    result = benchmark(_skimage_ssim_loop, *small_pairs)
    assert result.shape == (N_SMALL,)


@pytest.mark.benchmark(group="ssim-224")
def test_ssim_batched_64_at_224(benchmark, large_pairs):
    x, y = map(_nchw, large_pairs)
    result = benchmark(ssim, x, y)
    assert result.shape == (N_LARGE,)


@pytest.mark.benchmark(group="ssim-224")
def test_ssim_skimage_loop_64_at_224(benchmark, large_pairs):
    result = benchmark(_skimage_ssim_loop, *large_pairs)
    assert result.shape == (N_LARGE,)


@pytest.mark.benchmark(group="psnr")
def test_psnr_batched_1000_cifar32(benchmark, small_pairs):
    x, y = map(_nchw, small_pairs)
    result = benchmark(psnr, x, y)
    assert result.shape == (N_SMALL,)


@pytest.mark.benchmark(group="psnr")
def test_psnr_skimage_loop_1000_cifar32(benchmark, small_pairs):
    result = benchmark(_skimage_psnr_loop, *small_pairs)
    assert result.shape == (N_SMALL,)


# --- the speed-up, measured side by side and printed -------------------------------------------


@pytest.mark.benchmark(group="ssim-ratio")
def test_ssim_speedup_over_skimage_loop(benchmark, small_pairs, large_pairs, capsys):
    """Best-of-N times of both sides, interleaved in one run; prints images/s and the ratios.

    Three clocks: wall time with torch's default thread count, wall time with one torch thread,
    and the CPU time of the calling thread with one torch thread (robust to other jobs' load).
    scikit-image is single-threaded, so its side is timed once per clock kind.
    """
    rows = []

    def measure() -> None:
        for label, (a, b), repeats in (("32x32", small_pairs, 5), ("224x224", large_pairs, 3)):
            x, y = _nchw(a), _nchw(b)
            for preset in ("skimage", "gaussian"):
                np.testing.assert_allclose(  # the two sides compute the same numbers
                    ssim(x, y, preset=preset).numpy(), _skimage_ssim_loop(a, b, preset), rtol=0, atol=1e-5
                )
                batched = lambda: ssim(x, y, preset=preset)  # noqa: E731
                loop = lambda: _skimage_ssim_loop(a, b, preset)  # noqa: E731
                rows.append({
                    "size": label, "preset": preset, "n": len(a),
                    "batched_wall_s": _best_of(batched, repeats),
                    "batched_wall_1_thread_s": _one_thread(lambda: _best_of(batched, repeats)),
                    "skimage_wall_s": _best_of(loop, repeats),
                    "batched_cpu_1_thread_s": _one_thread(lambda: _best_of(batched, repeats, time.thread_time)),
                    "skimage_cpu_s": _best_of(loop, repeats, time.thread_time),
                })

    load_before = os.getloadavg()[0]
    benchmark.pedantic(measure, rounds=1, iterations=1)
    load_after = os.getloadavg()[0]
    threads = torch.get_num_threads()
    benchmark.extra_info["loadavg_1min"] = [load_before, load_after]
    benchmark.extra_info["torch_threads"] = threads
    with capsys.disabled():
        print(
            f"\nSSIM: ppbench.metrics.ssim (batched) vs a loop of skimage calls, best-of, images/s; "
            f"1-min load average {load_before:.1f} before, {load_after:.1f} after"
        )
        print(
            f"  {'size':8s} {'preset':9s} {'n':>5s} | {f'wall {threads} thr':>11s} {'wall 1 thr':>11s} "
            f"{'skimage':>8s} {'ratio':>6s} {'ratio 1thr':>10s} | {'CPU 1 thr':>10s} {'skimage':>8s} {'ratio':>6s}"
        )
        for r in rows:
            benchmark.extra_info[f"{r['size']}/{r['preset']}"] = r
            n = r["n"]
            print(
                f"  {r['size']:8s} {r['preset']:9s} {n:5d} | {n / r['batched_wall_s']:11.0f} "
                f"{n / r['batched_wall_1_thread_s']:11.0f} {n / r['skimage_wall_s']:8.0f} "
                f"{r['skimage_wall_s'] / r['batched_wall_s']:5.1f}x "
                f"{r['skimage_wall_s'] / r['batched_wall_1_thread_s']:9.1f}x | "
                f"{n / r['batched_cpu_1_thread_s']:10.0f} {n / r['skimage_cpu_s']:8.0f} "
                f"{r['skimage_cpu_s'] / r['batched_cpu_1_thread_s']:5.1f}x"
            )
