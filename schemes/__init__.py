"""Learnable image encryption schemes: a registry of one module per scheme family.

>>> from ppbench.schemes import create_scheme, generate_key, list_schemes
>>> list_schemes()
['ele', 'etc', 'le', 'pe', 'pe_np', 'plain', 'proposed']
>>> scheme = create_scheme("proposed", key=generate_key("proposed", image_size=32, block_size=4))
"""

from .base import (
    SCHEMES,
    Scheme,
    SchemeInfo,
    create_scheme,
    decrypt_numpy,
    encrypt_numpy,
    generate_key,
    list_schemes,
    register_scheme,
    scheme_info,
)

# Import every family so the registry is complete on import (timm's lesson: no "unknown model").
from . import etc, pixel, plain, proposed, tanaka  # noqa: E402,F401

# Third-party schemes (docs/plugins.md): loaded the first time the registry is listed or misses a name.
from ppbench.plugins import register_group as _register_group  # noqa: E402

_register_group("ppbench.schemes", registry=SCHEMES, base=Scheme, register=register_scheme)

__all__ = [
    "SCHEMES",
    "Scheme",
    "SchemeInfo",
    "create_scheme",
    "decrypt_numpy",
    "encrypt_numpy",
    "generate_key",
    "list_schemes",
    "register_scheme",
    "scheme_info",
]
