"""Encryption throughput of every ppbench scheme (pytest-benchmark).

Run only in benchmark mode (the default ``addopts`` has ``--benchmark-skip``)::

    .venv/bin/python -m pytest tests/perf/test_encrypt_benchmark.py --benchmark-only -q -s

What is measured, per image size (32 x 32: batch 10,000, block 4; 224 x 224: batch 256, block 16;
schemes that are not block-wise ignore the block size):

* ``scheme.encrypt(x)`` on a uint8 N x 3 x H x W torch tensor (key built once, outside the timing);
* ``x.clone()`` of the same tensor: the memory-copy bound an encryption that touches every byte once
  can hope for;
* the naive per-image NumPy reference (``tests/reference.py``, a plain loop over images and blocks) on
  a small batch (200 images at 32, 8 at 224; it is slow), with the scheme's own key material, on
  N x H x W x 3 numpy images prepared outside the timing. Compare it per image, not per call.

Every benchmark stores ``images``, ``images_per_s_median`` and ``us_per_image_median`` in
``benchmark.extra_info``; a summary table in images/s is printed at the end of the module (use ``-s``).
``test_report_ratios`` measures, in one process, the medians of clone, ``encrypt`` and the naive loop
for ``proposed`` at both sizes and prints throughput ratios against the goals (encrypt / copy >= 0.5,
encrypt / naive per image >= 20x). Nothing here asserts on time.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ppbench.schemes import create_scheme, generate_key, list_schemes, scheme_info

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

import reference  # noqa: E402  (tests/reference.py)

# (image size, block size, batch for encrypt/clone, batch for the naive loop)
CONFIGS = {32: (4, 10_000, 200), 224: (16, 256, 8)}
SIZES = sorted(CONFIGS)
SCHEMES = list_schemes()

ROUNDS_BATCH = 25  # clone and scheme.encrypt on the full batch
ROUNDS_NAIVE = 7  # the naive loop (already many images per round)
WARMUP = 1

_RESULTS: dict[tuple[int, str, str], float] = {}  # (size, scheme or "clone", kind) -> images/s (median)


def _block_size_for(name: str, size: int) -> int | None:
    return CONFIGS[size][0] if scheme_info(name).block_wise else None


_SCHEME_CACHE: dict[tuple[str, int], object] = {}


def _scheme(name: str, size: int):
    if (name, size) not in _SCHEME_CACHE:
        block = _block_size_for(name, size)
        kw = {"block_size": block} if block is not None else {}
        key = generate_key(name, image_size=size, **kw)
        _SCHEME_CACHE[(name, size)] = create_scheme(name, key=key, image_size=size)
    return _SCHEME_CACHE[(name, size)]


def _material(scheme) -> dict[str, np.ndarray]:
    material = scheme.key_material
    return dict(material() if callable(material) else material)


_DATA: dict[int, torch.Tensor] = {}


def _images(size: int) -> torch.Tensor:
    """A fixed random uint8 batch N x 3 x H x W (throughput does not depend on the content)."""
    if size not in _DATA:
        gen = torch.Generator().manual_seed(size)
        batch = CONFIGS[size][1]
        _DATA[size] = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=gen)
    return _DATA[size]


def _naive_images(size: int) -> np.ndarray:
    n = CONFIGS[size][2]
    return _images(size)[:n].permute(0, 2, 3, 1).contiguous().numpy()  # N x H x W x 3


def _record(benchmark, size: int, label: str, kind: str, n_images: int) -> None:
    median = benchmark.stats.stats.median
    rate = n_images / median
    benchmark.extra_info.update({
        "images": n_images,
        "images_per_s_median": rate,
        "us_per_image_median": 1e6 * median / n_images,
        "threads": torch.get_num_threads(),
    })
    _RESULTS[(size, label, kind)] = rate


@pytest.fixture(scope="module", autouse=True)
def _print_summary():
    yield
    if not _RESULTS:
        return
    lines = ["", f"Encryption throughput, images/s (median; torch threads {torch.get_num_threads()})"]
    header = f"{'scheme':<10}" + "".join(
        f"{f'{s}x{s} enc':>16}{f'{s}x{s} naive':>14}" for s in SIZES)
    lines.append(header)
    for label in ["clone", *SCHEMES]:
        row = f"{label:<10}"
        for s in SIZES:
            enc = _RESULTS.get((s, label, "batch"))
            nav = _RESULTS.get((s, label, "naive"))
            row += f"{enc:>16,.0f}" if enc else f"{'-':>16}"
            row += f"{nav:>14,.0f}" if nav else f"{'-':>14}"
        lines.append(row)
    print("\n".join(lines))


@pytest.mark.parametrize("size", SIZES, ids=[f"{s}x{s}" for s in SIZES])
def test_clone(benchmark, size):
    x = _images(size)
    benchmark.group = f"{size}x{size}"
    benchmark.name = f"clone[{size}x{size}, batch {x.shape[0]}]"
    benchmark.pedantic(x.clone, rounds=ROUNDS_BATCH, warmup_rounds=WARMUP, iterations=1)
    _record(benchmark, size, "clone", "batch", x.shape[0])


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("size", SIZES, ids=[f"{s}x{s}" for s in SIZES])
def test_encrypt(benchmark, size, name):
    x = _images(size)
    scheme = _scheme(name, size)
    benchmark.group = f"{size}x{size}"
    benchmark.name = f"encrypt {name}[{size}x{size}, batch {x.shape[0]}]"
    out = benchmark.pedantic(scheme.encrypt, args=(x,), rounds=ROUNDS_BATCH, warmup_rounds=WARMUP,
                             iterations=1)
    assert out.shape == x.shape and out.dtype == torch.uint8
    _record(benchmark, size, name, "batch", x.shape[0])


@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("size", SIZES, ids=[f"{s}x{s}" for s in SIZES])
def test_naive_reference(benchmark, size, name):
    images = _naive_images(size)
    scheme = _scheme(name, size)
    material = _material(scheme)
    block = _block_size_for(name, size)
    benchmark.group = f"{size}x{size}"
    benchmark.name = f"naive {name}[{size}x{size}, {images.shape[0]} images]"
    out = benchmark.pedantic(reference.encrypt_batch, args=(name, images, material, block),
                             rounds=ROUNDS_NAIVE, warmup_rounds=WARMUP, iterations=1)
    assert out.shape == images.shape
    _record(benchmark, size, name, "naive", images.shape[0])


def _median_seconds(fn, rounds: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def test_report_ratios(benchmark):
    """Ratios for ``proposed``: encrypt vs copy and vs the naive loop, per image, medians. No asserts on time."""
    name = "proposed"
    rows: list[dict] = []

    def measure():
        rows.clear()
        for size in SIZES:
            x = _images(size)
            batch = x.shape[0]
            scheme = _scheme(name, size)
            images = _naive_images(size)
            material = _material(scheme)
            block = _block_size_for(name, size)
            t_clone = _median_seconds(x.clone, ROUNDS_BATCH)
            t_enc = _median_seconds(lambda: scheme.encrypt(x), ROUNDS_BATCH)
            t_naive = _median_seconds(lambda: reference.encrypt_batch(name, images, material, block), ROUNDS_NAIVE)
            rows.append({
                "size": size, "batch": batch, "naive_images": images.shape[0],
                "copy_ips": batch / t_clone, "enc_ips": batch / t_enc, "naive_ips": images.shape[0] / t_naive,
            })

    benchmark.group = "ratios"
    benchmark.name = "report_ratios[proposed]"
    benchmark.pedantic(measure, rounds=1, warmup_rounds=0, iterations=1)

    lines = ["", f"proposed: throughput ratios (medians; batch rounds {ROUNDS_BATCH}, naive rounds {ROUNDS_NAIVE}, "
                 f"torch threads {torch.get_num_threads()})",
             f"{'size':<9}{'copy img/s':>14}{'encrypt img/s':>15}{'naive img/s':>13}"
             f"{'enc/copy':>10}{'(goal)':>8}{'enc/naive':>11}{'(goal)':>8}"]
    for r in rows:
        enc_copy = r["enc_ips"] / r["copy_ips"]
        enc_naive = r["enc_ips"] / r["naive_ips"]
        key = f"{r['size']}x{r['size']}"
        benchmark.extra_info[f"{key}_encrypt_over_copy"] = enc_copy
        benchmark.extra_info[f"{key}_encrypt_over_naive"] = enc_naive
        benchmark.extra_info[f"{key}_images_per_s"] = {k: r[k] for k in ("copy_ips", "enc_ips", "naive_ips")}
        lines.append(f"{key:<9}{r['copy_ips']:>14,.0f}{r['enc_ips']:>15,.0f}{r['naive_ips']:>13,.0f}"
                     f"{enc_copy:>10.2f}{'>=0.5':>8}{enc_naive:>10.1f}x{'>=20x':>8}")
    print("\n".join(lines))
