"""Naive reference implementations of every ppbench scheme, one image at a time.

These are an *independent* reading of the scheme definitions (``docs/schemes.md``: the scheme sections and
the "Key material" table), written without looking at ``schemes/`` so that tests comparing the two can
catch mistakes in either. They are deliberately slow and literal, in the style of the original papers'
code: plain Python loops over blocks (and over images in :func:`encrypt_batch`), numpy operations inside
a block.

Conventions (``docs/schemes.md#conventions``):

* an image is a uint8 numpy array H x W x 3 (HWC, one image);
* it is cut into M x M blocks numbered row-major: block ``i`` sits at grid row ``i // (W // M)`` and
  grid column ``i % (W // M)``; inside a block, pixels are numbered row-major;
* "gather with K" means ``output[i] = input[K[i]]``; its inverse is the scatter
  ``output[K[i]] = input[i]`` (equivalently, gather with ``argsort(K)``).

Every scheme has ``<name>_encrypt`` / ``<name>_decrypt`` taking the key material arrays under the names
of that table. :data:`REFERENCE` maps scheme name -> ``(encrypt, decrypt)`` with the uniform
signature ``f(img, material: dict, block_size)``; :func:`encrypt_batch` / :func:`decrypt_batch` loop over
the images of an N x H x W x 3 batch (this is the "naive per-image NumPy implementation" that the
throughput benchmark compares against). :func:`random_material` draws key material in that
format with numpy only (handy for tests that do not go through ppbench's key generation).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = [
    "split_blocks",
    "merge_blocks",
    "proposed_encrypt",
    "proposed_decrypt",
    "le_encrypt",
    "le_decrypt",
    "ele_encrypt",
    "ele_decrypt",
    "pe_encrypt",
    "pe_decrypt",
    "pe_np_encrypt",
    "pe_np_decrypt",
    "etc_encrypt",
    "etc_decrypt",
    "plain_encrypt",
    "plain_decrypt",
    "REFERENCE",
    "encrypt_batch",
    "decrypt_batch",
    "random_material",
]


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _check_image(img: np.ndarray, block_size: int | None = None) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 image, got {img.dtype} {img.shape}")
    if block_size is not None:
        h, w, _ = img.shape
        if h % block_size or w % block_size:
            raise ValueError(f"image {h}x{w} is not divisible by block size {block_size}")
    return img


def split_blocks(img: np.ndarray, M: int) -> list[np.ndarray]:
    """Cut an H x W x 3 image into its M x M x 3 blocks, listed row-major (copies)."""
    h, w, _ = img.shape
    blocks = []
    for gr in range(h // M):
        for gc in range(w // M):
            blocks.append(img[gr * M:(gr + 1) * M, gc * M:(gc + 1) * M, :].copy())
    return blocks


def merge_blocks(blocks: list[np.ndarray], h: int, w: int, M: int) -> np.ndarray:
    """Inverse of :func:`split_blocks`: block ``i`` goes to grid row ``i // (w/M)``, column ``i % (w/M)``."""
    out = np.empty((h, w, 3), dtype=np.uint8)
    cols = w // M
    for i, block in enumerate(blocks):
        gr, gc = i // cols, i % cols
        out[gr * M:(gr + 1) * M, gc * M:(gc + 1) * M, :] = block
    return out


def _gather_list(items: list, K: np.ndarray) -> list:
    """output[i] = input[K[i]]."""
    return [items[int(K[i])] for i in range(len(K))]


def _scatter_list(items: list, K: np.ndarray) -> list:
    """Inverse of :func:`_gather_list`: output[K[i]] = input[i]."""
    out: list = [None] * len(K)
    for i in range(len(K)):
        out[int(K[i])] = items[i]
    return out


# --------------------------------------------------------------------------------------------------
# proposed (Qi et al., EUSIPCO 2022): block scrambling + pixel shuffling inside each of 4 sub-blocks
# --------------------------------------------------------------------------------------------------


def _proposed_shuffle_block(block: np.ndarray, k2: np.ndarray, inverse: bool) -> np.ndarray:
    M = block.shape[0]
    half = M // 2
    out = block.copy()
    for sr in range(2):  # the 4 sub-blocks, 2 x 2 arrangement, row-major
        for sc in range(2):
            sub = block[sr * half:(sr + 1) * half, sc * half:(sc + 1) * half, :]
            flat = sub.reshape(half * half, 3)  # pixel k = row-major position, channels kept together
            if not inverse:
                new = flat[k2]  # output pixel k = input pixel k2[k]
            else:
                new = np.empty_like(flat)
                new[k2] = flat  # output pixel k2[k] = input pixel k
            out[sr * half:(sr + 1) * half, sc * half:(sc + 1) * half, :] = new.reshape(half, half, 3)
    return out


def proposed_encrypt(img: np.ndarray, k1: np.ndarray, k2: np.ndarray, M: int) -> np.ndarray:
    img = _check_image(img, M)
    if M % 2:
        raise ValueError("proposed needs an even block size")
    h, w, _ = img.shape
    blocks = split_blocks(img, M)
    blocks = _gather_list(blocks, np.asarray(k1))  # 1. block scrambling: output block i = block k1[i]
    blocks = [_proposed_shuffle_block(b, np.asarray(k2), inverse=False) for b in blocks]  # 2.
    return merge_blocks(blocks, h, w, M)


def proposed_decrypt(img: np.ndarray, k1: np.ndarray, k2: np.ndarray, M: int) -> np.ndarray:
    img = _check_image(img, M)
    h, w, _ = img.shape
    blocks = split_blocks(img, M)
    blocks = [_proposed_shuffle_block(b, np.asarray(k2), inverse=True) for b in blocks]  # inverse K2
    blocks = _scatter_list(blocks, np.asarray(k1))  # inverse K1
    return merge_blocks(blocks, h, w, M)


# --------------------------------------------------------------------------------------------------
# le (Tanaka, ICCE-TW 2018): nibble split, masked negation, gather, masked negation, recombine
# --------------------------------------------------------------------------------------------------


def _le_block(block: np.ndarray, order: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One LE block step: ``order`` is the permutation to gather with, ``mask`` the negation mask."""
    M = block.shape[0]
    d = 3 * M * M
    x = block.reshape(d).astype(np.int64)  # (row, column, channel), channel fastest
    v = np.concatenate([x & 15, x >> 4])  # v[j] = low nibble, v[d + j] = high nibble
    v = np.where(mask, 15 - v, v)  # negate where r[k]
    wv = v[order]  # gather: w[k] = v[order[k]]
    wv = np.where(mask, 15 - wv, wv)  # negate again where r[k]
    y = 16 * wv[d:] + wv[:d]
    return y.astype(np.uint8).reshape(M, M, 3)


def _le_key(perm: np.ndarray, M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    perm = np.asarray(perm).astype(np.int64)
    d = 3 * M * M
    if perm.shape != (2 * d,) or not np.array_equal(np.sort(perm), np.arange(2 * d)):
        raise ValueError(f"LE key must be a permutation of {2 * d} (block size {M})")
    mask = perm > d  # Tanaka's "greater than d": d - 1 flagged positions
    inverse = np.argsort(perm)
    return perm, inverse, mask


def le_encrypt(img: np.ndarray, perm: np.ndarray, M: int) -> np.ndarray:
    img = _check_image(img, M)
    h, w, _ = img.shape
    perm, _, mask = _le_key(perm, M)
    blocks = [_le_block(b, perm, mask) for b in split_blocks(img, M)]  # blocks stay in place
    return merge_blocks(blocks, h, w, M)


def le_decrypt(img: np.ndarray, perm: np.ndarray, M: int) -> np.ndarray:
    img = _check_image(img, M)
    h, w, _ = img.shape
    _, inverse, mask = _le_key(perm, M)
    blocks = [_le_block(b, inverse, mask) for b in split_blocks(img, M)]  # inverse perm, same mask
    return merge_blocks(blocks, h, w, M)


# --------------------------------------------------------------------------------------------------
# ele (Madono et al., 2020): LE with a key per original block position, then block scrambling
# --------------------------------------------------------------------------------------------------


def ele_encrypt(img: np.ndarray, perms: np.ndarray, block_perm: np.ndarray, M: int) -> np.ndarray:
    img = _check_image(img, M)
    h, w, _ = img.shape
    blocks = split_blocks(img, M)
    perms = np.asarray(perms)
    if perms.shape[0] != len(blocks) or len(block_perm) != len(blocks):
        raise ValueError("ele key does not match the number of blocks")
    out = []
    for p, block in enumerate(blocks):  # 1. LE with the key of original position p
        perm_p, _, mask_p = _le_key(perms[p], M)
        out.append(_le_block(block, perm_p, mask_p))
    out = _gather_list(out, np.asarray(block_perm))  # 2. output block i = block block_perm[i]
    return merge_blocks(out, h, w, M)


def ele_decrypt(img: np.ndarray, perms: np.ndarray, block_perm: np.ndarray, M: int) -> np.ndarray:
    img = _check_image(img, M)
    h, w, _ = img.shape
    blocks = split_blocks(img, M)
    blocks = _scatter_list(blocks, np.asarray(block_perm))  # inverse scrambling
    perms = np.asarray(perms)
    out = []
    for p, block in enumerate(blocks):  # then each original position's inverse LE
        _, inverse_p, mask_p = _le_key(perms[p], M)
        out.append(_le_block(block, inverse_p, mask_p))
    return merge_blocks(out, h, w, M)


# --------------------------------------------------------------------------------------------------
# pe / pe_np (Sirichotedumrong, Kinoshita, Kiya, 2019): pixel-wise negation (+ channel shuffling)
# --------------------------------------------------------------------------------------------------


def pe_np_encrypt(img: np.ndarray, negate: np.ndarray) -> np.ndarray:
    img = _check_image(img)
    negate = np.asarray(negate, dtype=bool)
    if negate.shape != img.shape:
        raise ValueError("negate must have the image's shape")
    return np.where(negate, 255 - img, img).astype(np.uint8)  # q -> 255 - q where the key bit is 1


def pe_np_decrypt(img: np.ndarray, negate: np.ndarray) -> np.ndarray:
    return pe_np_encrypt(img, negate)  # the negation is its own inverse


def pe_encrypt(img: np.ndarray, negate: np.ndarray, channel_perm: np.ndarray) -> np.ndarray:
    y = pe_np_encrypt(img, negate)  # 1. negative-positive
    channel_perm = np.asarray(channel_perm).astype(np.int64)
    # 2. output channel c of pixel (h, w) = channel channel_perm[h, w, c]
    return np.take_along_axis(y, channel_perm, axis=2)


def pe_decrypt(img: np.ndarray, negate: np.ndarray, channel_perm: np.ndarray) -> np.ndarray:
    img = _check_image(img)
    channel_perm = np.asarray(channel_perm).astype(np.int64)
    y = np.empty_like(img)
    np.put_along_axis(y, channel_perm, img, axis=2)  # undo: y[h, w, channel_perm[h, w, c]] = img[h, w, c]
    return pe_np_encrypt(y, negate)  # then undo the negation


# --------------------------------------------------------------------------------------------------
# etc (block-scrambling EtC): per block rotation/flip, negation, channel permutation; then scrambling
# --------------------------------------------------------------------------------------------------


def _etc_block_forward(block: np.ndarray, dihedral: int, negate: bool, channel_perm: np.ndarray) -> np.ndarray:
    b = np.rot90(block, k=dihedral % 4, axes=(0, 1))  # counter-clockwise by 90 * (dihedral % 4)
    if dihedral >= 4:
        b = b[:, ::-1, :]  # mirror left-right
    if negate:
        b = 255 - b
    b = b[:, :, channel_perm]  # output channel c = channel channel_perm[c]
    return np.ascontiguousarray(b, dtype=np.uint8)


def _etc_block_inverse(block: np.ndarray, dihedral: int, negate: bool, channel_perm: np.ndarray) -> np.ndarray:
    b = np.empty_like(block)
    b[:, :, channel_perm] = block  # undo the channel permutation
    if negate:
        b = 255 - b
    if dihedral >= 4:
        b = b[:, ::-1, :]  # undo the mirror
    b = np.rot90(b, k=-(dihedral % 4), axes=(0, 1))  # undo the rotation
    return np.ascontiguousarray(b, dtype=np.uint8)


def etc_encrypt(img: np.ndarray, block_perm: np.ndarray, dihedral: np.ndarray, negate: np.ndarray,
                channel_perm: np.ndarray, M: int) -> np.ndarray:
    img = _check_image(img, M)
    h, w, _ = img.shape
    blocks = split_blocks(img, M)
    if not (len(block_perm) == len(dihedral) == len(negate) == len(channel_perm) == len(blocks)):
        raise ValueError("etc key does not match the number of blocks")
    out = []
    for p, block in enumerate(blocks):  # the key's choices for original position p
        out.append(_etc_block_forward(block, int(dihedral[p]), bool(negate[p]), np.asarray(channel_perm[p])))
    out = _gather_list(out, np.asarray(block_perm))  # finally output block i = block block_perm[i]
    return merge_blocks(out, h, w, M)


def etc_decrypt(img: np.ndarray, block_perm: np.ndarray, dihedral: np.ndarray, negate: np.ndarray,
                channel_perm: np.ndarray, M: int) -> np.ndarray:
    img = _check_image(img, M)
    h, w, _ = img.shape
    blocks = split_blocks(img, M)
    blocks = _scatter_list(blocks, np.asarray(block_perm))  # undo the scrambling first
    out = []
    for p, block in enumerate(blocks):
        out.append(_etc_block_inverse(block, int(dihedral[p]), bool(negate[p]), np.asarray(channel_perm[p])))
    return merge_blocks(out, h, w, M)


# --------------------------------------------------------------------------------------------------
# plain
# --------------------------------------------------------------------------------------------------


def plain_encrypt(img: np.ndarray) -> np.ndarray:
    return _check_image(img).copy()


def plain_decrypt(img: np.ndarray) -> np.ndarray:
    return _check_image(img).copy()


# --------------------------------------------------------------------------------------------------
# uniform interface and batch loops
# --------------------------------------------------------------------------------------------------

Fn = Callable[[np.ndarray, dict, "int | None"], np.ndarray]

REFERENCE: dict[str, tuple[Fn, Fn]] = {
    "proposed": (
        lambda img, m, M: proposed_encrypt(img, m["k1"], m["k2"], M),
        lambda img, m, M: proposed_decrypt(img, m["k1"], m["k2"], M),
    ),
    "le": (
        lambda img, m, M: le_encrypt(img, m["perm"], M),
        lambda img, m, M: le_decrypt(img, m["perm"], M),
    ),
    "ele": (
        lambda img, m, M: ele_encrypt(img, m["perms"], m["block_perm"], M),
        lambda img, m, M: ele_decrypt(img, m["perms"], m["block_perm"], M),
    ),
    "pe": (
        lambda img, m, M: pe_encrypt(img, m["negate"], m["channel_perm"]),
        lambda img, m, M: pe_decrypt(img, m["negate"], m["channel_perm"]),
    ),
    "pe_np": (
        lambda img, m, M: pe_np_encrypt(img, m["negate"]),
        lambda img, m, M: pe_np_decrypt(img, m["negate"]),
    ),
    "etc": (
        lambda img, m, M: etc_encrypt(img, m["block_perm"], m["dihedral"], m["negate"], m["channel_perm"], M),
        lambda img, m, M: etc_decrypt(img, m["block_perm"], m["dihedral"], m["negate"], m["channel_perm"], M),
    ),
    "plain": (
        lambda img, m, M: plain_encrypt(img),
        lambda img, m, M: plain_decrypt(img),
    ),
}


def _batch(name: str, images_nhwc: np.ndarray, material: dict, block_size: int | None, which: int) -> np.ndarray:
    images_nhwc = np.asarray(images_nhwc)
    if images_nhwc.ndim != 4 or images_nhwc.shape[3] != 3:
        raise ValueError(f"expected N x H x W x 3 images, got {images_nhwc.shape}")
    fn = REFERENCE[name][which]
    out = np.empty_like(images_nhwc)
    for n in range(images_nhwc.shape[0]):  # one image at a time
        out[n] = fn(images_nhwc[n], material, block_size)
    return out


def encrypt_batch(name: str, images_nhwc: np.ndarray, material: dict, block_size: int | None) -> np.ndarray:
    """Encrypt an N x H x W x 3 uint8 batch image by image with the reference of scheme ``name``."""
    return _batch(name, images_nhwc, material, block_size, 0)


def decrypt_batch(name: str, images_nhwc: np.ndarray, material: dict, block_size: int | None) -> np.ndarray:
    """Decrypt an N x H x W x 3 uint8 batch image by image with the reference of scheme ``name``."""
    return _batch(name, images_nhwc, material, block_size, 1)


def random_material(name: str, height: int, width: int, block_size: int | None,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Key material in the format of docs/schemes.md, drawn with numpy (independent of ppbench's key generation)."""
    M = block_size
    if name == "plain":
        return {}
    if name == "pe_np":
        return {"negate": rng.integers(0, 2, (height, width, 3)).astype(bool)}
    if name == "pe":
        channel_perm = np.stack([rng.permutation(3) for _ in range(height * width)]).reshape(height, width, 3)
        return {"negate": rng.integers(0, 2, (height, width, 3)).astype(bool), "channel_perm": channel_perm}
    if M is None:
        raise ValueError(f"{name} needs a block size")
    n_blocks = (height // M) * (width // M)
    d = 3 * M * M
    if name == "proposed":
        return {"k1": rng.permutation(n_blocks), "k2": rng.permutation((M // 2) ** 2)}
    if name == "le":
        return {"perm": rng.permutation(2 * d)}
    if name == "ele":
        return {"perms": np.stack([rng.permutation(2 * d) for _ in range(n_blocks)]),
                "block_perm": rng.permutation(n_blocks)}
    if name == "etc":
        return {"block_perm": rng.permutation(n_blocks), "dihedral": rng.integers(0, 8, n_blocks),
                "negate": rng.integers(0, 2, n_blocks).astype(bool),
                "channel_perm": np.stack([rng.permutation(3) for _ in range(n_blocks)])}
    raise KeyError(f"no reference for scheme {name!r}")
