"""``create_network``: one call that builds any registered classifier, with an adapter in front if asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn as nn

from ..registry import drop_none
from ._base import AdaptedClassifier
from ._registry import get_network_fn, network_info
from .adapters import create_adapter


def create_network(
    name: str,
    *,
    num_classes: int,
    image_size: int | None = None,
    block_size: int | None = None,
    adapter: str | None = None,
    adapter_kwargs: dict[str, Any] | None = None,
    pretrained: bool = False,
    weights: str | Path | None = None,
    from_scratch: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build network ``name`` for ``num_classes`` classes.

    Args:
        name: a registered network (``list_networks()``); an unknown name raises with close matches.
        num_classes: size of the output logits.
        image_size: input height = width; None means the variant's default (``network_info(name)``:
            224 for ``vit_b16``, 32 otherwise).
        block_size: the scheme's block size M: the patch size of ``vit_cpu``/``vit_smoke`` and the
            adapter's block size; ignored by the convolutional networks.
        adapter: None, ``"le"`` or ``"ele"``: put that adaptation network in front; the classifier is
            then built with ``in_chans=16`` and without input normalisation (needs ``block_size``).
        adapter_kwargs: extra arguments of the adapter (e.g. ``perm_weight``, ``tv_weight``, ``out_conv``).
        pretrained: load the variant's published weights from the local cache (only ``vit_b16``).
        weights: a weights file for the classifier body (a state dict, checkpoint or ``.safetensors``).
        from_scratch: allow a random start for a network that otherwise needs weights (``vit_b16``).
        **kwargs: the variant's constructor arguments; None values are dropped (the variant's default
            applies), so a CLI can pass every optional flag through.

    Returns:
        a module taking float32 N x 3 x H x W in [0, 1] and returning logits (N, num_classes), with
        ``extra_loss()`` (a scalar tensor, zero unless the ELE adapter is used).

    Example: ``create_network("resnet18_cpu", num_classes=10)``;
    ``create_network("pyramidnet_shakedrop_cpu", num_classes=10, adapter="ele", block_size=4)``.
    """
    fn = get_network_fn(name)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    image_size = image_size or network_info(name).image_size
    build = dict(num_classes=num_classes, image_size=image_size, block_size=block_size, **drop_none(kwargs))
    build.update(drop_none(dict(pretrained=pretrained or None, weights=weights, from_scratch=from_scratch or None)))
    if adapter is None:
        if adapter_kwargs:
            raise ValueError("adapter_kwargs given without an adapter")
        return fn(**build)
    ad = create_adapter(adapter, block_size=block_size, image_size=image_size, **drop_none(adapter_kwargs or {}))
    classifier = fn(**build, in_chans=ad.out_chans, input_norm=False)
    return AdaptedClassifier(ad, classifier)
