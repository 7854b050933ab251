"""The regression gate CI runs: ``ppbench report --check THRESHOLDS`` compares records with bounds.

THRESHOLDS is a TOML file::

    [meta]                       # optional: read only these records
    profile = "cpu"
    dataset = "sample"

    [defaults]                   # optional: bounds every named row starts from
    min_accuracy = 0.10

    [rows."proposed/vit_cpu"]    # one table per row: "<scheme>/<network>", "<scheme>/none", "<scheme>/*"
    min_accuracy = 0.40
    max_ssim.itn = 0.35          # per attack: the attack's mean SSIM must be at most 0.35

    [rows."le/none"]
    min_ssim.itn = 0.40          # the attack must still break LE: guards against a no-op attack

Keys of ``[defaults]`` and of each row: ``min_accuracy``, ``max_accuracy`` (fractions), ``min_ssim.<attack>``
and ``max_ssim.<attack>`` (mean SSIM over the test images). A row's value overrides the default of the
same key (per attack for the SSIM tables); bounds are inclusive (a value equal to its bound passes). Any
other key, a malformed row name, a value that is not a number in range, or a file without rows is an
error (exit 2) that names the key and the allowed ones: a typo must never turn a bound off silently.

Rows, and which records they read (after ``[meta]``; complete records only, as Table I):

- ``<scheme>/<network>``: accuracy is the mean over the records of that scheme and network (over seeds);
  it is a failure ("no record") when there are none.
- ``<scheme>/none``: attack-only records (``network: null``). It has no accuracy: accuracy keys in the
  row are an error, and the defaults' accuracy bounds do not apply. "no record" when the scheme has no
  attack-only record.
- ``<scheme>/*``: every record of the scheme; accuracy bounds are checked for each of its networks
  separately (each must hold), named ``<scheme>/<network> (via <scheme>/*)``.

SSIM bounds of every row kind read the attack results of *all* the scheme's records, whatever their
network: an attack targets the encryption, not the classifier (Table I's rule too). The value is the mean
over records of each record's best reading of the attack (the largest of ``metrics.attacks.<attack>.
ssim_mean``, ``ssim_mean_inverted`` and ``ssim_mean_mirrored``, the reading Table I's verdict uses: a
restored negative or mirror image reveals the image as plainly); a bounded attack that no record ran is
a failure ("no <attack> result"), and so is one recorded only as not applicable to the scheme ("n/a":
drop the bound). Rows present in the records but not named are not checked (the
report lists them). A scheme, network or attack that no record names and that ppbench does not know
either (a typo) is a bad THRESHOLDS file, answered with the close registered names, not a "no record"
failure. Exit status: 0 when every bound holds, 1 when any fails (each failure named with the amount it
misses by), 2 for a bad THRESHOLDS file or results folder.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ppbench.errors import PPBenchError

from .load import NO_NETWORK, RecordSet, Run, best_reading, load_results, natural_key, network_sort_key

ALLOWED_TABLES = ("meta", "defaults", "rows")
ALLOWED_META = ("profile", "dataset")
ALLOWED_BOUNDS = ("min_accuracy", "max_accuracy", "min_ssim", "max_ssim")
ALLOWED_TEXT = "min_accuracy, max_accuracy, min_ssim.<attack>, max_ssim.<attack>"
ROW_NAME = re.compile(r"^[^/\s]+/[^/\s]+$")


class ThresholdsError(PPBenchError):
    """A THRESHOLDS file that cannot be read or holds an unknown key or a bad value."""


@dataclass(frozen=True)
class Bounds:
    """The bounds of one row (None / absent: no bound)."""

    min_accuracy: float | None = None
    max_accuracy: float | None = None
    min_ssim: Mapping[str, float] = field(default_factory=dict)
    max_ssim: Mapping[str, float] = field(default_factory=dict)

    def over(self, base: "Bounds") -> "Bounds":
        """These bounds, with ``base``'s for every key (and attack) not set here."""
        return Bounds(
            min_accuracy=base.min_accuracy if self.min_accuracy is None else self.min_accuracy,
            max_accuracy=base.max_accuracy if self.max_accuracy is None else self.max_accuracy,
            min_ssim={**base.min_ssim, **self.min_ssim},
            max_ssim={**base.max_ssim, **self.max_ssim},
        )

    @property
    def has_accuracy(self) -> bool:
        return self.min_accuracy is not None or self.max_accuracy is not None

    @property
    def count(self) -> int:
        return (self.min_accuracy is not None) + (self.max_accuracy is not None) + len(self.min_ssim) + len(self.max_ssim)


@dataclass(frozen=True)
class Thresholds:
    source: str
    meta: Mapping[str, str]
    defaults: Bounds
    rows: Mapping[str, Bounds]

    def bounds(self, row: str) -> Bounds:
        """The row's bounds over the defaults; attack-only rows take no accuracy defaults."""
        base = self.defaults
        if row.endswith(f"/{NO_NETWORK}"):
            base = replace(base, min_accuracy=None, max_accuracy=None)
        return self.rows[row].over(base)


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ThresholdsError(f"{where} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ThresholdsError(f"{where} = {value} is outside [{low:g}, {high:g}]")
    return float(value)


def _parse_bounds(table: Any, where: str) -> Bounds:
    if not isinstance(table, dict):
        raise ThresholdsError(f"{where} must be a table of bounds ({ALLOWED_TEXT})")
    for key in table:
        if key not in ALLOWED_BOUNDS:
            close = difflib.get_close_matches(str(key), ALLOWED_BOUNDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ThresholdsError(f"{where}: unknown key {key!r}{hint}; allowed keys: {ALLOWED_TEXT}")
    values: dict[str, Any] = {}
    for key in ("min_accuracy", "max_accuracy"):
        if key in table:
            values[key] = _number(table[key], f"{where}.{key}", 0.0, 1.0)
    for key in ("min_ssim", "max_ssim"):
        if key not in table:
            continue
        if not isinstance(table[key], dict):
            raise ThresholdsError(f"{where}.{key} needs an attack name: write {key}.itn = {table[key]!r}")
        values[key] = {str(attack): _number(v, f"{where}.{key}.{attack}", -1.0, 1.0)
                       for attack, v in table[key].items()}
    bounds = Bounds(**values)
    if bounds.min_accuracy is not None and bounds.max_accuracy is not None and bounds.min_accuracy > bounds.max_accuracy:
        raise ThresholdsError(f"{where}: min_accuracy {bounds.min_accuracy} > max_accuracy {bounds.max_accuracy}")
    for attack in set(bounds.min_ssim) & set(bounds.max_ssim):
        if bounds.min_ssim[attack] > bounds.max_ssim[attack]:
            raise ThresholdsError(f"{where}: min_ssim.{attack} > max_ssim.{attack}")
    return bounds


def parse_thresholds(data: Mapping[str, Any], source: str = "THRESHOLDS") -> Thresholds:
    """Validate a parsed TOML document (see the module docstring) into :class:`Thresholds`."""
    for key in data:
        if key not in ALLOWED_TABLES:
            raise ThresholdsError(f"{source}: unknown table {key!r}; allowed: [meta], [defaults], [rows.\"<scheme>/<network>\"]")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise ThresholdsError(f"{source}: [meta] must be a table with {', '.join(ALLOWED_META)}")
    for key, value in meta.items():
        if key not in ALLOWED_META:
            raise ThresholdsError(f"{source}: unknown key {key!r} in [meta]; allowed keys: {', '.join(ALLOWED_META)}")
        if not isinstance(value, str):
            raise ThresholdsError(f"{source}: meta.{key} must be a string, got {value!r}")
    defaults = _parse_bounds(data.get("defaults", {}), f"{source}: [defaults]")
    rows_table = data.get("rows", {})
    if not isinstance(rows_table, dict) or not rows_table:
        raise ThresholdsError(f"{source}: no rows to check; add tables like [rows.\"proposed/vit_cpu\"] with bounds")
    rows: dict[str, Bounds] = {}
    for name, table in rows_table.items():
        if not ROW_NAME.match(name):
            raise ThresholdsError(f"{source}: row name {name!r} must be \"<scheme>/<network>\", \"<scheme>/none\" "
                                  f"or \"<scheme>/*\"")
        rows[name] = _parse_bounds(table, f"{source}: [rows.\"{name}\"]")
        if name.endswith(f"/{NO_NETWORK}") and rows[name].has_accuracy:
            raise ThresholdsError(f"{source}: [rows.\"{name}\"] sets an accuracy bound, but attack-only records "
                                  f"have no accuracy; use min_ssim.<attack> / max_ssim.<attack>")
    return Thresholds(source=source, meta=dict(meta), defaults=defaults, rows=rows)


def load_thresholds(path: str | Path) -> Thresholds:
    """Read and validate a THRESHOLDS TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdsError(f"thresholds file {path} not found; pass --check FILE.toml") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ThresholdsError(f"cannot read thresholds file {path}: {exc}") from None
    return parse_thresholds(data, str(path))


@dataclass(frozen=True)
class Finding:
    """One bound checked on one row (``bound`` is '' for a row without records)."""

    row: str
    bound: str
    ok: bool
    message: str
    value: float | None = None
    limit: float | None = None


def _records(n: int) -> str:
    return f"mean of {n} record{'s' if n != 1 else ''}"


def _compare(row: str, what: str, bound: str, value: float, limit: float, n: int) -> Finding:
    is_min = bound.startswith("min_")
    ok = value >= limit if is_min else value <= limit
    if ok:
        sign = ">=" if is_min else "<="
        text = f"ok   {row}: {what} {value:.4f} {sign} {bound} {limit:.4f} (margin {abs(value - limit):.4f}; {_records(n)})"
    elif is_min:
        text = f"FAIL {row}: {what} {value:.4f} < {bound} {limit:.4f} (short by {limit - value:.4f}; {_records(n)})"
    else:
        text = f"FAIL {row}: {what} {value:.4f} > {bound} {limit:.4f} (over by {value - limit:.4f}; {_records(n)})"
    return Finding(row, bound, ok, text, value, limit)


def _accuracy_findings(label: str, runs: list[Run], bounds: Bounds) -> list[Finding]:
    values = [r.accuracy for r in runs if r.accuracy is not None]
    out = []
    for bound, limit in (("min_accuracy", bounds.min_accuracy), ("max_accuracy", bounds.max_accuracy)):
        if limit is None:
            continue
        if not values:
            out.append(Finding(label, bound, False, f"FAIL {label}: no accuracy in its record(s) for {bound} {limit:.4f}"))
        else:
            out.append(_compare(label, "accuracy", bound, sum(values) / len(values), limit, len(values)))
    return out


def _ssim_findings(label: str, scheme: str, runs: list[Run], bounds: Bounds) -> list[Finding]:
    out = []
    for kind, table in (("min_ssim", bounds.min_ssim), ("max_ssim", bounds.max_ssim)):
        for attack, limit in sorted(table.items()):
            bound = f"{kind}.{attack}"
            values = [v for v in (best_reading(r.attacks[attack])[1] for r in runs if attack in r.attacks)
                      if not math.isnan(v)]
            na = [r.attacks[attack] for r in runs if r.attacks.get(attack, {}).get("status") == "not_applicable"]
            if not values and na:  # recorded as having no method for the scheme: the bound cannot be checked
                out.append(Finding(label, bound, False, f"FAIL {label}: {attack} is n/a for scheme {scheme} "
                                   f"({na[0].get('reason')}); drop {bound} from the row"))
            elif not values:
                out.append(Finding(label, bound, False,
                                   f"FAIL {label}: no {attack} result for scheme {scheme} (needed for {bound} {limit:.4f})"))
            else:
                out.append(_compare(label, f"{attack} SSIM", bound, sum(values) / len(values), limit, len(values)))
    return out


def check_records(records: RecordSet, thresholds: Thresholds) -> list[Finding]:
    """Every bound of every named row, in the file's row order (see the module docstring)."""
    findings: list[Finding] = []
    for row in thresholds.rows:
        scheme, network = row.split("/", 1)
        bounds = thresholds.bounds(row)
        scheme_runs = [r for r in records.runs if r.scheme == scheme]
        if network == "*":
            selected = scheme_runs
        else:
            selected = [r for r in scheme_runs if r.network == network]
        if not selected:
            where = ", ".join(f"{k} {v}" for k, v in records.filters.items())
            what = "attack-only record" if network == NO_NETWORK else "record"
            findings.append(Finding(row, "", False, f"FAIL {row}: no record (no complete {what} for this row"
                                    + (f" in {where}" if where else "") + f"; {bounds.count} bound(s) unchecked)"))
            continue
        if network == "*":
            networks = sorted({r.network for r in scheme_runs if r.network != NO_NETWORK}, key=network_sort_key)
            for net in networks:
                findings += _accuracy_findings(f"{scheme}/{net} (via {row})",
                                               [r for r in scheme_runs if r.network == net], bounds)
            if bounds.has_accuracy and not networks:
                findings.append(Finding(row, "accuracy", False, f"FAIL {row}: no record with a network, so no accuracy"))
        elif network != NO_NETWORK:
            findings += _accuracy_findings(row, selected, bounds)
        findings += _ssim_findings(row, scheme, scheme_runs, bounds)
    return findings


def _registry(kind: str) -> Any:
    """ppbench's registry of schemes, networks or attacks (imported only when a name needs checking: torch)."""
    if kind == "scheme":
        from ppbench.schemes import SCHEMES

        return SCHEMES
    if kind == "network":
        from ppbench.networks import NETWORKS

        return NETWORKS
    import ppbench.attacks  # noqa: F401 - registers every attack
    from ppbench.attacks.base import ATTACKS

    return ATTACKS


def check_names(records: RecordSet, thresholds: Thresholds) -> None:
    """ThresholdsError for a scheme, network or attack that neither the records nor ppbench know (a typo),
    with the close registered names; a known name without records stays a "no record" failure."""
    seen = {"scheme": {r.scheme for r in records.runs}, "network": {r.network for r in records.runs},
            "attack": {a for r in records.runs for a in r.attacks}}
    named = [("attack", attack, "[defaults]") for attack in (*thresholds.defaults.min_ssim, *thresholds.defaults.max_ssim)]
    for row, bounds in thresholds.rows.items():
        where = f'[rows."{row}"]'
        scheme, network = row.split("/", 1)
        named.append(("scheme", scheme, where))
        if network not in ("*", NO_NETWORK):
            named.append(("network", network, where))
        named += [("attack", attack, where) for attack in (*bounds.min_ssim, *bounds.max_ssim)]
    for kind, name, where in named:
        if name in seen[kind]:
            continue
        registry = _registry(kind)
        if name not in registry:
            raise ThresholdsError(f"{thresholds.source}: {where} names {registry.unknown_message(name)} Fix the "
                                  f"name (`ppbench list {kind}s`)")


def _warnings(records: RecordSet, thresholds: Thresholds) -> list[str]:
    out = []
    for row in thresholds.rows:
        scheme = row.split("/", 1)[0]
        runs = [r for r in records.runs if r.scheme == scheme]
        for what, values in (("profiles", {r.profile for r in runs}), ("datasets", {r.dataset for r in runs})):
            if len(values) > 1:
                out.append(f"warning: {row} averages records of several {what} "
                           f"({', '.join(sorted(values, key=natural_key))}); set [meta] to check one")
    wildcards = {row.split("/", 1)[0] for row in thresholds.rows if row.endswith("/*")}
    unchecked = sorted({f"{r.scheme}/{r.network}" for r in records.runs
                        if r.scheme not in wildcards and f"{r.scheme}/{r.network}" not in thresholds.rows},
                       key=natural_key)
    if unchecked:
        out.append(f"not checked (no bounds named): {', '.join(unchecked)}")
    return out


def run_check(results: str | Path, thresholds_path: str | Path, *, profile: str | None = None,
              dataset: str | None = None) -> tuple[int, list[str]]:
    """Load the thresholds and the records they select; return (exit status, report lines)."""
    thresholds = load_thresholds(thresholds_path)
    meta = dict(thresholds.meta)
    for key, value in (("profile", profile), ("dataset", dataset)):
        if value is not None and meta.get(key, value) != value:
            raise ThresholdsError(f"--{key} {value} contradicts [meta] {key} = {meta[key]!r} in {thresholds.source}")
        if value is not None:
            meta[key] = value
    records = load_results(results, profile=meta.get("profile"), dataset=meta.get("dataset"))
    check_names(records, thresholds)
    findings = check_records(records, thresholds)
    where = ", ".join(f"{k} {v}" for k, v in meta.items())
    lines = [f"check {thresholds.source}: {len(records.runs)} complete record(s) in {records.folder}"
             + (f" ({where})" if where else "")]
    lines += [f"note: {note}" for note in records.notes.lines()]
    lines += _warnings(records, thresholds)
    lines += [f.message for f in findings]
    failed = [f for f in findings if not f.ok]
    failed_rows = sorted({f.row for f in failed}, key=natural_key)
    if failed:
        lines.append(f"check FAILED: {len(failed)} of {len(findings)} check(s) failed in {len(failed_rows)} row(s): "
                     + ", ".join(failed_rows))
        return 1, lines
    lines.append(f"check passed: all {len(findings)} check(s) hold in {len(thresholds.rows)} row(s)")
    return 0, lines
