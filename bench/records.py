"""Result records: one ``result.json`` per run (docs/records.md), written atomically, read into tables.

A record is the single source of truth for reports: tables and figures are rendered from records with
pandas, never typed. :func:`load_records` reads a results folder into one ``pandas.DataFrame`` with
flattened columns (``metrics.accuracy``, ``config.lr``, ``metrics.attacks.itn.ssim_mean``, ...).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator

from .atomic import atomic_write_json
from .errors import CheckpointError

__all__ = ["SCHEMA_VERSION", "REQUIRED_KEYS", "RECORD_FILE", "validate_record", "write_record", "read_record",
           "iter_records", "load_records", "missing_keys"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RECORD_FILE = "result.json"
REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version", "run_id", "status", "scheme", "scheme.name", "scheme.version", "network", "dataset",
    "dataset.name", "profile", "seed", "config", "metrics", "environment", "environment.python",
    "environment.torch", "environment.timm", "environment.ppbench", "environment.git_commit",
    "environment.device_name", "started_at", "duration_s",
)


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


def write_record(run_dir: Path, record: dict[str, Any]) -> Path:
    """Validate and write ``run_dir/result.json`` atomically."""
    path = Path(run_dir) / RECORD_FILE
    validate_record(record, str(path))
    atomic_write_json(path, record, mode=0o644)
    return path


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate one ``result.json`` (a folder holding one is accepted too)."""
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
    return validate_record(record, str(path))


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
