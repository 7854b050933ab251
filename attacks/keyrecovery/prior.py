"""The natural-image prior that settles the global symmetries smoothness cannot (negative, channel order,
EtC's rotation), learnt from the attacker's own plain images and nothing else.

An attack gets those images only through its view (``view.public_images``, granted by the threat model
``ciphertext_only_unpaired_plain``), never from a data set on disk, so under ``--dataset sample`` it cannot
read the victim's own training images. The prior is the mean and inverse covariance of a few image
statistics (:func:`image_features`); a reading's distance from it says how natural the decoded images look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ppbench.errors import InputError

from .base import CHANNEL_ORDERS, NEGATION_PATTERNS
from .colour import apply_colour

#: Fewest public images a prior is learnt from (its 17 x 17 covariance needs a few dozen), and the most read.
MIN_PUBLIC_IMAGES = 32
PRIOR_IMAGES = 2000
LEFT_RIGHT = slice(6, 9)  # image_features' left-minus-right means
PER_CHANNEL = (slice(0, 3), slice(3, 6), LEFT_RIGHT, slice(11, 14))  # features indexed by channel (means, tb, lr, skew)
PAIRS = slice(14, 17)  # the correlations G-B, R-B, R-G


def image_features(images: np.ndarray) -> np.ndarray:
    """(n, 17) features of images (n, 3, H, W) that natural images have and their symmetric readings
    (negative, other channel order, rotated) lack: channel means (3); top-half minus bottom-half means
    (3, sky on top); left-half minus right-half means (3, zero for natural images); the mean of the
    darkest channel (the "dark channel") and of the brightest; per-channel skewness (3); the correlations
    G-B, R-B, R-G (3). Large images are subsampled to about 32 x 32 first (the prior's resolution)."""
    x = np.asarray(images)
    step = max(1, x.shape[2] // 32)
    x = x[:, :, ::step, ::step].astype(np.float64)  # subsample before widening: the same values, 1/step^2 the memory
    n, _, h, w = x.shape
    means = x.mean(axis=(2, 3))
    tb = x[:, :, : h // 2].mean(axis=(2, 3)) - x[:, :, h - h // 2 :].mean(axis=(2, 3))
    lr = x[:, :, :, : w // 2].mean(axis=(2, 3)) - x[:, :, :, w - w // 2 :].mean(axis=(2, 3))
    dark = x.min(axis=1).mean(axis=(1, 2))[:, None]
    bright = x.max(axis=1).mean(axis=(1, 2))[:, None]
    flat = x.reshape(n, 3, -1)
    centred = flat - flat.mean(axis=2, keepdims=True)
    sd = np.sqrt((centred**2).mean(axis=2)) + 1e-6
    skew = (centred**3).mean(axis=2) / sd**3
    cov = np.einsum("nci,ndi->ncd", centred, centred) / flat.shape[2]
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    pairs = np.stack([corr[:, 1, 2], corr[:, 0, 2], corr[:, 0, 1]], axis=1)
    return np.concatenate([means, tb, lr, dark, bright, skew, pairs], axis=1)


@dataclass(frozen=True)
class NaturalPrior:
    """Mean and inverse covariance of :func:`image_features` over natural images, made mirror-symmetric:
    natural images are statistically unchanged by a left-right mirror, so the left-right features get mean
    zero and no correlation with the rest (an image and its mirror then tie exactly)."""

    mean: np.ndarray
    inverse: np.ndarray

    @classmethod
    def from_images(cls, images: np.ndarray, ridge: float = 1e-9) -> "NaturalPrior":
        """Learn the prior from plain images (n, 3, H, W); ``ridge`` keeps the covariance invertible."""
        f = image_features(np.asarray(images))
        f = f[np.isfinite(f).all(axis=1)]
        mean, cov = f.mean(axis=0), np.cov(f.T)
        mean[LEFT_RIGHT] = 0.0
        block = cov[LEFT_RIGHT, LEFT_RIGHT].copy()
        cov[LEFT_RIGHT, :] = 0.0
        cov[:, LEFT_RIGHT] = 0.0
        cov[LEFT_RIGHT, LEFT_RIGHT] = block
        return cls(mean, np.linalg.inv(cov + ridge * np.eye(cov.shape[0])))

    def distance(self, images: np.ndarray) -> float:
        """Mahalanobis distance of the images' mean features from natural images' (lower: more natural)."""
        return self._distance_of(_mean_features(images))

    def colour_distances(self, images: np.ndarray) -> np.ndarray:
        """(6, 8): :meth:`distance` of ``apply_colour(images, order, pattern)`` for every channel order and
        negation pattern, from 8 passes over the images instead of 48: a channel order only permutes the features
        (the darkest and brightest channel's means are the same in any order), so each order reuses the pass of
        the negation pattern it puts on the input channels."""
        by_pattern = [_mean_features(apply_colour(images, 0, p)) for p in range(len(NEGATION_PATTERNS))]
        out = np.empty((len(CHANNEL_ORDERS), len(NEGATION_PATTERNS)))
        for o, order in enumerate(CHANNEL_ORDERS):
            for p, pattern in enumerate(NEGATION_PATTERNS):
                negated = np.zeros(3, bool)
                negated[order] = pattern  # output channel c is input channel order[c], negated where pattern[c]
                out[o, p] = self._distance_of(_reorder_features(by_pattern[_pattern_index(negated)], order))
        return out

    def _distance_of(self, mean_features: np.ndarray) -> float:
        f = mean_features - self.mean
        return float(f @ self.inverse @ f)


def _mean_features(images: np.ndarray) -> np.ndarray:
    """(17,) mean :func:`image_features` over the images whose features are all finite."""
    f = image_features(images)
    return f[np.isfinite(f).all(axis=1)].mean(axis=0)


def _reorder_features(features: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The features of images whose channel c is channel ``order[c]`` of the images ``features`` describe."""
    out = features.copy()
    for part in PER_CHANNEL:
        out[part] = features[part][order]
    corr = np.eye(3)
    corr[1, 2], corr[0, 2], corr[0, 1] = features[PAIRS]
    corr += np.triu(corr, 1).T  # symmetric: corr[a, b] for either order of a, b
    moved = corr[np.ix_(order, order)]
    out[PAIRS] = moved[1, 2], moved[0, 2], moved[0, 1]
    return out


def _pattern_index(negated: np.ndarray) -> int:
    """The row of :data:`NEGATION_PATTERNS` equal to ``negated``."""
    return int(np.flatnonzero((NEGATION_PATTERNS == negated).all(axis=1))[0])


def learn_prior(public_images: np.ndarray, who: str) -> NaturalPrior:
    """The prior of attack ``who`` from the attacker's own images (uint8 n x 3 x H x W, the first
    :data:`PRIOR_IMAGES`); too few of them is the caller's to fix, so it is refused with the fix."""
    n = int(public_images.shape[0])
    if n < MIN_PUBLIC_IMAGES:
        raise InputError(f"{who} learns its natural-image prior from the attacker's own plain images and needs at least "
                         f"{MIN_PUBLIC_IMAGES}, got {n}; pass at least {MIN_PUBLIC_IMAGES} public_images in the attacker's view")
    return NaturalPrior.from_images(public_images[:PRIOR_IMAGES])


def subsample(images: np.ndarray, limit: int = 64) -> np.ndarray:
    """At most ``limit`` images, spatially subsampled to about 32 x 32 (what the prior needs)."""
    step = max(1, images.shape[2] // 32)
    return np.asarray(images[:limit, :, ::step, ::step], dtype=np.float64)


def choose_colour(images: np.ndarray, orders: Iterable[int], patterns: Iterable[int], prior: NaturalPrior
                  ) -> tuple[int, int, float, list[str]]:
    """The global channel order and negation pattern under which ``images`` (n, 3, H, W; decoded up to
    that global transform) look most natural (lowest prior distance).

    The features that decide: a channel negated alone correlates negatively with the others (settled
    already for small n); the global negative changes the means, the dark/bright channels and the
    skewness; red against blue shows in the means (blue darkest) and the top/bottom difference (sky).
    Returns (order, pattern, margin to the runner-up, notes).
    """
    sub = subsample(images, 256)
    table = prior.colour_distances(sub)
    scored = sorted((float(table[o, s]), o, s) for o in orders for s in patterns)
    margin = scored[1][0] - scored[0][0] if len(scored) > 1 else float("inf")
    note = (f"global colour symmetry ({len(scored)} readings: channel order x negation) chosen by the natural-image "
            f"prior learnt from the attacker's public images; margin {margin:.2f} (Mahalanobis, runner-up minus best)")
    return scored[0][1], scored[0][2], margin, [note]
