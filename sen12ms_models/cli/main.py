"""The ``sen12ms-models`` parser and entry point. Parsing imports no torch (each command imports what it needs);
errors the library raises on purpose, file and network errors end in one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.metadata import version

from sen12ms_models.cli import models, predict, train
from sen12ms_models.errors import Sen12msError


def build_parser() -> argparse.ArgumentParser:
    """The full ``sen12ms-models`` parser (used by ``main`` and the docs generator)."""
    parser = argparse.ArgumentParser(
        prog="sen12ms-models",
        description="Verified, pretrained SEN12MS scene classifiers: list, download, predict, map, train.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('sen12ms-models')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (models, predict, train):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sen12ms-models`` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()  # the default format: the message alone
    logger = logging.getLogger("sen12ms_models")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    shown, warnings.formatwarning = warnings.formatwarning, _one_line
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, so that a reader who has gone (`| head`) is caught below
        return code
    except (Sen12msError, OSError, ValueError) as error:  # OSError: files, and the Hub's HTTP errors
        if isinstance(error, BrokenPipeError):  # `sen12ms-models list | head`: the reader has gone
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        message = str(error)
        if "\nOriginal Traceback" in message:  # re-raised from a DataLoader worker: the worker's own message
            message = message.rstrip().splitlines()[-1].split(": ", 1)[-1]
        print(f"sen12ms-models {args.command}: error: {message}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = shown  # an in-process caller keeps its own warning format
        logger.removeHandler(handler)
        logger.level = level


def _one_line(message: Warning | str, *_: object, **__: object) -> str:
    """A warning as one line, without the Python source line behind it."""
    return f"sen12ms-models: warning: {message}\n"
