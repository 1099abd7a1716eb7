"""How the ``sknmtune`` command reports a failure: one line on stderr and an exit status.

Bad input (missing files, wrong formats or values, missing optional dependencies) exits with 2,
a failure at run time with 1 (see :data:`_INPUT_ERRORS`).
"""

from __future__ import annotations

import sys

PROG = "sknmtune"


class _UsageError(Exception):
    """A command-line usage problem, reported in one line with exit status 2."""


class _NonFiniteResult(ArithmeticError):
    """A computed result that is NaN or infinite: a failure at run time (exit status 1)."""


# Exceptions that mean "the input or the environment is wrong" (exit 2); anything else is 1.
_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    _UsageError,
    ValueError,
    TypeError,
    KeyError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
    PermissionError,
    ImportError,
)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name not in str(exc):
        text = f"missing dependency {exc.name!r}: {exc}"
    elif isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code
