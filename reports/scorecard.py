"""One page for one scheme: what it costs in accuracy, what breaks it and how cheaply, and the verdict.

``ppbench scorecard --scheme NAME`` renders this page from result records, as Markdown (``NAME.md`` with
its figures beside it as PNG files) and as a self-contained HTML page (``NAME.html``: figures embedded as
``data:image/png;base64`` URIs, the style inline; no external file, no network). It shows:

- accuracy of the scheme's classifier beside ``plain`` (no encryption) on the same network, profile and data;
- every attack recorded for the scheme: its SSIM (the best reading, as Table I reads it: as-is,
  colour-inverted or mirrored), its threat model, whether that threat model counts in the verdict, and,
  for key-recovery attacks, the victim images it needed to break the scheme (ciphertexts, plain/cipher
  pairs or chosen images, after the threat model); attacks the records say do not apply, or that were
  expected but not run, are listed as such;
- the key space (bits, from the record) and the verdict with its rule. The verdict is Table I's
  (:func:`ppbench.reports.table1.build_table1` on the scheme's records, :mod:`ppbench.reports.security`'s
  rule), never recomputed here;
- a strip of restored images (the test images Fig. 4 reads, found the way :mod:`ppbench.reports.fig4`
  finds them) and, when the records hold any, the key-recovery curves of :mod:`ppbench.reports.curves`.

Which records: the caller passes a :class:`~ppbench.reports.load.RecordSet`; :func:`select_records` keeps the
scheme's runs (on one network, plus attack-only runs) and ``plain``'s runs on that network. Nothing here
imports torch, so rendering takes seconds.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ppbench import __version__
from ppbench.atomic import atomic_path, atomic_write_text
from ppbench.errors import DataError, InputError

from .aggregate import Stat, attack_stats, count_number, count_text, fewest_to_break
from .curves import Curves, build_curves, draw_curves
from .fig4 import ATTACK_TITLES, Fig4, _draw_cell, build_fig4
from .load import NO_NETWORK, Reading, RecordSet, Run, attack_sort_key, dataset_summary, natural_key
from .security import DEFAULT_SSIM_THRESHOLD, RESTORED_IMAGE_SSIM, RESTORED_SHARE, rule_text
from .table1 import Table1Row, build_table1, paper_attacks

PLAIN = "plain"
STRIP_IMAGES = 4
"""Test images (rows) in the strip of restored images, at most (runs keep the first 8)."""
NONE = "—"

UNITS = (("ciphertext_only", "ciphertexts"), ("known_plaintext", "plain/cipher pairs"),
         ("chosen_plaintext", "chosen images"))
"""What an attack's n counts, by its threat model's prefix: victim ciphertexts, known pairs, chosen images."""


def unit_of(threat_model: str) -> str:
    """What the n of an attack under ``threat_model`` counts ("ciphertexts", "plain/cipher pairs", ...)."""
    for prefix, unit in UNITS:
        if threat_model.startswith(prefix):
            return unit
    return "victim images"


@dataclass
class AttackLine:
    """One attack on the card: its SSIM and cost, or why it has none (``status``)."""

    attack: str
    threat_model: str
    description: str = ""
    reading: Reading = Reading.AS_IS  # the reading that scored best
    ssim: Stat | None = None
    in_verdict: bool = False
    to_break: tuple[float, str, float] | None = None  # Table I's form: (n, attack, largest n tried)
    status: str = ""  # "" when scored; else "not applicable: why", "not run", ...
    outside_family: bool = False  # a generic attack found no consistent map: "not in F", no break claimed
    reduced: bool = False  # a budget cut its training short of the original's (records' ``reduced``)

    @property
    def unit(self) -> str:
        return unit_of(self.threat_model)

    def break_text(self) -> str:
        """'5 ciphertexts', '> 100 ciphertexts' (never within the curve), or — (no curve)."""
        if self.outside_family:
            return "not in F: no break claimed"
        if self.to_break is None:
            return NONE
        return f"{count_number(self.to_break)} {self.unit}"


@dataclass
class Scorecard:
    """Everything the page shows, collected from records (no drawing, no text)."""

    scheme: str
    title: str
    network: str
    profile: str
    data: str  # dataset summary: name, kind, sizes, classes
    dataset: str
    accuracy: Stat | None
    plain_accuracy: Stat | None
    key_space_bits: list[float]
    key_space_formula: str
    row: Table1Row  # Table I's row: the verdict, strongest attack, fewest ciphertexts / pairs
    threshold: float
    attacks: list[AttackLine]
    fewest: dict[str, tuple[float, str, float]]  # unit -> Table I's (n, attack, tried)
    baselines: dict[str, Stat]  # "ciphertext" / "wrong_key": SSIM of the ciphertext, of a wrong-key decryption
    strips: list[Fig4]
    curves: Curves
    runs: list[Run]
    folder: Path
    notes: list[str] = field(default_factory=list)
    command: str = ""  # the command that made the card, for the page's footer

    @property
    def verdict(self) -> str:
        """'secure ✓' / 'not secure ✗' / 'undetermined ?' (SSIM cannot judge at this size) / 'no verdict'."""
        return _verdict_text(self.row.secure, self.row.undetermined)

    @property
    def verdict_reason(self) -> str:
        """Why, by the rule Table I used (:mod:`ppbench.reports.security`): the strongest ciphertext-only attack's
        share of restored images against S (and its recognition, when recorded), or, for records without the
        per-image share, its mean SSIM against T."""
        top = self.row.strongest
        if self.row.undetermined and top is not None:
            grey = (f"a uniform grey image reaches SSIM L = {RESTORED_IMAGE_SSIM:.2f} on {top.baseline_share:.0%} of the "
                    f"test images (>= S = {RESTORED_SHARE:.2f})"
                    if top.baseline_share is not None and top.baseline_share >= RESTORED_SHARE else
                    "the records have no grey baseline and are not at an image size the rule was calibrated at")
            return (f"{grey}, so no share of restored images can judge at this image size, and no attack returned the "
                    "images themselves")
        if self.row.secure is None or top is None:
            return "no ciphertext-only attack result in the records"
        if self.row.basis == "share" and top.share is not None:
            relation = "<" if top.share.mean < RESTORED_SHARE else "≥"
            text = (f"the strongest ciphertext-only attack, {top.label}, restores a share {top.share.text(2)} of the test "
                    f"images (best-reading SSIM ≥ L = {RESTORED_IMAGE_SSIM:.2f}) {relation} S = {RESTORED_SHARE:.2f}")
            if top.recognition is not None:
                text += f"; the plain classifier's accuracy on its output {top.recognition_text()}"
            return text
        relation = "<" if self.row.secure else "≥"
        return (f"the strongest ciphertext-only attack, {top.label}, restores mean SSIM "
                f"{top.ssim.text(3)} {relation} T = {self.threshold:.2f} (old rule: the records lack the per-image share)")


# -- which records -------------------------------------------------------------------------------------
def _one(values: Iterable[str], what: str, option: str, scheme: str) -> str:
    found = sorted(set(values), key=natural_key)
    if len(found) > 1:
        raise InputError(f"the records of {scheme} span several {what}s ({', '.join(found)}); "
                         f"pass {option} to pick one")
    return found[0]


def select_records(records: RecordSet, scheme: str, network: str | None = None) -> RecordSet:
    """The runs a card for ``scheme`` reads: the scheme's on one network (trained), its attack-only runs,
    and ``plain``'s on that network; one profile and one data set. Ambiguity or absence is an error whose
    message names the option or command that fixes it."""
    mine = [r for r in records.runs if r.scheme == scheme]
    if not mine:
        raise DataError(f"no complete record of scheme {scheme!r} in {records.folder}; run `ppbench scorecard "
                        f"--scheme {scheme}` without --no-run (it runs what is missing), or `ppbench run --scheme "
                        f"{scheme} --attack all --results {records.folder}`")
    profile = _one((r.profile for r in mine), "profile", "--profile", scheme)
    dataset = _one((r.dataset for r in mine), "dataset", "--dataset", scheme)
    trained = [r for r in mine if r.network != NO_NETWORK]
    if network is None:
        network = _one((r.network for r in trained), "network", "--network", scheme) if trained else NO_NETWORK
    elif network != NO_NETWORK and not any(r.network == network for r in trained):
        have = ", ".join(sorted({r.network for r in trained}, key=natural_key)) or "none"
        raise DataError(f"no complete record of {scheme} on network {network!r} in {records.folder} "
                        f"(networks recorded: {have}); pass one of those to --network, or drop --no-run to run it")
    keep = [r for r in mine if r.network in (network, NO_NETWORK)]
    if scheme != PLAIN and network != NO_NETWORK:
        keep += [r for r in records.runs if r.scheme == PLAIN and r.network == network
                 and r.profile == profile and r.dataset == dataset]
    return RecordSet(folder=records.folder, runs=keep, notes=records.notes,
                     filters={**records.filters, "scheme": scheme, "network": network})


# -- building ------------------------------------------------------------------------------------------
def _find_row(table_rows: list[Table1Row], scheme: str, network: str, profile: str) -> Table1Row | None:
    return next((r for r in table_rows if (r.scheme, r.network, r.profile) == (scheme, network, profile)), None)


def _entry_status(entry: dict[str, Any]) -> str:
    """Why an attack entry has no SSIM: the record's own words (``status``, ``reason``)."""
    status = str(entry.get("status") or "no SSIM recorded").replace("_", " ")
    reason = entry.get("reason") or entry.get("note")
    return f"{status}: {reason}" if reason else status


def _attack_lines(records: RecordSet, scheme: str, profile: str, expected: Iterable[str],
                  descriptions: Mapping[str, str]) -> list[AttackLine]:
    frame = records.attacks_frame()
    frame = frame[(frame["scheme"] == scheme) & (frame["profile"] == profile)]
    verdict_stats = attack_stats(frame).get((scheme, profile), {})
    other_stats = attack_stats(frame, ciphertext_only=False).get((scheme, profile), {})
    lines: list[AttackLine] = []
    for attack, group in frame.groupby("attack", sort=False):
        threat = str(group["threat_model"].mode().iloc[0])
        line = AttackLine(attack=str(attack), threat_model=threat, description=descriptions.get(threat, ""))
        for stats, counts in ((verdict_stats, True), (other_stats, False)):
            if attack in stats:
                line.ssim, line.reading, line.in_verdict = stats[attack].ssim, stats[attack].reading, counts
        counted = fewest_to_break(group, ciphertext_only=line.threat_model.startswith("ciphertext_only"))
        entries = [r.attacks[str(attack)] for r in records.runs if r.scheme == scheme and str(attack) in r.attacks]
        line.to_break = counted.get((scheme, profile)) or _chosen_images(str(attack), entries)
        line.outside_family = any(e.get("in_family") is False for e in entries)
        line.reduced = any(e.get("reduced") is True for e in entries)
        if line.ssim is None:
            line.status = "; ".join(sorted({_entry_status(e) for e in entries}))
        lines.append(line)
    recorded = {line.attack for line in lines}
    for attack in expected:
        if attack not in recorded:
            lines.append(AttackLine(attack=attack, threat_model="", status="not run"))
    units = [unit for _, unit in UNITS]
    return sorted(lines, key=lambda line: (line.threat_model == "", not line.in_verdict,
                                           units.index(line.unit) if line.unit in units else len(units),
                                           attack_sort_key(line.attack)))


def _chosen_images(attack: str, entries: list[dict[str, Any]]) -> tuple[float, str, float] | None:
    """A chosen-plaintext attack's cost in Table I's (n, attack, tried) form, from the records'
    ``chosen_images`` (the images it had encrypted) and ``broken``: the mean when every record broke the
    scheme, ``inf`` when one did not (as a curve that never broke)."""
    counts = [e for e in entries if isinstance(e.get("chosen_images"), (int, float))]
    if not counts or len(counts) != len(entries):
        return None
    values = [float(e["chosen_images"]) for e in counts]
    broke = all(e.get("broken") is not False for e in counts)
    return (sum(values) / len(values) if broke else math.inf), attack, max(values)


def _fewest(lines: list[AttackLine]) -> dict[str, tuple[float, str, float]]:
    """Per unit (ciphertexts, pairs, chosen images): the cheapest break, as Table I's "to break" columns pick it
    (fewest n; ``inf`` only when no attack broke within its curve, then the longest curve)."""
    out: dict[str, tuple[float, str, float]] = {}
    for line in lines:
        if line.to_break is None:
            continue
        value, _, tried = line.to_break
        best = out.get(line.unit)
        if best is None or value < best[0] or (value == best[0] == math.inf and tried > best[2]):
            out[line.unit] = line.to_break
    return out


#: the baselines a card shows for scale (``metrics.baselines``): record name -> what it is
SCALE_BASELINES = {"ciphertext": "the ciphertext itself", "grey": "a uniform grey image", "wrong_key": "a wrong-key decryption"}


def _baselines(runs: list[Run]) -> dict[str, Stat]:
    out: dict[str, Stat] = {}
    for name in SCALE_BASELINES:
        values = [((r.record.get("metrics") or {}).get("baselines") or {}).get(name, {}).get("ssim_mean")
                  for r in runs]
        stat = Stat.of(pd.Series([v for v in values if isinstance(v, (int, float))], dtype=float))
        if stat is not None:
            out[name] = stat
    return out


def _strips(records: RecordSet, count: int) -> list[Fig4]:
    """Fig. 4's row for this scheme at test images 0, 1, ... (as many as the runs kept, at most ``count``)."""
    strips: list[Fig4] = []
    for index in range(count):
        try:
            fig = build_fig4(records, index)
        except InputError:  # the runs kept fewer test images
            break
        if not fig.rows:
            break
        strips.append(fig)
    return strips


def build_scorecard(records: RecordSet, scheme: str, *, network: str | None = None,
                    ssim_threshold: float = DEFAULT_SSIM_THRESHOLD, expected_attacks: Iterable[str] = (),
                    threat_descriptions: Mapping[str, str] | None = None,
                    strip_images: int = STRIP_IMAGES) -> Scorecard:
    """Collect the card of ``scheme`` from ``records`` (see the module docstring).

    ``expected_attacks``: attacks that apply to the scheme; any the records lack is listed as "not run".
    ``threat_descriptions``: threat model name -> one-line description (``ppbench.attacks.ThreatModel``)."""
    chosen = select_records(records, scheme, network)
    network = chosen.filters["network"]
    mine = [r for r in chosen.runs if r.scheme == scheme]
    profile, dataset = mine[0].profile, mine[0].dataset
    table = build_table1(chosen, ssim_threshold)
    row = _find_row(table.rows, scheme, network, profile) or _find_row(table.rows, scheme, NO_NETWORK, profile)
    if row is None:  # cannot happen for a scheme with records; a clear error rather than a crash if it does
        raise DataError(f"Table I has no row for {scheme}/{network} (profile {profile}); check the records in "
                        f"{records.folder} with `ppbench report --results {records.folder}`")
    plain_row = _find_row(table.rows, PLAIN, network, profile)
    lines = _attack_lines(chosen, scheme, profile, expected_attacks, threat_descriptions or {})
    bits = sorted({float(b) for r in mine if isinstance(b := (r.record.get("scheme") or {}).get("key_space_bits"),
                                                           (int, float))})
    info = (mine[0].record.get("scheme") or {}).get("info") or {}
    notes = [n for n in table.notes if f"{scheme}/{network}" in n or f"for {scheme} (profile" in n]
    if scheme != PLAIN and network != NO_NETWORK and plain_row is None:
        notes.append(f"missing: no record of plain on {network} (profile {profile}, dataset {dataset}), so no "
                     f"accuracy to compare with; `ppbench scorecard --scheme {scheme}` without --no-run runs it")
    notes += [f"{line.attack}: {line.status}" for line in lines if line.status]
    scheme_only = RecordSet(folder=chosen.folder, runs=mine, notes=chosen.notes)
    strips = _strips(scheme_only, strip_images)
    if strips:
        notes += [n for n in strips[0].notes if "not drawn" not in n]
    return Scorecard(
        scheme=scheme, title=str(info.get("title") or ""), network=network, profile=profile,
        data=dataset_summary(dataset, mine[0].record.get("dataset") or {}), dataset=dataset,
        accuracy=row.accuracy.get(dataset), plain_accuracy=plain_row.accuracy.get(dataset) if plain_row else None,
        key_space_bits=bits, key_space_formula=str(info.get("key_space") or ""), row=row,
        threshold=ssim_threshold, attacks=lines, fewest=_fewest(lines), baselines=_baselines(mine),
        strips=strips, curves=build_curves(scheme_only), runs=chosen.runs, folder=chosen.folder, notes=notes)


# -- views ---------------------------------------------------------------------------------------------
def _bits_text(bits: list[float], formula: str) -> str:
    if not bits:
        return NONE
    text = f"{bits[0]:,.1f}" if len(bits) == 1 else f"{bits[0]:,.1f} to {bits[-1]:,.1f}"  # runs of other sizes
    return f"{text} bits" + (f" (keys: {formula})" if formula else "")


def _accuracy_text(card: Scorecard) -> tuple[str, str]:
    own = card.accuracy.text(4) if card.accuracy else NONE
    if card.plain_accuracy is None:
        return own, "no record"
    plain = card.plain_accuracy.text(4)
    if card.accuracy is not None and card.scheme != PLAIN:
        plain += f" (scheme − plain: {card.accuracy.mean - card.plain_accuracy.mean:+.4f})"
    return own, plain


def summary_frame(card: Scorecard) -> pd.DataFrame:
    """The card's headline facts, one per row (``Quantity``, ``Value``): the page's first table."""
    own, plain = _accuracy_text(card)
    rows = [(f"Accuracy ({card.network}, {card.dataset})", own),
            (f"Plain on the same network ({card.network})", plain),
            ("Key space", _bits_text(card.key_space_bits, card.key_space_formula))]
    theirs = card.row.paper_strongest
    if theirs is not None:
        rows.append((f"The paper's attacks alone ({', '.join(a.upper() for a in paper_attacks())})",
                     f"{_verdict_text(card.row.paper_secure, card.row.paper_undetermined)}: strongest {theirs.label}, "
                     f"SSIM {theirs.ssim.text(3)}"))
    for unit, count in card.fewest.items():
        rows.append((f"Fewest {unit} to break", f"{count_text(count)}"))
    for name, title in SCALE_BASELINES.items():
        if name in card.baselines:
            rows.append((f"For scale: SSIM of {title}", card.baselines[name].text(3)))
    return pd.DataFrame(rows, columns=["Quantity", "Value"])


def attacks_frame(card: Scorecard) -> pd.DataFrame:
    """One row per attack: SSIM (best reading), threat model, whether it counts in the verdict, n to break."""
    rows = []
    for line in card.attacks:
        if line.status:
            ssim = line.status
        else:
            ssim = line.ssim.text(3) + line.reading.suffix if line.ssim else NONE
        threat = line.threat_model or NONE
        if line.description:
            threat += f": {line.description}"
        counts = NONE if line.ssim is None else ("yes" if line.in_verdict else "no (shown beside it)")
        name = f"{line.attack} (reduced attack)" if line.reduced else line.attack
        rows.append({"Attack": name, "SSIM (best reading)": ssim, "Threat model": threat,
                     "In the verdict": counts, "Needed to break": line.break_text()})
    return pd.DataFrame(rows, columns=["Attack", "SSIM (best reading)", "Threat model", "In the verdict",
                                       "Needed to break"])


def sources_frame(card: Scorecard) -> pd.DataFrame:
    """The records the card was made from."""
    rows = []
    for run in card.runs:
        env = run.record.get("environment") or {}
        rows.append({"Run": run.run_id, "Scheme": run.scheme, "Network": run.network, "Seed": run.seed,
                     "Finished": run.record.get("finished_at") or "",
                     "ppbench": f"{env.get('ppbench', '?')} ({env.get('git_describe') or env.get('git_commit') or 'no git'})"})
    return pd.DataFrame(rows, columns=["Run", "Scheme", "Network", "Seed", "Finished", "ppbench"])


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "| " + " | ".join("---" for _ in frame.columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return lines


def _intro(card: Scorecard) -> str:
    seeds = sorted({r.seed for r in card.runs if r.seed is not None})
    sizes = sorted({r.image_size for r in card.runs}, key=natural_key)
    return (f"{card.title + '. ' if card.title else ''}Network {card.network}, profile {card.profile}, data "
            f"{card.data}, image size {', '.join(sizes)}; seed{'s' if len(seeds) > 1 else ''} "
            f"{', '.join(map(str, seeds)) or '?'}; {len(card.runs)} record(s).")


STRIP_CAPTION = ("Test images in rows; the plain image, its ciphertext, then what each attack restored from the "
                 "ciphertext, with that image's SSIM against the plain one underneath.")
CURVES_CAPTION = ("Mean SSIM (best reading) on unseen ciphertexts against the victim images n a key-recovery "
                  "attack holds; filled markers: the key was recovered exactly; dotted: the break level.")


def render_markdown(card: Scorecard, strip_file: str | None, curves_file: str | None) -> str:
    """The card as Markdown; figures are linked by file name (written beside it)."""
    lines = [f"# Scorecard: {card.scheme}", "", _intro(card), "", f"**{card.verdict}**: {card.verdict_reason}.", ""]
    lines += _markdown_table(summary_frame(card))
    lines += ["", "## Attacks", "", "SSIM against the plain test images (fractions; mean ± std (n=seeds) over "
              "several runs); `—`: none.", ""]
    lines += _markdown_table(attacks_frame(card))
    lines += ["", "## Restored images", ""]
    lines += [f"![restored images]({strip_file})", "", STRIP_CAPTION] if strip_file else ["No restored images in the records."]
    if curves_file:
        lines += ["", "## Key recovery against the number of victim images", "", f"![curves]({curves_file})", "",
                  CURVES_CAPTION]
    lines += ["", "## Rule", "", rule_text(card.threshold) + ".", "", "## Notes", ""]
    lines += [f"- {n}" for n in card.notes] or ["- none"]
    lines += ["", "## Made from", "", f"Records in `{card.folder}`:", ""]
    lines += _markdown_table(sources_frame(card))
    lines += ["", f"Rendered by ppbench {__version__}" + (f": `{card.command}`" if card.command else "") + "."]
    return "\n".join(lines) + "\n"


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1120px;margin:0 auto;padding:24px 28px 40px;background:#fff}
h1{font-size:1.7em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 10px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
p.intro{color:#4a5561;margin:4px 0 16px}
.verdict{display:inline-block;padding:8px 14px;border-radius:6px;font-weight:600;margin:4px 0 14px}
.verdict.secure{background:#e3f4e8;color:#16622e;border:1px solid #9fd3ae}
.verdict.broken{background:#fbe6e6;color:#8c1c1c;border:1px solid #e9a8a8}
.verdict.none{background:#eef0f3;color:#4a5561;border:1px solid #cfd5dc}
table{border-collapse:collapse;width:100%;font-size:.92em;margin:6px 0}
th,td{border:1px solid #dde1e6;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5}table.summary{width:auto;min-width:60%}tr:nth-child(even) td{background:#fafbfc}
figure{margin:8px 0}figure img{max-width:100%;height:auto;border:1px solid #dde1e6}
figcaption,.small{color:#4a5561;font-size:.88em}
ul.notes li{margin:2px 0}code{background:#f0f2f5;padding:1px 4px;border-radius:3px}
"""


def _html_table(frame: pd.DataFrame, css: str) -> str:
    return frame.to_html(index=False, escape=True, border=0, classes=css, na_rep=NONE)


def _figure(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _verdict_text(secure: bool | None, undetermined: bool) -> str:
    if secure is None:
        return "undetermined ?" if undetermined else "no verdict"
    return "secure ✓" if secure else "not secure ✗"


def render_html(card: Scorecard, strip_png: bytes | None, curves_png: bytes | None) -> str:
    """The card as one self-contained HTML page (figures as base64 data URIs, inline style, no scripts)."""
    kind = "none" if card.row.secure is None else ("secure" if card.row.secure else "broken")  # undetermined: "none"
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>ppbench scorecard: {esc(card.scheme)}</title>", f"<style>{STYLE}</style>", "</head>",
             "<body><main>", f"<h1>Scorecard: {esc(card.scheme)}</h1>", f'<p class="intro">{esc(_intro(card))}</p>',
             f'<div class="verdict {kind}">{esc(card.verdict)}: {esc(card.verdict_reason)}</div>',
             _html_table(summary_frame(card), "summary"),
             "<h2>Attacks</h2>",
             '<p class="small">SSIM against the plain test images (fractions; mean ± std (n=seeds) over several runs); '
             "— none.</p>",
             _html_table(attacks_frame(card), "attacks"), "<h2>Restored images</h2>"]
    parts.append(_figure(strip_png, "restored images", STRIP_CAPTION) if strip_png
                 else "<p>No restored images in the records.</p>")
    if curves_png:
        parts += ["<h2>Key recovery against the number of victim images</h2>",
                  _figure(curves_png, "key-recovery curves", CURVES_CAPTION)]
    parts += ["<h2>Rule</h2>", f"<p>{esc(rule_text(card.threshold))}.</p>", "<h2>Notes</h2>", '<ul class="notes">']
    parts += [f"<li>{esc(n)}</li>" for n in card.notes] or ["<li>none</li>"]
    parts += ["</ul>", "<h2>Made from</h2>", f'<p class="small">Records in <code>{esc(str(card.folder))}</code>:</p>',
              _html_table(sources_frame(card), "sources"),
              f'<p class="small">Rendered by ppbench {esc(__version__)}'
              + (f": <code>{esc(card.command)}</code>" if card.command else "") + ".</p>",
              "</main></body>", "</html>"]
    return "\n".join(parts) + "\n"


def draw_strip(card: Scorecard) -> Any:
    """The restored images as a matplotlib Figure: a row per test image; plain, ciphertext, each attack."""
    from matplotlib.figure import Figure

    drawn = set(card.strips[0].attacks)
    attacks = [line.attack for line in card.attacks if line.attack in drawn]  # the attacks table's order
    columns = ["plain", "encrypted"] + attacks
    nrows, ncols = len(card.strips), len(columns)
    fig = Figure(figsize=(1.45 * ncols + 0.4, 1.6 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r, strip in enumerate(card.strips):
        row = strip.rows[0]
        cells = [row.plain, row.encrypted] + [row.attacks[a] for a in attacks]
        for c, cell in enumerate(cells):
            _draw_cell(axes[r, c], cell, show_ssim=c > 1 or (c == 1 and cell.ssim is not None))
        axes[r, 0].set_ylabel(f"test #{strip.index}", fontsize=9)
    for c, column in enumerate(columns):
        axes[0, c].set_title(ATTACK_TITLES.get(column, column), fontsize=9)
    return fig


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def write_scorecard(card: Scorecard, out_dir: Path) -> list[Path]:
    """Write ``<scheme>.md``, ``<scheme>.html`` and the figures' PNGs atomically into ``out_dir``."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    strip_png = _png(draw_strip(card)) if card.strips else None
    curves_png = None
    if not card.curves.empty:
        figure = draw_curves(card.curves)
        try:
            curves_png = _png(figure)
        finally:
            plt.close(figure)
    names = {}
    for key, png in (("strip", strip_png), ("curves", curves_png)):
        if png is not None:
            path = out_dir / f"{card.scheme}-{key}.png"
            with atomic_path(path) as tmp:
                tmp.write_bytes(png)
            names[key] = path.name
            paths.append(path)
    md, page = out_dir / f"{card.scheme}.md", out_dir / f"{card.scheme}.html"
    atomic_write_text(md, render_markdown(card, names.get("strip"), names.get("curves")))
    atomic_write_text(page, render_html(card, strip_png, curves_png))
    return [md, page] + paths
