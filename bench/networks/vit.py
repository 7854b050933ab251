"""Vision Transformer (Dosovitskiy et al., "An image is worth 16x16 words", ICLR 2021), via timm.

The seed paper (Qi et al., EUSIPCO 2022) fine-tunes ViT-B/16 pretrained on ImageNet-21k at 224 x 224
and encrypts with block size M = patch size = 16. Its argument: with patch size = block size, block
scrambling permutes the tokens (absorbed by permuting the position embeddings) and pixel shuffling inside
a block permutes the input axis of the patch embedding (absorbed by permuting its weights), so a ViT
transformed this way gives identical logits on encrypted images (:func:`permute_vit_embeddings`).

Variants:

- ``vit_b16``: timm's ``vit_base_patch16_224`` (12 layers, dim 768, 12 heads, patch 16, class token,
  86 M parameters), image size 224 by default (others via timm's ``img_size``; the position embeddings
  of pretrained weights are resampled). Weights, in this order: ``weights=FILE`` (a timm/PyTorch state
  dict or checkpoint, a ``.safetensors`` file, or the original Google ``ViT-B_16.npz``); else
  ``pretrained=True`` looks for timm's ``vit_base_patch16_224.<tag>`` (default tag ``augreg_in21k``;
  ``orig_in21k`` are the original ViT-B_16 ImageNet-21k weights the PyTorch ViT code the paper names
  uses) in the local Hugging Face / torch hub caches only, never downloading; else ``from_scratch=True``
  gives timm's random initialisation. With none of them it raises :class:`MissingWeightsError`: the
  paper's numbers need pretrained weights, and a silent random start would not be the paper's setting.
  A classifier head of another size is re-initialised to zeros (``zero_head=True``, as the PyTorch ViT
  code the paper names fine-tunes).
  Normalisation: the mean/std of the tag's pretrained config (0.5/0.5 for the in21k tags).
- ``vit_cpu``: a small timm ``VisionTransformer`` for 32 x 32 training from scratch on CPUs: patch size =
  ``block_size`` (default 4, so 8 x 8 = 64 tokens), dim 128, depth 4, 4 heads, MLP ratio 2, class token
  with token pooling, learned position embeddings, no dropout.
- ``vit_smoke``: as ``vit_cpu`` with dim 32, depth 1, 2 heads, for tests.

Initialisation of ``vit_cpu`` / ``vit_smoke`` is permutation-invariant in distribution, which the
runner's test of the paper's claim relies on (a model trained on scrambled images starts from the same
distribution as one trained on plain images). timm (1.0) initialises ``pos_embed`` with
``trunc_normal_(std=0.02)`` element-wise i.i.d. (every token's embedding from the same distribution),
``cls_token`` with N(0, 1e-6), every ``nn.Linear`` with trunc_normal(0.02), and leaves the patch
embedding's ``Conv2d`` at PyTorch's default (kaiming-uniform: i.i.d. U(-b, b) per weight element and
per bias element, b = 1 / sqrt(3 M^2)). To not depend on timm's internals, :func:`_init_permutation_invariant`
re-applies exactly these rules to the position embedding, class token and patch embedding after building.
Token permutations permute ``pos_embed`` rows and pixel permutations permute the patch-embedding weight's
input elements; both leave an i.i.d. tensor's distribution unchanged.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from timm.layers import trunc_normal_

from ._base import Classifier, MissingWeightsError, check_and_load, read_state_dict, strip_wrapper_prefix
from ._registry import register_network

_logger = logging.getLogger(__name__)

__all__ = ["permute_vit_embeddings", "find_cached_weights"]

DEFAULT_B16_TAG = "augreg_in21k"


def _init_permutation_invariant(vit: nn.Module) -> None:
    """Re-initialise the embeddings with element-wise i.i.d. rules (timm's, stated explicitly)."""
    with torch.no_grad():
        if getattr(vit, "pos_embed", None) is not None:
            trunc_normal_(vit.pos_embed, std=0.02)
        if getattr(vit, "cls_token", None) is not None:
            nn.init.normal_(vit.cls_token, std=1e-6)
        vit.patch_embed.proj.reset_parameters()  # PyTorch default: i.i.d. kaiming-uniform


def permute_vit_embeddings(model: nn.Module, block_perm: Any, pixel_perm: Any) -> nn.Module:
    """A copy of a ViT whose logits on encrypted images equal ``model``'s on plain images.

    Encryption convention ("gather"): encrypted token i is plain block ``block_perm[i]``, and inside
    every patch (pixels numbered row-major, the channels of a pixel moving together) encrypted pixel k is
    plain pixel ``pixel_perm[k]``. Needs patch size = block size and a class token (or any pooling that
    is invariant to the token order). ``model`` may be a :class:`Classifier` or a bare timm ViT.
    """
    new = copy.deepcopy(model)
    vit = new.body if isinstance(new, Classifier) else new
    block_perm = torch.as_tensor(block_perm, dtype=torch.long)
    pixel_perm = torch.as_tensor(pixel_perm, dtype=torch.long)
    prefix = 0 if getattr(vit, "no_embed_class", False) else vit.num_prefix_tokens
    with torch.no_grad():
        pos = vit.pos_embed
        pos[:, prefix:] = pos[:, prefix:][:, block_perm.to(pos.device)]
        w = vit.patch_embed.proj.weight  # (D, C, M, M)
        d, c, m, _ = w.shape
        w.copy_(w.reshape(d, c, m * m)[:, :, pixel_perm.to(w.device)].reshape(d, c, m, m))
    return new


# ----------------------------------------------------------------------------------------------------
# pretrained weights


def find_cached_weights(pretrained_cfg: dict[str, Any]) -> Path | None:
    """A file holding the weights of a timm pretrained config, from the local caches only.

    Looks in the Hugging Face hub cache (``hf_hub_id``: ``model.safetensors``, ``pytorch_model.bin``) and
    in torch hub's checkpoint folder (the file name of ``url``, e.g. the original ``.npz``). Never
    touches the network.
    """
    hub_id = pretrained_cfg.get("hf_hub_id")
    if hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - huggingface_hub is a timm dependency
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            for filename in ("model.safetensors", "pytorch_model.bin"):
                found = try_to_load_from_cache(repo_id=hub_id, filename=filename)
                if isinstance(found, (str, os.PathLike)) and Path(found).is_file():
                    return Path(found)
    url = pretrained_cfg.get("url")
    if url:
        local = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
        if local.is_file():
            return local
    return None


def _load_vit_weights(vit: nn.Module, path: str | Path, *, what: str) -> None:
    """Load ViT weights from a file; resample position / patch embeddings, re-initialise a new head."""
    from timm.models import adapt_input_conv
    from timm.models.vision_transformer import checkpoint_filter_fn

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".npz":  # original big_vision / ViT JAX checkpoint: timm's own loader
        with torch.no_grad():  # a head of another size is not copied by timm: keep it at zero
            nn.init.zeros_(vit.head.weight)
            nn.init.zeros_(vit.head.bias)
        try:
            vit.load_pretrained(str(path))
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"cannot load {path} into {what}: {exc}") from exc
        return
    state = strip_wrapper_prefix(read_state_dict(path))
    state = checkpoint_filter_fn(state, vit)  # resamples pos_embed / patch_embed to this model
    key = "patch_embed.proj.weight"
    if key in state and state[key].shape[1] != vit.patch_embed.proj.weight.shape[1]:
        state[key] = adapt_input_conv(vit.patch_embed.proj.weight.shape[1], state[key])
    own = vit.state_dict()
    reset = []
    for k in ("head.weight", "head.bias"):
        if k in state and k in own and state[k].shape != own[k].shape:
            del state[k]
            reset.append(k)
    if reset:
        _logger.info("%s: classifier head re-initialised (%s has another number of classes)", what, path)
        with torch.no_grad():  # zero_head, as in the fine-tuning code the paper names
            nn.init.zeros_(vit.head.weight)
            nn.init.zeros_(vit.head.bias)
    check_and_load(vit, state, source=str(path), what=what, ignore_missing=reset)


def _missing_weights_message(variant: str, cfg: dict[str, Any]) -> str:
    return (
        f"{variant} needs pretrained weights (the paper fine-tunes ImageNet-21k ViT-B/16) or an explicit "
        f"--from-scratch. Either pass --weights FILE (weights=FILE: a timm/PyTorch state dict, a "
        f".safetensors file, or the original ViT-B_16.npz), or put timm's weights "
        f"'{cfg.get('architecture')}.{cfg.get('tag')}' in the local cache (Hugging Face hub id "
        f"{cfg.get('hf_hub_id')!r}, or {os.path.basename(str(cfg.get('url', '')))} under "
        f"{Path(torch.hub.get_dir()) / 'checkpoints'}) and use --pretrained (pretrained=True); nothing is "
        f"downloaded. Or pass --from-scratch (from_scratch=True) to train from a random initialisation "
        f"(not the paper's setting)."
    )


# ----------------------------------------------------------------------------------------------------
# builders


def _create_vit(
    variant: str,
    *,
    num_classes: int,
    image_size: int,
    block_size: int | None = None,
    patch_size: int | None = None,
    in_chans: int = 3,
    input_norm: bool = True,
    pretrained: bool = False,
    weights: str | Path | None = None,
    from_scratch: bool = False,
    pretrained_tag: str | None = None,
    timm_name: str | None = None,
    **model_args: Any,
) -> Classifier:
    import timm

    if timm_name is not None:  # a timm architecture with published weights (vit_b16)
        tag = pretrained_tag or DEFAULT_B16_TAG
        arch_patch = int(timm_name.split("patch")[1].split("_")[0])
        patch_size = patch_size or arch_patch
        if patch_size != arch_patch:
            raise ValueError(f"{variant} has patch size {arch_patch}; got patch_size={patch_size}")
        if block_size is not None and block_size != patch_size and in_chans == 3:
            _logger.warning(
                "%s: block size %d differs from the patch size %d; the paper's token / pixel permutation "
                "argument needs them equal", variant, block_size, patch_size)
        if image_size % patch_size:
            raise ValueError(f"{variant}: image_size {image_size} is not a multiple of the patch size {patch_size}")
        if sum(bool(x) for x in (weights is not None, pretrained, from_scratch)) > 1:
            raise ValueError(f"{variant}: give only one of weights=FILE, pretrained=True, from_scratch=True")
        vit = timm.create_model(
            f"{timm_name}.{tag}", pretrained=False, num_classes=num_classes, img_size=image_size,
            in_chans=in_chans, **model_args,
        )
        cfg = dict(vit.pretrained_cfg)
        if weights is not None:
            _load_vit_weights(vit, weights, what=variant)
        elif pretrained:
            found = find_cached_weights(cfg)
            if found is None:
                raise MissingWeightsError(
                    f"pretrained weights for {variant} are not in the local cache. " + _missing_weights_message(variant, cfg)
                )
            _load_vit_weights(vit, found, what=variant)
        elif not from_scratch:
            raise MissingWeightsError(_missing_weights_message(variant, cfg))
        mean, std = cfg.get("mean", (0.5, 0.5, 0.5)), cfg.get("std", (0.5, 0.5, 0.5))
    else:  # a small from-scratch ViT (vit_cpu, vit_smoke)
        from timm.models.vision_transformer import VisionTransformer

        if pretrained:
            raise MissingWeightsError(
                f"{variant} has no published pretrained weights; pass weights=FILE (--weights FILE) "
                f"or train it from scratch"
            )
        patch_size = patch_size or block_size or 4
        if image_size % patch_size:
            raise ValueError(f"{variant}: image_size {image_size} is not a multiple of the patch size {patch_size}")
        vit = VisionTransformer(
            img_size=image_size, patch_size=patch_size, in_chans=in_chans, num_classes=num_classes,
            class_token=True, global_pool="token", pos_embed="learn", **model_args,
        )
        _init_permutation_invariant(vit)
        if weights is not None:
            _load_vit_weights(vit, weights, what=variant)
        mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    return Classifier(vit, mean if input_norm else None, std if input_norm else None)


_PAPER = "Dosovitskiy et al., An image is worth 16x16 words: Transformers for image recognition at scale, ICLR 2021"

default_infos = {
    "vit_b16": dict(
        paper=_PAPER,
        image_size=224,
        needs_weights=True,
        pretrained_tag=f"vit_base_patch16_224.{DEFAULT_B16_TAG}",
        origin="https://github.com/huggingface/pytorch-image-models",
        notes="timm vit_base_patch16_224; ImageNet-21k weights via weights=FILE or the local cache "
              "(pretrained=True), else from_scratch=True; the seed paper's ViT-B_16",
    ),
    "vit_cpu": dict(
        paper=_PAPER,
        image_size=32,
        cpu_sized=True,
        notes="timm VisionTransformer, patch = block_size (default 4), dim 128, depth 4, 4 heads, mlp 2, "
              "class token, learned position embeddings; permutation-invariant initialisation",
    ),
    "vit_smoke": dict(
        paper=_PAPER,
        image_size=32,
        cpu_sized=True,
        notes="tiny ViT for tests: patch = block_size (default 4), dim 32, depth 1, 2 heads, mlp 2",
    ),
}


@register_network
def vit_b16(**kwargs: Any) -> nn.Module:
    """ViT-B/16 (timm ``vit_base_patch16_224``), ImageNet-21k weights required unless from_scratch."""
    model_args = dict(timm_name="vit_base_patch16_224")
    return _create_vit("vit_b16", **dict(model_args, **kwargs))


@register_network
def vit_cpu(**kwargs: Any) -> nn.Module:
    """Small ViT for 32 x 32 from-scratch CPU training; patch size = block size."""
    model_args = dict(embed_dim=128, depth=4, num_heads=4, mlp_ratio=2.0)
    return _create_vit("vit_cpu", **dict(model_args, **kwargs))


@register_network
def vit_smoke(**kwargs: Any) -> nn.Module:
    """Tiny ViT for tests."""
    model_args = dict(embed_dim=32, depth=1, num_heads=2, mlp_ratio=2.0)
    return _create_vit("vit_smoke", **dict(model_args, **kwargs))
