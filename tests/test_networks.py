"""Tests of ppbench.networks: registry-driven shape tests, adapters, ShakeDrop, ViT permutation property."""

from __future__ import annotations

import contextlib
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

import ppbench.networks as nets
from ppbench.networks import (
    AdaptedClassifier,
    ELEAdapter,
    LEAdapter,
    MissingWeightsError,
    WeightsMismatchError,
    create_network,
    list_networks,
    network_info,
)
from ppbench.networks.adapters import total_variation
from ppbench.networks.pyramidnet import PyramidBasicBlock, PyramidBottleneck, ShakeDrop
from ppbench.registry import UnknownNameError

NUM_CLASSES = 10
CPU_NETWORKS = [n for n in list_networks() if network_info(n).cpu_sized]
HEAVY_NETWORKS = [n for n in list_networks() if not network_info(n).cpu_sized]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _build_small(name: str, **kwargs):
    """Every network at a size a 2-core CPU runs in well under a second; returns (model, input)."""
    info = network_info(name)
    if info.cpu_sized:
        return create_network(name, num_classes=NUM_CLASSES, **kwargs), torch.rand(4, 3, 32, 32)
    if info.needs_weights:  # vit_b16: from scratch at 32 x 32 (2 x 2 tokens of 16 x 16)
        model = create_network(name, num_classes=NUM_CLASSES, image_size=32, from_scratch=True, **kwargs)
        return model, torch.rand(2, 3, 32, 32)
    # full-size convolutional networks: a tiny input (any size works)
    return create_network(name, num_classes=NUM_CLASSES, **kwargs), torch.rand(2, 3, 8, 8)


# ---------------------------------------------------------------------------------------------------
# registry


class TestRegistry:
    def test_all_families_registered_on_import(self):
        names = set(list_networks())
        assert {"vit_b16", "vit_cpu", "vit_smoke", "resnet18", "resnet18_cpu",
                "pyramidnet_shakedrop", "pyramidnet_shakedrop_cpu"} <= names

    def test_list_networks_filters_with_wildcards(self):
        assert list_networks("vit_*") == ["vit_b16", "vit_cpu", "vit_smoke"]
        assert "resnet18" not in list_networks("*", exclude="resnet*")

    @pytest.mark.parametrize("name", list_networks())
    def test_info_describes_the_variant(self, name):
        info = network_info(name)
        assert info.name == name
        assert info.family in {"vit", "resnet", "pyramidnet"}
        assert info.paper and info.notes
        assert info.input_size == (3, info.image_size, info.image_size)
        assert info.cpu_sized == (name.endswith("_cpu") or name.endswith("_smoke"))

    def test_unknown_network_suggests_close_matches(self):
        with pytest.raises(UnknownNameError, match="resnet18"):
            create_network("resnet19", num_classes=NUM_CLASSES)
        with pytest.raises(KeyError, match="Did you mean"):
            network_info("vit_cpuu")

    def test_unknown_adapter_suggests_close_matches(self):
        with pytest.raises(UnknownNameError, match="'ele'"):
            create_network("vit_smoke", num_classes=NUM_CLASSES, adapter="elee", block_size=4)

    def test_none_kwargs_fall_back_to_the_variant_defaults(self):
        model = create_network("vit_smoke", num_classes=NUM_CLASSES, embed_dim=None, depth=None, image_size=None)
        assert model.body.embed_dim == 32 and len(model.body.blocks) == 1

    def test_adapter_needs_block_size(self):
        with pytest.raises(ValueError, match="block_size"):
            create_network("resnet18_cpu", num_classes=NUM_CLASSES, adapter="le")


# ---------------------------------------------------------------------------------------------------
# every registered network


@contextlib.contextmanager
def _without_onednn():
    """oneDNN builds one kernel per new convolution shape on first use (about 6 s for the ~110 shapes of
    PyramidNet-110); the plain CPU kernels need no set-up, so a single tiny pass is fast."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with torch.backends.mkldnn.flags(enabled=False):
            yield


@pytest.mark.parametrize("name", list_networks())
def test_forward_backward_shapes_and_extra_loss(name):
    model, x = _build_small(name)
    model.train()
    with _without_onednn() if name in HEAVY_NETWORKS else contextlib.nullcontext():
        logits = model(x)
        assert logits.shape == (x.shape[0], NUM_CLASSES) and logits.dtype == torch.float32
        extra = model.extra_loss()
        assert isinstance(extra, torch.Tensor) and extra.dim() == 0 and extra.item() == 0.0
        (F.cross_entropy(logits, torch.arange(x.shape[0]) % NUM_CLASSES) + extra).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", CPU_NETWORKS)
def test_input_is_normalised_with_fixed_buffers(name):
    model = create_network(name, num_classes=NUM_CLASSES)
    assert torch.equal(model.normalize.mean.flatten(), torch.full((3,), 0.5))
    assert not any("normalize" in n for n, _ in model.named_parameters())
    assert "normalize.mean" in model.state_dict()


def test_vit_b16_uses_its_pretrained_config_statistics():
    model = create_network("vit_b16", num_classes=NUM_CLASSES, image_size=32, from_scratch=True, depth=1)
    cfg = model.body.pretrained_cfg
    assert cfg["tag"] == "augreg_in21k"
    assert model.normalize.mean.flatten().tolist() == pytest.approx(list(cfg["mean"]))
    assert model.body.patch_embed.patch_size == (16, 16)


@pytest.mark.parametrize("name", ["vit_cpu", "vit_smoke"])
@pytest.mark.parametrize("block_size", [2, 4, 8])
def test_small_vit_patch_size_is_the_block_size(name, block_size):
    model = create_network(name, num_classes=NUM_CLASSES, block_size=block_size)
    assert model.body.patch_embed.patch_size == (block_size, block_size)
    assert model.body.pos_embed.shape[1] == 1 + (32 // block_size) ** 2
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, NUM_CLASSES)


def test_pyramidnet_widening_and_drop_probabilities():
    body = create_network("pyramidnet_shakedrop", num_classes=NUM_CLASSES).body
    assert len(body.blocks) == 54 and body.num_features == 16 + 270
    assert body.p_drops == pytest.approx([0.5 * (k + 1) / 54 for k in range(54)])
    assert [b.shake_drop.p_drop for b in body.blocks] == pytest.approx(body.p_drops)
    cpu = create_network("pyramidnet_shakedrop_cpu", num_classes=NUM_CLASSES).body
    assert cpu.depth == 20 and cpu.alpha == 48 and cpu.num_features == 64 and len(cpu.blocks) == 9


def test_resnet18_widths():
    full = create_network("resnet18", num_classes=NUM_CLASSES).body
    cpu = create_network("resnet18_cpu", num_classes=NUM_CLASSES).body
    assert full.stem[0].kernel_size == (3, 3) and full.stem[0].stride == (1, 1)
    assert full.num_features == 512 and cpu.num_features == 128
    assert 11.0e6 < sum(p.numel() for p in full.parameters()) < 11.3e6


# ---------------------------------------------------------------------------------------------------
# adapters


@pytest.mark.parametrize("adapter", ["le", "ele"])
@pytest.mark.parametrize("name", CPU_NETWORKS)
def test_adapter_in_front_of_each_cpu_classifier(adapter, name):
    model = create_network(name, num_classes=NUM_CLASSES, adapter=adapter, block_size=4)
    assert isinstance(model, AdaptedClassifier)
    assert isinstance(model.classifier.normalize, torch.nn.Identity)  # the adapter output is no image
    first = model.body.patch_embed.proj if name.startswith("vit") else model.body.stem[0]
    assert first.in_channels == 16
    x = torch.rand(4, 3, 32, 32)
    logits = model(x)
    assert logits.shape == (4, NUM_CLASSES)
    extra = model.extra_loss()
    assert extra.dim() == 0 and torch.isfinite(extra)
    assert (extra.item() > 0) == (adapter == "ele")
    (logits.sum() + extra).backward()
    assert all(p.grad is not None for p in model.adapter.parameters())


@pytest.mark.parametrize("cls", [LEAdapter, ELEAdapter])
def test_adapter_maps_to_16_channels_at_full_size(cls):
    adapter = cls(4, image_size=32) if cls is LEAdapter else cls(4, 32)
    assert adapter(torch.rand(2, 3, 32, 32)).shape == (2, 16, 32, 32)
    with pytest.raises(ValueError, match="block size"):
        adapter(torch.rand(2, 3, 30, 30))


def test_le_adapter_is_the_shared_block_network():
    m = 4
    ad = LEAdapter(m).eval()
    with torch.no_grad():
        ad.bn.running_mean.normal_()
        ad.bn.running_var.uniform_(0.5, 2)
    x = torch.rand(2, 3, 32, 32)
    ref = F.leaky_relu(ad.bn(F.conv2d(x, ad.block_embed.weight, stride=m)), 0.1)
    ref = ad.out_conv(F.pixel_shuffle(ref, m))
    assert torch.allclose(ad(x), ref, atol=1e-6)
    assert ad.block_embed.weight.shape == (16 * m * m, 3, m, m) and ad.block_embed.bias is None


def _ele_reference(ad: ELEAdapter, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A block-by-block loop (Madono's layout): per-position conv, BN, LeakyReLU(0.2), W, PixelShuffle."""
    m, g, fm = ad.block_size, ad.grid, ad.feat_dim
    w = ad.block_weights()
    outs = []
    for n in range(ad.num_blocks):
        r, c = divmod(n, g)
        blk = x[:, :, r * m:(r + 1) * m, c * m:(c + 1) * m]
        z = F.conv2d(blk, w[n].view(fm, 3, m, m)).flatten(1)  # [B, F M^2]
        sl = slice(n * fm, (n + 1) * fm)
        z = F.batch_norm(z, ad.bn.running_mean[sl], ad.bn.running_var[sl], ad.bn.weight[sl], ad.bn.bias[sl],
                         False, 0.0, ad.bn.eps)
        outs.append(F.leaky_relu(z, 0.2))
    h = torch.stack(outs, dim=2) @ ad.mix  # [B, F M^2, N]
    feature = F.pixel_shuffle(h.view(x.shape[0], fm, g, g), m)
    return ad.out_conv(feature), feature


def test_ele_adapter_vectorised_equals_block_loop():
    ad = ELEAdapter(4, 16).eval()
    with torch.no_grad():
        ad.bn.running_mean.normal_()
        ad.bn.running_var.uniform_(0.5, 2)
        ad.bn.weight.normal_()
        ad.bn.bias.normal_()
    x = torch.rand(3, 3, 16, 16)
    out = ad(x)
    ref, feature = _ele_reference(ad, x)
    assert torch.allclose(out, ref, atol=1e-5)
    tv = sum(((feature[:, c, 1:, :-1] - feature[:, c, :-1, :-1]) ** 2
              + (feature[:, c, :-1, 1:] - feature[:, c, :-1, :-1]) ** 2).sum() for c in range(3))
    assert torch.allclose(ad._last_tv, tv / (15 * 16 * 16) / 3, rtol=1e-5)


def test_ele_spectral_norm_makes_each_block_map_unit_norm():
    ad = ELEAdapter(4, 16)
    ad._power_iteration(200)
    sigma = torch.linalg.matrix_norm(ad.block_weights().detach(), ord=2)
    assert sigma.shape == (16,) and torch.allclose(sigma, torch.ones(16), atol=1e-3)


def test_ele_permutation_penalty_is_zero_for_a_permutation_matrix():
    ad = ELEAdapter(4, 16)
    with torch.no_grad():
        ad.mix.copy_(torch.eye(16)[torch.randperm(16)])
    assert ad.permutation_penalty().item() == pytest.approx(0.0, abs=1e-6)
    assert ad.extra_loss().item() == pytest.approx(0.0, abs=1e-9)  # no forward yet: no TV term


def test_ele_permutation_penalty_is_positive_otherwise():
    ad = ELEAdapter(4, 16)
    assert ad.permutation_penalty().item() > 0  # the random initial W
    with torch.no_grad():
        ad.mix.copy_(torch.eye(16)[torch.randperm(16)] * 0.5 + 0.5 / 16)
    assert ad.permutation_penalty().item() > 0


def test_ele_extra_loss_weights_are_constructor_arguments():
    x = torch.rand(2, 3, 16, 16)
    parts = {}
    for pw, tw in [(1.0, 0.0), (0.0, 1.0), (2.0, 3.0)]:
        torch.manual_seed(1)
        ad = ELEAdapter(4, 16, perm_weight=pw, tv_weight=tw)
        ad(x)
        parts[(pw, tw)] = ad.extra_loss().item()
    assert parts[(2.0, 3.0)] == pytest.approx(2 * parts[(1.0, 0.0)] + 3 * parts[(0.0, 1.0)], rel=1e-5)
    assert parts[(1.0, 0.0)] == pytest.approx(ad.permutation_penalty().item() / 256, rel=1e-5)


def test_ele_adapter_copies_after_a_forward_pass():
    model = create_network("vit_smoke", num_classes=NUM_CLASSES, adapter="ele", block_size=4)
    model(torch.rand(2, 3, 32, 32))
    twin = copy.deepcopy(model)
    assert twin.extra_loss().item() == pytest.approx(twin.adapter.extra_loss().item())


def test_total_variation_of_a_constant_is_zero():
    assert float(total_variation(torch.ones(2, 3, 8, 8))) == 0.0
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4)
    assert float(total_variation(ramp)) == 3 * 3  # (H-1)(W-1) anchors, each (0^2 + 1^2)


# ---------------------------------------------------------------------------------------------------
# ShakeDrop


def test_shakedrop_training_output_is_random():
    sd = ShakeDrop(0.5).train()
    x = torch.rand(8, 4, 3, 3)
    outs = torch.stack([sd(x) for _ in range(20)])
    assert not all(torch.equal(outs[0], o) for o in outs[1:])
    ratios = (outs / x).flatten(2)
    assert torch.allclose(ratios, ratios[..., :1].expand_as(ratios), atol=1e-5)  # one factor per image
    assert ratios.min() >= -1 - 1e-6 and ratios.max() <= 1 + 1e-6


def test_shakedrop_eval_is_the_expectation():
    sd = ShakeDrop(0.3).eval()
    x = torch.randn(4, 5, 2, 2)
    assert torch.equal(sd(x), sd(x)) and torch.allclose(sd(x), 0.7 * x)


def test_shakedrop_backward_uses_an_independent_beta_in_0_1():
    sd = ShakeDrop(1.0).train()  # gate always 0: always perturbed
    x = torch.ones(64, 2, 2, 2, requires_grad=True)
    y = sd(x)
    y.sum().backward()
    alpha, beta = y.detach()[:, 0, 0, 0], x.grad[:, 0, 0, 0]
    assert alpha.min() < 0 < alpha.max()  # forward alpha ~ U[-1, 1]
    assert beta.min() >= 0 and beta.max() <= 1 and not torch.allclose(alpha, beta)
    assert torch.allclose(x.grad, beta.view(-1, 1, 1, 1).expand_as(x.grad))


def test_shakedrop_with_zero_drop_is_identity():
    x = torch.randn(4, 3, 2, 2)
    sd = ShakeDrop(0.0).train()
    assert all(torch.equal(sd(x), x) for _ in range(20))


@pytest.mark.parametrize("gate_level", ["batch", "sample"])
def test_shakedrop_keeps_the_branch_with_probability_one_minus_p(gate_level):
    sd = ShakeDrop(0.2, gate_level=gate_level).train()
    x = torch.ones(16, 1, 1, 1)
    kept = torch.stack([(sd(x) == 1).flatten() for _ in range(1000)]).float()  # alpha = 1 has probability 0
    assert abs(kept.mean().item() - 0.8) < 0.05
    per_batch_constant = bool((kept == kept[:, :1]).all())
    assert per_batch_constant == (gate_level == "batch")


@pytest.mark.parametrize("block_cls", [PyramidBasicBlock, PyramidBottleneck])
def test_pyramid_block_eval_scales_the_residual_by_one_minus_p(block_cls):
    block = block_cls(8, 12, stride=2, p_drop=0.3).eval()
    x = torch.randn(2, 8, 8, 8)
    out = block(x)
    shortcut = F.pad(F.avg_pool2d(x, 2), (0, 0, 0, 0, 0, 12 * block_cls.expansion - 8))
    assert torch.equal(out, block(x))
    assert torch.allclose(out, shortcut + 0.7 * block.branch(x), atol=1e-6)


def test_pyramidnet_training_is_random_and_eval_deterministic():
    model = create_network("pyramidnet_shakedrop_cpu", num_classes=NUM_CLASSES)
    x = torch.rand(4, 3, 32, 32)
    model.train()
    train_outs = [model(x) for _ in range(4)]
    assert not all(torch.allclose(train_outs[0], o) for o in train_outs[1:])
    model.eval()
    assert torch.equal(model(x), model(x))


# ---------------------------------------------------------------------------------------------------
# weights


def test_vit_b16_without_weights_raises_a_clear_error():
    with pytest.raises(MissingWeightsError) as err:
        create_network("vit_b16", num_classes=NUM_CLASSES, image_size=32, depth=1)
    assert "--weights" in str(err.value) and "--from-scratch" in str(err.value)


def test_vit_b16_pretrained_without_a_cached_file_raises(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError, match="--weights") as err:
        create_network("vit_b16", num_classes=NUM_CLASSES, image_size=32, pretrained=True, depth=1)
    assert "not in the local cache" in str(err.value) and "--from-scratch" in str(err.value)


def test_vit_b16_pretrained_loads_from_the_local_hf_cache(monkeypatch, tmp_path):
    import huggingface_hub.constants
    from safetensors.torch import save_file

    source = create_network("vit_b16", num_classes=21843, image_size=32, from_scratch=True, depth=1)
    snap = tmp_path / "hf" / "models--timm--vit_base_patch16_224.augreg_in21k" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (tmp_path / "hf" / "models--timm--vit_base_patch16_224.augreg_in21k" / "refs").mkdir()
    (tmp_path / "hf" / "models--timm--vit_base_patch16_224.augreg_in21k" / "refs" / "main").write_text("abc")
    save_file({k: v.contiguous() for k, v in source.body.state_dict().items()}, str(snap / "model.safetensors"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    model = create_network("vit_b16", num_classes=NUM_CLASSES, image_size=32, pretrained=True, depth=1)
    assert torch.equal(model.body.pos_embed, source.body.pos_embed)
    assert torch.count_nonzero(model.body.head.weight) == 0  # new head of 10 classes: zero_head


def test_vit_weights_file_loads_and_resets_a_new_head(tmp_path):
    source = create_network("vit_smoke", num_classes=100)
    path = tmp_path / "vit.pth"
    torch.save({"state_dict": source.state_dict()}, path)  # a whole Classifier, wrapped: both accepted
    model = create_network("vit_smoke", num_classes=NUM_CLASSES, weights=str(path))
    assert torch.equal(model.body.patch_embed.proj.weight, source.body.patch_embed.proj.weight)
    assert torch.count_nonzero(model.body.head.weight) == 0


def test_vit_b16_weights_file_is_resampled_to_the_image_size(tmp_path):
    source = create_network("vit_b16", num_classes=21843, from_scratch=True, depth=1)  # 224: 14 x 14 tokens
    path = tmp_path / "b16.pth"
    torch.save(source.body.state_dict(), path)
    model = create_network("vit_b16", num_classes=NUM_CLASSES, image_size=32, weights=path, depth=1)
    assert model.body.pos_embed.shape == (1, 1 + 4, 768)
    assert torch.equal(model.body.cls_token, source.body.cls_token)
    with pytest.raises(WeightsMismatchError, match="missing keys: blocks.1"):
        create_network("vit_b16", num_classes=NUM_CLASSES, image_size=32, weights=path, depth=2)


def test_weights_file_of_another_network_fails_clearly(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(create_network("resnet18_cpu", num_classes=NUM_CLASSES).body.state_dict(), path)
    with pytest.raises(WeightsMismatchError, match="do not fit vit_smoke: missing keys"):
        create_network("vit_smoke", num_classes=NUM_CLASSES, weights=str(path))
    with pytest.raises(WeightsMismatchError, match="shape mismatches"):
        create_network("resnet18", num_classes=NUM_CLASSES, weights=str(path))
    with pytest.raises(FileNotFoundError):
        create_network("resnet18_cpu", num_classes=NUM_CLASSES, weights=str(tmp_path / "absent.pth"))


def test_own_network_weights_round_trip(tmp_path):
    source = create_network("pyramidnet_shakedrop_cpu", num_classes=NUM_CLASSES).eval()
    path = tmp_path / "p.pth"
    torch.save(source.body.state_dict(), path)
    model = create_network("pyramidnet_shakedrop_cpu", num_classes=NUM_CLASSES, weights=path).eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(model(x), source(x))
    with pytest.raises(MissingWeightsError, match="no published pretrained weights"):
        create_network("resnet18_cpu", num_classes=NUM_CLASSES, pretrained=True)


# ---------------------------------------------------------------------------------------------------
# the seed paper's ViT property (patch size = block size)


def _encrypt(x: torch.Tensor, m: int, k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
    """Block scrambling (output block i = input block k1[i]), then pixel shuffling inside each block
    (output pixel k = input pixel k2[k], row-major, a pixel's channels moved together)."""
    b, c, h, w = x.shape
    gh, gw = h // m, w // m
    blocks = x.reshape(b, c, gh, m, gw, m).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, c, m * m)
    blocks = blocks[:, k1][..., k2]
    return blocks.reshape(b, gh, gw, c, m, m).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def test_vit_cpu_logits_are_invariant_under_the_matching_permutation():
    m = 4
    model = create_network("vit_cpu", num_classes=NUM_CLASSES, block_size=m).eval()
    x = torch.rand(8, 3, 32, 32)
    k1, k2 = torch.randperm(64), torch.randperm(m * m)
    enc_x = _encrypt(x, m, k1, k2)

    transformed = copy.deepcopy(model)
    vit = transformed.body
    with torch.no_grad():
        vit.pos_embed[:, 1:] = vit.pos_embed[:, 1:][:, k1]  # the class token's embedding stays
        w = vit.patch_embed.proj.weight
        w.copy_(w.reshape(w.shape[0], 3, m * m)[..., k2].reshape(w.shape))
        plain_logits, enc_logits = model(x), transformed(enc_x)
        assert torch.allclose(enc_logits, plain_logits, atol=1e-5, rtol=0)
        assert not torch.allclose(model(enc_x), plain_logits, atol=1e-3)  # the check is not vacuous
        helper = nets.permute_vit_embeddings(model, k1, k2).eval()
        assert torch.allclose(helper(enc_x), plain_logits, atol=1e-5, rtol=0)


def test_vit_cpu_initialisation_is_elementwise_iid():
    vit = create_network("vit_cpu", num_classes=NUM_CLASSES).body
    pos = vit.pos_embed.detach()[0, 1:]
    assert 0.018 < float(pos.std()) < 0.022  # trunc_normal(std=0.02) for every token alike
    bound = 1 / (3 * 16) ** 0.5  # kaiming-uniform of the patch embedding, fan-in 3 M^2
    assert vit.patch_embed.proj.weight.detach().abs().max().item() <= bound
