"""``ppbench curve``: the sweep over n, its CSV/JSON/PNG, the record fields, and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from ppbench.cli import main
from ppbench.curve import (
    CURVE_COLUMNS,
    ciphertexts_to_break,
    curve_record_fields,
    reference_ssims,
    resolve_config,
    run_curve,
    smallest_exact_n,
    write_curve,
)
from ppbench.errors import InputError, OutputExistsError
from ppbench.keys import SchemeKey
from ppbench.schemes import generate_key
from ppbench.transforms import nhwc_to_nchw


SECRET = bytes.fromhex("3f1c9e27a4b85d60c2e91f7a0b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e")


@pytest.fixture(scope="module")
def test_images(cifar_subset) -> torch.Tensor:
    return nhwc_to_nchw(cifar_subset["x_test"][:120])


@pytest.fixture(scope="module")
def pooled_rows(test_images):
    config = resolve_config("proposed", "pooled", image_size=32, block_size=4, ns=[1, 50], n_eval=20)
    return config, run_curve(config, test_images=test_images, key=fixed_key("proposed"))


def fixed_key(name: str, size: int = 32, block: int = 4) -> SchemeKey:
    """A victim key from a fixed secret: the curve tests' numbers reproduce."""
    template = generate_key(name, image_size=size, block_size=block)
    return SchemeKey(scheme=template.scheme, params=template.params, secret=SECRET)


def fake_rows(points):
    return [{"scheme": "le", "attack": "kpa", "image_size": 32, "block_size": 4, "n": n, "ssim_mean": s,
             "exact_key": e, "seconds": 0.1} for n, s, e in points]


class TestSweep:
    def test_one_row_per_n_with_every_column(self, pooled_rows):
        _, rows = pooled_rows
        assert [r["n"] for r in rows] == [1, 50]
        for r in rows:
            assert set(CURVE_COLUMNS) <= set(r)
            assert r["threat_model"] == "ciphertext_only_unpaired_plain" and r["n_eval"] == 20

    def test_pooled_breaks_proposed_at_32_from_50_ciphertexts(self, pooled_rows):
        _, rows = pooled_rows
        assert rows[-1]["exact_key"] and rows[-1]["ssim_mean"] >= 0.99

    def test_exact_on_seen_says_whether_the_seen_ciphertexts_come_back_byte_for_byte(self, pooled_rows):
        _, rows = pooled_rows
        assert [r["exact_on_seen"] for r in rows] == [False, True]  # n = 1: a wrong key; n = 50: the exact one

    def test_exact_key_and_ssim_agree(self, pooled_rows):
        _, rows = pooled_rows
        for r in rows:
            assert r["exact_key"] == (r["ssim_mean"] > 0.9999)

    def test_kpa_curve_for_le(self, test_images):
        config = resolve_config("le", "kpa", ns=[1, 2], n_eval=10)
        rows = run_curve(config, test_images=test_images, key=fixed_key("le"))
        assert (config.image_size, config.block_size) == (32, 4)
        assert all(r["exact_key"] and r["threat_model"] == "known_plaintext" for r in rows)

    def test_too_few_test_images_is_refused(self, test_images):
        config = resolve_config("le", "kpa", ns=[200])
        with pytest.raises(InputError, match="lower --n"):
            run_curve(config, test_images=test_images)


class TestConfig:
    def test_defaults_are_the_papers_settings(self):
        assert (resolve_config("proposed", "pooled").image_size, resolve_config("proposed", "pooled").block_size) == (224, 16)
        assert resolve_config("pe", "kpa").block_size is None

    def test_profile_supplies_sizes_and_flags_override(self):
        config = resolve_config("proposed", "pooled", profile="cpu")
        assert (config.image_size, config.block_size, config.dataset) == (32, 4, "sample")
        assert resolve_config("proposed", "pooled", profile="cpu", image_size=64, block_size=8).image_size == 64

    def test_unknown_attack_and_block_size_for_pixel_schemes_are_refused(self):
        with pytest.raises(InputError, match="pooled"):
            resolve_config("le", "gan")
        with pytest.raises(InputError, match="block-size"):
            resolve_config("pe", "kpa", block_size=4)


class TestSummaries:
    def test_ciphertexts_to_break_is_the_smallest_n_at_0_99(self):
        rows = fake_rows([(1, 0.2, False), (5, 0.995, True), (2, 0.991, False), (10, 1.0, True)])
        assert ciphertexts_to_break(rows) == 2
        assert smallest_exact_n(rows) == 5
        assert ciphertexts_to_break(fake_rows([(1, 0.5, False)])) is None

    def test_record_fields_merge_per_attack(self):
        fields = curve_record_fields(fake_rows([(1, 0.2, False), (5, 1.0, True)]))
        entry = fields["key_recovery"]["kpa"]
        assert entry["ciphertexts_to_break"] == 5 and entry["smallest_exact_n"] == 5
        assert [p["n"] for p in entry["curve"]] == [1, 5]
        json.dumps(fields)  # JSON-able as it is


class TestFiles:
    def test_csv_json_png_and_reference_lines(self, pooled_rows, tmp_path):
        config, rows = pooled_rows
        results = tmp_path / "results"
        for run, scheme, ssim_fr in (("a", "proposed", 0.31), ("b", "le", 0.9)):
            (results / run).mkdir(parents=True)
            record = {"status": "complete", "scheme": {"name": scheme, "image_size": [32, 32]},
                      "metrics": {"attacks": {"fr": {"ssim_mean": ssim_fr}, "itn": {"ssim_mean": 0.12}}}}
            (results / run / "result.json").write_text(json.dumps(record))
        config.results = str(results)
        paths = write_curve(tmp_path / "out", config, rows)
        with open(paths["csv"]) as handle:
            reader = csv.DictReader(handle)
            assert tuple(reader.fieldnames) == CURVE_COLUMNS
            assert [int(r["n"]) for r in reader] == [1, 50]
        assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        saved = json.loads(paths["json"].read_text())
        assert saved["references"] == {"fr": 0.31, "itn": 0.12}
        assert saved["summary"]["pooled"]["ciphertexts_to_break"] == ciphertexts_to_break(rows)
        with pytest.raises(OutputExistsError):
            write_curve(tmp_path / "out", config, rows)

    def test_reference_ssims_skip_other_sizes_and_incomplete_records(self, tmp_path):
        for run, size, status in (("a", 224, "complete"), ("b", 32, "running")):
            (tmp_path / run).mkdir()
            record = {"status": status, "scheme": {"name": "proposed", "image_size": [size, size]},
                      "metrics": {"attacks": {"gan": {"ssim_mean": 0.4}}}}
            (tmp_path / run / "result.json").write_text(json.dumps(record))
        assert reference_ssims(tmp_path, "proposed", 32) == {}
        assert reference_ssims(tmp_path, "proposed", 224) == {"gan": 0.4}


def test_cli_writes_the_curve_from_an_npz_dataset(cifar_subset, tmp_path, capsys):
    npz = tmp_path / "small.npz"
    np.savez(npz, x_train=cifar_subset["x_train"][:4], y_train=cifar_subset["y_train"][:4],
             x_test=cifar_subset["x_test"][:30], y_test=cifar_subset["y_test"][:30])
    code = main(["curve", "--scheme", "pe_np", "--attack", "kpa", "--dataset", f"npz:{npz}", "--n", "1,2",
                 "--n-eval", "10", "--out", str(tmp_path / "c")])
    assert code == 0
    out = capsys.readouterr().out
    assert "ciphertexts_to_break" in out and (tmp_path / "c" / "curve.png").exists()
    with open(tmp_path / "c" / "curve.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["exact_key"] for r in rows] == ["True", "True"] and rows[0]["block_size"] == ""
