"""The network registry: builder functions by name, and one :class:`NetworkInfo` per variant.

timm's pattern: ``@register_network`` is a bare decorator, the function name is the key and the file the
function lives in is the family. Metadata comes from the family module's ``default_infos`` table (keyed by
variant name), which must be defined above the registered functions; a variant without an entry still
registers, with minimal metadata.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Iterable

import torch.nn as nn

from ..registry import Registry

NetworkFn = Callable[..., nn.Module]

NETWORKS: Registry[NetworkFn] = Registry("network")
_INFOS: dict[str, "NetworkInfo"] = {}


@dataclass(frozen=True)
class NetworkInfo:
    """What a registered network is, where it comes from, and how big it is meant to be."""

    name: str
    family: str
    paper: str = ""
    image_size: int = 32
    """Default input height = width (the variant's own default when ``create_network`` gets none)."""
    cpu_sized: bool = False
    """True for the variants sized to train on a few CPU cores (``*_cpu``, ``*_smoke``)."""
    needs_weights: bool = False
    """True if building needs pretrained weights (``weights=FILE`` or ``pretrained=True``) or an explicit
    ``from_scratch=True``."""
    pretrained_tag: str | None = None
    """The timm ``architecture.tag`` whose weights ``pretrained=True`` looks for in the local cache."""
    origin: str = ""
    notes: str = ""

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)


def register_network(fn: NetworkFn) -> NetworkFn:
    """Register ``fn`` under its ``__name__``; its module name (last part) is the family."""
    name = fn.__name__
    module = sys.modules.get(fn.__module__)
    family = fn.__module__.rsplit(".", 1)[-1]
    table = getattr(module, "default_infos", {}) if module is not None else {}
    info_kwargs = dict(table.get(name, {}))
    NETWORKS.register(name, fn)
    _INFOS[name.lower()] = NetworkInfo(name=name, family=family, **info_kwargs)
    return fn


def list_networks(pattern: str | Iterable[str] = "*", exclude: str | Iterable[str] = ()) -> list[str]:
    """Registered network names matching ``pattern`` (fnmatch wildcards), naturally sorted."""
    return NETWORKS.names(pattern, exclude)


def network_info(name: str) -> NetworkInfo:
    """The :class:`NetworkInfo` of a registered network (unknown names suggest close matches)."""
    NETWORKS.get(name)  # raises UnknownNameError with suggestions
    return _INFOS[name.lower()]


def get_network_fn(name: str) -> NetworkFn:
    return NETWORKS.get(name)
