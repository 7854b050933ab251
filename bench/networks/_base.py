"""Wrappers every network shares: fixed input normalisation, the ``extra_loss`` hook, weight files.

Every model that :func:`ppbench.networks.create_network` returns takes float32 N x C x H x W input with
values in [0, 1] and returns logits (N, num_classes). It is either

- a :class:`Classifier`: ``body(normalize(x))`` with a fixed (non-learned) per-channel mean/std held as
  buffers, or
- an :class:`AdaptedClassifier`: ``classifier(adapter(x))``, where the adapter (LE or ELE adaptation
  network) sees the [0, 1] ciphertext directly (as in Madono's code: ``ToTensor()`` only) and the
  classifier skips its own normalisation (its input is a 16-channel feature map, not an image).

Both expose ``extra_loss() -> Tensor``: a scalar to add to the task loss after a forward pass (the ELE
adapter's regulariser; a zero tensor otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn


class MissingWeightsError(RuntimeError):
    """A network that needs pretrained weights got none (and no explicit ``from_scratch=True``)."""


class WeightsMismatchError(ValueError):
    """A weights file does not fit the network it is loaded into."""


def zero_loss(module: nn.Module) -> torch.Tensor:
    """A scalar zero on the module's device and dtype (float32 if it has no tensors)."""
    for t in module.parameters():
        return t.new_zeros(())
    for t in module.buffers():
        return t.new_zeros((), dtype=torch.float32)
    return torch.zeros(())


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, with mean and std fixed buffers (saved in the state dict)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class Classifier(nn.Module):
    """``body(normalize(x))``; ``normalize`` is the identity when ``mean`` is None."""

    def __init__(
        self,
        body: nn.Module,
        mean: Sequence[float] | None = (0.5, 0.5, 0.5),
        std: Sequence[float] | None = (0.5, 0.5, 0.5),
    ) -> None:
        super().__init__()
        self.normalize: nn.Module = Normalize(mean, std or (1.0,) * len(mean)) if mean is not None else nn.Identity()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.normalize(x))

    def extra_loss(self) -> torch.Tensor:
        return zero_loss(self)


class AdaptedClassifier(nn.Module):
    """``classifier(adapter(x))``: an adaptation network in front of a classifier body.

    ``classifier`` must take ``adapter.out_chans`` input channels and have no input normalisation.
    ``extra_loss()`` is the adapter's (ELE's regulariser of the last forward pass; zero for LE).
    """

    def __init__(self, adapter: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.adapter = adapter
        self.classifier = classifier

    @property
    def body(self) -> nn.Module:
        return self.classifier.body if hasattr(self.classifier, "body") else self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.adapter(x))

    def extra_loss(self) -> torch.Tensor:
        loss = self.adapter.extra_loss() if hasattr(self.adapter, "extra_loss") else zero_loss(self)
        if hasattr(self.classifier, "extra_loss"):
            loss = loss + self.classifier.extra_loss()
        return loss


# ----------------------------------------------------------------------------------------------------
# weight files


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` file or a ``torch.save``'d state dict / checkpoint.

    A checkpoint dict is unwrapped from its ``state_dict``, ``model``, ``net`` or ``model_state`` entry;
    a ``module.`` prefix (DataParallel) is removed. Loaded with ``weights_only=True`` (no pickled code).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj: Any = load_file(str(path), device="cpu")
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - re-raised with the file named
            raise WeightsMismatchError(f"cannot read {path} as a PyTorch state dict: {exc}") from exc
    for key in ("state_dict", "model", "net", "model_state", "model_state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise WeightsMismatchError(f"{path} holds a {type(obj).__name__}, not a state dict")
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise WeightsMismatchError(f"{path} holds no tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def strip_wrapper_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of a whole :class:`Classifier` (``body.*``, ``normalize.*``) -> the body's keys."""
    for prefix in ("classifier.body.", "body."):
        if any(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def check_and_load(
    module: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    source: str,
    what: str,
    ignore_missing: Sequence[str] = (),
) -> None:
    """``module.load_state_dict(state)`` that fails with one readable message listing every problem."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and k not in ignore_missing]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:

        def show(items: list[str]) -> str:
            return ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")

        parts = []
        if missing:
            parts.append(f"missing keys: {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {show(unexpected)}")
        if wrong:
            parts.append(f"shape mismatches: {show(wrong)}")
        raise WeightsMismatchError(f"weights {source} do not fit {what}: " + "; ".join(parts))
    module.load_state_dict(state, strict=False)


def load_body_weights(body: nn.Module, path: str | Path, *, what: str) -> None:
    """Load a state dict file into a network body, strictly (every key, every shape)."""
    state = strip_wrapper_prefix(read_state_dict(path))
    check_and_load(body, state, source=str(path), what=what)


def finish_classifier(
    body: nn.Module,
    variant: str,
    *,
    mean: Sequence[float] = (0.5, 0.5, 0.5),
    std: Sequence[float] = (0.5, 0.5, 0.5),
    input_norm: bool = True,
    pretrained: bool = False,
    weights: str | Path | None = None,
    from_scratch: bool = False,
) -> Classifier:
    """Common tail of the builders of networks without published pretrained weights."""
    del from_scratch  # these networks always start from scratch unless weights=FILE is given
    if pretrained:
        raise MissingWeightsError(
            f"{variant} has no published pretrained weights; pass weights=FILE (--weights FILE) with a "
            f"state dict of this architecture, or leave pretrained off to train from scratch"
        )
    if weights is not None:
        load_body_weights(body, weights, what=variant)
    return Classifier(body, mean if input_norm else None, std if input_norm else None)
