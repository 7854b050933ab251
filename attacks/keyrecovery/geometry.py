"""Where the schemes put their values, read from the scheme classes themselves (no second copy of a layout).

Blocks come from :func:`ppbench.schemes.base.blocks_view`, ``proposed``'s sub-blocks from
:meth:`~ppbench.schemes.proposed.Proposed.split_sub_blocks`, LE's nibble order from
:meth:`~ppbench.schemes.tanaka.LE.nibble_positions`, LE's derived mask from
:meth:`~ppbench.schemes.tanaka.LE.derived_negation` and the square's symmetries from
:meth:`~ppbench.schemes.etc.EtC.dihedral`; the solvers see batches (n, C, H, W) instead of one grid.
"""

from __future__ import annotations

import functools

import numpy as np

from ppbench.schemes.base import blocks_view, unblock
from ppbench.schemes.etc import EtC
from ppbench.schemes.proposed import Proposed
from ppbench.schemes.tanaka import LE


def to_blocks(x: np.ndarray, m: int) -> np.ndarray:
    """(n, C, H, W) -> (n, N, C, M, M): blocks in row-major order, as the schemes number them."""
    n, c, h, w = x.shape
    blocks = blocks_view(x.reshape(n * c, h, w), m)  # (N, n C, M, M)
    return blocks.reshape(blocks.shape[0], n, c, m, m).swapaxes(0, 1)


def from_blocks(b: np.ndarray, h: int, w: int) -> np.ndarray:
    """Inverse of :func:`to_blocks`: (n, N, C, M, M) -> (n, C, H, W)."""
    n, nb, c, m, _ = b.shape
    return unblock(b.swapaxes(0, 1).reshape(nb, n * c, m, m), h, w).reshape(n, c, h, w)


def sub_pixels(blocks: np.ndarray) -> np.ndarray:
    """(..., C, M, M) -> (..., 4, S, C): ``proposed``'s 4 sub-blocks of each block, pixels row-major, channels last."""
    return np.moveaxis(Proposed.split_sub_blocks(blocks), -3, -1)


def from_sub_pixels(s: np.ndarray, m: int) -> np.ndarray:
    """Inverse of :func:`sub_pixels`: (..., 4, S, C) -> (..., C, M, M)."""
    return Proposed.join_sub_blocks(np.moveaxis(s, -1, -3), m)


@functools.lru_cache(maxsize=8)
def _nibble_positions(h: int, w: int, m: int) -> np.ndarray:
    """LE's (N, 2d) flat nibble index of block b's nibble k (the geometry of an LE scheme; its key is unused)."""
    scheme = LE(key_material={"perm": np.arange(6 * m * m)}, image_size=(h, w), block_size=m)
    where = scheme.nibble_positions()
    where.setflags(write=False)
    return where


def block_nibbles(x: np.ndarray, m: int) -> np.ndarray:
    """uint8 (n, C, H, W) -> (n, N, 2d) nibbles of every block in Tanaka's order: (row, column, channel), lows then highs."""
    n, _, h, w = x.shape
    flat = x.reshape(n, -1)
    return np.concatenate([flat & 15, flat >> 4], axis=1)[:, _nibble_positions(h, w, m)]


def le_negated(perm: np.ndarray) -> np.ndarray:
    """LE's polarity of every cipher nibble (True: negated), derived from the key: r[P[k]] xor r[k], r = P > d."""
    return LE.derived_negation(perm)


def apply_dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """Symmetry k of the square on the last two axes (EtC's numbering: k % 4 quarter turns, then a mirror if k >= 4)."""
    return EtC.dihedral(a, k)


def dihedral_grids(h: int) -> list[np.ndarray]:
    """The 8 symmetries of an h x h grid as flat index maps (``cells[t]``: new cell -> old cell)."""
    g = np.arange(h * h).reshape(h, h)
    return [apply_dihedral(g, k).ravel() for k in range(8)]


def grid_adjacent(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (a, b) of horizontally and vertically adjacent cells of an m x m grid."""
    g = np.arange(m * m).reshape(m, m)
    return np.concatenate([g[:, :-1].ravel(), g[:-1, :].ravel()]), np.concatenate([g[:, 1:].ravel(), g[1:, :].ravel()])
