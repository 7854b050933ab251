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
  initialisation).

Length: trained until a validation measure stops improving (:class:`~.stopping.EarlyStopping`: no fall of
more than ``min_delta`` for ``patience`` epochs), with a cap of ``epochs``; the generator (and its
discriminator) of the best epoch are kept. ``paper``: patience 20, cap 226 epochs (the original's 100 epochs
x 196 steps = 19,600 steps, at the paper profile's 22,500 training ciphertexts and batch 256: 87 steps per
epoch, 19,662 steps); ``cpu``: patience 10, cap 100 epochs (4 x the 25 fixed epochs it had: 1,400 steps on
900 ciphertexts, which keeps a ``cpu`` study within about 2-3 x its former length); ``smoke``: exactly 1
epoch, no hold-out, the last generator kept (as before). The record says how training stopped and whether a
budget cut it short of the original's steps (``reduced``).

Validation without pairs: the threat model grants victim-key ciphertexts and unpaired plain images only, so
the measure compares *distributions*: a share ``val_fraction`` of the victim ciphertexts and of the
attacker's plain images is held out, and :func:`statistics_distance` compares the generator's outputs on the
held-out ciphertexts with the held-out plain images by the mean and spread over images of per-image
statistics (each channel's spatial mean and standard deviation of the image and of the three layers of a
fixed, seeded random convolutional network: colour, contrast and texture at three scales), each difference
in units of the real images' spread. It is cheap (one generator pass over a few hundred images), needs no
pretrained weights (FID's Inception would be a download and fits 32 x 32 poorly) and is stable: both sets
are fixed, so it changes only when the generator does, where the discriminator's loss is a moving target
that co-adapts with the generator and says little about progress. It never sees a victim plaintext.

At 224 x 224 (the proposed scheme, M = 16) the block-wise layers use kernel = stride = 16 and
PixelShuffle(16) (the seed paper's "necessary changes", which it does not spell out).
One epoch is one pass over the (training share of the) victim ciphertexts; each step draws as many of the
attacker's plain images, cycling through them in a fresh random order.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ppbench.errors import InputError

from .base import Attack, AttackerView, AttackInfo, ThreatModel, log_epoch, minibatches, progress, register_attack, to_tanh
from .blocknet import DCGANDiscriminator, block_network, dcgan_init
from .siagan_net import SIAGANGenerator, SNDiscriminator
from .stopping import EarlyStopping, StoppedTraining, summarise

_PAPER = ("K. Madono, M. Tanaka, M. Onishi, T. Ogawa, SIA-GAN: Scrambling inversion attack using generative "
          "adversarial network, IEEE Access 9, 129385-129393, 2021")
_URL = "https://doi.org/10.1109/ACCESS.2021.3112684"

_SIMPLE = dict(generator="blocknet", discriminator="dcgan", loss="bce", batch_size=64, lr_g=2e-4, lr_d=2e-4,
               betas_g=(0.5, 0.999), betas_d=(0.5, 0.999), feature_channels=16, decoder_width=64, d_width=64,
               init="dcgan", hidden=None, pixel_widths=(16, 32, 64), val_fraction=0.1, patience=10, min_delta=1e-3)
_PROBE_SEED = 16  # the random feature network's weights: fixed, the same for every run and scheme
_PROBE_WIDTHS = (3, 16, 32, 64)


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


def _probe_weights(device: torch.device) -> list[torch.Tensor]:
    """The fixed random network behind :func:`image_statistics`: 4x4 stride-2 convolutions, He-scaled."""
    gen = torch.Generator().manual_seed(_PROBE_SEED)  # its own generator: the global RNG is not touched
    return [(torch.randn(c_out, c_in, 4, 4, generator=gen) * math.sqrt(2.0 / (c_in * 16))).to(device)
            for c_in, c_out in zip(_PROBE_WIDTHS, _PROBE_WIDTHS[1:])]


@torch.no_grad()
def image_statistics(x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    """N x F per-image statistics of images in [-1, 1]: each channel's spatial mean and standard deviation, of
    the image and of each layer (ReLU) of the fixed random network ``weights``."""
    feats, h = [], x.float()
    for i in range(len(weights) + 1):
        feats += [h.mean((2, 3)), h.flatten(2).std(2)]
        if i < len(weights):
            h = F.relu(F.conv2d(h, weights[i], stride=2, padding=1))
    return torch.cat(feats, 1)


def statistics_distance(generated: torch.Tensor, real: torch.Tensor) -> float:
    """How far two sets of :func:`image_statistics` are apart: per statistic, the difference of their means and
    of their standard deviations over images, in units of the real set's standard deviation (+ 0.01), averaged."""
    scale = real.std(0) + 1e-2
    gap = (generated.mean(0) - real.mean(0)).abs() + (generated.std(0) - real.std(0)).abs()
    return float((gap / scale).mean())


@register_attack
class GAN(StoppedTraining, Attack):
    """SIA-GAN: a generator trained adversarially to turn victim-key ciphertexts into natural images.

    Paper: Madono et al., IEEE Access 9 (2021), https://doi.org/10.1109/ACCESS.2021.3112684.
    Threat model: ``ciphertext_only_unpaired_plain``: the victim's training images encrypted with the
    victim's key (the cloud's data) and the attacker's own plain images, unpaired; never the key.
    Arguments (``paper`` / ``cpu`` / ``smoke``): ``generator="siagan"/"blocknet"/"blocknet"``,
    ``discriminator="sngan"/"dcgan"/"dcgan"``, ``loss="hinge"/"bce"/"bce"``, ``epochs=226/100/1`` (the cap;
    ``smoke``: fixed), ``patience=20/10/None``, ``min_delta=1e-3/1e-3/0``, ``val_fraction=0.1/0.1/0``,
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
        version=2,
        trainable=True,
        notes="cpu/smoke: the attack-evaluation code's block network, DCGAN discriminator and BCE loss; trained "
              "until a distribution distance on held-out data stops improving",
    )
    original_steps = 19_600  # 100 epochs x 196 steps (50,000 ciphertexts, batch 256)
    default_configs = {
        "smoke": dict(_SIMPLE, epochs=1, val_fraction=0.0, patience=None, min_delta=0.0),
        "cpu": dict(_SIMPLE, epochs=100),
        "paper": dict(generator="siagan", discriminator="sngan", loss="hinge", epochs=226, batch_size=256,
                      lr_g=2e-4, lr_d=2e-4, betas_g=(0.9, 0.999), betas_d=(0.5, 0.999), feature_channels=16,
                      decoder_width=64, d_width=1024, init="default", hidden=None, pixel_widths=(64, 128, 256),
                      val_fraction=0.1, patience=20, min_delta=1e-3),
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
        validate = self._hold_out(ciphertexts, plain, gen)
        if validate is not None:
            ciphertexts, plain, measure = validate
        elif c["patience"] is not None:
            raise InputError("gan: patience needs held-out data to validate on; set val_fraction > 0 (or patience=None)")
        stopper = EarlyStopping(c["epochs"], c["patience"], c["min_delta"])
        total_steps = 0

        def keep() -> dict[str, dict[str, torch.Tensor]]:
            return {k: copy.deepcopy(v.state_dict()) for k, v in self.networks().items()}

        opt_g = torch.optim.Adam(self.generator.parameters(), lr=c["lr_g"], betas=tuple(c["betas_g"]))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c["lr_d"], betas=tuple(c["betas_d"]))
        reals = Cycler(plain.shape[0], gen)
        with progress(c["epochs"], f"gan/{self.scheme_name}") as bar:
            for epoch in stopper.epochs():
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
                total_steps += steps
                stats = {k: v / max(steps, 1) for k, v in sums.items()}
                if validate is not None:
                    stats["val_distance"] = measure()
                stopper.update(stats.get("val_distance"), keep if validate is not None else None)
                log_epoch(self, epoch, c["epochs"], stats)
                bar.update(1)
        if validate is not None and stopper.best_state is not None:  # without validation the last state is kept
            for name, net in self.networks().items():
                net.load_state_dict(stopper.best_state[name])
        self.training = summarise(stopper, steps_run=total_steps, original_steps=self.original_steps)

    def _hold_out(self, ciphertexts: torch.Tensor, plain: torch.Tensor, gen: torch.Generator):
        """With ``val_fraction`` > 0: the training shares of the victim ciphertexts and of the attacker's plain
        images, and the validation measure on the held-out rest (:func:`statistics_distance`, lower is better);
        None without a hold-out. Only what the threat model grants goes in: ciphertexts and unpaired plain images."""
        fraction = float(self.config["val_fraction"])
        if fraction <= 0:
            return None
        held = [max(2, int(round(n * fraction))) for n in (ciphertexts.shape[0], plain.shape[0])]
        if ciphertexts.shape[0] - held[0] < 2 or plain.shape[0] - held[1] < 2:
            raise InputError(f"gan: val_fraction {fraction} leaves fewer than 2 of {ciphertexts.shape[0]} ciphertexts or "
                             f"{plain.shape[0]} plain images to train on; give more images or a smaller val_fraction")
        c_order, p_order = torch.randperm(ciphertexts.shape[0], generator=gen), torch.randperm(plain.shape[0], generator=gen)
        val_cipher, val_plain = ciphertexts[c_order[: held[0]]], plain[p_order[: held[1]]]
        weights = _probe_weights(self.device)
        step = int(self.config["batch_size"])

        def statistics(images: torch.Tensor, network: nn.Module | None) -> torch.Tensor:
            parts = []
            for s in range(0, images.shape[0], step):
                x = to_tanh(images[s : s + step].to(self.device))
                parts.append(image_statistics(network(x) if network is not None else x, weights))
            return torch.cat(parts)

        real = statistics(val_plain, None)

        @torch.no_grad()
        def measure() -> float:
            self.generator.eval()
            try:
                return statistics_distance(statistics(val_cipher, self.generator), real)
            finally:
                self.generator.train()

        return ciphertexts[c_order[held[0]:]], plain[p_order[held[1]:]], measure
