"""Re-reading every ELE position's nibbles once its blocks are placed: the whole image predicts them.

Read alone (:mod:`.ele_reading`), a block position's nibbles are placed from its in-block statistics
only: at M = 4 twelve of a block's sixteen pixels lie on its border, so most low-nibble predictions lean
on two or three neighbours, and at M = 16 a few highs of a smooth block can end up swapped. Once the
jigsaw has put every block back, every pixel has its four neighbours, and the other blocks are (nearly
all) already right. Each position's highs, then its lows, are assigned again by linear assignment to the
plain slots whose predicted values they fit best in squared error over the n samples; a whole pass over
the positions is kept only if it makes the decrypted images smoother (:func:`reread_assembled`).

Nothing else is free: which cipher positions hold highs stays as read, and so does the holder of plain
nibble d (the first high). Cipher nibble k holding plain nibble j is negated exactly when r[j] xor r[k],
with r[k] = P[k] > d = [j > d] and r[j] = P[j] > d: with d's holder fixed, r[j] no longer changes when
the other nibbles move, so each nibble's sign depends on its plain slot j alone (moving d's holder would
flip r at two cipher positions, and with them the signs of two slots). A position's new reading is kept
only where it fits strictly better than the old one, so ties (smooth pixels no sample tells apart) never
move a key. A few rounds, until nothing moves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.ndimage import maximum_filter

from ppbench.schemes import create_scheme

from ..matching import improving_assignment
from ..parallel import map_positions

#: Rounds at most (each: every position re-read once with each predictor). At 224 x 224 the neighbour-mean pass moves
#: every image-edge position each round and the fitted one moves them back, both lowering the roughness a little; four
#: rounds stopped that swing wherever it was (18 or 52 edge positions wrong, by which way a near-tie fell), eight let
#: the neighbour-mean pass stop paying and the fitted one settle them (docs/benchmarks.md, fourteenth session).
ROUNDS = 8
#: The fitted predictor's neighbourhood: a (2R+1)^2 window of the pixel's own channel (not the pixel itself), and
#: the pixel and its 4-neighbours in the other two channels.
RADIUS = 2
#: Samples (pixel x image) drawn per fit of one class and channel.
FIT_SAMPLES = 20_000
#: Fewest samples per feature for a class's own fit; with fewer (the corner pixels of a few images) the fit
#: would reproduce its own samples, so those pixels keep the neighbour mean.
MIN_SAMPLES_PER_FEATURE = 10
#: The precision the re-read (and the first-pixel and edge steps after it) decrypts, predicts and prices nibble
#: placements in. Single precision halves the memory its sweeps stream and the time of its (767 x n) x (n x 767)
#: products (a fit at 224 x 224 about a third faster, docs/benchmarks.md, twenty-third session). What decides is summed
#: in double precision: a placement's entries round by up to about 0.02 there, more than the tolerance an assignment
#: must beat the current one by near an optimum (1e-6 of a total of about 100), so a new assignment is accepted on its
#: total summed again from the data (:func:`placement_total`); the bytes' pass prices in double (its entries reach
#: 10^7); the energies and residuals that passes are judged by are summed in double (the edge step's layer
#: assignments choose on single matrices, and it keeps a block only where its residuals, summed in double, fall).
REREAD_DTYPE = np.float32
#: Images per slice when a predictor sweeps the images: a slice's arrays stay in the CPU's cache across the
#: predictor's shifted multiply-adds (measured at 224 x 224: about 4x faster than whole-array passes, same values).
IMAGE_CHUNK = 8
#: Images per piece of work when the fitted predictor sweeps them on threads: the one large class (the pixels away
#: from the image's edges) of each channel split, so that the threads finish together.
SWEEP_IMAGES = 50


def _offsets() -> list[tuple[int, int, int]]:
    """The fitted predictor's features (besides a constant) as (channel shift, dy, dx)."""
    own = [(0, dy, dx) for dy in range(-RADIUS, RADIUS + 1) for dx in range(-RADIUS, RADIUS + 1) if (dy, dx) != (0, 0)]
    cross = [(k, dy, dx) for k in (1, 2) for dy, dx in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))]
    return own + cross


def _border_class(size: int) -> np.ndarray:
    """Per row (or column): 0..R-1 near the start, R inside, R+1..2R near the end (distance to the edge)."""
    i = np.arange(size)
    return np.where(i < RADIUS, i, np.where(i >= size - RADIUS, 2 * RADIUS - (size - 1 - i), RADIUS))


def fitted_prediction(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, H, W, 3) float images -> each pixel's value as its neighbours predict it: a linear predictor
    (:func:`_offsets`) fitted by least squares on the images themselves, one per channel and per distance
    to the image's edges (edge pixels have lopsided neighbourhoods: the upscaling's border replication
    makes them nearly equal to their inner neighbours). Fitted on the current decryption, most of which is
    right: the rare wrong pixels barely move a fit over every image. Reflected at the edges (never the pixel
    itself among its features); classes with too few samples (:data:`MIN_SAMPLES_PER_FEATURE`) keep the
    neighbour mean. The samples are drawn in turn (one random stream: the same samples on any machine); each
    class and channel is then fitted (on one BLAS thread: the same weights on any machine) and swept over the
    images on :func:`~..parallel.map_positions` threads, each into its own part of the output."""
    n, h, w, _ = images.shape
    # one reflected plane per channel: each feature a shifted view of one (no copy of the whole images besides these)
    planes = [np.pad(images[..., c], ((0, 0), (RADIUS, RADIUS), (RADIUS, RADIUS)), mode="reflect") for c in range(3)]
    features = len(_offsets()) + 1
    rc, cc = _border_class(h), _border_class(w)
    rng = np.random.default_rng(seed)
    out = np.empty_like(images)
    drawn: list[tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]] = []  # rows, cols, ch, samples
    for a in np.unique(rc):
        for b in np.unique(cc):
            rr, cs = np.flatnonzero(rc == a), np.flatnonzero(cc == b)
            grid_r, grid_c = (g.ravel() for g in np.meshgrid(rr, cs, indexing="ij"))
            total = n * grid_r.size
            if total < MIN_SAMPLES_PER_FEATURE * features:
                out[:, rr[0]:rr[-1] + 1, cs[0]:cs[-1] + 1] = _neighbour_mean_at(images, rr, cs)
                continue
            for ch in range(3):
                imgs, cell = np.divmod(rng.choice(total, min(total, FIT_SAMPLES), replace=False), grid_r.size)
                drawn.append((rr, cs, ch, imgs, grid_r[cell], grid_c[cell]))

    def fit(item: tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        _, _, ch, imgs, rows, cols = item
        return np.linalg.lstsq(_features(planes, ch, imgs, rows, cols), images[imgs, rows, cols, ch], rcond=None)[0]

    def predict(item: tuple[np.ndarray, np.ndarray, int, np.ndarray, slice]) -> None:
        rr, cs, ch, weights, part = item
        out[part, rr[0]:rr[-1] + 1, cs[0]:cs[-1] + 1, ch] = _apply(planes, ch, rr, cs, weights, part)

    fitted = map_positions(fit, drawn)  # on one BLAS thread each (see parallel.map_positions)
    parts = [slice(s, s + SWEEP_IMAGES) for s in range(0, n, SWEEP_IMAGES)]
    map_positions(predict, [(rr, cs, ch, weights, part) for (rr, cs, ch, *_), weights in zip(drawn, fitted)
                            for part in parts])
    return out


def _neighbour_mean(images: np.ndarray) -> np.ndarray:
    """:func:`neighbour_mean_prediction` on one slice of images, in one pass."""
    pad = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ones = np.pad(np.ones((1,) + images.shape[1:3] + (1,), images.dtype), ((0, 0), (1, 1), (1, 1), (0, 0)))
    near = lambda a: a[:, :-2, 1:-1] + a[:, 2:, 1:-1] + a[:, 1:-1, :-2] + a[:, 1:-1, 2:]  # noqa: E731
    mean = near(pad) / near(ones)
    offset = images - mean  # each channel's departure from its neighbours
    return mean + (offset.sum(axis=-1, keepdims=True) - offset) / 3.0


def neighbour_mean_prediction(images: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) float images -> the mean of each pixel's 4-neighbours in its channel, plus a third of how far
    its other two channels stand from their own neighbours' means (:mod:`.ele_reading`'s predictor over the
    whole image): nothing fitted, so a neighbourhood that is still wrong cannot teach it anything."""
    starts = range(0, len(images), IMAGE_CHUNK) if len(images) else [0]
    return np.concatenate([_neighbour_mean(images[s:s + IMAGE_CHUNK]) for s in starts])


def _neighbour_mean_at(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """:func:`neighbour_mean_prediction` at the rows x cols pixels only (each a run of consecutive indices): worked
    out on those pixels and a one-pixel margin, all that their 4-neighbours reach."""
    h, w = images.shape[1:3]
    r0, c0 = max(rows[0] - 1, 0), max(cols[0] - 1, 0)
    crop = images[:, r0:min(rows[-1] + 2, h), c0:min(cols[-1] + 2, w)]
    return _neighbour_mean(crop)[:, rows[0] - r0:rows[-1] + 1 - r0, cols[0] - c0:cols[-1] + 1 - c0]


def _features(planes: list[np.ndarray], ch: int, imgs: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(k, features) of the fitted predictor for the k pixels (imgs, rows, cols) of channel ``ch``, from the reflected
    (n, H + 2R, W + 2R) planes of the three channels: each feature a fixed offset from the pixel in one plane, so one
    gather per plane (several times faster than a four-index gather per feature)."""
    _, hp, wp = planes[0].shape
    at = (imgs * hp + rows + RADIUS) * wp + cols + RADIUS  # the pixel itself in a flat plane
    offsets = _offsets()
    feats = np.empty((at.size, len(offsets) + 1))
    for source, plane in enumerate(planes):
        columns = [i for i, (k, _, _) in enumerate(offsets) if (ch + k) % 3 == source]
        step = np.array([offsets[i][1] * wp + offsets[i][2] for i in columns])
        feats[:, columns] = np.take(plane.reshape(-1), at[:, None] + step[None, :])
    feats[:, -1] = 1.0
    return feats


def _apply(planes: list[np.ndarray], ch: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
           part: slice = slice(None)) -> np.ndarray:
    """The fitted predictor on the images ``part`` at the rows x cols pixels (each a run of consecutive indices, as
    :func:`_border_class` makes them) of channel ``ch``: (images, rows, cols). ``planes``: the reflected images, one
    contiguous (n, H + 2R, W + 2R) array per channel, so that each feature is a shifted view, not a gather."""
    r0, r1, c0, c1 = rows[0] + RADIUS, rows[-1] + 1 + RADIUS, cols[0] + RADIUS, cols[-1] + 1 + RADIUS
    planes = [plane[part] for plane in planes]  # the images this sweep covers
    n = planes[0].shape[0]
    out = np.empty((n, rows.size, cols.size), planes[0].dtype)
    scratch = np.empty_like(out, shape=(min(n, IMAGE_CHUNK), rows.size, cols.size))  # one feature's term, reused
    weights = weights.astype(planes[0].dtype)  # the images' precision (a float64 weight makes every term float64)
    for s in range(0, n, IMAGE_CHUNK):
        chunk = out[s:s + IMAGE_CHUNK]
        chunk[...] = weights[-1]
        term = scratch[:len(chunk)]
        for wt, (k, dy, dx) in zip(weights[:-1], _offsets()):
            chunk += np.multiply(planes[(ch + k) % 3][s:s + IMAGE_CHUNK, r0 + dy:r1 + dy, c0 + dx:c1 + dx], wt, out=term)
    return out


#: Re-read only the positions whose neighbourhood's keys moved since the predictor last read them (see reread_assembled).
SKIP_UNCHANGED = True
#: The predictors a round tries, in order.
PREDICTORS = (neighbour_mean_prediction, fitted_prediction)
#: Passes in a row a predictor may fail to lower the energy before a call stops trying it. At 224 x 224 the neighbour
#: mean's pass, once the fitted predictor has taken over, is refused round after round (measured on three fresh keys:
#: after two refusals in a row it was never kept again), each time a re-read of about a hundred positions and a refit.
GIVE_UP_AFTER = 2


def reread_assembled(y: np.ndarray, nib: np.ndarray, perms: np.ndarray, block_perm: np.ndarray, m: int,
                     rounds: int | None = None) -> tuple[np.ndarray, int]:
    """ELE key ``perms`` (N, 2d, by original position) with every position's highs and lows re-assigned
    from the assembled images; ``y`` the uint8 (n, 3, H, W) ciphertexts, ``nib`` their (n, N, 2d) cipher
    nibbles, ``block_perm`` the block order found, ``rounds`` at most (default :data:`ROUNDS`). Returns (perms, number
    of positions whose key changed).

    Each round re-reads every position once with each predictor (:data:`PREDICTORS`) and keeps that pass (all
    positions together) only if it makes the decrypted images smoother as a whole: a lower mean squared residual
    of the fitted predictor, refitted on them. Neither predictor wins everywhere (measured, docs/benchmarks.md): the
    neighbour mean mends the last swapped lows of native 32 x 32 images; the fitted one, at 224 x 224, the
    highs of smooth upscaled blocks that the neighbour mean would swap further. A predictor whose pass has been refused
    :data:`GIVE_UP_AFTER` times in a row is not tried again within the call.

    A predictor re-reads only the positions it would read something new at (:func:`_stale`): the key moved, or a pixel
    within its reach decrypts differently, since it last read them; the others keep what it read then. For the
    neighbour mean that is exact (the same pixels and key in, the same key out); the fitted predictor's weights are
    refitted on the whole image after each kept pass, so its unchanged positions see a slightly different prediction,
    which has not changed what they read in any case measured (whole 224 fits on fresh keys gave the same keys bit for
    bit, docs/benchmarks.md; the tests' 32 x 32 case likewise). A fit's late rounds move only the image-edge positions
    to and fro, and mostly the pixels at the image's border, so most positions skip them."""
    original = perms
    decrypt = _decryptor(y, block_perm, m)
    plain = decrypt(perms)
    fitted = fitted_prediction(plain)  # the roughness's refit, and the fitted predictor's reading of ``plain``
    energy = _residual(plain, fitted)
    last: dict[object, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # predictor -> (keys, images it last read, read)
    refused = dict.fromkeys(PREDICTORS, 0)  # predictor -> its passes refused in a row
    for _ in range(ROUNDS if rounds is None else rounds):
        improved = False
        for predictor in PREDICTORS:
            if refused[predictor] >= GIVE_UP_AFTER:
                continue
            predicted = fitted if predictor is fitted_prediction else predictor(plain)
            stale = None
            if SKIP_UNCHANGED and predictor in last:
                read_from, plain_from, read = last[predictor]
                stale = _stale(perms, read_from, plain, plain_from, m, refits=predictor is fitted_prediction)
            candidate = _reread(plain, predicted, nib, perms, block_perm, m, stale)
            if stale is not None:
                candidate[~stale] = read[~stale]
            last[predictor] = (perms, plain, candidate)
            if np.array_equal(candidate, perms):
                continue
            candidate_plain = decrypt(candidate)
            candidate_fitted = fitted_prediction(candidate_plain)
            candidate_energy = _residual(candidate_plain, candidate_fitted)
            if candidate_energy < energy:
                perms, plain, fitted, energy, improved = (candidate, candidate_plain, candidate_fitted,
                                                          candidate_energy, True)
                refused[predictor] = 0
            else:
                refused[predictor] += 1
        if not improved:
            break
    return perms, int((perms != original).any(axis=1).sum())


def _decryptor(y: np.ndarray, block_perm: np.ndarray, m: int):
    """perms -> the (n, H, W, 3) float images ``y`` decrypts to under (perms, ``block_perm``), in :data:`REREAD_DTYPE`
    (read at each call: one setting for the re-read and the steps after it, which all decrypt through here)."""
    n, _, h, w = y.shape
    cipher = torch.from_numpy(np.ascontiguousarray(y))

    def decrypt(perms: np.ndarray) -> np.ndarray:
        scheme = create_scheme("ele", key_material={"perms": perms, "block_perm": block_perm}, image_size=(h, w),
                               block_size=m)
        return scheme.decrypt(cipher).numpy().transpose(0, 2, 3, 1).astype(REREAD_DTYPE)

    return decrypt


def cipher_positions(block_perm: np.ndarray) -> np.ndarray:
    """The inverse block order: original position p sits at cipher position ``out[p]`` (``block_perm`` maps
    cipher positions to original ones)."""
    return np.argsort(block_perm)


def _roughness(plain: np.ndarray) -> float:
    """The mean squared residual of the fitted predictor on ``plain``: lower where the images are more natural."""
    return _residual(plain, fitted_prediction(plain))


def _residual(plain: np.ndarray, fitted: np.ndarray) -> float:
    """:func:`_roughness` of ``plain`` given its fitted prediction ``fitted`` (made once, used twice), summed in float64
    a slice of images at a time (no temporary of the whole images)."""
    total = 0.0
    for s in range(0, len(plain), IMAGE_CHUNK):
        diff = (plain[s:s + IMAGE_CHUNK] - fitted[s:s + IMAGE_CHUNK]).ravel()
        total += float(np.einsum("i,i->", diff, diff, dtype=np.float64))
    return total / max(plain.size, 1)


def position_window(p: int, cols: int, m: int) -> tuple[slice, slice, slice]:
    """The index of original block position ``p``'s pixels in (n, H, W, 3) images ``cols`` blocks wide."""
    r0, c0 = divmod(p, cols)
    return slice(None), slice(r0 * m, r0 * m + m), slice(c0 * m, c0 * m + m)


def position_inputs(plain: np.ndarray, predicted: np.ndarray, nib: np.ndarray, cipher_at: np.ndarray, p: int,
                    m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a re-read of original position ``p`` works on: its current decryption and its prediction (n, d), cut
    from the (n, H, W, 3) images ``plain`` and ``predicted``, and the (n, 2d) cipher nibbles of the cipher position
    that holds it (``cipher_at[p]`` in ``nib``) as floats."""
    n, _, w, _ = plain.shape
    window, d = position_window(p, w // m, m), 3 * m * m
    return (plain[window].reshape(n, d), predicted[window].reshape(n, d),
            nib[:, cipher_at[p]].astype(plain.dtype))


def _reread(plain: np.ndarray, predicted: np.ndarray, nib: np.ndarray, perms: np.ndarray, block_perm: np.ndarray,
            m: int, only: np.ndarray | None = None) -> np.ndarray:
    """One pass over every position (or those where ``only`` is set; the others keep their key): its highs
    re-assigned against the prediction (with its current lows), then its lows (with the highs just chosen), then its
    whole bytes."""
    cipher_at = cipher_positions(block_perm)
    positions = np.arange(perms.shape[0]) if only is None else np.flatnonzero(only)

    def one(p: int) -> np.ndarray:
        values, pred, cipher = position_inputs(plain, predicted, nib, cipher_at, p, m)
        return reread_position(perms[p], cipher, values, pred)

    out = perms.copy()
    if positions.size:
        out[positions] = np.stack(map_positions(one, positions))
    return out


def _stale(perms: np.ndarray, read_from: np.ndarray, plain: np.ndarray, plain_from: np.ndarray, m: int,
           refits: bool = False) -> np.ndarray:
    """(N,) bool: the positions whose re-read could differ now (keys ``perms``, images ``plain``) from one under the
    keys ``read_from`` and images ``plain_from``: the position's own key moved, or a pixel within RADIUS of one of
    its pixels (either direction, diagonals included: all that a predictor's window reaches) decrypts differently in
    some image. A key that moves a neighbour's inner pixels only, or swaps nibbles no image tells apart, is out of
    reach. The images are (n, H, W, 3) and never changed in place, so holding them costs no copy.

    ``refits``: the predictor is refitted on the images (:func:`fitted_prediction`). Its weights for the pixels near
    the image's edge are fitted on those pixels alone, so a change there (within 2 RADIUS of the edge: the pixels
    and their features) reaches every image-edge position; its weights inside are fitted on all the image, which a
    few changed pixels barely move (see :func:`reread_assembled`)."""
    changed = (plain != plain_from).any(axis=(0, 3))
    h, w = changed.shape
    reached = maximum_filter(changed, size=2 * RADIUS + 1, mode="constant")
    if refits:
        band = np.ones((h, w), bool)
        band[2 * RADIUS:h - 2 * RADIUS, 2 * RADIUS:w - 2 * RADIUS] = False
        if (changed & band).any():
            reached[:RADIUS] = reached[h - RADIUS:] = True
            reached[:, :RADIUS] = reached[:, w - RADIUS:] = True
    return reached.reshape(h // m, m, w // m, m).any(axis=(1, 3)).ravel() | (perms != read_from).any(axis=1)


def reread_position(perm: np.ndarray, cipher: np.ndarray, values: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """One position's key re-read against the predicted values ``pred`` (n, d): its highs (with the lows of
    ``values``, its current decryption), then its lows (with the highs just chosen), then its whole bytes."""
    d = pred.shape[1]
    perm = _reassign(perm, cipher, np.clip((pred - values % 16) / 16.0, 0.0, 15.0), high=True)
    high_values = _plain_nibbles(perm, cipher, d, high=True)
    perm = _reassign(perm, cipher, np.clip(pred - 16.0 * high_values, 0.0, 15.0), high=False)
    return _reassign_bytes(perm, cipher, pred)


def decrypt_position(perm: np.ndarray, cipher: np.ndarray) -> np.ndarray:
    """(n, d) plain values of one position's samples ``cipher`` (n, 2d) under its key ``perm``."""
    d = perm.size // 2
    return 16.0 * _plain_nibbles(perm, cipher, d, high=True) + _plain_nibbles(perm, cipher, d, high=False)


def _reassign_bytes(perm: np.ndarray, cipher: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``perm`` with each channel's whole bytes (a pixel's high and low nibble together) re-placed among the
    block's pixels by linear assignment against the predicted values ``target`` (n, d): what neither the highs'
    nor the lows' pass can mend, two neighbouring pixels' bytes of one channel swapped (moving either nibble alone
    makes both pixels worse). Each nibble is read negated where its new slot says; pixel 0's channel-0 byte holds
    plain d's high and stays; a channel's old placement is kept unless the new one costs strictly less."""
    d = target.shape[1]
    # priced in double precision: a byte's squared error summed over the samples reaches 10^7, where a float32 entry
    # rounds by about 1 (the matrices are small: 256 pixels a channel)
    cipher, target = cipher.astype(np.float64, copy=False), target.astype(np.float64, copy=False)
    negated_high, negated_low = _signs(perm, d, high=True), _signs(perm, d, high=False)
    high_at, low_at = np.empty(d, np.int64), np.empty(d, np.int64)  # the cipher nibble at each plain slot
    holders = np.flatnonzero(perm >= d)
    high_at[perm[holders] - d] = holders
    holders = np.flatnonzero(perm < d)
    low_at[perm[holders]] = holders
    out = perm.copy()
    for ch in range(3):
        slots = np.arange(ch, d, 3)[1 if ch == 0 else 0:]
        high, low = cipher[:, high_at[slots]], cipher[:, low_at[slots]]  # byte u's nibbles, as it sits at slots[u]
        goal = target[:, slots]
        cost = np.empty((slots.size, slots.size))
        for flip_high in (False, True):
            for flip_low in (False, True):
                value = 16.0 * (15.0 - high if flip_high else high) + (15.0 - low if flip_low else low)
                at = (negated_high[slots] == flip_high) & (negated_low[slots] == flip_low)  # slots read this way
                cost[:, at] = ((value * value).sum(axis=0)[:, None] - 2.0 * value.T @ goal[:, at]
                               + (goal[:, at] * goal[:, at]).sum(axis=0)[None, :])
        better = improving_assignment(cost)
        if better is None:
            continue
        rows, cols = better
        out[high_at[slots[rows]]] = d + slots[cols]
        out[low_at[slots[rows]]] = slots[cols]
    return out


def _signs(perm: np.ndarray, d: int, high: bool) -> np.ndarray:
    """Whether a cipher nibble holding plain nibble j (the highs d..2d-1 or the lows 0..d-1) is negated."""
    slots = np.arange(d, 2 * d) if high else np.arange(d)
    return (perm[slots] > d) ^ (slots > d)


def _plain_nibbles(perm: np.ndarray, cipher: np.ndarray, d: int, high: bool) -> np.ndarray:
    """(n, d) plain high (or low) nibbles of one position's samples under ``perm``."""
    holders = np.flatnonzero(perm >= d) if high else np.flatnonzero(perm < d)
    source = np.empty(d, np.int64)
    source[perm[holders] - (d if high else 0)] = holders  # the cipher nibble at each plain slot
    out = np.take(cipher, source, axis=1)  # one gather (several times faster than scattering columns)
    return np.where(_signs(perm, d, high)[None, :], 15.0 - out, out)


def placement_cost(values: np.ndarray, target: np.ndarray, negated: np.ndarray, squares: np.ndarray | None = None
                   ) -> np.ndarray:
    """(k, s): for cipher nibbles ``values`` (n, k) and plain slots with ``target`` values (n, s), the sum over the
    n samples of (nibble as slot j reads it - target[:, j])^2, a slot reading its nibble v as 15 - v where
    ``negated`` (s,) says: the cost of every placement that a linear assignment then chooses from. ``squares``: the
    nibbles' sums of squares over the samples (k,), where the caller has them already (whole numbers: exact).

    A negated slot reads v as 15 - v, and (15 - v - t)^2 = (v - (15 - t))^2: it is a straight slot with target
    15 - t, so one matrix product serves both kinds (the same values up to rounding, about 2.5 x faster at 224's
    768 slots than a product per kind)."""
    seen_as = np.where(negated[None, :], 15.0 - target, target)
    cost = values.T @ seen_as
    cost *= -2.0
    cost += ((values * values).sum(axis=0) if squares is None else squares)[:, None]
    cost += (seen_as * seen_as).sum(axis=0)[None, :]
    return cost


def placement_total(values: np.ndarray, target: np.ndarray, negated: np.ndarray
                    ) -> Callable[[np.ndarray, np.ndarray], float]:
    """(rows, cols) -> what :func:`placement_cost` prices cipher nibbles ``rows`` placed at slots ``cols`` at in all,
    summed in double precision from the data (``improving_assignment``'s ``total``: the matrix may be single)."""
    def total(rows: np.ndarray, cols: np.ndarray) -> float:
        goal = target[:, cols].astype(np.float64)
        goal = np.where(negated[cols][None, :], 15.0 - goal, goal)
        return float(np.square(values[:, rows].astype(np.float64) - goal).sum())
    return total


def _reassign(perm: np.ndarray, cipher: np.ndarray, target: np.ndarray, high: bool) -> np.ndarray:
    """``perm`` with its highs (or lows) re-assigned: cipher nibble k to the plain slot s minimising the sum
    over samples of (target[s] - nibble value)^2, the nibble read negated where slot s says so (plain d's holder
    stays where it is); the old assignment is kept unless the new one costs strictly less."""
    d = target.shape[1]
    # the highs without plain d's holder (it stays: see the module docstring), or every low
    holders = np.flatnonzero(perm > d) if high else np.flatnonzero(perm < d)
    slots = perm[holders] - (d if high else 0)  # each holder's current plain slot; the pass permutes these
    values, goal, negated = cipher[:, holders], target[:, slots], _signs(perm, d, high)[slots]
    # holder i sits at slots[i] now: the diagonal; judged in double precision (the cost may be single)
    better = improving_assignment(placement_cost(values, goal, negated), total=placement_total(values, goal, negated))
    if better is None:
        return perm
    rows, cols = better
    out = perm.copy()
    out[holders[rows]] = slots[cols] + (d if high else 0)
    return out
