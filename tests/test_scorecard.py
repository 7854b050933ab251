"""``ppbench scorecard``: one page for one scheme, from real records of a tiny smoke run.

The records come from ``ppbench run --profile smoke`` on 32 / 16 images of the bundled sample (PE with the
FR attack, and plain on the same network: seconds). The expected numbers are read from those records'
JSON directly, not through the code under test; the verdict's expectation uses the stated rule
(:func:`ppbench.reports.security.is_secure` on the best reading of the only attack).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from ppbench.cli import main
from ppbench.reports.load import Run, load_results
from ppbench.reports.scorecard import attacks_frame, build_scorecard
from ppbench.reports.security import DEFAULT_SSIM_THRESHOLD, RESTORED_SHARE, is_secure, rule_text

RUN = ["--profile", "smoke", "--dataset", "sample", "--n-train", "32", "--n-test", "16", "--no-progress"]
CARD = ["scorecard", "--scheme", "pe", "--profile", "smoke", "--dataset", "sample", "--n-train", "32",
        "--n-test", "16", "--attack", "fr", "--no-progress"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _record(results: Path, scheme: str) -> dict:
    (path,) = sorted(results.glob(f"{scheme}-*/result.json"))
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Real records: PE attacked by FR, and plain on the same network (vit_smoke), smoke profile."""
    folder = tmp_path_factory.mktemp("results")
    assert main(["run", "--scheme", "pe", "--attack", "fr", "--results", str(folder), *RUN]) == 0
    assert main(["run", "--scheme", "plain", "--results", str(folder), *RUN]) == 0
    return folder


@pytest.fixture(scope="module")
def card_dir(results: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("card")
    assert main([*CARD, "--results", str(results), "--out", str(out), "--no-run"]) == 0
    return out


def _fr_best(record: dict) -> float:
    fr = record["metrics"]["attacks"]["fr"]
    return max(fr["ssim_mean"], fr["ssim_mean_inverted"], fr["ssim_mean_mirrored"])


def _line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


class TestMarkdown:
    def test_shows_the_schemes_accuracy_beside_plains_on_the_same_network(self, results, card_dir):
        pe, plain = _record(results, "pe"), _record(results, "plain")
        assert pe["network"]["name"] == plain["network"]["name"] == "vit_smoke"
        md = (card_dir / "pe.md").read_text()
        assert f"{pe['metrics']['accuracy']:.4f}" in _line(md, "| Accuracy (vit_smoke, sample)")
        plain_line = _line(md, "| Plain on the same network (vit_smoke)")
        assert f"{plain['metrics']['accuracy']:.4f}" in plain_line
        assert f"{pe['metrics']['accuracy'] - plain['metrics']['accuracy']:+.4f}" in plain_line

    def test_lists_each_attack_with_its_best_ssim_and_threat_model(self, results, card_dir):
        md = (card_dir / "pe.md").read_text()
        row = _line(md, "| fr |")
        assert f"{_fr_best(_record(results, 'pe')):.3f}" in row
        assert "ciphertext_only: one ciphertext at a time" in row
        assert "| yes |" in row  # a ciphertext-only attack counts in the verdict

    def test_states_the_key_space_in_bits(self, results, card_dir):
        bits = _record(results, "pe")["scheme"]["key_space_bits"]
        assert f"| Key space | {bits:,.1f} bits" in (card_dir / "pe.md").read_text()

    def test_states_the_verdict_by_the_reports_rule(self, results, card_dir):
        md = (card_dir / "pe.md").read_text()
        share = _record(results, "pe")["metrics"]["attacks"]["fr"]["share_restored"]
        secure = share < RESTORED_SHARE  # fr is the card's only attack
        assert f"**{'secure ✓' if secure else 'not secure ✗'}**: the strongest ciphertext-only attack, fr" in md
        assert f"restores a share {share:.2f} of the test images" in md
        assert rule_text(DEFAULT_SSIM_THRESHOLD) + "." in md

    def test_ssim_threshold_moves_the_verdict_of_records_without_the_per_image_share(self, results, tmp_path):
        older = tmp_path / "older"
        shutil.copytree(results, older)
        for path in older.glob("*/result.json"):  # as the evaluator wrote them before the per-image share
            record = json.loads(path.read_text())
            for entry in record["metrics"].get("attacks", {}).values():
                entry.pop("share_restored", None)
            path.write_text(json.dumps(record))
        best = _fr_best(_record(results, "pe"))
        records = load_results(older)  # the CLI's --no-run would refuse them as stale: the library reads them
        for threshold, verdict in ((max(best - 0.01, 0.0), "not secure ✗"), (min(best + 0.01, 1.0), "secure ✓")):
            card = build_scorecard(records, "pe", network="vit_smoke", ssim_threshold=threshold)
            assert card.verdict == verdict and "old rule" in card.verdict_reason

    def test_links_the_strip_of_restored_images_written_beside_it(self, card_dir):
        assert "![restored images](pe-strip.png)" in (card_dir / "pe.md").read_text()
        assert (card_dir / "pe-strip.png").read_bytes().startswith(PNG_SIGNATURE)

    def test_names_the_records_it_was_made_from(self, results, card_dir):
        md = (card_dir / "pe.md").read_text()
        assert _record(results, "pe")["run_id"] in md and _record(results, "plain")["run_id"] in md


class TestHtml:
    class _Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.srcs: list[str] = []
            self.hrefs: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            attrs = dict(attrs)
            if "src" in attrs:
                self.srcs.append(attrs["src"])
            if "href" in attrs:
                self.hrefs.append(attrs["href"])

    def test_is_self_contained_with_png_data_uris(self, card_dir):
        text = (card_dir / "pe.html").read_text()
        parser = self._Collect()
        parser.feed(text)
        parser.close()
        assert parser.tags[:1] == ["html"] and "table" in parser.tags and "img" in parser.tags
        assert "script" not in parser.tags and "link" not in parser.tags and not parser.hrefs
        assert 'src="http' not in text and "url(" not in text
        assert parser.srcs and all(s.startswith("data:image/png;base64,") for s in parser.srcs)
        for src in parser.srcs:
            assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG_SIGNATURE)

    def test_holds_the_same_facts_as_the_markdown(self, results, card_dir):
        text = (card_dir / "pe.html").read_text()
        pe, plain = _record(results, "pe"), _record(results, "plain")
        for fact in (f"{pe['metrics']['accuracy']:.4f}", f"{plain['metrics']['accuracy']:.4f}",
                     f"{pe['scheme']['key_space_bits']:,.1f} bits", f"{_fr_best(pe):.3f}", "ciphertext_only"):
            assert fact in text


class TestRecordsAndRuns:
    def test_strip_shows_the_runs_restored_images(self, results):
        card = build_scorecard(load_results(results), "pe", network="vit_smoke")
        (run_dir,) = sorted(results.glob("pe-*"))
        with np.load(run_dir / "attacks" / "fr_restored.npz") as saved:
            restored = saved["restored"]
        assert len(card.strips) == 4
        for strip in card.strips:
            assert np.array_equal(strip.cell("pe", "fr").image, restored[strip.index])

    def test_expected_attack_without_a_record_is_listed_as_not_run(self, results):
        card = build_scorecard(load_results(results), "pe", network="vit_smoke", expected_attacks=["fr", "pooled"])
        lines = {line.attack: line for line in card.attacks}
        assert lines["pooled"].status == "not run" and lines["fr"].status == ""
        assert "pooled: not run" in card.notes

    def test_not_applicable_entry_is_shown_with_its_reason(self, results):
        records = load_results(results)
        i = next(i for i, r in enumerate(records.runs) if r.scheme == "pe")
        record = copy.deepcopy(records.runs[i].record)
        record["metrics"]["attacks"]["kpa"] = {"status": "not_applicable", "threat_model": "known_plaintext",
                                               "reason": "the scheme exposes no key tables"}
        records.runs[i] = Run(records.runs[i].path, record)
        card = build_scorecard(records, "pe", network="vit_smoke")
        kpa = next(line for line in card.attacks if line.attack == "kpa")
        assert kpa.status == "not applicable: the scheme exposes no key tables" and kpa.ssim is None

    def _with_entry(self, results: Path, name: str, entry: dict):
        records = load_results(results)
        i = next(i for i, r in enumerate(records.runs) if r.scheme == "pe")
        record = copy.deepcopy(records.runs[i].record)
        record["metrics"]["attacks"][name] = {**record["metrics"]["attacks"]["fr"], "files": {}, **entry}
        records.runs[i] = Run(records.runs[i].path, record)
        return build_scorecard(records, "pe", network="vit_smoke")

    def test_chosen_plaintext_attack_shows_the_chosen_images_it_needed(self, results):
        card = self._with_entry(results, "cpa_generic", {"threat_model": "chosen_plaintext", "chosen_images": 18,
                                                          "broken": True, "in_family": True})
        cpa = next(line for line in card.attacks if line.attack == "cpa_generic")
        assert cpa.break_text() == "18 chosen images" and not cpa.in_verdict
        assert card.fewest["chosen images"][:2] == (18.0, "cpa_generic")

    def test_chosen_plaintext_attack_that_did_not_break_is_not_counted_as_a_break(self, results):
        card = self._with_entry(results, "cpa_generic", {"threat_model": "chosen_plaintext", "chosen_images": 18,
                                                          "broken": False})
        assert next(line for line in card.attacks if line.attack == "cpa_generic").break_text() == "> 18 chosen images"

    def test_generic_attack_outside_the_family_claims_no_break(self, results):
        card = self._with_entry(results, "kpa_generic", {"threat_model": "known_plaintext", "in_family": False})
        line = next(line for line in card.attacks if line.attack == "kpa_generic")
        assert line.break_text() == "not in F: no break claimed"

    def test_an_attack_cut_short_by_its_budget_is_marked_reduced(self, results):
        card = self._with_entry(results, "itn", {"threat_model": "ciphertext_only_own_keys", "ssim_mean": 0.1,
                                                  "ssim_mean_inverted": 0.0, "ssim_mean_mirrored": 0.0,
                                                  "reduced": True, "stopped": "cap"})
        assert next(line for line in card.attacks if line.attack == "itn").reduced
        assert "itn (reduced attack)" in set(attacks_frame(card)["Attack"])

    def test_complete_records_are_not_run_again(self, results, tmp_path, capsys):
        before = {p: p.stat().st_mtime_ns for p in results.glob("*/result.json")}
        assert main([*CARD, "--results", str(results), "--out", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert out.count("up to date:") == 2 and "running" not in out
        assert {p: p.stat().st_mtime_ns for p in results.glob("*/result.json")} == before

    def test_a_missing_plain_run_is_run_then_shown(self, results, tmp_path, capsys):
        copied = tmp_path / "results"
        shutil.copytree(results, copied, ignore=shutil.ignore_patterns("plain-*"))
        assert main([*CARD, "--results", str(copied), "--out", str(tmp_path / "card")]) == 0
        assert "running plain-vit_smoke-sample-smoke-s0-" in capsys.readouterr().out
        plain = _record(copied, "plain")
        assert plain["status"] == "complete"
        md = (tmp_path / "card" / "pe.md").read_text()
        assert f"{plain['metrics']['accuracy']:.4f}" in _line(md, "| Plain on the same network (vit_smoke)")

    def test_no_run_without_records_refuses_in_one_line_naming_the_fix(self, tmp_path, capsys):
        empty = tmp_path / "empty"
        empty.mkdir()
        assert main([*CARD, "--results", str(empty), "--out", str(tmp_path / "card"), "--no-run"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith("ppbench: error: --no-run:")
        assert "drop --no-run" in err and "ppbench run --scheme pe" in err
        assert not (tmp_path / "card").exists() and not any(empty.iterdir())


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary installed (Debian: apt-get install chromium)")
def test_html_renders_in_headless_chromium_to_a_non_blank_page(card_dir, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1600",
               (card_dir / "pe.html").resolve().as_uri()]
    subprocess.run(command, check=True, capture_output=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    image = Image.open(BytesIO(shot.read_bytes()))
    assert image.format == "PNG" and image.size == (1200, 1600)
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert pixels.std() > 20  # not one flat colour
    top, strip = pixels[:300], pixels[600:1600]
    assert (np.abs(np.diff(top, axis=1)).sum(axis=2) > 60).mean() > 0.005  # text edges in the header
    colourful = np.abs(strip - strip.mean(axis=2, keepdims=True)).max(axis=2) > 40
    assert colourful.mean() > 0.02  # the images drew (colour), not only grey text


PLUGIN = """
import dataclasses

from ppbench.schemes import register_scheme
from ppbench.schemes.pixel import PE


@register_scheme
class RenamedPE(PE):
    info = dataclasses.replace(PE.info, name="renamed_pe", title="Test plugin: PE under another name")
"""


def test_plugin_after_the_subcommand_scores_a_scheme_from_outside_ppbench(results, tmp_path):
    """``ppbench scorecard --plugin FILE``: the plugin loads before the scheme is looked up, its run is made,
    and the card compares it with the plain run already there (a child process: the registry stays clean)."""
    plugin = tmp_path / "scorecard_test_plugin.py"
    plugin.write_text(PLUGIN)
    copied = tmp_path / "results"
    shutil.copytree(results, copied, ignore=shutil.ignore_patterns("pe-*"))
    command = [sys.executable, "-m", "ppbench", *CARD[:2], "renamed_pe", "--plugin", str(plugin), *CARD[3:],
               "--results", str(copied), "--out", str(tmp_path / "card")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "running renamed_pe-vit_smoke-sample-smoke-s0-" in done.stdout and "up to date: plain-" in done.stdout
    md = (tmp_path / "card" / "renamed_pe.md").read_text()
    assert "Test plugin: PE under another name" in md and "| fr |" in md
    assert f"{_record(copied, 'plain')['metrics']['accuracy']:.4f}" in _line(md, "| Plain on the same network")


def test_an_undetermined_verdict_reads_as_such_not_as_a_cross():
    from ppbench.reports.scorecard import _verdict_text

    assert _verdict_text(None, True) == "undetermined ?"
    assert _verdict_text(None, False) == "no verdict"
    assert (_verdict_text(True, False), _verdict_text(False, False)) == ("secure ✓", "not secure ✗")
