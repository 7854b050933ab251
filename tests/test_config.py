"""ppbench.config: the nested run config, its identity (run ids), files identified by content, the layering."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ppbench.config import (
    NON_IDENTITY_FIELDS, OPTION_NAMES, RunConfig, layer, locate_run, resolve_config, run_dir_for, run_id,
)
from ppbench.data import SAMPLE_PATH
from ppbench.errors import DataError, InputError
from ppbench.profiles import Profile, Recipe
from ppbench.records import RunRecord
from ppbench.schemes import generate_key

from conftest import REPO_ROOT


def smoke(**overrides) -> RunConfig:
    return resolve_config(**{"scheme": "proposed", "profile": "smoke", "device": "cpu", **overrides})


def committed_records(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO_ROOT / folder).glob("**/result.json"))


# -- the nested config -----------------------------------------------------------------------------------------
class TestSections:
    def test_every_option_lives_in_exactly_one_place(self):
        config = smoke()
        assert list(config.to_dict()) == list(OPTION_NAMES)
        assert (config.training.lr, config.data.dataset, config.encryption.block_size) == (0.002, "sample", 4)
        assert (config.attack.attacks, config.execution.results) == ((), "runs")

    def test_the_flat_option_name_reads_the_sections_value(self):
        config = smoke(lr=0.01, attacks=["fr"], n_train=64)
        assert (config.lr, config.attacks, config.n_train) == (0.01, ("fr",), 64)
        with pytest.raises(AttributeError):
            config.learning_rate

    def test_the_flat_form_resolves_to_the_same_config(self):
        config = smoke(lr=0.01, attacks=["fr", "itn"], jpeg_quality=80, milestones=[0.5])
        assert resolve_config(**config.to_dict()) == config

    def test_the_execution_and_attack_sections_are_the_non_identity_fields(self):
        assert NON_IDENTITY_FIELDS == {"key", "device", "results", "data_root", "download", "force", "resume",
                                       "progress", "attacks", "attacker_data", "n_attack_images"}


# -- identity ------------------------------------------------------------------------------------------------
class TestIdentity:
    @pytest.mark.parametrize("option,value", [
        ("device", "meta"), ("progress", False), ("results", "elsewhere"), ("data_root", "/tmp/cache"),
        ("download", False), ("force", True), ("resume", True), ("attacks", ["fr", "itn"]),
        ("attacker_data", "overlap"), ("n_attack_images", 3),
    ])
    def test_execution_and_attack_settings_do_not_change_the_run_id(self, option, value):
        changed = smoke(**{option: value})
        assert changed.to_dict()[option] != smoke().to_dict()[option]
        assert run_id(changed) == run_id(smoke()) and changed.config_hash == smoke().config_hash

    @pytest.mark.parametrize("option,value", [
        ("lr", 0.01), ("epochs", 3), ("scheme", "etc"), ("block_size", 8), ("seed", 1), ("n_train", 64),
        ("plain_augment", False), ("jpeg_quality", 75), ("optimizer", "sgd"), ("amp", True),
    ])
    def test_data_encryption_and_training_values_change_the_run_id(self, option, value):
        assert run_id(smoke(**{option: value})) != run_id(smoke())

    def test_the_key_enters_by_its_id_not_its_path(self, tmp_path):
        key = generate_key("proposed", image_size=32, block_size=4).save(tmp_path / "a" / "key.json")
        moved = tmp_path / "b" / "key.json"
        moved.parent.mkdir()
        shutil.copy2(key, moved)
        assert run_id(smoke(key=str(key))) == run_id(smoke(key=str(moved))) != run_id(smoke())

    def test_the_run_id_names_the_run(self):
        assert run_id(smoke(seed=2)).startswith("proposed-vit_smoke-sample-smoke-s2-")
        assert run_dir_for(smoke(results="out")) == Path("out") / run_id(smoke())


# -- files by content ----------------------------------------------------------------------------------------------
class TestContentIdentity:
    def test_a_moved_npz_keeps_its_run_id(self, tmp_path):
        first = tmp_path / "checkout" / "data" / "set.npz"
        first.parent.mkdir(parents=True)
        shutil.copy(SAMPLE_PATH, first)
        before = smoke(dataset=f"npz:{first}")
        moved = tmp_path / "moved" / "data" / "set.npz"
        moved.parent.mkdir(parents=True)
        shutil.move(first, moved)
        after = smoke(dataset=f"npz:{moved}")
        assert after.data.dataset != before.data.dataset  # the record still says where the data was read
        assert run_id(after) == run_id(before) and run_id(after).startswith("proposed-vit_smoke-npz-set-smoke-s0-")
        assert after.identity()["dataset"].startswith("npz:sha256:")

    def test_one_changed_byte_of_the_npz_changes_the_run_id(self, tmp_path):
        original = tmp_path / "a" / "set.npz"
        original.parent.mkdir()
        shutil.copy(SAMPLE_PATH, original)
        changed = tmp_path / "b" / "set.npz"
        changed.parent.mkdir()
        data = bytearray(original.read_bytes())
        data[len(data) // 2] ^= 1
        changed.write_bytes(bytes(data))
        assert run_id(smoke(dataset=f"npz:{changed}")) != run_id(smoke(dataset=f"npz:{original}"))

    def test_a_moved_image_folder_keeps_its_run_id_and_a_changed_image_changes_it(self, tmp_path):
        root = tmp_path / "one" / "images"
        for split, cls, name in (("train", "cat", "0.png"), ("train", "dog", "1.png"), ("test", "cat", "2.png")):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            (root / split / cls / name).write_bytes(name.encode() * 10)
        (root / "train" / "notes.txt").write_text("not an image")
        before = run_id(smoke(dataset=f"folder:{root}"))
        moved = tmp_path / "two" / "images"
        shutil.copytree(root, moved)
        (moved / "train" / "notes.txt").write_text("other notes: not loaded, not identity")
        assert run_id(smoke(dataset=f"folder:{moved}")) == before
        (moved / "test" / "cat" / "2.png").write_bytes(b"another image")
        assert run_id(smoke(dataset=f"folder:{moved}")) != before

    def test_a_moved_weights_file_keeps_its_run_id(self, tmp_path):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        (tmp_path / "a" / "w.pth").write_bytes(b"weights")
        (tmp_path / "b" / "w.pth").write_bytes(b"weights")
        (tmp_path / "b" / "other.pth").write_bytes(b"other weights")
        ids = [run_id(smoke(weights=str(tmp_path / p))) for p in ("a/w.pth", "b/w.pth", "b/other.pth")]
        assert ids[0] == ids[1] != ids[2]

    def test_a_missing_data_file_fails_when_the_config_is_resolved(self, tmp_path):
        with pytest.raises(DataError, match="not found"):
            smoke(dataset=f"npz:{tmp_path / 'missing.npz'}")
        with pytest.raises(InputError, match="--weights .* no such file"):
            smoke(weights=str(tmp_path / "missing.pth"))

    def test_named_data_sets_are_identified_by_their_name(self):
        config = smoke()
        assert config.data.fingerprint is None and config.identity()["dataset"] == "sample"
        assert config.legacy_config_hash is None


class TestOldIds:
    """Ids from before content fingerprints (files hashed by their absolute path) are accepted, not migrated."""

    def test_the_old_id_hashes_the_path_as_before(self, tmp_path):
        data = tmp_path / "set.npz"
        shutil.copy(SAMPLE_PATH, data)
        config = smoke(dataset=f"npz:{data}")
        old = {k: v for k, v in config.to_dict().items() if k not in NON_IDENTITY_FIELDS and k != "jpeg_quality"}
        assert old["dataset"] == f"npz:{data.resolve()}"
        import hashlib

        expected = hashlib.sha256(json.dumps(old, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:8]
        assert config.legacy_config_hash == expected != config.config_hash

    def test_a_folder_under_the_old_id_is_found_and_keeps_its_hash(self, tmp_path):
        data = tmp_path / "set.npz"
        shutil.copy(SAMPLE_PATH, data)
        config = smoke(dataset=f"npz:{data}", results=str(tmp_path / "r"))
        assert locate_run(config) == (tmp_path / "r" / run_id(config), config.config_hash)
        old = tmp_path / "r" / run_id(config, config.legacy_config_hash)
        old.mkdir(parents=True)
        assert locate_run(config) == (old, config.legacy_config_hash)
        (tmp_path / "r" / run_id(config)).mkdir()  # a folder under the new id wins
        assert locate_run(config)[0].name == run_id(config)


# -- committed records ---------------------------------------------------------------------------------------------
class TestCommittedRecords:
    @pytest.mark.parametrize("path", committed_records("results"), ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
    def test_a_committed_study_keeps_its_run_id(self, path):
        record = json.loads(path.read_text())
        config = RunConfig.from_record(record["config"])
        assert run_id(config) == record["run_id"] == path.parent.name
        assert config.config_hash == record["config"]["derived"]["config_hash"]
        assert config.to_record(record["config"]["derived"]) == record["config"]

    @pytest.mark.parametrize("path", committed_records("results", "tests/testdata"), ids=lambda p: p.parent.name)
    def test_a_committed_record_config_round_trips_through_the_nested_config(self, path):
        record = json.loads(path.read_text())
        config = RunConfig.from_record(record["config"])
        assert config.to_record(record["config"]["derived"]) == record["config"]
        assert RunRecord.from_json({**record, "config": config.to_record(record["config"]["derived"])}).to_json() == record
        prefix = run_id(config).rsplit("-", 1)[0]  # fixture records carry made-up hashes, never other names
        assert path.parent.name == record["run_id"] and record["run_id"].rsplit("-", 1)[0] == prefix

    def test_there_are_committed_studies_to_check(self):
        assert len(committed_records("results")) >= 6


# -- layering ----------------------------------------------------------------------------------------------------
def _profile_and_recipe() -> tuple[Profile, Recipe]:
    recipe = Recipe(optimizer="sgd", lr_plain=0.1, lr_encrypted=0.2, weight_decay=0.0, batch_size=16,
                    schedule="constant", epochs=2, image_size=64)
    profile = Profile(name="t", description="t", dataset="sample", image_size=32, block_size=4,
                      recipes={"*": recipe}, networks={"*": "vit_smoke"}, eval_batch_size=8, n_attack_images=5)
    return profile, recipe


class TestLayering:
    def test_a_recipe_value_overrides_the_profiles(self):
        profile, recipe = _profile_and_recipe()
        assert layer({}, profile, recipe, "proposed", "vit_smoke")["image_size"] == 64

    def test_a_flag_overrides_the_recipe_and_the_profile(self):
        profile, recipe = _profile_and_recipe()
        values = layer({"image_size": 128, "lr": 0.5, "eval_batch_size": 4, "n_attack_images": 2}, profile, recipe,
                       "proposed", "vit_smoke")
        assert (values["image_size"], values["lr"], values["eval_batch_size"], values["n_attack_images"]) == (128, 0.5, 4, 2)

    def test_the_profile_fills_what_the_recipe_leaves_open(self):
        profile, recipe = _profile_and_recipe()
        values = layer({}, profile, recipe, "proposed", "vit_smoke")
        assert (values["block_size"], values["eval_batch_size"], values["dataset"], values["n_attack_images"]) == (4, 8, "sample", 5)
        assert (values["lr"], layer({}, profile, recipe, "plain", "vit_smoke")["lr"]) == (0.2, 0.1)

    def test_resolve_config_layers_the_registered_profiles(self):
        paper = resolve_config(scheme="proposed", profile="paper", device="cpu")
        assert (paper.encryption.image_size, paper.encryption.block_size) == (224, 16)  # the ViT recipe's
        assert resolve_config(scheme="etc", profile="paper", device="cpu").encryption.image_size == 32  # the profile's
        assert resolve_config(scheme="proposed", profile="paper", device="cpu", image_size=64,
                              block_size=16).encryption.image_size == 64  # the flag's
