"""``ppbench list``, ``keygen``, ``encrypt`` and ``decrypt``: the registries, key files and image files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from ..errors import PPBenchError
from ._common import add_command, add_details


# -- list -----------------------------------------------------------------------------------------------
def _lister(what: str) -> Callable[[str], list[tuple[str, str, str]]]:
    """Rows (name, origin, description): origin is ``builtin`` or the plugin that registered the entry."""

    def schemes(pattern: str) -> list[tuple[str, str, str]]:
        from ..schemes import SCHEMES, list_schemes, scheme_info

        return [(n, SCHEMES.origin(n), scheme_info(n).title) for n in list_schemes(pattern)]

    def networks(pattern: str) -> list[tuple[str, str, str]]:
        from ..networks import NETWORKS, list_networks, network_info

        return [(n, NETWORKS.origin(n), getattr(network_info(n), "notes", "") or getattr(network_info(n), "family", ""))
                for n in list_networks(pattern)]

    def attacks(pattern: str) -> list[tuple[str, str, str]]:
        from ..attacks import ATTACKS, attack_info, list_attacks

        return [(n, ATTACKS.origin(n), attack_info(n).title) for n in list_attacks(pattern)]

    def profiles(pattern: str) -> list[tuple[str, str, str]]:
        from ..profiles import PROFILES, list_profiles, get_profile

        return [(n, PROFILES.origin(n), get_profile(n).description) for n in list_profiles(pattern)]

    return {"schemes": schemes, "networks": networks, "attacks": attacks, "profiles": profiles}[what]


def cmd_list(args: argparse.Namespace) -> int:
    rows = _lister(args.what)(args.pattern)
    width = max((len(n) for n, _, _ in rows), default=0)
    origin_width = max((len(o) for _, o, _ in rows), default=0)
    for name, origin, text in rows:
        print(f"{name:<{width}}  {origin:<{origin_width}}  {text}".rstrip())
    return 0


# -- keys and files -------------------------------------------------------------------------------------
def cmd_keygen(args: argparse.Namespace) -> int:
    from ..keys import KEY_FORMAT_VERSION, SchemeKey
    from ..schemes import generate_key

    if args.upgrade is not None:
        extra = [flag for flag, value in (("--scheme", args.scheme), ("--image-size", args.image_size),
                                          ("--block-size", args.block_size), ("--out", args.out)) if value is not None]
        if extra:
            raise PPBenchError(f"--upgrade rewrites the key file in place and takes no {', '.join(extra)}; drop them")
        key = SchemeKey.upgrade(args.upgrade)
        print(f"upgraded {args.upgrade} to format version {KEY_FORMAT_VERSION} ({key.describe()}, key_id {key.key_id}, "
              "mode 0600); check these are the settings the key was made for")
        return 0
    missing = [flag for flag, value in (("--scheme", args.scheme), ("--out", args.out)) if value is None]
    if missing:
        raise PPBenchError(f"keygen needs {' and '.join(missing)}; e.g. `ppbench keygen --scheme proposed --out key.json`")
    key = generate_key(args.scheme, image_size=args.image_size, block_size=args.block_size)
    key.save(args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} ({key.describe()}, key_id {key.key_id}, mode 0600)")
    return 0


def _scheme_from_args(args: argparse.Namespace):
    from ..schemes import create_scheme, scheme_info

    if args.key is None and scheme_info(args.scheme).name != "plain":
        raise PPBenchError(f"--key KEY is required for scheme {args.scheme!r}; make one with `ppbench keygen --scheme {args.scheme} --out KEY.json`")
    return create_scheme(args.scheme, key=args.key, block_size=args.block_size)


def cmd_transform(args: argparse.Namespace) -> int:
    from ..files import transform_path

    scheme = _scheme_from_args(args)
    transform = scheme.encrypt if args.command == "encrypt" else scheme.decrypt
    count = transform_path(Path(args.input), Path(args.output), transform, resize=args.resize, overwrite=args.overwrite)
    verb = "encrypted" if args.command == "encrypt" else "decrypted"
    print(f"{verb} {count} image(s) with {args.scheme} -> {args.output}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``list``, ``keygen``, ``encrypt`` and ``decrypt``."""
    p = add_command(sub, "list", cmd_list,
                    "list registered schemes, networks, attacks or profiles: name, origin (builtin or the plugin "
                    "that registered it), description",
                    "  ppbench list schemes\n  ppbench list networks 'vit*'\n"
                    "  ppbench --plugin my_schemes.py list schemes")
    p.add_argument("what", choices=["schemes", "networks", "attacks", "profiles"])
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch wildcard (default: *)")

    p = add_command(sub, "keygen", cmd_keygen, "generate a secret key file (256 bits from the OS CSPRNG, mode 0600)",
                    "  ppbench keygen --scheme proposed --out key.json            # 224x224, block 16 (the paper)\n"
                    "  ppbench keygen --scheme le --image-size 32 --block-size 4 --out le.json\n"
                    "  ppbench keygen --upgrade old-key.json                      # version 1 -> 2, same key")
    add_details(p, "The file is created exclusively (never over an existing one without --overwrite) and sealed\n"
                   "with a checksum: an edited key file is refused, as is one that group or others can read\n"
                   "(fix: chmod 600 KEY). --upgrade seals a key file of format version 1 as version 2.")
    p.add_argument("--scheme", help="the scheme the key is for (required unless --upgrade)")
    p.add_argument("--image-size", type=int, help="image height = width (default: the scheme's paper setting)")
    p.add_argument("--block-size", type=int, help="block size M, block-wise schemes only (default: the paper's)")
    p.add_argument("--out", type=Path, help="key file to write (required unless --upgrade)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing key file")
    p.add_argument("--upgrade", type=Path, metavar="KEY", help="rewrite the version-1 key file KEY as version 2 (same secret and key_id)")

    for name, verb in (("encrypt", "encrypt"), ("decrypt", "decrypt")):
        p = add_command(sub, name, cmd_transform,
                        f"{verb} an image file, a folder of images (structure kept) or an .npz of uint8 NHWC arrays",
                        ("  ppbench encrypt --scheme proposed --key key.json --resize 224 images/ enc/\n" if name == "encrypt"
                        else "  ppbench decrypt --scheme proposed --key key.json enc/ dec/\n")
                        + f"  ppbench {name} --scheme le --key le.json cifar.npz out.npz")
        add_details(p, "Images must be 8-bit RGB (or fully opaque RGBA); 16-bit, palette, grey and translucent ones are\n"
                       "refused. OUTPUT must be separate from INPUT: one that is INPUT, lies inside it or contains it\n"
                       "is refused. An existing OUTPUT is refused unless --overwrite, which replaces only the files\n"
                       "this run writes and never deletes anything else. A folder is built whole beside OUTPUT and\n"
                       "moved in at the end; two inputs that give one output name (a.png, a.jpg) are refused.")
        p.add_argument("--scheme", required=True)
        p.add_argument("--key", type=Path, help="key file made by `ppbench keygen` for this scheme")
        p.add_argument("--block-size", type=int, help="must match the key file's block size")
        if name == "encrypt":
            p.add_argument("--resize", type=int, metavar="SIZE",
                           help="bicubic resize to SIZE x SIZE before encryption (the paper: --resize 224)")
        p.add_argument("--overwrite", action="store_true",
                       help="replace the files this run writes in an existing OUTPUT (nothing else is removed)")
        p.add_argument("input", metavar="INPUT")
        p.add_argument("output", metavar="OUTPUT")
        p.set_defaults(resize=None)
