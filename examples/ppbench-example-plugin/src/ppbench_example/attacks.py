"""An example attack: ``mean_image``, the SSIM of guessing the average image without reading the ciphertext.

A floor for every other attack: whatever beats it learned something from the ciphertexts. It is named
by class in the entry point (``ppbench_example.attacks:MeanImage``), so it carries no decorator: ppbench
registers it when it loads the entry point.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ppbench.attacks import Attack, AttackerView, AttackInfo, ThreatModel


class _Mean(nn.Module):
    """Holds the mean image as a buffer, so that checkpoints save and restore it like any network."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(3, image_size, image_size))


class MeanImage(Attack):
    """Answer the mean of the attacker's own plain images for every ciphertext.

    Threat model: ``ciphertext_only_unpaired_plain`` (it reads only the attacker's own plain images).
    Shapes: uint8 N x 3 x H x W ciphertexts -> uint8 N x 3 x H x W (the same image N times).
    """

    info = AttackInfo(
        name="mean_image",
        title="Example plugin: the mean of the attacker's own images, whatever the ciphertext (a floor)",
        paper="(example plugin baseline)",
        url="",
        threat_model=ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN,
        version=1,
        trainable=True,
    )
    input_range = "uint8"

    def build(self) -> None:
        self.average = _Mean(self.image_size)

    def networks(self) -> dict[str, nn.Module]:
        return {"mean": self.average}

    def _fit(self, view: AttackerView) -> None:
        self.average.mean.copy_(view.public_images.float().mean(dim=0).to(self.device))
        self.history.append({"epoch": 1})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.average.mean.round().clamp(0, 255).to(torch.uint8).expand(x.shape[0], -1, -1, -1).clone()
