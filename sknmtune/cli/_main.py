"""The ``sknmtune`` command: ``demo``, ``extract``, ``fit``, ``predict``, ``spectrum`` and ``rank``.

The entry point :func:`main` parses the command line, runs one subcommand and turns
errors into a single line on stderr (``sknmtune: error: ...``) with exit status 2 for
bad input (missing files, wrong formats or values, missing optional dependencies) and
1 for failures at run time; ``--traceback`` shows the full Python traceback instead.
The file formats are described in :mod:`sknmtune.cli._io`.

Examples
--------
>>> from sknmtune.cli import main
>>> main(["spectrum", "missing.npy"])  # doctest: +SKIP
sknmtune: error: features file not found: missing.npy
2
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._errors import _INPUT_ERRORS, _fail, _one_line
from ._parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sknmtune`` command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, default=None
        The arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success, 2 for bad input (one line on stderr), 1 for a failure at run time,
        130 when interrupted.

    Examples
    --------
    >>> from sknmtune.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    sknmtune 0.2.0.dev0
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version exit through argparse
            return int(exc.code or 0) if not isinstance(exc.code, str) else _fail(exc.code, 2)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if show_traceback:
            raise
        return _fail("interrupted", 130)
    except Exception as exc:
        if show_traceback:
            raise
        return _fail(_one_line(exc), 2 if isinstance(exc, _INPUT_ERRORS) else 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
