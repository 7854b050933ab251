"""What a scheme's attack records add up to, per scheme and profile: the numbers Table I and the scorecard show.

Each attack's mean SSIM over seeds (each record's best :class:`~ppbench.reports.load.Reading` first), the
strongest attack of a set, the fewest victim images an attack needed to break the scheme, and the chosen
images a chosen-plaintext attack needed; :func:`count_text` writes such a count as the tables show it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from .load import Reading, attack_sort_key


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

    @property
    def label(self) -> str:
        """``gan`` or ``gan (negative)``: the attack as the table shows it."""
        return self.reading.label(self.attack)


def strongest(stats: Iterable[AttackStat]) -> AttackStat:
    """The attack with the highest mean SSIM among ``stats`` (ties: the paper's order, then by name)."""
    return max(sorted(stats, key=lambda s: attack_sort_key(s.attack)), key=lambda s: s.ssim.mean)


def attack_stats(attacks: pd.DataFrame, ciphertext_only: bool = True) -> dict[tuple[str, str], dict[str, AttackStat]]:
    """Per (scheme, profile): each attack's mean SSIM over the records that ran it, for ciphertext-only
    attacks (the paper's threat model) or, with ``ciphertext_only=False``, for all the others."""
    out: dict[tuple[str, str], dict[str, AttackStat]] = {}
    attacks = attacks[attacks["threat_model"].str.startswith("ciphertext_only") == ciphertext_only]
    for (scheme, profile, attack), group in attacks.groupby(["scheme", "profile", "attack"], sort=True):
        # each record's best reading (as-is, negative, mirrored), then the mean over seeds, with the reading
        # most records chose
        stat = Stat.of(group["ssim_best"])
        if stat is not None:
            reading = Reading(group.loc[group["ssim_best"].notna(), "reading"].mode().iloc[0])
            out.setdefault((scheme, profile), {})[attack] = AttackStat(attack, reading, stat)
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
