"""scripts/siagan_le.py: the shared start of SIA-GAN's per-position first stage, and that every variant builds."""

from __future__ import annotations

import json

import torch

from ppbench.attacks import create_attack


def _narrow_siagan():
    return create_attack("gan", scheme_name="le", image_size=32, block_size=4, profile="cpu",
                         generator="siagan", init="default", decoder_width=16)


def test_shared_start_gives_every_block_position_the_same_first_stage_weights(load_script):
    script = load_script("siagan_le")
    attack = _narrow_siagan()
    weight = attack.generator.adaptation.conv.weight
    assert not torch.equal(weight[0], weight[1])  # independent by default, as published
    first = weight[0].clone()
    script._share_start(attack.generator)
    assert all(torch.equal(weight[i], first) for i in range(weight.shape[0]))
    assert weight.requires_grad and weight.shape[0] == 64  # still one trainable map per position


def test_tied_first_stage_is_one_map_applied_at_every_block_position(load_script):
    script = load_script("siagan_le")
    attack = _narrow_siagan()
    script._tie_first_stage(attack.generator)
    stage = attack.generator.adaptation.eval()
    block = torch.randn(1, 3, 4, 4)
    features = stage.conv(block.repeat(1, 1, 8, 8))  # the same block at all 64 positions
    assert features.shape == (1, 256, 8, 8)
    assert torch.allclose(features, features[:, :, :1, :1].expand_as(features))


def test_every_variant_names_gan_options_the_attacks_accept(load_script):
    script = load_script("siagan_le")
    for variant in script.VARIANTS:
        name, options, setup = script.variant_options(variant)
        attack = create_attack(name, scheme_name="le", image_size=32, block_size=4, profile="cpu", **options)
        for key in setup:
            script.SETUP[key](attack.generator)
        assert attack.config["generator"] in ("siagan", "blocknet"), variant


def test_a_row_names_its_seed_and_the_set_up_steps_the_options_do_not_show(load_script, tmp_path):
    script = load_script("siagan_le")
    out = tmp_path / "rows.json"
    assert script.main(["--dataset", "sample", "--variants", "siagan_narrow_shared_key_free", "--epochs", "1",
                        "--n-train", "128", "--n-eval", "8", "--seed", "3", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["seed"] == 3 and row["setup"] == ["shared_start"]
    assert row["overrides"]["augment"] == "key_free" and "shared_start" not in row["overrides"]
