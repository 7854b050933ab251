"""Fig. 4 (restored images beside plain and encrypted ones, with their SSIM) rendered from the fixture records
(``tests/testdata/records``, see tests/test_reports.py's docstring)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ppbench.errors import InputError
from ppbench.reports.fig4 import build_fig4, write_fig4
from ppbench.reports.load import load_results

RECORDS = Path(__file__).resolve().parent / "testdata" / "records"
PROPOSED_S0 = "proposed-vit_cpu-sample-cpu-s0-1a2b3c4d"
LE_ATTACKS = "le-none-sample-cpu-s0-0c1d2e3f"


class TestFig4:
    def test_one_row_per_scheme_with_attacks_in_paper_order(self, records):
        fig4 = build_fig4(records)
        assert [r.scheme for r in fig4.rows] == ["le", "proposed"]
        assert fig4.attacks == ["fr", "gan", "itn"]
        assert (fig4.profile, fig4.dataset) == ("cpu", "sample")

    def test_prefers_the_run_that_kept_its_images(self, records):
        (proposed,) = [r for r in build_fig4(records).rows if r.scheme == "proposed"]
        assert proposed.run.run_id == PROPOSED_S0

    def test_an_attack_a_row_did_not_run_is_marked_not_run(self, records):
        cell = build_fig4(records).cell("proposed", "gan")
        assert cell.image is None and cell.status == "not run"

    def test_ssim_under_each_image_comes_from_the_per_image_csv(self, records):
        assert build_fig4(records).cell("le", "itn").ssim == 0.601
        assert build_fig4(records, index=1).cell("le", "itn").ssim == 0.625
        assert build_fig4(records).cell("proposed", "encrypted").ssim == 0.041
        assert build_fig4(records).cell("le", "encrypted").ssim is None

    def test_every_row_shows_the_same_test_image(self, records):
        fig4 = build_fig4(records, index=1)
        with np.load(RECORDS / LE_ATTACKS / "attacks" / "samples.npz") as data:
            expected = data["plain"][1]
        for row in fig4.rows:
            assert np.array_equal(row.plain.image, expected)
        assert not any("differ" in note for note in fig4.notes)

    def test_plain_and_encrypted_fall_back_to_a_restored_npz_that_holds_them(self, results_copy):
        attacks = results_copy / PROPOSED_S0 / "attacks"
        with np.load(attacks / "samples.npz") as samples, np.load(attacks / "itn_restored.npz") as itn:
            plain, encrypted, restored = samples["plain"], samples["encrypted"], itn["restored"]
        (attacks / "samples.npz").unlink()
        np.savez_compressed(attacks / "itn_restored.npz", restored=restored, plain=plain, encrypted=encrypted)
        fig4 = build_fig4(load_results(results_copy))
        assert np.array_equal(fig4.cell("proposed", "encrypted").image, encrypted[0])
        assert not any("no attacks/samples.npz" in note for note in fig4.notes)

    def test_without_any_plain_images_the_cells_say_so(self, results_copy):
        (results_copy / PROPOSED_S0 / "attacks" / "samples.npz").unlink()
        fig4 = build_fig4(load_results(results_copy))
        assert fig4.cell("proposed", "plain").status == "no samples.npz"
        assert f"{PROPOSED_S0}: no attacks/samples.npz, so its plain and encrypted images are not shown" in fig4.notes
        assert fig4.cell("proposed", "itn").image is not None

    def test_index_out_of_range_is_a_user_error(self, records):
        with pytest.raises(InputError, match="out of range"):
            build_fig4(records, index=8)

    def test_writes_png_and_pdf(self, records, tmp_path):
        import matplotlib.image

        _, paths = write_fig4(records, tmp_path)
        assert [p.name for p in paths] == ["fig4.png", "fig4.pdf"]
        image = matplotlib.image.imread(paths[0])
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
        assert paths[1].read_bytes()[:5] == b"%PDF-"

    def test_no_attack_results_gives_an_empty_figure_and_a_note(self, tmp_path):
        results = tmp_path / "results"
        shutil.copytree(RECORDS / "plain-resnet18_cpu-sample-cpu-s0-22222222", results / "plain")
        fig4, paths = write_fig4(load_results(results), tmp_path / "out")
        assert fig4.rows == [] and "no complete record holds attack results" in fig4.notes[-1]
        assert paths[0].exists()


# -- regression check ------------------------------------------------------------------------------------
