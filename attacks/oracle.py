"""The chosen-plaintext attacker's only tool: an encryption oracle that encrypts images it chose under the
victim's key, counts them, and hands back ciphertexts and nothing else (no key, no scheme, no decryption)."""

from __future__ import annotations

from typing import Callable

import torch

from ppbench.errors import InputError


class EncryptionOracle:
    """``oracle(images)``: uint8 N x 3 x S x S images of the attacker's choosing -> their ciphertexts under the
    victim's key (through the victim's pipeline, e.g. JPEG after encryption where the evaluator applies it).

    ``queries`` counts the images encrypted so far (what a chosen-plaintext attack reports as its cost). The
    encryption function is held in a closure, not as an attribute, and the result is a fresh tensor, so an
    attack cannot reach the key or the scheme through the oracle by accident.
    """

    __slots__ = ("_encrypt", "image_size", "queries")

    def __init__(self, encrypt: Callable[[torch.Tensor], torch.Tensor], image_size: int) -> None:
        def run(images: torch.Tensor) -> torch.Tensor:
            return encrypt(images)

        self._encrypt = run
        self.image_size = int(image_size)
        self.queries = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        size = self.image_size
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
            raise InputError(f"the encryption oracle takes uint8 N x 3 x {size} x {size} images, got {got}")
        if tuple(images.shape[2:]) != (size, size):
            raise InputError(f"the encryption oracle encrypts {size}x{size} images, got {images.shape[2]}x{images.shape[3]}")
        self.queries += int(images.shape[0])
        with torch.no_grad():
            out = self._encrypt(images.detach().clone())
        return out.detach().clone()

    def __repr__(self) -> str:
        return f"EncryptionOracle({self.image_size}x{self.image_size}, queries={self.queries})"


__all__ = ["EncryptionOracle"]
