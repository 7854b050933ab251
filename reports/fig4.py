"""Fig. 4 of the seed paper, rebuilt from result records: what each attack restores, scheme by scheme.

A grid with one row per scheme and the columns *plain*, *encrypted*, then one per attack (FR, GAN, ITN,
then any other), each cell one test image with its SSIM against the plain image underneath, as in the
paper's Fig. 4. Every row shows the same test image (``index``, default 0, of the first test images a
run keeps), so the rows compare schemes, not pictures.

What it reads from each run folder (``docs/records.md``):

- ``attacks/samples.npz``: ``plain`` and ``encrypted`` (uint8 N x H x W x 3, the first test images in
  dataset order; ``encrypted`` in display form), optionally ``encrypted_ssim`` (float, N): the
  ciphertext's own SSIM, printed under it when present. Without samples.npz, the first
  ``<attack>_restored.npz`` that also holds ``plain`` and ``encrypted`` arrays serves instead;
- ``attacks/<attack>_restored.npz``: ``restored`` (uint8 N x H x W x 3), the same images;
- ``attacks/<attack>_ssim.csv``: per-image ``index, ssim, psnr``; the row whose ``index`` equals ``index``.

The record's ``metrics.attacks.<name>.files`` paths are used when given, else the default names above.

Which runs: the (profile, dataset) pair with the most runs holding attack results (others are noted,
not mixed in), and per scheme the run with the most attacks whose restored images exist (then the lowest
seed). An attack another row ran but this row did not is an empty cell marked "not run"; one recorded as
not applicable to the row's scheme (``status: not_applicable``) is marked "n/a".
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ppbench.atomic import atomic_path
from ppbench.errors import DataError, InputError
from ppbench.npzfile import read_npz

from .load import NO_NETWORK, RecordSet, Run, attack_sort_key, describe_runs, natural_key, scheme_sort_key

SAMPLES_FILE = "attacks/samples.npz"
ATTACK_TITLES = {"fr": "FR-attack", "fr_adv": "FR-attack (adv.)", "gan": "GAN-attack", "itn": "ITN-attack",
                 "itn_unet": "ITN-attack (U-Net)"}


@dataclass
class Cell:
    """One image of the grid, or why there is none (``status`` other than ``ok``)."""

    image: np.ndarray | None = None
    ssim: float | None = None
    status: str = "ok"


@dataclass
class Fig4Row:
    scheme: str
    run: Run
    plain: Cell
    encrypted: Cell
    attacks: dict[str, Cell]


@dataclass
class Fig4:
    index: int
    profile: str | None
    dataset: str | None
    attacks: list[str]
    rows: list[Fig4Row]
    notes: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        return describe_runs(row.run for row in self.rows)

    def cell(self, scheme: str, column: str) -> Cell:
        """The cell of ``scheme``'s row under ``column`` ('plain', 'encrypted' or an attack name)."""
        row = next(r for r in self.rows if r.scheme == scheme)
        if column == "plain":
            return row.plain
        if column == "encrypted":
            return row.encrypted
        return row.attacks[column]


def _images(path: Path, name: str, notes: list[str]) -> np.ndarray | None:
    """Array ``name`` of an npz file as uint8 N x H x W x 3, or None (with a note) if absent or malformed."""
    if not path.is_file():
        return None
    try:
        array = read_npz(path)[name]
    except (DataError, KeyError) as exc:
        notes.append(f"unreadable {path}: {type(exc).__name__}: {exc}")
        return None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        notes.append(f"unreadable {path}: {name} must be uint8 N x H x W x 3, got {array.dtype} {array.shape}")
        return None
    return array


def _pick(array: np.ndarray, index: int, path: Path) -> np.ndarray:
    if not 0 <= index < len(array):
        raise InputError(f"--fig4-index {index} is out of range: {path} holds {len(array)} test image(s) "
                         f"(indices 0..{len(array) - 1})")
    return array[index]


def _ssim_at(path: Path, index: int, notes: list[str]) -> float | None:
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
        values = frame.loc[frame["index"] == index, "ssim"]
    except (OSError, KeyError, ValueError, pd.errors.ParserError) as exc:
        notes.append(f"unreadable {path}: {type(exc).__name__}: {exc}")
        return None
    return float(values.iloc[0]) if len(values) else None


def _attack_file(run: Run, attack: str, kind: str, default: str) -> Path:
    files = run.attacks.get(attack, {}).get("files") or {}
    return run.path / str(files.get(kind) or default)


def _restored_exists(run: Run, attack: str) -> bool:
    return _attack_file(run, attack, "restored", f"attacks/{attack}_restored.npz").is_file()


def _samples_file(run: Run) -> Path | None:
    """``attacks/samples.npz``, else the first restored npz that also carries ``plain`` and ``encrypted``."""
    samples = run.path / SAMPLES_FILE
    if samples.is_file():
        return samples
    for attack in sorted(run.attacks, key=attack_sort_key):
        path = _attack_file(run, attack, "restored", f"attacks/{attack}_restored.npz")
        try:
            if {"plain", "encrypted"} <= set(read_npz(path)):
                return path
        except DataError:
            continue
    return None


def _rank(run: Run) -> tuple[Any, ...]:
    """Prefer runs with more restored images, then with samples.npz, then the lowest seed."""
    restored = sum(_restored_exists(run, a) for a in run.attacks)
    seed = run.seed if run.seed is not None else -1
    return -restored, _samples_file(run) is None, seed, run.run_id


def _choose_runs(records: RecordSet, notes: list[str]) -> tuple[str | None, str | None, dict[str, Run]]:
    """The (profile, dataset) shown and each scheme's run (see the module docstring)."""
    candidates = [r for r in records.runs if r.attacks]
    if not candidates:
        return None, None, {}
    counts = Counter((r.profile, r.dataset) for r in candidates)
    (profile, dataset), _ = min(counts.items(), key=lambda kv: (-kv[1], natural_key(kv[0][0]), natural_key(kv[0][1])))
    others = sum(n for pair, n in counts.items() if pair != (profile, dataset))
    if others:
        notes.append(f"Fig. 4 shows profile {profile}, dataset {dataset}; {others} run(s) with attack results "
                     f"from other profiles/datasets are not drawn")
    chosen: dict[str, Run] = {}
    for run in candidates:
        if (run.profile, run.dataset) != (profile, dataset):
            continue
        if run.scheme not in chosen or _rank(run) < _rank(chosen[run.scheme]):
            chosen[run.scheme] = run
    return profile, dataset, dict(sorted(chosen.items(), key=lambda kv: scheme_sort_key(kv[0])))


def build_fig4(records: RecordSet, index: int = 0) -> Fig4:
    """Collect the images and SSIM values of Fig. 4 (no drawing; see :func:`draw_fig4`)."""
    if index < 0:
        raise InputError(f"--fig4-index must be 0 or more, got {index}")
    notes: list[str] = []
    profile, dataset, chosen = _choose_runs(records, notes)
    attacks = sorted({a for run in chosen.values() for a in run.attacks}, key=attack_sort_key)
    rows = []
    for scheme, run in chosen.items():
        samples = _samples_file(run)
        plain = _images(samples, "plain", notes) if samples else None
        encrypted = _images(samples, "encrypted", notes) if samples else None
        if samples is None:
            notes.append(f"{run.run_id}: no {SAMPLES_FILE}, so its plain and encrypted images are not shown")
        enc_ssim = None
        if encrypted is not None and samples is not None:
            scores = read_npz(samples).get("encrypted_ssim")
            if scores is not None and index < len(scores):
                enc_ssim = float(scores[index])
        row = Fig4Row(
            scheme=scheme, run=run,
            plain=Cell(_pick(plain, index, samples)) if plain is not None else Cell(status="no samples.npz"),
            encrypted=(Cell(_pick(encrypted, index, samples), enc_ssim) if encrypted is not None
                       else Cell(status="no samples.npz")),
            attacks={})
        for attack in attacks:
            if attack not in run.attacks:
                row.attacks[attack] = Cell(status="not run")
                continue
            if run.attacks[attack].get("status") == "not_applicable":  # no method for this scheme: nothing restored
                row.attacks[attack] = Cell(status="n/a")
                continue
            path = _attack_file(run, attack, "restored", f"attacks/{attack}_restored.npz")
            restored = _images(path, "restored", notes)
            if restored is None:
                row.attacks[attack] = Cell(status="no restored images")
                notes.append(f"{run.run_id}: {attack} has results but no restored images ({path.name})")
                continue
            ssim = _ssim_at(_attack_file(run, attack, "per_image", f"attacks/{attack}_ssim.csv"), index, notes)
            row.attacks[attack] = Cell(_pick(restored, index, path), ssim)
        rows.append(row)
    shown = [(r.scheme, r.plain.image) for r in rows if r.plain.image is not None]
    if any(img.shape != shown[0][1].shape or not np.array_equal(img, shown[0][1]) for _, img in shown[1:]):
        notes.append(f"the rows' plain test image #{index} differ ({', '.join(s for s, _ in shown)}): "
                     "their runs used different test sets or orders")
    if not rows:
        notes.append("Fig. 4 has no rows: no complete record holds attack results")
    return Fig4(index=index, profile=profile, dataset=dataset, attacks=attacks, rows=rows, notes=notes)


def _row_label(run: Run) -> str:
    network = "attack-only" if run.network == NO_NETWORK else run.network
    seed = "" if run.seed is None else f", seed {run.seed}"
    return f"{run.scheme}\n({network}{seed})"


def _draw_cell(ax: Any, cell: Cell, show_ssim: bool) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if cell.image is None:
        ax.set_facecolor("0.94")
        ax.text(0.5, 0.5, cell.status, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.35")
        for spine in ax.spines.values():
            spine.set_color("0.8")
        return
    ax.imshow(cell.image, interpolation="nearest")
    if show_ssim:
        text = "SSIM n/a" if cell.ssim is None or math.isnan(cell.ssim) else f"SSIM {cell.ssim:.3f}"
        ax.set_xlabel(text, fontsize=9)


def draw_fig4(fig4: Fig4) -> Any:
    """The grid as a matplotlib Figure (no pyplot state, so it works headless and in threads)."""
    from matplotlib.figure import Figure

    columns = ["plain", "encrypted"] + fig4.attacks
    nrows, ncols = max(len(fig4.rows), 1), len(columns)
    fig = Figure(figsize=(1.75 * ncols + 0.6, 1.95 * nrows + 0.9), layout="constrained")
    where = ", ".join(x for x in (f"profile {fig4.profile}" if fig4.profile else "",
                                  f"dataset {fig4.dataset}" if fig4.dataset else "") if x)
    fig.suptitle(f"Fig. 4 (ppbench): test image #{fig4.index} restored by each attack"
                 + (f"\n{where}; SSIM against the plain image under each" if where else ""), fontsize=11)
    if not fig4.rows:
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no record with attack results", ha="center", va="center", fontsize=11)
        return fig
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r, row in enumerate(fig4.rows):
        cells = [row.plain, row.encrypted] + [row.attacks[a] for a in fig4.attacks]
        for c, cell in enumerate(cells):
            # the paper prints SSIM under restored images; the ciphertext's only when the run recorded it
            _draw_cell(axes[r, c], cell, show_ssim=c > 1 or (c == 1 and cell.ssim is not None))
        axes[r, 0].set_ylabel(_row_label(row.run), fontsize=9)
    for c, column in enumerate(columns):
        axes[0, c].set_title(ATTACK_TITLES.get(column, column), fontsize=10)
    return fig


def write_fig4(records: RecordSet, out_dir: Path, index: int = 0) -> tuple[Fig4, list[Path]]:
    """Build and draw Fig. 4; write ``fig4.png`` and ``fig4.pdf`` atomically into ``out_dir``."""
    fig4 = build_fig4(records, index)
    return fig4, save_png_and_pdf(draw_fig4(fig4), out_dir, "fig4")


def save_png_and_pdf(figure: Any, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` (150 dpi) and ``stem.pdf`` atomically, without timestamps (reproducible bytes)."""
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    with atomic_path(paths[0]) as tmp:
        figure.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
    with atomic_path(paths[1]) as tmp:
        figure.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    return paths
