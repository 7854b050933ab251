"""``plain``: the identity, the baseline of every table (no key, nothing hidden)."""

from __future__ import annotations

from .base import Scheme, SchemeInfo, register_scheme


@register_scheme
class Plain(Scheme):
    info = SchemeInfo(
        name="plain",
        family="plain",
        title="No encryption",
        paper="(baseline)",
        version=1,
        key_space="1 (no key)",
        block_wise=False,
        default_image_size=32,
        default_block_size=None,
    )
    any_size = True  # the identity has no key bound to an image size

    def _apply(self, x, inverse):
        self.check_input(x, "ciphertexts" if inverse else "images")
        return x.clone()
