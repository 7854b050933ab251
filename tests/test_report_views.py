"""Report views over mixed records: per-row profile and data in Table I, and curves.png with 20 series.

Table I cases build records the way ``tests/test_reports.py`` does: copies of the fixture records in
``tests/testdata/records``, edited to another profile and size of the same data set.
"""

from __future__ import annotations

import json
import shutil
from itertools import combinations
from pathlib import Path

import matplotlib
import pytest

from ppbench.cli import main
from ppbench.reports.curves import X_SPREAD, Curves, draw_curves, series_styles
from ppbench.reports.load import load_results
from ppbench.reports.table1 import build_table1, render_markdown

matplotlib.use("Agg")

RECORDS = Path(__file__).resolve().parent / "testdata" / "records"
PROPOSED_S0 = "proposed-vit_cpu-sample-cpu-s0-1a2b3c4d"
SMOKE = "proposed-vit_smoke-sample-smoke-s0-5a5a5a5a"


def md_row(markdown: str, prefix: str) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, rows
    return rows[0]


def add_smoke_copy(results: Path) -> None:
    """A smoke-profile run of proposed on ``sample`` cut to 256 / 128 images (as the smoke profile cuts it)."""
    shutil.copytree(RECORDS / PROPOSED_S0, results / SMOKE)
    path = results / SMOKE / "result.json"
    record = json.loads(path.read_text())
    record.update(run_id=SMOKE, profile="smoke")
    record["network"]["name"] = "vit_smoke"
    record["dataset"].update(n_train=256, n_test=128)
    record["metrics"]["accuracy"] = 0.172
    path.write_text(json.dumps(record))


@pytest.fixture
def one_profile(tmp_path: Path) -> Path:
    """Only the proposed/vit_cpu record of seed 0: one profile, one data set."""
    results = tmp_path / "one"
    shutil.copytree(RECORDS / PROPOSED_S0, results / PROPOSED_S0)
    return results


@pytest.fixture
def two_profiles(one_profile: Path) -> Path:
    """The cpu record on sample (2000 / 500) and a smoke record on sample cut to 256 / 128."""
    add_smoke_copy(one_profile)
    return one_profile


class TestRowsSayTheirData:
    def test_rows_that_agree_name_their_one_dataset_in_the_header_and_get_no_data_column(self, one_profile):
        md = render_markdown(build_table1(load_results(one_profile)), [])
        assert "| Data |" not in md and "Rows differ" not in md
        assert "profile cpu; dataset sample (CIFAR-10 subset: 2000 train / 500 test, 10 classes)" in md

    def test_two_profiles_cutting_one_dataset_differently_say_which_data_per_row(self, two_profiles):
        md = render_markdown(build_table1(load_results(two_profiles)), [])
        assert "| Profile | Data | Acc. sample |" in md
        assert md_row(md, "| proposed | vit_cpu ").startswith("| proposed | vit_cpu | ViT-B_16 | cpu | sample 2000/500 | 0.4370 |")
        assert md_row(md, "| proposed | vit_smoke ").startswith(
            "| proposed | vit_smoke | ViT-B_16 | smoke | sample 256/128 | 0.1720 |")
        assert "Rows differ in profile and data: the `Profile` and `Data` columns say which per row." in md

    def test_a_report_never_describes_mixed_data_as_one_dataset(self, two_profiles):
        md = render_markdown(build_table1(load_results(two_profiles)), [])
        assert ("profiles cpu, smoke; datasets sample (CIFAR-10 subset: 256 train / 128 test, 10 classes), "
                "sample (CIFAR-10 subset: 2000 train / 500 test, 10 classes)") in md
        assert "- dataset sample (CIFAR-10 subset: 256 train / 128 test, 10 classes): profile smoke" in md
        assert "- dataset sample (CIFAR-10 subset: 2000 train / 500 test, 10 classes): profile cpu" in md

    def test_two_datasets_on_one_profile_get_a_data_column(self, one_profile):
        shutil.copytree(RECORDS / "proposed-vit_cpu-cifar100-cpu-s0-44444444",
                        one_profile / "proposed-vit_cpu-cifar100-cpu-s0-44444444")
        shutil.copytree(RECORDS / "le-pyramidnet_shakedrop_cpu-sample-cpu-s0-9a8b7c6d",
                        one_profile / "le-pyramidnet_shakedrop_cpu-sample-cpu-s0-9a8b7c6d")
        md = render_markdown(build_table1(load_results(one_profile)), [])
        assert md_row(md, "| proposed | vit_cpu ").startswith(
            "| proposed | vit_cpu | ViT-B_16 | cpu | cifar100 50000/10000; sample 2000/500 |")
        assert md_row(md, "| le | pyramidnet").startswith("| le | pyramidnet_shakedrop_cpu | ShakeDrop | cpu | sample 2000/500 |")
        assert "Rows differ in data: the `Data` column says which per row." in md

    def test_report_page_sends_the_reader_to_the_per_row_columns(self, two_profiles, tmp_path, capsys):
        assert main(["report", "--results", str(two_profiles), "--out", str(tmp_path / "rep")]) == 0
        page = (tmp_path / "rep" / "report.md").read_text()
        assert "Rows differ in profile and data: the `Profile` and `Data` columns say which per row." in page
        assert "datasets sample (CIFAR-10 subset: 256 train / 128 test, 10 classes), sample" in page
        assert "profiles cpu, smoke" in capsys.readouterr().out


# -- curves.png with many series ----------------------------------------------------------------------------------
def twenty_series() -> Curves:
    """20 series per panel, most of them on top of each other (every key recovered from n = 5 on)."""
    curves = Curves()
    for attack in ("pooled", "kpa"):
        for i in range(20):
            label = f"scheme{i:02d} (cpu, 32x32)"
            curves.series.setdefault(attack, {})[label] = [(1, 0.01 * (i % 3), False), (5, 1.0, True), (50, 1.0, True)]
            curves.sources[(attack, label)] = f"run-{i}"
            curves.schemes[label] = f"scheme{i:02d}"
    return curves


class TestCurvesWithTwentySeries:
    def test_legend_lies_outside_every_axes(self):
        import matplotlib.pyplot as plt

        fig = draw_curves(twenty_series())
        try:
            fig.canvas.draw()
            (legend,) = fig.legends
            box = legend.get_window_extent()
            assert len(legend.get_texts()) == 20
            for ax in fig.axes:
                assert not box.overlaps(ax.get_window_extent())
            assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)  # not cut off
        finally:
            plt.close(fig)

    def test_every_series_has_its_own_colour_and_marker_the_same_in_every_panel(self):
        import matplotlib.pyplot as plt
        from matplotlib.colors import to_hex

        fig = draw_curves(twenty_series())
        try:
            styles = []
            for ax in fig.axes:
                lines = {l.get_label(): l for l in ax.get_lines() if not l.get_label().startswith("_")}
                assert len(lines) == 20
                styles.append({label: (to_hex(l.get_color()), l.get_marker()) for label, l in lines.items()})
            assert styles[0] == styles[1]
            colours = [c for c, _ in styles[0].values()]
            assert len(set(colours)) == 20  # 20 distinct colours
            assert len(set(styles[0].values())) == 20
        finally:
            plt.close(fig)

    def test_series_styles_differ_in_colour_or_marker_and_twins_in_marker(self):
        styles = series_styles([f"s{i}" for i in range(40)])
        for (a, sa), (b, sb) in combinations(styles.items(), 2):
            assert (sa.colour, sa.marker) != (sb.colour, sb.marker), (a, b)
        light, dark = styles["s10"], styles["s0"]  # tab20's light twin of the first hue
        assert light.marker != dark.marker

    def test_overlapping_series_are_drawn_apart_in_n_and_in_size(self):
        styles = list(series_styles([f"s{i}" for i in range(20)]).values())
        factors = [s.x_factor for s in styles]
        assert len(set(factors)) == 20 and min(factors) >= 1 - X_SPREAD - 1e-12 and max(factors) <= 1 + X_SPREAD + 1e-12
        assert X_SPREAD <= 0.15  # a point stays closer to its own n than to the next tick (1, 2, 5, 10, ...)
        assert factors == sorted(factors) and sum(factors) / 20 == pytest.approx(1.0)
        sizes = [s.markersize for s in styles]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]

    def test_twenty_series_render_to_png(self, tmp_path):
        import matplotlib.pyplot as plt

        from ppbench.reports.fig4 import save_png_and_pdf

        fig = draw_curves(twenty_series())
        try:
            png, pdf = save_png_and_pdf(fig, tmp_path, "curves")
        finally:
            plt.close(fig)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.stat().st_size > 0


@pytest.mark.slow
def test_table1_shows_generic_key_recovery_beside_the_specific_one(tmp_path):
    """A real run with kpa, kpa_generic and cpa_generic: Table I names each one's pairs or chosen images."""
    results = tmp_path / "runs"
    assert main(["run", "--profile", "smoke", "--scheme", "pe", "--network", "none", "--attack", "kpa", "kpa_generic",
                 "cpa_generic", "--n-train", "64", "--n-test", "32", "--dataset", "sample", "--results", str(results),
                 "--no-progress"]) == 0
    table = build_table1(load_results(results))
    markdown = render_markdown(table, [])
    assert "| Known/chosen-plaintext SSIM |" in markdown
    cell = md_row(markdown, "| pe | none")
    assert "pair(s) to break (kpa);" in cell
    assert "pair(s) to break (kpa_generic)" in cell
    assert "18 chosen image(s) (cpa_generic)" in cell  # 1 + ceil(log2(24 * 32 * 32)) + 2 verification images
    (row,) = [r for r in table.rows if r.scheme == "pe" and r.network == "none"]
    specific, generic = row.pairs_split
    assert specific[1] == "kpa" and generic[1] == "kpa_generic" and generic[0] > specific[0]
