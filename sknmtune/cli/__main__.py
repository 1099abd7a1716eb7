"""``python -m sknmtune.cli``: the ``sknmtune`` command."""

import sys

from ._main import main

sys.exit(main())
