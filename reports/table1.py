"""Table I of the seed paper, rebuilt from result records, with the paper's own figures beside ours.

One row per scheme x network x profile found in the records, plus one row for every row of the paper's
Table I that no record matches (its cells empty, and a note says so). Columns:

- ``Profile``: the row's profile. ``Data``: only when the rows' data differ (another data set, or the same
  name cut to other sizes by a profile, as ``smoke`` cuts ``sample`` to 256 / 128 images): the data the
  row's numbers come from, name and train / test images, every such data set when there are several
  (accuracy: the row's runs; SSIM: every run of its scheme and profile). When all rows agree, the
  header names the one data set instead; a report never describes mixed data as one.

- ``Acc. <dataset>``: accuracy per dataset *name* in the records (``cifar10``, ``cifar100``, ``sample``,
  ...), mean +- sample standard deviation (ddof 1) over seeds with the count when there are several. A
  CIFAR-10 subset gets its own column next to the paper's CIFAR-10 figure: it is never shown as if it
  were full CIFAR-10. CIFAR-100-like data sets (100 classes) sit next to the paper's CIFAR-100 figure.
- ``Strongest attack`` / ``SSIM``: the attack with the highest mean SSIM among the *ciphertext-only*
  attacks recorded for the scheme and profile (the paper's threat model: the attacker never sees a
  plain image under the victim's key; attacks target the encryption, not the classifier, so
  attack-only records count for every network row of their scheme), and that mean.
  Each attack counts with the largest of its output's SSIM, its colour-inverted output's
  (``ssim_mean_inverted``) and its left-right mirrored output's (``ssim_mean_mirrored``), shown as
  ``<name> (negative)`` / ``<name> (mirrored)`` when those win: a restored negative or mirror image
  reveals the image as plainly as the image itself (GAN restores LE's negatives; pooled can only recover
  EtC up to a mirror, which no image statistic settles).
- ``Images restored``: the share of test images the verdict's attack restores (each image by its own best
  reading, at SSIM >= L; ``share_restored``), with the median best-reading SSIM over the images; "of 8/100
  images" when older records kept only the first 8 restored images. ``Recognition``: only when ``ppbench
  recognise`` ran: the study's plain classifier's accuracy on that attack's restored images, beside its
  accuracy on the plain and the encrypted test images and chance.
- ``Strongest attack``: under the rule, an attack that restores the scheme if any, else the highest share of
  restored images, else the highest mean SSIM (older records). ``(reduced attack)`` after it (and after the
  ``Paper's attacks only`` cell) when a record of that attack says ``reduced``: a budget (its epoch cap while
  still improving, or a fixed epoch count) stopped its training before the original attack's optimiser steps;
  a note says so, and ``table1.csv`` gains ``strongest_attack_reduced`` / ``paper_attacks_reduced`` when records
  carry the field (older records: no mark, no columns).
- ``pe_np`` (PE with negation only, as the seed paper's attack code had it) is matched to the paper's PE row:
  the paper-parity PE row beside ``pe`` (ours, with colour shuffling); a note names the command when it has
  no record.
- ``Paper's attacks only``: the verdict, attack and SSIM when only the seed paper's attacks (FR, GAN,
  ITN: ``attacks`` in ``paper_table1.json``, which ``AttackInfo.in_seed_paper`` reads too) count: what the
  paper's own threat set concludes on our runs, beside the verdict of every ciphertext-only attack ppbench knows.
- ``Known-plaintext SSIM``: only when some record has an attack of another threat model (e.g.
  ``kpa``): the strongest such attack's mean SSIM and name. It never decides the verdict. ``n/a (kpa)``
  when such attacks were recorded as not applicable to the scheme (no method for its structure, e.g. a
  plugin scheme); every not-applicable attack also gets a note with its reason. After it: the pairs a
  known-plaintext attack needed to break the scheme (the scheme-specific attacks' fewest, then the
  generic ones', e.g. ``1 pair(s) to break (kpa); 17 pair(s) to break (kpa_generic)``), and the chosen
  images a chosen-plaintext attack (``cpa_generic``) needed; the header says "Known/chosen-plaintext"
  when there is one.
- ``Security``: the verdict of :mod:`ppbench.reports.security`'s rule (records without the per-image share:
  the old mean-SSIM rule at the threshold given, and a note says so; ``table1.csv`` has both, ``secure`` and
  ``secure_mean_rule``); ``?`` where the rule is undetermined (a grey image reaches the share S at that
  image size, e.g. 224 x 224 on upscaled images: a note says so; ``secure_undetermined``,
  ``paper_attacks_secure_undetermined`` and ``baseline_share_restored`` in ``table1.csv``); a note
  flags a verdict that rests on fewer than the paper's three attacks (FR, GAN, ITN), since an attack not
  run cannot break anything.
- ``Paper ...``: the paper's figures from ``paper_table1.json`` (fractions), matched by scheme and by the
  network patterns listed there; a scheme the paper ran on one network only is matched whatever network
  ours used, and ``Paper network`` shows the difference.
- ``Ciphertexts to break``: only when some record has ``metrics.attacks.<name>.ciphertexts_to_break``
  for a ciphertext-only attack (``pooled``; a generic one beside it): the fewest victim ciphertexts after which the attack's
  mean SSIM on unseen ciphertexts (best reading) reaches 0.99 of the key holder's (0.99 on lossless
  ciphertexts; ``break_ssim`` in the record), over the scheme's attacks, with the attack's name. A
  known-plaintext attack's count (``kpa``: plain/cipher pairs) is shown in its own column instead.

Views: ``table1.md`` (Markdown with notes) and ``table1.tex`` (booktabs; needs ``\\usepackage{booktabs,amssymb}``)
render one text frame (:func:`display_frame`) with ``DataFrame.to_markdown`` and ``Styler.to_latex``;
``table1.csv`` (numbers, one column per quantity) is ``DataFrame.to_csv``; all from one :class:`Table1`.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ppbench.atomic import atomic_write_text
from ppbench.paper import paper_table, seed_paper_attacks

from .aggregate import (AttackStat, Stat, attack_stats, chosen_to_break, counts_text, fewest_to_break, reduced_flags,
                        strongest, strongest_by_rule)
from .load import NO_NETWORK, RecordSet, attack_sort_key, dataset_summary, natural_key, network_sort_key, scheme_sort_key
from .security import (BROKEN_SSIM, CALIBRATED_SIZES, DEFAULT_SSIM_THRESHOLD, RESTORED_IMAGE_SSIM, RESTORED_SHARE,
                       Evidence, is_secure, rule_text, undetermined, verdict)

FAMILIES = ("cifar10", "cifar100")
FAMILY_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
EMPTY = ""
NOT_APPLICABLE = "—"
PAPER_PARITY = {"pe_np": "pe"}
"""Schemes shown against another scheme's paper row: ``pe_np`` (negation only) is PE as the seed paper's attack
code had it, so it is the paper-parity PE row beside ``pe`` (ours, with colour shuffling)."""
PE_NP_COMMAND = ("ppbench run --scheme pe_np --profile PROFILE --results RESULTS "
                 "--attack fr fr_adv gan itn itn_unet kpa pooled")


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table I (fractions; ``security`` None for the paper's dash)."""

    scheme: str
    label: str
    network: str
    networks: tuple[str, ...]
    accuracy: dict[str, float | None]
    security: bool | None
    adaptation_network: bool = False

    def matches_network(self, network: str) -> bool:
        return any(fnmatch.fnmatchcase(network.lower(), p.lower()) for p in self.networks)


def paper_attacks(path: Path | None = None) -> tuple[str, ...]:
    """The attacks the seed paper evaluated (FR, GAN, ITN), as ``AttackInfo.in_seed_paper`` reads them: a verdict
    resting on fewer is flagged in the notes, and "Paper's attacks only" counts them alone."""
    return seed_paper_attacks(path)


def load_paper_table(path: Path | None = None) -> tuple[dict[str, Any], list[PaperRow]]:
    """The paper's Table I: its source citation and its rows."""
    data = paper_table(path)
    rows = [PaperRow(scheme=r["scheme"], label=r["label"], network=r["network"], networks=tuple(r["networks"]),
                     accuracy={f: r.get(f"accuracy_{f}") for f in FAMILIES}, security=r.get("security"),
                     adaptation_network=bool(r.get("adaptation_network")))
            for r in data["rows"]]
    return data["source"], rows


@dataclass(frozen=True)
class DatasetColumn:
    """One accuracy column: a dataset name found in the records and the paper column it sits next to."""

    name: str
    family: str
    summary: str


@dataclass
class Table1Row:
    scheme: str
    network: str | None
    profile: str | None
    paper: PaperRow | None
    accuracy: dict[str, Stat] = field(default_factory=dict)
    data: tuple[str, ...] = ()  # the data its numbers come from ("sample 256/128"), see the module docstring
    strongest: AttackStat | None = None  # the strongest ciphertext-only attack: the verdict's
    secure: bool | None = None
    ciphertexts: tuple[float, str, float] | None = None  # fewest ciphertexts a ciphertext-only attack needed
    known_plaintext: AttackStat | None = None  # the strongest attack outside ciphertext-only
    pairs: tuple[float, str, float] | None = None  # fewest plain/cipher pairs a known-plaintext attack needed
    paper_strongest: AttackStat | None = None  # the strongest of the seed paper's attacks (FR, GAN, ITN) alone
    paper_secure: bool | None = None  # and its verdict
    mean_rule_secure: bool | None = None  # the old rule's verdict (mean SSIM of the strongest attack < T), beside
    paper_mean_rule_secure: bool | None = None  # and on the paper's attacks alone
    basis: str = ""  # "share" (the rule), "mean" (old records: the old rule decided), "" (no verdict)
    undetermined: bool = False  # the rule cannot judge (no-information baselines reach S): shown as "?"
    paper_undetermined: bool = False  # and on the paper's attacks alone
    known_plaintext_na: tuple[str, ...] = ()  # attacks outside ciphertext-only recorded as not applicable
    ciphertexts_split: tuple[tuple[float, str, float] | None, ...] = (None, None)  # (scheme-specific, generic)
    pairs_split: tuple[tuple[float, str, float] | None, ...] = (None, None)  # (scheme-specific, generic)
    chosen: tuple[float, str] | None = None  # chosen images a chosen-plaintext attack needed (inf: never broke)

    @property
    def has_record(self) -> bool:
        return self.network is not None

    @property
    def attack_only(self) -> bool:
        return self.network == NO_NETWORK


@dataclass
class Table1:
    rows: list[Table1Row]
    datasets: list[DatasetColumn]
    threshold: float
    show_ciphertexts: bool
    source: dict[str, Any]
    notes: list[str]
    description: str
    show_known_plaintext: bool = False
    data_notes: list[str] = field(default_factory=list)

    @property
    def show_reduced(self) -> bool:
        """Whether some deciding attack's records say whether a budget cut its training short (``reduced``)."""
        return any(st is not None and st.reduced is not None for r in self.rows for st in (r.strongest, r.paper_strongest))

    @property
    def show_data(self) -> bool:
        """Whether rows differ in their data (then a ``Data`` column says which per row)."""
        return len({row.data for row in self.rows if row.has_record}) > 1


def _data_notes(frame: pd.DataFrame) -> list[str]:
    """One note per distinct data set (name and size): what it is, and which profiles used it when a name
    stands for several sizes."""
    profiles: dict[str, dict[str, set[str]]] = {}  # dataset name -> summary -> profiles
    for name, summary, profile in zip(frame["dataset"], frame["data_summary"], frame["profile"]):
        profiles.setdefault(name, {}).setdefault(summary, set()).add(profile)
    notes = []
    for variants in profiles.values():
        for summary, used in variants.items():
            which = f": profile {', '.join(sorted(used, key=natural_key))}" if len(variants) > 1 else ""
            notes.append(f"dataset {summary}{which}")
    return sorted(notes, key=natural_key)


def _dataset_columns(frame: pd.DataFrame) -> list[DatasetColumn]:
    columns = []
    for name, group in frame.groupby("dataset", sort=False):
        first = group.iloc[0]
        ds = {k: (None if pd.isna(first[k]) else int(first[k])) for k in ("num_classes", "n_train", "n_test")}
        family = "cifar100" if ds["num_classes"] == 100 else "cifar10"
        columns.append(DatasetColumn(str(name), family, dataset_summary(str(name), ds)))
    return sorted(columns, key=lambda c: (FAMILIES.index(c.family), c.name != c.family, natural_key(c.name)))


def _match_paper(scheme: str, network: str, paper_rows: list[PaperRow]) -> PaperRow | None:
    candidates = [p for p in paper_rows if p.scheme == PAPER_PARITY.get(scheme, scheme)]
    for row in candidates:
        if row.matches_network(network):
            return row
    if len(candidates) == 1 and scheme != "plain":
        return candidates[0]
    return None


def build_table1(records: RecordSet, ssim_threshold: float = DEFAULT_SSIM_THRESHOLD,
                 paper_table_file: Path | None = None) -> Table1:
    """Aggregate ``records`` into Table I (see the module docstring for every column's rule)."""
    source, paper_rows = load_paper_table(paper_table_file)
    theirs = paper_attacks(paper_table_file)
    runs = records.runs_frame()
    attacks = records.attacks_frame()
    datasets = _dataset_columns(runs)
    reduced = reduced_flags(records.runs)
    verdict_stats = attack_stats(attacks, reduced=reduced)
    other_stats = attack_stats(attacks, ciphertext_only=False, reduced=reduced)
    ciphertexts = fewest_to_break(attacks)
    pairs = fewest_to_break(attacks, ciphertext_only=False)
    ciphertexts_split = [fewest_to_break(attacks, generic=g) for g in (False, True)]
    pairs_split = [fewest_to_break(attacks, ciphertext_only=False, generic=g) for g in (False, True)]
    chosen = chosen_to_break(attacks)
    notes: list[str] = []
    na_frame = attacks[attacks["status"] == "not_applicable"]
    na_noted: set[tuple[str, str, str]] = set()

    keys = set(zip(runs["scheme"], runs["network"], runs["profile"]))
    trained = {(s, p) for s, n, p in keys if n != NO_NETWORK}
    keys = {(s, n, p) for s, n, p in keys if n != NO_NETWORK or (s, p) not in trained}
    rows: list[Table1Row] = []
    matched: set[int] = set()
    no_attacks: set[tuple[str, str]] = set()
    partial: set[tuple[str, str]] = set()
    reduced_noted: set[tuple[str, str]] = set()
    undetermined_noted: set[tuple[str, str]] = set()
    for scheme, network, profile in sorted(keys, key=lambda k: (scheme_sort_key(k[0]), network_sort_key(k[1]),
                                                                 natural_key(k[2]))):
        paper = _match_paper(scheme, network, paper_rows)
        if paper is not None:
            matched.add(paper_rows.index(paper))
        row = Table1Row(scheme, network, profile, paper)
        sel = runs[(runs["scheme"] == scheme) & (runs["network"] == network) & (runs["profile"] == profile)]
        attacked = attacks.loc[(attacks["scheme"] == scheme) & (attacks["profile"] == profile), "data"]
        row.data = tuple(sorted(set(sel["data"]) | set(attacked), key=natural_key))
        for column in datasets:
            stat = Stat.of(sel.loc[sel["dataset"] == column.name, "accuracy"])
            if stat is not None:
                row.accuracy[column.name] = stat
            elif network != NO_NETWORK:
                notes.append(f"missing: {scheme}/{network} (profile {profile}) has no record on {column.name}")
        stats = verdict_stats.get((scheme, profile), {})
        if any(a in theirs for a in stats):
            mine = [st for a, st in stats.items() if a in theirs]
            row.paper_strongest = strongest_by_rule(mine)
            row.paper_mean_rule_secure = is_secure(strongest(mine).ssim.mean, ssim_threshold)
            evidence = [st.evidence for st in mine]
            row.paper_secure, _ = _verdict(evidence, row.paper_mean_rule_secure)
            row.paper_undetermined = undetermined(evidence)
        if stats:
            row.strongest = strongest_by_rule(stats.values())
            row.mean_rule_secure = is_secure(strongest(stats.values()).ssim.mean, ssim_threshold)
            evidence = [st.evidence for st in stats.values()]
            row.secure, by_mean_rule = _verdict(evidence, row.mean_rule_secure)
            row.undetermined = undetermined(evidence)
            row.basis = "mean" if by_mean_rule else "share"
            if (row.undetermined or row.paper_undetermined) and (scheme, profile) not in undetermined_noted:
                undetermined_noted.add((scheme, profile))
                levels = [st.baseline_share for st in stats.values()
                          if st.baseline_share is not None and st.baseline_share >= RESTORED_SHARE]
                why = (f"a uniform grey image, which carries no information about the image, reaches SSIM "
                       f"{RESTORED_IMAGE_SSIM:.2f} on {max(levels):.0%} of the test images (>= S = {RESTORED_SHARE:.0%})"
                       if levels else "its records predate the grey baseline and are not at an image size the "
                       f"rule was calibrated at ({', '.join(sorted(CALIBRATED_SIZES))}; rescore them with "
                       "scripts/rescore_records.py)")
                notes.append(f"undetermined (?): for {scheme} (profile {profile}) {why}, so the SSIM level cannot tell "
                             f"restored from not restored at this image size; an attack's share there decides nothing "
                             f"(an attack that returns the images themselves, mean SSIM >= {BROKEN_SSIM:g}, still "
                             f"breaks it)")
            if row.basis == "mean":
                notes.append(f"old rule: the records of {scheme} (profile {profile}) lack the per-image share of restored "
                             f"images; its verdict is the old mean-SSIM rule's (rerun its attacks, or "
                             f"scripts/rescore_records.py)")
            few = sorted({st.best_images for st in stats.values()
                          if st.best_images is not None and st.n_images is not None and st.best_images < st.n_images})
            if few:
                notes.append(f"few images: the per-image shares of {scheme} (profile {profile}) rest on the first "
                             f"{few[0]} restored test image(s) its records kept (older records; rerun its attacks for all)")
            cut = sorted({st.attack for st in (row.strongest, row.paper_strongest) if st is not None and st.reduced},
                         key=attack_sort_key)
            if cut and (scheme, profile) not in reduced_noted:
                reduced_noted.add((scheme, profile))
                notes.append(f"reduced attack: the verdict for {scheme} (profile {profile}) rests on {', '.join(cut)}, whose "
                             f"training a budget stopped before the original attack's optimiser steps (at its epoch cap "
                             f"while still improving, or after a fixed number of epochs; `stopped` in its record): "
                             f"trained longer it might restore more, so a ✓ from it is weaker evidence")
            not_run = [a for a in theirs if a not in stats]
            if not_run and (scheme, profile) not in partial:
                partial.add((scheme, profile))
                ran = ", ".join(st.label for st in sorted(stats.values(), key=lambda st: attack_sort_key(st.attack)))
                notes.append(f"partial: the verdict for {scheme} (profile {profile}) rests on {ran} only; the paper's "
                             f"{', '.join(not_run)} not run")
        elif (scheme, profile) not in no_attacks:
            no_attacks.add((scheme, profile))
            notes.append(f"missing: no attack results for {scheme} (profile {profile}), so no security verdict")
        row.ciphertexts = ciphertexts.get((scheme, profile))
        row.pairs = pairs.get((scheme, profile))
        row.ciphertexts_split = tuple(c.get((scheme, profile)) for c in ciphertexts_split)
        row.pairs_split = tuple(c.get((scheme, profile)) for c in pairs_split)
        row.chosen = chosen.get((scheme, profile))
        na = na_frame[(na_frame["scheme"] == scheme) & (na_frame["profile"] == profile)]
        for attack, reason in zip(na["attack"], na["reason"]):  # an attack with no method for the scheme: n/a
            if (scheme, profile, attack) not in na_noted:
                na_noted.add((scheme, profile, attack))
                notes.append(f"n/a: {attack} does not apply to {scheme} (profile {profile}): {reason}")
        row.known_plaintext_na = tuple(sorted(set(na.loc[~na["threat_model"].str.startswith("ciphertext_only"), "attack"]),
                                              key=attack_sort_key))
        others = other_stats.get((scheme, profile), {})
        if others:
            row.known_plaintext = strongest(others.values())
        rows.append(row)
    schemes = {k[0] for k in keys}
    for scheme, parity in PAPER_PARITY.items():
        if parity in schemes and scheme not in schemes:
            notes.append(f"missing: no record for {scheme} ({parity} as the seed paper's attack code had it, "
                         f"{parity}'s paper-parity row); `{PE_NP_COMMAND}` makes one")
        elif scheme in schemes:
            notes.append(f"{scheme}: {parity} as the seed paper's attack code had it (negation only), shown against "
                         f"the paper's {parity} row (paper parity); `{parity}` is ours with colour shuffling")
    for index, paper in enumerate(paper_rows):
        if index not in matched:
            rows.append(Table1Row(paper.scheme, None, None, paper))
            notes.append(f"missing: no record for the paper's row {paper.label} / {paper.network}")

    def order(row: Table1Row) -> tuple[Any, ...]:
        paper_index = paper_rows.index(row.paper) if row.paper is not None else len(paper_rows)
        network = network_sort_key(row.network) if row.network is not None else (2, [])
        return scheme_sort_key(row.scheme), paper_index, network, natural_key(row.profile or "")

    rows.sort(key=order)
    return Table1(rows=rows, datasets=datasets, threshold=ssim_threshold, show_ciphertexts=bool(ciphertexts),
                  show_known_plaintext=bool(other_stats) or any(r.known_plaintext_na for r in rows), data_notes=_data_notes(runs),
                  source=source, notes=notes, description=records.describe())


def _verdict(evidence: list[Evidence], mean_rule: bool | None) -> tuple[bool | None, bool]:
    """(secure, whether the old mean rule gave it): the rule's verdict (:func:`ppbench.reports.security.verdict`),
    else, for older records the rule cannot read, ``mean_rule``; None where the rule is undetermined (the old rule
    would be no better)."""
    judged = verdict(evidence)
    if judged is None and not undetermined(evidence):
        return mean_rule, True
    return judged, False


# -- views ---------------------------------------------------------------------------------------------
def _symbol(secure: bool | None, missing: str, undetermined: bool = False) -> str:
    if secure is None:
        return "?" if undetermined else missing
    return "✓" if secure else "✗"


def _accuracy_text(row: Table1Row, dataset: str) -> str:
    stat = row.accuracy.get(dataset)
    if stat is not None:
        return stat.text(4)
    return NOT_APPLICABLE if row.attack_only else EMPTY


def _paper_accuracy(row: Table1Row, family: str) -> str:
    if row.paper is None:
        return EMPTY
    value = row.paper.accuracy.get(family)
    return NOT_APPLICABLE if value is None else f"{value:.4f}"


def _known_plaintext_text(row: Table1Row) -> str:
    if row.known_plaintext is None:
        return f"n/a ({', '.join(row.known_plaintext_na)})" if row.known_plaintext_na else EMPTY
    broken = f"; {counts_text(row.pairs_split, ' pair(s) to break')}" if row.pairs else ""
    if row.chosen:
        value, attack = row.chosen
        count = f"> {attack}'s queries" if math.isinf(value) else f"{value:g} chosen image(s)"
        broken += f"; {count} ({attack})"
    return f"{row.known_plaintext.ssim.text(3)} ({row.known_plaintext.label}){broken}"


def _display_row(table: Table1, row: Table1Row) -> dict[str, str]:
    """One row's text cells by header, in the displayed order."""
    cells = {"Scheme": row.scheme, "Network": row.network if row.network is not None else EMPTY,
             "Paper network": row.paper.network if row.paper is not None else EMPTY, "Profile": row.profile or EMPTY}
    if table.show_data:
        cells["Data"] = "; ".join(row.data)
    for family in FAMILIES:
        cells.update({f"Acc. {c.name}": _accuracy_text(row, c.name) for c in table.datasets if c.family == family})
        cells[f"Paper {FAMILY_TITLES[family]}"] = _paper_accuracy(row, family)
    top, theirs = row.strongest, row.paper_strongest
    cells.update({
        "Strongest attack": top.reduced_label if top else EMPTY, "SSIM": top.ssim.text(3) if top else EMPTY,
    })
    if any(r.strongest is not None and r.strongest.share is not None for r in table.rows):
        cells["Images restored"] = top.share_text() if top else EMPTY
    if any(r.strongest is not None and r.strongest.recognition is not None for r in table.rows):
        cells["Recognition"] = top.recognition_text() if top else EMPTY
    cells.update({
        "Security": _symbol(row.secure, EMPTY, row.undetermined),
        "Paper security": EMPTY if row.paper is None else _symbol(row.paper.security, NOT_APPLICABLE),
        "Paper's attacks only": (f"{_symbol(row.paper_secure, EMPTY, row.paper_undetermined)} {theirs.label} {theirs.ssim.text(3)}"
                                 + (f", {theirs.share.text(2)} restored" if theirs.share else "")
                                 + (" (reduced attack)" if theirs.reduced else "")) if theirs else EMPTY,
    })
    if table.show_known_plaintext:
        chosen = any(r.chosen for r in table.rows)
        cells["Known/chosen-plaintext SSIM" if chosen else "Known-plaintext SSIM"] = _known_plaintext_text(row)
    if table.show_ciphertexts:
        cells["Ciphertexts to break"] = counts_text(row.ciphertexts_split) if row.ciphertexts else EMPTY
    return cells


def display_frame(table: Table1) -> pd.DataFrame:
    """Table I as text, one column per displayed header: the frame the Markdown and LaTeX views render."""
    return pd.DataFrame([_display_row(table, row) for row in table.rows], dtype=object)


def table_notes(table: Table1, record_notes: list[str]) -> list[str]:
    """Every note under the table: data sets, the paper's footnote, missing cells, record notes."""
    notes = list(table.data_notes)
    notes.append(f"paper: {table.source['paper']}, {table.source['table'].split(':')[0]}; "
                 f"{table.source['footnote']}")
    return notes + table.notes + record_notes


def which_per_row(table: Table1) -> str:
    """The sentence that sends a reader to the per-row columns when rows differ in profile or data."""
    several_profiles = len({row.profile for row in table.rows if row.has_record}) > 1
    if several_profiles and table.show_data:
        return "Rows differ in profile and data: the `Profile` and `Data` columns say which per row. "
    if several_profiles:
        return "Rows differ in profile: the `Profile` column says which per row. "
    if table.show_data:
        return "Rows differ in data: the `Data` column says which per row. "
    return ""


def render_markdown(table: Table1, record_notes: list[str]) -> str:
    frame = display_frame(table).apply(lambda column: column.str.replace("|", "\\|", regex=False))
    lines = ["# Table I: accuracy and security, ppbench beside the seed paper", "",
             f"From {table.description}. {which_per_row(table)}Accuracy and SSIM are fractions; mean ± std "
             "(n=seeds) where there are several runs; `—` not applicable, empty = no record.", "",
             f"Security rule: {rule_text(table.threshold)}.", "",
             frame.to_markdown(index=False, tablefmt="github", stralign=None, disable_numparse=True)]
    lines += ["", "Notes:", ""] + [f"- {note}" for note in table_notes(table, record_notes)]
    return "\n".join(lines) + "\n"


def render_csv(table: Table1) -> str:
    """Numbers, not text: one column per quantity, empty where there is no value."""
    records = []
    for row in table.rows:
        out: dict[str, Any] = {"scheme": row.scheme, "network": row.network, "profile": row.profile,
                               "paper_network": row.paper.network if row.paper else None}
        if table.show_data:
            out["data"] = "; ".join(row.data) or None
        for column in table.datasets:
            stat = row.accuracy.get(column.name)
            out[f"accuracy_{column.name}_mean"] = stat.mean if stat else None
            out[f"accuracy_{column.name}_std"] = stat.std if stat and stat.n > 1 else None
            out[f"accuracy_{column.name}_n"] = stat.n if stat else None
        for family in FAMILIES:
            out[f"paper_accuracy_{family}"] = row.paper.accuracy.get(family) if row.paper else None
        top, theirs, known = row.strongest, row.paper_strongest, row.known_plaintext
        out["strongest_attack"] = top.label if top else None
        out["strongest_attack_ssim_mean"] = top.ssim.mean if top else None
        out["strongest_attack_ssim_std"] = top.ssim.std if top and top.ssim.n > 1 else None
        out["strongest_attack_n"] = top.ssim.n if top else None
        out["strongest_attack_share_restored"] = top.share.mean if top and top.share else None
        out["strongest_attack_ssim_best_image_median"] = top.median.mean if top and top.median else None
        out["strongest_attack_best_reading_images"] = top.best_images if top else None
        out["strongest_attack_recognition_accuracy"] = top.recognition.mean if top and top.recognition else None
        out["recognition_plain_accuracy"] = top.plain_accuracy.mean if top and top.plain_accuracy else None
        out["recognition_chance"] = top.chance if top else None
        out["ssim_threshold"] = table.threshold
        out["verdict_basis"] = row.basis or None
        out["secure"] = row.secure
        out["secure_undetermined"] = row.undetermined
        out["baseline_share_restored"] = top.baseline_share if top else None
        out["secure_mean_rule"] = row.mean_rule_secure
        out["paper_secure"] = row.paper.security if row.paper else None
        out["paper_attacks_strongest"] = theirs.label if theirs else None
        out["paper_attacks_ssim_mean"] = theirs.ssim.mean if theirs else None
        out["paper_attacks_share_restored"] = theirs.share.mean if theirs and theirs.share else None
        out["paper_attacks_secure"] = row.paper_secure
        out["paper_attacks_secure_undetermined"] = row.paper_undetermined
        out["paper_attacks_secure_mean_rule"] = row.paper_mean_rule_secure
        if table.show_reduced:  # only when some record says how its learned attacks stopped
            out["strongest_attack_reduced"] = top.reduced if top else None
            out["paper_attacks_reduced"] = theirs.reduced if theirs else None
        if table.show_known_plaintext:
            out["known_plaintext_attack"] = known.label if known else None
            out["known_plaintext_ssim_mean"] = known.ssim.mean if known else None
            out["known_plaintext_pairs_to_break"] = row.pairs[0] if row.pairs else None  # inf: not within the curve
            out["known_plaintext_pairs_to_break_generic"] = row.pairs_split[1][0] if row.pairs_split[1] else None
            out["chosen_images_to_break"] = row.chosen[0] if row.chosen else None
        if table.show_ciphertexts:
            out["ciphertexts_to_break"] = row.ciphertexts[0] if row.ciphertexts else None  # inf: not within the curve
            out["ciphertexts_to_break_attack"] = row.ciphertexts[1] if row.ciphertexts else None
            out["ciphertexts_tried_up_to"] = row.ciphertexts[2] if row.ciphertexts else None
            out["ciphertexts_to_break_generic"] = row.ciphertexts_split[1][0] if row.ciphertexts_split[1] else None
            out["ciphertexts_to_break_generic_attack"] = row.ciphertexts_split[1][1] if row.ciphertexts_split[1] else None
        records.append(out)
    frame = pd.DataFrame(records)
    for column in frame.columns:
        if column.endswith("_n"):
            frame[column] = frame[column].astype("Int64")
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")


_TEX = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX_SYMBOLS = {"±": r"$\pm$", "✓": r"\checkmark", "✗": r"$\times$", "—": "---"}


def tex_escape(text: str) -> str:
    """Escape LaTeX specials and map the table's symbols (±, ✓, ✗, —) to LaTeX."""
    out = "".join(_TEX.get(ch, ch) for ch in str(text))
    for symbol, tex in _TEX_SYMBOLS.items():
        out = out.replace(symbol, tex)
    return out


def render_latex(table: Table1, record_notes: list[str]) -> str:
    frame = display_frame(table)
    text_columns = 5 if table.show_data else 4
    caption = (f"Accuracy (fractions) and security, ppbench beside the seed paper's Table I. Security: "
               f"{rule_text(table.threshold)}.")
    styler = frame.style.hide(axis="index").format(tex_escape).format_index(tex_escape, axis=1)
    styler.set_table_styles([{"selector": "small", "props": ":;"}])  # \small inside the table
    body = styler.to_latex(column_format="l" * text_columns + "r" * (len(frame.columns) - text_columns),
                           position="t", position_float="centering", hrules=True, caption=tex_escape(caption),
                           label="tab:ppbench-table1")
    lines = ["% Generated by `ppbench report` from result records; do not edit.",
             "% Needs \\usepackage{booktabs,amssymb}.", body.rstrip("\n")]
    lines += [f"% note: {note}" for note in table_notes(table, record_notes)]
    return "\n".join(lines) + "\n"


def write_table1(records: RecordSet, out_dir: Path, ssim_threshold: float = DEFAULT_SSIM_THRESHOLD) -> tuple[Table1, list[Path]]:
    """Build Table I and write ``table1.md``, ``table1.csv`` and ``table1.tex`` atomically into ``out_dir``."""
    table = build_table1(records, ssim_threshold)
    record_notes = records.notes.lines()
    paths = [out_dir / "table1.md", out_dir / "table1.csv", out_dir / "table1.tex"]
    atomic_write_text(paths[0], render_markdown(table, record_notes))
    atomic_write_text(paths[1], render_csv(table))
    atomic_write_text(paths[2], render_latex(table, record_notes))
    return table, paths
