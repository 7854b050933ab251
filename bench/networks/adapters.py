"""Adaptation networks placed in front of a classifier for the LE and ELE schemes (Table I, "*").

Both map a [0, 1] ciphertext (N x 3 x H x W, M x M blocks) to a 16-channel H x W feature map that feeds
a classifier body built with ``in_chans=16`` and without input normalisation
(:class:`~ppbench.networks._base.AdaptedClassifier`). As in Madono's code the adapter sees the
ciphertext scaled to [0, 1] (``ToTensor()``, no mean/std).

Each ends, by default, with a 3 x 3 convolution 16 -> 16 and batch norm (``out_conv=True``), as
``docs/schemes.md#adaptation-networks`` states. In Madono's code that convolution and batch norm are PyramidNet's own stem
(``c_in``/``bn_in``, built with 16 input channels); so ``out_conv=False`` together with a PyramidNet body
(whose stem is exactly a 3 x 3 convolution to 16 channels + batch norm) reproduces his layout layer for
layer, while the default adds one such layer in front of any body's stem.

Registered in ``ADAPTERS``: ``le`` (:class:`LEAdapter`), ``ele`` (:class:`ELEAdapter`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import Registry
from ._base import zero_loss

__all__ = ["LEAdapter", "ELEAdapter", "ADAPTERS", "create_adapter", "list_adapters", "total_variation"]

ADAPTERS: Registry[Any] = Registry("adapter")


def _he_fan_out_(weight: torch.Tensor) -> None:
    """N(0, 2 / (k * k * out_channels)): the initialisation of every convolution in Madono's code."""
    fan_out = weight.shape[0] * math.prod(weight.shape[2:])
    nn.init.normal_(weight, 0.0, math.sqrt(2.0 / fan_out))


def _check_blocks(x: torch.Tensor, m: int) -> None:
    if x.dim() != 4 or x.shape[-1] % m or x.shape[-2] % m:
        raise ValueError(f"expected N x C x H x W with H and W multiples of the block size {m}, got {tuple(x.shape)}")


class _OutConv(nn.Sequential):
    def __init__(self, chans: int) -> None:
        super().__init__(nn.Conv2d(chans, chans, 3, padding=1, bias=False), nn.BatchNorm2d(chans))
        _he_fan_out_(self[0].weight)


class LEAdapter(nn.Module):
    """Adaptation network for Tanaka's LE (one shared nibble key per block).

    Paper: M. Tanaka, "Learnable image encryption", ICCE-TW 2018 (Keras original:
    github.com/mastnk/ICCE-TW2018, BN - conv(M x M, stride M) - ReLU - BN - 1x1 - ReLU - BN - 1x1 -
    PixelShuffle(M)). Implemented after K. Madono's PyTorch version (github.com/MADONOKOUKI/Block-wise-
    Scrambled-Image-Recognition, ``tanaka_adaptation_network.py``), which ppbench's Table I LE* row
    follows:

    ``Conv2d(3, F M^2, kernel=M, stride=M, bias=False)`` (one block in, the same weights for every
    block) -> ``BatchNorm2d(F M^2)`` -> ``LeakyReLU(0.1)`` -> ``PixelShuffle(M)`` (back to H x W with
    F = 16 channels) -> [``Conv2d(F, F, 3, padding=1, bias=False)`` -> ``BatchNorm2d(F)``] (``out_conv``).

    Input: float N x 3 x H x W in [0, 1], H and W multiples of M (any size). Output: N x 16 x H x W.
    Convolutions are initialised N(0, 2 / fan_out) as in Madono's code. ``extra_loss()`` is zero.
    Example: ``LEAdapter(4)(torch.rand(2, 3, 32, 32)).shape == (2, 16, 32, 32)``.
    """

    def __init__(
        self,
        block_size: int = 4,
        *,
        image_size: int | None = None,
        in_chans: int = 3,
        feature_chans: int = 16,
        negative_slope: float = 0.1,
        out_conv: bool = True,
    ) -> None:
        super().__init__()
        m = int(block_size)
        self.block_size, self.image_size, self.out_chans = m, image_size, feature_chans
        self.block_embed = nn.Conv2d(in_chans, feature_chans * m * m, m, stride=m, bias=False)
        self.bn = nn.BatchNorm2d(feature_chans * m * m)
        self.act = nn.LeakyReLU(negative_slope)
        self.shuffle = nn.PixelShuffle(m)
        self.out_conv: nn.Module = _OutConv(feature_chans) if out_conv else nn.Identity()
        _he_fan_out_(self.block_embed.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_blocks(x, self.block_size)
        return self.out_conv(self.shuffle(self.act(self.bn(self.block_embed(x)))))

    def extra_loss(self) -> torch.Tensor:
        return zero_loss(self)


def total_variation(x: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Madono's ``total_variation_norm`` before normalisation, summed over batch and channels.

    ``sum_{b, c, i < H-1, j < W-1} ((x[i+1, j] - x[i, j])^2 + (x[i, j+1] - x[i, j])^2)^(beta / 2)``: with
    the default beta = 2, the sum of squared differences to the lower and to the right neighbour (the
    last row and column are left out as anchors, as in his code).
    """
    anchor = x[..., :-1, :-1]
    dv = x[..., 1:, :-1] - anchor
    dh = x[..., :-1, 1:] - anchor
    sq = dv * dv + dh * dh
    if beta == 2.0:
        return sq.sum()
    return (sq + 1e-12).pow(beta / 2.0).sum()


class ELEAdapter(nn.Module):
    """Adaptation network for ELE (a nibble key per block position, then block scrambling).

    Paper: K. Madono, M. Tanaka, M. Onishi, T. Ogawa, "Block-wise scrambled image recognition using
    adaptation network", AAAI Workshop on Artificial Intelligence of Things, 2020. Follows his code
    (github.com/MADONOKOUKI/Block-wise-Scrambled-Image-Recognition, ``proposed_adaptation_network.py``
    and ``proposed_cifar10_ELE.py``), vectorised:

    1. For every (scrambled) block position n = 0..N-1 (row-major), its own linear map of the block
       (a ``Conv2d(3, F M^2, kernel=M, stride=M, bias=False)`` on one block) with spectral norm (one
       power iteration per training step, as ``torch.nn.utils.spectral_norm``), its own batch norm, and
       ``LeakyReLU(0.2)``. All N maps run as one batched matrix product (weights N x F M^2 x 3 M^2,
       the input axis ordered like a convolution's (channel, row, column)); the N batch norms are one
       ``BatchNorm1d(N F M^2)``.
    2. Stack as h: [B, F M^2, N] and mix the block axis with a learnable N x N matrix W (no bias):
       ``h @ W``, i.e. output block j = sum_i h[:, :, i] W[i, j] (Madono's ``input.matmul(weight)``;
       W initialised U(-1/sqrt(N), 1/sqrt(N)) as his ``OriginalLinear``).
    3. Reshape to the block grid, ``PixelShuffle(M)`` -> N x F x H x W (F = 16) ("the feature").
    4. [``Conv2d(F, F, 3, padding=1, bias=False)`` -> ``BatchNorm2d(F)``] (``out_conv``).

    ``extra_loss()`` (to add to the task loss after a forward pass):
    ``perm_weight / N^2 * sum_i [(|W_i.|_1 - |W_i.|_2) + (|W_.i|_1 - |W_.i|_2)]`` (zero exactly for a
    signed permutation matrix: it pushes W toward a permutation) ``+ tv_weight * TV / batch size``, where
    TV is :func:`total_variation` (beta = 2: squared differences to the lower and right neighbours) of
    the first 3 channels of the last forward pass's feature (step 3), divided by (H - 1) W F (Madono's
    constant 31 * 32 * 16 at 32 x 32). Defaults perm_weight = 0.001, tv_weight = 0.1 (his ``param3``
    and ``param4``; he notes the accuracy depends strongly on them).

    Input: float N x 3 x H x W in [0, 1] with H = W = ``image_size``. Output: N x 16 x H x W.
    Parameters grow as N F M^2 3 M^2 + N^2: 0.79 M at 32 x 32, M = 4; impractical at 224, M = 16.
    Example: ``ELEAdapter(4, 32)(torch.rand(2, 3, 32, 32)).shape == (2, 16, 32, 32)``.
    """

    def __init__(
        self,
        block_size: int = 4,
        image_size: int = 32,
        *,
        in_chans: int = 3,
        feature_chans: int = 16,
        negative_slope: float = 0.2,
        perm_weight: float = 1e-3,
        tv_weight: float = 0.1,
        tv_beta: float = 2.0,
        spectral_norm: bool = True,
        n_power_iterations: int = 1,
        out_conv: bool = True,
    ) -> None:
        super().__init__()
        m = int(block_size)
        if image_size % m:
            raise ValueError(f"image_size {image_size} is not a multiple of the block size {m}")
        self.block_size, self.image_size, self.out_chans = m, int(image_size), feature_chans
        self.grid = image_size // m
        self.num_blocks = n = self.grid * self.grid
        self.in_dim, self.feat_dim = in_chans * m * m, feature_chans * m * m
        self.perm_weight, self.tv_weight, self.tv_beta = float(perm_weight), float(tv_weight), float(tv_beta)
        self.spectral_norm, self.n_power_iterations = spectral_norm, int(n_power_iterations)

        self.block_weight = nn.Parameter(torch.empty(n, self.feat_dim, self.in_dim))
        with torch.no_grad():  # N(0, 2 / fan_out) per position, fan_out = F M^2 * M^2 (as Madono's convs)
            self.block_weight.normal_(0.0, math.sqrt(2.0 / (self.feat_dim * m * m)))
        self.bn = nn.BatchNorm1d(n * self.feat_dim)
        self.act = nn.LeakyReLU(negative_slope)
        self.mix = nn.Parameter(torch.empty(n, n).uniform_(-1.0 / math.sqrt(n), 1.0 / math.sqrt(n)))
        self.shuffle = nn.PixelShuffle(m)
        self.out_conv: nn.Module = _OutConv(feature_chans) if out_conv else nn.Identity()

        self.register_buffer("sn_u", F.normalize(torch.randn(n, self.feat_dim), dim=1, eps=1e-12))
        self.register_buffer("sn_v", F.normalize(torch.randn(n, self.in_dim), dim=1, eps=1e-12))
        self._power_iteration(15)
        self._last_tv: torch.Tensor | None = None

    # -- spectral norm, batched over block positions ---------------------------------------------------
    @torch.no_grad()
    def _power_iteration(self, steps: int) -> None:
        w = self.block_weight
        u, v = self.sn_u, self.sn_v
        for _ in range(steps):
            v = F.normalize(torch.bmm(w.transpose(1, 2), u.unsqueeze(2)).squeeze(2), dim=1, eps=1e-12)
            u = F.normalize(torch.bmm(w, v.unsqueeze(2)).squeeze(2), dim=1, eps=1e-12)
        self.sn_u.copy_(u)
        self.sn_v.copy_(v)

    def block_weights(self) -> torch.Tensor:
        """The N per-position weight matrices (N x F M^2 x 3 M^2), each divided by its spectral norm."""
        w = self.block_weight
        if not self.spectral_norm:
            return w
        if self.training and self.n_power_iterations > 0:
            self._power_iteration(self.n_power_iterations)
        u, v = self.sn_u.clone(), self.sn_v.clone()
        sigma = torch.einsum("nc,nck,nk->n", u, w, v)
        return w / sigma.view(-1, 1, 1)

    # -- forward and loss -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_blocks(x, self.block_size)
        b, _, h, w = x.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError(f"ELEAdapter was built for {self.image_size} x {self.image_size} inputs, got {h} x {w}")
        n, m = self.num_blocks, self.block_size
        cols = F.unfold(x, m, stride=m)  # [B, 3 M^2, N], (channel, row, col) order, blocks row-major
        z = torch.bmm(cols.permute(2, 0, 1), self.block_weights().transpose(1, 2))  # [N, B, F M^2]
        z = self.bn(z.transpose(0, 1).reshape(b, n * self.feat_dim)).view(b, n, self.feat_dim)
        z = self.act(z).transpose(1, 2)  # [B, F M^2, N]
        z = torch.matmul(z, self.mix)  # mix the block axis: out[..., j] = sum_i z[..., i] W[i, j]
        feature = self.shuffle(z.reshape(b, self.feat_dim, self.grid, self.grid))  # [B, F, H, W]
        norm = (h - 1) * w * self.out_chans
        self._last_tv = total_variation(feature[:, :3], self.tv_beta) / norm / b
        return self.out_conv(feature)

    def permutation_penalty(self) -> torch.Tensor:
        """sum over rows and columns of W of (L1 norm - L2 norm), unweighted (zero for a permutation)."""
        w = self.mix
        rows = w.abs().sum(1) - torch.linalg.vector_norm(w, dim=1)
        cols = w.abs().sum(0) - torch.linalg.vector_norm(w, dim=0)
        return rows.sum() + cols.sum()

    def extra_loss(self) -> torch.Tensor:
        n = self.num_blocks
        loss = self.perm_weight * self.permutation_penalty() / (n * n)
        if self._last_tv is not None:
            loss = loss + self.tv_weight * self._last_tv
        return loss

    def __getstate__(self) -> dict[str, Any]:  # deepcopy / pickle without the last forward's graph
        state = self.__dict__.copy()
        state["_last_tv"] = None
        return state

    def extra_repr(self) -> str:
        return (f"block_size={self.block_size}, image_size={self.image_size}, num_blocks={self.num_blocks}, "
                f"perm_weight={self.perm_weight}, tv_weight={self.tv_weight}, tv_beta={self.tv_beta}, "
                f"spectral_norm={self.spectral_norm}")


# ----------------------------------------------------------------------------------------------------
# registry


@ADAPTERS.decorator()
def le(*, block_size: int, image_size: int | None = None, **kwargs: Any) -> LEAdapter:
    """Tanaka's LE adaptation network (Madono's PyTorch version)."""
    return LEAdapter(block_size, image_size=image_size, **kwargs)


@ADAPTERS.decorator()
def ele(*, block_size: int, image_size: int, **kwargs: Any) -> ELEAdapter:
    """Madono's ELE adaptation network (per-position block maps, N x N block mixing)."""
    return ELEAdapter(block_size, image_size, **kwargs)


def create_adapter(name: str, *, block_size: int | None, image_size: int | None, **kwargs: Any) -> nn.Module:
    """Build a registered adaptation network; ``block_size`` is required."""
    fn = ADAPTERS.get(name)
    if block_size is None:
        raise ValueError(f"adapter {name!r} needs block_size (the scheme's block size M)")
    return fn(block_size=block_size, image_size=image_size, **kwargs)


def list_adapters(pattern: str = "*") -> list[str]:
    return ADAPTERS.names(pattern)
