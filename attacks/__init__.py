"""Attacks that try to restore plain images from ciphertexts: one class per attack, one registry.

>>> from ppbench.attacks import create_attack, list_attacks
>>> list_attacks()
['cpa_generic', 'fr', 'fr_adv', 'gan', 'gan_labels', 'itn', 'itn_unet', 'jigsaw', 'kpa', 'kpa_generic', 'pooled', 'pooled_generic']
>>> attack = create_attack("fr", scheme_name="pe_np", image_size=32)
"""

from .base import (
    ATTACKS,
    Access,
    Attack,
    AttackerView,
    AttackInfo,
    NotApplicableError,
    PROFILE_FALLBACK,
    ThreatModel,
    ThreatModelError,
    attack_class,
    attack_info,
    build_view,
    create_attack,
    list_attacks,
    register_attack,
    KeySource,
)

# Import every attack module so the registry is complete on import (timm's lesson: no "unknown model").
from . import fr, gan, itn, kpa, pooled  # noqa: E402,F401
from . import cpa_generic, kpa_generic  # noqa: E402,F401  (generic attacks on family F)
from . import pooled_generic  # noqa: E402,F401  (ciphertext-only generic attack on family F)
from . import jigsaw  # noqa: E402,F401  (single-image jigsaw solver of Chuman & Kiya)

# Third-party attacks (docs/plugins.md): loaded the first time the registry is listed or misses a name.
from ppbench.plugins import register_group as _register_group  # noqa: E402

_register_group("ppbench.attacks", registry=ATTACKS, base=Attack, register=register_attack)

__all__ = [
    "ATTACKS",
    "Access",
    "Attack",
    "AttackInfo",
    "AttackerView",
    "NotApplicableError",
    "PROFILE_FALLBACK",
    "ThreatModel",
    "ThreatModelError",
    "attack_class",
    "attack_info",
    "build_view",
    "create_attack",
    "list_attacks",
    "register_attack",
    "KeySource",
]
