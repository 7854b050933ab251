"""evaluate_attacks and ``ppbench attack``: records, files, baselines, data split, threat-model enforcement.

Two attacks defined only here keep the metric pipeline honest: an oracle that holds the victim's key
(threat model ``known_key``, named as such) must score SSIM 1.0, and a constant image must score
about 0. They are registered in a copy of the registry for the duration of a test only.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import shutil
import stat

import pytest
import torch

import ppbench.attacks.base as attack_base
from ppbench.attack_eval import derive_seed, evaluate_attacks, resolve_attack_names, split_training, stale_fields
from ppbench.attacks import Attack, AttackInfo, ThreatModel, attack_info, list_attacks, register_attack
from ppbench.cli import main
from ppbench.errors import InputError
from ppbench.keys import SchemeKey
from ppbench.registry import Registry, UnknownNameError
from ppbench.schemes import create_scheme, generate_key
from ppbench.transforms import nhwc_to_nchw

ENTRY_FIELDS = {"ssim_mean", "ssim_median", "ssim_std", "psnr_mean", "n_images", "threat_model", "train_seconds",
                "config", "version", "ssim_preset", "files", "ssim_mean_inverted", "ssim_mean_mirrored",
                "ssim_best_image_mean", "ssim_best_image_median", "share_restored", "restored_image_ssim",
                "best_reading_images"}
BASELINE_FIELDS = {"ssim_mean", "ssim_median", "ssim_std", "psnr_mean", "n_images"}
TRAINING_FIELDS = {"epochs_run", "best_epoch", "stopped", "steps_run", "original_steps", "reduced"}  # learned attacks


def _info(name: str, tm: ThreatModel, trainable: bool = True) -> AttackInfo:
    return AttackInfo(name=name, title=f"test-only {name}", paper="none", url="https://example.invalid",
                      threat_model=tm, version=1, trainable=trainable)


class Oracle(Attack):
    """Decrypts with the victim's key: threat model known_key (test only)."""

    info = _info("oracle", ThreatModel.KNOWN_KEY)
    input_range = "uint8"

    def _fit(self, view) -> None:
        self._scheme = view.victim_scheme

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._scheme.decrypt(x)


class Constant(Attack):
    """Returns mid-grey whatever it gets; ciphertext-only. Records what its view held."""

    info = _info("constant", ThreatModel.CIPHERTEXT_ONLY, trainable=False)
    input_range = "uint8"
    seen: list[str] = []

    def fit(self, view):
        Constant.seen = list(view.fields)
        return super().fit(view)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 128)


class Negative(Oracle):
    """Decrypts with the victim's key, then inverts the colours: a restoration in negative (test only)."""

    info = _info("negative", ThreatModel.KNOWN_KEY)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 255 - super().forward(x)


class Mirror(Oracle):
    """Decrypts with the victim's key, then mirrors left-right (test only)."""

    info = _info("mirror", ThreatModel.KNOWN_KEY)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).flip(-1)


class Recorder(Attack):
    """Keeps the victim-key ciphertexts and public images it was given (GAN's threat model)."""

    info = _info("recorder", ThreatModel.CIPHERTEXT_ONLY_UNPAIRED_PLAIN)
    input_range = "uint8"
    last_view = None

    def _fit(self, view) -> None:
        Recorder.last_view = view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.fixture
def test_attacks(monkeypatch):
    """A registry copy with the test-only attacks; the real one is untouched afterwards."""
    registry = Registry("attack")
    for name in list_attacks():
        registry.register(name, attack_base.ATTACKS.get(name))
    monkeypatch.setattr(attack_base, "ATTACKS", registry)
    for cls in (Oracle, Constant, Recorder, Negative, Mirror):
        register_attack(cls)
    return registry


@pytest.fixture(scope="module")
def data(cifar_subset) -> dict[str, torch.Tensor]:
    return {"train": nhwc_to_nchw(cifar_subset["x_train"][:64]), "test": nhwc_to_nchw(cifar_subset["x_test"][:24])}


def keyed(name: str, block: int | None = 4, size: int = 32):
    return create_scheme(name, key=generate_key(name, image_size=size, block_size=block), block_size=block)


def run(names, scheme, data, tmp_path, **kw):
    args = dict(scheme=scheme, train_images=data["train"], test_images=data["test"], image_size=scheme.image_size[0],
                profile="smoke", n_images=24, device=torch.device("cpu"), seed=0, out_dir=tmp_path)
    args.update(kw)
    return evaluate_attacks(names, **args)


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    """A plain .npz (x_train, x_test), keys for pe_np and le, and the arrays encrypted by `ppbench encrypt`."""
    tmp = tmp_path_factory.mktemp("files")
    plain = tmp / "plain.npz"
    np.savez(plain, x_train=data["train"].permute(0, 2, 3, 1).numpy(), x_test=data["test"].permute(0, 2, 3, 1).numpy())
    out = {"plain": plain}
    for scheme, block in (("pe_np", None), ("le", 4)):
        key = tmp / f"{scheme}.json"
        argv = ["keygen", "--scheme", scheme, "--image-size", "32", "--out", str(key)]
        assert main(argv + (["--block-size", str(block)] if block else [])) == 0
        out[f"{scheme}_key"] = key
        out[scheme] = tmp / f"{scheme}.npz"
        assert main(["encrypt", "--scheme", scheme, "--key", str(key), str(plain), str(out[scheme])]) == 0
    return out


@pytest.fixture(scope="module")
def le_run(files, data, tmp_path_factory):
    """One smoke evaluation of fr, gan and itn against LE (key from ``files``), shared by several tests."""
    out = tmp_path_factory.mktemp("le_run")
    scheme = create_scheme("le", key=SchemeKey.load(files["le_key"]))
    return {"scheme": scheme, "dir": out, "result": run(["fr", "gan", "itn"], scheme, data, out)}


# -- the metric pipeline can fail -------------------------------------------------------------------------------
def test_oracle_with_the_key_scores_ssim_one_and_a_constant_image_about_zero(test_attacks, data, tmp_path):
    result = run(["oracle", "constant"], keyed("le"), data, tmp_path)
    oracle, constant = result["attacks"]["oracle"], result["attacks"]["constant"]
    assert oracle["ssim_mean"] == pytest.approx(1.0, abs=1e-12) and oracle["ssim_std"] < 1e-12
    assert oracle["psnr_mean"] == float("inf")
    assert oracle["threat_model"] == "known_key"
    # mid-grey keeps only SSIM's luminance term (no structure): small, not 0, on images with flat areas
    assert abs(constant["ssim_mean"]) < 0.2


def test_a_restoration_in_negative_scores_one_on_the_inverted_ssim(test_attacks, data, tmp_path):
    entries = run(["oracle", "negative"], keyed("le"), data, tmp_path)["attacks"]
    assert entries["negative"]["ssim_mean_inverted"] == pytest.approx(1.0, abs=1e-12)
    assert entries["negative"]["ssim_mean"] < 0.0
    assert entries["oracle"]["ssim_mean_inverted"] < 0.0


def test_each_image_counts_by_its_own_best_reading():
    from ppbench.attack_eval import best_reading_fields

    as_is = torch.tensor([0.9, -0.6, 0.1, 0.0], dtype=torch.float64)  # a GAN whose sign flips between images
    inverted = torch.tensor([-0.8, 0.5, 0.0, 0.1], dtype=torch.float64)
    mirrored = torch.tensor([0.2, 0.0, 0.35, 0.0], dtype=torch.float64)
    fields = best_reading_fields(as_is, inverted, mirrored, level=0.3)
    assert fields["ssim_best_image_mean"] == pytest.approx((0.9 + 0.5 + 0.35 + 0.1) / 4)
    assert fields["ssim_best_image_median"] == pytest.approx((0.35 + 0.5) / 2)  # numpy's median, as ssim_median
    assert fields["share_restored"] == pytest.approx(0.75) and fields["best_reading_images"] == 4
    # one reading for the whole set (today's means) sees far less: 0.1, -0.05, 0.1375
    assert max(as_is.mean(), inverted.mean(), mirrored.mean()) < fields["ssim_best_image_mean"]


def test_a_mirrored_restoration_scores_one_on_the_mirrored_ssim(test_attacks, data, tmp_path):
    entries = run(["oracle", "mirror"], keyed("etc"), data, tmp_path)["attacks"]
    assert entries["mirror"]["ssim_mean_mirrored"] == pytest.approx(1.0, abs=1e-12)
    assert entries["mirror"]["ssim_mean"] < 0.5
    assert entries["oracle"]["ssim_mean_mirrored"] < 0.5


@pytest.mark.parametrize("attack, scheme", [("pooled", "proposed"), ("kpa", "le")])
def test_key_recovery_entry_carries_its_curve_and_ciphertexts_to_break(attack, scheme, cifar_subset, tmp_path):
    train = nhwc_to_nchw(cifar_subset["x_train"][:256])
    test = nhwc_to_nchw(cifar_subset["x_test"][:24])
    entry = run([attack], keyed(scheme), {"train": train, "test": test}, tmp_path)["attacks"][attack]
    curve = entry["curve"]
    assert [p["n"] for p in curve] == [1, 2, 5, 10, 20, 50, 100]  # the victim half holds 128 images
    assert all(p["ssim_best"] >= p["ssim_mean"] for p in curve)
    assert entry["break_ssim"] == pytest.approx(0.99)  # lossless: the key's owner gets SSIM 1
    assert entry["ciphertexts_to_break"] == min(p["n"] for p in curve if p["ssim_best"] >= 0.99)
    assert entry["smallest_exact_n"] == min(p["n"] for p in curve if p["exact_key"])
    assert curve[-1]["exact_key"] and curve[-1]["ssim_mean"] == pytest.approx(1.0) and curve[-1]["exact_on_seen"]
    assert entry["ciphertexts_to_break"] <= (1 if attack == "kpa" else 50)


def test_after_jpeg_breaking_means_reaching_what_the_key_holder_sees(cifar_subset, tmp_path):
    train = nhwc_to_nchw(cifar_subset["x_train"][:256])
    test = nhwc_to_nchw(cifar_subset["x_test"][:24])
    result = run(["pooled"], keyed("proposed"), {"train": train, "test": test}, tmp_path, jpeg_quality=75)
    holder = result["baselines"]["key_holder"]["ssim_mean"]
    entry = result["attacks"]["pooled"]
    assert 0.5 < holder < 0.99  # JPEG damage the key cannot undo
    assert entry["break_ssim"] == pytest.approx(0.99 * holder)
    assert entry["curve"][-1]["exact_key"] and entry["ciphertexts_to_break"] is not None
    assert entry["ciphertexts_to_break"] == min(p["n"] for p in entry["curve"] if p["ssim_best"] >= entry["break_ssim"])


def test_stale_fields_name_what_an_older_entry_lacks():
    assert stale_fields("gan", {"ssim_mean": 0.1}) == ["ssim_mean_inverted", "ssim_mean_mirrored", "share_restored"]
    assert stale_fields("gan", {"ssim_mean": 0.1, "ssim_mean_inverted": 0.0, "ssim_mean_mirrored": 0.0}) == ["share_restored"]
    assert stale_fields("gan", {"ssim_mean": 0.1, "ssim_mean_inverted": 0.0, "ssim_mean_mirrored": 0.0,
                                "share_restored": 0.0}) == []
    assert stale_fields("pooled", {"ssim_mean_inverted": 0.0, "ssim_mean_mirrored": 0.0, "share_restored": 0.0}) == [
        "ciphertexts_to_break", "break_ssim", "curve"]


def test_an_entry_rescored_from_a_few_kept_images_is_stale_until_every_scored_image_is_read():
    read = {"ssim_mean_inverted": 0.0, "ssim_mean_mirrored": 0.0, "share_restored": 0.0, "n_images": 100}
    assert stale_fields("fr", {**read, "best_reading_images": 8}) == [
        "the per-image reading of all 100 images (recorded: 8)"]
    assert stale_fields("fr", {**read, "best_reading_images": 100}) == []


def test_another_attack_version_or_other_curve_points_make_an_entry_stale():
    current = {"ssim_mean_inverted": 0.0, "ssim_mean_mirrored": 0.0, "share_restored": 0.0, "break_ssim": 0.99, "version": attack_info("pooled").version, "ciphertexts_to_break": 5,
               "config": {"attacker_data": {"victim_train": [0, 128]}},
               "curve": [{"n": n, "ssim_best": 1.0} for n in (1, 2, 5, 10, 20, 50, 100)]}
    assert stale_fields("pooled", current) == []
    assert stale_fields("pooled", {**current, "version": 0})[0].startswith("version ")
    fewer = {**current, "config": {"attacker_data": {"victim_train": [0, 1000]}}}
    assert stale_fields("pooled", fewer) == ["curve over n = 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000"]
    older_points = {**current, "curve": [{"n": p["n"]} for p in current["curve"]]}
    assert stale_fields("pooled", older_points) == ["curve points with ssim_best"]


def test_ciphertext_only_attack_gets_no_training_data_at_all(test_attacks, data, tmp_path):
    run(["constant"], keyed("le"), data, tmp_path)
    assert Constant.seen == []


def test_every_entry_has_the_record_fields(le_run):
    result = le_run["result"]
    assert list(result["attacks"]) == ["fr", "gan", "itn"]
    for name, entry in result["attacks"].items():
        assert set(entry) == ENTRY_FIELDS | (TRAINING_FIELDS if name in ("gan", "itn") else set()), name
        assert entry["n_images"] == 24 and entry["ssim_preset"] == "skimage"
        assert entry["config"]["attacker_data"]["mode"] == "disjoint"
        json.dumps(entry)  # numbers and strings only
    assert result["attacks"]["itn"]["threat_model"] == "ciphertext_only_own_keys"
    assert result["attacks"]["gan"]["threat_model"] == "ciphertext_only_unpaired_plain"
    assert result["attacks"]["gan"]["stopped"] == result["attacks"]["itn"]["stopped"] == "fixed"  # smoke
    assert set(result["baselines"]) == {"ciphertext", "grey", "wrong_key", "key_holder"}
    for name in ("ciphertext", "grey"):  # no information about the image: with the share the verdict compares
        assert 0.0 <= result["baselines"][name]["share_restored"] <= 1.0
        assert result["baselines"][name]["best_reading_images"] == result["baselines"][name]["n_images"]
    assert result["baselines"]["key_holder"]["ssim_mean"] == pytest.approx(1.0)  # lossless: the key restores every image
    per_image = {"ssim_best_image_mean", "ssim_best_image_median", "share_restored", "restored_image_ssim",
                 "best_reading_images"}
    assert all(set(b) == BASELINE_FIELDS | (per_image if name in ("ciphertext", "grey") else set())
               for name, b in result["baselines"].items())


def test_files_per_image_csv_grid_restored_npz_and_checkpoint_are_written(le_run, data):
    result, root = le_run["result"], le_run["dir"]
    for name in ("fr", "gan", "itn"):
        files = result["attacks"][name]["files"]
        with open(root / files["per_image"], newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [int(r["index"]) for r in rows] == list(range(24))
        assert np.isclose(np.mean([float(r["ssim"]) for r in rows]), result["attacks"][name]["ssim_mean"])
        best = [float(r["ssim_best"]) for r in rows]
        assert best == [max(float(r["ssim"]), float(r["ssim_inverted"]), float(r["ssim_mirrored"])) for r in rows]
        assert np.isclose(np.mean(best), result["attacks"][name]["ssim_best_image_mean"])
        assert (root / files["grid"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with np.load(root / files["restored"]) as npz:
            assert npz["restored"].shape == (24, 32, 32, 3) and npz["restored"].dtype == np.uint8  # every scored image
            assert npz["plain"].shape == (8, 32, 32, 3)  # Fig. 4's and the grid's images only
            assert np.array_equal(npz["plain"], data["test"][:8].permute(0, 2, 3, 1).numpy())
    assert "checkpoint" not in result["attacks"]["fr"]["files"]
    for name in ("gan", "itn"):
        assert Attack.load(root / result["attacks"][name]["files"]["checkpoint"]).info.name == name


def test_n_images_limits_the_scored_test_images(test_attacks, data, tmp_path):
    entry = run(["constant"], keyed("le"), data, tmp_path, n_images=10)["attacks"]["constant"]
    assert entry["n_images"] == 10 and entry["config"]["attacker_data"]["test"] == [0, 10]


# -- baselines and FR on real images ------------------------------------------------------------------------------
def test_fr_on_pe_np_beats_the_ciphertext_baseline(data, tmp_path):
    result = run(["fr"], keyed("pe_np", None), data, tmp_path)
    assert result["attacks"]["fr"]["ssim_mean"] > result["baselines"]["ciphertext"]["ssim_mean"] + 0.15


def test_baselines_of_the_plain_scheme_are_perfect(data, tmp_path):
    baselines = run(["fr"], keyed("plain", None), data, tmp_path)["baselines"]
    assert baselines["ciphertext"]["ssim_mean"] == pytest.approx(1.0, abs=1e-12)
    assert baselines["wrong_key"]["ssim_mean"] == pytest.approx(1.0, abs=1e-12)


def test_wrong_key_baseline_does_not_decrypt(data, tmp_path):
    baselines = run(["fr"], keyed("proposed"), data, tmp_path)["baselines"]
    assert baselines["wrong_key"]["ssim_mean"] < 0.5 and baselines["ciphertext"]["ssim_mean"] < 0.5


# -- attacker data ----------------------------------------------------------------------------------------------
def test_disjoint_split_gives_the_victim_the_first_half_and_the_attacker_the_second(test_attacks, data, tmp_path):
    scheme = keyed("le")
    result = run(["recorder"], scheme, data, tmp_path)
    view = Recorder.last_view
    assert torch.equal(view.public_images, data["train"][32:])
    assert torch.equal(view.victim_ciphertexts, scheme.encrypt(data["train"][:32]))
    record = result["attacks"]["recorder"]["config"]["attacker_data"]
    assert record["victim_train"] == [0, 32] and record["attacker_train"] == [32, 64] and record["test"] == [0, 24]


def test_overlap_mode_gives_both_sides_every_training_image(test_attacks, data, tmp_path):
    run(["recorder"], keyed("le"), data, tmp_path, attacker_data="overlap")
    assert Recorder.last_view.public_images.shape[0] == Recorder.last_view.victim_ciphertexts.shape[0] == 64


def test_split_rejects_unknown_modes_and_tiny_sets():
    assert split_training(5) == {"victim_train": (0, 2), "attacker_train": (2, 5)}
    with pytest.raises(InputError):
        split_training(10, "paired")
    with pytest.raises(InputError):
        split_training(2)


# -- names, seeds, sizes ------------------------------------------------------------------------------------------
def test_all_expands_to_every_registered_attack_once():
    assert resolve_attack_names(["fr", "all"]) == ["fr"] + [n for n in list_attacks() if n != "fr"]


def test_unknown_attack_name_is_refused_with_a_suggestion():
    with pytest.raises(UnknownNameError, match="fr_adv"):
        resolve_attack_names(["fr-adv"])


def test_rerun_with_the_same_seed_reproduces_trained_attacks(le_run, data, tmp_path):
    (tmp_path / "attacks").mkdir()  # the run's attacker secret (its own keys) is what a rerun reuses
    shutil.copy2(le_run["dir"] / "attacks" / "attacker_secret.json", tmp_path / "attacks" / "attacker_secret.json")
    again = run(["gan", "itn"], le_run["scheme"], data, tmp_path)
    for name in ("gan", "itn"):
        assert again["attacks"][name]["ssim_mean"] == le_run["result"]["attacks"][name]["ssim_mean"]
    assert again["baselines"] == le_run["result"]["baselines"]
    assert derive_seed(0, "gan") != derive_seed(1, "gan") != derive_seed(0, "itn")


def test_attacker_secret_is_kept_with_mode_0600_and_new_runs_draw_new_keys(le_run, data, tmp_path):
    kept = le_run["dir"] / "attacks" / "attacker_secret.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    other = run(["fr"], le_run["scheme"], data, tmp_path)
    assert (tmp_path / "attacks" / "attacker_secret.json").read_bytes() != kept.read_bytes()
    assert other["baselines"]["wrong_key"] != le_run["result"]["baselines"]["wrong_key"]


def test_images_are_resized_to_224_for_the_proposed_scheme(data, tmp_path):
    scheme = keyed("proposed", 16, 224)
    small = {"train": data["train"][:8], "test": data["test"][:3]}
    result = run(["fr"], scheme, small, tmp_path, n_images=3)
    with np.load(tmp_path / result["attacks"]["fr"]["files"]["restored"]) as npz:
        assert npz["restored"].shape == (3, 224, 224, 3)
    assert result["attacks"]["fr"]["config"]["block_size"] == 16


def test_jpeg_quality_compresses_the_ciphertexts(data, tmp_path):
    pytest.importorskip("cv2")
    scheme = keyed("plain", None)
    exact = run(["fr"], scheme, data, tmp_path / "a")["baselines"]["ciphertext"]["ssim_mean"]
    lossy = run(["fr"], scheme, data, tmp_path / "b", jpeg_quality=30)["baselines"]["ciphertext"]["ssim_mean"]
    assert exact == pytest.approx(1.0, abs=1e-12) and lossy < 0.99


def test_a_key_for_another_size_is_refused(data, tmp_path):
    with pytest.raises(InputError, match="key"):
        run(["fr"], keyed("le"), data, tmp_path, image_size=64)


# -- ppbench attack ------------------------------------------------------------------------------------------------
def test_attack_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["attack", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--train-from" in text and "--key-free" in text


def test_cli_fr_restores_the_fold_and_scores_it(files, data, tmp_path, capsys):
    out = tmp_path / "restored.npz"
    assert main(["attack", "--scheme", "pe_np", "--attack", "fr", "--ciphertexts", str(files["pe_np"]),
                 "--plain", str(files["plain"]), "--key-free", "--out", str(out)]) == 0
    with np.load(out) as npz:
        restored = npz["restored"]
        assert npz["ssim"].shape == (24,)
    fold = np.minimum(data["test"].permute(0, 2, 3, 1).numpy(), 255 - data["test"].permute(0, 2, 3, 1).numpy())
    assert np.array_equal(restored, fold)
    assert "SSIM mean" in capsys.readouterr().out


def test_cli_train_from_a_run_uses_its_checkpoint(files, le_run, tmp_path):
    out = tmp_path / "itn.npz"
    assert main(["attack", "--scheme", "le", "--attack", "itn", "--ciphertexts", str(files["le"]),
                 "--train-from", str(le_run["dir"]), "--out", str(out), "--key-free"]) == 0
    saved = le_run["dir"] / le_run["result"]["attacks"]["itn"]["files"]["restored"]
    with np.load(out) as npz, np.load(saved) as run_npz:
        assert np.array_equal(npz["restored"], run_npz["restored"])  # the run kept every scored image


def test_cli_trains_gan_from_a_dataset_without_any_key(files, tmp_path):
    out = tmp_path / "gan.npz"
    assert main(["attack", "--scheme", "le", "--attack", "gan", "--ciphertexts", str(files["le"]), "--block-size", "4",
                 "--dataset", str(files["plain"]), "--train-ciphertexts", str(files["le"]), "--profile", "smoke",
                 "--key-free", "--save-attack", str(tmp_path / "gan.pt"), "--out", str(out)]) == 0
    assert np.load(out)["restored"].shape == (24, 32, 32, 3)
    assert (tmp_path / "gan.pt").exists()


def test_cli_key_free_refuses_a_key(files):
    assert main(["attack", "--scheme", "le", "--attack", "gan", "--ciphertexts", str(files["le"]), "--dataset",
                 str(files["plain"]), "--key", str(files["le_key"]), "--key-free"]) == 2


def test_cli_trained_attack_without_training_data_is_refused(files, capsys):
    assert main(["attack", "--scheme", "le", "--attack", "itn", "--ciphertexts", str(files["le"])]) == 2
    assert "--train-from" in capsys.readouterr().err
