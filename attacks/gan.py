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
  model here holds no labels (:class:`GANLabels` adds it under one that does).
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

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ppbench.errors import InputError

from .base import Attack, AttackerView, AttackInfo, NotApplicableError, ThreatModel, log_epoch, minibatches, progress, register_attack, to_tanh
from .blocknet import DCGANDiscriminator, block_network, dcgan_init
from .siagan_net import SIAGANGenerator, SNDiscriminator
from .stopping import EarlyStopping, StoppedTraining, summarise

_PAPER = ("K. Madono, M. Tanaka, M. Onishi, T. Ogawa, SIA-GAN: Scrambling inversion attack using generative "
          "adversarial network, IEEE Access 9, 129385-129393, 2021")
_URL = "https://doi.org/10.1109/ACCESS.2021.3112684"

_SIMPLE = dict(generator="blocknet", discriminator="dcgan", loss="bce", batch_size=64, lr_g=2e-4, lr_d=2e-4,
               betas_g=(0.5, 0.999), betas_d=(0.5, 0.999), feature_channels=16, decoder_width=64, d_width=64,
               init="dcgan", hidden=None, pixel_widths=(16, 32, 64), val_fraction=0.1, patience=10, min_delta=1e-3,
               augment="none", mixup=0.0)
_PROBE_SEED = 16  # the random feature network's weights: fixed, the same for every run and scheme
_PROBE_WIDTHS = (3, 16, 32, 64)


#: schemes whose encryption commutes with every permutation of whole blocks (pixels, for M = 1): every block is
#: encrypted with the same key and stays in place, so shifting or flipping a ciphertext's block grid gives the
#: ciphertext of the plain image with that block grid shifted or flipped, under the same key
_BLOCK_EQUIVARIANT = {"plain": "no encryption", "le": "one key for every block, blocks stay in place"}
#: schemes where it does not, and why (a key-free augmentation would make ciphertexts of no key)
_NOT_EQUIVARIANT = {
    "ele": "a different key per block position, then block scrambling",
    "etc": "block scrambling and a per-block rotation/flip/negative-positive/colour-shuffle key",
    "proposed": "block scrambling (K1) moves blocks to key-dependent positions",
    "pe": "a different key per pixel",
    "pe_np": "a different key per pixel",
}


def key_free_refusal(scheme_name: str) -> str | None:
    """Why ``augment="key_free"`` cannot be used against ``scheme_name``, or None where it can."""
    if scheme_name in _BLOCK_EQUIVARIANT:
        return None
    why = _NOT_EQUIVARIANT.get(scheme_name, "ppbench does not know whether its encryption commutes with block moves")
    return (f"gan: augment='key_free' is not valid for scheme {scheme_name!r} ({why}): moving its blocks makes "
            "ciphertexts of no key; use augment='none' for it")


def block_grid_augment(x: torch.Tensor, block: int, generator: torch.Generator) -> torch.Tensor:
    """Each image with its grid of ``block`` x ``block`` blocks flipped left-right and top-bottom (each with
    probability 1/2) and then shifted cyclically by a random number of blocks; block contents are kept."""
    n, c, h, w = x.shape
    gh, gw = h // block, w // block
    flips = torch.rand(n, 2, generator=generator) < 0.5
    shifts = torch.stack([torch.randint(gh, (n,), generator=generator), torch.randint(gw, (n,), generator=generator)], 1)
    grid = x.reshape(n, c, gh, block, gw, block)
    out = torch.empty_like(grid)
    for i in range(n):
        g = grid[i]
        dims = [d for d, f in zip((1, 3), flips[i].tolist()) if f]
        if dims:
            g = g.flip(dims)
        out[i] = g.roll((int(shifts[i, 0]), int(shifts[i, 1])), dims=(1, 3))
    return out.reshape(n, c, h, w)


def mixup(x: torch.Tensor, alpha: float, rng: "np.random.Generator", generator: torch.Generator) -> torch.Tensor:
    """Mixup (Zhang et al. 2018) of a batch with a shuffled copy of itself, one weight ~ Beta(alpha, alpha)."""
    lam = float(rng.beta(alpha, alpha))
    return lam * x + (1.0 - lam) * x[torch.randperm(x.shape[0], generator=generator).to(x.device)]


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
    Arguments (``paper`` / ``cpu`` / ``smoke``; ``cpu224``: the module's ``default_configs``, docs/attacks.md): ``generator="siagan"/"blocknet"/"blocknet"``,
    ``discriminator="sngan"/"dcgan"/"dcgan"``, ``loss="hinge"/"bce"/"bce"``, ``epochs=226/100/1`` (the cap;
    ``smoke``: fixed), ``patience=20/10/None``, ``min_delta=1e-3/1e-3/0``, ``val_fraction=0.1/0.1/0``,
    ``batch_size=256/64/64``, ``lr_g=lr_d=2e-4``, ``betas_g=(0.9, 0.999)/(0.5, 0.999)``,
    ``betas_d=(0.5, 0.999)``, ``feature_channels=16``, ``decoder_width=64``, ``d_width=1024/64/64``,
    ``init="default"/"dcgan"/"dcgan"``, ``hidden=None`` (BlockNet width, 3 M^2),
    ``pixel_widths=(64, 128, 256)/(16, 32, 64)/(16, 32, 64)`` (PixelNet, pixel-wise schemes); ``device=None`` (CPU);
    off by default: ``augment="none"`` (``"key_free"``: random flips and cyclic shifts of the block grid, only
    for schemes whose encryption commutes with them, see :func:`key_free_refusal`), ``mixup=0.0`` (alpha of
    mixup on the attacker's real images).
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
        # 224 x 224 / M16 on 2 cores: SIA-GAN's own networks (a first stage per block position, kernel = stride = 16,
        # PixelShuffle(16); spectral-norm discriminator, hinge loss) with widths cut to fit: 1 feature channel per
        # pixel (196 positions x 256 x 768 weights, 38.5 M; the paper's 16 would be 617 M), decoder width 16,
        # discriminator width 64, batch 32; at most 8 epochs (about 75 s each on 500 + 500 images here)
        "cpu224": dict(_SIMPLE, generator="siagan", discriminator="sngan", loss="hinge", init="default", epochs=8,
                       batch_size=32, betas_g=(0.9, 0.999), feature_channels=1, decoder_width=16, d_width=64,
                       patience=3),
        "paper": dict(generator="siagan", discriminator="sngan", loss="hinge", epochs=226, batch_size=256,
                      lr_g=2e-4, lr_d=2e-4, betas_g=(0.9, 0.999), betas_d=(0.5, 0.999), feature_channels=16,
                      decoder_width=64, d_width=1024, init="default", hidden=None, pixel_widths=(64, 128, 256),
                      val_fraction=0.1, patience=20, min_delta=1e-3, augment="none", mixup=0.0),
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
        if c["augment"] not in ("none", "key_free"):
            raise InputError(f"gan: augment must be 'none' or 'key_free', got {c['augment']!r}")
        if c["augment"] == "key_free" and (refusal := key_free_refusal(self.scheme_name)) is not None:
            raise NotApplicableError(refusal)
        if float(c["mixup"]) < 0:
            raise InputError(f"gan: mixup is a Beta(alpha, alpha) parameter >= 0 (0: off), got {c['mixup']}")
        validate = self._hold_out(ciphertexts, plain, gen)
        kept = torch.arange(ciphertexts.shape[0])
        if validate is not None:
            ciphertexts, plain, measure, kept = validate
        elif c["patience"] is not None:
            raise InputError("gan: patience needs held-out data to validate on; set val_fraction > 0 (or patience=None)")
        stopper = EarlyStopping(c["epochs"], c["patience"], c["min_delta"])
        total_steps = 0
        extra = self._generator_term(view, kept)  # None for plain SIA-GAN
        mix_rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen))) if c["mixup"] > 0 else None

        def keep() -> dict[str, dict[str, torch.Tensor]]:
            return {k: copy.deepcopy(v.state_dict()) for k, v in self.networks().items()}

        opt_g = torch.optim.Adam(self.generator.parameters(), lr=c["lr_g"], betas=tuple(c["betas_g"]))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c["lr_d"], betas=tuple(c["betas_d"]))
        reals = Cycler(plain.shape[0], gen)
        with progress(c["epochs"], f"gan/{self.scheme_name}") as bar:
            for epoch in stopper.epochs():
                sums, steps = {"d_loss": 0.0, "g_loss": 0.0}, 0
                for idx in minibatches(ciphertexts.shape[0], c["batch_size"], gen, drop_last=True):
                    z, real = ciphertexts[idx], plain[reals.take(len(idx))]
                    if c["augment"] == "key_free":  # the same block moves on both sides: ciphertexts of moved images
                        z, real = block_grid_augment(z, self.net_block, gen), block_grid_augment(real, self.net_block, gen)
                    z, real = to_tanh(z.to(dev)), to_tanh(real.to(dev))
                    if mix_rng is not None:
                        real = mixup(real, float(c["mixup"]), mix_rng, gen)
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
                    g_total = g_loss
                    if extra is not None:
                        term = extra(fake, idx)
                        g_total = g_loss + term
                        sums["label_loss"] = sums.get("label_loss", 0.0) + term.item()
                    opt_g.zero_grad(set_to_none=True)
                    g_total.backward()
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
        None without a hold-out; also the indices of the kept training ciphertexts. Only what the threat model grants goes in: ciphertexts and unpaired plain images."""
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

        return ciphertexts[c_order[held[0]:]], plain[p_order[held[1]:]], measure, c_order[held[0]:]

    def _generator_term(self, view: AttackerView, kept: torch.Tensor):
        """An extra term of the generator's loss, ``term(fake, idx)`` for the batch of training ciphertexts ``idx``
        (indices into ``view.victim_ciphertexts[kept]``), or None: plain SIA-GAN has none."""
        return None


def _label_classifier(classes: int) -> nn.Module:
    """The auxiliary classifier on generated images (N x 3 x H x W in [-1, 1] -> N x classes logits)."""
    def stage(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(*stage(3, 32, 1), *stage(32, 64, 2), *stage(64, 128, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))


@register_attack
class GANLabels(GAN):
    """SIA-GAN with the original's auxiliary classification loss: the generator's outputs must also be classified
    correctly (by a classifier trained with them) under the victim's labels, weighted by ``label_loss``.

    Paper: K. Madono, M. Tanaka, M. Onishi, T. Ogawa, "SIA-GAN: Scrambling inversion attack using generative
    adversarial network", IEEE Access 9, 2021 (its classification-loss option).
    Threat model: ``ciphertext_only_unpaired_plain_labels``: ``gan``'s data plus the class labels of the victim's
    ciphertexts, which the cloud that trains the classifier holds.
    Arguments: ``gan``'s, and ``label_loss=1.0`` (> 0). The classifier (3 conv-BN-ReLU stages, 32/64/128 wide,
    pooled, linear) is a training aid only: it is built in ``fit`` for the labels' classes and not kept in
    checkpoints.
    Shapes: as ``gan``: uint8 N x 3 x H x W ciphertexts -> uint8 N x 3 x H x W restored images.
    Example::

        attack = create_attack("gan_labels", scheme_name="le", image_size=32, block_size=4).fit(view)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="gan_labels",
        title="SIA-GAN with its auxiliary classification loss on the cloud's labels (Madono et al. 2021)",
        paper=_PAPER,
        url=_URL,
        threat_model=ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN_LABELS,
        version=1,
        trainable=True,
        notes="gan plus a cross-entropy term on the generator's outputs under the victim's labels",
    )
    default_configs = {p: dict(c, label_loss=1.0) for p, c in GAN.default_configs.items()}

    def _generator_term(self, view: AttackerView, kept: torch.Tensor):
        c, weight = self.config, float(self.config["label_loss"])
        if weight <= 0:
            raise InputError(f"gan_labels: label_loss must be > 0, got {c['label_loss']}; use the attack 'gan' for none")
        labels = view.victim_labels[kept].to(self.device)
        classifier = _label_classifier(int(view.victim_labels.max()) + 1).to(self.device).train()
        opt_c = torch.optim.Adam(classifier.parameters(), lr=c["lr_d"], betas=tuple(c["betas_d"]))

        def term(fake: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            y = labels[idx.to(self.device)]
            opt_c.zero_grad(set_to_none=True)  # the classifier learns from the generator's current outputs
            F.cross_entropy(classifier(fake.detach()), y).backward()
            opt_c.step()
            return weight * F.cross_entropy(classifier(fake), y)  # its gradient reaches the classifier too: cleared above

        return term
