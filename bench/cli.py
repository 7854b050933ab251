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
def _lister(what: str) -> Callable[[str], list[tuple[str, str, str]]]:
    """Rows (name, origin, description): origin is ``builtin`` or the plugin that registered the entry."""

    def schemes(pattern: str) -> list[tuple[str, str, str]]:
        from .schemes import SCHEMES, list_schemes, scheme_info

        return [(n, SCHEMES.origin(n), scheme_info(n).title) for n in list_schemes(pattern)]

    def networks(pattern: str) -> list[tuple[str, str, str]]:
        from .networks import NETWORKS, list_networks, network_info

        return [(n, NETWORKS.origin(n), getattr(network_info(n), "notes", "") or getattr(network_info(n), "family", ""))
                for n in list_networks(pattern)]

    def attacks(pattern: str) -> list[tuple[str, str, str]]:
        from .attacks import ATTACKS, attack_info, list_attacks

        return [(n, ATTACKS.origin(n), attack_info(n).title) for n in list_attacks(pattern)]

    def profiles(pattern: str) -> list[tuple[str, str, str]]:
        from .profiles import PROFILES, list_profiles, get_profile

        return [(n, PROFILES.origin(n), get_profile(n).description) for n in list_profiles(pattern)]

    return {"schemes": schemes, "networks": networks, "attacks": attacks, "profiles": profiles}[what]


def cmd_list(args: argparse.Namespace) -> int:
    rows = _lister(args.what)(args.pattern)
    width = max((len(n) for n, _, _ in rows), default=0)
    origin_width = max((len(o) for _, o, _ in rows), default=0)
    for name, origin, text in rows:
        print(f"{name:<{width}}  {origin:<{origin_width}}  {text}".rstrip())
    return 0


def _load_plugins(args: argparse.Namespace) -> None:
    """Load ``--plugin`` and ``PPBENCH_PLUGINS`` modules now (a broken one only warns; installed entry points
    load when a registry is first listed or misses a name), and pass the ``--plugin`` modules on to child
    processes (sweeps, DDP workers) through ``PPBENCH_PLUGINS``."""
    import os

    from .plugins import ENV_VAR, env_modules, load_plugins

    modules = list(args.plugin or [])
    load_plugins(modules, entry_points=False)
    inherited = env_modules()
    extra = [str(Path(m).resolve()) if m.endswith(".py") else m for m in modules]
    extra = [m for m in extra if m not in inherited]
    if extra:
        os.environ[ENV_VAR] = ",".join(inherited + extra)


# -- keys and files -------------------------------------------------------------------------------------
def cmd_keygen(args: argparse.Namespace) -> int:
    from .keys import KEY_FORMAT_VERSION, SchemeKey
    from .schemes import generate_key

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
def _add_details(parser: argparse.ArgumentParser, details: str) -> None:
    """Put a paragraph of rules into a command's --help, after its one-line summary (not in the command list)."""
    summary, sep, rest = (parser.description or "").partition("\n\n")
    parser.description = f"{summary}\n\n{details}" + (f"\n\n{rest}" if sep else "")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ppbench",
        description="ppbench: what learnable image encryption really protects, measured side by side.",
        formatter_class=_formatter,
        epilog="run `ppbench COMMAND --help` for each command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"ppbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--plugin", action="append", metavar="MODULE",
                        help="import MODULE (a module name or a .py file) that registers schemes or attacks; "
                             "repeatable (see docs/plugins.md; also PPBENCH_PLUGINS and installed entry points)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _subparser(sub, "list", cmd_list,
                   "list registered schemes, networks, attacks or profiles: name, origin (builtin or the plugin "
                   "that registered it), description",
                   "  ppbench list schemes\n  ppbench list networks 'vit*'\n"
                   "  ppbench --plugin my_schemes.py list schemes")
    p.add_argument("what", choices=["schemes", "networks", "attacks", "profiles"])
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch wildcard (default: *)")

    p = _subparser(sub, "keygen", cmd_keygen, "generate a secret key file (256 bits from the OS CSPRNG, mode 0600)",
                   "  ppbench keygen --scheme proposed --out key.json            # 224x224, block 16 (the paper)\n"
                   "  ppbench keygen --scheme le --image-size 32 --block-size 4 --out le.json\n"
                   "  ppbench keygen --upgrade old-key.json                      # version 1 -> 2, same key")
    _add_details(p, "The file is created exclusively (never over an existing one without --overwrite) and sealed\n"
                    "with a checksum: an edited key file is refused, as is one that group or others can read\n"
                    "(fix: chmod 600 KEY). --upgrade seals a key file of format version 1 as version 2.")
    p.add_argument("--scheme", help="the scheme the key is for (required unless --upgrade)")
    p.add_argument("--image-size", type=int, help="image height = width (default: the scheme's paper setting)")
    p.add_argument("--block-size", type=int, help="block size M, block-wise schemes only (default: the paper's)")
    p.add_argument("--out", type=Path, help="key file to write (required unless --upgrade)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing key file")
    p.add_argument("--upgrade", type=Path, metavar="KEY", help="rewrite the version-1 key file KEY as version 2 (same secret and key_id)")

    for name, verb in (("encrypt", "encrypt"), ("decrypt", "decrypt")):
        p = _subparser(sub, name, cmd_transform,
                       f"{verb} an image file, a folder of images (structure kept) or an .npz of uint8 NHWC arrays",
                       ("  ppbench encrypt --scheme proposed --key key.json --resize 224 images/ enc/\n" if name == "encrypt"
                        else "  ppbench decrypt --scheme proposed --key key.json enc/ dec/\n")
                       + f"  ppbench {name} --scheme le --key le.json cifar.npz out.npz")
        _add_details(p, "Images must be 8-bit RGB (or fully opaque RGBA); 16-bit, palette, grey and translucent ones are\n"
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
from .scorecard_cli import register as _register_scorecard; _EXTRA_COMMANDS.append(_register_scorecard)  # noqa: E402,E702


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        _load_plugins(args)
        return int(args.handler(args) or 0)
    except PPBenchError as exc:
        print(f"ppbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ppbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
