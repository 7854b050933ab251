"""Table I's verdict rule (ppbench.reports.security) marks its calibration cases as the attack papers do,
and gives the seed paper's verdicts on the committed cpu study under the paper's attacks.

Calibration cases are computed here, from the bundled sample, not typed in: FR of the plain image and FR of
PE's ciphertexts (restored), the ciphertexts of every built-in scheme, a grey image and the mean image (not
restored); the GAN on LE comes from the committed study's restored images.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ppbench.attack_eval import best_reading_fields
from ppbench.attacks import KeySource
from ppbench.attacks.fr import fold
from ppbench.data import load_dataset
from ppbench.metrics import ssim_readings
from ppbench.reports.load import load_results
from ppbench.reports.security import (RECOGNISED_FRACTION, RESTORED_IMAGE_SSIM, RESTORED_SHARE, Evidence, is_secure,
                                      rule_text, verdict)
from ppbench.reports.table1 import build_table1

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference-cpu"
N = 100  # the cpu profile's n_attack_images


@pytest.fixture(scope="module")
def plain() -> torch.Tensor:
    return load_dataset("sample").x_test[:N]


@pytest.fixture(scope="module")
def keys() -> KeySource:
    return KeySource(purpose="test-verdict")  # fresh keys: the rule must not depend on one lucky key


def evidence_of(restored: torch.Tensor, plain: torch.Tensor) -> Evidence:
    return Evidence(share_restored=best_reading_fields(*ssim_readings(restored, plain))["share_restored"])


# -- calibration: what the papers call restored comes out restored ------------------------------------------
def test_a_perfect_fr_the_fold_of_the_plain_image_restores(plain):
    assert evidence_of(fold(plain), plain).restores is True


def test_fr_on_pe_and_on_pe_np_restores(plain, keys):
    for name in ("pe", "pe_np"):
        scheme = keys.new_scheme(name, 32, None)
        assert evidence_of(fold(scheme.encrypt(plain)), plain).restores is True, name


def test_the_gan_on_le_of_the_committed_study_restores():
    records = load_results(REFERENCE)
    gan = next(r for r in records.runs if r.scheme == "le").attacks["gan"]
    assert gan["ssim_mean"] < 0  # the GAN restores LE's negatives: one as-is reading would miss it
    assert Evidence(share_restored=gan["share_restored"]).restores is True


# -- calibration: what the papers call not restored does not --------------------------------------------------
@pytest.mark.parametrize("name", ["le", "etc", "ele", "pe", "pe_np", "proposed"])
def test_a_ciphertext_itself_does_not_restore(plain, keys, name):
    scheme = keys.new_scheme(name, 32, 4)
    assert evidence_of(scheme.to_display(scheme.encrypt(plain)), plain).restores is False


def test_a_grey_image_and_the_mean_image_do_not_restore(plain):
    grey = torch.full_like(plain, 128)
    mean = plain.float().mean(0, keepdim=True).round().to(torch.uint8).expand_as(plain).contiguous()
    assert evidence_of(grey, plain).restores is False
    assert evidence_of(mean, plain).restores is False


# -- the paper's verdicts under the paper's attacks, on the committed study ------------------------------------
def test_the_committed_study_gives_the_papers_verdicts_under_the_papers_attacks():
    table = build_table1(load_results(REFERENCE))
    rows = {row.scheme: row for row in table.rows if row.profile == "cpu"}
    for scheme in ("le", "etc", "ele", "pe", "proposed"):
        row = rows[scheme]
        assert row.paper_secure == row.paper.security, (scheme, row.paper_strongest)
        assert row.basis == "share"
    assert rows["pe"].paper_strongest.attack in ("fr", "fr_adv", "gan")  # FR restores PE's edges
    # the old rule called PE secure under the paper's attacks: the change this rule makes
    assert rows["pe"].paper_mean_rule_secure is True and rows["pe"].paper_secure is False


# -- the rule itself ----------------------------------------------------------------------------------------
def test_the_share_decides_at_s():
    assert Evidence(share_restored=RESTORED_SHARE).restores is True
    assert Evidence(share_restored=RESTORED_SHARE - 0.01).restores is False


def test_recognition_well_above_chance_restores_even_with_a_low_share():
    level = 0.1 + RECOGNISED_FRACTION * (0.6 - 0.1)
    known = dict(share_restored=0.0, chance=0.1, plain_accuracy=0.6, encrypted_accuracy=0.12)
    assert Evidence(recognition_accuracy=level, **known).restores is True
    assert Evidence(recognition_accuracy=level - 0.01, **known).restores is False
    # a classifier no better than chance on plain images recognises nothing
    assert Evidence(share_restored=0.0, recognition_accuracy=0.5, chance=0.1, plain_accuracy=0.1).recognised is None


def test_a_classifier_not_shown_to_fail_on_the_ciphertexts_cannot_mark_anything_recognised():
    """A constant guess scores the same on plain, encrypted and restored images (a smoke-sized classifier does):
    recognition then says nothing; nor does it where the ciphertexts' accuracy is unknown (no key kept)."""
    constant = dict(share_restored=0.0, recognition_accuracy=0.375, chance=0.1, plain_accuracy=0.375)
    assert Evidence(encrypted_accuracy=0.375, **constant).recognised is None
    assert Evidence(**constant).recognised is None
    assert Evidence(encrypted_accuracy=0.375, **constant).restores is False


def test_a_scheme_is_not_secure_when_one_attack_restores_and_unjudged_without_shares():
    assert verdict([Evidence(share_restored=0.0), Evidence(share_restored=0.5)]) is False
    assert verdict([Evidence(share_restored=0.0), Evidence()]) is True
    assert verdict([Evidence(), Evidence()]) is None
    assert is_secure(0.29) is True and is_secure(math.nan) is None  # the old rule, for older records


def test_the_rule_text_states_every_number():
    text = rule_text(0.3)
    assert f"L = {RESTORED_IMAGE_SSIM:.2f}" in text and f"S = {RESTORED_SHARE:.0%}" in text
    assert f"{RECOGNISED_FRACTION:g} x" in text and "T = 0.30" in text


# -- where the SSIM level cannot separate: no-information baselines reach S ---------------------------------------
def test_a_grey_image_reaches_the_level_on_most_upscaled_224_images_but_not_at_32(plain):
    from ppbench.transforms import resize_uint8

    big = resize_uint8(plain, 224)
    assert evidence_of(torch.full_like(big, 128), big).share_restored >= RESTORED_SHARE  # measured: 0.96
    assert evidence_of(torch.full_like(plain, 128), plain).share_restored < RESTORED_SHARE  # measured: 0.06


def test_the_share_clause_is_silent_where_a_no_information_baseline_reaches_s():
    high = Evidence(share_restored=0.2, baseline_share=RESTORED_SHARE)
    assert high.restored_by_share is None and high.restores is None and high.undetermined
    assert Evidence(share_restored=0.9, baseline_share=0.96).restores is None  # a high share means nothing there
    assert Evidence(share_restored=0.2, baseline_share=RESTORED_SHARE - 0.01).restores is False
    assert Evidence(share_restored=0.2).restores is False  # older records: no baselines, as calibrated
    # ... but only at a calibrated size: at 224 x 224 an unknown baseline may well reach S
    assert Evidence(share_restored=0.2, calibrated_size=False).undetermined


def test_an_older_record_at_224_without_a_grey_baseline_is_undetermined_not_secure(results_copy):
    import json

    record_file = next(results_copy.glob("proposed-vit_cpu-sample-cpu-s0-*/result.json"))
    record = json.loads(record_file.read_text())
    for entry in record["metrics"]["attacks"].values():
        entry.update(share_restored=0.0, best_reading_images=entry.get("n_images") or 100)
    record["metrics"].pop("baselines", None)
    record_file.write_text(json.dumps(record))
    row = next(r for r in build_table1(load_results(results_copy)).rows if r.scheme == "proposed")
    assert row.secure is True  # 32 x 32: the size L and S were calibrated at
    record["dataset"]["image_size"] = record["scheme"]["image_size"] = [224, 224]
    record_file.write_text(json.dumps(record))
    table = build_table1(load_results(results_copy))
    row = next(r for r in table.rows if r.scheme == "proposed")
    assert row.secure is None and row.undetermined
    assert any(n.startswith("undetermined (?): for proposed") and "predate the grey baseline" in n for n in table.notes)


def test_where_the_share_clause_is_silent_recognition_can_add_a_cross_but_never_a_check_mark():
    known = dict(share_restored=0.9, baseline_share=0.96, chance=0.1, plain_accuracy=0.6, encrypted_accuracy=0.12)
    assert Evidence(recognition_accuracy=0.5, **known).restores is True
    unrecognised = Evidence(recognition_accuracy=0.15, **known)  # FR on PE is restored yet barely recognised
    assert unrecognised.restores is None and unrecognised.undetermined


def test_an_undetermined_verdict_unless_an_attack_returns_the_images_themselves():
    from ppbench.reports.security import BROKEN_SSIM, undetermined

    grey = 0.96  # the run's baseline: every attack on it carries the same
    fr = Evidence(share_restored=0.2, baseline_share=grey, ssim_best=0.21)
    exact = Evidence(share_restored=1.0, baseline_share=grey, ssim_best=1.0)  # key recovery: the images themselves
    near = Evidence(share_restored=1.0, baseline_share=grey, ssim_best=BROKEN_SSIM - 0.01)
    assert verdict([fr, Evidence(share_restored=0.0, baseline_share=grey, ssim_best=0.1)]) is None
    assert undetermined([fr]) and not undetermined([fr, exact])
    assert exact.restores is True and verdict([fr, exact]) is False
    assert near.restores is None  # short of the images themselves, a high share there proves nothing


def test_table_i_shows_an_undetermined_verdict_as_a_question_mark_with_its_reason(results_copy):
    import json

    from ppbench.reports.table1 import display_frame

    record_file = next(results_copy.glob("proposed-vit_cpu-sample-cpu-s0-*/result.json"))
    record = json.loads(record_file.read_text())
    for entry in record["metrics"]["attacks"].values():  # fr and itn: neither returns the images themselves
        entry.update(share_restored=0.2, best_reading_images=entry.get("n_images") or 100)
    record["metrics"].setdefault("baselines", {})["grey"] = {"ssim_mean": 0.53, "share_restored": 0.96}
    record_file.write_text(json.dumps(record))
    table = build_table1(load_results(results_copy))
    row = next(r for r in table.rows if r.scheme == "proposed" and r.network == "vit_cpu")
    assert row.secure is None and row.undetermined and row.basis == "share"
    cells = display_frame(table)
    mine = cells[(cells["Scheme"] == "proposed") & (cells["Network"] == "vit_cpu")].iloc[0]
    assert mine["Security"] == "?" and mine["Paper's attacks only"].startswith("? ")
    assert any(n.startswith("undetermined (?): for proposed") and "96%" in n for n in table.notes)
