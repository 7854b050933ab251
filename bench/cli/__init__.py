"""The ``ppbench`` command line: thin argparse front ends over the library.

Every subcommand has ``--help`` with copy-pasteable examples. Errors a user can fix print one line,
``ppbench: error: <problem>; <fix>``, and exit with status 2. One module per command family registers its
subcommands (``register(subparsers)``); the shared pieces are in :mod:`ppbench.cli._common`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from .. import __version__
from . import attack, curve, files, recognise, report, run, scorecard, sweep
from ._common import formatter, run_guarded

log = logging.getLogger("ppbench")

# Each family adds its subcommands in this order (the order of `ppbench --help`'s command list).
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    files.register, attack.register, report.register, run.register, curve.register, sweep.register,
    scorecard.register, recognise.register,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``ppbench`` parser: global options, then every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="ppbench",
        description="ppbench: what learnable image encryption really protects, measured side by side.",
        formatter_class=formatter,
        epilog="run `ppbench COMMAND --help` for each command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"ppbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--plugin", action="append", metavar="MODULE",
                        help="import MODULE (a module name or a .py file) that registers schemes or attacks; "
                             "repeatable (see docs/plugins.md; also PPBENCH_PLUGINS and installed entry points)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def _load_plugins(args: argparse.Namespace) -> None:
    """Load ``--plugin`` and ``PPBENCH_PLUGINS`` modules now (a broken one only warns; installed entry points
    load when a registry is first listed or misses a name), and pass the ``--plugin`` modules on to child
    processes (sweeps, DDP workers) through ``PPBENCH_PLUGINS``."""
    import os

    from ..plugins import ENV_VAR, env_modules, load_plugins

    modules = list(args.plugin or [])
    load_plugins(modules, entry_points=False)
    inherited = env_modules()
    extra = [str(Path(m).resolve()) if m.endswith(".py") else m for m in modules]
    extra = [m for m in extra if m not in inherited]
    if extra:
        os.environ[ENV_VAR] = ",".join(inherited + extra)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's), load plugins, run the command; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")

    def command() -> int | None:
        _load_plugins(args)
        return args.handler(args)

    return run_guarded(command)


__all__ = ["build_parser", "main"]
