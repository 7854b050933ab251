"""SIA-GAN against LE at 32 x 32 / M4 on the CPU: does the published generator restore LE, and what does it take?

The seed paper's Fig. 4 shows the GAN attack restoring LE. ppbench's ``cpu`` GAN uses the attack-evaluation code's
block network (one sub-network shared by every block position); SIA-GAN proper gives every block position its own
first stage. This script trains both (and SIA-GAN with the paper's hinge loss and spectral-norm discriminator) on
the same victim ciphertexts and attacker images, with one fresh key, and scores each on unseen test images with the
verdict's per-image best reading (the share of images at SSIM >= 0.30, ppbench.reports.security).

    python scripts/siagan_le.py                     # every variant, the larger subset when ../shared has it
    python scripts/siagan_le.py --variants siagan --epochs 40 --n-train 1000
    python scripts/siagan_le.py --variants blocknet,blocknet_key_free,blocknet_mixup,blocknet_labels  # the options
    python scripts/siagan_le.py --variants siagan_narrow_shared --epochs 60 --patience 60 --track  # a shared start
    python scripts/siagan_le.py --paired 5          # oracle check: SIA-GAN's generator trained on the victim's pairs

``*_shared`` variants start every block position's first stage from the same weights (training then moves each on
its own); ``*_narrow`` ones use a decoder 16 wide instead of 64 (about 4 x faster a step, so more steps fit);
``siagan_narrow_tied`` is an ablation, one first stage for every position. ``--image-size 16`` resizes the images
first (16 block positions instead of 64).

Prints one line per variant (mean / median best-reading SSIM, share restored, epochs, steps, seconds) and writes
them as JSON with --out. ``--track`` also scores the generator on the test images after every epoch (an analysis
only the script does: the attack never sees those images) and prints the rank correlation between the GAN's own
validation measure (a distance it minimises, computed from held-out ciphertexts and plain images alone) and the
test SSIM: whether the measure that stops training tracks restoration quality.
Numbers: docs/benchmarks.md ("SIA-GAN on LE", "SIA-GAN's own generator on LE at CPU size"); rows in
results/siagan-le-cpu/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import ppbench.attacks.gan as gan_module
from ppbench.attack_eval import SSIM_PRESET, best_reading_fields, split_training
from ppbench.attacks import KeySource, build_view, create_attack
from ppbench.data import load_dataset
from ppbench.metrics import ssim_readings
from ppbench.transforms import resize_uint8

#: gan options per variant (over the cpu profile's gan configuration); "attack" names the attack (default gan), and
#: the script's own set-up keys (SETUP) change the generator after it is built
VARIANTS: dict[str, dict[str, object]] = {
    "blocknet": {},  # the cpu default: shared block network, DCGAN discriminator, BCE
    "siagan": {"generator": "siagan", "init": "default"},  # per-position first stage, DCGAN discriminator, BCE
    "siagan_hinge": {"generator": "siagan", "discriminator": "sngan", "loss": "hinge", "d_width": 256,
                     "init": "default", "betas_g": (0.9, 0.999)},  # the paper's losses, a narrower discriminator
    # SIA-GAN's options (docs/attacks.md), on the cpu GAN: key-free block-grid augmentation, mixup, the label loss
    "blocknet_key_free": {"augment": "key_free"},
    "blocknet_mixup": {"mixup": 0.2},
    "blocknet_labels": {"attack": "gan_labels"},  # threat model ciphertext_only_unpaired_plain_labels
    # SIA-GAN's generator with a decoder 16 wide instead of 64 (about 4 x faster a step here): more steps in the time
    "siagan_narrow": {"generator": "siagan", "init": "default", "decoder_width": 16},
    # the same, every block position's first stage starting from the same weights
    "siagan_narrow_shared": {"generator": "siagan", "init": "default", "decoder_width": 16, "shared_start": True},
    "siagan_shared": {"generator": "siagan", "init": "default", "shared_start": True},
    # an ablation, not SIA-GAN: one first stage for every position (a strided convolution), SIA-GAN's decoder after it
    "siagan_narrow_tied": {"generator": "siagan", "init": "default", "decoder_width": 16, "tied": True},
    "siagan_narrow_shared_labels": {"attack": "gan_labels", "generator": "siagan", "init": "default", "decoder_width": 16,
                                    "shared_start": True},
    # SIA-GAN's generator with the original code's default loss (the label term on the cloud's labels)
    "siagan_labels": {"attack": "gan_labels", "generator": "siagan", "init": "default"},
    # SIA-GAN's generator with key-free block-grid augmentation (random flips and cyclic shifts of the block grid, on
    # ciphertexts and attacker images alike): LE keys every block alike, so each position's first stage sees blocks
    # from every position
    "siagan_key_free": {"generator": "siagan", "init": "default", "augment": "key_free"},
    "siagan_narrow_key_free": {"generator": "siagan", "init": "default", "decoder_width": 16, "augment": "key_free"},
    "siagan_narrow_shared_key_free": {"generator": "siagan", "init": "default", "decoder_width": 16, "augment": "key_free",
                                      "shared_start": True},
}
PAIRED_BATCH = 64  # the paired check's batch: the cpu GAN's


def variant_options(variant: str) -> tuple[str, dict[str, object], list[str]]:
    """A variant's attack name, its options for ``create_attack`` and the names of its set-up steps (keys of
    :data:`SETUP`, applied to the generator after it is built)."""
    options = dict(VARIANTS[variant])
    name = str(options.pop("attack", "gan"))
    setup = [key for key in SETUP if options.pop(key, False)]
    return name, options, setup


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=None, help="data set (default: the larger subset when present, else sample)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    p.add_argument("--epochs", type=int, default=None, help="epoch cap (default: the cpu profile's)")
    p.add_argument("--patience", type=int, default=None,
                   help="epochs without improvement of the validation measure before stopping (default: the cpu "
                        "profile's; a number >= --epochs trains every epoch)")
    p.add_argument("--n-train", type=int, default=None, help="training images split victim / attacker (default: all)")
    p.add_argument("--n-eval", type=int, default=100, help="unseen test images scored")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=32,
                   help="images resized to this (bicubic, ppbench's one resize) before encryption; 16: 16 block positions "
                        "instead of 64")
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    p.add_argument("--track", action="store_true", help="score the test images after every epoch (see above)")
    p.add_argument("--paired", type=int, default=0, metavar="EPOCHS",
                   help="instead of the GAN variants: train SIA-GAN's generator on the victim's (ciphertext, plain) pairs "
                        "with MSE for EPOCHS epochs (an oracle check of what the network can represent, not an attack)")
    args = p.parse_args(argv)

    dataset = args.dataset or _default_dataset()
    data = load_dataset(dataset).subset(args.n_train, args.n_eval)
    split = split_training(data.x_train.shape[0], "disjoint")
    size = args.image_size
    x_train, test = resize_uint8(data.x_train, size), resize_uint8(data.x_test, size)
    victim_train, attacker_plain = x_train[slice(*split["victim_train"])], x_train[slice(*split["attacker_train"])]
    victim_labels = data.y_train[slice(*split["victim_train"])]
    scheme = KeySource(purpose="victim").new_scheme("le", size, 4)  # a fresh key from the OS CSPRNG
    ciphertexts = scheme.encrypt(test)
    if args.paired:
        _paired_check(args.paired, scheme.encrypt(victim_train), victim_train, ciphertexts, test, args.seed)
        return 0
    rows = []
    for variant in args.variants.split(","):
        torch.manual_seed(args.seed)
        name, options, setup = variant_options(variant)
        overrides = dict(options, **({"epochs": args.epochs} if args.epochs else {}),
                         **({"patience": args.patience} if args.patience is not None else {}))
        attack = create_attack(name, scheme_name="le", image_size=size, block_size=4, profile="cpu", **overrides)
        for key in setup:
            SETUP[key](attack.generator)
        view = build_view(attack.threat_model, scheme=scheme, victim_train=victim_train, public_images=attacker_plain,
                          generator=torch.Generator().manual_seed(args.seed), key_source=KeySource(purpose="attacker"),
                          victim_labels=victim_labels)
        track: list[dict[str, float]] = []
        if args.track:
            _track_epochs(attack, ciphertexts, test, track)
        start = time.perf_counter()
        try:
            attack.fit(view)
        finally:
            gan_module.log_epoch = _LOG_EPOCH
        seconds = time.perf_counter() - start
        readings = ssim_readings(attack(ciphertexts), test, preset=SSIM_PRESET)
        fields = best_reading_fields(*readings)
        summary = attack.training_summary()
        row = {"variant": variant, "attack": name, "dataset": dataset, "image_size": size, "victim": victim_train.shape[0], "attacker": attacker_plain.shape[0],
               "n_eval": test.shape[0], "ssim_as_is": float(readings[0].mean()),
               "ssim_best_mean": fields["ssim_best_image_mean"], "ssim_best_median": fields["ssim_best_image_median"],
               "share_restored": fields["share_restored"], "seconds": round(seconds, 1),
               **{k: summary[k] for k in ("epochs_run", "best_epoch", "stopped", "steps_run")},
               "seed": args.seed, "setup": setup,
               "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}}
        if track:
            row["track"] = track
            row["spearman_val_distance_vs_ssim"] = _spearman([t["val_distance"] for t in track],
                                                             [t["ssim_best_mean"] for t in track])
        rows.append(row)
        print(f"{variant:13s} best-reading SSIM mean {row['ssim_best_mean']:.3f} median {row['ssim_best_median']:.3f} "
              f"restored {row['share_restored']:.0%}  as-is {row['ssim_as_is']:.3f}  epochs {row['epochs_run']} "
              f"(best {row['best_epoch']}, {row['stopped']}), {row['steps_run']} steps, {seconds:.0f} s", flush=True)
        if track:
            print(f"{'':13s} Spearman(validation distance, test SSIM) over {len(track)} epochs: "
                  f"{row['spearman_val_distance_vs_ssim']:.2f} (negative: the distance falls as SSIM rises)", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


_LOG_EPOCH = gan_module.log_epoch


def _track_epochs(attack, ciphertexts: torch.Tensor, test: torch.Tensor, out: list[dict[str, float]]) -> None:
    """Wrap the GAN module's per-epoch log so that each epoch also scores the current generator on ``test``."""
    def log_and_score(owner, epoch, epochs, stats):
        _LOG_EPOCH(owner, epoch, epochs, stats)
        if owner is attack and "val_distance" in stats:
            attack.fitted = True  # the public restore path, mid-training; its eval mode is undone below
            restored = attack(ciphertexts)
            attack.fitted = False
            for net in attack.networks().values():
                net.train()
            fields = best_reading_fields(*ssim_readings(restored, test, preset=SSIM_PRESET))
            out.append({"epoch": epoch, "val_distance": float(stats["val_distance"]),
                        "ssim_best_mean": fields["ssim_best_image_mean"], "share_restored": fields["share_restored"]})
            print(f"  epoch {epoch}: validation distance {float(stats['val_distance']):.4f}, test best-reading SSIM "
                  f"{fields['ssim_best_image_mean']:.3f}, restored {fields['share_restored']:.0%}", flush=True)
    gan_module.log_epoch = log_and_score


def _paired_check(epochs: int, train_cipher: torch.Tensor, train_plain: torch.Tensor, test_cipher: torch.Tensor,
                  test_plain: torch.Tensor, seed: int) -> None:
    """Train SIA-GAN's generator (the cpu GAN's batch and Adam settings) on victim-key pairs with MSE and print
    the test images' best-reading SSIM after every epoch: can the network represent LE's inverse from this data?"""
    import torch.nn.functional as F

    from ppbench.attacks.base import minibatches, to_tanh
    from ppbench.attacks.siagan_net import SIAGANGenerator
    from ppbench.metrics import to_uint8

    torch.manual_seed(seed)
    net = SIAGANGenerator(4, test_plain.shape[-1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
    order = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        net.train()
        for idx in minibatches(train_cipher.shape[0], PAIRED_BATCH, order, drop_last=True):
            loss = F.mse_loss(net(to_tanh(train_cipher[idx])), to_tanh(train_plain[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            fields = best_reading_fields(*ssim_readings(to_uint8(net(to_tanh(test_cipher))), test_plain, preset=SSIM_PRESET))
        print(f"paired epoch {epoch}: MSE {loss.item():.4f}, test best-reading SSIM {fields['ssim_best_image_mean']:.3f}, "
              f"restored {fields['share_restored']:.0%}, {time.perf_counter() - start:.0f} s", flush=True)


def _share_start(generator: torch.nn.Module) -> None:
    """Give every block position of SIA-GAN's first stage the first position's initial weights (training then
    updates each position on its own, as in SIA-GAN)."""
    weight = generator.adaptation.conv.weight
    with torch.no_grad():
        weight.copy_(weight[:1].expand_as(weight))


def _tie_first_stage(generator: torch.nn.Module) -> None:
    """Replace SIA-GAN's per-position first stage by one map shared by every block position (the same shapes: a
    spectral-norm convolution with kernel = stride = M and 16 M^2 outputs, one batch norm over its channels)."""
    stage = generator.adaptation
    m, out = stage.conv.block_size, stage.conv.cout
    stage.conv = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Conv2d(3, out, m, stride=m, bias=False))
    stage.bn = torch.nn.BatchNorm2d(out)


#: the script's own set-up keys of VARIANTS: a change to the built generator
SETUP = {"shared_start": _share_start, "tied": _tie_first_stage}


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation, tied values given their mean rank (scipy's definition)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _default_dataset() -> str:
    subset = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-subset.npz"
    return f"npz:{subset}" if subset.is_file() else "sample"


if __name__ == "__main__":
    raise SystemExit(main())
