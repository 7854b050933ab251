"""Read every complete ``result.json`` under a folder, once, for all report views.

RobustBench's rule: records are the truth, tables and figures are views. This module is the one place
where reports read records (the contract is ``docs/records.md``, schema_version 1); Table I, Fig. 4 and
the regression check all take the :class:`RecordSet` it returns, so they can never disagree about which
runs exist. It reads JSON with the standard library and builds pandas frames; it never imports torch
or the training code, so ``ppbench report`` stays fast.

What it does with imperfect folders, and why (each case becomes a note that the reports print):

- ``status != "complete"``: skipped and counted. A running record is rewritten after every epoch, so
  its numbers are not final.
- unreadable JSON, an unsupported ``schema_version`` or a record without a scheme: skipped and named.
- several records for the same run (scheme, network, dataset, profile, seed): when their results agree
  they are *duplicates* and one is kept; when they differ they are a *conflict*: the latest finished
  record is used, and the note names every record and every differing number, so nothing is silently
  averaged or dropped.
- records outside ``profile`` / ``dataset`` filters are counted, not read further.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ppbench.errors import DataError
from ppbench.records import AttackEntry, DatasetEntry, Metrics, NetworkEntry, RecordConfig, RunRecord, SchemeEntry

RESULT_FILE = "result.json"
SUPPORTED_SCHEMA_VERSIONS = (1,)
NO_NETWORK = "none"
"""The network name reports use for attack-only records (``network: null`` in the record)."""

#: Schemes in the order of the seed paper's Table I; others follow alphabetically.
SCHEME_ORDER = ("le", "etc", "ele", "pe", "pe_np", "proposed", "plain")
#: Per-image best-reading fields of an attack entry (docs/records.md), copied into the attacks frame.
PER_IMAGE_FIELDS = ("ssim_best_image_mean", "ssim_best_image_median", "share_restored", "best_reading_images")
#: attacks-frame column -> key of ``metrics.recognition`` (``ppbench recognise``).
RECOGNITION_FIELDS = {"recognition_chance": "chance", "recognition_plain": "plain_accuracy",
                      "recognition_encrypted": "encrypted_accuracy"}
#: Baselines that carry no information about the image (``metrics.baselines``): what the share of restored images
#: is judged against. Not the ciphertext: one that resembles the image is itself a leak (``plain``'s is the image).
NO_INFORMATION_BASELINES = ("grey",)
#: How a learned attack's training went (attacks/stopping.py), copied into the attacks frame (absent: None).
TRAINING_FIELDS = ("epochs_run", "best_epoch", "stopped", "steps_run", "original_steps", "reduced")
#: Attacks in the order of the seed paper's Fig. 4; others follow alphabetically.
ATTACK_ORDER = ("fr", "fr_adv", "gan", "itn", "itn_unet")


def natural_key(name: str) -> list[Any]:
    """Sort key putting ``resnet2`` before ``resnet10`` (timm's natural order)."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", str(name)) if p != ""]


class Reading(str, enum.Enum):
    """How an attack's output was scored: as it is, colour-inverted (its negative) or mirrored left-right.

    The best reading counts (a restored negative or mirror image reveals the image as plainly); tables name
    an attack read otherwise than as is by its reading, ``gan (negative)`` (:meth:`label`)."""

    AS_IS = "as_is"
    NEGATIVE = "negative"
    MIRRORED = "mirrored"

    @property
    def field(self) -> str:
        """The attack entry's field holding this reading's mean SSIM."""
        return {"as_is": "ssim_mean", "negative": "ssim_mean_inverted", "mirrored": "ssim_mean_mirrored"}[self.value]

    @property
    def suffix(self) -> str:
        """'' as is, else ' (negative)' / ' (mirrored)': what display text appends to the attack or its SSIM."""
        return "" if self is Reading.AS_IS else f" ({self.value})"

    def label(self, attack: str) -> str:
        """``gan``, ``gan (negative)`` or ``gan (mirrored)``: the attack's name as tables show it."""
        return attack + self.suffix


def best_reading(entry: dict[str, Any]) -> tuple[Reading, float]:
    """(reading, SSIM) of an attack entry's best reading (ties: the first in :class:`Reading`'s order);
    (``Reading.AS_IS``, NaN) when the entry has no SSIM at all."""
    readings = [(reading, _num(entry.get(reading.field))) for reading in Reading]
    readings = [(reading, value) for reading, value in readings if not math.isnan(value)]
    return max(readings, key=lambda r: r[1]) if readings else (Reading.AS_IS, math.nan)


def scheme_sort_key(scheme: str) -> tuple[int, list[Any]]:
    """The paper's scheme order first, then any other scheme by name."""
    order = SCHEME_ORDER.index(scheme) if scheme in SCHEME_ORDER else len(SCHEME_ORDER)
    return order, natural_key(scheme)


def attack_sort_key(attack: str) -> tuple[int, list[Any]]:
    """The paper's attack order (FR, GAN, ITN) first, then any other attack by name."""
    order = ATTACK_ORDER.index(attack) if attack in ATTACK_ORDER else len(ATTACK_ORDER)
    return order, natural_key(attack)


def network_sort_key(network: str) -> tuple[int, list[Any]]:
    """Networks by natural name, attack-only (``none``) last."""
    return (1 if network == NO_NETWORK else 0), natural_key(network)


@dataclass(frozen=True)
class Run:
    """One complete record and the run folder it came from: ``record`` is its JSON object, ``typed`` the
    :class:`ppbench.records.RunRecord` every property here reads."""

    path: Path
    record: dict[str, Any]

    @cached_property
    def typed(self) -> RunRecord:
        return RunRecord.from_json(self.record)

    @property
    def run_id(self) -> str:
        return str(self.typed.run_id or self.path.name)

    @property
    def scheme(self) -> str:
        """The scheme's name, with ``+jpegQ`` for runs on JPEG-compressed ciphertexts (their own rows)."""
        name = str(_part(self.typed.scheme, SchemeEntry).name)
        quality = _part(self.typed.config, RecordConfig).get("jpeg_quality")
        return name if quality is None else f"{name}+jpeg{int(quality)}"

    @property
    def network(self) -> str:
        net = self.typed.network
        return str(net.name) if isinstance(net, NetworkEntry) and net.get("name") else NO_NETWORK

    @property
    def dataset(self) -> str:
        return str(_part(self.typed.dataset, DatasetEntry).get("name", "unknown"))

    @property
    def _dataset_json(self) -> dict[str, Any]:
        return _part(self.typed.dataset, DatasetEntry).to_json()

    @property
    def profile(self) -> str:
        return str(self.typed.get("profile") or "unknown")

    @property
    def data(self) -> str:
        """``sample 256/128``: the dataset name with the train / test images this run used (a profile may cut
        a data set, so one name can stand for different data)."""
        return data_label(self.dataset, self._dataset_json)

    @property
    def data_summary(self) -> str:
        """:func:`dataset_summary` of this run's data."""
        return dataset_summary(self.dataset, self._dataset_json)

    @property
    def seed(self) -> int | None:
        seed = self.typed.seed
        return int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else None

    @property
    def key(self) -> tuple[str, str, str, str, int | None]:
        """What identifies a run for reports: scheme, network, dataset, profile, seed."""
        return self.scheme, self.network, self.dataset, self.profile, self.seed

    @property
    def label(self) -> str:
        seed = "?" if self.seed is None else self.seed
        return f"{self.scheme}/{self.network} on {self.dataset}, profile {self.profile}, seed {seed}"

    @property
    def accuracy(self) -> float | None:
        value = _part(self.typed.metrics, Metrics).get("accuracy")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def baseline_share(self) -> float | None:
        """The largest share of test images a no-information baseline (a uniform grey image) gets
        restored by the verdict's SSIM level (``metrics.baselines.*.share_restored``); None in older records."""
        baselines = _part(self.typed.metrics, Metrics).get("baselines") or {}
        shares = [b.to_json().get("share_restored") for name, b in baselines.items() if name in NO_INFORMATION_BASELINES]
        shares = [float(v) for v in shares if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(shares) if shares else None

    @property
    def recognition(self) -> dict[str, Any]:
        """``metrics.recognition`` (``ppbench recognise``): the plain classifier's chance level and accuracies."""
        value = _part(self.typed.metrics, Metrics).get("recognition")
        return value if isinstance(value, dict) else {}

    @cached_property
    def attacks(self) -> dict[str, dict[str, Any]]:
        """Each attack entry (:class:`ppbench.records.AttackEntry`) as its JSON object."""
        attacks = _part(self.typed.metrics, Metrics).get("attacks") or {}
        return {str(k): v.to_json() for k, v in attacks.items() if isinstance(v, AttackEntry)}

    @property
    def config_hash(self) -> str:
        """The run id's last part (``<hash8>``: the resolved config's hash), or '' if it has none."""
        tail = self.run_id.rsplit("-", 1)[-1]
        return tail if re.fullmatch(r"[0-9a-f]{6,}", tail) else ""

    @property
    def image_size(self) -> str:
        size = (_part(self.typed.dataset, DatasetEntry).get("image_size")
                or _part(self.typed.scheme, SchemeEntry).get("image_size"))
        if isinstance(size, (list, tuple)) and len(size) == 2:
            return f"{size[0]}x{size[1]}"
        configured = self.record.get("config", {}).get("image_size") if isinstance(self.record, dict) else None
        if isinstance(configured, int) and not isinstance(configured, bool):
            return f"{configured}x{configured}"  # the run's --image-size (square)
        return "?"

    def results(self) -> dict[str, float | None]:
        """The numbers a report shows from this run, flat: compared to detect conflicting records."""
        out: dict[str, float | None] = {"accuracy": self.accuracy}
        for name, attack in self.attacks.items():
            for field_name in ("ssim_mean", "ciphertexts_to_break"):
                value = attack.get(field_name)
                out[f"{name} {field_name}"] = float(value) if isinstance(value, (int, float)) else None
        return out


@dataclass
class Notes:
    """Everything a reader must know about records that were not used as they are."""

    incomplete: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    filtered_out: int = 0

    def lines(self) -> list[str]:
        """One line per note, for Markdown lists and the terminal."""
        out: list[str] = []
        if self.incomplete:
            out.append(f"skipped {len(self.incomplete)} incomplete record(s) (status not complete): "
                       + "; ".join(self.incomplete))
        out += [f"unreadable record skipped: {u}" for u in self.unreadable]
        out += [f"conflict: {c}" for c in self.conflicts]
        out += [f"duplicate: {d}" for d in self.duplicates]
        if self.filtered_out:
            out.append(f"{self.filtered_out} complete record(s) outside the profile/dataset filter not shown")
        return out


@dataclass
class RecordSet:
    """The complete, de-duplicated runs under one results folder, plus notes on everything else."""

    folder: Path
    runs: list[Run]
    notes: Notes
    filters: dict[str, str] = field(default_factory=dict)

    def runs_frame(self) -> pd.DataFrame:
        """One row per run: identity, dataset facts and accuracy (NaN for attack-only runs)."""
        rows = []
        for run in self.runs:
            ds = _part(run.typed.dataset, DatasetEntry)
            rows.append({
                "run_id": run.run_id, "scheme": run.scheme, "network": run.network, "dataset": run.dataset,
                "num_classes": ds.get("num_classes"), "n_train": ds.get("n_train"), "n_test": ds.get("n_test"),
                "image_size": run.image_size, "profile": run.profile, "seed": run.seed,
                "accuracy": math.nan if run.accuracy is None else run.accuracy, "path": str(run.path),
                "data": run.data, "data_summary": run.data_summary,
            })
        columns = ["run_id", "scheme", "network", "dataset", "num_classes", "n_train", "n_test", "image_size",
                   "profile", "seed", "accuracy", "path", "data", "data_summary"]
        return pd.DataFrame(rows, columns=columns)

    def attacks_frame(self) -> pd.DataFrame:
        """One row per (run, attack): the attack's summary numbers.

        ``ssim_best`` / ``reading``: the best of the attack's SSIM readings in this record and which one it
        is (a :class:`Reading`). ``ciphertexts_to_break``: NaN where the entry has no curve, ``inf`` where its curve
        never reached the break level (``curve_max_n``: the largest n it tried). ``status``: ``ok``, or
        ``not_applicable`` for an attack that has no method for the scheme (no numbers; ``reason`` says why).
        ``generic``: the attack knows nothing of the scheme beyond its threat model (absent in older records:
        False). ``chosen_images`` / ``broken``: what a chosen-plaintext attack asked for, and whether it broke.
        ``ssim_best_image_mean`` / ``_median``, ``share_restored``, ``best_reading_images``: each image by its
        own best reading (NaN in older records). ``recognition_accuracy``: the plain classifier's accuracy on
        the restored images; ``recognition_chance`` / ``recognition_plain`` / ``recognition_encrypted``: its
        chance level and its accuracy on the plain and this run's encrypted test images (``metrics.recognition``;
        NaN until ``ppbench recognise`` ran). ``baseline_share``: :attr:`Run.baseline_share` (NaN in older
        records); ``image_size``: :attr:`Run.image_size` (what the verdict's calibration holds for). ``version``, ``train_seconds`` and :data:`TRAINING_FIELDS`: which
        version of the attack ran and, for a learned one, how long it trained and why it stopped (None / NaN
        where the record has none)."""
        rows = []
        for run in self.runs:
            recognition, baseline_share = run.recognition, run.baseline_share
            for name, attack in run.attacks.items():
                ctb = attack.get("ciphertexts_to_break")
                curve = attack.get("curve") or []
                if "ciphertexts_to_break" in attack and ctb is None:
                    ctb = math.inf  # tried, never broken within the curve
                reading, best = best_reading(attack)
                rows.append({
                    "run_id": run.run_id, "scheme": run.scheme, "network": run.network, "dataset": run.dataset,
                    "data": run.data, "profile": run.profile, "seed": run.seed, "attack": name,
                    "ssim_mean": _num(attack.get("ssim_mean")), "ssim_std": _num(attack.get("ssim_std")),
                    "ssim_mean_inverted": _num(attack.get("ssim_mean_inverted")),
                    "ssim_mean_mirrored": _num(attack.get("ssim_mean_mirrored")),
                    "n_images": attack.get("n_images"),
                    "threat_model": str(attack.get("threat_model") or "ciphertext_only"),
                    "ciphertexts_to_break": _num(ctb) if ctb is not None else math.nan,
                    "curve_max_n": max((int(p["n"]) for p in curve), default=math.nan),
                    "ssim_best": best, "reading": reading,
                    "status": str(attack.get("status") or "ok"), "reason": attack.get("reason"),
                    "generic": bool(attack.get("generic", False)),
                    "chosen_images": _num(attack.get("chosen_images")) if "chosen_images" in attack else math.nan,
                    "broken": attack.get("broken"),
                    **{name: _num(attack.get(name)) for name in PER_IMAGE_FIELDS},
                    **{name: _num(recognition.get(key)) for name, key in RECOGNITION_FIELDS.items()},
                    "recognition_accuracy": _num(attack.get("recognition_accuracy")),
                    "baseline_share": _num(baseline_share), "image_size": run.image_size,
                    "version": attack.get("version"), "train_seconds": _num(attack.get("train_seconds")),
                    **{name: attack.get(name) for name in TRAINING_FIELDS},
                })
        columns = ["run_id", "scheme", "network", "dataset", "data", "profile", "seed", "attack", "ssim_mean", "ssim_std",
                   "ssim_mean_inverted", "ssim_mean_mirrored", "n_images", "threat_model", "ciphertexts_to_break",
                   "curve_max_n", "ssim_best", "reading", "status", "reason", "generic", "chosen_images", "broken",
                   *PER_IMAGE_FIELDS, *RECOGNITION_FIELDS, "recognition_accuracy", "baseline_share", "image_size", "version",
                   "train_seconds", *TRAINING_FIELDS]
        return pd.DataFrame(rows, columns=columns)

    def describe(self) -> str:
        """'N runs; profiles ...; datasets ...; image sizes ...' for report headers."""
        return describe_runs(self.runs)


def describe_runs(runs: Iterable[Run]) -> str:
    """Say how many runs, and from which profiles, datasets (each distinct size of one once) and image sizes;
    a plural ("profiles", "datasets") says the runs differ, and then a view must say which per row."""
    runs = list(runs)
    if not runs:
        return "0 runs"
    profiles = sorted({r.profile for r in runs}, key=natural_key)
    datasets = sorted({r.data_summary for r in runs}, key=natural_key)
    sizes = sorted({r.image_size for r in runs}, key=natural_key)

    def listed(noun: str, values: list[str]) -> str:
        return f"{noun}{'s' if len(values) > 1 else ''} {', '.join(values)}"

    return (f"{len(runs)} run(s); {listed('profile', profiles)}; {listed('dataset', datasets)}; "
            f"{listed('image size', sizes)}")


def data_label(name: str, ds: dict[str, Any]) -> str:
    """``sample 256/128`` (name, train / test images): short enough for a table cell."""
    n_train, n_test = ds.get("n_train"), ds.get("n_test")
    return f"{name} {n_train}/{n_test}" if n_train is not None and n_test is not None else name


def dataset_summary(name: str, ds: dict[str, Any]) -> str:
    """``sample (CIFAR-10 subset: 2000 train / 500 test, 10 classes)``: what a dataset column really holds."""
    family = "CIFAR-100" if ds.get("num_classes") == 100 else "CIFAR-10"
    full = (name.lower().replace("-", "") == family.lower().replace("-", "")
            and ds.get("n_train") in (None, 50000) and ds.get("n_test") in (None, 10000))
    kind = family if full else f"{family} subset"
    parts = []
    if ds.get("n_train") is not None and ds.get("n_test") is not None:
        parts.append(f"{ds['n_train']} train / {ds['n_test']} test")
    if ds.get("num_classes") is not None:
        parts.append(f"{ds['num_classes']} classes")
    return f"{name} ({kind}" + (": " + ", ".join(parts) if parts else "") + ")"


def _part(value: Any, cls: type) -> Any:
    """``value`` if it is a ``cls`` part of a record, else an empty one (a section absent or not an object)."""
    return value if isinstance(value, cls) else cls()


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _read(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The record at ``path`` (its JSON object, read through :class:`ppbench.records.RunRecord`), or None
    and why not."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path}: {type(exc).__name__}: {exc}"
    if not isinstance(record, dict):
        return None, f"{path}: not a JSON object"
    if record.get("schema_version") not in SUPPORTED_SCHEMA_VERSIONS:
        return None, (f"{path}: schema_version {record.get('schema_version')!r} "
                      f"(this report reads {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})")
    typed = RunRecord.from_json(record)
    if not isinstance(typed.scheme, SchemeEntry) or not typed.scheme.get("name"):
        return None, f"{path}: no scheme.name"
    return typed.to_json(), ""


def _finished(run: Run) -> tuple[str, str]:
    return str(run.typed.get("finished_at") or ""), str(run.path)


def _differences(runs: list[Run]) -> list[str]:
    """'accuracy 0.4370 (run-a) vs 0.5120 (run-b)' for every number the runs disagree on."""
    results = [r.results() for r in runs]
    names = sorted({k for res in results for k in res})
    out = []
    for name in names:
        values = [res.get(name) for res in results]
        present = [v for v in values if v is not None]
        if len(present) < 2 or all(math.isclose(v, present[0], rel_tol=0, abs_tol=1e-12) for v in present):
            continue
        out.append(f"{name} " + " vs ".join(f"{v:.4f} ({r.run_id})" for v, r in zip(values, runs) if v is not None))
    return out


def _resolve(group: list[Run], notes: Notes) -> Run:
    """Keep one run of records that describe the same run; note duplicates and conflicts."""
    group = sorted(group, key=_finished)
    kept = group[-1]
    if len(group) == 1:
        return kept
    diffs = _differences(group)
    where = ", ".join(f"{r.run_id} [{r.path}]" for r in group)
    if not diffs:
        notes.duplicates.append(f"{kept.label}: {len(group)} records with the same results ({where}); one kept")
        return kept
    hashes = {r.config_hash for r in group}
    why = "different configs" if len(hashes) > 1 else "same config, different results"
    notes.conflicts.append(f"{kept.label}: {len(group)} records disagree ({why}): {'; '.join(diffs)}; "
                           f"using the latest finished, {kept.run_id}")
    return kept


def find_result_files(folder: Path) -> list[Path]:
    """Every ``result.json`` under ``folder`` (any depth), sorted for a stable order."""
    return sorted(p for p in folder.rglob(RESULT_FILE) if p.is_file())


def load_results(folder: str | Path, *, profile: str | None = None, dataset: str | None = None) -> RecordSet:
    """Read ``folder`` into a :class:`RecordSet` (complete runs only; see the module docstring).

    ``profile`` and ``dataset`` keep only the records whose ``profile`` / ``dataset.name`` equal them.
    A folder that does not exist is an error; an empty one is an empty set (reports then say so).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"results folder {folder} not found; pass --results DIR (the folder `ppbench run` writes to)")
    notes = Notes()
    groups: dict[tuple[Any, ...], list[Run]] = {}
    for path in find_result_files(folder):
        record, problem = _read(path)
        if record is None:
            notes.unreadable.append(problem)
            continue
        run = Run(path.parent, record)
        if run.typed.get("status") != "complete":
            notes.incomplete.append(f"{run.run_id} (status {run.typed.get('status')!r})")
            continue
        if (profile is not None and run.profile != profile) or (dataset is not None and run.dataset != dataset):
            notes.filtered_out += 1
            continue
        groups.setdefault(run.key, []).append(run)
    runs = [_resolve(group, notes) for _, group in sorted(groups.items(), key=lambda kv: str(kv[0]))]
    runs.sort(key=lambda r: (scheme_sort_key(r.scheme), network_sort_key(r.network), r.dataset, r.profile,
                             -1 if r.seed is None else r.seed))
    filters = {k: v for k, v in (("profile", profile), ("dataset", dataset)) if v is not None}
    return RecordSet(folder=folder, runs=runs, notes=notes, filters=filters)
