"""PyramidNet with ShakeDrop: the seed paper's "ShakeDrop" network (Table I, LE / EtC / ELE / plain rows).

Papers: D. Han, J. Kim, J. Kim, "Deep pyramidal residual networks", CVPR 2017 (PyramidNet); Y. Yamada,
M. Iwamura, T. Akiba, K. Kise, "ShakeDrop regularization for deep residual learning", IEEE Access 7,
2019. Used for Table I via K. Madono et al.'s code (github.com/MADONOKOUKI/Block-wise-Scrambled-Image-
Recognition, ``ShakePyramidNet(depth=110, alpha=270)``). Own implementation (timm has no PyramidNet).

Definition implemented here:

- Stem: 3 x 3 convolution ``in_chans -> 16`` + batch norm (no ReLU: the blocks are pre-activation).
- Three stages of n blocks each (strides 1, 2, 2); basic blocks: n = (depth - 2) / 6, bottleneck blocks:
  n = (depth - 2) / 9. Additive widening: the k-th block (k = 1..3n) has ``round(16 + k * alpha / (3n))``
  branch channels (x 4 at the output of a bottleneck block), so the last stage ends at 16 + alpha
  (basic) or 4 (16 + alpha) (bottleneck) channels.
- Basic residual branch: BN, conv3x3 (stride), BN, ReLU, conv3x3, BN. Bottleneck branch: BN, conv1x1, BN,
  ReLU, conv3x3 (stride), BN, ReLU, conv1x1 (x 4), BN. No ReLU after the addition.
- Shortcut: identity, or 2 x 2 average pooling when downsampling, then zero-padded to the branch's
  channel count (PyramidNet's parameter-free shortcut).
- ShakeDrop on the residual branch of block l (l = 1..L, L = 3n): p_l = 0.5 * l / L (the linear decay
  rule, p_L = 0.5). Training, forward: ``(b + alpha - b * alpha) * F(x)`` with b ~ Bernoulli(1 - p_l),
  alpha ~ U[-1, 1]; backward: the gradient is scaled by ``b + beta - b * beta``, beta ~ U[0, 1], drawn
  afresh in the backward pass (a custom autograd Function). alpha and beta are drawn per image; the gate
  b is drawn once per mini-batch by default (``gate_level="batch"``, as in Madono's and the widely used
  ShakeDrop PyTorch code behind Table I) or per image (``gate_level="sample"``). Evaluation: the
  expectation, ``(1 - p_l) * F(x)``.
- Head: BN, ReLU, global average pooling, linear.
- Initialisation: convolutions N(0, 2 / (k * k * out_channels)), batch norm 1 / 0, linear bias 0 (Han's).

Variants: ``pyramidnet_shakedrop``: depth 110, alpha 270, basic blocks (Madono's Table I network; 28.5 M
parameters; Han et al. list PyramidNet-110 alpha 270 with 28.3 M). ``block="bottleneck"`` selects
bottleneck blocks (the ShakeDrop paper's PyramidNet-272 alpha 200 is ``depth=272, alpha=200,
block="bottleneck"``). ``pyramidnet_shakedrop_cpu``: depth 20, alpha 48, basic blocks (3 blocks per
stage, 16 -> 64 channels) for CPU training. Input normalisation: mean 0.5, std 0.5 per channel.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._base import Classifier, finish_classifier
from ._registry import register_network

__all__ = ["ShakeDropFunction", "ShakeDrop", "PyramidBasicBlock", "PyramidBottleneck", "PyramidNet"]


def _per_sample(t: torch.Tensor, ndim: int) -> torch.Tensor:
    return t.view(-1, *([1] * (ndim - 1)))


class ShakeDropFunction(torch.autograd.Function):
    """y = (b + alpha - b alpha) x forward; dx = (b + beta - b beta) dy backward, beta ~ U[beta_range].

    ``gate`` and ``alpha`` are per-sample tensors of shape (N,); beta is drawn in ``backward``.
    """

    @staticmethod
    def forward(ctx, x, gate, alpha, beta_low: float = 0.0, beta_high: float = 1.0):  # type: ignore[override]
        ctx.save_for_backward(gate)
        ctx.beta_range = (beta_low, beta_high)
        return x * _per_sample(gate + alpha - gate * alpha, x.dim())

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        (gate,) = ctx.saved_tensors
        low, high = ctx.beta_range
        beta = torch.empty(gate.shape, device=gate.device, dtype=gate.dtype).uniform_(low, high)  # per image
        scale = _per_sample(gate + beta - gate * beta, grad_output.dim())
        return grad_output * scale, None, None, None, None


class ShakeDrop(nn.Module):
    """ShakeDrop (Yamada et al. 2019) applied to a residual branch's output."""

    def __init__(
        self,
        p_drop: float = 0.5,
        alpha_range: tuple[float, float] = (-1.0, 1.0),
        beta_range: tuple[float, float] = (0.0, 1.0),
        gate_level: Literal["batch", "sample"] = "batch",
    ) -> None:
        super().__init__()
        if not 0.0 <= p_drop <= 1.0:
            raise ValueError(f"p_drop must be in [0, 1], got {p_drop}")
        if gate_level not in ("batch", "sample"):
            raise ValueError(f"gate_level must be 'batch' or 'sample', got {gate_level!r}")
        self.p_drop = float(p_drop)
        self.alpha_range = tuple(alpha_range)
        self.beta_range = tuple(beta_range)
        self.gate_level = gate_level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return (1.0 - self.p_drop) * x
        n = x.shape[0]
        keep = 1.0 - self.p_drop
        # b ~ Bernoulli(1 - p): 1 keeps the branch as is, 0 perturbs it
        gate = torch.empty(1 if self.gate_level == "batch" else n, device=x.device, dtype=x.dtype)
        gate = gate.bernoulli_(keep).expand(n)
        alpha = torch.empty(n, device=x.device, dtype=x.dtype).uniform_(*self.alpha_range)
        return ShakeDropFunction.apply(x, gate, alpha, *self.beta_range)

    def extra_repr(self) -> str:
        return f"p_drop={self.p_drop:.4g}, alpha_range={self.alpha_range}, beta_range={self.beta_range}, " \
               f"gate_level={self.gate_level!r}"


class _PyramidBlock(nn.Module):
    """Shared shortcut logic: average-pool when downsampling, then zero-pad the channels."""

    expansion = 1
    branch: nn.Module

    def __init__(self, stride: int, p_drop: float, gate_level: str) -> None:
        super().__init__()
        self.stride = stride
        self.shake_drop = ShakeDrop(p_drop, gate_level=gate_level)  # type: ignore[arg-type]

    def shortcut(self, x: torch.Tensor, out_ch: int) -> torch.Tensor:
        if self.stride != 1:
            x = F.avg_pool2d(x, 2, stride=2, ceil_mode=True)
        pad = out_ch - x.shape[1]
        if pad > 0:
            x = F.pad(x, (0, 0, 0, 0, 0, pad))  # zero channels appended
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.shake_drop(self.branch(x))
        return h + self.shortcut(x, h.shape[1])


class PyramidBasicBlock(_PyramidBlock):
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, p_drop: float = 0.5, gate_level: str = "batch"):
        super().__init__(stride, p_drop, gate_level)
        self.branch = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.Conv2d(in_ch, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(planes),
        )


class PyramidBottleneck(_PyramidBlock):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, p_drop: float = 0.5, gate_level: str = "batch"):
        super().__init__(stride, p_drop, gate_level)
        out_ch = planes * self.expansion
        self.branch = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.Conv2d(in_ch, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        )


class PyramidNet(nn.Module):
    """PyramidNet (additive widening) with ShakeDrop, CIFAR layout (three stages)."""

    def __init__(
        self,
        depth: int = 110,
        alpha: float = 270,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        block: Literal["basic", "bottleneck"] = "basic",
        base_width: int = 16,
        p_drop_max: float = 0.5,
        gate_level: Literal["batch", "sample"] = "batch",
    ) -> None:
        super().__init__()
        block_cls = {"basic": PyramidBasicBlock, "bottleneck": PyramidBottleneck}.get(block)
        if block_cls is None:
            raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
        per_block = 6 if block == "basic" else 9
        if (depth - 2) % per_block:
            raise ValueError(f"PyramidNet with {block} blocks needs depth = {per_block} n + 2, got {depth}")
        n = (depth - 2) // per_block
        total = 3 * n
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.depth, self.alpha, self.block_type = depth, alpha, block
        self.p_drops = [p_drop_max * (k + 1) / total for k in range(total)]

        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, base_width, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(base_width)
        )
        blocks: list[nn.Module] = []
        in_ch, width = base_width, float(base_width)
        for k in range(total):
            stride = 2 if k in (n, 2 * n) else 1
            width += alpha / total
            planes = int(round(width))
            blocks.append(block_cls(in_ch, planes, stride, self.p_drops[k], gate_level))
            in_ch = planes * block_cls.expansion
        self.blocks = nn.Sequential(*blocks)
        self.num_features = in_ch
        self.final = nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_ch, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.forward_features(x)), 1))


def _create_pyramidnet(
    variant: str,
    *,
    num_classes: int,
    image_size: int | None = None,
    block_size: int | None = None,
    in_chans: int = 3,
    input_norm: bool = True,
    pretrained: bool = False,
    weights: Any = None,
    from_scratch: bool = False,
    **model_args: Any,
) -> Classifier:
    del image_size, block_size  # convolutional: any input size
    body = PyramidNet(num_classes=num_classes, in_chans=in_chans, **model_args)
    return finish_classifier(
        body, variant, input_norm=input_norm, pretrained=pretrained, weights=weights, from_scratch=from_scratch
    )


_PAPER = (
    "Han et al., Deep pyramidal residual networks, CVPR 2017; Yamada et al., ShakeDrop regularization "
    "for deep residual learning, IEEE Access 2019"
)

default_infos = {
    "pyramidnet_shakedrop": dict(
        paper=_PAPER,
        image_size=32,
        origin="https://github.com/MADONOKOUKI/Block-wise-Scrambled-Image-Recognition",
        notes="PyramidNet-110, alpha 270, basic blocks (as Madono's ShakePyramidNet), ShakeDrop p_L = 0.5",
    ),
    "pyramidnet_shakedrop_cpu": dict(
        paper=_PAPER,
        image_size=32,
        cpu_sized=True,
        notes="PyramidNet-20, alpha 48, basic blocks (3 per stage, 16 -> 64 channels), ShakeDrop p_L = 0.5",
    ),
}


@register_network
def pyramidnet_shakedrop(**kwargs: Any) -> nn.Module:
    """PyramidNet-110 (alpha 270) with ShakeDrop, the seed paper's "ShakeDrop"."""
    model_args = dict(depth=110, alpha=270, block="basic")
    return _create_pyramidnet("pyramidnet_shakedrop", **dict(model_args, **kwargs))


@register_network
def pyramidnet_shakedrop_cpu(**kwargs: Any) -> nn.Module:
    """PyramidNet-20 (alpha 48) with ShakeDrop, CPU-sized."""
    model_args = dict(depth=20, alpha=48, block="basic")
    return _create_pyramidnet("pyramidnet_shakedrop_cpu", **dict(model_args, **kwargs))
