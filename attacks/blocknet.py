"""The attack-evaluation code's generator ("block network") and its small DCGAN discriminator.

From ``ito-hiroki/learnable_encryption_robustness`` (the GAN and ITN attacks behind the seed paper's
Fig. 4), rewritten:

* :class:`BlockNet` (LE, ELE, EtC, proposed): one convolution shared by all blocks, kernel = stride = M,
  3 -> ``hidden``, then 1x1 ``hidden`` -> ``hidden`` and 1x1 ``hidden`` -> 32 M^2, each with batch norm
  and ReLU, PixelShuffle(M) back to full size with 32 channels, a 1x1 convolution 32 -> 3 and tanh.
  ``hidden`` is 48 in the original (= 3 M^2 at M = 4, one block's values); ppbench's default is 3 M^2,
  so it reproduces 48 at 32 x 32 / M4 and at 224 x 224 / M16 (the paper's "necessary changes") does
  not squeeze a 768-value block through 48 numbers. Kernel = stride = 16 and PixelShuffle(16) there.
* :class:`PixelNet` (PE, and any scheme without blocks): 1x1 convolutions 3 -> 64 -> 128 -> 256 -> 3 with
  batch norm and ReLU, tanh. It costs 42 k multiply-adds per pixel (16 x BlockNet's at M = 4), so the
  ``cpu``/``smoke`` profiles use widths 16 -> 32 -> 64 (2.8 k): a network shared by all pixels cannot
  learn a per-pixel key whatever its width, so this loses little.
* :class:`DCGANDiscriminator`: conv 4x4/2 3 -> 64, LeakyReLU(0.2), spectral-norm conv 4x4/2 64 -> 128,
  LeakyReLU(0.2), conv 4x4/1 128 -> 1, max pooling to one logit. The original pools with
  MaxPool2d(3) (at 32 x 32 it sees only the top-left 3 x 3 of the 5 x 5 map) and a sigmoid; ppbench
  pools globally (any image size) and returns the logit (the sigmoid moves into the BCE loss, the same
  function). Convolutions without bias, as the original.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def _conv_bn_relu(cin: int, cout: int, kernel: int = 1, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class BlockNet(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N, 3, H, W) in [-1, 1]; H and W multiples of ``block_size``."""

    def __init__(self, block_size: int = 4, hidden: int | None = None, expand: int = 32) -> None:
        super().__init__()
        m = block_size
        hidden = hidden or 3 * m * m
        self.block_size, self.hidden, self.expand = m, hidden, expand
        self.main = nn.Sequential(
            *_conv_bn_relu(3, hidden, m, m),
            *_conv_bn_relu(hidden, hidden),
            *_conv_bn_relu(hidden, expand * m * m),
            nn.PixelShuffle(m),
            nn.Conv2d(expand, 3, 1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class PixelNet(nn.Module):
    """The 1x1 network the attack code uses for pixel-wise PE: (N, 3, H, W) -> (N, 3, H, W) in [-1, 1]."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for w in widths:
            layers += _conv_bn_relu(cin, w)
            cin = w
        self.main = nn.Sequential(*layers, nn.Conv2d(cin, 3, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def block_network(block_size: int, hidden: int | None = None, pixel_widths: tuple[int, ...] = (64, 128, 256)) -> nn.Module:
    """The attack code's generator for a scheme with this block size (1: pixel-wise, :class:`PixelNet`)."""
    return PixelNet(tuple(pixel_widths)) if block_size == 1 else BlockNet(block_size, hidden)


class DCGANDiscriminator(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N,) real/fake logits."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.utils.parametrizations.spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False)),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 1, 4, 1, 0, bias=False),
            nn.AdaptiveMaxPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


def dcgan_init(module: nn.Module) -> None:
    """The reference code's initialisation: conv weights N(0, 0.02), batch-norm weights N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
