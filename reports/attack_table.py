"""``attacks.md`` / ``attacks.csv``: every attack on every scheme, one row per record: the evidence behind Table I.

Table I shows one number per scheme (its strongest attack); this table shows what each attack did: its threat
model and reading, mean SSIM as it is and by the best reading, the per-image distribution the verdict reads
(median, share of images restored, how many images), the plain classifier's recognition of its output, and,
for a learned attack, how long it trained (epochs, steps beside the original attack's, why it stopped).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ppbench.atomic import atomic_write_text

from .load import RecordSet, attack_sort_key, natural_key, network_sort_key, scheme_sort_key

#: csv column -> Markdown header, in order
COLUMNS = {
    "scheme": "Scheme", "network": "Network", "profile": "Profile", "seed": "Seed", "attack": "Attack", "threat_model": "Threat model",
    "version": "Version", "reading": "Best reading", "ssim_mean": "SSIM as is", "ssim_best": "SSIM best reading",
    "ssim_best_image_median": "Median per image", "share_restored": "Images restored",
    "best_reading_images": "Images read", "recognition_accuracy": "Recognition",
    "epochs_run": "Epochs", "best_epoch": "Best epoch", "steps_run": "Steps", "original_steps": "Original's steps",
    "stopped": "Stopped", "reduced": "Reduced", "train_seconds": "Train s",
}


def attack_table(records: RecordSet) -> pd.DataFrame:
    """The rows: every attack entry with numbers (not-applicable ones left out), in the paper's order."""
    frame = records.attacks_frame()
    frame = frame[frame["status"] == "ok"].copy()
    frame["reading"] = [r.value for r in frame["reading"]]
    def key(i: int) -> tuple[Any, ...]:
        row = frame.iloc[i]
        seed = row["seed"] if isinstance(row["seed"], (int, float)) and not pd.isna(row["seed"]) else -1
        return (scheme_sort_key(row["scheme"]), natural_key(str(row["profile"])), network_sort_key(str(row["network"])),
                seed, attack_sort_key(row["attack"]))

    order = sorted(range(len(frame)), key=key)
    return frame.iloc[order][list(COLUMNS)].reset_index(drop=True)


#: columns shown as whole numbers; the other numeric ones with three decimals (train seconds: none)
COUNTS = {"seed", "version", "best_reading_images", "epochs_run", "best_epoch", "steps_run", "original_steps",
          "train_seconds"}


def render_markdown(table: pd.DataFrame, description: str) -> str:
    shown = pd.DataFrame({COLUMNS[c]: [_cell(c, v) for v in table[c]] for c in COLUMNS})
    lines = ["# Every attack on every scheme", "",
             f"From {description}. One row per record and attack; SSIM is the mean over the scored test images; "
             "the per-image columns score each image by its own best reading (as it is, negative or mirrored), and "
             "an image counts as restored at SSIM >= the verdict's level (Table I's rule). Recognition: the study's "
             "plain classifier on the restored images (`ppbench recognise`; empty until it ran). Epochs to Reduced: "
             "learned attacks only (stopped: converged = its validation measure stopped improving; cap = the "
             "profile's epoch limit; fixed = a fixed length).", "",
             shown.to_markdown(index=False, disable_numparse=True) if len(shown) else "No attack results.", ""]
    return "\n".join(lines)


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:.0f}" if column in COUNTS else f"{value:.3f}"
    return str(value)


def write_attack_table(records: RecordSet, out_dir: Path, description: str) -> list[Path]:
    """Write ``attacks.md`` and ``attacks.csv`` atomically into ``out_dir``."""
    table = attack_table(records)
    paths = [out_dir / "attacks.md", out_dir / "attacks.csv"]
    atomic_write_text(paths[0], render_markdown(table, description))
    atomic_write_text(paths[1], table.to_csv(index=False))
    return paths
