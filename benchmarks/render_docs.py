"""Benchmark numbers in README.md and docs/, rendered from the stored results files (never typed by hand).

A document holds a rendered block as::

    <!-- rendered:NAME:start -->
    ...whatever RENDERERS[NAME] makes of benchmarks/results...
    <!-- rendered:NAME:end -->

``python -m benchmarks.render_docs`` rewrites every block of README.md and docs/**/*.md from the results;
``--check`` only compares and exits 1 on drift (``tests/test_docs_rendered.py`` runs the same check).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness.io import RESULTS_DIR, ROOT, read_json

__all__ = ["RENDERERS", "documents", "render_text", "main"]

_BLOCK = re.compile(r"(<!-- rendered:(?P<name>[a-z0-9-]+):start -->\n)(?P<body>.*?)(<!-- rendered:(?P=name):end -->)",
                    re.DOTALL)


def _pts(x: float) -> str:
    return f"{100 * x:+.2f}"


def which_head(results: Path) -> str:
    """The decision of ``head_choice.json`` (validation only): against the probe and the default, pooled and with
    each PACS domain left out."""
    data = read_json(results / "head_choice.json", {})
    decisions = data.get("decisions", {})
    if not decisions:
        return "(no decision stored yet: run `python -m benchmarks.head_choice`)\n"
    evidence = ", ".join(f"{name} ({e['clusters']} clusters)" for name, e in data["evidence"].items())
    lines = [f"Decided by `sknmtune.evaluation.recommend_head` on validation records only: {evidence}.", ""]
    for summary in decisions.values():
        pooled = summary["pooled"]
        lines.append(f"- Against `{pooled['reference']}`: {pooled['statement']} With each PACS domain left out, the "
                     f"decision changes for {summary['n_changed']} of {len(summary['per_target'])} domains"
                     + (f" ({', '.join(summary['changed'])})." if summary["changed"] else "."))
    lines += ["", "Full table: [`benchmarks/results/head_choice.md`](benchmarks/results/head_choice.md)."]
    return "\n".join(lines) + "\n"


def claims(results: Path) -> str:
    """The paper's claims on PACS at DomainBed scale (``pacs_domainbed_claims.json``): main claim and chain per
    backbone, protocol and variant, with every comparison's interval and cluster count."""
    rows = read_json(results / "pacs_domainbed_claims.json", [])
    if not rows:
        return "(no PACS claims stored yet: run `python -m benchmarks.pacs_domainbed`)\n"
    seeds = read_json(results / "pacs_domainbed.json", [])
    n_seeds = len({r["seed"] for r in seeds})
    keep = [r for r in rows if r["claim"] in ("NMTune > max(LP, MLP)", "NMTune > MLP > LP")]
    lines = [f"PACS, all 9,991 images, DomainBed protocols, {n_seeds} trial seeds; OOD accuracy differences in points "
             "with 95 % intervals over target domains (multi-source: 4) or (source, target) pairs (single-source: 6); "
             "below 6 clusters the verdict is the exact sign-flip test's.", "",
             "| backbone / protocol | variant | claim | verdict | comparisons |", "|---|---|---|---|---|"]
    for r in keep:
        comps = "; ".join(f"{c['a']} − {c['b']} {_pts(c['mean'])} [{_pts(c['low'])}, {_pts(c['high'])}]"
                          for c in r["comparisons"])
        lines.append(f"| {r['backbone']} / {r['protocol']} | {r['variant']} | {r['claim']} | {r['verdict']} | {comps} |")
    lines += ["", "Full report: [`benchmarks/results/pacs_domainbed.md`](benchmarks/results/pacs_domainbed.md)."]
    return "\n".join(lines) + "\n"


#: block name -> renderer(results folder) -> markdown
RENDERERS: dict[str, Callable[[Path], str]] = {"which-head": which_head, "claims": claims}


def render_text(text: str, results: Path, *, relative_to: Path | None = None) -> str:
    """``text`` with every rendered block replaced by its renderer's output (links made relative to the document's
    folder ``relative_to``, given from the repository root)."""

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in RENDERERS:
            raise KeyError(f"unknown rendered block {name!r}; known: {sorted(RENDERERS)}")
        body = RENDERERS[name](results)
        if relative_to is not None and relative_to != Path("."):
            up = "../" * len(relative_to.parts)
            body = body.replace("](benchmarks/", f"]({up}benchmarks/")
        return match.group(1) + body + match.group(4)

    return _BLOCK.sub(replace, text)


def documents(root: Path = ROOT) -> list[Path]:
    """README.md and every markdown file under docs/ that holds a rendered block."""
    paths = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return [p for p in paths if p.is_file() and "<!-- rendered:" in p.read_text(encoding="utf-8")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a document differs from its rendering")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    drift: list[Any] = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        rendered = render_text(text, Path(args.results_dir), relative_to=path.parent.relative_to(ROOT))
        if rendered != text:
            drift.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(rendered, encoding="utf-8")
    if args.check and drift:
        print("rendered blocks out of date (run python -m benchmarks.render_docs): " + ", ".join(map(str, drift)))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
