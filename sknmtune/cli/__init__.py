"""The ``sknmtune`` command line: ``demo``, ``extract``, ``fit``, ``predict``, ``spectrum``, ``rank``.

One module per command (:mod:`~sknmtune.cli.demo`, :mod:`~sknmtune.cli.extract`,
:mod:`~sknmtune.cli.fit`, :mod:`~sknmtune.cli.predict`, :mod:`~sknmtune.cli.spectrum`,
:mod:`~sknmtune.cli.rank`), each registering its subparser (``_add_parser``) and its handler; they
share the file I/O of :mod:`sknmtune.cli._io`, the parser pieces of :mod:`sknmtune.cli._options`
and the error reporting of :mod:`sknmtune.cli._errors`. :mod:`sknmtune.cli._parser` assembles the
parser, :mod:`sknmtune.cli._main` holds the entry point. Importing this package loads numpy only;
each command imports what it needs when it runs.
"""

from ._main import main
from ._parser import build_parser

__all__ = ["build_parser", "main"]
