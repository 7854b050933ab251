"""The ``cpu224`` profile: the seed paper's 224 x 224 / M16 sized for 2 CPU cores.

Pins what makes it the paper's setting (image and block size, a patch-16 ViT, SIA-GAN with one first-stage
sub-network per block position, the block networks at kernel = stride = 16), that every attack has a
configuration under every registered profile (its own or the one it falls back to), and runs the profile end
to end at toy scale (slow) as ``scripts/reproduce.sh cpu224`` runs it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import torch

from ppbench import cli
from ppbench.attacks import PROFILE_FALLBACK, attack_class, create_attack, list_attacks
from ppbench.attacks.siagan_net import BlockwiseConv, SIAGANGenerator
from ppbench.config import resolve_config
from ppbench.errors import InputError
from ppbench.profiles import get_profile, list_profiles

REPO = Path(__file__).resolve().parents[1]
LEARNED = ("gan", "itn", "itn_unet")


@pytest.mark.parametrize("profile", list_profiles())
@pytest.mark.parametrize("attack", list_attacks())
def test_every_attack_has_a_configuration_under_every_profile(attack, profile):
    cls = attack_class(attack)
    assert cls.configuration_profile(profile) in cls.default_configs


def test_an_attack_without_a_cpu224_entry_takes_its_cpu_configuration():
    assert PROFILE_FALLBACK == {"cpu224": "cpu"}
    kpa = create_attack("kpa", scheme_name="proposed", image_size=224, block_size=16, profile="cpu224")
    assert kpa.config == attack_class("kpa").default_configs["cpu"]


def test_an_unknown_profile_is_still_refused_naming_the_known_ones():
    with pytest.raises(InputError, match="unknown profile 'cpu512'.*smoke"):
        create_attack("itn", scheme_name="proposed", image_size=224, block_size=16, profile="cpu512")


def test_cpu224_runs_are_the_papers_size_with_a_patch_16_vit():
    profile = get_profile("cpu224")
    assert (profile.image_size, profile.block_size, profile.dataset) == (224, 16, "sample")
    config = resolve_config(scheme="proposed", profile="cpu224")
    assert (config.encryption.image_size, config.encryption.block_size, config.network) == (224, 16, "vit_cpu")
    assert resolve_config(scheme="plain", profile="cpu224").network == "vit_cpu"


@pytest.mark.parametrize("attack", LEARNED)
def test_cpu224_learned_attacks_have_their_own_224_configuration(attack):
    assert "cpu224" in attack_class(attack).default_configs  # not the cpu fallback: sized for 224 on purpose


def test_cpu224_gan_is_siagan_with_one_first_stage_per_block_position():
    gan = create_attack("gan", scheme_name="proposed", image_size=224, block_size=16, profile="cpu224")
    assert isinstance(gan.generator, SIAGANGenerator)
    stage = gan.generator.adaptation.conv
    assert isinstance(stage, BlockwiseConv)
    assert (stage.num_blocks, stage.block_size) == (196, 16)  # (224 / 16)^2 positions, kernel = stride = 16
    assert tuple(stage.weight.shape) == (196, 256, 768)  # one feature channel per pixel of the 16 x 16 block
    with torch.no_grad():
        out = gan.generator.eval()(torch.zeros(2, 3, 224, 224))
    assert out.shape == (2, 3, 224, 224)


@pytest.mark.parametrize("attack", ("itn", "itn_unet"))
def test_cpu224_itns_map_224_images_to_224_images(attack):
    itn = create_attack(attack, scheme_name="proposed", image_size=224, block_size=16, profile="cpu224")
    with torch.no_grad():
        out = itn.forward(torch.zeros(2, 3, 224, 224))  # the network alone: the attack is not fitted
    assert out.shape == (2, 3, 224, 224)


def test_reproduce_cpu224_names_only_registered_attacks():
    text = (REPO / "scripts" / "reproduce.sh").read_text()
    (listed,) = re.findall(r'echo "(fr [a-z_ ]+)"', text)
    assert set(listed.split()) <= set(list_attacks())
    done = subprocess.run(["bash", "-n", str(REPO / "scripts" / "reproduce.sh")], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_cpu224_profile_runs_end_to_end_at_toy_scale(tmp_path, monkeypatch):
    for name in LEARNED:  # one epoch of each learned attack (everything else as the profile's)
        monkeypatch.setitem(attack_class(name).default_configs["cpu224"], "epochs", 1)
    attacks = ["fr", "gan", "itn", "itn_unet", "kpa", "pooled", "jigsaw", "pooled_generic"]
    results = tmp_path / "results"
    argv = ["run", "--profile", "cpu224", "--scheme", "proposed", "--dataset", "sample", "--no-download",
            "--n-train", "16", "--n-test", "4", "--steps", "1", "--n-attack-images", "2", "--device", "cpu",
            "--results", str(results), "--no-progress", "--attack", *attacks]
    assert cli.main(argv) == 0
    (record_file,) = results.glob("*/result.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "complete" and record["scheme"]["image_size"] == [224, 224]
    entries = record["metrics"]["attacks"]
    assert sorted(entries) == sorted(attacks)
    assert entries["pooled_generic"]["status"] == "not_applicable"  # dense statistics: refused above 64 x 64
    for name in LEARNED:
        config = entries[name]["config"]
        assert (config["profile"], config["image_size"], config["block_size"]) == ("cpu224", 224, 16)
        assert entries[name]["epochs_run"] == 1
    assert entries["gan"]["config"]["generator"] == "siagan"
