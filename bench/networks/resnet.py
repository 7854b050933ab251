"""ResNet-18 with the CIFAR stem (He et al., "Deep residual learning for image recognition", CVPR 2016).

The seed paper (Qi et al., EUSIPCO 2022, Table I) uses ResNet-18 for the plain and the PE rows. For
32 x 32 inputs the ImageNet stem (7 x 7 stride-2 convolution and max-pool) is replaced by the CIFAR stem
common to CIFAR ResNet-18 code: one 3 x 3 convolution, stride 1, no max-pool. Four stages of two basic
blocks (widths w, 2w, 4w, 8w; strides 1, 2, 2, 2), projection shortcuts (1 x 1 convolution + batch norm)
where the shape changes, global average pooling and a linear head. Own compact implementation, because
neither torchvision's nor timm's ResNet takes a base width other than 64 for basic blocks.

Variants: ``resnet18`` (w = 64, 11.2 M parameters) and ``resnet18_cpu`` (w = 16, a quarter of the
width, about 0.7 M parameters) for CPU training. Input normalisation: mean 0.5, std 0.5 per channel.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ._base import Classifier, finish_classifier
from ._registry import register_network

__all__ = ["BasicBlock", "CifarResNet"]


class BasicBlock(nn.Module):
    """Two 3 x 3 convolutions with batch norm; identity or 1 x 1 projection shortcut."""

    expansion = 1

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return self.act(h + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet with a 3 x 3 stride-1 stem and no max-pool (for 32 x 32 inputs; any size works)."""

    def __init__(
        self,
        layers: tuple[int, ...] = (2, 2, 2, 2),
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        width: int = 64,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages = []
        in_ch = width
        for i, n_blocks in enumerate(layers):
            out_ch = width * 2**i
            blocks = [BasicBlock(in_ch, out_ch, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(out_ch, out_ch) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            in_ch = out_ch
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = in_ch
        self.head = nn.Linear(in_ch, num_classes)
        for m in self.modules():  # torchvision's ResNet initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.forward_features(x)), 1))


def _create_resnet(
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
    del image_size, block_size  # convolutional: any size; the block size does not enter the network
    body = CifarResNet(num_classes=num_classes, in_chans=in_chans, **model_args)
    return finish_classifier(
        body, variant, input_norm=input_norm, pretrained=pretrained, weights=weights, from_scratch=from_scratch
    )


_PAPER = "He et al., Deep residual learning for image recognition, CVPR 2016 (CIFAR stem)"

default_infos = {
    "resnet18": dict(
        paper=_PAPER,
        image_size=32,
        notes="ResNet-18, base width 64, 3x3 stride-1 stem without max-pool; the paper's plain and PE network",
    ),
    "resnet18_cpu": dict(
        paper=_PAPER,
        image_size=32,
        cpu_sized=True,
        notes="ResNet-18 layout with base width 16 (channels 16/32/64/128, 1/4 of resnet18) for CPU training",
    ),
}


@register_network
def resnet18(**kwargs: Any) -> nn.Module:
    """ResNet-18, CIFAR stem, base width 64."""
    model_args = dict(layers=(2, 2, 2, 2), width=64)
    return _create_resnet("resnet18", **dict(model_args, **kwargs))


@register_network
def resnet18_cpu(**kwargs: Any) -> nn.Module:
    """ResNet-18, CIFAR stem, base width 16 (CPU-sized)."""
    model_args = dict(layers=(2, 2, 2, 2), width=16)
    return _create_resnet("resnet18_cpu", **dict(model_args, **kwargs))
