"""Model encryption for ``proposed``: a plain-trained ViT turned into one that reads encrypted images,
and the converse leak: the encrypted model and its plain twin give the key away.

The seed paper (Qi et al., EUSIPCO 2022, Sec. III-B) explains why ViT suits its scheme: with patch size
equal to the block size M, block scrambling (K1) only permutes the tokens, and pixel shuffling inside
the sub-blocks (K2) is a fixed permutation of each patch's pixels, i.e. of the input axis of the linear
patch embedding. Both can be moved into the weights:

- **position embeddings** (the patch tokens' rows, not the class or register tokens'): cipher patch i
  is plain patch ``K1[i]``, so it must receive plain position ``K1[i]``: ``pos'[i] = pos[K1[i]]``;
- **patch embedding** (a conv with kernel = stride = M): cipher pixel q of a patch is plain pixel
  ``src(q)`` (K2 applied in each of the 4 sub-blocks, the 3 channels of a pixel together), so
  ``W'[:, c, q] = W[:, c, src(q)]`` gives every cipher patch the plain patch's embedding.

The transformer blocks see the same token set in another order (self-attention and the MLPs are
permutation-equivariant, the class token does not move), so :func:`transform_model` returns a model
whose logits on encrypted images equal the plain model's on plain images (to float rounding, tested to
1e-5 in float32), with no training.

What it implies: an encrypted model and its plain twin are **one permutation apart**. Whoever holds
both (the cloud serving a transformed model and anyone with the public plain-trained weights of the
same architecture, e.g. a published checkpoint) reads the key off the weights:
:func:`recover_key_from_models` matches position-embedding rows (K1) and patch-embedding weight
columns (K2), by linear assignment on distances, so small perturbations (fine-tuning after the
transformation) do not hide it either.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from scipy.optimize import linear_sum_assignment

from .errors import InputError

__all__ = ["find_vit", "block_pixel_source", "transform_model", "recover_key_from_models"]


def find_vit(model: nn.Module) -> nn.Module:
    """The timm-style ViT inside ``model`` (``model`` itself or its first sub-module with a conv
    ``patch_embed.proj`` and a ``pos_embed``)."""
    for module in model.modules():
        proj = getattr(getattr(module, "patch_embed", None), "proj", None)
        if isinstance(proj, nn.Conv2d) and isinstance(getattr(module, "pos_embed", None), torch.Tensor):
            return module
    raise InputError(
        f"{type(model).__name__} holds no ViT with a convolutional patch embedding and position embeddings "
        "(timm's VisionTransformer); model encryption needs one"
    )


def _geometry(vit: nn.Module) -> tuple[int, int, int]:
    """(patch size M, number of patch tokens N, offset of the first patch row in pos_embed)."""
    proj = vit.patch_embed.proj
    kh, kw = proj.kernel_size
    if kh != kw or tuple(proj.stride) != (kh, kw):
        raise InputError(f"patch embedding must have a square kernel equal to its stride, got kernel {proj.kernel_size}, stride {proj.stride}")
    if kh % 2:
        raise InputError(f"patch size {kh} is odd; the proposed scheme cuts each block into 2 x 2 sub-blocks")
    offset = 0 if getattr(vit, "no_embed_class", False) else int(getattr(vit, "num_prefix_tokens", 1))
    n_patches = vit.pos_embed.shape[1] - offset
    return kh, n_patches, offset


def block_pixel_source(k2: np.ndarray, m: int) -> np.ndarray:
    """(M*M,) map of one block: cipher pixel q (row-major) = plain pixel ``src[q]`` under K2.

    In each of the block's 4 sub-blocks ((M/2) x (M/2), 2 x 2 arrangement), the pixels flattened
    row-major are gathered with K2 (``docs/schemes.md#proposed``, "pixel shuffling"); channels move together.
    """
    h = m // 2
    k2 = np.asarray(k2, dtype=np.int64)
    if k2.shape != (h * h,) or not np.array_equal(np.sort(k2), np.arange(h * h)):
        raise InputError(f"k2 must be a permutation of range({h * h}) for block size {m}, got shape {k2.shape}")
    grid = np.arange(m * m).reshape(2, h, 2, h).transpose(0, 2, 1, 3).reshape(4, h * h)  # (sub-block, pixel)
    shuffled = grid[:, k2]
    return shuffled.reshape(2, 2, h, h).transpose(0, 2, 1, 3).reshape(m * m)


def _material(scheme_or_key_material: Any) -> dict[str, np.ndarray]:
    if isinstance(scheme_or_key_material, dict):
        material = scheme_or_key_material
    else:
        info = getattr(scheme_or_key_material, "info", None)
        if info is None or info.name != "proposed":
            raise InputError("model encryption is defined for the proposed scheme: pass its scheme or key material {k1, k2}")
        material = scheme_or_key_material.key_material()
    if set(material) != {"k1", "k2"}:
        raise InputError(f"proposed key material has arrays k1 and k2, got {sorted(material)}")
    return {k: np.asarray(v, dtype=np.int64) for k, v in material.items()}


@torch.no_grad()
def transform_model(model: nn.Module, scheme_or_key_material: Any) -> nn.Module:
    """A copy of ``model`` (a plain-trained ViT with patch size = block size) that gives the same logits
    on images encrypted with the ``proposed`` key as ``model`` on the plain images.

    ``scheme_or_key_material``: a ``proposed`` scheme or its key material ``{"k1", "k2"}``. The position
    embeddings of the patch tokens are gathered with K1; the patch embedding's input axis with K2
    (see the module docstring). Nothing else changes.
    """
    material = _material(scheme_or_key_material)
    out = copy.deepcopy(model)
    vit = find_vit(out)
    m, n_patches, offset = _geometry(vit)
    k1 = material["k1"]
    if k1.shape != (n_patches,) or not np.array_equal(np.sort(k1), np.arange(n_patches)):
        raise InputError(f"k1 must be a permutation of the model's {n_patches} patches, got shape {k1.shape}")
    src = torch.from_numpy(block_pixel_source(material["k2"], m))
    pos = vit.pos_embed
    index = torch.from_numpy(k1).to(pos.device)
    pos[:, offset:] = pos[:, offset:].index_select(1, index)
    weight = vit.patch_embed.proj.weight  # (D, C, M, M)
    flat = weight.reshape(weight.shape[0], weight.shape[1], m * m)
    weight.copy_(flat.index_select(2, src.to(weight.device)).reshape_as(weight))
    return out


def _match_rows(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """perm with target[i] ~ source[perm[i]] (Euclidean linear assignment)."""
    dist = ((target[:, None, :] - source[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(dist)
    perm = np.empty(target.shape[0], np.int64)
    perm[rows] = cols
    return perm


@torch.no_grad()
def recover_key_from_models(plain_model: nn.Module, encrypted_model: nn.Module) -> dict[str, np.ndarray]:
    """The ``proposed`` key material ``{"k1", "k2"}`` read off a plain model and its encrypted twin.

    K1: each encrypted position-embedding row (patch tokens) is matched to the plain row it came from;
    K2: each encrypted patch-embedding weight column (a pixel's D x 3 weights) is matched to its plain
    column, giving the block pixel map, from which K2 is read in the top-left sub-block. Matching is
    a linear assignment on squared distances, so it tolerates perturbations much smaller than the gaps
    between rows. Raises :class:`~ppbench.errors.InputError` if the pixel map is not a proposed K2
    (the 4 sub-blocks must agree).
    """
    pv, ev = find_vit(plain_model), find_vit(encrypted_model)
    m, n_patches, offset = _geometry(pv)
    if _geometry(ev) != (m, n_patches, offset) or pv.patch_embed.proj.weight.shape != ev.patch_embed.proj.weight.shape:
        raise InputError("the two models differ in architecture; they must be the same ViT")
    pos_p = pv.pos_embed[0, offset:].detach().double().cpu().numpy()
    pos_e = ev.pos_embed[0, offset:].detach().double().cpu().numpy()
    k1 = _match_rows(pos_e, pos_p)
    w_p = pv.patch_embed.proj.weight.detach().double().cpu()
    w_e = ev.patch_embed.proj.weight.detach().double().cpu()
    cols_p = w_p.reshape(w_p.shape[0] * w_p.shape[1], m * m).T.numpy()  # pixel -> its D*C weights
    cols_e = w_e.reshape(w_e.shape[0] * w_e.shape[1], m * m).T.numpy()
    src = _match_rows(cols_e, cols_p)  # cipher pixel q <- plain pixel src[q]
    h = m // 2
    rows, cols = np.divmod(src.reshape(m, m)[:h, :h].ravel(), m)  # top-left sub-block
    if (rows >= h).any() or (cols >= h).any():
        raise InputError("the patch-embedding columns are not a pixel shuffle inside sub-blocks (not a proposed key)")
    k2 = rows * h + cols
    if not np.array_equal(block_pixel_source(k2, m), src):
        raise InputError("the 4 sub-blocks disagree on K2: the encrypted model was not made with one proposed key")
    return {"k1": k1, "k2": k2}
