"""The cost issue's decisions, made by code from the PACS study's validation records (never a target domain).

Does searching on a subsample of rows (``NMTuneClassifierCV(selection_rows=N)``) or early-stopping the vote's MLP
members keep today's choice? Each change is adopted when its paired difference to today's default stays above a
-0.2-point margin at the lower end of its 95 % interval over independent clusters
(:mod:`benchmarks.harness.cost_report`)::

    .venv/bin/python -m benchmarks.cost_choice      # -> results/cost_choice.json and cost_choice.md

Run it again whenever ``pacs_domainbed.json`` grows (``python -m benchmarks.render_docs`` then re-renders the
guides' block from the JSON).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.harness.cost_report import decide, report_lines
from benchmarks.harness.io import RESULTS_DIR, atomic_write_text, log, read_json, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    results = Path(args.results_dir)
    records = read_json(results / "pacs_domainbed.json", [])
    if not records:
        log("no PACS records: run `python -m benchmarks.pacs_domainbed` first")
        return 1
    decision = decide(records)
    write_json(results / "cost_choice.json", {"benchmark": "cost_choice", "source": "pacs_domainbed.json",
                                              **decision})
    text = ["# Cheaper defaults, decided on validation records", "",
            "Written by `python -m benchmarks.cost_choice` from `pacs_domainbed.json` (the sources' validation parts).",
            "", *report_lines(decision), ""]
    atomic_write_text(results / "cost_choice.md", "\n".join(text))
    for c in decision["changes"]:
        log(f"{c['default']} -> {c['candidate']}: adopt={c['adopt']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
