"""No hand-typed benchmark interval in the guarded documents: outside a rendered block, no ``[+0.12, -0.34]`` and no
``84.6 ± 0.3``.

Rendered blocks (``<!-- rendered:NAME:start -->`` ... ``<!-- rendered:NAME:end -->``, ``benchmarks/render_docs.py``)
are written from ``benchmarks/results/*.json`` by a script and checked for drift by ``tests/test_docs_rendered.py``;
everything else in these documents is typed by hand, so an interval or a mean ± spread there is a number that can
silently go stale. The scanner is tested on synthetic text, so the guard is known to fail when it should.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: the documents whose benchmark figures must all be rendered: these four first, then every published page
#: (docs/dev/ holds internal notes, not published)
_FIRST = ("README.md", "docs/guide/method.md", "docs/guide/benchmark.md", "docs/getting-started.md")
GUARDED = _FIRST + tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")
                                if "dev" not in p.relative_to(ROOT / "docs").parts[:1]
                                and str(p.relative_to(ROOT)) not in _FIRST))

_BLOCK = re.compile(r"<!-- rendered:(?P<name>[a-z0-9-]+):start -->\n.*?<!-- rendered:(?P=name):end -->", re.DOTALL)
_NUMBER = r"[+\-−]?\d+(?:[.,]\d+)*(?:\.\d+)?\s*%?"
_DECIMAL = r"[+\-−]?\d+(?:,\d{3})*\.\d+\s*%?"
#: ``[+0.12, -0.34]``, ``[0.18, 0.75]``, ``[−1.00, +5.20] %``: a bracketed pair with a decimal in it
_INTERVAL = re.compile(rf"\[\s*(?:{_DECIMAL}\s*[,;]\s*{_NUMBER}|{_NUMBER}\s*[,;]\s*{_DECIMAL})\s*\]")
#: ``84.6 ± 0.3``, ``3 ± 0.25``, ``0.5±1``: a mean ± spread with a decimal in it
_PLUS_MINUS = re.compile(rf"(?:{_DECIMAL}\s*±\s*{_NUMBER}|{_NUMBER}\s*±\s*{_DECIMAL})")


def outside_rendered_blocks(text: str) -> str:
    """``text`` with every rendered block's body blanked (line breaks kept, so line numbers still hold)."""
    return _BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def hand_typed_figures(text: str) -> list[tuple[int, str]]:
    """``(line number, figure)`` for every interval or mean ± spread outside the rendered blocks of ``text``."""
    found = []
    for number, line in enumerate(outside_rendered_blocks(text).split("\n"), 1):
        found += [(number, m.group(0).strip()) for pattern in (_INTERVAL, _PLUS_MINUS) for m in pattern.finditer(line)]
    return found


@pytest.mark.parametrize("document", GUARDED)
def test_guarded_documents_carry_no_hand_typed_interval(document):
    text = (ROOT / document).read_text(encoding="utf-8")
    found = hand_typed_figures(text)
    assert not found, (f"{document}: hand-typed benchmark figures outside a rendered block (render them from "
                       f"benchmarks/results with benchmarks/render_docs.py, or point to the report): {found}")


def test_the_scanner_finds_intervals_and_spreads_in_prose():
    text = ("NMTune − LP +1.34 [+0.70, +2.07] on EfficientNet-Lite0,\n"
            "the vote scored 0.40 [0.18, 0.75] points lower,\n"
            "an interval with Unicode minus signs: [−1.00, +5.20];\n"
            "mean validation accuracy 84.6 ± 0.3 %, and 3 ± 0.25 too.\n")
    assert hand_typed_figures(text) == [(1, "[+0.70, +2.07]"), (2, "[0.18, 0.75]"), (3, "[−1.00, +5.20]"),
                                        (4, "84.6 ± 0.3 %"), (4, "3 ± 0.25")]


def test_the_scanner_ignores_rendered_blocks_and_non_figures():
    text = ("<!-- rendered:claims:start -->\n"
            "| a | +0.93 [+0.17, +1.49] | 84.6 ± 0.3 |\n"
            "<!-- rendered:claims:end -->\n"
            "Eq. 3 is a squared norm per sample, in `[0, 4]`; `noise_rate` in [0, 1) and `x[0, 1]`.\n"
            "A list `[0, 0.001, 0.01]` has three values; ± alone, or ±2 points, is not a mean ± spread.\n")
    assert hand_typed_figures(text) == []


def test_the_four_documents_the_issue_names_are_guarded():
    assert set(_FIRST) <= set(GUARDED) and len(GUARDED) > len(_FIRST)
    assert all((ROOT / document).is_file() for document in GUARDED)


def test_a_block_does_not_hide_what_follows_it():
    text = ("<!-- rendered:claims:start -->\n+1.00 [+0.10, +2.00]\n<!-- rendered:claims:end -->\n"
            "typed by hand: +1.00 [+0.10, +2.00]\n"
            "<!-- rendered:other:start -->\n<!-- rendered:other:end -->\n")
    assert hand_typed_figures(text) == [(4, "[+0.10, +2.00]")]
