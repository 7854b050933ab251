"""The single-image jigsaw puzzle solver attack of Chuman and Kiya on the ViT scheme (``jigsaw``).

T. Chuman, H. Kiya, "A Jigsaw Puzzle Solver-Based Attack on Image Encryption Using Vision Transformer for
Privacy-Preserving DNNs", Information 14(6), 311, 2023 (conference version: arXiv 2211.02369), from the same
group's jigsaw attacks on block-scrambling EtC images (Chuman, Kurihara, Kiya, ICASSP 2017 and ICME 2017).

What the paper says (its abstract and its description of the schemes, the parts of it that could be read
for this module): the ViT scheme (``proposed``: block scrambling K1, then one pixel shuffle K2 in every
sub-block) resists the earlier ciphertext-only attacks (FR, GAN, ITN), but "the correlation between blocks
in the encrypted image can still be exploited": a jigsaw puzzle solver, the blocks as its pieces, restores
each encrypted image on its own, and the paper scores it with the jigsaw literature's Direct comparison,
Neighbour comparison and Largest component besides the restored images. ppbench implements it so:

1. **pixel order from the one image**: K2 is the same in all 4N sub-blocks of the image, so the image alone
   holds 4N samples of every sub-block pixel position; the positions are laid on the (M/2) x (M/2) grid from
   their summed differences and the square's symmetry is fixed by the seams between the 4 sub-blocks
   (:func:`~.keyrecovery.solvers.proposed.solve_proposed_k2` on one ciphertext; nothing pooled over images);
2. **block jigsaw**: Gallagher's Mahalanobis Gradient Compatibility (MGC, CVPR 2012), the compatibility of the
   authors' earlier solvers, between the N blocks of that image
   (:func:`~.keyrecovery.jigsaw_single.mgc_dissimilarity`), placed on the known frame by ppbench's solver
   (:class:`~.keyrecovery.jigsaw.Jigsaw`: most confident placement first, normalised by the second-best
   match, segment-of-mutual-best-matches restarts, swap refinement).

Gaps, said plainly: the paper's full method section could not be read here, so the exact pixel-order
estimator and the exact placer it uses (Gallagher's tree-based assembly, or another from that line of work)
are ppbench's readings, not copies; MGC is Gallagher's formula with his nine dummy gradients. The attack
covers ``proposed`` only: the paper's attack is for the ViT scheme, and EtC's single-image solver is the
2017 papers' extended solver, not implemented here (``pooled`` attacks EtC from many ciphertexts).
Dc / Nc / Lc need the true placement, which the attack never sees: the attack exposes its placement
(``last_orders``) and :func:`~.keyrecovery.jigsaw_single.jigsaw_metrics` scores it.
"""

from __future__ import annotations

import time
import numpy as np
import torch

from ppbench.errors import InputError

from .base import Attack, AttackInfo, ThreatModel, register_attack
from .keyrecovery.jigsaw_single import (  # noqa: F401 - re-exported: the benchmark script scores with these
    jigsaw_metrics,
    mgc_dissimilarity,
    restore_proposed_one,
    true_block_order,
)

JIGSAW_SCHEMES = ("proposed",)

__all__ = ["JIGSAW_SCHEMES", "JigsawAttack", "jigsaw_metrics", "mgc_dissimilarity", "restore_proposed_one", "true_block_order"]


@register_attack
class JigsawAttack(Attack):
    """Restore each ``proposed`` ciphertext on its own: its pixel order from its own sub-blocks, then its
    blocks as a jigsaw with MGC seams.

    Paper: T. Chuman and H. Kiya, Information 14(6), 311, 2023, https://doi.org/10.3390/info14060311
    (arXiv 2211.02369); MGC from A. C. Gallagher, CVPR 2012.
    Threat model: ``ciphertext_only``: one ciphertext at a time, nothing else; no training.
    Arguments: ``scheme_name`` (``proposed``), ``image_size``, ``block_size`` (required: the scheme's M),
    ``profile``, ``device=None`` (CPU; the solver runs in numpy), ``batch_size=256`` (images per step),
    ``restarts`` / ``seeds`` (the jigsaw solver's effort: segment restarts and start pieces tried).
    Shapes: uint8 N x 3 x H x W ciphertexts in 0..255 -> uint8 N x 3 x H x W restored images.
    After a call: ``last_orders`` ((N, blocks) int64: the cipher block placed at each cell, row-major, for
    :func:`~.keyrecovery.jigsaw_single.jigsaw_metrics`), ``last_seconds`` (seconds per image) and
    ``last_confidence`` (fraction of placed seams that are mutual best matches, the solver's own score).
    Example::

        attack = create_attack("jigsaw", scheme_name="proposed", image_size=224, block_size=16)
        restored = attack(ciphertexts)
        scores = jigsaw_metrics(attack.last_orders[0], true_block_order(k1), (14, 14))  # k1: evaluation only
    """

    info = AttackInfo(
        name="jigsaw",
        title="Single-image jigsaw puzzle solver: pixel order from the image's sub-blocks, blocks placed by MGC (Chuman & Kiya 2023)",
        paper=("T. Chuman, H. Kiya, A jigsaw puzzle solver-based attack on image encryption using vision transformer "
               "for privacy-preserving DNNs, Information 14(6), 311, 2023"),
        url="https://doi.org/10.3390/info14060311",
        threat_model=ThreatModel.CIPHERTEXT_ONLY,
        version=1,
        trainable=False,
        schemes=JIGSAW_SCHEMES,
        notes="pixel-order estimator and placer are ppbench's readings of the paper (see the module docstring)",
    )
    input_range = "uint8"
    default_configs = {
        "smoke": {"batch_size": 256, "restarts": 1, "seeds": 1},
        "cpu": {"batch_size": 256, "restarts": 3, "seeds": 4},
        "paper": {"batch_size": 256, "restarts": 3, "seeds": 4},
    }

    def build(self) -> None:
        if self.block_size is None:
            raise InputError(f"attack 'jigsaw' needs the scheme's block size; pass block_size (e.g. 16 at "
                             f"{self.image_size}px)")
        self.last_orders = np.zeros((0, (self.image_size // self.block_size) ** 2), np.int64)
        self.last_seconds: list[float] = []
        self.last_confidence: list[float] = []
        self._orders: list[np.ndarray] = []

    @torch.no_grad()
    def __call__(self, ciphertexts: torch.Tensor) -> torch.Tensor:
        """As :meth:`Attack.__call__`; also resets ``last_orders`` / ``last_seconds`` / ``last_confidence``."""
        self.last_seconds, self.last_confidence, self._orders = [], [], []
        out = super().__call__(ciphertexts)
        self.last_orders = np.stack(self._orders) if self._orders else self.last_orders[:0]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each image alone (numpy, on the CPU); the result goes back to ``x``'s device."""
        cipher = x.cpu().numpy()
        out = np.empty_like(cipher)
        for i in range(cipher.shape[0]):
            start = time.perf_counter()
            result = restore_proposed_one(cipher[i], self.block_size, restarts=int(self.config["restarts"]),
                                          seeds=int(self.config["seeds"]))
            self.last_seconds.append(time.perf_counter() - start)
            self.last_confidence.append(result.buddy_fraction)
            self._orders.append(result.order)
            out[i] = result.image
        return torch.from_numpy(out).to(x.device)
