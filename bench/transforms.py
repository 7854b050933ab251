"""Plain-domain image operations shared by the CLI and the data pipeline (resizing, layout)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError

RESIZE_MODE = "bicubic"  # the seed paper does not state its interpolation; bicubic (no antialias) is ours


RESIZE_BATCH = 256
"""Images interpolated at a time: bounds the float32 copy (256 x 3 x 224 x 224 x 4 bytes = 154 MB)."""


def resize_uint8(x: torch.Tensor, size: int | tuple[int, int], batch: int = RESIZE_BATCH) -> torch.Tensor:
    """Resize a uint8 N x C x H x W batch with bicubic interpolation, rounding half to even and clamping,
    ``batch`` images at a time; a no-op at the native size. The one resize of ppbench: CIFAR's 32 x 32 is
    upscaled to the paper's 224 x 224 with it before encryption, for training, attacks and curves alike."""
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise InputError(f"resize expects a uint8 N x C x H x W batch, got {x.dtype} with shape {tuple(x.shape)}")
    target = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == target:
        return x.contiguous()
    out = torch.empty((x.shape[0], x.shape[1], *target), dtype=torch.uint8, device=x.device)
    for s in range(0, x.shape[0], batch):
        y = F.interpolate(x[s : s + batch].float(), size=target, mode=RESIZE_MODE, align_corners=False)
        out[s : s + batch] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def nhwc_to_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x C numpy -> contiguous uint8 N x C x H x W tensor."""
    return torch.from_numpy(np.require(images, requirements=["C", "W"])).permute(0, 3, 1, 2).contiguous()


def nchw_to_nhwc(images: torch.Tensor) -> np.ndarray:
    return images.detach().cpu().permute(0, 2, 3, 1).contiguous().numpy()
