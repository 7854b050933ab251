"""Generic chosen-plaintext attack (``cpa_generic``): read any member of family F off about log2(24 H W) + 1
chosen images.

Under the ``chosen_plaintext`` threat model the attacker holds an encryption oracle (the victim's encryption
under the victim's key, applied to images it chose) and nothing else. It asks for the all-zero image (its
ciphertext is the XOR mask), then for ``ceil(log2 B)`` images in which plain bit p is bit k of p (B = 24 H W
bit positions), so that cipher bit i spells, XOR its mask bit, the binary index of its source bit
(:func:`ppbench.attacks.bitmap.probe`). The decoded sources must be a permutation of the bit positions, and
the map must then reproduce ``verify_images`` uniformly random chosen images; otherwise no member of F
explains the oracle: the attack says so (``in_family = False``), claims no break and restores a uniform grey
image. At 32 x 32: 1 + 15 + 2 = 18 chosen images; at 224 x 224: 1 + 21 + 2 = 24.

Like ``kpa_generic`` it uses nothing about the scheme, so it judges a scheme no attack was written for.

Example::

    attack = create_attack("cpa_generic", scheme_name="pe", image_size=32)
    attack.fit(build_view("chosen_plaintext", scheme=victim, victim_train=plain[:0], public_images=plain[:0],
                          generator=torch.Generator().manual_seed(0)))
    restored = attack(ciphertexts)        # exact when attack.in_family
"""

from __future__ import annotations

import time
from typing import Any

from .base import PROFILES, AttackerView, AttackInfo, ThreatModel, register_attack
from .bitmap import BitMap, probe, probe_count, verify
from .kpa_generic import BitMapAttack, BitMapRecovery


def chosen_images_needed(image_size: int, verify_images: int = 2) -> int:
    """The chosen images ``cpa_generic`` asks for: 1 (all-zero) + ceil(log2(24 H W)) + ``verify_images``."""
    return 1 + probe_count(image_size) + int(verify_images)


@register_attack
class CPAGeneric(BitMapAttack):
    """Generic chosen-plaintext attack: the bit map of any member of family F from log2(24 H W) + 1 chosen images.

    Paper: a permutation-only cipher of L-valued symbols falls to ceil(log_L(M N)) chosen plaintexts (S. Li,
    C. Li, G. Chen, N. G. Bourbakis, K.-T. Lo, Signal Processing: Image Communication 23(3), 212-223, 2008);
    here the symbols are bits (L = 2) and one more image reads the XOR mask.
    Threat model: ``chosen_plaintext`` (an encryption oracle under the victim's key, counting the chosen images;
    no victim plaintexts, ciphertexts or key).
    Arguments: ``scheme_name`` (any registered scheme, a plugin's too: only the name is recorded), ``image_size``, ``block_size``
    (unused), ``profile`` (all the same), ``device=None`` (CPU), ``batch_size=256`` (decryption batch),
    ``epochs=1`` (fixed), ``verify_images=2`` (random chosen images that must be reproduced).
    Shapes: uint8 N x 3 x H x W ciphertexts in 0..255 -> uint8 N x 3 x H x W restored images (all 128 when
    the oracle fits no member of F).
    After ``fit``: ``recovery`` (a :class:`~ppbench.attacks.kpa_generic.BitMapRecovery` with ``queries``, the
    chosen images used), ``in_family``, ``chosen_images`` and ``key_material`` (``src``, ``mask``).
    Example::

        attack = create_attack("cpa_generic", scheme_name="etc", image_size=32).fit(view)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="cpa_generic",
        title="Generic chosen-plaintext attack: the bit map of any permutation-plus-XOR cipher (family F) from log2(24HW)+1 chosen images",
        paper=("S. Li, C. Li, G. Chen, N. G. Bourbakis, K.-T. Lo, A general quantitative cryptanalysis of "
               "permutation-only multimedia ciphers against plaintext attacks, Signal Processing: Image "
               "Communication 23(3), 212-223, 2008"),
        url="https://doi.org/10.1016/j.image.2008.01.003",
        threat_model=ThreatModel.CHOSEN_PLAINTEXT,
        version=1,
        generic=True,
        trainable=True,
        notes=("knows nothing of the scheme; exact for every member of F; an oracle that fits no member of F is "
               "reported as in_family false, no break claimed; chosen_images: the oracle queries used"),
    )
    default_configs = {p: {"batch_size": 256, "epochs": 1, "verify_images": 2} for p in PROFILES}

    def recover(self, view: AttackerView) -> BitMapRecovery:
        oracle = view.encryption_oracle
        before = oracle.queries
        start = time.perf_counter()
        found = probe(oracle, self.image_size)
        verified = found is not None and verify(found, oracle, int(self.config["verify_images"]), view.generator)
        queries = oracle.queries - before
        notes: list[str] = []
        if found is None:
            notes.append("not in F: the decoded source indices are not a permutation of the bit positions; "
                         "no break is claimed")
        elif not verified:
            notes.append(f"not in F: the decoded map does not reproduce {self.config['verify_images']} random chosen "
                         "images; no break is claimed")
        shape = (3, self.image_size, self.image_size)
        bitmap = found if found is not None else BitMap.identity(shape)
        return BitMapRecovery(
            scheme=self.scheme_name, key_material=bitmap.key_material(), n=queries,
            seconds=time.perf_counter() - start, ambiguous={"src": 0}, consistent=verified, notes=notes,
            in_family=verified, unmatched_bits=0, queries=queries,
        )

    @property
    def chosen_images(self) -> int | None:
        """The chosen images the last ``fit`` used (None before)."""
        return self.recovery.queries if self.recovery is not None else None

    def record_fields(self) -> dict[str, Any]:
        return {**super().record_fields(), "chosen_images": self.chosen_images}


__all__ = ["CPAGeneric", "chosen_images_needed"]
