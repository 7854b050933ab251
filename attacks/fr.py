"""Feature reconstruction attacks (Chang et al., "Attacks on image encryption schemes for privacy-preserving
deep neural networks", arXiv:2004.13263): ``fr`` and its neighbour-matching form ``fr_adv``.

``fr`` folds every value, ``out = min(v, 255 - v)`` (v <= 127 stays, else v XOR 255). A negated value
and its original fold to the same number, so wherever negative-positive transformation was the only
change (PE without colour shuffling, ``pe_np``) the fold of the ciphertext *equals* the fold of the
plain image: the edges reappear. It does nothing against permutations (it commutes with them).

``fr_adv`` (the authors' ``decrypt_diffkey_adv.m``) restores PE with colour shuffling: per pixel it
tries the 6 channel orders x 8 negation patterns and keeps the candidate closest in L1 to the already
restored neighbour: the left neighbour in the first row, the upper neighbour in every other row. Ties
go to the first candidate in the authors' order (channel order outer: (0,1,2), (0,2,1), (1,0,2),
(1,2,0), (2,0,1), (2,1,0); negation pattern inner, 0..7 with bit 2 negating the first channel, bit 1
the second and bit 0 the third). The start pixel: the MATLAB script hard-codes the plain value of the
first pixel (a known-plaintext shortcut); a ciphertext-only attacker cannot, so ppbench starts from the
fold of the first ciphertext pixel in its own channel order (our choice). L1 distances do not change
when one channel order and negation pattern is applied to the whole image, so the scan restores the
image only up to such a global transformation, which the start pixel fixes: the fold picks the darker
reading of each channel, but the global channel order stays the key's order at the first pixel (SSIM,
computed per channel, punishes a wrong global order). The raster scan loops over columns of the first
row and then over rows; every step is vectorised over the batch (and over the columns of a row).
"""

from __future__ import annotations

import itertools

import torch

from .base import Attack, AttackInfo, ThreatModel, register_attack

_PAPER = "A. H. Chang, B. M. Case, Attacks on image encryption schemes for privacy-preserving deep neural networks, arXiv:2004.13263, 2020"
_URL = "https://arxiv.org/abs/2004.13263"

CHANNEL_ORDERS = torch.tensor(list(itertools.permutations(range(3))))  # (6, 3), the authors' order
NEGATION_PATTERNS = torch.tensor([[(b >> 2) & 1, (b >> 1) & 1, b & 1] for b in range(8)], dtype=torch.bool)  # (8, 3)


def fold(x: torch.Tensor) -> torch.Tensor:
    """``min(v, 255 - v)`` for uint8 ``x`` (the FR attack's whole computation)."""
    return torch.minimum(x, 255 - x)


@register_attack
class FR(Attack):
    """Feature reconstruction attack: ``out = min(v, 255 - v)`` per value.

    Paper: Chang and Case, arXiv:2004.13263 (2020), https://arxiv.org/abs/2004.13263.
    Threat model: ``ciphertext_only``: one ciphertext at a time, nothing else; no training.
    Arguments: ``scheme_name``, ``image_size``, ``block_size`` (unused), ``profile`` (all the same),
    ``device=None`` (CPU), ``batch_size=256`` (images per step).
    Shapes: uint8 N x 3 x H x W ciphertexts in 0..255 -> uint8 N x 3 x H x W, values in 0..127.
    Example::

        attack = create_attack("fr", scheme_name="pe_np", image_size=32)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="fr",
        title="Feature reconstruction: fold every value to min(v, 255 - v) (Chang & Case 2020)",
        paper=_PAPER,
        url=_URL,
        threat_model=ThreatModel.CIPHERTEXT_ONLY,
        version=1,
        trainable=False,
    )
    input_range = "uint8"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fold(x)


@register_attack
class FRAdv(Attack):
    """Neighbour-matching feature reconstruction: per pixel, the channel order x negation pattern (48
    candidates) closest in L1 to the restored left (first row) or upper (other rows) neighbour.

    Paper: Chang and Case, arXiv:2004.13263 (2020), https://arxiv.org/abs/2004.13263 (their
    ``decrypt_diffkey_adv.m``). Threat model: ``ciphertext_only``; no training.
    Arguments: ``scheme_name``, ``image_size``, ``block_size`` (unused), ``profile`` (all the same),
    ``device=None`` (CPU), ``batch_size=256`` (images per step).
    Shapes: uint8 N x 3 x H x W ciphertexts -> uint8 N x 3 x H x W restored images in 0..255.
    Example::

        attack = create_attack("fr_adv", scheme_name="pe", image_size=32)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="fr_adv",
        title="Feature reconstruction, neighbour matching over 6 channel orders x 8 negations (Chang & Case 2020)",
        paper=_PAPER,
        url=_URL,
        threat_model=ThreatModel.CIPHERTEXT_ONLY,
        version=1,
        trainable=False,
        notes="start pixel: fold of the first ciphertext pixel (the original hard-codes the plain value)",
    )
    input_range = "uint8"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        out = torch.empty((n, 3, h, w), dtype=torch.int16, device=x.device)
        out[:, :, 0, 0] = fold(x[:, :, 0, 0]).to(torch.int16)
        first_row = candidates(x[:, :, 0, :])  # N x 48 x 3 x W
        for j in range(1, w):  # first row: left neighbour, one column at a time
            out[:, :, 0, j] = _closest(first_row[..., j], out[:, :, 0, j - 1])
        for i in range(1, h):  # other rows: upper neighbour, a whole row at once
            out[:, :, i, :] = _closest(candidates(x[:, :, i, :]), out[:, :, i - 1, :])
        return out.to(torch.uint8)


def candidates(x: torch.Tensor) -> torch.Tensor:
    """All 48 readings of every pixel of ``x`` (N x 3 x ...): N x 48 x 3 x ... int16,
    index = 8 * channel order + negation pattern (the authors' order)."""
    rest = x.shape[2:]
    orders = CHANNEL_ORDERS.to(x.device)
    negations = NEGATION_PATTERNS.to(x.device).view(1, 1, 8, 3, *([1] * len(rest)))
    permuted = x[:, orders].to(torch.int16)[:, :, None]  # N x 6 x 1 x 3 x ...
    negated = torch.where(negations, 255 - permuted, permuted)  # N x 6 x 8 x 3 x ...
    return negated.flatten(1, 2)


def _closest(cand: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per pixel, the candidate (dim 1 of ``cand``: N x 48 x 3 [x W]) nearest in L1 to ``ref`` (N x 3 [x W])."""
    dist = (cand - ref[:, None]).abs().sum(dim=2)  # N x 48 [x W]
    best = dist.argmin(dim=1, keepdim=True)  # first minimum on ties
    index = best[:, :, None].expand(-1, 1, 3, *cand.shape[3:])
    return cand.gather(1, index).squeeze(1)
