"""Training throughput of the ``cpu`` profile's networks with encryption on and off (pytest-benchmark).

Run only in benchmark mode (the default ``addopts`` has ``--benchmark-skip``)::

    .venv/bin/python -m pytest tests/perf/test_train_benchmark.py --benchmark-only -q -s

One benchmark round is one training step of the real pipeline (:class:`ppbench.data.BatchPipeline`:
index the bundled sample, augment on the plain images, encrypt, convert to float, then
:func:`ppbench.train.train_step` with the cpu profile's AdamW settings) at batch 128, 32 x 32, block 4,
for each (network, scheme) pair of the cpu profile, once with the scheme's ``encrypt`` and once with
the identity in its place. ``scheme.encrypt`` alone on the same uint8 batch is timed too. Every
benchmark stores ``images_per_s_median`` in ``benchmark.extra_info``; the module prints a table of
images/s with and without encryption and encryption's share of a step (goal: under 5 %) when the
module ends. Nothing here asserts on time.
"""

from __future__ import annotations

import pytest
import torch

from ppbench.data import BatchPipeline, load_dataset
from ppbench.networks import create_network
from ppbench.profiles import get_profile
from ppbench.schemes import create_scheme, generate_key, scheme_info
from ppbench.train import TrainSettings, build_optimizer, train_step

BATCH = 128
ROUNDS = 5
PAIRS = [  # (network, scheme): the cpu profile's defaults, and ShakeDrop for the CNN rows
    ("vit_cpu", "proposed"),
    ("vit_cpu", "plain"),
    ("resnet18_cpu", "le"),
    ("resnet18_cpu", "ele"),
    ("resnet18_cpu", "etc"),
    ("resnet18_cpu", "pe"),
    ("pyramidnet_shakedrop_cpu", "etc"),
]
_RESULTS: dict[tuple[str, str, str], tuple[float, float]] = {}  # (network, scheme, kind) -> (median, min) seconds


def _settings() -> TrainSettings:
    r = get_profile("cpu").recipe_for("*")
    return TrainSettings(optimizer=r.optimizer, lr=r.lr_encrypted, momentum=r.momentum, beta2=r.beta2,
                         nesterov=False, weight_decay=r.weight_decay, schedule="constant", total_steps=100, epochs=1,
                         warmup_steps=0, milestones=(), gamma=0.1, grad_clip=r.grad_clip, label_smoothing=0.0,
                         amp=False)


def _scheme(name: str):
    block = 4 if scheme_info(name).block_wise else None
    if name == "plain":
        return create_scheme(name, image_size=32)
    return create_scheme(name, key=generate_key(name, image_size=32, block_size=block))


def _step_runner(network: str, scheme_name: str, encrypt: bool):
    data = load_dataset("sample")
    scheme = _scheme(scheme_name)
    torch.manual_seed(0)
    model = create_network(network, num_classes=10, image_size=32, block_size=4, adapter=scheme.info.adapter)
    settings = _settings()
    optimizer = build_optimizer(model, settings)
    pipe = BatchPipeline(data=data, encrypt=scheme.encrypt if encrypt else (lambda x: x), image_size=32,
                         batch_size=BATCH, eval_batch_size=BATCH, device=torch.device("cpu"), plain_augment=True,
                         order=torch.Generator().manual_seed(0), augment_gen=torch.Generator().manual_seed(1))
    batches = iter(())

    def step() -> None:
        nonlocal batches
        try:
            x, y = next(batches)
        except StopIteration:
            batches = pipe.train_batches()
            x, y = next(batches)
        train_step(model, x, y, optimizer, None, settings)

    return step


def _record(benchmark, key: tuple[str, str, str]) -> None:
    stats = benchmark.stats.stats
    _RESULTS[key] = (stats.median, stats.min)
    benchmark.extra_info.update(images=BATCH, images_per_s_median=BATCH / stats.median, images_per_s_best=BATCH / stats.min)


@pytest.mark.parametrize("encrypt", [True, False], ids=["encrypted", "identity"])
@pytest.mark.parametrize("network,scheme", PAIRS, ids=[f"{n}-{s}" for n, s in PAIRS])
def test_train_step(benchmark, network, scheme, encrypt):
    step = _step_runner(network, scheme, encrypt)
    benchmark.pedantic(step, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _record(benchmark, (network, scheme, "encrypted" if encrypt else "identity"))


@pytest.mark.parametrize("scheme", sorted({s for _, s in PAIRS}))
def test_encrypt_batch(benchmark, scheme):
    s = _scheme(scheme)
    x = load_dataset("sample").x_train[:BATCH].clone()
    benchmark.pedantic(s.encrypt, args=(x,), rounds=20, iterations=1, warmup_rounds=2)
    _record(benchmark, ("-", scheme, "encrypt"))


@pytest.fixture(scope="module", autouse=True)
def report_encryption_share():
    """After the module: images/s with and without encryption, and encryption's share of a step.

    The share is ``encrypt`` alone on the batch over the whole encrypted step (medians, and best rounds,
    which are less sensitive to other processes on a shared machine)."""
    yield
    if not _RESULTS:
        return
    lines = [f"training step at batch {BATCH}, 32x32, block 4 ({ROUNDS} rounds; median / best); torch threads "
             f"{torch.get_num_threads()}; load average at the end {_loadavg()}",
             f"{'network':<26}{'scheme':<10}{'img/s encrypted':>18}{'img/s identity':>18}{'encrypt ms':>14}"
             f"{'share':>14}"]
    for network, scheme in PAIRS:
        enc, ident = _RESULTS.get((network, scheme, "encrypted")), _RESULTS.get((network, scheme, "identity"))
        alone = _RESULTS.get(("-", scheme, "encrypt"))
        if enc is None or ident is None or alone is None:
            continue
        lines.append(f"{network:<26}{scheme:<10}{BATCH / enc[0]:>9.0f} /{BATCH / enc[1]:>6.0f}"
                     f"{BATCH / ident[0]:>11.0f} /{BATCH / ident[1]:>6.0f}{alone[0] * 1e3:>8.1f} /{alone[1] * 1e3:>5.1f}"
                     f"{alone[0] / enc[0]:>8.2%} /{alone[1] / enc[1]:>6.2%}")
    print("\n" + "\n".join(lines))


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "n/a"

