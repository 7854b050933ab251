"""``ppbench attack``: run an attack on ciphertexts from disk (an .npz made by ``ppbench encrypt``).

Attacks without training (``fr``, ``fr_adv``) run at once. A trained attack either comes from a run's
checkpoint (``--train-from RUN_DIR`` reads ``RUN_DIR/attacks/<attack>.pt``) or is trained now from
``--dataset`` under its own threat model: the dataset's training images are split as in
:func:`ppbench.attack_eval.split_training` (default ``disjoint``: the victim's images are the first
half, the attacker's own plain images the second half). An attack that needs victim-key ciphertexts
of the victim's training images (``gan``) gets them from ``--train-ciphertexts`` (the same dataset
encrypted by the victim, array ``x_train``) or, to simulate the cloud, by encrypting them with
``--key``; the key itself never reaches the attack. A chosen-plaintext attack (``cpa_generic``) gets an
encryption oracle under ``--key`` (ciphertexts of the images it chooses, counted; no dataset needed).
``--key-free`` refuses ``--key`` altogether, so the command provably runs without the victim's key.

Output: ``--out FILE.npz`` with ``restored`` (uint8 N x H x W x 3); with ``--plain FILE`` (the plain
images, same array name) also the per-image ``ssim`` and ``psnr`` and a printed summary.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, DataError, InputError, OutputExistsError
from ..npzfile import read_npz
from ..profiles import list_profiles
from ._common import add_command, add_details

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("ppbench.cli.attack")

EXAMPLES = """\
  ppbench encrypt --scheme pe --key pe.json cifar.npz cifar_pe.npz
  ppbench attack --scheme pe --attack fr_adv --ciphertexts cifar_pe.npz --plain cifar.npz --key-free
  ppbench attack --scheme le --attack gan --ciphertexts cifar_le.npz --train-from runs/RUN_ID
  ppbench attack --scheme le --attack itn --ciphertexts cifar_le.npz --dataset sample --profile cpu --key-free
  ppbench attack --scheme le --attack gan --ciphertexts cifar_le.npz --dataset sample \\
      --train-ciphertexts sample_le.npz --key-free --save-attack gan_le.pt
  ppbench attack --scheme pe --attack cpa_generic --ciphertexts cifar_pe.npz --key pe.json --plain cifar.npz"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``attack`` subcommand."""
    summary = "restore plain images from ciphertexts with a registered attack (see `ppbench list attacks`)"
    p = add_command(subparsers, "attack", cmd_attack, summary, EXAMPLES)
    add_details(p, __doc__.split(chr(10), 2)[2].strip())
    p.add_argument("--scheme", required=True, help="the scheme that made the ciphertexts")
    p.add_argument("--attack", required=True, help="attack name (ppbench list attacks)")
    p.add_argument("--ciphertexts", required=True, type=Path, metavar="FILE", help=".npz of uint8 N x H x W x 3 ciphertexts")
    p.add_argument("--array", help="array in FILE to attack (default: x_test, else the only image array)")
    p.add_argument("--block-size", type=int, help="the scheme's block size (default: the checkpoint's, else the scheme's)")
    p.add_argument("--key-free", action="store_true", help="guarantee no key is read: refuse --key")
    p.add_argument("--train-from", type=Path, metavar="RUN_DIR", help="use RUN_DIR/attacks/<attack>.pt (trained attacks)")
    p.add_argument("--dataset", metavar="NAME|FILE", help="train now: 'sample' (bundled) or an .npz with x_train")
    p.add_argument("--attacker-data", default="disjoint", choices=["disjoint", "overlap"], help="training split (default: disjoint)")
    p.add_argument("--train-ciphertexts", type=Path, metavar="FILE",
                   help="the dataset encrypted by the victim (array x_train), for attacks that use victim-key ciphertexts")
    p.add_argument("--key", type=Path, help="victim key, only to simulate the cloud's training ciphertexts (never given to the attack)")
    p.add_argument("--profile", default="cpu", choices=list_profiles(), help="attack configuration (default: cpu)")
    p.add_argument("--epochs", type=int, help="the most epochs a learned attack trains (it stops earlier when its validation measure stops improving, except in the smoke profile)")
    p.add_argument("--seed", type=int, default=0, help="seed of the attacker's randomness (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--plain", type=Path, metavar="FILE", help="plain images (.npz, same array) to score SSIM/PSNR against")
    p.add_argument("--out", type=Path, metavar="FILE", help="restored images (.npz; default: CIPHERTEXTS_<attack>.npz)")
    p.add_argument("--save-attack", type=Path, metavar="FILE", help="save the attack trained now (.pt)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def cmd_attack(args: argparse.Namespace) -> int:
    """Restore the ciphertexts with the attack (loaded, or trained now under its threat model); write the .npz."""
    import io

    import numpy as np

    from ppbench.atomic import atomic_write_bytes
    from ppbench.attacks import Attack, attack_info, create_attack
    from ppbench.metrics import psnr, ssim, summarize
    from ppbench.schemes import scheme_info
    from ppbench.transforms import nchw_to_nhwc, nhwc_to_nchw

    if args.key_free and args.key is not None:
        raise InputError("--key-free forbids --key; give the victim's training ciphertexts with --train-ciphertexts instead")
    info = attack_info(args.attack)
    scheme_name = scheme_info(args.scheme).name
    out = args.out or args.ciphertexts.with_name(f"{args.ciphertexts.stem}_{info.name}.npz")
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"output {out} already exists; choose another --out or pass --overwrite")
    arrays = read_npz(args.ciphertexts)
    array_name = args.array or _default_array(arrays, args.ciphertexts)
    ciphertexts = nhwc_to_nchw(_image_array(arrays, array_name, args.ciphertexts))
    size = ciphertexts.shape[-1]
    if ciphertexts.shape[-2] != size:
        raise InputError(f"attacks take square images, got {ciphertexts.shape[-2]}x{size}")

    if info.trainable and args.train_from is not None:
        attack = Attack.load(args.train_from / "attacks" / f"{info.name}.pt", device=args.device)
        if (attack.scheme_name, attack.image_size) != (scheme_name, size):
            raise CheckpointError(f"the checkpoint is for {attack.scheme_name} at {attack.image_size}px, not {scheme_name} at {size}px")
        log.info("loaded %s from %s", attack, args.train_from)
    else:
        block = _block_size(args, scheme_name)
        attack = create_attack(info.name, scheme_name=scheme_name, image_size=size, block_size=block,
                               profile=args.profile, device=args.device, **({"epochs": args.epochs} if info.trainable else {}))
        if info.trainable:
            access = info.threat_model.access
            if args.dataset is None and (access.public_images or access.victim_ciphertexts):
                raise InputError(f"attack {info.name!r} needs training: pass --train-from RUN_DIR or --dataset sample")
            attack.fit(_cli_view(attack, args, size))
            if args.save_attack:
                attack.save(args.save_attack)
    restored = attack(ciphertexts)
    result: dict[str, Any] = {"restored": nchw_to_nhwc(restored)}
    if args.plain is not None:
        plain = nhwc_to_nchw(_image_array(read_npz(args.plain), array_name, args.plain))
        if plain.shape != restored.shape:
            raise InputError(f"plain images {tuple(plain.shape)} do not match the ciphertexts {tuple(restored.shape)}")
        result["ssim"], result["psnr"] = ssim(restored, plain).numpy(), psnr(restored, plain).numpy()
        s = summarize(result["ssim"])
        print(f"{info.name} vs {scheme_name}: SSIM mean {s['mean']:.4f}, median {s['median']:.4f}, std {s['std']:.4f} "
              f"over {s['n']} images; PSNR mean {float(np.mean(result['psnr'])):.2f} dB")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **result)
    atomic_write_bytes(out, buffer.getvalue())
    print(f"restored {restored.shape[0]} image(s) with {info.name} -> {out}")
    return 0


# -- helpers ------------------------------------------------------------------------------------------------
def _cli_view(attack: Any, args: argparse.Namespace, size: int):
    """The view the attack's threat model allows, from the command line's files (never the key itself)."""
    import torch

    from ppbench.attack_eval import split_training
    from ppbench.transforms import resize_uint8
    from ppbench.attacks import AttackerView, KeySource
    from ppbench.transforms import nhwc_to_nchw

    access = attack.threat_model.access
    if access.victim_plaintexts or access.victim_key:
        raise InputError(f"the CLI does not hand victim plaintexts or keys to attacks ({attack.threat_model.value})")
    generator = torch.Generator().manual_seed(int(args.seed))
    data: dict[str, Any] = {}
    if access.encryption_oracle:  # chosen-plaintext: the victim's encryption, simulated with --key, never the key
        if args.key is None:
            raise InputError(f"{attack.info.name} queries the victim's encryption: pass --key KEY to simulate its "
                             "encryption oracle (the attack gets ciphertexts of its chosen images, never the key)")
        from ppbench.attacks.oracle import EncryptionOracle
        from ppbench.schemes import create_scheme

        data["encryption_oracle"] = EncryptionOracle(create_scheme(args.scheme, key=args.key, block_size=args.block_size).encrypt, size)
    if not (access.public_images or access.victim_ciphertexts or access.own_keys):
        return AttackerView(attack.threat_model, scheme_name=attack.scheme_name, image_size=size,
                            block_size=attack.block_size, generator=generator, **data)
    train = nhwc_to_nchw(_image_array(read_npz(_dataset_path(args.dataset)), "x_train", Path(args.dataset)))
    split = split_training(train.shape[0], args.attacker_data)
    if access.public_images:
        data["public_images"] = resize_uint8(train[slice(*split["attacker_train"])], size)
    if access.victim_ciphertexts:
        data["victim_ciphertexts"] = _victim_ciphertexts(args, train, split["victim_train"], size)
    if access.victim_labels:  # the victim's class labels, as the cloud holds them (the dataset's y_train)
        labels = read_npz(_dataset_path(args.dataset)).get("y_train")
        if labels is None:
            raise InputError(f"{attack.info.name} needs the victim's labels: --dataset {args.dataset} has no y_train")
        data["victim_labels"] = torch.as_tensor(labels)[slice(*split["victim_train"])]
    if access.own_keys:
        name, block = attack.scheme_name, attack.block_size
        keys = KeySource()  # the attacker's own keys: fresh from the OS CSPRNG
        data["new_scheme"] = lambda: keys.new_scheme(name, size, block)
    return AttackerView(attack.threat_model, scheme_name=attack.scheme_name, image_size=size,
                        block_size=attack.block_size, generator=generator, **data)


def _victim_ciphertexts(args: argparse.Namespace, train, victim_range: tuple[int, int], size: int):
    from ppbench.transforms import resize_uint8
    from ppbench.schemes import create_scheme
    from ppbench.transforms import nhwc_to_nchw

    if args.train_ciphertexts is not None:
        enc = nhwc_to_nchw(_image_array(read_npz(args.train_ciphertexts), "x_train", args.train_ciphertexts))
        if enc.shape[0] != train.shape[0] or enc.shape[-1] != size:
            raise InputError(f"--train-ciphertexts x_train {tuple(enc.shape)} must be the dataset's {train.shape[0]} "
                             f"training images encrypted at {size}x{size}")
        return enc[slice(*victim_range)].contiguous()
    if args.key is None:
        raise InputError("this attack learns from the victim's training ciphertexts: pass --train-ciphertexts FILE "
                         "(or --key KEY to simulate the cloud's data)")
    scheme = create_scheme(args.scheme, key=args.key, block_size=args.block_size)
    return scheme.encrypt(resize_uint8(train[slice(*victim_range)], size))


def _block_size(args: argparse.Namespace, scheme_name: str) -> int | None:
    """--block-size, else the key file's (when one is given), else the scheme's default; None if not block-wise."""
    from ppbench.keys import SchemeKey
    from ppbench.schemes import scheme_info

    info = scheme_info(scheme_name)
    if not info.block_wise:
        return None
    if args.block_size:
        return args.block_size
    if args.key is not None:
        return SchemeKey.load(args.key).params.get("block_size", info.default_block_size)
    return info.default_block_size


def _dataset_path(name: str) -> Path:
    if name == "sample":
        return Path(__file__).resolve().parent.parent / "sample" / "cifar10-sample.npz"
    path = Path(name)
    if path.suffix.lower() != ".npz":
        raise DataError(f"--dataset must be 'sample' or an .npz file with x_train, got {name!r}")
    return path


def _default_array(arrays: dict[str, np.ndarray], path: Path) -> str:
    if "x_test" in arrays:
        return "x_test"
    images = [k for k, v in arrays.items() if v.ndim == 4]
    if len(images) != 1:
        raise InputError(f"{path} holds image arrays {images}; choose one with --array")
    return images[0]


def _image_array(arrays: dict[str, np.ndarray], name: str, path: Path) -> np.ndarray:
    if name not in arrays:
        raise InputError(f"{path} has no array {name!r} (arrays: {', '.join(arrays)})")
    a = arrays[name]
    if a.dtype.name != "uint8" or a.ndim != 4 or a.shape[-1] != 3:
        raise InputError(f"array {name!r} in {path} must be uint8 N x H x W x 3, got {a.dtype} {a.shape}")
    return a


__all__ = ["register", "cmd_attack"]
