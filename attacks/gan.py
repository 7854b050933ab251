"""The GAN attack: SIA-GAN (Madono, Tanaka, Onishi, Ogawa, "SIA-GAN: Scrambling inversion attack using
generative adversarial network", IEEE Access 9, 129385-129393, 2021).

The attacker holds the cloud's training set, i.e. the victim's training images encrypted with the
victim's key, and a collection of natural plain images of the same domain, unpaired. A generator
maps ciphertexts to images and a discriminator tells its outputs from the attacker's real images; the
generator's structure (block-wise first stage) is what lets it undo a fixed per-block transformation.

Profiles:

* ``paper``: SIA-GAN as published: generator with a sub-network per block position (see
  :mod:`.siagan_net`), spectral-norm discriminator with self-attention (ndf 1024), hinge loss, Adam
  lr 2e-4 (generator betas (0.9, 0.999), PyTorch's default, as the original ``gan_attack.py``;
  discriminator betas (0.5, 0.999)), batch 256, 100 epochs, images in [-1, 1]. The original's extra
  classifier cross-entropy on generated images (it needs the cloud's labels) is left out: the threat
  model here holds no labels.
* ``cpu`` / ``smoke``: the simpler re-implementation of the seed paper's attack-evaluation code
  (:class:`~.blocknet.BlockNet` generator, 1x1 :class:`~.blocknet.PixelNet` for pixel-wise schemes,
  small DCGAN discriminator, BCE loss, Adam 2e-4 with betas (0.5, 0.999) for both, batch 64, DCGAN
  initialisation); 25 epochs at ``cpu`` (the original's count, over ppbench's smaller data) and 1 at
  ``smoke``.

At 224 x 224 (the proposed scheme, M = 16) the block-wise layers use kernel = stride = 16 and
PixelShuffle(16) (the seed paper's "necessary changes", which it does not spell out).
One epoch is one pass over the victim ciphertexts; each step draws as many of the attacker's plain
images, cycling through them in a fresh random order. The last generator is kept (no validation: the
attacker has no paired data to validate on).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Attack, AttackerView, AttackInfo, ThreatModel, log_epoch, minibatches, progress, register_attack, to_tanh
from .blocknet import DCGANDiscriminator, block_network, dcgan_init
from .siagan_net import SIAGANGenerator, SNDiscriminator

_PAPER = ("K. Madono, M. Tanaka, M. Onishi, T. Ogawa, SIA-GAN: Scrambling inversion attack using generative "
          "adversarial network, IEEE Access 9, 129385-129393, 2021")
_URL = "https://doi.org/10.1109/ACCESS.2021.3112684"

_SIMPLE = dict(generator="blocknet", discriminator="dcgan", loss="bce", batch_size=64, lr_g=2e-4, lr_d=2e-4,
               betas_g=(0.5, 0.999), betas_d=(0.5, 0.999), feature_channels=16, decoder_width=64, d_width=64,
               init="dcgan", hidden=None, pixel_widths=(16, 32, 64))


class Cycler:
    """Endless batches of indices into ``range(n)``, reshuffled (with ``generator``) after each pass."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n, self.generator = n, generator
        self.order, self.pos = torch.randperm(n, generator=generator), 0

    def take(self, k: int) -> torch.Tensor:
        parts, need = [], k
        while need:
            if self.pos == self.n:
                self.order, self.pos = torch.randperm(self.n, generator=self.generator), 0
            part = self.order[self.pos : self.pos + need]
            self.pos += len(part)
            need -= len(part)
            parts.append(part)
        return torch.cat(parts)


def discriminator_term(kind: str, logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The discriminator's loss on real (``real=True``) or on generated images: its loss is their sum."""
    if kind == "hinge":
        return F.relu(1.0 - logits).mean() if real else F.relu(1.0 + logits).mean()
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits) if real else torch.zeros_like(logits))


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return discriminator_term(kind, real, True) + discriminator_term(kind, fake, False)


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return -fake.mean()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


@register_attack
class GAN(Attack):
    """SIA-GAN: a generator trained adversarially to turn victim-key ciphertexts into natural images.

    Paper: Madono et al., IEEE Access 9 (2021), https://doi.org/10.1109/ACCESS.2021.3112684.
    Threat model: ``ciphertext_only_unpaired_plain``: the victim's training images encrypted with the
    victim's key (the cloud's data) and the attacker's own plain images, unpaired; never the key.
    Arguments (``paper`` / ``cpu`` / ``smoke``): ``generator="siagan"/"blocknet"/"blocknet"``,
    ``discriminator="sngan"/"dcgan"/"dcgan"``, ``loss="hinge"/"bce"/"bce"``, ``epochs=100/25/1``,
    ``batch_size=256/64/64``, ``lr_g=lr_d=2e-4``, ``betas_g=(0.9, 0.999)/(0.5, 0.999)``,
    ``betas_d=(0.5, 0.999)``, ``feature_channels=16``, ``decoder_width=64``, ``d_width=1024/64/64``,
    ``init="default"/"dcgan"/"dcgan"``, ``hidden=None`` (BlockNet width, 3 M^2),
    ``pixel_widths=(64, 128, 256)/(16, 32, 64)/(16, 32, 64)`` (PixelNet, pixel-wise schemes); ``device=None`` (CPU).
    Shapes: uint8 N x 3 x H x W ciphertexts -> uint8 N x 3 x H x W (the generator works in [-1, 1];
    its output is mapped back with :func:`ppbench.metrics.to_uint8`).
    Example::

        attack = create_attack("gan", scheme_name="le", image_size=32, block_size=4).fit(view)
        restored = attack(test_ciphertexts)
    """

    info = AttackInfo(
        name="gan",
        title="SIA-GAN: block-position-aware generator vs. discriminator on unpaired data (Madono et al. 2021)",
        paper=_PAPER,
        url=_URL,
        threat_model=ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN,
        version=1,
        trainable=True,
        notes="cpu/smoke: the attack-evaluation code's block network, DCGAN discriminator and BCE loss",
    )
    default_configs = {
        "smoke": dict(_SIMPLE, epochs=1),
        "cpu": dict(_SIMPLE, epochs=25),
        "paper": dict(generator="siagan", discriminator="sngan", loss="hinge", epochs=100, batch_size=256,
                      lr_g=2e-4, lr_d=2e-4, betas_g=(0.9, 0.999), betas_d=(0.5, 0.999), feature_channels=16,
                      decoder_width=64, d_width=1024, init="default", hidden=None, pixel_widths=(64, 128, 256)),
    }

    def build(self) -> None:
        c = self.config
        if c["generator"] == "siagan":
            self.generator: nn.Module = SIAGANGenerator(self.net_block, self.image_size, c["feature_channels"], c["decoder_width"])
        elif c["generator"] == "blocknet":
            self.generator = block_network(self.net_block, c["hidden"], c["pixel_widths"])
        else:
            raise ValueError(f"gan: generator must be 'siagan' or 'blocknet', got {c['generator']!r}")
        if c["discriminator"] == "sngan":
            self.discriminator: nn.Module = SNDiscriminator(self.image_size, c["d_width"])
        elif c["discriminator"] == "dcgan":
            self.discriminator = DCGANDiscriminator(c["d_width"])
        else:
            raise ValueError(f"gan: discriminator must be 'sngan' or 'dcgan', got {c['discriminator']!r}")
        if c["loss"] not in ("hinge", "bce"):
            raise ValueError(f"gan: loss must be 'hinge' or 'bce', got {c['loss']!r}")
        if c["init"] == "dcgan":
            dcgan_init(self.generator)
            dcgan_init(self.discriminator)

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)

    def _fit(self, view: AttackerView) -> None:
        c, dev, gen = self.config, self.device, view.generator
        ciphertexts, plain = view.victim_ciphertexts, view.public_images
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=c["lr_g"], betas=tuple(c["betas_g"]))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c["lr_d"], betas=tuple(c["betas_d"]))
        reals = Cycler(plain.shape[0], gen)
        with progress(c["epochs"], f"gan/{self.scheme_name}") as bar:
            for epoch in range(1, c["epochs"] + 1):
                sums, steps = {"d_loss": 0.0, "g_loss": 0.0}, 0
                for idx in minibatches(ciphertexts.shape[0], c["batch_size"], gen, drop_last=True):
                    z = to_tanh(ciphertexts[idx].to(dev))
                    real = to_tanh(plain[reals.take(len(idx))].to(dev))
                    fake = self.generator(z)
                    # the two terms back-propagated one after the other: the same gradients as their sum, but only
                    # one discriminator pass's activations alive at a time (the paper size at 224 needs that)
                    opt_d.zero_grad(set_to_none=True)
                    d_real = discriminator_term(c["loss"], self.discriminator(real), real=True)
                    d_real.backward()
                    d_fake = discriminator_term(c["loss"], self.discriminator(fake.detach()), real=False)
                    d_fake.backward()
                    opt_d.step()
                    d_loss = d_real.detach() + d_fake.detach()
                    g_loss = generator_loss(c["loss"], self.discriminator(fake))
                    opt_g.zero_grad(set_to_none=True)
                    g_loss.backward()
                    opt_g.step()
                    sums["d_loss"] += d_loss.item()
                    sums["g_loss"] += g_loss.item()
                    steps += 1
                log_epoch(self, epoch, c["epochs"], {k: v / max(steps, 1) for k, v in sums.items()})
                bar.update(1)
