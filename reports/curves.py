"""``curves.png`` / ``curves.pdf``: SSIM on unseen ciphertexts against the number of victim images n.

One panel per key-recovery attack found in the records (``pooled``: ciphertext-only, ``kpa``: known
plaintext), one line per scheme, from ``metrics.attacks.<attack>.curve`` (the runner refits the attack
for each n and scores it on the run's test ciphertexts). The SSIM drawn is the best reading (as-is,
colour-inverted or mirrored, ``ssim_best``), the one Table I's verdict and "Ciphertexts to break" use. Filled markers: the key was recovered exactly;
hollow: it was not. The dotted line is the "broken" level (mean SSIM 0.99) that Table I's "Ciphertexts
to break" column reads. Where several runs hold a curve for a scheme at one profile and image size, the
latest finished one is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fig4 import save_png_and_pdf
from .load import RecordSet, attack_sort_key, scheme_sort_key

BREAK_SSIM = 0.99


@dataclass
class Curves:
    """The series to draw: ``{attack: {scheme: [(n, ssim_mean, exact_key), ...]}}`` and notes."""

    series: dict[str, dict[str, list[tuple[int, float, bool]]]] = field(default_factory=dict)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (attack, series label) -> run id

    @property
    def empty(self) -> bool:
        return not self.series


def build_curves(records: RecordSet) -> Curves:
    """Collect every recorded key-recovery curve, the latest finished run's per (attack, scheme, profile,
    image size); a series is named by its scheme, plus profile and size when the records hold several."""
    latest: dict[tuple[str, str, str, str], Any] = {}
    for run in records.runs:
        for attack, entry in run.attacks.items():
            if not (isinstance(entry, dict) and entry.get("curve")):
                continue
            key = (attack, run.scheme, run.profile, run.image_size)
            if key not in latest or str(run.record.get("finished_at") or "") >= str(latest[key].record.get("finished_at") or ""):
                latest[key] = run
    several = len({(profile, size) for _, _, profile, size in latest}) > 1
    curves = Curves()
    for (attack, scheme, profile, size), run in latest.items():
        label = f"{scheme} ({profile}, {size})" if several else scheme
        curves.series.setdefault(attack, {})[label] = sorted(
            (int(p["n"]), float(p.get("ssim_best", p["ssim_mean"])), bool(p.get("exact_key")))
            for p in run.attacks[attack]["curve"])
        curves.sources[(attack, label)] = run.run_id
    return curves


def draw_curves(curves: Curves) -> Any:
    """A matplotlib figure with one panel per attack (an empty one saying so when there is nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = sorted(curves.series, key=attack_sort_key) or ["none"]
    fig, axes = plt.subplots(1, len(attacks), figsize=(5.2 * len(attacks), 4.0), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, attack in zip(axes[0], attacks):
        by_scheme = curves.series.get(attack, {})
        for i, scheme in enumerate(sorted(by_scheme, key=scheme_sort_key)):
            colour = colours[i % len(colours)]
            points = by_scheme[scheme]
            ax.plot([p[0] for p in points], [p[1] for p in points], "-", color=colour, label=scheme)
            for n, value, exact in points:
                ax.plot(n, value, "o", color=colour, mfc=colour if exact else "white", ms=5)
        ax.axhline(BREAK_SSIM, ls=":", lw=1, color="grey")
        ax.set_xscale("log")
        ticks = sorted({p[0] for pts in by_scheme.values() for p in pts})
        if ticks:
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t) for t in ticks])
            ax.minorticks_off()
            ax.legend(fontsize=8, loc="lower right", title="scheme", title_fontsize=8)
        else:
            ax.text(0.5, 0.5, "no key-recovery curve in the records", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_ylim(-0.1, 1.05)
        ax.set_xlabel("victim images the attacker holds (n)")
        ax.set_ylabel("mean SSIM on unseen ciphertexts (best reading)")
        ax.set_title(f"{attack}: filled = key recovered exactly", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def write_curves(records: RecordSet, out_dir: Path) -> tuple[Curves, list[Path]]:
    """Write ``curves.png`` and ``curves.pdf`` (atomically) when any record holds a curve."""
    import matplotlib.pyplot as plt

    curves = build_curves(records)
    if curves.empty:
        return curves, []
    figure = draw_curves(curves)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return curves, save_png_and_pdf(figure, out_dir, "curves")
    finally:
        plt.close(figure)
