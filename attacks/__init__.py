"""Attacks that try to restore plain images from ciphertexts: one class per attack, one registry.

>>> from ppbench.attacks import create_attack, list_attacks
>>> list_attacks()
['fr', 'fr_adv', 'gan', 'itn', 'itn_unet', 'kpa', 'pooled']
>>> attack = create_attack("fr", scheme_name="pe_np", image_size=32)
"""

from .base import (
    ATTACKS,
    Access,
    Attack,
    AttackerView,
    AttackInfo,
    ThreatModel,
    ThreatModelError,
    attack_info,
    build_view,
    create_attack,
    list_attacks,
    register_attack,
    KeySource,
)

# Import every attack module so the registry is complete on import (timm's lesson: no "unknown model").
from . import fr, gan, itn, kpa, pooled  # noqa: E402,F401

__all__ = [
    "ATTACKS",
    "Access",
    "Attack",
    "AttackInfo",
    "AttackerView",
    "ThreatModel",
    "ThreatModelError",
    "attack_info",
    "build_view",
    "create_attack",
    "list_attacks",
    "register_attack",
    "KeySource",
]
