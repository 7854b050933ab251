"""What every ``ppbench`` subcommand shares: the help layout, how a command is added, the one-line errors.

A command module defines ``register(subparsers)`` and handlers ``cmd_*(args) -> int``; heavy libraries
(torch, pandas, matplotlib, submitit) are imported inside the handlers, so ``ppbench --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from ..errors import PPBenchError

Handler = Callable[[argparse.Namespace], int | None]
Subparsers = argparse._SubParsersAction


def formatter(prog: str) -> argparse.HelpFormatter:
    """The help layout of every command: descriptions and epilogs as written, options aligned at column 32."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def add_command(sub: Subparsers, name: str, handler: Handler, help: str, examples: str = "", *,
                epilog: str | None = None) -> argparse.ArgumentParser:
    """Add subcommand ``name``: ``help`` is its one line in the command list and the start of its --help,
    then an ``examples:`` section (``examples``) or, for long ones, an ``epilog``."""
    parser = sub.add_parser(name, help=help, description=help + (f"\n\nexamples:\n{examples}" if examples else ""),
                            epilog=epilog, formatter_class=formatter)
    parser.set_defaults(handler=handler)
    return parser


def add_details(parser: argparse.ArgumentParser, details: str) -> None:
    """Put a paragraph of rules into a command's --help, after its one-line summary (not in the command list)."""
    summary, sep, rest = (parser.description or "").partition("\n\n")
    parser.description = f"{summary}\n\n{details}" + (f"\n\n{rest}" if sep else "")


def ssim_threshold(text: str) -> float:
    """``--ssim-threshold T``: a float in [0, 1] (argparse prints the error and exits 2 otherwise)."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"SSIM threshold must be in [0, 1], got {text}")
    return value


def run_guarded(action: Callable[[], int | None]) -> int:
    """Run a command; an error the user can fix becomes one line ``ppbench: error: <problem>; <fix>`` and status 2."""
    try:
        return int(action() or 0)
    except PPBenchError as exc:
        print(f"ppbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ppbench: interrupted", file=sys.stderr)
        return 130
