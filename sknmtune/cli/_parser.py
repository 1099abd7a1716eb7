"""The ``sknmtune`` argument parser: the top-level options and one subparser per command module."""

from __future__ import annotations

import argparse

from .._version import __version__
from . import compare, demo, extract, fit, predict, rank, spectrum
from ._errors import PROG
from ._options import _add_common, _Formatter, _Parser

__all__ = ["build_parser"]

_EPILOG = "Run 'sknmtune <command> --help' for the options of a command."


def build_parser() -> argparse.ArgumentParser:
    """The ``sknmtune`` argument parser (one subparser per command).

    Each parsed command carries its handler as ``args.func``; :func:`sknmtune.cli.main` calls it.

    Returns
    -------
    parser : argparse.ArgumentParser

    Examples
    --------
    >>> from sknmtune.cli import build_parser
    >>> args = build_parser().parse_args(["spectrum", "features.npy", "--top", "3"])
    >>> args.command, args.top
    ('spectrum', 3)
    """
    parser = _Parser(
        prog=PROG,
        description=(
            "NMTune heads for frozen pre-trained backbones (ICLR 2024: label noise in pre-training).\n"
            "Start with 'sknmtune demo': it runs offline in about a minute on a laptop CPU."
        ),
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", required=True)
    for command in (demo, extract, fit, predict, spectrum, rank, compare):
        command._add_parser(sub)
    return parser
