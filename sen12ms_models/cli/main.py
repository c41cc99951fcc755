"""The ``sen12ms-models`` parser and entry point.

Every subcommand is an argparse parser whose ``func`` takes the parsed namespace and returns
an exit code, so ``docs/cli.md`` can be generated from these definitions. Errors the library
raises on purpose, file and network errors end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from sen12ms_models import __version__
from sen12ms_models.cli import convert, mapping, models, predict, prepare, reproduce, train
from sen12ms_models.errors import Sen12msError


def build_parser() -> argparse.ArgumentParser:
    """The full ``sen12ms-models`` parser (used by ``main`` and the docs generator)."""
    parser = argparse.ArgumentParser(
        prog="sen12ms-models",
        description="Verified, pretrained SEN12MS scene classifiers: list, download, predict, train.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (models, predict, mapping, convert, prepare, train, reproduce):
        module.register(commands)
    return parser


def _one_line(message: Warning | str, category: type[Warning], *_: object, **__: object) -> str:
    """A warning as one line, without the Python source line behind it."""
    return f"sen12ms-models: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sen12ms-models`` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    shown, warnings.formatwarning = warnings.formatwarning, _one_line
    try:
        return int(args.func(args))
    except (Sen12msError, OSError, ValueError) as error:  # OSError: files, and the Hub's HTTP errors
        print(f"sen12ms-models {args.command}: error: {error}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = shown  # an in-process caller keeps its own warning format
