"""Run attacks against one scheme under their declared threat models and score what they restore.

:func:`evaluate_attacks` is what the runner calls. For one victim scheme (with its secret key) it

1. resizes the plain images to ``image_size`` (bicubic, batch by batch) and splits the training images
   between the victim and the attacker (:func:`split_training`);
2. encrypts the first ``n_images`` test images with the victim's key. With ``jpeg_quality`` every
   victim-key ciphertext an attack sees (these test ciphertexts and the GAN's training ciphertexts) is
   JPEG-compressed with OpenCV first, as a cloud storing JPEG would hold them; the ITN attacker's own
   encryptions are not (it does not know the victim's pipeline); the baselines use the compressed ones;
3. scores the baselines (:func:`baseline_entries`): the ciphertext itself against the plain image, a uniform
   grey image (no information: where it reaches the verdict's share, SSIM cannot judge at that size), the
   decryption with a wrong key (a fresh key of the same scheme) and the key holder's;
4. for each attack: builds it for the profile, gives it exactly the data its threat model allows
   (:func:`ppbench.attacks.build_view`), fits it, restores the test ciphertexts, and scores them with
   the exact scikit-image SSIM and PSNR of :mod:`ppbench.metrics`; writes the per-image values, a
   PNG grid, the first 8 restored images and (trained attacks) the attack's checkpoint under
   ``out_dir/attacks/``.

Attacker data (``attacker_data``): ``"disjoint"`` (default): the victim's training images (those the
cloud holds encrypted, i.e. the GAN's victim-key ciphertexts) are the first half of ``train_images``
and the attacker's own plain images (the GAN's unpaired real set, the ITN's training pairs) are the
second half; ``"overlap"`` reproduces the reference code, where all training images serve both sides,
unpaired. The index ranges are written into every entry's ``config["attacker_data"]``. Test images
are never in the attacker's data.

Reproducibility: every attack gets its own seed derived from ``seed`` and its name; it seeds the
attack's network initialisation (the global RNG, forked and restored) and the ``torch.Generator`` of
its view (data order). Keys the attacker draws itself, and the wrong-key baseline's, come from the
run's attacker secret (OS CSPRNG, kept as ``attacks/attacker_secret.json``, never a seed). A rerun
of the same run with the same seed reproduces every number on the same device and threads.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import secrets
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .atomic import atomic_path, atomic_write_bytes, atomic_write_json
from .errors import CheckpointError, InputError, NotApplicableError, PPBenchError
from .keys import SECRET_BYTES
from .breaks import break_level
from .seeds import derive_seed as _derive_seed
from .metrics import psnr, ssim, ssim_readings, summarize
from .transforms import nchw_to_nhwc, resize_uint8

log = logging.getLogger("ppbench.attack_eval")

SSIM_PRESET = "skimage"
RUN_CURVE_NS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
"""n of the key-recovery curve inside a run (ELE needs hundreds of ciphertexts, the others a handful)."""
GRID_IMAGES = 8
NOT_APPLICABLE = "not_applicable"
"""``status`` of an attack entry whose attack has no method for the scheme (no numbers; reports show n/a)."""
ATTACKER_DATA_MODES = ("disjoint", "overlap")
KEPT_RESTORED = 500
"""Restored images ``<attack>_restored.npz`` keeps (the first ones): what ``ppbench recognise`` classifies."""


def evaluate_attacks(
    attack_names: list[str],
    *,
    scheme: Any,
    train_images: torch.Tensor,
    test_images: torch.Tensor,
    image_size: int,
    profile: str,
    n_images: int,
    attacker_data: str = "disjoint",
    device: torch.device,
    seed: int,
    out_dir: Path,
    jpeg_quality: int | None = None,
    train_labels: torch.Tensor | None = None,
    on_attack: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Evaluate ``attack_names`` (``"all"`` = every registered attack) against ``scheme``.

    ``train_images`` / ``test_images``: plain uint8 N x 3 x H x W at the data set's native size, in
    data-set order. Returns ``{"attacks": {name: entry}, "baselines": {"ciphertext": ...,
    "wrong_key": ...}, "attacker_data": {...}}`` with entries as in docs/records.md. ``on_attack(name, out)``, if
    given, is called as each attack finishes with that dict holding the attacks so far (the runner records each
    result before the next attack starts, so an interrupted run keeps it); the data, the ciphertexts and the
    baselines are made once for all the attacks.
    """
    from ppbench.attacks import KeySource, attack_class, build_view, create_attack

    names = resolve_attack_names(attack_names, scheme_name=scheme.info.name)
    _check_images(train_images, "train_images")
    _check_images(test_images, "test_images")
    if scheme.image_size != (image_size, image_size):
        raise InputError(f"the scheme's key is for {scheme.image_size[0]}x{scheme.image_size[1]}, not {image_size}x{image_size}")
    if jpeg_quality is not None and not 0 <= int(jpeg_quality) <= 100:
        raise InputError(f"jpeg_quality must be in 0..100, got {jpeg_quality}")
    device = torch.device(device)
    out_dir = Path(out_dir)
    attack_dir = out_dir / "attacks"

    split = split_training(train_images.shape[0], attacker_data)
    n = min(int(n_images), test_images.shape[0])
    if n < 1:
        raise InputError(f"n_images must be at least 1, got {n_images}")
    plain_test = resize_uint8(test_images[:n], image_size)
    victim_train = resize_uint8(train_images[slice(*split["victim_train"])], image_size)
    # the class labels of the victim's images: the cloud that trains the classifier holds them; only a threat model
    # that grants them (ciphertext_only_unpaired_plain_labels) puts them in an attacker's view
    victim_labels = (torch.as_tensor(train_labels)[slice(*split["victim_train"])]
                     if train_labels is not None else None)
    attacker_plain = resize_uint8(train_images[slice(*split["attacker_train"])], image_size)

    def encrypt_victim(x: torch.Tensor) -> torch.Tensor:
        y = scheme.encrypt(x)
        return jpeg_roundtrip(y, int(jpeg_quality)) if jpeg_quality is not None else y

    ciphertexts = encrypt_victim(plain_test)
    display = scheme.to_display(ciphertexts)
    name, block = scheme.info.name, scheme.block_size
    attacker_secret = load_or_create_attacker_secret(attack_dir)
    cipher_ssim = ssim(display, plain_test, preset=SSIM_PRESET)
    baselines = baseline_entries(scheme, plain_test, ciphertexts, display, attacker_secret)
    break_ssim = break_level(baselines["key_holder"]["ssim_mean"])
    log.info("%s: baselines: ciphertext SSIM %.4f, wrong key SSIM %.4f", name,
             baselines["ciphertext"]["ssim_mean"], baselines["wrong_key"]["ssim_mean"])

    data_record = {"mode": attacker_data, **{k: list(v) for k, v in split.items()}, "test": [0, n],
                   "n_train_given": int(train_images.shape[0])}
    entries: dict[str, Any] = {}
    out = {"attacks": entries, "baselines": baselines, "attacker_data": data_record}

    def finished(attack_name: str) -> None:
        if on_attack is not None:
            on_attack(attack_name, out)

    for attack_name in names:
        log.info("attack %s (%s attacker data, %d test images)", attack_name, attacker_data, n)
        reason = attack_class(attack_name).applicable(scheme.info)
        if reason is not None:  # e.g. a per-scheme key solver against a plugin scheme: say so, do not crash
            entries[attack_name] = not_applicable_entry(attack_name, reason)
            log.info("%s vs %s: not applicable (%s)", attack_name, name, reason)
            finished(attack_name)
            continue
        attack_seed = derive_seed(seed, attack_name)
        with _forked_rng(device):
            torch.manual_seed(attack_seed)
            attack = create_attack(attack_name, scheme_name=name, image_size=image_size, block_size=block,
                                   profile=profile, device=device)
            view = build_view(attack.threat_model, scheme=scheme, victim_train=victim_train,
                              public_images=attacker_plain, generator=torch.Generator().manual_seed(attack_seed),
                              key_source=KeySource(attacker_secret, purpose=f"attacker/{attack_name}"),
                              encrypt_victim=encrypt_victim, victim_labels=victim_labels)
            try:
                attack.fit(view)
            except NotApplicableError as exc:  # e.g. images larger than the attack takes: say so, go on
                entries[attack_name] = not_applicable_entry(attack_name, str(exc))
                log.info("%s vs %s: not applicable (%s)", attack_name, name, exc)
                finished(attack_name)
                del attack, view  # freed before the next attack builds its own (memory at 224)
                continue
            restored = attack(ciphertexts)
            curve = (_key_recovery_curve(attack_name, scheme=scheme, victim_train=victim_train, plain_test=plain_test,
                                         attacker_plain=attacker_plain, encrypt_victim=encrypt_victim, profile=profile,
                                         device=device, break_ssim=break_ssim)
                     if attack.info.curve else {})
        values_ssim, inverted_ssim, mirrored_ssim = ssim_readings(restored, plain_test, preset=SSIM_PRESET)
        values_psnr = psnr(restored, plain_test)
        files = write_attack_files(attack_dir, attack_name, plain=plain_test, display=display, restored=restored,
                                   ssim_values=values_ssim, psnr_values=values_psnr, cipher_ssim=cipher_ssim,
                                   inverted_ssim=inverted_ssim, mirrored_ssim=mirrored_ssim,
                                   title=f"{attack_name} vs {name} ({image_size}px" + (f", M={block}" if block else "") + ")")
        if attack.info.trainable:
            attack.save(attack_dir / f"{attack_name}.pt")
            files["checkpoint"] = f"attacks/{attack_name}.pt"
        config = dict(attack.config, profile=profile, image_size=image_size, block_size=block, seed=attack_seed,
                      device=str(device), jpeg_quality=jpeg_quality, attacker_data=data_record)
        if attack.history:
            config["last_epoch"] = attack.history[-1]
        entry = _summary(values_ssim, values_psnr)
        entry["ssim_mean_inverted"] = float(inverted_ssim.mean())  # a restored negative reveals the image too
        entry["ssim_mean_mirrored"] = float(mirrored_ssim.mean())  # so does a left-right mirror (EtC's symmetry)
        entry.update(best_reading_fields(values_ssim, inverted_ssim, mirrored_ssim))  # each image by its own best reading
        entry.update(curve)
        if hasattr(attack, "record_fields"):  # the generic attacks: in_family, ambiguous_bits, chosen_images
            extra = attack.record_fields()
            best = max(entry["ssim_mean"], entry["ssim_mean_inverted"], entry["ssim_mean_mirrored"])
            extra["broken"] = bool(extra.get("in_family", True)) and best >= break_ssim  # outside F: never claimed
            entry.update(extra)
        if hasattr(attack, "training_summary"):  # learned attacks: how training stopped (epochs_run, stopped, reduced, ...)
            entry.update(attack.training_summary())
        entries[attack_name] = {
            **entry,
            "threat_model": attack.threat_model.value,
            "train_seconds": round(attack.train_seconds, 3),
            "config": _jsonable(config),
            "version": attack.info.version,
            **({"generic": True} if attack.info.generic else {}),  # absent: scheme-specific, as every older record
            "ssim_preset": SSIM_PRESET,
            "files": files,
        }
        log.info("%s vs %s: SSIM %.4f as is (median %.4f), %.4f negative, %.4f mirrored; each image by its best "
                 "reading: mean %.4f, %.0f %% restored; PSNR %.2f dB, trained %.1f s", attack_name, name,
                 entry["ssim_mean"], entry["ssim_median"], entry["ssim_mean_inverted"], entry["ssim_mean_mirrored"],
                 entry["ssim_best_image_mean"], 100 * entry["share_restored"], entry["psnr_mean"], attack.train_seconds)
        finished(attack_name)
        del attack, view, restored  # freed before the next attack builds its own (memory at 224)
    return out


GREY_LEVEL = 128
"""The no-information baseline: a uniform grey image (what an attack that learnt nothing might return)."""


def baseline_entries(scheme: Any, plain_test: torch.Tensor, ciphertexts: torch.Tensor, display: torch.Tensor,
                     attacker_secret: bytes) -> dict[str, dict[str, Any]]:
    """``metrics.baselines``: SSIM / PSNR against ``plain_test`` of what needs no attack (``display``, the
    ciphertexts as displayed; a uniform grey image), of a wrong key's decryption and of the key holder's; the
    first two also with the per-image best-reading fields, the grey one of which says whether the verdict's SSIM
    level can separate restored from not restored at this image size (at 224 x 224 on upscaled images it cannot)."""
    from ppbench.attacks import KeySource

    wrong = KeySource(attacker_secret, purpose="wrong-key").new_scheme(scheme.info.name, scheme.image_size[0],
                                                                       scheme.block_size)
    wrongly_decrypted = wrong.decrypt(ciphertexts)
    key_holder = scheme.decrypt(ciphertexts)  # what the key's owner sees: the plain image, or its JPEG-damaged copy
    out = no_information_baselines(plain_test, display)
    for label, images in (("wrong_key", wrongly_decrypted), ("key_holder", key_holder)):
        out[label] = _summary(ssim(images, plain_test, preset=SSIM_PRESET), psnr(images, plain_test))
    return out


def no_information_baselines(plain_test: torch.Tensor, display: torch.Tensor | None) -> dict[str, dict[str, Any]]:
    """The ``grey`` baseline and, given the ciphertexts as displayed, the ``ciphertext`` one: SSIM / PSNR with the
    per-image best-reading fields (what :func:`baseline_entries` records; ``scripts/rescore_records.py`` adds them
    to older records)."""
    out = {}
    for label, images in (("ciphertext", display), ("grey", torch.full_like(plain_test, GREY_LEVEL))):
        if images is not None:
            readings = ssim_readings(images, plain_test, preset=SSIM_PRESET)
            out[label] = {**_summary(readings[0], psnr(images, plain_test)), **best_reading_fields(*readings)}
    return out


def _key_recovery_curve(attack_name: str, *, scheme: Any, victim_train: torch.Tensor, plain_test: torch.Tensor,
                        attacker_plain: torch.Tensor, encrypt_victim: Any, profile: str, device: torch.device,
                        break_ssim: float) -> dict[str, Any]:
    """SSIM on the run's test ciphertexts against the number n of victim images the key-recovery attack
    holds (n from :data:`RUN_CURVE_NS` up to what the victim split has), and the smallest n whose best
    reading (as-is, negative or mirrored, as Table I's verdict reads every attack) reaches ``break_ssim``
    (0.99 x what the key's owner gets: 0.99 on lossless ciphertexts; less after JPEG, which the key cannot
    undo): Table I's "ciphertexts to break"."""
    from .curve import ciphertexts_to_break, smallest_exact_n, sweep_key_recovery

    ns = curve_ns(victim_train.shape[0], attack_name)
    if not ns:
        return {}
    rows = sweep_key_recovery(attack_name, victim=scheme, attacker_plain=victim_train[: max(ns)],
                              eval_plain=plain_test, ns=ns, profile=profile, encrypt_victim=encrypt_victim,
                              device=device, public_images=attacker_plain)
    best = [{**r, "ssim_mean": r["ssim_best"]} for r in rows]  # the verdict's reading: as-is, negative or mirrored
    return {
        "ciphertexts_to_break": ciphertexts_to_break(best, threshold=break_ssim),
        "break_ssim": break_ssim,
        "smallest_exact_n": smallest_exact_n(rows),
        "curve": [{"n": r["n"], "ssim_mean": r["ssim_mean"], "ssim_best": r["ssim_best"], "exact_key": r["exact_key"],
                   "exact_on_seen": r["exact_on_seen"], "seconds": round(r["seconds"], 4)} for r in rows],
    }


def best_reading_fields(as_is: torch.Tensor, inverted: torch.Tensor, mirrored: torch.Tensor,
                        level: float | None = None) -> dict[str, Any]:
    """The per-image best-reading summary of an attack entry (docs/records.md): each image scored by the best
    of its as-is, colour-inverted and mirrored SSIM (a GAN's sign can differ from image to image), then the
    mean, the median and the share of images at or above ``level`` (the verdict rule's per-image level,
    :data:`ppbench.reports.security.RESTORED_IMAGE_SSIM`), and how many images they rest on."""
    from ppbench.reports.security import RESTORED_IMAGE_SSIM

    level = RESTORED_IMAGE_SSIM if level is None else float(level)
    best = torch.stack([as_is, inverted, mirrored]).to(torch.float64).amax(0)
    summary = summarize(best)  # numpy's median: the mean of the two middle values of an even count
    return {"ssim_best_image_mean": summary["mean"], "ssim_best_image_median": summary["median"],
            "share_restored": float((best >= level).double().mean()), "restored_image_ssim": level,
            "best_reading_images": int(best.numel())}


def not_applicable_entry(attack_name: str, reason: str) -> dict[str, Any]:
    """The record's entry for an attack that has no method for the scheme (:meth:`Attack.applicable`):
    ``status`` ``"not_applicable"`` and the reason, no numbers (reports show "n/a")."""
    from ppbench.attacks import attack_info

    info = attack_info(attack_name)
    return {"status": NOT_APPLICABLE, "reason": reason, "threat_model": info.threat_model.value, "version": info.version}


def curve_ns(n_victim: int, attack_name: str | None = None) -> list[int]:
    """The n of a run's key-recovery curve: :data:`RUN_CURVE_NS` up to the victim images available, from the
    attack's ``curve_min_n`` on (an attack that learns nothing from fewer is not fitted on fewer)."""
    from ppbench.attacks import attack_class

    low = int(getattr(attack_class(attack_name), "curve_min_n", 1)) if attack_name is not None else 1
    return [n for n in RUN_CURVE_NS if low <= n <= n_victim]


def stale_fields(attack_name: str, entry: dict[str, Any]) -> list[str]:
    """What makes a recorded ``entry`` out of date for this ppbench: fields the evaluator now writes that it
    lacks, another version of the attack, a per-image reading of fewer images than it scored (an older record
    rescored from the few restored images it kept, ``scripts/rescore_records.py``), or a key-recovery curve
    over other n. The runner re-runs such an
    attack rather than report a record that cannot answer the report's questions."""
    from ppbench.attacks import attack_info

    if entry.get("status") == NOT_APPLICABLE:  # nothing to refresh unless the attack changed since
        version = attack_info(attack_name).version
        return [] if entry.get("version") == version else [f"version {version} (recorded: {entry.get('version')})"]
    curve = attack_info(attack_name).curve
    wanted = ["ssim_mean_inverted", "ssim_mean_mirrored", "share_restored"] + (["ciphertexts_to_break", "break_ssim", "curve"] if curve else [])
    stale = [f for f in wanted if f not in entry]
    version = attack_info(attack_name).version
    if "version" in entry and entry["version"] != version:
        stale.append(f"version {version} (recorded: {entry['version']})")
    rests_on, scored = entry.get("best_reading_images"), entry.get("n_images")
    if rests_on is not None and scored is not None and int(rests_on) < int(scored):  # rescored from the kept few
        stale.append(f"the per-image reading of all {scored} images (recorded: {rests_on})")
    victim = ((entry.get("config") or {}).get("attacker_data") or {}).get("victim_train")
    if curve and "curve" in entry and victim:
        expected = curve_ns(int(victim[1]) - int(victim[0]), attack_name)
        if [int(p["n"]) for p in entry["curve"]] != expected:
            stale.append(f"curve over n = {', '.join(map(str, expected))}")
        elif any("ssim_best" not in p for p in entry["curve"]):
            stale.append("curve points with ssim_best")
    return stale


# -- pieces the CLI and tests reuse -----------------------------------------------------------------------
def resolve_attack_names(names: list[str] | tuple[str, ...] | str, scheme_name: str | None = None) -> list[str]:
    """Expand ``"all"`` (every registered attack that supports ``scheme_name``), drop duplicates (keeping
    order), and refuse unknown names with suggestions."""
    from ppbench.attacks import attack_info, list_attacks

    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for raw in names:
        for item in str(raw).split(","):
            item = item.strip().lower()
            if not item:
                continue
            if item == "all":
                expanded = [n for n in list_attacks() if scheme_name is None or attack_info(n).supports(scheme_name)]
            else:
                expanded = [attack_info(item).name]
            out += [n for n in expanded if n not in out]
    if not out:
        raise InputError("no attack named; pass one or more of: all, " + ", ".join(list_attacks()))
    return out


def split_training(n_train: int, mode: str = "disjoint") -> dict[str, tuple[int, int]]:
    """Index ranges ``[start, stop)`` of the victim's and the attacker's training images.

    ``disjoint``: victim = first half, attacker = second half (the halves differ by at most one image).
    ``overlap``: both sides use every training image (the reference code's setting, unpaired).
    """
    if mode not in ATTACKER_DATA_MODES:
        raise InputError(f"attacker_data must be one of {ATTACKER_DATA_MODES}, got {mode!r}")
    if n_train < (4 if mode == "disjoint" else 2):
        raise InputError(f"need at least 4 training images to split between victim and attacker, got {n_train}")
    if mode == "overlap":
        return {"victim_train": (0, n_train), "attacker_train": (0, n_train)}
    half = n_train // 2
    return {"victim_train": (0, half), "attacker_train": (half, n_train)}


def load_or_create_attacker_secret(attack_dir: Path) -> bytes:
    """The run's attacker secret (keys the attacker draws itself, and the wrong-key baseline's).

    Drawn once from the OS CSPRNG and kept in ``attacks/attacker_secret.json`` (mode 0600) so that
    re-evaluating the same run reproduces its numbers; a new run draws a new one. It is not the
    victim's key, which lives only in the run's ``key.json``.
    """
    path = Path(attack_dir) / "attacker_secret.json"
    if path.exists():
        try:
            raw = json.loads(path.read_text())
            secret = bytes.fromhex(raw["secret"])
            if len(secret) == SECRET_BYTES:
                return secret
        except (ValueError, KeyError, TypeError, OSError):
            pass
        raise CheckpointError(f"{path} is corrupt; delete it to let the attacks draw new keys")
    secret = secrets.token_bytes(SECRET_BYTES)
    atomic_write_json(path, {"format": "ppbench-attacker-secret", "secret": secret.hex()}, mode=0o600)
    return secret


def derive_seed(seed: int, name: str) -> int:
    """A 63-bit seed for one attack, independent of the order attacks run in."""
    return _derive_seed(seed, name, scope="attack")


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG-compress and decode each uint8 RGB image with OpenCV (quality ``quality``, its defaults otherwise)."""
    try:
        import cv2
    except ImportError:
        raise PPBenchError("jpeg_quality needs OpenCV: pip install opencv-python-headless") from None
    images = nchw_to_nhwc(x)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise PPBenchError(f"OpenCV could not JPEG-encode image {i}")
        out[i] = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1]
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(x.device)


def write_attack_files(
    attack_dir: Path,
    name: str,
    *,
    plain: torch.Tensor,
    display: torch.Tensor,
    restored: torch.Tensor,
    ssim_values: torch.Tensor,
    psnr_values: torch.Tensor,
    cipher_ssim: torch.Tensor,
    title: str,
    inverted_ssim: torch.Tensor | None = None,
    mirrored_ssim: torch.Tensor | None = None,
) -> dict[str, str]:
    """Per-image CSV (with the inverted, mirrored and best readings when given), PNG grid, and the restored
    images (the first :data:`KEPT_RESTORED`, for recognition; ``plain`` / ``encrypted`` only the first
    :data:`GRID_IMAGES`, for Fig. 4); returns their paths relative to the run folder."""
    k = min(GRID_IMAGES, plain.shape[0])
    kept = min(KEPT_RESTORED, restored.shape[0])
    readings = inverted_ssim is not None and mirrored_ssim is not None
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["index", "ssim", "psnr"] + (["ssim_inverted", "ssim_mirrored", "ssim_best"] if readings else []))
    for i, (s, p) in enumerate(zip(ssim_values.tolist(), psnr_values.tolist())):
        more = []
        if readings:
            inv, mir = float(inverted_ssim[i]), float(mirrored_ssim[i])
            more = [repr(inv), repr(mir), repr(max(float(s), inv, mir))]
        writer.writerow([i, repr(float(s)), repr(float(p))] + more)
    atomic_write_bytes(attack_dir / f"{name}_ssim.csv", text.getvalue().encode())

    buffer = io.BytesIO()
    np.savez_compressed(buffer, restored=nchw_to_nhwc(restored[:kept]), plain=nchw_to_nhwc(plain[:k]),
                        encrypted=nchw_to_nhwc(display[:k]), ssim=ssim_values[:kept].numpy(), index=np.arange(kept))
    atomic_write_bytes(attack_dir / f"{name}_restored.npz", buffer.getvalue())

    save_grid(attack_dir / f"{name}.png", plain[:k], display[:k], restored[:k], ssim_values[:k], cipher_ssim[:k],
              title=f"{title}: mean SSIM {float(ssim_values.mean()):.3f} over {plain.shape[0]} images")
    return {"per_image": f"attacks/{name}_ssim.csv", "grid": f"attacks/{name}.png", "restored": f"attacks/{name}_restored.npz"}


def save_grid(path: Path, plain: torch.Tensor, encrypted: torch.Tensor, restored: torch.Tensor,
              ssim_restored: torch.Tensor, ssim_encrypted: torch.Tensor, *, title: str) -> None:
    """Rows plain / encrypted / restored, one column per image, SSIM against the plain image under each."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = plain.shape[0]
    fig = Figure(figsize=(1.45 * k + 0.9, 5.2), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, k, squeeze=False)
    rows = [("plain", plain, None), ("encrypted", encrypted, ssim_encrypted), ("restored", restored, ssim_restored)]
    for r, (label, images, scores) in enumerate(rows):
        pictures = nchw_to_nhwc(images)
        for c in range(k):
            ax = axes[r][c]
            ax.imshow(pictures[c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if scores is not None:
                ax.set_xlabel(f"SSIM {float(scores[c]):.3f}", fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


# -- internals -------------------------------------------------------------------------------------------------
def _summary(ssim_values: torch.Tensor, psnr_values: torch.Tensor) -> dict[str, Any]:
    s, p = summarize(ssim_values), summarize(psnr_values)
    return {"ssim_mean": s["mean"], "ssim_median": s["median"], "ssim_std": s["std"], "psnr_mean": p["mean"],
            "n_images": s["n"]}


def _check_images(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{what} must be plain uint8 N x 3 x H x W images, got {got}")


@contextlib.contextmanager
def _forked_rng(device: torch.device):
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


__all__ = ["evaluate_attacks", "resolve_attack_names", "not_applicable_entry", "best_reading_fields", "KEPT_RESTORED", "NOT_APPLICABLE", "split_training", "derive_seed", "jpeg_roundtrip",
           "write_attack_files", "save_grid"]
