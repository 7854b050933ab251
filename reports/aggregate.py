"""What a scheme's attack records add up to, per scheme and profile: the numbers Table I and the scorecard show.

Each attack's mean SSIM over seeds (each record's best :class:`~ppbench.reports.load.Reading` first), its
share of restored images and recognition accuracy (the evidence :mod:`ppbench.reports.security`'s rule
reads), the strongest attack of a set, the fewest victim images an attack needed to break the scheme, and the chosen
images a chosen-plaintext attack needed; :func:`count_text` writes such a count as the tables show it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import pandas as pd

from .load import Reading, attack_sort_key
from .security import CALIBRATED_SIZES, Evidence


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (NaN for one value) and count of one quantity over seeds."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: pd.Series) -> "Stat | None":
        values = values.dropna().astype(float)
        if values.empty:
            return None
        std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        return cls(float(values.mean()), std, int(len(values)))

    def text(self, digits: int) -> str:
        if self.n == 1:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} (n={self.n})"


@dataclass(frozen=True)
class AttackStat:
    """One attack's mean SSIM over seeds (each record's best reading) and the reading most records chose."""

    attack: str
    reading: Reading
    ssim: Stat
    share: Stat | None = None  # share of images restored (each image by its own best reading), over seeds
    median: Stat | None = None  # median best-reading SSIM over the images, over seeds
    best_images: int | None = None  # the fewest images a record's per-image fields rest on
    n_images: int | None = None  # the most images a record scored
    recognition: Stat | None = None  # the plain classifier's accuracy on the restored images, over seeds
    chance: float | None = None
    plain_accuracy: Stat | None = None  # the plain classifier's accuracy on the plain test images
    encrypted_accuracy: Stat | None = None  # and on this scheme's encrypted test images
    reduced: bool | None = None  # some record's training was cut by a budget below the original's (None: not recorded)
    baseline_share: float | None = None  # the largest share a no-information baseline reaches (None: not recorded)
    calibrated_size: bool = True  # every record is at an image size the verdict's levels were calibrated at

    @property
    def label(self) -> str:
        """``gan`` or ``gan (negative)``: the attack as the table shows it."""
        return self.reading.label(self.attack)

    @property
    def reduced_label(self) -> str:
        """The label, with " (reduced attack)" when a budget cut the attack's training short of the original's."""
        return f"{self.label} (reduced attack)" if self.reduced else self.label

    @property
    def evidence(self) -> Evidence:
        """What :mod:`ppbench.reports.security`'s rule reads for this attack."""
        return Evidence(share_restored=self.share.mean if self.share else None,
                        recognition_accuracy=self.recognition.mean if self.recognition else None,
                        chance=self.chance, plain_accuracy=self.plain_accuracy.mean if self.plain_accuracy else None,
                        encrypted_accuracy=self.encrypted_accuracy.mean if self.encrypted_accuracy else None,
                        baseline_share=self.baseline_share, ssim_best=self.ssim.mean,
                        calibrated_size=self.calibrated_size)

    @property
    def restores(self) -> bool | None:
        return self.evidence.restores

    def share_text(self) -> str:
        """'0.46 (median 0.29)', with 'of 8/100 images' when the per-image fields rest on fewer images than scored."""
        if self.share is None:
            return ""
        text = f"{self.share.text(2)} (median {self.median.text(3)})" if self.median else self.share.text(2)
        if self.best_images is not None and self.n_images is not None and self.best_images < self.n_images:
            text += f" of {self.best_images}/{self.n_images} images"
        return text

    def recognition_text(self) -> str:
        """'0.31 (plain 0.38, encrypted 0.10, chance 0.10)', or '' when not recorded."""
        if self.recognition is None:
            return ""
        parts = [f"plain {self.plain_accuracy.text(2)}" if self.plain_accuracy else "",
                 f"encrypted {self.encrypted_accuracy.text(2)}" if self.encrypted_accuracy else "",
                 f"chance {self.chance:.2f}" if self.chance is not None else ""]
        return f"{self.recognition.text(2)} ({', '.join(p for p in parts if p)})"


def strongest(stats: Iterable[AttackStat]) -> AttackStat:
    """The attack with the highest mean SSIM among ``stats`` (ties: the paper's order, then by name)."""
    return max(sorted(stats, key=lambda s: attack_sort_key(s.attack)), key=lambda s: s.ssim.mean)


def strongest_by_rule(stats: Iterable[AttackStat]) -> AttackStat:
    """The attack the verdict rests on: one that restores the scheme if any, then the highest share of restored
    images, then the highest mean SSIM (ties: the paper's order, then by name)."""
    def key(s: AttackStat) -> tuple[int, float, float]:
        share = s.share.mean if s.share is not None else -1.0
        return (1 if s.restores else 0), share, s.ssim.mean
    return max(sorted(stats, key=lambda s: attack_sort_key(s.attack)), key=key)


def reduced_flags(runs: Iterable[Any]) -> dict[tuple[str, str], bool]:
    """``(run_id, attack)`` -> the entry's ``reduced`` (docs/records.md), for the entries that record it: a learned
    attack whose training a budget cut short of the original attack's optimiser steps."""
    return {(run.run_id, name): bool(entry["reduced"]) for run in runs for name, entry in run.attacks.items()
            if entry.get("reduced") is not None}


def attack_stats(attacks: pd.DataFrame, ciphertext_only: bool = True,
                 reduced: Mapping[tuple[str, str], bool] | None = None) -> dict[tuple[str, str], dict[str, AttackStat]]:
    """Per (scheme, profile): each attack's mean SSIM over the records that ran it, for ciphertext-only
    attacks (the paper's threat model) or, with ``ciphertext_only=False``, for all the others. ``reduced``
    (:func:`reduced_flags`): an attack is reduced when any of its records says so; None when none records it."""
    out: dict[tuple[str, str], dict[str, AttackStat]] = {}
    attacks = attacks[attacks["threat_model"].str.startswith("ciphertext_only") == ciphertext_only]
    for (scheme, profile, attack), group in attacks.groupby(["scheme", "profile", "attack"], sort=True):
        # each record's best reading (as-is, negative, mirrored), then the mean over seeds, with the reading
        # most records chose
        stat = Stat.of(group["ssim_best"])
        if stat is not None:
            reading = Reading(group.loc[group["ssim_best"].notna(), "reading"].mode().iloc[0])
            best_images = group["best_reading_images"].dropna()
            chance = group["recognition_chance"].dropna()
            flags = [reduced[(run_id, attack)] for run_id in group["run_id"] if (run_id, attack) in (reduced or {})]
            out.setdefault((scheme, profile), {})[attack] = AttackStat(
                attack, reading, stat, share=Stat.of(group["share_restored"]),
                median=Stat.of(group["ssim_best_image_median"]),
                best_images=int(best_images.min()) if not best_images.empty else None,
                n_images=int(group["n_images"].dropna().max()) if group["n_images"].notna().any() else None,
                recognition=Stat.of(group["recognition_accuracy"]),
                chance=float(chance.mean()) if not chance.empty else None,
                plain_accuracy=Stat.of(group["recognition_plain"]),
                encrypted_accuracy=Stat.of(group["recognition_encrypted"]),
                reduced=any(flags) if flags else None,
                baseline_share=float(group["baseline_share"].max()) if group["baseline_share"].notna().any() else None,
                calibrated_size=bool(group["image_size"].isin(CALIBRATED_SIZES).all()))
    return out


def fewest_to_break(attacks: pd.DataFrame, ciphertext_only: bool = True,
                 generic: bool | None = None) -> dict[tuple[str, str], tuple[float, str, float]]:
    """Per (scheme, profile): the fewest victim images any ciphertext-only attack (or, with
    ``ciphertext_only=False``, any other attack: plain/cipher pairs) needed, mean over records, the attack,
    and the largest n its curves tried. ``inf`` when some record's curve never broke the scheme: a mean
    over only the seeds that broke would be optimistic. ``generic``: only generic (True) or only
    scheme-specific (False) attacks; None: both."""
    out: dict[tuple[str, str], tuple[float, str, float]] = {}
    frame = attacks.dropna(subset=["ciphertexts_to_break"])
    frame = frame[frame["threat_model"].str.startswith("ciphertext_only") == ciphertext_only]
    if generic is not None:
        frame = frame[frame["generic"] == generic]
    for (scheme, profile, attack), group in frame.groupby(["scheme", "profile", "attack"], sort=True):
        value = float(group["ciphertexts_to_break"].mean())
        tried = float(group["curve_max_n"].max())
        best = out.get((scheme, profile))
        if best is None or value < best[0] or (value == best[0] == math.inf and tried > best[2]):
            out[(scheme, profile)] = (value, attack, tried)
    return out


def chosen_to_break(attacks: pd.DataFrame) -> dict[tuple[str, str], tuple[float, str]]:
    """Per (scheme, profile): the fewest chosen images a chosen-plaintext attack needed to break the scheme
    (the most over records; ``inf`` when some record did not break it), and the attack."""
    out: dict[tuple[str, str], tuple[float, str]] = {}
    frame = attacks.dropna(subset=["chosen_images"])
    for (scheme, profile, attack), group in frame.groupby(["scheme", "profile", "attack"], sort=True):
        value = float(group["chosen_images"].max()) if group["broken"].eq(True).all() else math.inf
        best = out.get((scheme, profile))
        if best is None or value < best[0]:
            out[(scheme, profile)] = (value, attack)
    return out


def counts_text(split: tuple[tuple[float, str, float] | None, ...], unit: str = "") -> str:
    """The fewest images the scheme-specific attacks needed, and beside it what the generic ones needed."""
    return "; ".join(count_text(c, unit) for c in split if c is not None)


def count_number(count: tuple[float, str, float]) -> str:
    """'5', or '> 100' when the attack's curve never got there (100: the largest n it tried)."""
    value, _, tried = count
    return f"> {tried:g}" if math.isinf(value) else f"{value:g}"


def count_text(count: tuple[float, str, float], unit: str = "") -> str:
    """'5 (pooled)', '> 100 (pooled)', or with ``unit`` '1 pair(s) to break (kpa)'."""
    return f"{count_number(count)}{unit} ({count[1]})"
