"""SIA-GAN's networks (Madono, Tanaka, Onishi, Ogawa, "SIA-GAN: Scrambling inversion attack using
generative adversarial network", IEEE Access 9, 2021), written from the paper's description.

Generator = adaptation network + feature decoder:

* adaptation network: every M x M block *position* has its own convolution 3 -> 16 M^2 (kernel =
  stride = M, no bias, spectral norm), its own batch norm, LeakyReLU(0.1); PixelShuffle(M) puts the
  16 M^2 values back at the block's place as 16 channels. The per-position convolutions are one batched
  matrix product over a (positions, out, 3 M^2) weight (:class:`BlockwiseConv`, the vectorised form of
  a grouped convolution), with one power iteration of spectral normalisation per position and training
  step; the per-position batch norms are one ``BatchNorm1d`` over (position, channel) features, which
  normalises each pair over the batch exactly as separate ``BatchNorm2d`` layers on 1 x 1 maps would.
  For pixel-wise schemes M = 1 (one sub-network per pixel, as SIA-GAN does for PE).
* feature decoder: 3x3 spectral-norm convolution 16 -> 64, batch norm, LeakyReLU(0.1); three residual
  blocks (conv-BN-LReLU-conv-BN, skip, LReLU); conv 64 -> 64, BN, LReLU; conv 64 -> 3; tanh.

Discriminator (:class:`SNDiscriminator`): spectral norm on every layer; three stages of
conv 3x3 + conv 4x4/2 with LeakyReLU(0.1) (widths ndf/8, ndf/4, ndf/2), SAGAN self-attention,
conv 3x3 to ndf, self-attention, one linear layer on the flattened map -> one score (for the hinge
loss). ndf = 1024 in the paper.

At 224 x 224 with M = 16 (the seed paper's "necessary changes"): kernel = stride = 16 and
PixelShuffle(16); the first stage then holds 196 x 4096 x 768 weights (617 M parameters), which is
what "a convolution per block position with 16 M^2 outputs" means at that size. ``feature_channels``
(16) scales it down if needed.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

sn = nn.utils.parametrizations.spectral_norm


class BlockwiseConv(nn.Module):
    """An independent bias-free ``Conv2d(cin, cout, kernel_size=M, stride=M)`` with spectral norm per block position.

    ``(N, cin, H, W) -> (N, cout, H/M, W/M)``; output position (i, j) uses the weights of block
    ``i * (W/M) + j`` (row-major, the schemes' block numbering).
    """

    def __init__(self, cin: int, cout: int, block_size: int, num_blocks: int, eps: float = 1e-12) -> None:
        super().__init__()
        self.cin, self.cout, self.block_size, self.num_blocks, self.eps = cin, cout, block_size, num_blocks, eps
        fan_in = cin * block_size * block_size
        bound = fan_in ** -0.5  # nn.Conv2d's default initialisation
        self.weight = nn.Parameter(torch.empty(num_blocks, cout, fan_in).uniform_(-bound, bound))
        self.register_buffer("u", F.normalize(torch.randn(num_blocks, cout), dim=1, eps=eps))
        self.register_buffer("v", F.normalize(torch.randn(num_blocks, fan_in), dim=1, eps=eps))

    def normalized_weight(self) -> torch.Tensor:
        """Each block's weight matrix divided by its largest singular value (power-iteration estimate)."""
        w = self.weight
        if self.training:
            with torch.no_grad():  # one power iteration per training step, as torch's spectral_norm
                v = F.normalize(torch.bmm(w.transpose(1, 2), self.u.unsqueeze(2)).squeeze(2), dim=1, eps=self.eps)
                u = F.normalize(torch.bmm(w, v.unsqueeze(2)).squeeze(2), dim=1, eps=self.eps)
                self.u.copy_(u)
                self.v.copy_(v)
        sigma = (self.u * torch.bmm(w, self.v.unsqueeze(2)).squeeze(2)).sum(dim=1)
        return w / sigma.view(-1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        m = self.block_size
        gh, gw = h // m, w // m
        if c != self.cin or h % m or w % m or gh * gw != self.num_blocks:
            raise ValueError(f"expected (N, {self.cin}, H, W) with {self.num_blocks} blocks of {m}x{m}, got {tuple(x.shape)}")
        blocks = x.reshape(n, c, gh, m, gw, m).permute(2, 4, 0, 1, 3, 5).reshape(self.num_blocks, n, c * m * m)
        out = torch.bmm(blocks, self.normalized_weight().transpose(1, 2))  # (blocks, N, cout)
        return out.permute(1, 2, 0).reshape(n, self.cout, gh, gw)

    def extra_repr(self) -> str:
        return f"{self.cin}, {self.cout}, block_size={self.block_size}, num_blocks={self.num_blocks}"


class BlockwiseBatchNorm(nn.Module):
    """A separate batch norm per (block position, channel) of an (N, C, gh, gw) map."""

    def __init__(self, channels: int, num_blocks: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels * num_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.flatten(1)).view_as(x)


class AdaptationNetwork(nn.Module):
    """(N, 3, H, W) -> (N, feature_channels, H, W): a sub-network per block position, then PixelShuffle(M)."""

    def __init__(self, block_size: int, image_size: int, feature_channels: int = 16) -> None:
        super().__init__()
        m = block_size
        num_blocks = (image_size // m) ** 2
        out = feature_channels * m * m
        self.conv = BlockwiseConv(3, out, m, num_blocks)
        self.bn = BlockwiseBatchNorm(out, num_blocks)
        self.act = nn.LeakyReLU(0.1)
        self.shuffle = nn.PixelShuffle(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.act(self.bn(self.conv(x))))


class ResBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            sn(nn.Conv2d(width, width, 3, 1, 1, bias=False)), nn.BatchNorm2d(width), nn.LeakyReLU(0.1),
            sn(nn.Conv2d(width, width, 3, 1, 1, bias=False)), nn.BatchNorm2d(width),
        )
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + x)


class SIAGANGenerator(nn.Module):
    """Adaptation network + residual feature decoder: (N, 3, H, W) in [-1, 1] -> (N, 3, H, W) in [-1, 1]."""

    def __init__(self, block_size: int, image_size: int, feature_channels: int = 16, width: int = 64, num_resblocks: int = 3) -> None:
        super().__init__()
        self.adaptation = AdaptationNetwork(block_size, image_size, feature_channels)
        self.decoder = nn.Sequential(
            sn(nn.Conv2d(feature_channels, width, 3, 1, 1, bias=False)), nn.BatchNorm2d(width), nn.LeakyReLU(0.1),
            *[ResBlock(width) for _ in range(num_resblocks)],
            sn(nn.Conv2d(width, width, 3, 1, 1, bias=False)), nn.BatchNorm2d(width), nn.LeakyReLU(0.1),
            sn(nn.Conv2d(width, 3, 3, 1, 1, bias=False)),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.adaptation(x))


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): ``x + gamma * attention(x)``, gamma starting at 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, max(1, channels // 8), 1)
        self.key = nn.Conv2d(channels, max(1, channels // 8), 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # N x HW x C'
        k = self.key(x).flatten(2)  # N x C' x HW
        attention = torch.softmax(torch.bmm(q, k), dim=-1)  # N x HW x HW
        v = self.value(x).flatten(2)  # N x C x HW
        return x + self.gamma * torch.bmm(v, attention.transpose(1, 2)).view(n, c, h, w)


class SNDiscriminator(nn.Module):
    """SIA-GAN's spectral-norm discriminator: (N, 3, H, W) -> (N,) scores; H, W multiples of 8."""

    def __init__(self, image_size: int, ndf: int = 1024) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(sn(nn.Conv2d(cin, cout, 3, 1, 1)), nn.LeakyReLU(0.1),
                                 sn(nn.Conv2d(cout, cout, 4, 2, 1)), nn.LeakyReLU(0.1))

        self.features = nn.Sequential(
            stage(3, ndf // 8), stage(ndf // 8, ndf // 4), stage(ndf // 4, ndf // 2),
            SelfAttention(ndf // 2),
            sn(nn.Conv2d(ndf // 2, ndf, 3, 1, 1)),
            SelfAttention(ndf),
        )
        self.linear = sn(nn.Linear(ndf * (image_size // 8) ** 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x).flatten(1)).flatten()
