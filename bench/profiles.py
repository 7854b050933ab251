"""Training profiles: every default of ``ppbench run`` in one place, each number with its source.

A profile is a named bundle of defaults (data set, sizes, networks, optimiser, schedule, length) for one
scale of experiment; every value can be overridden from the command line. Four are registered:

- ``smoke``: seconds, for tests: the bundled sample cut to 256 / 128 images, one epoch of ``vit_smoke``.
- ``cpu``: minutes on 2 CPU cores: 32 x 32, block 4, CPU-sized networks trained from scratch on the
  bundled sample with AdamW and a one-cycle-shaped schedule (our choice, stated below: the paper's
  recipes need pretrained weights or hundreds of epochs).
- ``cpu224``: the seed paper's 224 x 224 with block 16 on 2 CPU cores, for ``proposed`` and ``plain``: the
  bundled sample (1,000 / 500) upscaled, a patch-16 ``vit_cpu`` from scratch, the attacks' networks cut to fit.
- ``paper``: the seed paper's scale (Qi et al., EUSIPCO 2022, Sec. IV-A) on a GPU: CIFAR-10, ViT-B/16
  pretrained on ImageNet-21k at 224 x 224 with block 16 for ``proposed`` and ``plain``; PyramidNet-110 with
  ShakeDrop (LE, ELE, EtC) and ResNet-18 (PE) at 32 x 32 with block 4, as the paper evaluated them.
  bf16 autocast and channels-last on CUDA.

How one network is trained is a :class:`Recipe`, chosen by the network's family (``vit``, ``pyramidnet``,
``resnet``); a profile maps each family to its recipe and each scheme to its default network.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from .paper import paper_table
from .registry import Registry

__all__ = ["Recipe", "Profile", "PROFILES", "register_profile", "get_profile", "list_profiles", "PAPER_TABLE_I"]


@dataclass(frozen=True)
class Recipe:
    """How a network family is trained: optimiser, schedule and length, and where each number comes from.

    ``milestones`` are fractions of the total number of steps (so that ``--epochs`` keeps the shape of a
    multi-step schedule); ``steps`` (if set) fixes the number of optimiser steps instead of ``epochs``.
    """

    optimizer: str  # "sgd" | "adamw"
    lr_plain: float  # learning rate on plain images
    lr_encrypted: float  # learning rate on encrypted images (the paper's ViT: 10x the plain one)
    weight_decay: float
    batch_size: int
    schedule: str  # "cosine" (linear warm-up, then cosine to 0) | "multistep" | "constant"
    epochs: int | None = None
    steps: int | None = None
    momentum: float = 0.9  # SGD momentum, or AdamW's beta1
    beta2: float = 0.999  # AdamW only
    nesterov: bool = False
    warmup_steps: int = 0
    warmup_fraction: float = 0.0  # warm-up as a fraction of all steps (used when warmup_steps is 0)
    milestones: tuple[float, ...] = ()
    gamma: float = 0.1
    grad_clip: float | None = None
    label_smoothing: float = 0.0
    image_size: int | None = None  # None: the profile's
    block_size: int | None = None  # None: the profile's
    source: str = ""


@dataclass(frozen=True)
class Profile:
    """A named scale of experiment: its data, sizes, networks and per-family training recipes."""

    name: str
    description: str
    dataset: str
    image_size: int
    block_size: int
    recipes: Mapping[str, Recipe]  # network family -> recipe
    networks: Mapping[str, str]  # scheme -> default network ("*" for any other scheme)
    n_train: int | None = None  # None: every training image
    n_test: int | None = None
    eval_batch_size: int = 256
    plain_augment: bool = True  # random crop (padding 4 * size / 32) + horizontal flip before encryption
    pretrained: bool = False  # networks that have published weights start from them (vit_b16)
    amp: bool = False  # bf16 autocast (CUDA only)
    channels_last: bool = False  # channels-last memory format (CUDA only)
    n_attack_images: int = 100  # test images each attack is scored on
    notes: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)

    def network_for(self, scheme: str) -> str:
        """The default network of ``scheme`` under this profile."""
        return self.networks.get(scheme, self.networks["*"])

    def recipe_for(self, family: str) -> Recipe:
        """The recipe of a network family; an unknown family falls back to the profile's ``*`` recipe."""
        return self.recipes.get(family, self.recipes["*"])


PROFILES: Registry[Profile] = Registry("profile")


def register_profile(profile: Profile) -> Profile:
    """Add a profile to the registry (``ppbench list profiles``)."""
    return PROFILES.register(profile.name, profile)


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name lists close matches."""
    return PROFILES.get(name)


def list_profiles(pattern: str | Iterable[str] = "*") -> list[str]:
    """Registered profile names matching ``pattern`` (fnmatch wildcards)."""
    return PROFILES.names(pattern)


# -- the paper's recipes -------------------------------------------------------------------------------------
# ViT-B/16 fine-tuning. Seed paper, Sec. IV-A: SGD, momentum 0.9, weight decay 5e-4, lr 0.03 (plain) and
# 0.3 (encrypted), batch 512, "the training settings from [15] except the learning rate". [15]'s fine-tuning
# recipe as the PyTorch ViT code the paper names runs it (jeonsworld/ViT-pytorch, train.py defaults):
# 10,000 steps for CIFAR, cosine decay with 500 linear warm-up steps, gradient clipping at norm 1.
PAPER_VIT = Recipe(
    optimizer="sgd", lr_plain=0.03, lr_encrypted=0.3, momentum=0.9, weight_decay=5e-4, batch_size=512,
    steps=10_000, schedule="cosine", warmup_steps=500, grad_clip=1.0, image_size=224, block_size=16,
    source="Qi et al. 2022 Sec. IV-A (SGD 0.9, wd 5e-4, lr 0.03/0.3, batch 512); Dosovitskiy et al. 2021 "
           "fine-tuning as in jeonsworld/ViT-pytorch (10k steps, cosine, 500 warm-up steps, clip 1.0)",
)
# PyramidNet-110 (alpha 270) + ShakeDrop, the network of Table I's LE / EtC / ELE rows, trained as in Madono
# et al.'s code (github.com/MADONOKOUKI/Block-wise-Scrambled-Image-Recognition): SGD lr 0.1, Nesterov momentum
# 0.9, weight decay 5e-4, batch 512, 300 epochs, lr x 0.1 at epochs 150 and 225 (= 0.5 and 0.75 of training).
PAPER_PYRAMIDNET = Recipe(
    optimizer="sgd", lr_plain=0.1, lr_encrypted=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
    batch_size=512, epochs=300, schedule="multistep", milestones=(0.5, 0.75), gamma=0.1,
    image_size=32, block_size=4,
    source="Madono et al. 2020 code (Block-wise-Scrambled-Image-Recognition): SGD 0.1 Nesterov 0.9, wd 5e-4, "
           "batch 512, 300 epochs, x0.1 at 150 and 225; Yamada et al. 2019 (ShakeDrop)",
)
# ResNet-18 (Table I's PE and plain rows). Neither the seed paper nor the PE paper states its recipe;
# we use He et al. 2016 Sec. 4.2 (CIFAR): SGD lr 0.1, momentum 0.9, weight decay 1e-4, batch 128,
# lr / 10 at 32k and 48k iterations, stop at 64k (= 164 epochs of 50,000 images; milestones 0.5 and 0.75).
PAPER_RESNET = Recipe(
    optimizer="sgd", lr_plain=0.1, lr_encrypted=0.1, momentum=0.9, weight_decay=1e-4, batch_size=128,
    epochs=164, schedule="multistep", milestones=(0.5, 0.75), gamma=0.1, image_size=32, block_size=4,
    source="He et al. 2016 Sec. 4.2: SGD 0.1, momentum 0.9, wd 1e-4, batch 128, /10 at 32k and 48k of 64k "
           "iterations (not stated by the seed paper: our choice)",
)

# -- CPU recipes (ours) --------------------------------------------------------------------------------------
# From scratch on 2,000 images in minutes: AdamW (lr 2e-3, betas 0.9/0.999, weight decay 0.05) with a
# one-cycle-shaped schedule (linear warm-up over the first 10 % of steps, cosine decay to zero), batch 128,
# gradient clipping at 1; the same learning rate on plain and encrypted images (no pretrained weights to
# protect). Measured in docs/benchmarks.md ("Training on encrypted images (cpu profile)").
CPU_RECIPE = Recipe(
    optimizer="adamw", lr_plain=2e-3, lr_encrypted=2e-3, momentum=0.9, beta2=0.999, weight_decay=0.05,
    batch_size=128, epochs=15, schedule="cosine", warmup_fraction=0.1, grad_clip=1.0,
    source="ppbench's choice for CPU-sized from-scratch training (AdamW + one-cycle shape, 15 epochs)",
)
SMOKE_RECIPE = Recipe(
    optimizer="adamw", lr_plain=2e-3, lr_encrypted=2e-3, weight_decay=0.05, batch_size=64, epochs=1,
    schedule="cosine", warmup_fraction=0.1, grad_clip=1.0, source="tests only",
)

register_profile(Profile(
    name="smoke",
    description="seconds, for tests: bundled sample (256 train / 128 test), 32x32, block 4, vit_smoke, 1 epoch",
    dataset="sample",
    image_size=32,
    block_size=4,
    n_train=256,
    n_test=128,
    eval_batch_size=128,
    recipes={"*": SMOKE_RECIPE},
    networks={"*": "vit_smoke"},
    n_attack_images=8,
))

register_profile(Profile(
    name="cpu",
    description="minutes on 2 CPU cores: bundled sample (2,000 / 500), 32x32, block 4, CPU-sized networks "
                "from scratch, AdamW + one-cycle, 15 epochs",
    dataset="sample",
    image_size=32,
    block_size=4,
    eval_batch_size=250,
    recipes={"*": CPU_RECIPE},
    # vit_cpu for the ViT scheme; resnet18_cpu for the CNN rows (2.5x faster than pyramidnet_shakedrop_cpu
    # on this machine, see docs/benchmarks.md; pass --network pyramidnet_shakedrop_cpu for the ShakeDrop body)
    networks={"proposed": "vit_cpu", "plain": "vit_cpu", "pe": "resnet18_cpu", "pe_np": "resnet18_cpu",
              "*": "resnet18_cpu"},
    n_attack_images=100,
))

# The paper's own size on 2 cores: the seed paper evaluates its scheme at 224 x 224 with M = 16 (CIFAR upscaled,
# Sec. IV-A). A patch-16 vit_cpu (dim 128, depth 4: 0.46 s per 64-image step at 224 here) from scratch on 1,000
# images, batch 64, 30 epochs; the attacks' learned networks get their own cpu224 sizes (ppbench.attacks).
CPU224_RECIPE = replace(
    CPU_RECIPE, batch_size=64, epochs=30,
    source="ppbench's choice: the cpu recipe with batch 64 and 30 epochs (1,000 images give 16 steps an epoch)",
)

register_profile(Profile(
    name="cpu224",
    description="the paper's 224x224 / block 16 on 2 CPU cores: bundled sample (1,000 / 500) upscaled, patch-16 "
                "vit_cpu from scratch, the attacks' networks sized for 224; proposed and plain",
    dataset="sample",
    image_size=224,
    block_size=16,
    n_train=1000,
    n_test=500,
    eval_batch_size=100,
    recipes={"*": CPU224_RECIPE},
    networks={"*": "vit_cpu"},
    n_attack_images=100,
    notes="block-wise CNN schemes (LE, ELE, EtC) were evaluated by the paper at 32 x 32 only: use the cpu profile",
))

register_profile(Profile(
    name="paper",
    description="the seed paper (GPU): CIFAR-10, ViT-B/16 (ImageNet-21k) at 224, block 16, SGD 0.03/0.3, "
                "batch 512, 10k steps; ShakeDrop / ResNet-18 at 32, block 4; bf16 on CUDA",
    dataset="cifar10",
    image_size=224,
    block_size=16,
    eval_batch_size=512,
    recipes={"vit": PAPER_VIT, "pyramidnet": PAPER_PYRAMIDNET, "resnet": PAPER_RESNET, "*": PAPER_VIT},
    # Table I: proposed -> ViT-B_16; LE*, EtC, ELE* -> ShakeDrop; PE -> ResNet-18; plain -> all three
    # (default ViT-B_16; --network pyramidnet_shakedrop / resnet18 for the other plain rows)
    networks={"proposed": "vit_b16", "plain": "vit_b16", "pe": "resnet18", "pe_np": "resnet18",
              "*": "pyramidnet_shakedrop"},
    pretrained=True,
    amp=True,
    channels_last=True,
    n_attack_images=10_000,
))


# -- the seed paper's Table I (accuracy as fractions), keyed by (scheme, network family) -----------------------
_SECURITY = {True: "high", False: "low", None: None}


def _paper_table_i() -> dict[tuple[str, str], dict[str, object]]:
    """The record's ``paper`` figures per (scheme, network family), from the one transcription of Table I,
    ``ppbench/reports/paper_table1.json`` (read as a file: importing the report package is not needed)."""
    rows = paper_table()["rows"]
    return {(r["scheme"], r["family"]): {"network": r["network"], "accuracy_cifar10": r["accuracy_cifar10"],
                                         "accuracy_cifar100": r["accuracy_cifar100"],
                                         "security": _SECURITY[r["security"]]} for r in rows}


PAPER_TABLE_I: dict[tuple[str, str], dict[str, object]] = _paper_table_i()
