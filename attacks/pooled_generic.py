"""Ciphertext-only attack on any member of family F from pooled statistics (``pooled_generic``).

Family F: once its key is fixed, a scheme moves the bytes of the H x W x 3 image by one fixed
permutation and negates some of them (XOR 255), the same for every image. ``proposed``, PE, PE-NP,
EtC and ``plain`` are in F; so is any scheme a researcher brings that shuffles and negates whole bytes.
``pooled_generic`` knows nothing else about the scheme: it never reads the scheme's name, block size or
key structure. From n ciphertexts under one key it learns where every cipher byte sits, from statistics
pooled over the n samples of each position (the 2-D topology of pixels can be learnt from correlations
over natural images alone: N. Le Roux, Y. Bengio, P. Lamblin, M. Joliveau, B. Kegl, "Learning the 2-D
topology of images", NIPS 2007):

1. **polarity** (:mod:`.keyrecovery.topology.stats`): relative signs along a maximum spanning tree of the
   byte correlations (natural images correlate positively), up to the global negative;
2. **pixels** (:mod:`.keyrecovery.topology.pixels`): the three channels of each pixel, as the byte pairs
   whose difference is a colour signal shared by the whole image (explained by the leading principal
   components) rather than a local gradient;
3. **layout** (:mod:`.keyrecovery.topology.layout`): the pixels on the frame as a jigsaw of 1 x 1 pieces;
4. **refinement** (:mod:`.keyrecovery.topology.refine`): pixels, then single bytes, re-placed by exact
   block-coordinate descent (linear assignment on independent sets of slots), mending mis-grouped bytes
   from the evidence of all their neighbours;
5. **reading** (:mod:`.keyrecovery.topology.reading`): channel order and polarity synchronised between
   neighbouring pixels, then the one global transform (8 symmetries of the square x 48 colour
   transforms) chosen by a natural-image prior learnt from the attacker's own plain images.

The statistics are dense (3 H W)^2 matrices, so images up to 64 x 64 are accepted; 224 x 224 would need
sparse nearest-neighbour statistics and a sparse layout, which this version does not have.

Threat model: ``ciphertext_only_unpaired_plain``: n victim-key ciphertexts and the attacker's own
natural images (only for the prior of step 4; never the victim's plaintexts). The result is a byte map
(which cipher byte, negated or not, each plain value reads), not the scheme's key: ``key_material``
holds ``byte_source`` and ``byte_negate`` (C x H x W each). Nibble movers (LE, ELE) are outside what a
byte map can express; the attack still returns the best byte map it finds, and says so in the notes.

Example::

    attack = create_attack("pooled_generic", scheme_name="pe", image_size=32)
    attack.fit(view)            # view.victim_ciphertexts: n ciphertexts; view.public_images: own images
    restored = attack(other_ciphertexts)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ppbench.errors import InputError, NotApplicableError

from .base import PROFILES, AttackerView, AttackInfo, ThreatModel, register_attack
from .keyrecovery.topology.layout import OFFSET_ROUNDS, SEEDS, grid_layout, pixel_distances
from .keyrecovery.topology.pixels import group_pixels
from .keyrecovery.prior import MIN_PUBLIC_IMAGES, learn_prior  # noqa: F401 - MIN_PUBLIC_IMAGES re-exported
from .keyrecovery.topology.reading import PRIOR_SAMPLE, ByteMap, choose_reading, synchronise
from .keyrecovery.topology.refine import MAX_SWEEPS, energy, refine_bytes as refine
from .keyrecovery.topology.stats import correlation, standardise, tree_polarity
from .keyrecovery.base import KeyRecovery, KeyRecoveryAttack, as_numpy_uint8

THREAT_MODEL: ThreatModel = ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN
#: Largest image side: the statistics are dense D x D matrices (D = 3 H W; 600 MB at 64 x 64).
MAX_SIDE = 64


def recover_byte_map(ciphertexts: torch.Tensor | np.ndarray, public_images: torch.Tensor | np.ndarray, *,
                     layout_seeds: int = SEEDS, offset_rounds: int = OFFSET_ROUNDS, refine_sweeps: int = MAX_SWEEPS,
                     prior_images: int = PRIOR_SAMPLE) -> KeyRecovery:
    """Learn the byte map of an unknown member of F from n uint8 N x 3 x H x W ciphertexts under one key,
    with a natural-image prior from ``public_images`` (the attacker's own plain images, any size).
    ``layout_seeds`` / ``offset_rounds``: the jigsaw's effort (see :func:`~.keyrecovery.topology.layout.grid_layout`);
    ``refine_sweeps``: the refinement's sweeps at most; ``prior_images``: ciphertexts the global reading is judged on."""
    y = as_numpy_uint8(ciphertexts, "ciphertexts")
    public = as_numpy_uint8(public_images, "public_images")
    n, channels, h, w = y.shape
    if max(h, w) > MAX_SIDE or channels != 3:
        raise NotApplicableError(f"pooled_generic works on RGB images up to {MAX_SIDE} x {MAX_SIDE} (its statistics are dense "
                         f"(3 H W)^2 matrices), got {channels} x {h} x {w}; attack smaller images or use 'pooled' for a known scheme")
    start = time.perf_counter()
    prior = learn_prior(public, "pooled_generic")  # too few public images: refused with the fix
    if n < 2:  # no correlation without a second sample: the honest guess is "nothing moved"
        identity = ByteMap(np.arange(channels * h * w).reshape(channels, h, w), np.zeros((channels, h, w), bool))
        return KeyRecovery(scheme="generic", key_material={"byte_source": identity.source, "byte_negate": identity.negate},
                           n=n, seconds=time.perf_counter() - start, confidence={},
                           notes=["fewer than 2 ciphertexts: no statistics, identity guess"])
    z = standardise(y.reshape(n, -1))
    corr = correlation(z)
    signs = tree_polarity(corr)
    z *= signs
    corr *= signs[:, None]
    corr *= signs[None, :]
    groups = group_pixels(z, corr, channels)
    del z
    pixel_dist = pixel_distances(corr, groups)
    pieces, _ = grid_layout(pixel_dist, h, w, rounds=offset_rounds, seeds=layout_seeds)
    pieces = refine(pieces[None], pixel_dist, refine_sweeps)[0][0]
    np.subtract(1.0, corr, out=corr)  # in place (the correlations are not needed again): sqrt(2 (1 - r))
    corr *= 2.0
    np.sqrt(np.maximum(corr, 0.0, out=corr), out=corr)
    byte_dist = corr
    source, _ = refine(groups[pieces].transpose(2, 0, 1), byte_dist, refine_sweeps)  # (C, H, W): channel c = cluster c
    cost = energy(source, byte_dist) / source.size
    byte_map, gap = synchronise(ByteMap(source, signs[source] < 0), y)
    byte_map, margin, notes = choose_reading(byte_map, y, prior, prior_images)
    material = {"byte_source": byte_map.source.astype(np.int64), "byte_negate": byte_map.negate.astype(bool)}
    confidence = {"neighbour_distance_per_byte": cost, "sync_gap_median": gap, "prior_margin": margin}
    return KeyRecovery(scheme="generic", key_material=material, n=n, seconds=time.perf_counter() - start,
                       confidence=confidence, notes=notes)


@register_attack
class PooledGeneric(KeyRecoveryAttack):
    """Ciphertext-only recovery of any whole-byte permutation-plus-negation cipher (family F) from
    statistics pooled over n ciphertexts, knowing nothing about the scheme.

    Paper: the 2-D topology of pixels learnt from pooled correlations (N. Le Roux et al., NIPS 2007);
    pixels, layout and reading as in :mod:`ppbench.attacks.pooled_generic`.
    Threat model: ``ciphertext_only_unpaired_plain`` (victim-key ciphertexts and the attacker's own
    natural images, used only for the prior that picks the global reading).
    Arguments: ``scheme_name`` (any; the attack never reads it, the record notes whether the public scheme
    definition moves nibbles), ``image_size``, ``block_size``
    (ignored), ``profile`` (all the same), ``device=None`` (CPU), ``batch_size=256`` (decryption batch),
    ``epochs=1`` (fixed), ``max_images=1000`` (ciphertexts used at most), ``max_public=2000`` (public
    images the prior reads at most), ``layout_seeds=3`` / ``offset_rounds=4`` (the jigsaw's effort; 1 and 1
    in the ``smoke`` profile).
    Shapes: uint8 N x 3 x H x W ciphertexts -> uint8 N x 3 x H x W restored images.
    After ``fit``: ``recovery`` (a :class:`~ppbench.attacks.kpa.KeyRecovery`: confidence scores and the
    prior's note) and ``key_material`` (``byte_source``, ``byte_negate``).
    Example::

        attack = create_attack("pooled_generic", scheme_name="etc", image_size=32, block_size=4).fit(view)
        restored = attack(ciphertexts)
    """

    info = AttackInfo(
        name="pooled_generic",
        title="Generic ciphertext-only attack: byte topology learnt from statistics pooled over n ciphertexts",
        paper=("N. Le Roux, Y. Bengio, P. Lamblin, M. Joliveau, B. Kegl, Learning the 2-D topology of images, NIPS 2007 "
               "(topology from pooled correlations); applied to any permutation-plus-negation cipher: ppbench"),
        url="https://papers.nips.cc/paper/3235-learning-the-2-d-topology-of-images",
        threat_model=THREAT_MODEL,
        version=1,
        trainable=True,
        notes="knows nothing about the scheme; nibble movers (LE, ELE) are outside a byte map; the left-right mirror is a tie",
        generic=True,
        curve=True,
    )
    #: A run's key-recovery curve starts here: pooled statistics over fewer ciphertexts place nothing at 32 x 32
    #: (SSIM 0.01-0.08 at n = 2-50 in the smoke setting, docs/benchmarks.md), and each fit costs the same ~10 s.
    curve_min_n = 100
    # "smoke": one start pixel, one offset round, two refinement sweeps, the reading judged on 16 ciphertexts
    # (seconds, for contract tests); else the full search.
    default_configs = {p: {"batch_size": 256, "epochs": 1, "max_images": 1000, "max_public": 2000,
                           "layout_seeds": 1 if p == "smoke" else SEEDS, "offset_rounds": 1 if p == "smoke" else OFFSET_ROUNDS,
                           "refine_sweeps": 2 if p == "smoke" else MAX_SWEEPS, "prior_images": 16 if p == "smoke" else PRIOR_SAMPLE}
                       for p in PROFILES}

    def recover(self, view: AttackerView) -> KeyRecovery:
        k = int(self.config["max_images"])
        recovery = recover_byte_map(view.victim_ciphertexts[:k], view.public_images[: int(self.config["max_public"])],
                                    layout_seeds=int(self.config["layout_seeds"]), offset_rounds=int(self.config["offset_rounds"]),
                                    refine_sweeps=int(self.config["refine_sweeps"]), prior_images=int(self.config["prior_images"]))
        recovery.scheme = self.scheme_name
        if _moves_nibbles(self.scheme_name):  # for the record's reader only; the attack above never looked
            recovery.notes.append(f"{self.scheme_name} moves 4-bit nibbles: a byte map can only approximate it")
        return recovery

    def _set_scheme(self, material: dict[str, np.ndarray]) -> None:
        source = np.asarray(material["byte_source"], dtype=np.int64)
        expected = (3, self.image_size, self.image_size)
        if source.shape != expected or not np.array_equal(np.sort(source.ravel()), np.arange(source.size)):
            raise InputError(f"pooled_generic: byte_source must be a permutation of shape {expected}; the checkpoint is damaged")
        self.scheme = ByteMap(source, np.asarray(material["byte_negate"]).astype(bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.scheme.decrypt(x.cpu().numpy())).to(x.device)

    @property
    def key_material(self) -> dict[str, np.ndarray]:
        """The learnt byte map (after ``fit`` or ``load``): ``byte_source`` and ``byte_negate``, C x H x W."""
        if self.scheme is None:
            raise InputError("attack 'pooled_generic' has no byte map yet: call fit(view) first")
        return {"byte_source": self.scheme.source.copy(), "byte_negate": self.scheme.negate.copy()}


    def reference_key(self, victim: Any) -> dict[str, np.ndarray]:
        """The victim's byte map in this attack's terms, for evaluators that score exactness (the evaluator
        holds the victim's scheme; the attack never does), or ``{}`` when the victim does not move whole bytes."""
        try:
            found = true_byte_map(victim)
        except InputError:
            return {}
        return {"byte_source": found.source, "byte_negate": found.negate}


def _moves_nibbles(scheme_name: str) -> bool:
    """Whether the (public) scheme definition moves 4-bit nibbles rather than whole bytes."""
    from ppbench.schemes import SCHEMES

    return bool(getattr(SCHEMES.get(scheme_name), "nibbles", False))


def true_byte_map(scheme: Any) -> ByteMap:
    """The byte map that decrypts a whole-byte scheme exactly, read off its public encrypt (for evaluation):
    plain value j's cipher position is where a probe image with distinct values sends j."""
    c, (h, w) = 3, scheme.image_size
    size = c * h * w
    index = np.arange(size)
    low = torch.from_numpy((index % 256).astype(np.uint8).reshape(1, c, h, w))
    high = torch.from_numpy((index // 256 * 2).astype(np.uint8).reshape(1, c, h, w))  # even values: never a negative of another
    y_low = scheme.encrypt(low).numpy().ravel()
    y_high = scheme.encrypt(high).numpy().ravel()
    zero = scheme.encrypt(torch.zeros_like(low)).numpy().ravel()
    negate_at = zero == 255  # cipher byte i negates
    lo = np.where(negate_at, 255 - y_low, y_low).astype(np.int64)
    hi = np.where(negate_at, 255 - y_high, y_high).astype(np.int64) // 2
    plain_of = hi * 256 + lo  # cipher byte i reads plain value plain_of[i]
    if not np.array_equal(np.sort(plain_of), index):
        raise InputError(f"scheme {scheme.info.name!r} does not move whole bytes: it has no byte map")
    source = np.empty(size, np.int64)
    source[plain_of] = np.arange(size)
    return ByteMap(source.reshape(c, h, w), negate_at[source].reshape(c, h, w))
