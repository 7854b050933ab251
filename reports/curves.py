"""``curves.png`` / ``curves.pdf``: SSIM on unseen ciphertexts against the number of victim images n.

One panel per key-recovery attack found in the records (``pooled``: ciphertext-only, ``kpa``: known
plaintext), one line per scheme, from ``metrics.attacks.<attack>.curve`` (the runner refits the attack
for each n and scores it on the run's test ciphertexts). The SSIM drawn is the best reading (as-is,
colour-inverted or mirrored, ``ssim_best``), the one Table I's verdict and "Ciphertexts to break" use. Filled markers: the key was recovered exactly;
hollow: it was not. The dotted line is the "broken" level (mean SSIM 0.99) that Table I's "Ciphertexts
to break" column reads. Where several runs hold a curve for a scheme at one profile and image size, the
latest finished one is drawn.

Readable with many series (20 and more): every series has its own colour and marker, the same in every
panel (:func:`series_styles`: tab20's ten dark hues, then their light twins, with a cycle of 7 markers:
the first 20 series all differ in colour, a dark hue and its light twin differ in marker, and no two of
the first 140 series share both); one legend sits outside the axes, to the right; series that lie on
each other stay visible because each is drawn a little thinner and with smaller markers than the one
before (the first series is the widest, the last on top), and each is shifted by a small fixed factor in
n (at most ±12 %, symmetric around the true n; the tick labels stay the true n, and the axis label says
so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppbench.breaks import BREAK_SSIM

from .fig4 import save_png_and_pdf
from .load import RecordSet, attack_sort_key, natural_key, scheme_sort_key

MARKERS = ("o", "s", "^", "D", "v", "P", "X")
"""Fillable markers (hollow = key not recovered), 7 of them: prime to tab20's 10 hues, so twins differ."""
X_SPREAD = 0.12
"""How far a series is shifted in n at most (factors 1 - 0.12 to 1 + 0.12), to keep overlaps visible."""


@dataclass(frozen=True)
class Style:
    """How one series is drawn: colour, marker, line width, marker size and shift factor in n."""

    colour: Any
    marker: str
    linewidth: float
    markersize: float
    x_factor: float


def series_styles(labels: list[str]) -> dict[str, Style]:
    """One distinct style per series label (see the module docstring), in the given order."""
    import matplotlib

    tab20 = matplotlib.colormaps["tab20"].colors
    hues = list(tab20[0::2]) + list(tab20[1::2])  # ten dark hues first, then their light twins
    count = len(labels)
    styles = {}
    for i, label in enumerate(labels):
        share = i / (count - 1) if count > 1 else 0.5  # 0 for the first series, 1 for the last
        styles[label] = Style(colour=hues[i % len(hues)], marker=MARKERS[i % len(MARKERS)],
                              linewidth=2.6 - 1.6 * share, markersize=9.0 - 4.5 * share,
                              x_factor=(1 - X_SPREAD) + 2 * X_SPREAD * share if count > 1 else 1.0)
    return styles


@dataclass
class Curves:
    """The series to draw: ``{attack: {scheme: [(n, ssim_mean, exact_key), ...]}}`` and notes."""

    series: dict[str, dict[str, list[tuple[int, float, bool]]]] = field(default_factory=dict)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (attack, series label) -> run id
    schemes: dict[str, str] = field(default_factory=dict)  # series label -> its scheme (the legend's order)

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
            if key not in latest or str(run.typed.get("finished_at") or "") >= str(latest[key].typed.get("finished_at") or ""):
                latest[key] = run
    several = len({(profile, size) for _, _, profile, size in latest}) > 1
    curves = Curves()
    for (attack, scheme, profile, size), run in latest.items():
        label = f"{scheme} ({profile}, {size})" if several else scheme
        curves.series.setdefault(attack, {})[label] = sorted(
            (int(p["n"]), float(p.get("ssim_best", p["ssim_mean"])), bool(p.get("exact_key")))
            for p in run.attacks[attack]["curve"])
        curves.sources[(attack, label)] = run.run_id
        curves.schemes[label] = scheme
    return curves


def draw_curves(curves: Curves) -> Any:
    """A matplotlib figure with one panel per attack (an empty one saying so when there is nothing) and one
    legend outside the axes, to the right of the panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    attacks = sorted(curves.series, key=attack_sort_key) or ["none"]
    labels = sorted({label for by_label in curves.series.values() for label in by_label},
                    key=lambda label: (scheme_sort_key(curves.schemes[label]), natural_key(label)))
    styles = series_styles(labels)
    height = max(4.0, 1.2 + 0.2 * len(labels))  # room for a one-column legend of every series
    fig, axes = plt.subplots(1, len(attacks), figsize=(5.2 * len(attacks) + 2.2, height), squeeze=False,
                             layout="constrained")
    for ax, attack in zip(axes[0], attacks):
        by_label = curves.series.get(attack, {})
        for z, label in enumerate(label for label in labels if label in by_label):
            style, points = styles[label], by_label[label]
            xs = [p[0] * style.x_factor for p in points]
            ax.plot(xs, [p[1] for p in points], "-", color=style.colour, lw=style.linewidth, alpha=0.85,
                    zorder=2 + z, label=label)
            for x, (_, value, exact) in zip(xs, points):
                ax.plot(x, value, style.marker, color=style.colour, mfc=style.colour if exact else "white",
                        mew=1.2, ms=style.markersize, zorder=2 + z)
        ax.axhline(BREAK_SSIM, ls=":", lw=1, color="grey")
        ax.set_xscale("log")
        ticks = sorted({p[0] for pts in by_label.values() for p in pts})
        if ticks:
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t) for t in ticks])
            ax.minorticks_off()
        else:
            ax.text(0.5, 0.5, "no key-recovery curve in the records", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_ylim(-0.1, 1.05)
        ax.set_xlabel("victim images the attacker holds (n)" + ("; series offset slightly in n" if len(labels) > 1 else ""))
        ax.set_ylabel("mean SSIM on unseen ciphertexts (best reading)")
        ax.set_title(f"{attack}: filled = key recovered exactly", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    if labels:
        handles = [Line2D([], [], color=styles[l].colour, marker=styles[l].marker, lw=1.5, ms=6) for l in labels]
        fig.legend(handles, labels, loc="outside right center", fontsize=8, title="series", title_fontsize=8,
                   frameon=False)
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
