"""Ciphertext-only key recovery by pooling statistics over many ciphertexts (``pooled``).

Every scheme here encrypts **every image with the same key**. One ciphertext hides its structure well
(the seed paper's FR, GAN and ITN fail on ``proposed``), but n ciphertexts under one key are n samples of
the same permutation, and natural images are smooth: statistics pooled over the n ciphertexts expose
what a single image hides. The method per scheme is in :mod:`ppbench.attacks.keyrecovery.ciphertext_only`
(building blocks: :mod:`~ppbench.attacks.keyrecovery.jigsaw`, :mod:`~ppbench.attacks.keyrecovery.layout`,
:mod:`~ppbench.attacks.keyrecovery.colour`, :mod:`~ppbench.attacks.keyrecovery.prior`); this module holds
the registered attack and keeps the names other modules import from it.

Threat model: ``ciphertext_only_unpaired_plain``: n victim-key ciphertexts, and the attacker's own plain
images (``view.public_images``), read only to learn the natural-image prior that settles the global
symmetries smoothness cannot (PE, PE-NP, EtC; at least 32 images); no victim plaintext, no key, no labels.

Example::

    attack = create_attack("pooled", scheme_name="proposed", image_size=224, block_size=16)
    attack.fit(view)                       # view.victim_ciphertexts: n ciphertexts under the victim's key
    restored = attack(other_ciphertexts)   # exact when the key was recovered exactly
"""

from __future__ import annotations

from typing import Any

from .base import AttackerView, AttackInfo, ThreatModel, register_attack
from .keyrecovery.base import KeyRecovery, KeyRecoveryAttack
from .keyrecovery.ciphertext_only import (  # noqa: F401 - re-exported: other modules import these from here
    NEEDS_PRIOR,
    POOLED_SCHEMES,
    POOLED_SOLVERS,
    global_readings,
    recover_key_pooled,
)
from .keyrecovery.colour import apply_colour, colour_group, synchronise_pixels  # noqa: F401 - re-exported
from .keyrecovery.geometry import dihedral_grids, grid_adjacent  # noqa: F401 - re-exported
from .keyrecovery.jigsaw import DIRS, OPPOSITE, Jigsaw, JigsawSolution, PieceGroup, edge_dissimilarity  # noqa: F401
from .keyrecovery.layout import mds_grid_layout, pair_swap_search, pooled_l1, swap_search  # noqa: F401 - re-exported
from .keyrecovery.prior import MIN_PUBLIC_IMAGES, NaturalPrior, choose_colour, image_features  # noqa: F401
from .keyrecovery.solvers.etc import etc_dissimilarity, etc_group  # noqa: F401 - re-exported
from .keyrecovery.solvers.proposed import solve_proposed_k2  # noqa: F401 - re-exported

__all__ = ["DIRS", "MIN_PUBLIC_IMAGES", "NEEDS_PRIOR", "OPPOSITE", "POOLED_SCHEMES", "POOLED_SOLVERS", "THREAT_MODEL",
           "Jigsaw", "JigsawSolution", "NaturalPrior", "PieceGroup", "Pooled", "apply_colour", "choose_colour",
           "colour_group", "dihedral_grids", "edge_dissimilarity", "etc_dissimilarity", "etc_group", "global_readings",
           "grid_adjacent", "image_features", "mds_grid_layout", "pair_swap_search", "pooled_l1", "recover_key_pooled",
           "solve_proposed_k2", "swap_search", "synchronise_pixels"]

#: The threat model the attack declares: n victim-key ciphertexts and the attacker's own plain images (for the prior).
THREAT_MODEL: ThreatModel = ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN


@register_attack
class Pooled(KeyRecoveryAttack):
    """Ciphertext-only key recovery from statistics pooled over n ciphertexts under the victim's key.

    Paper: extends the single-image jigsaw-solver attack of T. Chuman and H. Kiya (Information 14(6),
    311, 2023) to what a shared key gives away: n ciphertexts are n samples of one permutation, so
    pixel order and block order are read from statistics pooled over all of them (see
    :mod:`ppbench.attacks.keyrecovery.ciphertext_only` for the method per scheme and the priors used).
    Threat model: ``ciphertext_only_unpaired_plain``: n ciphertexts under the victim's key, and the
    attacker's own plain images, from which alone the natural-image prior is learnt (PE, PE-NP and EtC
    need at least 32; the other schemes do not read them).
    Arguments: ``scheme_name`` (see :data:`POOLED_SCHEMES`), ``image_size``, ``block_size``, ``profile``
    (all the same), ``device=None`` (CPU), ``batch_size=256`` (decryption batch), ``epochs=1`` (fixed),
    ``max_images=1000`` (ciphertexts used at most: the first ones of the view).
    Shapes: uint8 N x 3 x H x W ciphertexts in 0..255 -> uint8 N x 3 x H x W restored images.
    After ``fit``: ``recovery`` (a :class:`KeyRecovery` with the attack's own confidence scores and the
    priors it used, in ``notes``) and ``key_material``.
    Example::

        attack = create_attack("pooled", scheme_name="proposed", image_size=32, block_size=4).fit(view)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="pooled",
        title="Ciphertext-only key recovery: pixel order and block jigsaw from statistics pooled over n ciphertexts",
        paper=("T. Chuman, H. Kiya, A jigsaw puzzle solver-based attack on image encryption using vision transformer "
               "for privacy-preserving DNNs, Information 14(6), 311, 2023 (single image); pooling over the shared key: ppbench"),
        url="https://doi.org/10.3390/info14060311",
        threat_model=THREAT_MODEL,
        # 2: a ciphertext-only solver for ELE (1 returned the identity key for ELE); 3: the natural-image prior is
        # learnt from the attacker's public images in the view (2 read the bundled sample's training images);
        # 4: ELE's per-position reading fixes symmetries and low-nibble signs by the derived mask (new ELE keys);
        # 5: ELE's positions that no candidate explains get a deeper (iterated local) layout search (new ELE keys);
        # 6: ELE's nibbles are read again from the assembled images (new ELE keys); 7: ELE's image-edge positions
        # are solved again layer by layer from the interior (new ELE keys at 224 x 224); 8: the holder of ELE's
        # plain nibble d (the first pixel's high) is tried at the first pixel's neighbours (new ELE keys at 224);
        # LE/ELE report the key entries the ciphertexts leave open (``ambiguous``); 9: EtC's jigsaw tries up to 16
        # start pieces, not 4 (new EtC keys where the 4 grew one wrong placement); 10: ELE's re-read runs up to 8
        # rounds, not 4 (new ELE keys at 224 x 224: the image-edge positions settle instead of stopping mid-swing); 11: ELE
        # places its blocks again after the re-read's first round and restarts the re-read at once where they moved
        version=11,
        curve=True,
        trainable=True,
        notes="global symmetries that smoothness cannot settle are chosen by a natural-image prior (see recovery.notes)",
    )

    @classmethod
    def applicable(cls, scheme: Any) -> str | None:
        """Only schemes with a solver here; a plugin scheme exposes no structure these solvers know."""
        if scheme.name not in POOLED_SOLVERS:
            return f"it has solvers only for the schemes whose structure it knows ({', '.join(POOLED_SCHEMES)})"
        return super().applicable(scheme)

    def recover(self, view: AttackerView) -> KeyRecovery:
        """The key from the view's first ``max_images`` ciphertexts; the prior, where needed, from its public images."""
        k = int(self.config["max_images"])
        return recover_key_pooled(self.scheme_name, view.victim_ciphertexts[:k], block_size=self.block_size,
                                  public_images=view.public_images)
