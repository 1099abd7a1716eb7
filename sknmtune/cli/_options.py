"""What the ``sknmtune`` subcommands' parsers share: the parser and help classes, option types, common options.

Every command module (``extract``, ``fit``, ...) registers its subparser with these pieces;
:mod:`sknmtune.cli._parser` assembles them. Nothing here imports torch: ``sknmtune --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._errors import _UsageError

_COMMANDS = ("demo", "extract", "fit", "predict", "spectrum", "rank", "compare")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become one-line messages instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "required: COMMAND" in message:
            message = "missing command: choose one of " + ", ".join(_COMMANDS)
        raise _UsageError(f"{message} (see '{self.prog} --help')")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep hand-wrapped descriptions; show meaningful defaults (not None / False).

    A help text may name :data:`_PRESETS_FIELD`: it is replaced by the names of
    :data:`sknmtune.heads.PRESETS` when the help is printed (only then is the classifier,
    and with it torch, imported).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if _PRESETS_FIELD in text:
            text = text.replace(_PRESETS_FIELD, ", ".join(_preset_names()))
        default = action.default
        if (
            "%(default)" not in text
            and action.option_strings
            and default is not None
            and default is not False
            and default is not argparse.SUPPRESS
            and not isinstance(default, list)
        ):
            text += " (default: %(default)s)"
        return text


#: Stands in a help text for the preset names (see :class:`_Formatter`).
_PRESETS_FIELD = "{presets}"


def _preset_names() -> tuple[str, ...]:
    """The names of :data:`sknmtune.heads.PRESETS` (imports the classifier, so torch)."""
    from ..heads import PRESETS

    return tuple(PRESETS)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--traceback", action="store_true", default=argparse.SUPPRESS,
        help="show the full Python traceback on errors (for debugging)",
    )


def _add_label_column(parser: Any) -> None:
    parser.add_argument(
        "--label-column", metavar="NAME",
        help="the labels are column NAME of a CSV labels file with a header row (default: one label per line)",
    )


class _TrustType(argparse.Action):
    """``--trusted-type NAME``: add NAME to the list ``args.trusted`` (unless ``--trusted`` trusts everything)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, False)
        if current is not True:
            setattr(namespace, self.dest, [*(current or []), values])


def _add_trusted(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trusted", action="store_true",
        help="also load a pickle / joblib model file; unpickling runs code from the file, so only for trusted files",
    )
    parser.add_argument(
        "--trusted-type", action=_TrustType, dest="trusted", default=argparse.SUPPRESS, metavar="NAME",
        help="a custom torch module type the .skn file may import and build (e.g. mypkg.nets.MyNet); repeatable. "
             "sknmtune.persistence.get_untrusted_types(path) lists the types a file names",
    )


def _add_device(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    parser.add_argument(
        "--device", default=default, metavar="DEVICE",
        help="torch device: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps",
    )
