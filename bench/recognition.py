"""``ppbench recognise``: the study's plain-trained classifier's accuracy on what each attack restored.

An objective second reading of "restored" beside SSIM (Table I's verdict rule, :mod:`ppbench.reports.security`,
reads it): the classifier a study trained on plain images (the complete ``plain`` run of the same profile, data
set and image size; every seed of it) classifies each attack's restored images (``attacks/<name>_restored.npz``),
whose labels are the first test labels of the run's data set. Beside it, per run, the same classifier's chance
level (1 / classes), its accuracy on the same plain test images and on this run's ciphertexts (which need the run's
``key.json``; committed studies keep no keys, so there it stays None and ``encrypted_note`` says why).

Written into each record (atomically, every other field as it was): per attack entry ``recognition_accuracy`` (the
mean over the classifier's seeds), ``recognition_accuracy_std`` (sample std over seeds; None for one seed) and
``recognition_images``; per run ``metrics.recognition`` (:func:`recognition_section`). Running it again gives the
same records.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import CheckpointError, KeyFileError, PPBenchError
from .records import RECORD_FILE, RunRecord, read_record, write_record
from .transforms import resize_uint8

__all__ = ["RecognitionError", "recognise", "load_classifier", "accuracy", "find_classifiers"]

log = logging.getLogger(__name__)

PLAIN_SCHEME = "plain"
BATCH = 256


class RecognitionError(PPBenchError):
    """A study ``ppbench recognise`` cannot measure: no plain run, or a plain run without its checkpoint."""


@dataclass
class Classifier:
    """One seed of the study's plain-trained classifier: its record and its network, loaded once."""

    run_dir: Path
    record: dict[str, Any]
    model: torch.nn.Module


# -- the classifier -----------------------------------------------------------------------------------------
def load_classifier(run_dir: str | Path, *, device: str = "cpu") -> torch.nn.Module:
    """The network of a complete run folder, rebuilt as the runner builds it and loaded from its checked
    ``checkpoint.pt`` (checksum, config hash and key id verified), in eval mode on ``device``."""
    from .config import RunConfig
    from .runfolder import CHECKPOINT_FILE
    from .runner import build_network
    from .train import load_checkpoint

    run_dir = Path(run_dir)
    record = read_record(run_dir / RECORD_FILE)
    if record.get("network") is None:
        raise RecognitionError(f"{run_dir} is an attack-only run (no classifier); pass the folder of a trained "
                               f"`--scheme {PLAIN_SCHEME}` run")
    path = run_dir / CHECKPOINT_FILE
    if not path.is_file():  # committed studies keep no checkpoints; a complete run is skipped unless forced
        c = record["config"]
        attacks = " --attack " + " ".join(c["attacks"]) if c.get("attacks") else ""
        raise RecognitionError(f"{run_dir} has no {CHECKPOINT_FILE}; re-run `ppbench run --scheme {c['scheme']} "
                               f"--network {c['network']} --profile {c['profile']} --dataset {c['dataset']} --seed "
                               f"{c['seed']}{attacks} --results {run_dir.parent} --force` (with any other option it was "
                               f"made with) to make one")
    config = RunConfig.from_record(record["config"])
    config = dataclasses.replace(config, execution=dataclasses.replace(config.execution, device=device))
    config_hash = str(record["config"].get("derived", {}).get("config_hash") or record["run_id"].rsplit("-", 1)[-1])
    payload = load_checkpoint(path, config_hash, record["scheme"].get("key_id"))
    model = build_network(config, int(record["dataset"]["num_classes"]), device)  # the runner's network
    try:
        model.load_state_dict(payload["model"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit the network its record names ({str(exc)[:200]}); "
                              f"re-run that run with --force") from None
    return model.eval()


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class predictions for uint8 N x 3 x H x W ``images`` (as the runner feeds them: float in [0, 1])."""
    device = next(model.parameters()).device
    out = [model(images[s:s + BATCH].to(device).float().div_(255.0)).argmax(1).cpu()
           for s in range(0, images.shape[0], BATCH)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy (a fraction) of ``model`` on uint8 ``images`` with integer ``labels``."""
    if images.shape[0] == 0:
        return float("nan")
    return float((predict(model, images) == labels[: images.shape[0]].cpu()).double().mean())


def find_classifiers(records: list[tuple[Path, dict[str, Any]]], run: dict[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """The complete plain runs of ``run``'s study (same profile, data set and image size), every seed of one
    network: the run's own network when the study has a plain one with its checkpoint, else the first by name
    (of those with checkpoints, when any has one)."""
    def same_study(other: dict[str, Any]) -> bool:
        return (other["scheme"].get("name") == PLAIN_SCHEME and other.get("network") is not None
                and other.get("profile") == run.get("profile")
                and other["dataset"].get("name") == run["dataset"].get("name")
                and list(other["dataset"].get("image_size") or []) == list(run["dataset"].get("image_size") or []))

    found = sorted(((p, r) for p, r in records if same_study(r)), key=lambda pr: (pr[1]["network"]["name"], pr[1].get("seed") or 0))
    if not found:
        data = run["dataset"]
        raise RecognitionError(
            f"no complete `{PLAIN_SCHEME}` run of profile {run.get('profile')}, data set {data.get('name')} at "
            f"{(data.get('image_size') or ['?'])[0]}px in this study (needed for {run['run_id']}); run `ppbench run "
            f"--scheme {PLAIN_SCHEME} --profile {run.get('profile')} --dataset {data.get('spec', data.get('name'))} "
            f"--results DIR` into the same results folder first")
    from .runfolder import CHECKPOINT_FILE

    usable = [(p, r) for p, r in found if (p / CHECKPOINT_FILE).is_file()] or found  # none: load_classifier says why
    own = (run.get("network") or {}).get("name")
    network = own if any(r["network"]["name"] == own for _, r in usable) else usable[0][1]["network"]["name"]
    return [(p, r) for p, r in usable if r["network"]["name"] == network]


# -- the study ----------------------------------------------------------------------------------------------
def recognise(results_dir: str | Path, *, device: str = "cpu", progress: bool | None = None,
              echo: Callable[[str], None] | None = None) -> list[str]:
    """Measure every complete run under ``results_dir`` with the study's plain classifier and rewrite its
    record (see the module docstring); returns one line per run and attack (also passed to ``echo``)."""
    from tqdm.auto import tqdm

    results_dir = Path(results_dir)
    records = complete_records(results_dir)
    targets = [(p, r) for p, r in records if _restored_entries(r)]
    if not targets:
        raise RecognitionError(f"no complete run under {results_dir} has restored images (attacks/*_restored.npz); "
                               f"run `ppbench run ... --attack NAME --results {results_dir}` first")
    models: dict[Path, Classifier] = {}
    lines: list[str] = []
    refused: list[RecognitionError] = []
    for run_dir, record in tqdm(targets, desc="recognise", unit="run", disable=(None if progress is None else not progress)):
        try:
            classifiers = [models.get(p) or models.setdefault(p, Classifier(p, r, load_classifier(p, device=device)))
                           for p, r in find_classifiers(records, record)]
        except RecognitionError as exc:  # e.g. a run at a size the study trained no plain classifier at
            refused.append(exc)
            run_lines = [f"{record['run_id']}: skipped: {exc}"]
        else:
            run_lines = _recognise_run(run_dir, record, classifiers)
        for line in run_lines:
            if echo is not None:
                echo(line)
        lines += run_lines
    if len(refused) == len(targets):  # nothing measured: the study lacks its plain classifier
        raise refused[0]
    return lines


def _recognise_run(run_dir: Path, record: dict[str, Any], classifiers: list[Classifier]) -> list[str]:
    """Classify one run's restored, plain and encrypted test images; write its record; its lines."""
    entries = _restored_entries(record)
    restored = {name: _restored_images(run_dir / rel) for name, rel in entries.items()}
    n = max(images.shape[0] for images in restored.values())
    size = int(record["dataset"]["image_size"][0])
    data = run_dataset(record)
    plain = resize_uint8(data.x_test[:n], size)
    labels = data.y_test[:n]
    if plain.shape[0] < n:
        raise RecognitionError(f"{run_dir}: its data set has {plain.shape[0]} test images, its attacks restored {n}; "
                               "check that the data set is the one the run used")
    encrypted, note = encrypted_test_images(run_dir, record, plain)
    per: list[dict[str, Any]] = []
    for c in classifiers:
        per.append({"run_id": str(c.record["run_id"]), "seed": c.record.get("seed"),
                    "recorded_accuracy": c.record["metrics"].get("accuracy"),
                    "plain_accuracy": accuracy(c.model, plain, labels),
                    "encrypted_accuracy": accuracy(c.model, encrypted, labels) if encrypted is not None else None,
                    "attacks": {name: accuracy(c.model, images, labels) for name, images in restored.items()}})
    typed = RunRecord.from_json(record)
    lines = []
    for name, images in restored.items():
        mean, std = _spread([p["attacks"][name] for p in per])
        entry = typed.metrics.attacks[name]
        entry.extra.update({"recognition_accuracy": mean, "recognition_accuracy_std": std,
                            "recognition_images": int(images.shape[0])})
        lines.append(f"{record['run_id']} {name}: recognition {mean:.3f} on {images.shape[0]} restored images")
    section = recognition_section(classifiers[0].record, per, n, note)
    typed.metrics.extra["recognition"] = section
    write_record(run_dir, typed)
    enc = "n/a" if section["encrypted_accuracy"] is None else f"{section['encrypted_accuracy']:.3f}"
    lines.insert(0, f"{record['run_id']}: classifier {', '.join(section['classifier'])}: chance {section['chance']:.3f}, "
                    f"plain {section['plain_accuracy']:.3f}, encrypted {enc} on {n} test images"
                    + (f" ({note})" if note else ""))
    return lines


def recognition_section(classifier: dict[str, Any], per: list[dict[str, Any]], n: int, note: str | None) -> dict[str, Any]:
    """``metrics.recognition``: the classifier's run ids (one per seed), chance, and its accuracy (mean over seeds,
    with the sample std, None for one seed) on the first ``n`` plain and this run's encrypted test images;
    ``recorded_plain_accuracy``: the mean of the classifiers' own ``metrics.accuracy`` (their whole test set)."""
    plain, plain_std = _spread([p["plain_accuracy"] for p in per])
    recorded = [p["recorded_accuracy"] for p in per if p["recorded_accuracy"] is not None]
    encrypted = [p["encrypted_accuracy"] for p in per]
    enc, enc_std = _spread(encrypted) if None not in encrypted else (None, None)
    section = {"classifier": [p["run_id"] for p in per], "network": classifier["network"]["name"],
               "chance": 1.0 / int(classifier["dataset"]["num_classes"]), "images": int(n),
               "plain_accuracy": plain, "plain_accuracy_std": plain_std,
               "recorded_plain_accuracy": statistics.fmean(recorded) if recorded else None,
               "encrypted_accuracy": enc, "encrypted_accuracy_std": enc_std,
               "per_classifier": [{k: v for k, v in p.items() if k != "attacks"} for p in per]}
    if note:
        section["encrypted_note"] = note
    return section


# -- pieces ---------------------------------------------------------------------------------------------------
def complete_records(results_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(run folder, record) of every complete ``RESULTS/<run>/result.json``; unreadable ones are logged and skipped."""
    if not results_dir.is_dir():
        raise CheckpointError(f"results folder {results_dir} does not exist; pass the folder `ppbench run --results` wrote")
    out = []
    for path in sorted(results_dir.glob(f"*/{RECORD_FILE}")):
        try:
            record = read_record(path)
        except CheckpointError as exc:
            log.warning("skipping %s", exc)
            continue
        if record.get("status") == "complete":
            out.append((path.parent, record))
    return out


def _restored_entries(record: dict[str, Any]) -> dict[str, str]:
    """attack name -> the path (relative to the run folder) of its restored-images file."""
    attacks = (record.get("metrics") or {}).get("attacks") or {}
    return {name: str(e["files"]["restored"]) for name, e in sorted(attacks.items())
            if isinstance(e, dict) and isinstance(e.get("files"), dict) and e["files"].get("restored")}


def _restored_images(path: Path) -> torch.Tensor:
    from .npzfile import read_npz

    arrays = read_npz(path)
    if "restored" not in arrays:
        raise RecognitionError(f"{path} holds no 'restored' array; re-run the attack with `ppbench run ... --force`")
    return torch.from_numpy(arrays["restored"]).permute(0, 3, 1, 2).contiguous()


_DATA: dict[tuple[str, str | None], Any] = {}


def run_dataset(record: dict[str, Any]) -> Any:
    """The run's data set (its spec, data root and download setting), loaded once per process."""
    from .data import load_dataset

    config = record.get("config") or {}
    spec = str(record["dataset"].get("spec") or config.get("dataset") or record["dataset"]["name"])
    key = (spec, config.get("data_root"))
    if key not in _DATA:
        _DATA[key] = load_dataset(spec, root=config.get("data_root"), download=bool(config.get("download", True)))
    return _DATA[key]


def encrypted_test_images(run_dir: Path, record: dict[str, Any], plain: torch.Tensor) -> tuple[torch.Tensor | None, str | None]:
    """The run's ciphertexts of ``plain`` as RGB images (JPEG-compressed when the run's were), or None and why."""
    from .keys import SchemeKey
    from .runfolder import KEY_FILE
    from .schemes import create_scheme

    s = record["scheme"]
    size = int(record["dataset"]["image_size"][0])
    try:
        scheme = create_scheme(s["name"], image_size=size, block_size=s.get("block_size"))
    except KeyFileError:
        path = run_dir / KEY_FILE
        if not path.is_file():
            return None, f"no {KEY_FILE} in the run folder (committed studies keep no keys): encrypted accuracy not measured"
        key = SchemeKey.load(path)
        if key.key_id != s.get("key_id"):
            return None, f"{KEY_FILE} holds key {key.key_id}, the record names {s.get('key_id')}: encrypted accuracy not measured"
        scheme = create_scheme(s["name"], key=key, image_size=size, block_size=s.get("block_size"))
    ciphertexts = scheme.encrypt(plain)
    quality = (record.get("config") or {}).get("jpeg_quality")
    if quality is not None:
        from .attack_eval import jpeg_roundtrip

        ciphertexts = jpeg_roundtrip(ciphertexts, int(quality))
    return scheme.to_display(ciphertexts), None


def _spread(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for one value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)
