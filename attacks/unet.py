"""The U-Net of the inverse transformation network (Ito, Kinoshita, Kiya; Ronneberger et al. 2015).

Encoder: ``depth + 1`` stages of two (3x3 conv, batch norm, ReLU), each after a 2x2 max pooling except
the first; widths ``width * 2**i`` (64 -> 128 -> 256 -> 512 -> 1024 at the original's width 64,
depth 4). Decoder: nearest 2x upsampling, 3x3 conv halving the width (BN, ReLU), concatenation with the
encoder stage of the same size (skip connection), two 3x3 conv-BN-ReLU. A 1x1 convolution to 3
channels and tanh (ppbench trains on [-1, 1] images; the original ends without an activation and
applies a sigmoid in the loss). Image sides must be multiples of ``2**depth``.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """(N, 3, H, W) in [-1, 1] -> (N, 3, H, W) in [-1, 1]."""

    def __init__(self, width: int = 64, depth: int = 4) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList([_double_conv(3, widths[0])] + [_double_conv(widths[i], widths[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(widths[i + 1], widths[i], 3, 1, 1),
                          nn.BatchNorm2d(widths[i]), nn.ReLU(inplace=True))
            for i in reversed(range(depth))
        )
        self.merge = nn.ModuleList(_double_conv(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.head = nn.Sequential(nn.Conv2d(widths[0], 3, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = 2**self.depth
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(f"U-Net of depth {self.depth} needs image sides divisible by {side}, got {tuple(x.shape[-2:])}")
        skips = []
        for i, stage in enumerate(self.down):
            x = stage(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)
