"""Benchmark numbers in README.md and docs/, rendered from the stored results files (never typed by hand).

A document holds a rendered block as::

    <!-- rendered:NAME:start -->
    ...whatever RENDERERS[NAME] makes of benchmarks/results...
    <!-- rendered:NAME:end -->

``python -m benchmarks.render_docs`` rewrites every block of README.md and docs/**/*.md from the results;
``--check`` only compares and exits 1 on drift (``tests/test_docs_rendered.py`` runs the same check).

The renderers live in the harness (:mod:`benchmarks.harness.doc_renderers`,
:mod:`~benchmarks.harness.doc_renderers_accuracy`, :mod:`~benchmarks.harness.doc_renderers_studies`) and use the
report code the benchmark scripts use; this command is a leaf like every script.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness.doc_renderers import (
    claims, claims_short, domain_shift_claims, domain_shift_cv_options, domain_shift_selection, domain_shift_views,
    domain_shift_vote,
    which_head,
)
from benchmarks.harness.doc_renderers_accuracy import (
    ablation, accuracy_claims, accuracy_runtime, accuracy_summary, accuracy_validation, cv_budget, cv_ensemble, cv_race,
    cv_rule, imagenet_claims, imagenet_pairs, imagenet_runtime, imagenet_targets, imagenet_validation, label_noise,
)
from benchmarks.harness.doc_renderers_studies import (
    cost_choice, distributed, extraction_compile, fit_time, fit_time_batching, fit_time_sweep, gpu_reload,
    noisy_pretraining, noisy_pretraining_gpu,
    ranking, regression_defaults, regression_sick, step_cost,
)
from benchmarks.harness.io import RESULTS_DIR, ROOT

__all__ = ["RENDERERS", "documents", "render_text", "main"]

_BLOCK = re.compile(r"(<!-- rendered:(?P<name>[a-z0-9-]+):start -->\n)(?P<body>.*?)(<!-- rendered:(?P=name):end -->)",
                    re.DOTALL)


#: block name -> renderer(results folder) -> markdown
RENDERERS: dict[str, Callable[[Path], str]] = {
    "which-head": which_head,
    "claims": claims,
    "claims-short": claims_short,
    "domain-shift-claims": domain_shift_claims,
    "domain-shift-views": domain_shift_views,
    "domain-shift-cv-options": domain_shift_cv_options,
    "domain-shift-vote": domain_shift_vote,
    "domain-shift-selection": domain_shift_selection,
    "imagenet-claims": imagenet_claims,
    "imagenet-targets": imagenet_targets,
    "imagenet-pairs": imagenet_pairs,
    "imagenet-validation": imagenet_validation,
    "accuracy-summary": accuracy_summary,
    "accuracy-claims": accuracy_claims,
    "accuracy-validation": accuracy_validation,
    "accuracy-runtime": accuracy_runtime,
    "imagenet-runtime": imagenet_runtime,
    "ablation": ablation,
    "label-noise": label_noise,
    "cv-budget": cv_budget,
    "cv-rule": cv_rule,
    "cv-ensemble": cv_ensemble,
    "cv-race": cv_race,
    "fit-time": fit_time,
    "fit-time-batching": fit_time_batching,
    "fit-time-sweep": fit_time_sweep,
    "cost-choice": cost_choice,
    "step-cost": step_cost,
    "gpu-reload": gpu_reload,
    "extraction-compile": extraction_compile,
    "distributed": distributed,
    "ranking": ranking,
    "regression-sick": regression_sick,
    "regression-defaults": regression_defaults,
    "noisy-pretraining": noisy_pretraining,
    "noisy-pretraining-gpu": noisy_pretraining_gpu,
}

#: a markdown link to a file of the repository's benchmarks/ folder
_BENCHMARK_LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<path>benchmarks/[^)\s]*)\)")


def _link(match: re.Match, relative_to: Path) -> str:
    """A link to benchmarks/ for a document in ``relative_to``: relative from the README's side of the tree; a
    code span under docs/, whose site (mkdocs, strict) holds no file outside docs/."""
    text, path = match.group("text"), match.group("path")
    if relative_to.parts and relative_to.parts[0] == "docs":
        return f"`{path}`" if text.strip("`") == path else f"{text} (`{path}`)"
    return f"[{text}]({'../' * len(relative_to.parts)}{path})"


def render_text(text: str, results: Path, *, relative_to: Path | None = None) -> str:
    """``text`` with every rendered block replaced by its renderer's output. ``relative_to`` is the document's
    folder from the repository root: links to benchmarks/ are made relative to it, or code spans under docs/."""

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in RENDERERS:
            raise KeyError(f"unknown rendered block {name!r}; known: {sorted(RENDERERS)}")
        body = RENDERERS[name](results)
        if relative_to is not None and relative_to != Path("."):
            body = _BENCHMARK_LINK.sub(lambda link: _link(link, relative_to), body)
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
