"""Inverse transformation network attacks (Ito, Kinoshita, Kiya, "Image transformation network for
privacy-preserving deep neural networks and its security evaluation", GCCE 2020, arXiv:2008.03143):
``itn`` (the attack-evaluation code's block network) and ``itn_unet`` (the original U-Net form).

The attacker never sees the victim's key or ciphertexts during training. It takes natural plain images
of its own, encrypts **each image with a key it draws itself, a different key per image**, and trains
a network to map those ciphertexts back to the plain images with the MSE between the network's tanh
output and the plain image in [-1, 1]. A network that succeeds has learned an inverse that does not
depend on the key, which it then applies to the victim's ciphertexts. (The reference code applies a
sigmoid to the tanh output in training only, a bug; ppbench does not.)

Keys: the reference code encrypts its training set once, a fresh key per image, and trains on those
fixed pairs (``key_refresh="once"``, the ``paper`` profile). Drawing new keys for every image in every
epoch costs about 1-2 ms per image at 32 x 32 (measured: docs/benchmarks.md), affordable on small sets,
and gives the attacker strictly more key diversity, so ``cpu`` and ``smoke`` use ``key_refresh="epoch"``.
No key is ever reused across images (there is no key pool). The attacker's keys are drawn from the
view's seeded generator, so a rerun reproduces.

A share ``val_fraction`` (10 %) of the attacker's images is held out with its own fresh keys, drawn
once; the weights with the lowest validation loss are kept (ties: the later epoch), as the reference.
Training stops when that loss has not fallen by more than ``min_delta`` for ``patience`` epochs, or at the
cap ``epochs`` (:class:`~.stopping.EarlyStopping`; a step schedule runs to its last drop first); ``smoke``
(``patience=None``) runs exactly ``epochs``. The record says how it stopped and whether the budget cut it
short of the original's optimiser steps (``reduced``; ``original_steps``: 45,000 training pairs at batch
128 = 352 steps per epoch, x 50 epochs for ``itn``, x 200 for ``itn_unet``).

``itn`` (all profiles): :class:`~.blocknet.BlockNet` (``PixelNet`` for pixel-wise schemes), SGD
lr 0.01, momentum 0.9, weight decay 5e-4, batch 128. Length: ``paper``: patience 10, cap 101 epochs (the
original's 17,600 steps at the paper profile's 22,500 training pairs, 175 steps per epoch: 17,675 steps);
``cpu``: patience 10, cap 120 epochs (4 x the 30 fixed epochs it had: 840 steps on 900 pairs, which keeps a
``cpu`` study within about 2-3 x its former length); ``smoke``: 1 epoch, fixed.
``itn_unet``: :class:`~.unet.UNet`; ``paper`` is the image-to-perturbation code's ITN: width 64,
depth 4 (64 -> 1024), SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 128, horizontal flips, patience 20,
cap 403 epochs (the original's 200 epochs = 70,400 steps at 175 steps per epoch), lr x0.2 at epochs 121, 241
and 322 (the original's epochs 60, 120, 160 at the same steps); ``cpu``: width 16, depth 3, lr 0.01, patience
10, cap 80 epochs (4 x its former 20); ``smoke``: width 8, depth 2, 1 epoch, fixed. At 224 x 224 the block
network uses kernel = stride = 16 and PixelShuffle(16); the U-Net needs no change.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Attack, AttackerView, AttackInfo, ThreatModel, log_epoch, minibatches, progress, register_attack, to_tanh
from .blocknet import block_network
from .stopping import EarlyStopping, StoppedTraining, summarise
from .unet import UNet

_PAPER = ("H. Ito, Y. Kinoshita, H. Kiya, Image transformation network for privacy-preserving deep neural "
          "networks and its security evaluation, IEEE GCCE 2020, pp. 822-825")
_URL = "https://arxiv.org/abs/2008.03143"

_ITN = dict(batch_size=128, lr=0.01, momentum=0.9, weight_decay=5e-4, val_fraction=0.1, milestones=(), gamma=0.2,
            hflip=False, patience=10, min_delta=1e-4)
_FIXED = dict(patience=None, min_delta=0.0)  # smoke: exactly ``epochs`` epochs, as before


class _ITNBase(StoppedTraining, Attack):
    """Shared training loop: MSE on (own-key ciphertext, plain) pairs, SGD, best validation loss kept, stopped
    when it no longer improves (or at the cap)."""

    original_steps: int  # the original attack's optimiser steps (the module docstring derives them)

    def networks(self) -> dict[str, nn.Module]:
        return {"network": self.network}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def _fit(self, view: AttackerView) -> None:
        c, dev, gen = self.config, self.device, view.generator
        plain = view.public_images
        n = plain.shape[0]
        n_val = max(1, int(round(n * c["val_fraction"])))
        if n - n_val < 2:
            raise ValueError(f"{self.info.name}: needs at least {n_val + 2} attacker images, got {n}")
        order = torch.randperm(n, generator=gen)
        val_plain, train_plain = plain[order[:n_val]], plain[order[n_val:]]
        if c["key_refresh"] not in ("once", "epoch"):
            raise ValueError(f"{self.info.name}: key_refresh must be 'once' or 'epoch', got {c['key_refresh']!r}")
        val_cipher = view.encrypt_with_fresh_keys(val_plain)
        train_cipher = view.encrypt_with_fresh_keys(train_plain) if c["key_refresh"] == "once" else None
        optimizer = torch.optim.SGD(self.network.parameters(), lr=c["lr"], momentum=c["momentum"], weight_decay=c["weight_decay"])
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(c["milestones"]), gamma=c["gamma"])
        stopper = EarlyStopping(c["epochs"], c["patience"], c["min_delta"], min_epochs=max(c["milestones"], default=0))
        steps = 0
        with progress(c["epochs"], f"{self.info.name}/{self.scheme_name}") as bar:
            for epoch in stopper.epochs():
                targets, inputs = train_plain, train_cipher
                flip = torch.rand(targets.shape[0], generator=gen) < 0.5 if c["hflip"] else None
                if flip is not None:
                    targets = torch.where(flip[:, None, None, None], targets.flip(-1), targets)
                if c["key_refresh"] == "epoch":
                    inputs = view.encrypt_with_fresh_keys(targets)  # fresh keys for every image, every epoch
                elif flip is not None:  # fixed pairs: flip both, as the original's paired augmentation
                    inputs = torch.where(flip[:, None, None, None], inputs.flip(-1), inputs)
                self.network.train()
                train_loss, seen = 0.0, 0
                for idx in minibatches(targets.shape[0], c["batch_size"], gen, drop_last=True):
                    loss = F.mse_loss(self.network(to_tanh(inputs[idx].to(dev))), to_tanh(targets[idx].to(dev)))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    train_loss += loss.item() * len(idx)
                    seen += len(idx)
                    steps += 1
                scheduler.step()
                val_loss = self._validation_loss(val_cipher, val_plain)
                stopper.update(val_loss, lambda: copy.deepcopy(self.network.state_dict()))  # keeps the best weights
                log_epoch(self, epoch, c["epochs"], {"train_loss": train_loss / max(seen, 1), "val_loss": val_loss})
                bar.update(1)
        if stopper.best_state is not None:
            self.network.load_state_dict(stopper.best_state)
        self.training = summarise(stopper, steps_run=steps, original_steps=self.original_steps)

    @torch.no_grad()
    def _validation_loss(self, ciphertexts: torch.Tensor, plain: torch.Tensor) -> float:
        self.network.eval()
        total = 0.0
        step = self.config["batch_size"]
        for s in range(0, plain.shape[0], step):
            out = self.network(to_tanh(ciphertexts[s : s + step].to(self.device)))
            total += float(F.mse_loss(out, to_tanh(plain[s : s + step].to(self.device)), reduction="sum"))
        return total / plain[:1].numel() / plain.shape[0]


@register_attack
class ITN(_ITNBase):
    """Inverse transformation network, block-network form (the seed paper's attack-evaluation code).

    Paper: Ito, Kinoshita, Kiya, GCCE 2020, https://arxiv.org/abs/2008.03143.
    Threat model: ``ciphertext_only_own_keys``: the attacker's own plain images, which it encrypts
    with keys it draws itself (a different key per image); never the victim's key or ciphertexts.
    Arguments (``paper`` / ``cpu`` / ``smoke``; ``cpu224``: see ``default_configs``): ``epochs=101/120/1`` (the cap; ``smoke``: fixed),
    ``patience=10/10/None``, ``min_delta=1e-4/1e-4/0``, ``batch_size=128``, ``lr=0.01``,
    ``momentum=0.9``, ``weight_decay=5e-4``, ``val_fraction=0.1``, ``key_refresh="once"/"epoch"/"epoch"``,
    ``milestones=()``, ``gamma=0.2``, ``hflip=False``, ``hidden=None`` (BlockNet width, 3 M^2),
    ``pixel_widths=(64, 128, 256)/(16, 32, 64)/(16, 32, 64)`` (PixelNet, pixel-wise schemes); ``device=None`` (CPU).
    Shapes: uint8 N x 3 x H x W ciphertexts -> uint8 N x 3 x H x W (network in [-1, 1], mapped back
    with :func:`ppbench.metrics.to_uint8`).
    Example::

        attack = create_attack("itn", scheme_name="le", image_size=32, block_size=4).fit(view)
        restored = attack(test_ciphertexts)
    """

    info = AttackInfo(
        name="itn",
        title="Inverse transformation network: block network trained on own-key pairs, MSE (Ito et al. 2020)",
        paper=_PAPER,
        url=_URL,
        threat_model=ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS,
        version=2,
        trainable=True,
        notes="no sigmoid in training (the reference code's bug); trained until the validation loss stops improving",
    )
    original_steps = 17_600  # 50 epochs x 352 steps (45,000 pairs, batch 128)
    default_configs = {
        "smoke": dict(_ITN, epochs=1, key_refresh="epoch", hidden=None, pixel_widths=(16, 32, 64), **_FIXED),
        "cpu": dict(_ITN, epochs=120, key_refresh="epoch", hidden=None, pixel_widths=(16, 32, 64)),
        # 224 x 224 / M16 (the paper's "necessary changes"): the block layers at kernel = stride = 16, width 3 M^2 = 768;
        # batch 32 so that 450 pairs still give 14 steps an epoch; at most 15 epochs (about 25 s each here)
        "cpu224": dict(_ITN, epochs=15, key_refresh="epoch", hidden=None, pixel_widths=(16, 32, 64), batch_size=32,
                       patience=4),
        "paper": dict(_ITN, epochs=101, key_refresh="once", hidden=None, pixel_widths=(64, 128, 256)),
    }

    def build(self) -> None:
        self.network = block_network(self.net_block, self.config["hidden"], self.config["pixel_widths"])


@register_attack
class ITNUNet(_ITNBase):
    """Inverse transformation network, U-Net form (the image-to-perturbation code's ITN).

    Paper: Ito, Kinoshita, Kiya, GCCE 2020, https://arxiv.org/abs/2008.03143.
    Threat model: ``ciphertext_only_own_keys`` (as ``itn``).
    Arguments (``paper`` / ``cpu`` / ``smoke``; ``cpu224``: see ``default_configs``): ``width=64/16/8``, ``depth=4/3/2``, ``epochs=403/80/1`` (the
    cap; ``smoke``: fixed), ``patience=20/10/None``, ``min_delta=1e-4/1e-4/0``,
    ``batch_size=128``, ``lr=0.1/0.01/0.01``, ``momentum=0.9``, ``weight_decay=5e-4``,
    ``milestones=(121, 241, 322)/()/()``, ``gamma=0.2``, ``hflip=True/False/False``, ``val_fraction=0.1``,
    ``key_refresh="once"/"epoch"/"epoch"``; ``device=None`` (CPU).
    Shapes: uint8 N x 3 x H x W ciphertexts (H, W multiples of 2**depth) -> uint8 N x 3 x H x W.
    Example::

        attack = create_attack("itn_unet", scheme_name="proposed", image_size=32, block_size=4).fit(view)
        restored = attack(test_ciphertexts)
    """

    info = AttackInfo(
        name="itn_unet",
        title="Inverse transformation network, U-Net form (64 -> 1024 and back, skips), MSE (Ito et al. 2020)",
        paper=_PAPER,
        url=_URL,
        threat_model=ThreatModel.CIPHERTEXT_ONLY_OWN_KEYS,
        version=2,
        trainable=True,
        notes="trained until the validation loss stops improving",
    )
    original_steps = 70_400  # 200 epochs x 352 steps (45,000 pairs, batch 128)
    default_configs = {
        "smoke": dict(_ITN, epochs=1, key_refresh="epoch", width=8, depth=2, **_FIXED),
        "cpu": dict(_ITN, epochs=80, key_refresh="epoch", width=16, depth=3),
        # 224 x 224: the U-Net's 3x3 convolutions run at full resolution, so half the cpu width (8) and batch 16;
        # depth 3 (224 = 28 x 2^3); at most 6 epochs
        "cpu224": dict(_ITN, epochs=6, key_refresh="epoch", width=8, depth=3, batch_size=16, patience=3),
        "paper": dict(_ITN, epochs=403, key_refresh="once", width=64, depth=4, lr=0.1, milestones=(121, 241, 322),
                      hflip=True, patience=20),
    }

    def build(self) -> None:
        self.network = UNet(self.config["width"], self.config["depth"])
