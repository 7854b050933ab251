"""Known-plaintext key recovery: the victim's key material read off n plain/cipher pairs, per scheme.

Every scheme in ppbench uses **one key for every image** (and, for ``proposed``, LE, PE and EtC, one key
for every block or pixel position), so each pair the attacker holds constrains the same key. The solvers
(:mod:`.solvers`, ``kpa_*``) turn the pairs into the key-material arrays (docs/schemes.md#key-material):

- ``plain``: nothing to recover.
- ``pe_np``: ``negate = (cipher != plain)`` per value; one pair decides it (q != 255 - q for integers).
- ``pe``: per pixel, the 6 channel orders x 8 negation patterns that reproduce the cipher pixel from the
  plain one in every pair; a grey or two-equal-channel pixel leaves several, more pairs settle it.
- ``proposed``: K1 by matching blocks whose sub-blocks hold the same multiset of pixels in every pair,
  then K2 by matching pixel columns, then K1 again with K2 undone. Uniform blocks identical in every pair
  stay ambiguous.
- ``le``: every block of every pair is a sample of the one nibble key; cipher nibble k's column must equal
  P[k]'s column or its negation. The mask is derived from P (r = P > d), so it needs no separate recovery.
- ``ele``: block scrambling first (a block's multiset of folded nibble columns is invariant to its key),
  then LE's matching per original block position on only n samples: many more pairs than LE.
- ``etc``: block scrambling first (a block's sorted folded values min(q, 255 - q) are invariant to its
  transform), then the ones of the 96 transforms that reproduce each matched pair.

Where the pairs do not determine the key, the key returned reproduces every pair (among equals, the first
found) and :attr:`KeyRecovery.ambiguous` counts the entries left open (see
:func:`~ppbench.attacks.keyrecovery.matching.match`); ``consistent`` says whether re-encrypting the known
plaintexts with the recovered key reproduces the ciphertexts bit for bit.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ppbench.errors import InputError
from ppbench.schemes import create_scheme, scheme_info

from .base import KeyRecovery, KpaResult, as_numpy_uint8
from .parallel import one_blas_thread
from .solvers.etc import kpa_etc
from .solvers.pixel import kpa_pe, kpa_pe_np
from .solvers.proposed import kpa_proposed
from .solvers.tanaka import kpa_ele, kpa_le

KPA_SCHEMES = ("proposed", "le", "ele", "pe", "pe_np", "etc", "plain")
#: A known-plaintext solver: (plain, cipher, block size or None) -> key material, entries left open, notes.
Solver = Callable[[np.ndarray, np.ndarray, int | None], KpaResult]


def kpa_plain(x: np.ndarray, y: np.ndarray, m: int | None) -> KpaResult:
    """``plain`` has no key."""
    return {}, {}, []


SOLVERS: dict[str, Solver] = {
    "plain": kpa_plain,
    "pe_np": kpa_pe_np,
    "pe": kpa_pe,
    "proposed": kpa_proposed,
    "le": kpa_le,
    "ele": kpa_ele,
    "etc": kpa_etc,
}


def recover_key_kpa(
    scheme_name: str,
    plaintexts: torch.Tensor | np.ndarray,
    ciphertexts: torch.Tensor | np.ndarray,
    *,
    block_size: int | None = None,
) -> KeyRecovery:
    """Recover ``scheme_name``'s key material from paired uint8 N x 3 x H x W plain and cipher images.

    The image size is the images'; ``block_size`` is needed by the block-wise schemes. See the module
    docstring for the method per scheme; :class:`KeyRecovery` says how unique and consistent it is.
    """
    name = scheme_info(scheme_name).name
    if name not in SOLVERS:
        raise InputError(f"kpa has no key solver for scheme {scheme_name!r}; supported: {', '.join(KPA_SCHEMES)}")
    x, y = as_numpy_uint8(plaintexts, "plaintexts"), as_numpy_uint8(ciphertexts, "ciphertexts")
    if x.shape != y.shape:
        raise InputError(f"kpa needs plain and cipher images of the same shape, got {x.shape} and {y.shape}; pass each plain image with its own ciphertext")
    if x.shape[0] < 1:
        raise InputError("kpa needs at least one plain/cipher pair, got none; pass at least one pair in the view")
    block = block_size if scheme_info(name).block_wise else None
    start = time.perf_counter()
    with one_blas_thread():  # a key that does not depend on the machine's cores (see parallel.one_blas_thread)
        material, ambiguous, notes = SOLVERS[name](x, y, block)
    scheme = create_scheme(name, key_material=material, image_size=tuple(x.shape[2:]), block_size=block)
    consistent = bool(torch.equal(scheme.encrypt(torch.from_numpy(x)), torch.from_numpy(y)))
    if not consistent:
        notes.append("the recovered key does not reproduce every pair: the pairs were not made with one key of this scheme")
    return KeyRecovery(
        scheme=name, key_material=material, n=int(x.shape[0]), seconds=time.perf_counter() - start,
        ambiguous=ambiguous, consistent=consistent, notes=notes,
    )
