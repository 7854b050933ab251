"""Network registry: classifiers and the adaptation networks some schemes need.

Every model built by :func:`create_network` takes float32 N x 3 x H x W input in [0, 1], normalises it
internally (fixed per-channel mean/std buffers) and returns logits; ``model.extra_loss()`` is the scalar
to add to the task loss after each forward pass (the ELE adapter's regulariser, zero otherwise).

Families (one file each): ``vit`` (vit_b16, vit_cpu, vit_smoke), ``resnet`` (resnet18, resnet18_cpu),
``pyramidnet`` (pyramidnet_shakedrop, pyramidnet_shakedrop_cpu); adapters ``le`` and ``ele`` in
``adapters``.
"""

from ._base import (
    AdaptedClassifier,
    Classifier,
    MissingWeightsError,
    Normalize,
    WeightsMismatchError,
)
from ._factory import create_network
from ._registry import NETWORKS, NetworkInfo, list_networks, network_info, register_network
from .adapters import ADAPTERS, ELEAdapter, LEAdapter, create_adapter, list_adapters

# import every family so the registry is complete on import
from . import pyramidnet, resnet, vit  # noqa: E402,F401  (isort: skip)
from .vit import permute_vit_embeddings  # noqa: E402

__all__ = [
    "NETWORKS",
    "ADAPTERS",
    "NetworkInfo",
    "register_network",
    "create_network",
    "list_networks",
    "network_info",
    "create_adapter",
    "list_adapters",
    "Classifier",
    "AdaptedClassifier",
    "Normalize",
    "LEAdapter",
    "ELEAdapter",
    "MissingWeightsError",
    "WeightsMismatchError",
    "permute_vit_embeddings",
]
