"""Known-plaintext key recovery (``kpa``): read the victim's key material off n plain/cipher pairs.

Every scheme in ppbench uses **one key for every image**, so each plain/cipher pair the attacker holds
constrains the same key. ``kpa`` turns the pairs into the key-material arrays (``docs/schemes.md#key-material``),
builds the scheme with ``create_scheme(name, key_material=...)`` and decrypts any ciphertext under that key
exactly. It is an upper bound on what the key hides, the strongest attack a benchmark of these schemes
should report beside FR, GAN and ITN (which the seed paper uses). The solvers per scheme, and why each is
exact, are in :mod:`ppbench.attacks.keyrecovery.known_plaintext`; this module holds the registered attack
and keeps the names other modules import from it.

Threat model: ``known_plaintext`` (victim-key ciphertexts paired with their plain images; the
attacker's own public images are granted by that threat model but not used). No training: ``fit``
solves for the key and the attack then decrypts.

Example::

    attack = create_attack("kpa", scheme_name="proposed", image_size=224, block_size=16)
    attack.fit(build_view("known_plaintext", scheme=victim, victim_train=plain, public_images=plain[:0],
                          generator=torch.Generator().manual_seed(0)))
    restored = attack(ciphertexts)          # exact where attack.recovery.unique
"""

from __future__ import annotations

from typing import Any

from .base import AttackerView, AttackInfo, ThreatModel, register_attack
from .keyrecovery.base import (  # noqa: F401 - re-exported: other modules import these from here
    CHANNEL_ORDERS,
    NEGATION_PATTERNS,
    KeyRecovery,
    KeyRecoveryAttack,
    as_numpy_uint8,
    key_agreement,
    same_key,
)
from .keyrecovery.geometry import from_blocks, from_sub_pixels, sub_pixels, to_blocks  # noqa: F401 - re-exported
from .keyrecovery.known_plaintext import KPA_SCHEMES, SOLVERS, recover_key_kpa  # noqa: F401 - re-exported
from .keyrecovery.matching import LSA_LIMIT, match  # noqa: F401 - re-exported
from .keyrecovery.solvers.etc import etc_transforms  # noqa: F401 - re-exported

__all__ = ["CHANNEL_ORDERS", "KPA", "KPA_SCHEMES", "LSA_LIMIT", "NEGATION_PATTERNS", "SOLVERS", "KeyRecovery",
           "KeyRecoveryAttack", "as_numpy_uint8", "etc_transforms", "from_blocks", "from_sub_pixels", "key_agreement",
           "match", "recover_key_kpa", "same_key", "sub_pixels", "to_blocks"]


@register_attack
class KPA(KeyRecoveryAttack):
    """Known-plaintext key recovery: exact key material from n plain/cipher pairs, then exact decryption.

    Paper: the schemes' keys are permutations (plus negations) shared by every image, i.e.
    permutation-only ciphers, which a few known plaintexts break (S. Li, C. Li, G. Chen, N. G. Bourbakis,
    K.-T. Lo, Signal Processing: Image Communication 23(3), 212-223, 2008); ppbench's solvers per scheme
    are in :mod:`ppbench.attacks.keyrecovery.known_plaintext`.
    Threat model: ``known_plaintext`` (victim-key ciphertexts paired with their plain images; the
    public images that threat model also grants are not read).
    Arguments: ``scheme_name`` (any of ``proposed, le, ele, pe, pe_np, etc, plain``), ``image_size``,
    ``block_size`` (block-wise schemes), ``profile`` (all the same), ``device=None`` (CPU),
    ``batch_size=256`` (decryption batch), ``epochs=1`` (fixed: one pass over the pairs),
    ``max_images=1000`` (pairs used at most: the first ones of the view).
    Shapes: uint8 N x 3 x H x W ciphertexts in 0..255 -> uint8 N x 3 x H x W restored images.
    After ``fit``: ``recovery`` (a :class:`KeyRecovery`: entries left open per key array, whether the
    key reproduces every pair, seconds) and ``key_material`` (the key-material arrays).
    Example::

        attack = create_attack("kpa", scheme_name="le", image_size=32, block_size=4).fit(view)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="kpa",
        title="Known-plaintext key recovery: the key material from n plain/cipher pairs, then exact decryption",
        paper=("S. Li, C. Li, G. Chen, N. G. Bourbakis, K.-T. Lo, A general quantitative cryptanalysis of "
               "permutation-only multimedia ciphers against plaintext attacks, Signal Processing: Image "
               "Communication 23(3), 212-223, 2008"),
        url="https://doi.org/10.1016/j.image.2008.01.003",
        threat_model=ThreatModel.KNOWN_PLAINTEXT,
        version=1,
        curve=True,
        trainable=True,
        notes="exact wherever the pairs determine the key; recovery.ambiguous counts the entries they leave open",
    )

    @classmethod
    def applicable(cls, scheme: Any) -> str | None:
        """Only schemes with a key solver here; a plugin scheme exposes no structure these solvers know."""
        if scheme.name not in SOLVERS:
            return f"it has key solvers only for the schemes whose structure it knows ({', '.join(KPA_SCHEMES)})"
        return super().applicable(scheme)

    def recover(self, view: AttackerView) -> KeyRecovery:
        """The key from the view's first ``max_images`` pairs."""
        k = int(self.config["max_images"])
        return recover_key_kpa(self.scheme_name, view.victim_plaintexts[:k], view.victim_ciphertexts[:k],
                               block_size=self.block_size)
