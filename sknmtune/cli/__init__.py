"""The ``sknmtune`` command line: ``demo``, ``extract``, ``fit``, ``predict``, ``spectrum``, ``rank``.

The command's parser and the ``extract`` / ``fit`` / ``predict`` / ``spectrum`` commands live in
:mod:`sknmtune.cli._main`, the demo (the paper's experiment in miniature, built on
:func:`sknmtune.evaluation.evaluate_heads`) in :mod:`sknmtune.cli.demo`, backbone ranking in
:mod:`sknmtune.cli.rank`. Importing this package loads numpy only; each command imports what it needs.
"""

from ._main import build_parser, main

__all__ = ["build_parser", "main"]
