"""Regenerate ``kat_schemes_v1.npz`` (run once; the file is frozen and versioned with the schemes).

For every scheme: key material derived from the fixed test secret ``bytes(range(32))`` at 8x8
(block 4), stored explicitly, and the ciphertext of one fixed 8x8 image computed by the independent
naive reference in ``tests/reference.py`` (not by ppbench's own gather tables). The derived arrays
are also stored under ``derived/<scheme>/`` so a change of the key derivation cannot pass unseen.

    python tests/testdata/make_kat.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import reference  # noqa: E402
from ppbench.keys import SchemeKey  # noqa: E402
from ppbench.schemes import create_scheme, list_schemes, scheme_info  # noqa: E402

SECRET = bytes(range(32))


def main() -> None:
    plain = np.random.default_rng(20220829).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    arrays: dict[str, np.ndarray] = {"plain": plain}
    for name in list_schemes():
        block = 4 if scheme_info(name).block_wise else None
        params = {"image_size": [8, 8], **({"block_size": block} if block else {})}
        material = create_scheme(name, key=SchemeKey(name, params, SECRET)).key_material()
        for array_name, array in material.items():
            arrays[f"{name}/{array_name}"] = array
            arrays[f"derived/{name}/{array_name}"] = array
        arrays[f"{name}/cipher"] = reference.encrypt_batch(name, plain[None], material, block)[0]
    np.savez_compressed(HERE / "kat_schemes_v1.npz", **arrays)
    print(f"wrote {HERE / 'kat_schemes_v1.npz'} ({len(arrays)} arrays)")


if __name__ == "__main__":
    main()
