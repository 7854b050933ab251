"""Ciphertext-only key recovery by pooling statistics over many ciphertexts under one key, per scheme.

One ciphertext hides its structure well, but n ciphertexts under one key are n samples of the same
permutation, and natural images are smooth: statistics pooled over them expose what one image hides.
The solvers (:mod:`.solvers`, ``pooled_*``) read nothing but the ciphertexts, except the natural-image
prior (:mod:`.prior`) that three schemes need for a global symmetry smoothness cannot settle; it is
learnt from the attacker's own plain images (``public_images``), never from a data set on disk.

- ``proposed``: K2 by laying the cipher pixel positions on the sub-block grid from their pooled
  differences (brute force for M <= 4, else isomap/MDS and best-swap search; the seams between the 4
  sub-blocks fix the square's symmetry), then K1 as a jigsaw without rotation (:mod:`.jigsaw`): nothing
  global is left.
- ``le``: :func:`~.solvers.le_reading.le_key` on every block of every image; LE's derived mask (r = P > d)
  settles the channel order and negative exactly, and ``mask_agreement`` = 1.0 tells the attack it succeeded.
- ``ele``: the same per cipher block position on its n samples (the mask also settles the block grid's
  symmetry), the decrypted blocks then placed by the jigsaw: hundreds of ciphertexts instead of a handful.
- ``pe``, ``pe_np``: per-pixel transforms synchronised over the grid
  (:func:`~.colour.synchronise_pixels`); the global negative and channel order by the **prior**.
- ``etc``: a jigsaw whose pieces carry one of 96 orientations; rotation, negative and channel order of
  the whole image by the **prior**, but not the left-right mirror (natural images are mirror-symmetric in
  distribution): the mirrored key is returned in ``KeyRecovery.alternatives``.
- ``plain``: nothing to recover.

``KeyRecovery.ambiguous`` counts, for LE and ELE, the key entries the ciphertexts cannot fix
(:func:`open_entries`): nonzero means no attack could name the exact key from these ciphertexts.

:func:`global_readings` lists the keys a prior had to choose between, so that evaluations can report
"exact up to a global symmetry" (what smoothness alone recovered) beside "exact".
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ppbench.errors import InputError
from ppbench.schemes import scheme_info

from .base import KeyRecovery, PooledResult, as_numpy_uint8
from .geometry import block_nibbles
from .parallel import one_blas_thread
from .prior import NaturalPrior, learn_prior
from .solvers.etc import etc_global_readings, pooled_etc
from .solvers.pixel import pe_global_readings, pooled_pe, pooled_pe_np
from .solvers.proposed import pooled_proposed
from .solvers.tanaka import open_nibbles, pooled_ele, pooled_le

POOLED_SCHEMES = ("proposed", "le", "ele", "etc", "pe", "pe_np", "plain")
#: Schemes whose global reading only a natural-image prior settles (so they need the attacker's public images).
NEEDS_PRIOR = frozenset({"pe", "pe_np", "etc"})
#: A ciphertext-only solver: (ciphertexts, block size or None, prior or None) -> key, confidence, notes, alternatives.
PooledSolver = Callable[[np.ndarray, int | None, NaturalPrior | None], PooledResult]


def pooled_plain(y: np.ndarray, m: int | None, prior: NaturalPrior | None = None) -> PooledResult:
    """``plain`` has no key."""
    return {}, {}, ["plain: no key"], []


POOLED_SOLVERS: dict[str, PooledSolver] = {
    "plain": pooled_plain,
    "pe": pooled_pe,
    "pe_np": pooled_pe_np,
    "etc": pooled_etc,
    "le": pooled_le,
    "ele": pooled_ele,
    "proposed": pooled_proposed,
}


def recover_key_pooled(scheme_name: str, ciphertexts: torch.Tensor | np.ndarray, *, block_size: int | None = None,
                       public_images: torch.Tensor | np.ndarray | None = None) -> KeyRecovery:
    """Recover ``scheme_name``'s key material from n uint8 N x 3 x H x W ciphertexts alone.

    ``public_images`` (uint8 N x 3 x H x W, any size): the attacker's own plain images, from which the
    natural-image prior is learnt; needed (at least :data:`~.prior.MIN_PUBLIC_IMAGES`) for the schemes in
    :data:`NEEDS_PRIOR`, unread by the others. The result's ``confidence`` holds the attack's own scores
    (no true key is consulted); ``notes`` names the global symmetries settled by the prior.
    """
    name = scheme_info(scheme_name).name
    if name not in POOLED_SOLVERS:
        raise InputError(f"pooled has no solver for scheme {scheme_name!r}; supported: {', '.join(POOLED_SCHEMES)}")
    y = as_numpy_uint8(ciphertexts, "ciphertexts")
    if y.shape[0] < 1:
        raise InputError("pooled needs at least one ciphertext, got none; pass the victim's ciphertexts in the view")
    start = time.perf_counter()
    prior = None
    if name in NEEDS_PRIOR:
        public = as_numpy_uint8(public_images, "public_images") if public_images is not None else y[:0]
        prior = learn_prior(public, f"pooled (for {name}'s global symmetry)")
    block = block_size if scheme_info(name).block_wise else None
    with one_blas_thread():  # a key that does not depend on the machine's cores (see parallel.one_blas_thread)
        material, confidence, notes, alternatives = POOLED_SOLVERS[name](y, block, prior)
    return KeyRecovery(scheme=name, key_material=material, n=int(y.shape[0]), seconds=time.perf_counter() - start,
                       ambiguous=open_entries(name, y, material, block), consistent=None, confidence=confidence,
                       notes=notes, alternatives=alternatives)


def open_entries(scheme_name: str, y: np.ndarray, material: dict[str, np.ndarray], block_size: int | None
                 ) -> dict[str, int]:
    """Per key array, the entries of ``material`` that the uint8 ciphertexts ``y`` leave open: nibbles whose
    places can be exchanged without changing any decryption of ``y`` (:func:`~.solvers.tanaka.open_nibbles`),
    counted for LE (every block a sample of its one key) and ELE (each block position its own key, read at the
    cipher position its blocks sit at); empty for the other schemes, whose solvers count nothing open."""
    if scheme_name not in ("le", "ele") or block_size is None:
        return {}
    nib = block_nibbles(y, block_size)
    if scheme_name == "le":
        return {"perm": int(open_nibbles(nib.reshape(-1, 1, nib.shape[-1]), material["perm"][None]).sum())}
    return {"perms": int(open_nibbles(nib, material["perms"][material["block_perm"]]).sum())}


def global_readings(scheme_name: str, material: dict[str, np.ndarray], *, block_size: int | None = None
                    ) -> list[dict[str, np.ndarray]]:
    """Every key that decrypts to a global symmetric reading of what ``material`` decrypts to: the
    readings smoothness cannot tell apart (EtC: the 96 rotations/flips x negation x channel orders of the
    whole image; PE: the 48 channel orders x negation patterns; PE-NP: the 8 negation patterns), the
    first being ``material`` itself. Evaluators use it to report "exact up to a global symmetry", i.e.
    what the attack got right before its natural-image prior chose the reading. Other schemes: only
    ``material`` (their global readings are settled by the key's structure, not by a prior)."""
    name = scheme_name.lower()
    if name in ("pe", "pe_np"):
        return pe_global_readings(name, material)
    if name == "etc":
        if block_size is None:
            raise InputError("global_readings: EtC needs the block size; pass block_size=")
        return etc_global_readings(material, block_size)
    return [material]
