"""Reports: Table I, report.md and the CI regression check, on the fixture records (Fig. 4: test_fig4.py).

The fixtures (``tests/testdata/records``, made by ``make_records.py`` there): proposed/vit_cpu on the
sample with seeds 0 and 1 (accuracy 0.437, 0.463; itn SSIM 0.212, 0.232) and on cifar100 (0.201);
le attack-only (fr 0.118, gan 0.402, itn 0.613) and le/pyramidnet_shakedrop_cpu (0.301); two records
of plain/resnet18_cpu seed 0 that disagree (0.52, then 0.55); one running pe record.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from ppbench.cli import main
from ppbench.errors import DataError
from ppbench.reports.check import ThresholdsError, load_thresholds, parse_thresholds, run_check
from ppbench.reports.curves import build_curves
from ppbench.reports.load import Reading, best_reading, load_results
from ppbench.reports.security import DEFAULT_SSIM_THRESHOLD, is_secure
from ppbench.reports.table1 import (build_table1, load_paper_table, paper_attacks, render_csv, render_latex,
                                    render_markdown, write_table1)

RECORDS = Path(__file__).resolve().parent / "testdata" / "records"
PROPOSED_S0 = "proposed-vit_cpu-sample-cpu-s0-1a2b3c4d"
LE_ATTACKS = "le-none-sample-cpu-s0-0c1d2e3f"


@pytest.fixture(scope="module")
def table(records):
    return build_table1(records)


def edit_record(run_dir: Path, **changes) -> dict:
    """Apply ``changes`` (dotted paths like ``metrics.attacks.itn.ssim_mean``) to a run's result.json."""
    path = run_dir / "result.json"
    record = json.loads(path.read_text())
    for dotted, value in changes.items():
        node = record
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    path.write_text(json.dumps(record))
    return record


def md_row(markdown: str, prefix: str) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, rows
    return rows[0]


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(text)
    return path


# -- loading ---------------------------------------------------------------------------------------------
class TestLoading:
    def test_incomplete_records_are_skipped_and_counted(self, records):
        assert "pe" not in {r.scheme for r in records.runs}
        assert records.notes.incomplete == ["pe-resnet18_cpu-sample-cpu-s0-33333333 (status 'running')"]
        assert any(line.startswith("skipped 1 incomplete record(s)") for line in records.notes.lines())

    def test_conflicting_records_are_noted_and_the_latest_is_used(self, records):
        (conflict,) = records.notes.conflicts
        assert conflict.startswith("plain/resnet18_cpu on sample, profile cpu, seed 0: 2 records disagree (different configs)")
        assert ("accuracy 0.5200 (plain-resnet18_cpu-sample-cpu-s0-11111111) vs "
                "0.5500 (plain-resnet18_cpu-sample-cpu-s0-22222222)") in conflict
        (plain,) = [r for r in records.runs if r.scheme == "plain"]
        assert plain.accuracy == 0.55

    def test_identical_copies_are_duplicates_not_conflicts(self, results_copy):
        shutil.copytree(results_copy / PROPOSED_S0, results_copy / "copies" / PROPOSED_S0)
        loaded = load_results(results_copy)
        assert len(loaded.notes.duplicates) == 1 and len(loaded.notes.conflicts) == 1
        assert sum(r.run_id == PROPOSED_S0 for r in loaded.runs) == 1

    def test_unreadable_record_is_skipped_and_named(self, results_copy):
        (results_copy / "broken").mkdir()
        (results_copy / "broken" / "result.json").write_text("{not json")
        loaded = load_results(results_copy)
        assert len(loaded.runs) == 6
        assert "broken" in loaded.notes.unreadable[0] and "JSONDecodeError" in loaded.notes.unreadable[0]

    def test_profile_and_dataset_filters_count_what_they_leave_out(self):
        loaded = load_results(RECORDS, dataset="sample")
        assert {r.dataset for r in loaded.runs} == {"sample"}
        assert loaded.notes.filtered_out == 1

    def test_missing_results_folder_is_a_user_error(self, tmp_path):
        with pytest.raises(DataError, match="not found"):
            load_results(tmp_path / "nope")

    def test_best_reading_names_the_reading_apart_from_the_attack(self):
        entry = {"ssim_mean": -0.4, "ssim_mean_inverted": 0.7, "ssim_mean_mirrored": 0.2}
        assert best_reading(entry) == (Reading.NEGATIVE, 0.7)
        assert best_reading({"ssim_mean": 0.3, "ssim_mean_mirrored": 0.3}) == (Reading.AS_IS, 0.3), "ties: as is first"
        assert [Reading.NEGATIVE.label("gan"), Reading.MIRRORED.label("pooled"), Reading.AS_IS.label("itn")] == [
            "gan (negative)", "pooled (mirrored)", "itn"]
        assert [r.field for r in Reading] == ["ssim_mean", "ssim_mean_inverted", "ssim_mean_mirrored"]

    def test_attacks_frame_carries_the_attack_and_its_reading_in_separate_columns(self, results_copy):
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.gan.ssim_mean_inverted": 0.9})
        frame = load_results(results_copy).attacks_frame()
        gan = frame[(frame["scheme"] == "le") & (frame["attack"] == "gan")].iloc[0]
        assert (gan["attack"], Reading(gan["reading"]), gan["ssim_best"]) == ("gan", Reading.NEGATIVE, 0.9)


# -- Table I ---------------------------------------------------------------------------------------------
class TestTable1:
    # rows differ in their data (proposed also ran on cifar100), so a Data column says which per row
    HEADER = ("| Scheme | Network | Paper network | Profile | Data | Acc. sample | Paper CIFAR-10 | Acc. cifar100 "
              "| Paper CIFAR-100 | Strongest attack | SSIM | Security | Paper security | Paper's attacks only |")

    def test_markdown_has_a_dataset_column_per_dataset_beside_the_paper_columns(self, table, records):
        assert md_row(render_markdown(table, []), "| Scheme ") == self.HEADER

    def test_markdown_rows_show_ours_beside_the_papers(self, table):
        md = render_markdown(table, [])
        assert md_row(md, "| proposed ") == ("| proposed | vit_cpu | ViT-B_16 | cpu | cifar100 50000/10000; sample 2000/500 "
                                             "| 0.4500 ± 0.0184 (n=2) | 0.9664 "
                                             "| 0.2010 | 0.8442 | itn | 0.222 ± 0.014 (n=2) | ✓ | ✓ "
                                             "| ✓ itn 0.222 ± 0.014 (n=2) |")
        assert md_row(md, "| le ") == ("| le | pyramidnet_shakedrop_cpu | ShakeDrop | cpu | sample 2000/500 | 0.3010 | 0.9449 |  "
                                       "| 0.7548 | itn | 0.613 | ✗ | ✗ | ✗ itn 0.613 |")
        assert md_row(md, "| plain | resnet18_cpu ") == ("| plain | resnet18_cpu | ResNet-18 | cpu | sample 2000/500 | 0.5500 | 0.9553 "
                                                          "|  | — |  |  |  | — |  |")

    def test_paper_rows_without_records_are_empty_rows_with_a_note(self, table):
        md = render_markdown(table, [])
        assert md_row(md, "| etc ") == "| etc |  | ShakeDrop |  |  |  | 0.8594 |  | 0.6190 |  |  |  | ✓ |  |"
        assert "- missing: no record for the paper's row EtC / ShakeDrop" in md
        assert "- missing: no record for the paper's row Plain / ViT-B_16" in md

    def test_missing_dataset_cells_are_empty_with_a_note(self, table):
        md = render_markdown(table, [])
        assert "- missing: le/pyramidnet_shakedrop_cpu (profile cpu) has no record on cifar100" in md
        assert "- missing: no attack results for plain (profile cpu), so no security verdict" in md

    def test_verdict_resting_on_fewer_attacks_than_the_paper_is_flagged(self, table):
        md = render_markdown(table, [])
        assert "- partial: the verdict for proposed (profile cpu) rests on fr, itn only; the paper's gan not run" in md
        assert "partial: the verdict for le" not in md

    def test_rows_follow_the_papers_order(self, table):
        order = [(r.scheme, r.network or r.paper.network) for r in table.rows]
        assert order == [("le", "pyramidnet_shakedrop_cpu"), ("etc", "ShakeDrop"), ("ele", "ShakeDrop"),
                         ("pe", "ResNet-18"), ("proposed", "vit_cpu"), ("plain", "resnet18_cpu"),
                         ("plain", "ShakeDrop"), ("plain", "ViT-B_16")]

    def test_markdown_states_the_rule_and_the_record_notes(self, records, table):
        md = render_markdown(table, records.notes.lines())
        assert "below T = 0.30" in md and "--ssim-threshold" in md
        assert "- skipped 1 incomplete record(s)" in md
        assert "- conflict: plain/resnet18_cpu on sample" in md
        assert "- dataset sample (CIFAR-10 subset: 2000 train / 500 test, 10 classes)" in md
        assert "- dataset cifar100 (CIFAR-100: 50000 train / 10000 test, 100 classes)" in md

    def test_csv_holds_numbers_per_quantity(self, table):
        lines = render_csv(table).splitlines()
        assert lines[0] == ("scheme,network,profile,paper_network,data,accuracy_sample_mean,accuracy_sample_std,"
                            "accuracy_sample_n,accuracy_cifar100_mean,accuracy_cifar100_std,accuracy_cifar100_n,"
                            "paper_accuracy_cifar10,paper_accuracy_cifar100,strongest_attack,"
                            "strongest_attack_ssim_mean,strongest_attack_ssim_std,strongest_attack_n,"
                            "strongest_attack_share_restored,strongest_attack_ssim_best_image_median,"
                            "strongest_attack_best_reading_images,strongest_attack_recognition_accuracy,"
                            "recognition_plain_accuracy,recognition_chance,ssim_threshold,verdict_basis,"
                            "secure,secure_undetermined,baseline_share_restored,secure_mean_rule,paper_secure,paper_attacks_strongest,"
                            "paper_attacks_ssim_mean,paper_attacks_share_restored,paper_attacks_secure,"
                            "paper_attacks_secure_undetermined,paper_attacks_secure_mean_rule")
        # the fixtures predate the per-image share: the old mean rule decides (basis "mean"), no share, no recognition
        assert lines[1] == ("le,pyramidnet_shakedrop_cpu,cpu,ShakeDrop,sample 2000/500,0.301,,1,,,,0.9449,0.7548,itn,0.613,,1,"
                            ",,,,,,0.3,mean,False,False,,False,False,itn,0.613,,False,False,False")
        assert lines[2] == "etc,,,ShakeDrop,,,,,,,,0.8594,0.619,,,,,,,,,,,0.3,,,False,,,True,,,,,False,"
        assert lines[5] == ("proposed,vit_cpu,cpu,ViT-B_16,cifar100 50000/10000; sample 2000/500,0.45,0.01838477631,2,"
                            "0.201,,1,0.9664,0.8442,itn,0.222,"
                            "0.01414213562,2,,,,,,,0.3,mean,True,False,,True,True,itn,0.222,,True,False,True")
        assert len(lines) == 9

    def test_latex_is_booktabs_with_escaped_names_and_symbols(self, table):
        tex = render_latex(table, [])
        for needle in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lllllrrrrrrrrr}"):
            assert needle in tex
        assert ("proposed & vit\\_cpu & ViT-B\\_16 & cpu & cifar100 50000/10000; sample 2000/500 & 0.4500 $\\pm$ 0.0184 (n=2) "
                "& 0.9664 & 0.2010 & 0.8442 "
                "& itn & 0.222 $\\pm$ 0.014 (n=2) & \\checkmark & \\checkmark & \\checkmark itn 0.222 $\\pm$ 0.014 (n=2) "
                "\\\\") in tex
        assert "le & pyramidnet\\_shakedrop\\_cpu & ShakeDrop & cpu & sample 2000/500 & 0.3010 & 0.9449 &  & 0.7548 & itn & 0.613 & $\\times$ & $\\times$ & $\\times$ itn 0.613 \\\\" in tex
        assert "pe &  & ResNet-18 &  &  &  & 0.9203 &  & --- &  &  &  & $\\times$ &  \\\\" in tex

    def test_ssim_threshold_decides_the_verdict(self, records):
        strict = build_table1(records, ssim_threshold=0.2)
        (proposed,) = [r for r in strict.rows if r.scheme == "proposed"]
        assert proposed.secure is False
        assert "below T = 0.20" in render_markdown(strict, [])

    def test_strongest_attack_is_the_highest_mean_ssim(self, table):
        (le,) = [r for r in table.rows if r.scheme == "le"]
        assert (le.strongest.attack, le.strongest.reading, le.strongest.ssim.mean, le.strongest.ssim.n) == (
            "itn", Reading.AS_IS, 0.613, 1)

    def test_an_attack_that_restores_the_negative_counts_with_its_inverted_ssim(self, results_copy):
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.gan.ssim_mean": -0.37,
                                                  "metrics.attacks.gan.ssim_mean_inverted": 0.70})
        table = build_table1(load_results(results_copy))
        (le,) = [r for r in table.rows if r.scheme == "le"]
        assert (le.strongest.attack, le.strongest.reading, le.strongest.ssim.mean, le.secure) == (
            "gan", Reading.NEGATIVE, 0.70, False)
        assert "| gan (negative) | 0.700 | ✗ | ✗ | ✗ gan (negative) 0.700 |" in md_row(render_markdown(table, []), "| le ")

    def test_an_attack_that_restores_the_mirror_image_counts_with_its_mirrored_ssim(self, results_copy):
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.gan.ssim_mean_mirrored": 0.95,
                                                  "metrics.attacks.gan.ssim_mean_inverted": 0.70})
        (le,) = [r for r in build_table1(load_results(results_copy)).rows if r.scheme == "le"]
        assert (le.strongest.attack, le.strongest.reading, le.strongest.ssim.mean) == ("gan", Reading.MIRRORED, 0.95)
        assert le.strongest.label == "gan (mirrored)"

    def test_inverted_ssim_below_the_positive_one_changes_nothing(self, results_copy):
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.itn.ssim_mean_inverted": -0.5})
        (le,) = [r for r in build_table1(load_results(results_copy)).rows if r.scheme == "le"]
        assert (le.strongest.attack, le.strongest.reading, le.strongest.ssim.mean) == ("itn", Reading.AS_IS, 0.613)

    def test_jpeg_runs_get_their_own_rows(self, results_copy):
        edit_record(results_copy / "plain-resnet18_cpu-sample-cpu-s0-22222222", **{"config.jpeg_quality": 75})
        records = load_results(results_copy)
        assert not any("conflict" in line for line in records.notes.lines()), "JPEG is not a rerun of the same config"
        schemes = [r.scheme for r in build_table1(records).rows]
        assert "plain+jpeg75" in schemes and "plain" in schemes

    def test_paper_attacks_only_column_gives_the_verdict_of_fr_gan_itn_beside_the_strongest(self, results_copy):
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks": {
            "fr": {"ssim_mean": 0.05}, "itn": {"ssim_mean": 0.2},
            "pooled": {"ssim_mean": 1.0, "threat_model": "ciphertext_only_many"}}})
        (le,) = [r for r in build_table1(load_results(results_copy)).rows if r.scheme == "le"]
        assert (le.strongest.attack, le.secure) == ("pooled", False)
        assert (le.paper_strongest.attack, le.paper_strongest.ssim.mean, le.paper_secure) == ("itn", 0.2, True)

    def test_known_plaintext_attacks_are_shown_beside_the_verdict_never_in_it(self, results_copy, table):
        assert "Known-plaintext SSIM" not in render_markdown(table, [])
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.kpa": {"ssim_mean": 1.0, "threat_model": "known_plaintext"}})
        with_kpa = build_table1(load_results(results_copy))
        (le,) = [r for r in with_kpa.rows if r.scheme == "le"]
        assert (le.strongest.attack, le.strongest.ssim.mean) == ("itn", 0.613), "the verdict rests on ciphertext-only attacks"
        assert le.known_plaintext.attack == "kpa" and le.known_plaintext.ssim.mean == 1.0
        assert md_row(render_markdown(with_kpa, []), "| Scheme ").endswith("| Paper security | Paper's attacks only | Known-plaintext SSIM |")

    def test_ciphertexts_to_break_column_only_when_a_record_has_it(self, results_copy, table):
        assert "Ciphertexts to break" not in render_markdown(table, [])
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.fr.ciphertexts_to_break": 3})
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.itn.ciphertexts_to_break": 40})
        with_ctb = build_table1(load_results(results_copy))
        md = render_markdown(with_ctb, [])
        assert md_row(md, "| Scheme ").endswith("| Paper security | Paper's attacks only | Ciphertexts to break |")
        assert md_row(md, "| le ").endswith("| ✗ | ✗ | ✗ itn 0.613 | 3 (fr) |")
        assert "ciphertexts_to_break,ciphertexts_to_break_attack" in render_csv(with_ctb).splitlines()[0]

    def test_known_plaintext_pairs_to_break_stay_out_of_the_ciphertexts_column(self, results_copy):
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.kpa": {
            "ssim_mean": 1.0, "threat_model": "known_plaintext", "ciphertexts_to_break": 1}})
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.pooled": {
            "ssim_mean": 1.0, "threat_model": "ciphertext_only_many", "ciphertexts_to_break": 5}})
        table = build_table1(load_results(results_copy))
        (le,) = [r for r in table.rows if r.scheme == "le"]
        assert le.ciphertexts[:2] == (5.0, "pooled") and le.pairs[:2] == (1.0, "kpa")
        assert md_row(render_markdown(table, []), "| le ").endswith("| 1.000 (kpa); 1 pair(s) to break (kpa) | 5 (pooled) |")

    def test_a_seed_whose_curve_never_broke_the_scheme_shows_more_than_the_largest_n(self, results_copy):
        broke = {"ssim_mean": 1.0, "threat_model": "ciphertext_only_many", "ciphertexts_to_break": 5,
                 "curve": [{"n": 1, "ssim_mean": 0.2}, {"n": 5, "ssim_mean": 1.0}]}
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.pooled": broke})
        assert md_row(render_markdown(build_table1(load_results(results_copy)), []), "| le ").endswith("| 5 (pooled) |")
        never = {**broke, "ciphertexts_to_break": None, "curve": [{"n": 1, "ssim_mean": 0.2}, {"n": 100, "ssim_mean": 0.5}]}
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.pooled": never})
        table = build_table1(load_results(results_copy))
        assert md_row(render_markdown(table, []), "| le ").endswith("| > 100 (pooled) |")
        assert "ciphertexts_tried_up_to" in render_csv(table).splitlines()[0]

    def test_best_reading_is_taken_per_record_before_the_mean_over_seeds(self, results_copy):
        # seed 0 restores the negative (inverted 0.8), seed 1 the image itself (0.6): mean of the bests, 0.7
        seeds = sorted(p for p in results_copy.iterdir() if p.name.startswith("proposed-vit_cpu-sample"))
        edit_record(seeds[0], **{"metrics.attacks.gan": {"ssim_mean": -0.5, "ssim_mean_inverted": 0.8,
                                                        "threat_model": "ciphertext_only_unpaired_plain"}})
        edit_record(seeds[1], **{"metrics.attacks.gan": {"ssim_mean": 0.6, "ssim_mean_inverted": -0.4,
                                                        "threat_model": "ciphertext_only_unpaired_plain"}})
        (proposed,) = [r for r in build_table1(load_results(results_copy)).rows
                       if r.scheme == "proposed" and r.profile == "cpu" and "sample" in r.accuracy]
        assert proposed.strongest.attack == "gan" and proposed.strongest.ssim.mean == pytest.approx(0.7)
        assert proposed.strongest.reading is Reading.AS_IS, "one record each way: a tie goes to as_is"

    def test_attack_only_scheme_gets_a_row_without_accuracy(self, results_copy):
        shutil.rmtree(results_copy / "le-pyramidnet_shakedrop_cpu-sample-cpu-s0-9a8b7c6d")
        md = render_markdown(build_table1(load_results(results_copy)), [])
        assert md_row(md, "| le ") == ("| le | none | ShakeDrop | cpu | sample 2000/500 | — | 0.9449 | — | 0.7548 | itn "
                                       "| 0.613 | ✗ | ✗ "
                                       "| ✗ itn 0.613 |")
        assert "has no record on" not in md_row(md, "| le ")

    def test_empty_results_folder_shows_the_papers_rows_only(self, tmp_path):
        table = build_table1(load_results(tmp_path))
        assert len(table.rows) == 8 and not any(r.has_record for r in table.rows)
        assert md_row(render_markdown(table, []), "| proposed ") == "| proposed |  | ViT-B_16 |  | 0.9664 | 0.8442 |  |  |  | ✓ |  |"

    def test_write_table1_writes_three_views(self, records, tmp_path):
        _, paths = write_table1(records, tmp_path)
        assert [p.name for p in paths] == ["table1.md", "table1.csv", "table1.tex"]
        assert all(p.stat().st_size > 0 for p in paths)
        assert not list(tmp_path.glob(".*.tmp"))

    def test_the_papers_attacks_are_fr_gan_itn_for_table1_and_on_their_registry_entries(self):
        from ppbench.attacks import attack_info, list_attacks

        assert paper_attacks() == ("fr", "gan", "itn")
        assert [name for name in list_attacks() if attack_info(name).in_seed_paper] == list(paper_attacks())
        assert attack_info("fr").to_dict()["in_seed_paper"] is True and not attack_info("fr_adv").in_seed_paper

    def test_paper_table_cites_its_source_and_holds_fractions(self):
        source, rows = load_paper_table()
        assert "Table I" in source["table"] and "2205.12041" in source["paper"]
        assert len(rows) == 8
        assert all(v is None or 0 < v < 1 for r in rows for v in r.accuracy.values())
        verdicts = {r.label: r.security for r in rows if r.scheme != "plain"}
        assert verdicts == {"LE*": False, "EtC": True, "ELE*": True, "PE": False, "Proposed": True}


class TestSecurityRule:
    def test_secure_strictly_below_threshold(self):
        assert is_secure(0.29, 0.3) is True
        assert is_secure(0.3, 0.3) is False
        assert is_secure(None) is None

    def test_default_threshold_is_documented_value(self):
        assert DEFAULT_SSIM_THRESHOLD == 0.30


# -- the regression check ------------------------------------------------------------------------------
PASSING = """
[meta]
profile = "cpu"
dataset = "sample"

[defaults]
min_accuracy = 0.10

[rows."proposed/vit_cpu"]
min_accuracy = 0.40
max_ssim.itn = 0.35

[rows."le/none"]
min_ssim.itn = 0.40

[rows."le/*"]
max_ssim.fr = 0.20
"""


class TestCheck:
    def test_passes_when_every_bound_holds(self, tmp_path):
        status, lines = run_check(RECORDS, write_toml(tmp_path, PASSING))
        assert status == 0, lines
        assert lines[-1] == "check passed: all 5 check(s) hold in 3 row(s)"
        assert ("ok   proposed/vit_cpu: accuracy 0.4500 >= min_accuracy 0.4000 (margin 0.0500; mean of 2 records)"
                in lines)
        assert "ok   le/pyramidnet_shakedrop_cpu (via le/*): accuracy 0.3010 >= min_accuracy 0.1000 (margin 0.2010; mean of 1 record)" in lines

    def test_names_the_row_that_falls_short_and_by_how_much(self, tmp_path):
        text = PASSING.replace("min_accuracy = 0.40", "min_accuracy = 0.46")
        status, lines = run_check(RECORDS, write_toml(tmp_path, text))
        assert status == 1
        assert ("FAIL proposed/vit_cpu: accuracy 0.4500 < min_accuracy 0.4600 (short by 0.0100; mean of 2 records)"
                in lines)
        assert lines[-1] == "check FAILED: 1 of 5 check(s) failed in 1 row(s): proposed/vit_cpu"

    def test_max_bound_reports_the_excess(self, tmp_path):
        text = PASSING.replace("max_ssim.itn = 0.35", "max_ssim.itn = 0.20")
        status, lines = run_check(RECORDS, write_toml(tmp_path, text))
        assert status == 1
        assert "FAIL proposed/vit_cpu: itn SSIM 0.2220 > max_ssim.itn 0.2000 (over by 0.0220; mean of 2 records)" in lines

    def test_max_bound_reads_the_best_reading_so_a_restored_negative_cannot_slip_through(self, results_copy, tmp_path):
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.fr.ssim_mean": -0.5,
                                                  "metrics.attacks.fr.ssim_mean_inverted": 0.6})
        status, lines = run_check(results_copy, write_toml(tmp_path, PASSING))
        assert status == 1 and "FAIL le/*: fr SSIM 0.6000 > max_ssim.fr 0.2000 (over by 0.4000; mean of 1 record)" in lines

    def test_row_without_record_fails_as_no_record(self, tmp_path):
        text = PASSING + '\n[rows."etc/pyramidnet_shakedrop_cpu"]\nmin_accuracy = 0.5\n'
        status, lines = run_check(RECORDS, write_toml(tmp_path, text))
        assert status == 1
        assert ("FAIL etc/pyramidnet_shakedrop_cpu: no record (no complete record for this row in profile cpu, "
                "dataset sample; 1 bound(s) unchecked)") in lines

    def test_bounded_attack_that_never_ran_fails(self, tmp_path):
        text = PASSING.replace("max_ssim.itn = 0.35", "max_ssim.itn = 0.35\nmax_ssim.gan = 0.35")
        status, lines = run_check(RECORDS, write_toml(tmp_path, text))
        assert status == 1
        assert "FAIL proposed/vit_cpu: no gan result for scheme proposed (needed for max_ssim.gan 0.3500)" in lines

    def test_scheme_swapped_for_plain_fails_max_ssim(self, results_copy, tmp_path):
        # a record that claims "proposed" but whose images were never encrypted: every attack restores them
        for run in ("proposed-vit_cpu-sample-cpu-s0-1a2b3c4d", "proposed-vit_cpu-sample-cpu-s1-5e6f7a8b"):
            edit_record(results_copy / run, **{"metrics.attacks.itn.ssim_mean": 1.0, "metrics.attacks.fr.ssim_mean": 1.0})
        status, lines = run_check(results_copy, write_toml(tmp_path, PASSING))
        assert status == 1
        assert "FAIL proposed/vit_cpu: itn SSIM 1.0000 > max_ssim.itn 0.3500 (over by 0.6500; mean of 2 records)" in lines

    def test_attack_swapped_for_identity_fails_min_ssim(self, results_copy, tmp_path):
        # an "attack" that returns the ciphertext restores nothing: LE's itn falls to the ciphertext's SSIM
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.itn.ssim_mean": 0.02})
        status, lines = run_check(results_copy, write_toml(tmp_path, PASSING))
        assert status == 1
        assert "FAIL le/none: itn SSIM 0.0200 < min_ssim.itn 0.4000 (short by 0.3800; mean of 1 record)" in lines

    def test_row_values_override_defaults_per_key(self):
        thresholds = parse_thresholds({"defaults": {"min_accuracy": 0.1, "max_ssim": {"itn": 0.3, "fr": 0.2}},
                                       "rows": {"a/b": {"max_ssim": {"itn": 0.5}}, "a/none": {}}})
        bounds = thresholds.bounds("a/b")
        assert (bounds.min_accuracy, dict(bounds.max_ssim)) == (0.1, {"itn": 0.5, "fr": 0.2})
        assert thresholds.bounds("a/none").min_accuracy is None

    def test_meta_filters_the_records_read(self, tmp_path):
        text = PASSING.replace('dataset = "sample"', 'dataset = "cifar100"')
        status, lines = run_check(RECORDS, write_toml(tmp_path, text))
        assert status == 1
        assert lines[0].endswith("(profile cpu, dataset cifar100)")
        assert "FAIL proposed/vit_cpu: accuracy 0.2010 < min_accuracy 0.4000 (short by 0.1990; mean of 1 record)" in lines
        assert "FAIL proposed/vit_cpu: no itn result for scheme proposed (needed for max_ssim.itn 0.3500)" in lines
        assert any(line.startswith("FAIL le/none: no record") for line in lines)


class TestThresholdsErrors:
    def test_unknown_key_names_the_key_and_the_allowed_ones(self, tmp_path):
        path = write_toml(tmp_path, '[rows."proposed/vit_cpu"]\nmin_acuracy = 0.4\n')
        with pytest.raises(ThresholdsError) as info:
            load_thresholds(path)
        message = str(info.value)
        assert "unknown key 'min_acuracy' (did you mean 'min_accuracy'?)" in message
        assert "allowed keys: min_accuracy, max_accuracy, min_ssim.<attack>, max_ssim.<attack>" in message

    @pytest.mark.parametrize("text, expected", [
        ('[meta]\nnetwork = "x"\n[rows."a/b"]\nmin_accuracy = 0.1\n', "unknown key 'network' in [meta]; allowed keys: profile, dataset"),
        ('[limits]\n[rows."a/b"]\nmin_accuracy = 0.1\n', "unknown table 'limits'"),
        ('[defaults]\nmin_accuracy = 0.1\n', "no rows to check"),
        ('[rows."proposed"]\nmin_accuracy = 0.1\n', "row name 'proposed' must be"),
        ('[rows."a/b"]\nmax_ssim = 0.3\n', "needs an attack name: write max_ssim.itn = 0.3"),
        ('[rows."a/b"]\nmin_accuracy = 40\n', "outside [0, 1]"),
        ('[rows."a/b"]\nmin_accuracy = "high"\n', "must be a number"),
        ('[rows."a/none"]\nmin_accuracy = 0.1\n', "attack-only records have no accuracy"),
        ('[rows."a/b"]\nmin_accuracy = 0.5\nmax_accuracy = 0.4\n', "min_accuracy 0.5 > max_accuracy 0.4"),
        ('[rows."a/b"\n', "cannot read thresholds file"),
    ])
    def test_bad_thresholds_are_errors(self, tmp_path, text, expected):
        with pytest.raises(ThresholdsError) as info:
            load_thresholds(write_toml(tmp_path, text))
        assert expected in str(info.value)


# -- command line ----------------------------------------------------------------------------------------
class TestCommandLine:
    def test_report_writes_every_view_and_says_where(self, tmp_path, capsys):
        out = tmp_path / "report"
        assert main(["report", "--results", str(RECORDS), "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        for name in ("table1.md", "table1.csv", "table1.tex", "fig4.png", "fig4.pdf", "report.md"):
            assert (out / name).stat().st_size > 0
            assert str(out / name) in printed
        assert "Table I:" in printed and "Fig. 4:" in printed

    def test_index_page_links_views_and_states_provenance_rule_and_notes(self, tmp_path):
        out = tmp_path / "report"
        main(["report", "--results", str(RECORDS), "--out", str(out), "--ssim-threshold", "0.25"])
        page = (out / "report.md").read_text()
        for link in ("](table1.md)", "](table1.csv)", "](table1.tex)", "](fig4.png)", "](fig4.pdf)"):
            assert link in page
        assert ("Test image #0 in every row, one run per scheme, from 2 run(s); profile cpu; dataset sample "
                "(CIFAR-10 subset: 2000 train / 500 test, 10 classes); image size 32x32.") in page
        assert "below T = 0.25" in page
        assert "- skipped 1 incomplete record(s)" in page and "- conflict: plain/resnet18_cpu" in page
        assert "- missing: no record for the paper's row ELE* / ShakeDrop" in page

    def test_without_key_recovery_curves_no_curve_figure_is_written(self, tmp_path):
        out = tmp_path / "report"
        main(["report", "--results", str(RECORDS), "--out", str(out)])
        assert not (out / "curves.png").exists() and "curves.png" not in (out / "report.md").read_text()

    def test_key_recovery_curves_in_records_become_a_figure_on_the_index_page(self, results_copy, tmp_path, capsys):
        curve = [{"n": 1, "ssim_mean": 0.4, "exact_key": False, "seconds": 0.1},
                 {"n": 5, "ssim_mean": 1.0, "exact_key": True, "seconds": 0.2}]
        edit_record(results_copy / LE_ATTACKS, **{"metrics.attacks.pooled": {
            "ssim_mean": 1.0, "threat_model": "ciphertext_only_many", "curve": curve, "ciphertexts_to_break": 5}})
        out = tmp_path / "report"
        assert main(["report", "--results", str(results_copy), "--out", str(out)]) == 0
        assert (out / "curves.png").stat().st_size > 0 and (out / "curves.pdf").stat().st_size > 0
        assert str(out / "curves.png") in capsys.readouterr().out
        page = (out / "report.md").read_text()
        assert "](curves.png)" in page and f"le/pooled {LE_ATTACKS}" in page
        curves = build_curves(load_results(results_copy))
        assert curves.series == {"pooled": {"le": [(1, 0.4, False), (5, 1.0, True)]}}
        assert md_row((out / "table1.md").read_text(), "| le ").endswith("| 5 (pooled) |")

    def test_check_exit_status_is_1_on_failure_and_0_on_success(self, tmp_path, capsys):
        good = write_toml(tmp_path, PASSING)
        assert main(["report", "--results", str(RECORDS), "--check", str(good)]) == 0
        bad = tmp_path / "bad.toml"
        bad.write_text(PASSING.replace("max_ssim.itn = 0.35", "max_ssim.itn = 0.1"))
        assert main(["report", "--results", str(RECORDS), "--check", str(bad)]) == 1
        assert "FAIL proposed/vit_cpu: itn SSIM 0.2220 > max_ssim.itn 0.1000" in capsys.readouterr().out

    def test_check_does_not_write_the_report(self, tmp_path):
        out = tmp_path / "report"
        main(["report", "--results", str(RECORDS), "--out", str(out), "--check", str(write_toml(tmp_path, PASSING))])
        assert not out.exists()

    def test_unknown_threshold_key_exits_2_with_the_key(self, tmp_path, capsys):
        path = write_toml(tmp_path, '[defaults]\nmax_ssims.itn = 0.3\n[rows."a/b"]\n')
        assert main(["report", "--results", str(RECORDS), "--check", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ppbench: error: ") and "unknown key 'max_ssims'" in err

    def test_fig4_index_out_of_range_exits_2(self, tmp_path, capsys):
        assert main(["report", "--results", str(RECORDS), "--out", str(tmp_path), "--fig4-index", "9"]) == 2
        assert "--fig4-index 9 is out of range" in capsys.readouterr().err

    def test_missing_results_folder_exits_2(self, tmp_path, capsys):
        assert main(["report", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
        assert "results folder" in capsys.readouterr().err

    def test_report_never_imports_torch(self, tmp_path):
        import subprocess

        code = ("import sys; from ppbench.cli import main; "
                f"main(['report', '--results', {str(RECORDS)!r}, '--out', {str(tmp_path)!r}]); "
                "sys.exit(1 if 'torch' in sys.modules else 0)")
        assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
