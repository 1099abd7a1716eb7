"""Markdown reports of evaluation records: per-method tables, paired claims with intervals, head selection.

Everything is computed from the records of :func:`sknmtune.evaluation.evaluate_heads` with
:func:`sknmtune.evaluation.seed_summary` and :func:`sknmtune.evaluation.paired_difference`, so a report
re-renders byte-identical from its stored JSON.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sknmtune.evaluation import paired_difference, seed_summary

from benchmarks.harness import io
from benchmarks.harness.methods import label as method_label

__all__ = ["CLAIM_VARIANTS", "DOMAIN_SHIFT_METHODS", "claim_rows", "fmt_diff", "select_heads", "selection_lines",
           "unit_table", "write_domain_shift_report"]


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:.1f}"


def fmt_diff(d: Any) -> str:
    """``+1.23 [+0.40, +2.01]`` (percentage points) or ``-`` when no unit is shared."""
    if d.n_units == 0:
        return "-"
    return f"{100 * d.mean:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"


def unit_table(records: list[dict[str, Any]], methods: Sequence[str], role: str = "ood",
               key: str = "accuracy") -> list[str]:
    """One row per method, one column per unit (target or source domain): the mean over seeds of the mean over
    the unit's ``role`` test sets ± their std (:func:`sknmtune.evaluation.seed_summary`), with the number of seeds;
    the last column averages the units every method in the table has (so rows compare on the same units)."""
    cells = seed_summary([r for r in records if r["role"] == role and r["method"] in methods], key, by=("method", "unit"))
    units = sorted({u for _, u in cells})
    shown = [m for m in methods if any((m, u) in cells for u in units)]
    common = [u for u in units if all((m, u) in cells for m in shown)]
    lines = ["| method | " + " | ".join(units) + f" | mean over {', '.join(common) or '-'} |",
             "|---" * (len(units) + 2) + "|"]
    for m in shown:
        row = []
        for u in units:
            if (m, u) not in cells:
                row.append("-")
                continue
            mean, std, n_seeds = cells[(m, u)]
            spread = f" ± {100 * std:.1f}" if n_seeds > 1 else ""
            row.append(f"{_pct(mean)}{spread} ({n_seeds})")
        mean = np.mean([cells[(m, u)][0] for u in common]) if common else None
        row.append(_pct(None if mean is None else float(mean)))
        lines.append(f"| {method_label(m)} | " + " | ".join(row) + " |")
    return lines


#: ``benchmarks/domain_shift.py``'s methods, in its report's order (names of :data:`benchmarks.harness.methods.METHODS`;
#: the soft votes of :data:`benchmarks.harness.ensembles.ENSEMBLES` follow them)
DOMAIN_SHIFT_METHODS = ("lp", "logreg", "mlp", "nmtune-paper", "mlp-authors", "mlp-authors-views", "nmtune-authors",
                        "nmtune-authors-views", "nmtune-default", "nmtune-default-views", "recommended",
                        "recommended-families", "recommended-groups")

#: the paper's claim "NMTune > MLP > LP", per variant: (NMTune head, MLP head, probe)
CLAIM_VARIANTS = {
    "paper equations": ("nmtune-paper", "mlp", "lp"),
    "authors' config, center crops": ("nmtune-authors", "mlp-authors", "lp"),
    "authors' config, augmented views": ("nmtune-authors-views", "mlp-authors-views", "lp"),
}


def claim_rows(records: list[dict[str, Any]], role: str, label: str) -> list[str]:
    """Paired differences NMTune − MLP, MLP − LP and NMTune − LP per claim variant, with verdicts."""
    lines = []
    for variant, (nm, mlp, lp) in CLAIM_VARIANTS.items():
        diffs = [paired_difference(records, a, b, role=role) for a, b in ((nm, mlp), (mlp, lp), (nm, lp))]
        if all(d.n_units == 0 for d in diffs):
            continue
        verdict = _claim_verdict(diffs[0], diffs[1])
        lines.append(f"| {label} | {variant} | " + " | ".join(f"{fmt_diff(d)} ({d.verdict})" for d in diffs)
                     + f" | {diffs[0].n_units} | **{verdict}** |")
    return lines


def _claim_verdict(nm_mlp: Any, mlp_lp: Any) -> str:
    verdicts = {nm_mlp.verdict, mlp_lp.verdict}
    if verdicts == {"reproduced"}:
        return "reproduced"
    if "refuted" in verdicts:
        return "refuted"
    return "inconclusive"


def select_heads(records: list[dict[str, Any]], methods: Sequence[str], selection_prefix: str) -> dict[tuple, str]:
    """``{(backbone, unit, seed or None): method}``: the method with the best mean validation accuracy.

    ``selection_prefix="train-domain"``: the ``val`` records of the unit's own fit (per seed);
    ``"lodo"``: the mean over the held-out source domains of the leave-one-domain-out fits (their seeds
    pooled; the pick applies to every seed).
    """
    scores: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["method"] not in methods:
            continue
        if selection_prefix == "train-domain" and r["selection"] == "train-domain" and r["role"] == "val":
            scores[(r["backbone"], r["unit"], r["seed"])][r["method"]].append(r["accuracy"])
        elif selection_prefix == "lodo" and r["selection"].startswith("lodo:"):
            scores[(r["backbone"], r["unit"], None)][r["method"]].append(r["accuracy"])
    picks = {}
    for unit, per_method in scores.items():
        complete = {m: float(np.mean(v)) for m, v in per_method.items()}
        picks[unit] = max(sorted(complete), key=lambda m: complete[m])  # ties: alphabetical, deterministic
    return picks


def selection_lines(records: list[dict[str, Any]], methods: Sequence[str]) -> list[str]:
    """The table of heads chosen without the target (multi-source): the mean OOD accuracy of the head that
    training-domain validation, and leave-one-source-out selection, picks among ``methods``; the heads picked."""
    lines = ["| backbone | selection | mean OOD accuracy of the selected head (%) | heads picked |", "|---|---|---|---|"]
    main = [r for r in records if r["protocol"] == "lodo" and r["selection"] == "train-domain" and r["role"] == "ood"]
    for backbone in sorted({r["backbone"] for r in main}):
        rows = [r for r in main if r["backbone"] == backbone]
        acc = {(r["unit"], r["seed"], r["method"]): r["accuracy"] for r in rows}
        for selection in ("train-domain", "lodo"):
            picks = select_heads([r for r in records if r["backbone"] == backbone and r["protocol"] == "lodo"],
                                 methods, selection)
            values, chosen = [], []
            for (b, unit, seed), m in picks.items():
                seeds = [seed] if seed is not None else sorted({r["seed"] for r in rows if r["unit"] == unit})
                for s in seeds:
                    if (unit, s, m) in acc:
                        values.append(acc[(unit, s, m)])
                        chosen.append(m)
            if values:
                counts = ", ".join(f"{m} {chosen.count(m)}" for m in sorted(set(chosen)))
                lines.append(f"| {backbone} | {selection} | {_pct(float(np.mean(values)))} ({len(values)} units) | {counts} |")
    return lines


def write_domain_shift_report(records: list[dict[str, Any]], stem: str, folder: Path, order: Sequence[str]) -> str:
    """Render ``<stem>.md`` from the records of ``benchmarks/domain_shift.py`` (methods in ``order``)."""
    methods = [m for m in order if any(r["method"] == m for r in records)]
    main = [r for r in records if r["selection"] == "train-domain"]
    parts = [f"# Domain shift on PACS ({stem})", "",
             "Generated by `benchmarks/domain_shift.py` from `" + stem + ".json`. Accuracy in %, mean ± std over seeds "
             "(per seed: the mean over the protocol's test domains). Paired differences in percentage points with 95 % "
             "bootstrap intervals over the independent clusters (target domains; seeds share the split and the crops), "
             "the units column counting (domain x seed) pairs; below 6 clusters a verdict comes from the exact "
             "sign-flip test instead. This is the earlier, smaller protocol (300 training rows per source); the "
             "DomainBed-scale study is `pacs_domainbed.md`.", ""]
    for backbone in sorted({r["backbone"] for r in main}):
        for protocol in ("lodo", "single"):
            rows = [r for r in main if r["backbone"] == backbone and r["protocol"] == protocol]
            if not rows:
                continue
            title = ("multi-source leave-one-domain-out: OOD accuracy (%) on each target domain"
                     if protocol == "lodo" else "single source: mean OOD accuracy (%) over the other domains, per source")
            parts += [f"## {backbone}: {title}", "",
                      "Mean over seeds ± std (number of seeds); training-domain validation accuracy below.", ""]
            parts += unit_table(rows, methods, "ood") + ["", "Training-domain validation accuracy (%):", ""]
            parts += unit_table(rows, methods, "val") + [""]
            if protocol == "single":
                parts += ["In-domain test accuracy (%):", ""] + unit_table(rows, methods, "id") + [""]
    parts += ["## The claim NMTune > MLP tuning > LP (OOD)", "",
              "| backbone / protocol | variant | NMTune − MLP | MLP − LP | NMTune − LP | units | claim |",
              "|---|---|---|---|---|---|---|"]
    for backbone in sorted({r["backbone"] for r in main}):
        for protocol in ("lodo", "single"):
            rows = [r for r in main if r["backbone"] == backbone and r["protocol"] == protocol]
            parts += claim_rows(rows, "ood", f"{backbone} / {protocol}")
    parts += ["", "## What the augmented views change (views − center crops, OOD and training-domain validation)", "",
              "| backbone / protocol | heads | OOD | validation |", "|---|---|---|---|"]
    for backbone in sorted({r["backbone"] for r in main}):
        for protocol in ("lodo", "single"):
            rows = [r for r in main if r["backbone"] == backbone and r["protocol"] == protocol]
            for a, b in (("nmtune-authors-views", "nmtune-authors"), ("mlp-authors-views", "mlp-authors"),
                         ("nmtune-default-views", "nmtune-default")):
                ood, val = paired_difference(rows, a, b, role="ood"), paired_difference(rows, a, b, role="val")
                if ood.n_units:
                    parts.append(f"| {backbone} / {protocol} | {a} − {b} | {fmt_diff(ood)} | {fmt_diff(val)} |")
    parts += ["", "## The recommended head against the baselines (OOD)", "",
              "| backbone / protocol | vs LP | vs LogisticRegressionCV | vs MLP tuning |", "|---|---|---|---|"]
    for backbone in sorted({r["backbone"] for r in main}):
        for protocol in ("lodo", "single"):
            rows = [r for r in main if r["backbone"] == backbone and r["protocol"] == protocol]
            diffs = [paired_difference(rows, "recommended", b, role="ood") for b in ("lp", "logreg", "mlp")]
            if any(d.n_units for d in diffs):
                parts.append(f"| {backbone} / {protocol} | " + " | ".join(fmt_diff(d) for d in diffs) + " |")
    parts += ["", "## Choosing a head without the target: training-domain validation vs leave-one-domain-out", "",
              "Multi-source protocol. *train-domain*: the head with the best accuracy on the sources' held-out 20 %; "
              "*lodo*: the best mean accuracy over the three held-out source domains (each head refitted on the other "
              "two sources).", ""] + selection_lines(records, methods) + [""]
    text = "\n".join(parts) + "\n"
    io.atomic_write_text(folder / f"{stem}.md", text)
    return text
