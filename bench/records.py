"""Result records: one ``result.json`` per run (docs/records.md), written atomically, read into tables.

A record is the single source of truth for reports: tables and figures are rendered from records with
pandas, never typed. :class:`RunRecord` is the record's one type: the runner writes through it and every
reader reads through it; ``RunRecord.from_json(d).to_json() == d`` for every record, old or new (keys a
part does not know are kept in its ``extra``, absent keys stay absent). :func:`load_records` reads a
results folder into one ``pandas.DataFrame`` with flattened columns (``metrics.accuracy``, ``config.lr``,
``metrics.attacks.itn.ssim_mean``, ...).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterator, TypeVar

from .atomic import atomic_write_json
from .errors import CheckpointError

__all__ = ["SCHEMA_VERSION", "REQUIRED_KEYS", "RECORD_FILE", "validate_record", "write_record", "read_record",
           "read_run_record", "iter_records", "load_records", "missing_keys", "RunRecord", "SchemeEntry",
           "NetworkEntry", "DatasetEntry", "RecordConfig", "Environment", "Metrics", "Epoch", "AttackEntry",
           "CurvePoint", "Summary", "PaperFigures", "UNSET"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RECORD_FILE = "result.json"
REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version", "run_id", "status", "scheme", "scheme.name", "scheme.version", "network", "dataset",
    "dataset.name", "profile", "seed", "config", "metrics", "environment", "environment.python",
    "environment.torch", "environment.timm", "environment.ppbench", "environment.git_commit",
    "environment.device_name", "started_at", "duration_s",
)


# -- the record's type ----------------------------------------------------------------------------------------
class _Unset:
    """The value of a field the record does not have (absent, which is not the same as ``null``)."""

    _instance: ClassVar["_Unset | None"] = None

    def __new__(cls) -> "_Unset":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNSET"

    def __deepcopy__(self, memo: dict[int, Any]) -> "_Unset":
        return self


UNSET: Any = _Unset()
"""A field absent from the record: ``to_json`` leaves it out (``None`` is written as ``null``)."""

_P = TypeVar("_P", bound="_Part")


def _part(cls: type, kind: str = "one") -> Any:
    """A field holding a nested part (``kind``: ``one``, ``map`` of name -> part, ``list`` of parts)."""
    return field(default=UNSET, metadata={"part": cls, "kind": kind})


class _Part:
    """One JSON object of a record: known keys as typed fields, the rest in ``extra``, key order kept.

    A field set to :data:`UNSET` is absent from the JSON; a nested value that is not a JSON object where a
    part is expected is kept as it is, so that any record loads and round-trips unchanged.
    """

    extra: dict[str, Any]
    _order: list[str]

    @classmethod
    def _known(cls) -> list[Any]:
        return [f for f in fields(cls) if f.name != "extra"]  # type: ignore[arg-type]

    @classmethod
    def from_json(cls: type[_P], data: dict[str, Any]) -> _P:
        """The part for the JSON object ``data`` (not modified; nothing is shared with it)."""
        if not isinstance(data, dict):
            raise CheckpointError(f"a {cls.__name__} must be a JSON object, not {type(data).__name__}; "
                                  "fix or delete the record")
        known = {f.name: f for f in cls._known()}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                values[key] = _decode(known[key], value)
            else:
                extra[key] = copy.deepcopy(value)
        part = cls(**values, extra=extra)  # type: ignore[call-arg]
        object.__setattr__(part, "_order", list(data))
        return part

    def to_json(self) -> dict[str, Any]:
        """The JSON object: keys in the order they were read, then new fields in declaration order, then
        new ``extra`` keys."""
        names = [f.name for f in self._known()]
        order = list(dict.fromkeys([*getattr(self, "_order", []), *names, *self.extra]))
        out: dict[str, Any] = {}
        for key in order:
            if key in names:
                value = getattr(self, key)
                if value is not UNSET:
                    out[key] = _encode(value)
            elif key in self.extra:
                out[key] = copy.deepcopy(self.extra[key])
        return out

    def get(self, key: str, default: Any = None) -> Any:
        """A field or ``extra`` value by its JSON key; ``default`` when absent."""
        if key in {f.name for f in self._known()}:
            value = getattr(self, key)
            return default if value is UNSET else value
        return self.extra.get(key, default)


def _decode(f: Any, value: Any) -> Any:
    cls = f.metadata.get("part")
    if cls is None:
        return copy.deepcopy(value)
    kind = f.metadata["kind"]
    if kind == "one":
        return cls.from_json(value) if isinstance(value, dict) else copy.deepcopy(value)
    if kind == "map" and isinstance(value, dict):
        return {k: cls.from_json(v) if isinstance(v, dict) else copy.deepcopy(v) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [cls.from_json(v) if isinstance(v, dict) else copy.deepcopy(v) for v in value]
    return copy.deepcopy(value)


def _encode(value: Any) -> Any:
    if isinstance(value, _Part):
        return value.to_json()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


@dataclass
class SchemeEntry(_Part):
    """``scheme``: the encryption and its key's fingerprint (never the key)."""

    name: str = UNSET
    version: int = UNSET
    image_size: list[int] = UNSET
    block_size: int | None = UNSET
    key_id: str | None = UNSET
    key_space_bits: float = UNSET
    adapter: str | None = UNSET
    info: dict[str, Any] = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class NetworkEntry(_Part):
    """``network``: the classifier (null in the record for attack-only runs)."""

    name: str = UNSET
    family: str | None = UNSET
    adapter: str | None = UNSET
    params: int = UNSET
    pretrained: bool = UNSET
    weights: str | None = UNSET
    from_scratch: bool = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetEntry(_Part):
    """``dataset``: the data the run used (``n_train`` / ``n_test``: the counts actually used)."""

    name: str = UNSET
    source: str = UNSET
    n_train: int = UNSET
    n_test: int = UNSET
    num_classes: int = UNSET
    native_size: list[int] = UNSET
    classes: list[str] = UNSET
    image_size: list[int] = UNSET
    spec: str = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordConfig(_Part):
    """``config``: the resolved run config; the fields readers use are typed, every other one is in
    ``extra`` (the full list is ``ppbench.config.OPTION_NAMES``)."""

    scheme: str = UNSET
    network: str | None = UNSET
    dataset: str = UNSET
    profile: str = UNSET
    seed: int = UNSET
    image_size: int = UNSET
    epochs: int | None = UNSET
    batch_size: int = UNSET
    attacks: list[str] = UNSET
    attacker_data: str = UNSET
    n_attack_images: int = UNSET
    jpeg_quality: int | None = UNSET
    device: str = UNSET
    derived: dict[str, Any] = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Environment(_Part):
    """``environment``: versions, commit and device the run ran with."""

    python: str = UNSET
    torch: str = UNSET
    torchvision: str | None = UNSET
    timm: str | None = UNSET
    numpy: str | None = UNSET
    ppbench: str = UNSET
    git_commit: str | None = UNSET
    git_describe: str | None = UNSET
    git_dirty: bool | None = UNSET
    device: str = UNSET
    device_name: str = UNSET
    torch_threads: int = UNSET
    cuda: str | None = UNSET
    platform: str = UNSET
    hostname_hash: str = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Epoch(_Part):
    """One entry of ``metrics.history``."""

    epoch: int = UNSET
    step: int = UNSET
    lr: float = UNSET
    train_loss: float = UNSET
    train_accuracy: float = UNSET
    test_accuracy: float = UNSET
    images_per_s: float = UNSET
    seconds: float = UNSET
    eval_seconds: float = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Summary(_Part):
    """SSIM / PSNR over the test images (``metrics.baselines.<name>``); the no-information baselines (ciphertext,
    grey) also with the per-image best-reading fields of an attack entry."""

    ssim_mean: float = UNSET
    ssim_median: float = UNSET
    ssim_std: float = UNSET
    psnr_mean: float = UNSET
    n_images: int = UNSET
    ssim_best_image_mean: float = UNSET
    ssim_best_image_median: float = UNSET
    share_restored: float = UNSET
    restored_image_ssim: float = UNSET
    best_reading_images: int = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CurvePoint(_Part):
    """One point of a key-recovery curve (``metrics.attacks.<name>.curve[]``)."""

    n: int = UNSET
    ssim_mean: float = UNSET
    ssim_best: float = UNSET
    exact_key: bool = UNSET
    seconds: float = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AttackEntry(_Part):
    """``metrics.attacks.<name>``: one attack's result (docs/records.md lists when each field is present)."""

    ssim_mean: float = UNSET
    ssim_median: float = UNSET
    ssim_std: float = UNSET
    psnr_mean: float = UNSET
    n_images: int = UNSET
    ssim_mean_inverted: float = UNSET
    ssim_mean_mirrored: float = UNSET
    ciphertexts_to_break: int | None = UNSET
    break_ssim: float = UNSET
    smallest_exact_n: int | None = UNSET
    curve: list[CurvePoint] = _part(CurvePoint, "list")
    in_family: bool = UNSET
    ambiguous_bits: int = UNSET
    chosen_images: int = UNSET
    broken: bool = UNSET
    status: str = UNSET
    reason: str = UNSET
    threat_model: str = UNSET
    train_seconds: float = UNSET
    config: dict[str, Any] = UNSET
    version: int = UNSET
    generic: bool = UNSET
    ssim_preset: str = UNSET
    files: dict[str, str] = UNSET
    attacker_data: str = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Metrics(_Part):
    """``metrics``: training history and accuracy, attacks and baselines."""

    history: list[Epoch] = _part(Epoch, "list")
    accuracy: float | None = UNSET
    train_seconds: float = UNSET
    attacks: dict[str, AttackEntry] = _part(AttackEntry, "map")
    baselines: dict[str, Summary] = _part(Summary, "map")
    attacker_data: dict[str, Any] = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PaperFigures(_Part):
    """``paper``: the seed paper's Table I row for the run's scheme and network family."""

    network: str = UNSET
    accuracy_cifar10: float | None = UNSET
    accuracy_cifar100: float | None = UNSET
    security: str | None = UNSET
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord(_Part):
    """One ``result.json`` (docs/records.md): ``RunRecord.from_json(d).to_json() == d`` for every record."""

    schema_version: int = UNSET
    run_id: str = UNSET
    status: str = UNSET
    scheme: SchemeEntry = _part(SchemeEntry)
    network: NetworkEntry | None = _part(NetworkEntry)
    dataset: DatasetEntry = _part(DatasetEntry)
    profile: str = UNSET
    seed: int = UNSET
    config: RecordConfig = _part(RecordConfig)
    metrics: Metrics = _part(Metrics)
    paper: PaperFigures | None = _part(PaperFigures)
    environment: Environment = _part(Environment)
    started_at: str = UNSET
    finished_at: str | None = UNSET
    duration_s: float = UNSET
    error: str = UNSET
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self, source: str = "the record") -> "RunRecord":
        """``self`` if its JSON follows the contract (:func:`validate_record`), else CheckpointError."""
        validate_record(self.to_json(), source)
        return self


def _lookup(record: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def missing_keys(record: dict[str, Any]) -> list[str]:
    """Required keys (dotted) absent from ``record``; a trained, complete run also needs its accuracy."""
    missing = [k for k in REQUIRED_KEYS if not _lookup(record, k)[0]]
    if record.get("status") == "complete" and record.get("network") is not None:
        missing += [k for k in ("metrics.accuracy", "metrics.history") if not _lookup(record, k)[0]]
    return missing


def validate_record(record: dict[str, Any], source: str = "the record") -> dict[str, Any]:
    """Return ``record`` if it follows the contract, else raise CheckpointError naming what is wrong."""
    if not isinstance(record, dict):
        raise CheckpointError(f"{source} is not a JSON object")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise CheckpointError(f"{source} has schema_version {record.get('schema_version')!r}; this ppbench reads "
                              f"{SCHEMA_VERSION}")
    missing = missing_keys(record)
    if missing:
        raise CheckpointError(f"{source} lacks required key(s): {', '.join(missing)}")
    accuracy = _lookup(record, "metrics.accuracy")[1]
    if accuracy is not None and not 0.0 <= float(accuracy) <= 1.0:
        raise CheckpointError(f"{source}: metrics.accuracy {accuracy!r} is not a fraction in [0, 1]")
    return record


def write_record(run_dir: Path, record: RunRecord | dict[str, Any]) -> Path:
    """Validate and write ``run_dir/result.json`` atomically (a dict is written through :class:`RunRecord`)."""
    path = Path(run_dir) / RECORD_FILE
    typed = record if isinstance(record, RunRecord) else RunRecord.from_json(record)
    data = typed.to_json()
    validate_record(data, str(path))
    atomic_write_json(path, data, mode=0o644)
    return path


def read_run_record(path: str | os.PathLike) -> RunRecord:
    """Read and validate one ``result.json`` (a folder holding one is accepted too) as a :class:`RunRecord`."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"no result record at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"result record {path} is corrupt ({exc.__class__.__name__}); delete its run folder "
                              f"or rerun with --force") from None
    return RunRecord.from_json(validate_record(record, str(path)))


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """:func:`read_run_record` as the record's JSON object (for readers that index the record as a dict)."""
    return read_run_record(path).to_json()


def _record_paths(folder: Path) -> list[Path]:
    if (folder / RECORD_FILE).is_file():
        return [folder / RECORD_FILE]
    return sorted(folder.glob(f"*/{RECORD_FILE}"))


def iter_records(folder: str | os.PathLike, *, include_incomplete: bool = False,
                 skipped: dict[str, list[str]] | None = None) -> Iterator[dict[str, Any]]:
    """Yield the records under ``folder`` (``folder/*/result.json``), complete ones unless asked.

    Unreadable records and skipped incomplete ones are logged and listed in ``skipped`` if given
    (keys ``unreadable`` and ``incomplete``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"results folder {folder} does not exist")
    found = skipped if skipped is not None else {}
    found.setdefault("unreadable", [])
    found.setdefault("incomplete", [])
    for path in _record_paths(folder):
        try:
            record = read_record(path)
        except CheckpointError as exc:
            log.warning("skipping %s", exc)
            found["unreadable"].append(str(path))
            continue
        if record.get("status") != "complete" and not include_incomplete:
            found["incomplete"].append(str(path))
            continue
        yield record
    if found["incomplete"]:
        log.info("skipped %d incomplete record(s) under %s", len(found["incomplete"]), folder)


def load_records(folder: str | os.PathLike, *, include_incomplete: bool = False):
    """All records under ``folder`` as one pandas DataFrame with dotted, flattened columns.

    Lists (``metrics.history``) stay as Python objects in their cell. ``df.attrs["skipped"]`` holds the
    paths of unreadable and incomplete records that were left out.
    """
    import pandas as pd

    skipped: dict[str, list[str]] = {}
    records = list(iter_records(folder, include_incomplete=include_incomplete, skipped=skipped))
    frame = pd.json_normalize(records, sep=".") if records else pd.DataFrame(columns=["run_id"])
    frame.attrs["skipped"] = skipped
    return frame
