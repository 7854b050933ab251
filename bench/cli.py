"""The ``ppbench`` command line: thin argparse front ends over the library.

Every subcommand has ``--help`` with copy-pasteable examples. Errors a user can fix print one line,
``ppbench: error: <problem>; <fix>``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .errors import PPBenchError

log = logging.getLogger("ppbench")

Handler = Callable[[argparse.Namespace], int | None]


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _subparser(sub, name: str, handler: Handler, help: str, examples: str = "") -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help + (f"\n\nexamples:\n{examples}" if examples else ""),
                            formatter_class=_formatter)
    parser.set_defaults(handler=handler)
    return parser


# -- list -----------------------------------------------------------------------------------------------
def _lister(what: str) -> Callable[[str], list[tuple[str, str]]]:
    def schemes(pattern: str) -> list[tuple[str, str]]:
        from .schemes import list_schemes, scheme_info

        return [(n, scheme_info(n).title) for n in list_schemes(pattern)]

    def networks(pattern: str) -> list[tuple[str, str]]:
        from .networks import list_networks, network_info

        return [(n, getattr(network_info(n), "notes", "") or getattr(network_info(n), "family", "")) for n in list_networks(pattern)]

    def attacks(pattern: str) -> list[tuple[str, str]]:
        from .attacks import attack_info, list_attacks

        return [(n, attack_info(n).title) for n in list_attacks(pattern)]

    def profiles(pattern: str) -> list[tuple[str, str]]:
        from .profiles import list_profiles, get_profile

        return [(n, get_profile(n).description) for n in list_profiles(pattern)]

    return {"schemes": schemes, "networks": networks, "attacks": attacks, "profiles": profiles}[what]


def cmd_list(args: argparse.Namespace) -> int:
    rows = _lister(args.what)(args.pattern)
    width = max((len(n) for n, _ in rows), default=0)
    for name, text in rows:
        print(f"{name:<{width}}  {text}".rstrip())
    return 0


# -- keys and files -------------------------------------------------------------------------------------
def cmd_keygen(args: argparse.Namespace) -> int:
    from .schemes import generate_key

    key = generate_key(args.scheme, image_size=args.image_size, block_size=args.block_size)
    key.save(args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} ({key.describe()}, key_id {key.key_id}, mode 0600)")
    return 0


def _scheme_from_args(args: argparse.Namespace):
    from .schemes import create_scheme, scheme_info

    if args.key is None and scheme_info(args.scheme).name != "plain":
        raise PPBenchError(f"--key KEY is required for scheme {args.scheme!r}; make one with `ppbench keygen --scheme {args.scheme} --out KEY.json`")
    return create_scheme(args.scheme, key=args.key, block_size=args.block_size)


def cmd_transform(args: argparse.Namespace) -> int:
    from .files import transform_path

    scheme = _scheme_from_args(args)
    transform = scheme.encrypt if args.command == "encrypt" else scheme.decrypt
    count = transform_path(Path(args.input), Path(args.output), transform, resize=args.resize, overwrite=args.overwrite)
    verb = "encrypted" if args.command == "encrypt" else "decrypted"
    print(f"{verb} {count} image(s) with {args.scheme} -> {args.output}")
    return 0


# -- parser ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ppbench",
        description="ppbench: what learnable image encryption really protects, measured side by side.",
        formatter_class=_formatter,
        epilog="run `ppbench COMMAND --help` for each command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"ppbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _subparser(sub, "list", cmd_list, "list registered schemes, networks, attacks or profiles",
                   "  ppbench list schemes\n  ppbench list networks 'vit*'")
    p.add_argument("what", choices=["schemes", "networks", "attacks", "profiles"])
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch wildcard (default: *)")

    p = _subparser(sub, "keygen", cmd_keygen, "generate a secret key file (256 bits from the OS CSPRNG, mode 0600)",
                   "  ppbench keygen --scheme proposed --out key.json            # 224x224, block 16 (the paper)\n"
                   "  ppbench keygen --scheme le --image-size 32 --block-size 4 --out le.json")
    p.add_argument("--scheme", required=True)
    p.add_argument("--image-size", type=int, help="image height = width (default: the scheme's paper setting)")
    p.add_argument("--block-size", type=int, help="block size M, block-wise schemes only (default: the paper's)")
    p.add_argument("--out", required=True, type=Path, help="key file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing key file")

    for name, verb in (("encrypt", "encrypt"), ("decrypt", "decrypt")):
        p = _subparser(sub, name, cmd_transform,
                       f"{verb} an image file, a folder of images (structure kept) or an .npz of uint8 NHWC arrays",
                       f"  ppbench {name} --scheme proposed --key key.json --resize 224 images/ out/\n"
                       f"  ppbench {name} --scheme le --key le.json cifar.npz out.npz")
        p.add_argument("--scheme", required=True)
        p.add_argument("--key", type=Path, help="key file made by `ppbench keygen` for this scheme")
        p.add_argument("--block-size", type=int, help="must match the key file's block size")
        if name == "encrypt":
            p.add_argument("--resize", type=int, metavar="SIZE",
                           help="bicubic resize to SIZE x SIZE before encryption (the paper: --resize 224)")
        p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
        p.add_argument("input", metavar="INPUT")
        p.add_argument("output", metavar="OUTPUT")
        p.set_defaults(resize=None)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


# Later subcommands (run, attack, report, ...) register themselves here: ``fn(subparsers) -> None``.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []
from .attack_cli import register as _register_attack; _EXTRA_COMMANDS.append(_register_attack)  # noqa: E402,E702
from .reports.cli import register as _register_report; _EXTRA_COMMANDS.append(_register_report)  # noqa: E402,E702
from .runner_cli import register as _register_run; _EXTRA_COMMANDS.append(_register_run)  # noqa: E402,E702
from .curve_cli import register as _register_curve; _EXTRA_COMMANDS.append(_register_curve)  # noqa: E402,E702
from .sweep_cli import register as _register_sweep; _EXTRA_COMMANDS.append(_register_sweep)  # noqa: E402,E702


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return int(args.handler(args) or 0)
    except PPBenchError as exc:
        print(f"ppbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ppbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
