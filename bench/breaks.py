"""What "broken" means, in one place: the SSIM level at which an attack has restored the images.

A key-recovery attack has broken a scheme once its restorations of unseen ciphertexts reach
``BREAK_FRACTION`` of the mean SSIM the key's owner gets from the same ciphertexts: 0.99 on lossless
ciphertexts (the key holder gets 1.0), less after JPEG, whose damage the key cannot undo either.
Light on purpose (no torch): reports draw the same line.
"""

from __future__ import annotations

__all__ = ["BREAK_FRACTION", "BREAK_SSIM", "break_level"]

BREAK_FRACTION = 0.99
BREAK_SSIM = BREAK_FRACTION * 1.0  # the level on lossless ciphertexts, where the key holder's SSIM is 1


def break_level(key_holder_ssim: float = 1.0) -> float:
    """The SSIM an attack must reach to count as a break, given what the key's owner gets (1.0: lossless)."""
    return BREAK_FRACTION * float(key_holder_ssim)
