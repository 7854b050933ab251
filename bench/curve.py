"""SSIM against the number of ciphertexts an attacker holds: ``ppbench curve``.

Every scheme ppbench evaluates shares one key across all images, so an attacker's power grows with the
number n of images it sees under that key. This module sweeps n for one key-recovery attack (``pooled``:
ciphertext-only, n ciphertexts; ``kpa``: known-plaintext, n plain/cipher pairs; ``kpa_generic``: the same
pairs, knowing nothing of the scheme, its "key" the bit map of family F) and measures what the
recovered key restores on ciphertexts the attack did not see.

Protocol (one curve = one victim key):

1. Load the data set's **test** split (default: the bundled sample), bicubic-resize to the image size.
2. Draw a fresh victim key from the OS CSPRNG (``generate_key``; never from a seed).
3. The attacker's data for n are test images ``0 .. n-1`` (their ciphertexts, plus the plain images for
   ``kpa``), handed over through the threat model's :class:`~ppbench.attacks.AttackerView`, which holds
   nothing else (``kpa``'s threat model also grants public images: it gets none, an empty batch).
4. Evaluation: the next ``n_eval`` test images ``max(n) .. max(n) + n_eval - 1``, which no attack in the
   sweep saw, encrypted with the victim key, restored by the attack, scored with
   :func:`ppbench.metrics.ssim` (scikit-image's SSIM) against their plain images.

Each row: ``scheme, attack, image_size, block_size, n, ssim_mean, exact_key, seconds`` (``exact_key``:
the recovered key material equals the victim's array for array; ``seconds``: the attack's ``fit``, i.e.
key recovery, on this machine), written to ``curve.csv``; ``curve.json`` keeps the rows with more
fields (median and spread of SSIM, per-array key agreement, ``exact_up_to_symmetry`` (exact or equal
to one of the attack's declared indistinguishable alternatives, e.g. EtC's mirror), ``exact_up_to_global``
(exact up to a global reading the attack's natural-image prior had to choose: what smoothness alone
recovered), ``exact_on_seen`` (the attack restores every ciphertext it was given byte for byte: the most any
attack can promise where those ciphertexts leave key entries open, e.g. ELE on upscaled images), the attack's own
ambiguity/confidence report and notes), the resolved configuration and the
environment; ``curve.png`` plots mean SSIM
against n on a log axis, with the FR/GAN/ITN results of the same scheme from result records as
horizontal reference lines.

:func:`ciphertexts_to_break` (smallest n with mean SSIM >= 0.99) and :func:`curve_record_fields` give
the numbers in the form result records can merge.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from .atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from .breaks import BREAK_SSIM
from .errors import CheckpointError, InputError, OutputExistsError
from .records import AttackEntry, Metrics, RunRecord, SchemeEntry
from .transforms import resize_uint8

log = logging.getLogger("ppbench.curve")

CURVE_COLUMNS = ("scheme", "attack", "image_size", "block_size", "n", "ssim_mean", "exact_key", "seconds")


def curve_attacks() -> tuple[str, ...]:
    """The registered attacks whose strength grows with n (``AttackInfo.curve``): what a curve sweeps."""
    from ppbench.attacks import attack_info, list_attacks

    return tuple(name for name in list_attacks() if attack_info(name).curve)


def reference_attacks() -> tuple[str, ...]:
    """The ciphertext-only attacks fitted once, not swept over n (``AttackInfo.curve`` false): a curve plot draws
    their SSIM from result records as horizontal reference lines."""
    from ppbench.attacks import attack_info, list_attacks

    return tuple(name for name in list_attacks()
                 if not (info := attack_info(name)).curve and info.threat_model.value.startswith("ciphertext_only"))

DEFAULT_NS = (1, 2, 5, 10, 20, 50, 100)
MAX_PUBLIC_IMAGES = 2000
"""The attacker's own images a curve hands over at most (training split; the victim's are test images)."""
CURVE_FORMAT_VERSION = 1


@dataclass
class CurveConfig:
    """Everything that defines one curve (the resolved values; stored in ``curve.json``)."""

    scheme: str
    attack: str
    dataset: str = "sample"
    image_size: int = 32
    block_size: int | None = 4
    ns: tuple[int, ...] = DEFAULT_NS
    n_eval: int = 100
    profile: str | None = None
    results: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ns"] = list(self.ns)
        return d


def resolve_config(
    scheme: str,
    attack: str,
    *,
    dataset: str | None = None,
    image_size: int | None = None,
    block_size: int | None = None,
    ns: Iterable[int] | None = None,
    n_eval: int | None = None,
    profile: str | None = None,
    results: str | None = None,
) -> CurveConfig:
    """Fill unset values: explicit argument, else the profile's (if one is named), else the scheme's
    paper setting (``proposed``: 224 x 224, block 16; the others: 32 x 32, block 4) and the bundled sample."""
    from ppbench.schemes import scheme_info

    info = scheme_info(scheme)
    if attack not in curve_attacks():
        raise InputError(f"curve: {attack!r} is not an attack whose strength grows with n; choose one of "
                         f"{', '.join(curve_attacks())}")
    prof = None
    if profile is not None:
        from .profiles import get_profile

        prof = get_profile(profile)
    size = image_size or (prof.image_size if prof else None) or info.default_image_size
    if info.block_wise:
        block = block_size or (prof.block_size if prof else None) or info.default_block_size
    else:
        if block_size is not None:
            raise InputError(f"scheme {info.name!r} is not block-wise: drop --block-size")
        block = None
    n_list = tuple(sorted({int(n) for n in (ns if ns is not None else DEFAULT_NS)}))
    if not n_list or n_list[0] < 1:
        raise InputError(f"--n needs positive counts of ciphertexts, got {list(ns or [])}")
    return CurveConfig(
        scheme=info.name, attack=attack, dataset=dataset or (prof.dataset if prof else "sample"),
        image_size=int(size), block_size=block, ns=n_list,
        n_eval=int(n_eval or (min(prof.n_attack_images, 100) if prof else 100)), profile=profile, results=results,
    )


def _load_images(config: CurveConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The data set's test split (the victim's images) and its training split (the attacker's own)."""
    from .data import load_dataset

    ds = load_dataset(config.dataset)
    return ds.x_test, ds.x_train


def run_curve(config: CurveConfig, *, test_images: torch.Tensor | None = None,
              public_images: torch.Tensor | None = None, key: Any = None) -> list[dict[str, Any]]:
    """Sweep ``config.ns`` with one fresh victim key (or ``key``, a :class:`~ppbench.keys.SchemeKey`: tests pin
    one so that a failure reproduces); one row per n (see the module docstring).

    ``test_images`` / ``public_images`` (uint8 N x 3 x H x W at any size) replace the data set's test split
    (the victim's images) and training split (the attacker's own, for attacks whose threat model grants them).
    """
    from ppbench.schemes import create_scheme, generate_key

    if test_images is None or public_images is None:
        loaded_test, loaded_train = _load_images(config)
        test_images = loaded_test if test_images is None else test_images
        public_images = loaded_train if public_images is None else public_images
    images = test_images
    max_n = max(config.ns)
    if images.shape[0] < max_n + 1:
        raise InputError(
            f"curve: the test split has {images.shape[0]} images but n up to {max_n} plus at least one unseen "
            f"image are needed; lower --n or use a larger --dataset"
        )
    n_eval = min(config.n_eval, images.shape[0] - max_n)
    attacker_plain = resize_uint8(images[:max_n], config.image_size)
    eval_plain = resize_uint8(images[max_n : max_n + n_eval], config.image_size)
    if key is None:
        key = generate_key(config.scheme, image_size=config.image_size, block_size=config.block_size)
    victim = create_scheme(config.scheme, key=key)
    from ppbench.attacks.base import PROFILES

    attack_profile = config.profile if config.profile in PROFILES else "cpu"
    public = resize_uint8(public_images[:MAX_PUBLIC_IMAGES], config.image_size)
    return sweep_key_recovery(config.attack, victim=victim, attacker_plain=attacker_plain, eval_plain=eval_plain,
                              ns=config.ns, profile=attack_profile, public_images=public)


def sweep_key_recovery(
    attack_name: str,
    *,
    victim: Any,
    attacker_plain: torch.Tensor,
    eval_plain: torch.Tensor,
    ns: Sequence[int],
    profile: str = "cpu",
    encrypt_victim: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
    public_images: torch.Tensor | None = None,
) -> list[dict[str, Any]]:
    """One row per n: a fresh ``attack_name`` fitted on the first n of ``attacker_plain`` (encrypted under
    ``victim``'s key by ``encrypt_victim``, default ``victim.encrypt``; plain images too for ``kpa``),
    scored by SSIM on ``eval_plain``'s ciphertexts, which it never saw. ``public_images``: the attacker's
    own plain images, disjoint from both, for threat models that grant them (a natural-image prior);
    none by default. ``ppbench curve`` and the run's attack evaluator both measure "ciphertexts to break"
    with this one function."""
    from ppbench.attacks import build_view, create_attack  # importing the package registers every attack
    from ppbench.attacks.keyrecovery import global_readings, key_agreement, same_key
    from ppbench.metrics import ssim_readings

    if max(ns) > attacker_plain.shape[0]:
        raise InputError(f"n up to {max(ns)} needs as many attacker images, got {attacker_plain.shape[0]}")
    encrypt = encrypt_victim or victim.encrypt
    eval_cipher = encrypt(eval_plain)
    true_key: dict[str, Any] | None = None  # the victim's key in the attack's terms, read once
    name, size, block = victim.info.name, victim.image_size[0], victim.block_size
    rows: list[dict[str, Any]] = []
    for n in ns:
        attack = create_attack(attack_name, scheme_name=name, image_size=size, block_size=block, profile=profile,
                               device=device)
        view = build_view(attack.threat_model, scheme=victim, victim_train=attacker_plain[:n],
                          public_images=attacker_plain[:0] if public_images is None else public_images, generator=torch.Generator().manual_seed(0),
                          encrypt_victim=encrypt)
        attack.fit(view)
        generic = hasattr(attack, "reference_key")  # a generic attack's key is a bit map, not the scheme's arrays
        if true_key is None:
            true_key = attack.reference_key(victim) if generic else victim.key_material()
        restored = attack(eval_cipher)
        seen = attacker_plain[:n]
        exact_on_seen = bool(torch.equal(attack(encrypt(seen)).to(seen.dtype), seen))
        as_is, inverted, mirrored = ssim_readings(restored, eval_plain)
        scores = as_is.numpy()
        inverted, mirrored = float(inverted.mean()), float(mirrored.mean())
        recovery = attack.recovery
        exact = bool(same_key(attack.key_material, true_key))
        alternatives = recovery.alternatives if recovery is not None else []
        row = {
            "scheme": name,
            "attack": attack_name,
            "image_size": size,
            "block_size": block,
            "n": int(n),
            "ssim_mean": float(scores.mean()),
            "exact_key": exact,
            "seconds": float(attack.train_seconds),
            # extra fields (curve.json only)
            "ssim_mean_inverted": inverted,
            "ssim_mean_mirrored": mirrored,
            "ssim_best": max(float(scores.mean()), inverted, mirrored),  # the reading Table I's verdict uses
            "ssim_median": float(np.median(scores)),
            "ssim_std": float(scores.std()),
            "n_eval": int(eval_plain.shape[0]),
            "exact_up_to_symmetry": exact or any(same_key(alt, true_key) for alt in alternatives),
            "exact_on_seen": exact_on_seen,
            "exact_up_to_global": exact or (not generic and any(same_key(k, true_key) for k in global_readings(
                name, attack.key_material, block_size=block))),
            "threat_model": attack.threat_model.value,
            "key_agreement": key_agreement(attack.key_material, true_key),
            "recovery": recovery.to_dict() if recovery is not None else None,
        }
        rows.append(row)
        log.info("curve %s/%s %dpx n=%d: ssim %.4f as is, %.4f best reading; exact %s (%.2f s)", name, attack_name,
                 size, n, row["ssim_mean"], row["ssim_best"], row["exact_key"], row["seconds"])
    return rows


# -- summaries for records --------------------------------------------------------------------------------
def ciphertexts_to_break(curve_rows: Sequence[dict[str, Any]], threshold: float = BREAK_SSIM) -> int | None:
    """The smallest n whose mean SSIM on unseen ciphertexts is at least ``threshold`` (None: never)."""
    ok = [int(r["n"]) for r in curve_rows if float(r["ssim_mean"]) >= threshold]
    return min(ok) if ok else None


def smallest_exact_n(curve_rows: Sequence[dict[str, Any]]) -> int | None:
    """The smallest n at which the key was recovered exactly (None: never in the sweep)."""
    ok = [int(r["n"]) for r in curve_rows if _truthy(r["exact_key"])]
    return min(ok) if ok else None


def curve_record_fields(curve_rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{"key_recovery": {attack: {...}}}`` to merge into a result record's ``metrics``:
    ``ciphertexts_to_break``, ``smallest_exact_n``, ``threat_model`` and the curve's (n, ssim_mean,
    exact_key, seconds) points, per attack found in ``curve_rows``."""
    out: dict[str, Any] = {}
    for attack in sorted({r["attack"] for r in curve_rows}):
        rows = sorted((r for r in curve_rows if r["attack"] == attack), key=lambda r: int(r["n"]))
        out[attack] = {
            "ciphertexts_to_break": ciphertexts_to_break(rows),
            "smallest_exact_n": smallest_exact_n(rows),
            "threat_model": rows[0].get("threat_model"),
            "image_size": int(rows[0]["image_size"]),
            "block_size": None if rows[0]["block_size"] in (None, "") else int(rows[0]["block_size"]),
            "curve": [{"n": int(r["n"]), "ssim_mean": float(r["ssim_mean"]), "exact_key": _truthy(r["exact_key"]),
                       "seconds": float(r["seconds"])} for r in rows],
        }
    return {"key_recovery": out}


def _truthy(v: Any) -> bool:
    return v is True or str(v).lower() in ("true", "1")


# -- reference lines from result records ----------------------------------------------------------------------
def reference_ssims(results: str | Path, scheme: str, image_size: int | None = None) -> dict[str, float]:
    """Mean SSIM of FR, GAN, ITN (and variants) for ``scheme`` from ``results/*/result.json``.

    Records of other schemes, other image sizes (when the record states one) and incomplete records are
    skipped; where several records hold the same attack, the most recently finished one is used.
    """
    found: dict[str, tuple[str, float]] = {}
    order = reference_attacks()
    for path in sorted(Path(results).glob("*/result.json")):
        try:
            record = RunRecord.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, CheckpointError):
            log.warning("curve: skipping unreadable record %s", path)
            continue
        sch = record.scheme if isinstance(record.scheme, SchemeEntry) else SchemeEntry()
        if sch.name != scheme or record.get("status", "complete") != "complete":
            continue
        size = sch.get("image_size")
        if image_size is not None and size is not None and int(size[0] if isinstance(size, list) else size) != image_size:
            continue
        stamp = str(record.get("finished_at") or "")
        metrics = record.metrics if isinstance(record.metrics, Metrics) else Metrics()
        for name, entry in (metrics.get("attacks") or {}).items():
            value = entry.get("ssim_mean") if isinstance(entry, AttackEntry) else None
            if name in order and isinstance(value, (int, float)):
                if name not in found or stamp >= found[name][0]:
                    found[name] = (stamp, float(value))
    return {k: v for k, (_, v) in sorted(found.items(), key=lambda kv: order.index(kv[0]))}


# -- output ---------------------------------------------------------------------------------------------------------
def curve_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV text with exactly :data:`CURVE_COLUMNS` (``block_size`` empty when None)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CURVE_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "ssim_mean": f"{r['ssim_mean']:.6f}", "seconds": f"{r['seconds']:.4f}",
                         "block_size": "" if r["block_size"] is None else r["block_size"]})
    return buffer.getvalue()


def plot_curve(rows: Sequence[dict[str, Any]], references: dict[str, float] | None = None, title: str | None = None) -> bytes:
    """PNG bytes: mean SSIM on unseen ciphertexts against n (log axis); filled markers where the key was
    recovered exactly; reference attacks as dashed horizontal lines; the 0.99 "broken" line dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for attack in sorted({r["attack"] for r in rows}):
        pts = sorted((r for r in rows if r["attack"] == attack), key=lambda r: int(r["n"]))
        ns = [int(r["n"]) for r in pts]
        ys = [float(r["ssim_mean"]) for r in pts]
        (line,) = ax.plot(ns, ys, "-", label=f"{attack} (mean SSIM)")
        exact = [(n, y) for n, y, r in zip(ns, ys, pts) if _truthy(r["exact_key"])]
        inexact = [(n, y) for n, y, r in zip(ns, ys, pts) if not _truthy(r["exact_key"])]
        if exact:
            ax.plot(*zip(*exact), "o", color=line.get_color(), label=f"{attack}: key exact")
        if inexact:
            ax.plot(*zip(*inexact), "o", mfc="white", color=line.get_color(), label=f"{attack}: key not exact")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, ls="--", lw=1, color=colours[(i + 3) % len(colours)], label=f"{name.upper()} (record)")
    ax.axhline(BREAK_SSIM, ls=":", lw=1, color="grey", label=f"SSIM {BREAK_SSIM}")
    ax.set_xscale("log")
    ticks = sorted({int(r["n"]) for r in rows})
    if ticks:
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
        ax.minorticks_off()
    ax.set_xlabel("ciphertexts under the victim's key (n)")
    ax.set_ylabel("mean SSIM on unseen ciphertexts")
    ax.set_ylim(min(-0.05, min((float(r["ssim_mean"]) for r in rows), default=0.0) - 0.05), 1.05)
    if rows:
        r0 = rows[0]
        block = f", block {r0['block_size']}" if r0["block_size"] else ""
        ax.set_title(title or f"{r0['scheme']} at {r0['image_size']}x{r0['image_size']}{block}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def environment() -> dict[str, Any]:
    """Versions, machine and code revision, from :func:`ppbench.environment.environment` (never raises)."""
    from .environment import environment as _environment

    return _environment(torch.device("cpu"))


def write_curve(out: str | Path, config: CurveConfig, rows: Sequence[dict[str, Any]], *, overwrite: bool = False,
                started_at: str | None = None, duration_s: float | None = None) -> dict[str, Path]:
    """Write ``curve.csv``, ``curve.json`` and ``curve.png`` into ``out`` (atomically, each)."""
    out = Path(out)
    paths = {"csv": out / "curve.csv", "json": out / "curve.json", "png": out / "curve.png"}
    if not overwrite and any(p.exists() for p in paths.values()):
        raise OutputExistsError(f"{out} already holds a curve; pass --overwrite or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    references = reference_ssims(config.results, config.scheme, config.image_size) if config.results else {}
    atomic_write_text(paths["csv"], curve_csv(rows))
    atomic_write_bytes(paths["png"], plot_curve(rows, references))
    atomic_write_json(paths["json"], {
        "format": "ppbench-curve",
        "format_version": CURVE_FORMAT_VERSION,
        "config": config.to_dict(),
        "rows": list(rows),
        "references": references,
        "summary": curve_record_fields(rows)["key_recovery"],
        "environment": environment(),
        "started_at": started_at,
        "duration_s": duration_s,
    })
    return paths


def curve(config: CurveConfig, out: str | Path, *, overwrite: bool = False) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Run the sweep and write its files; returns the rows and the paths."""
    out = Path(out)
    if not overwrite and any((out / f).exists() for f in ("curve.csv", "curve.json", "curve.png")):
        raise OutputExistsError(f"{out} already holds a curve; pass --overwrite or choose another --out")
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    rows = run_curve(config)
    paths = write_curve(out, config, rows, overwrite=True, started_at=started, duration_s=time.perf_counter() - t0)
    return rows, paths


__all__ = [
    "CURVE_COLUMNS", "CurveConfig", "resolve_config", "run_curve", "sweep_key_recovery", "ciphertexts_to_break", "smallest_exact_n",
    "curve_record_fields", "reference_ssims", "curve_csv", "plot_curve", "write_curve", "curve",
]
