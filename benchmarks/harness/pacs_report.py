"""The report of the DomainBed-scale PACS study (``benchmarks/pacs_domainbed.py``), from its records only.

Every number is computed here from the stored records by :mod:`sknmtune.evaluation`: means with seed spreads,
the paper's claims from every comparison they need (intervals over target domains or (source, target) pairs,
with their counts; the exact sign-flip test where those are too few), the effect of fresh view pairs, the
recommended heads against the probe, and how the spectra of ``Z`` rank the heads against OOD accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sknmtune.evaluation import paired_difference, paper_claims, rank_association, seed_summary

from benchmarks.harness.io import atomic_write_text, write_json

__all__ = ["CLAIM_VARIANTS", "claim_rows", "write_report"]

#: (variant, NMTune head, its MLP-tuning baseline); LP is the paper's probe ("lp") throughout
CLAIM_VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("paper equations", "nmtune-paper", "mlp"),
    ("authors' recipe, fresh view pairs", "nmtune-authors-views", "mlp-authors-views"),
    ("authors' config, center crops", "nmtune-authors", "mlp"),
)
#: the heads a user would pick instead of the probe, each against LogisticRegressionCV
CHALLENGERS = ("cv", "cv-sub2000", "cv-sub1000", "vote", "vote-es", "vote-lr-mlp", "vote-views", "nmtune-paper", "nmtune-authors-views",
               "logreg-cv-raw", "lp", "mlp")


def _cells(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return sorted({(r["backbone"], r["protocol"]) for r in records})


def _in(records: Sequence[Mapping[str, Any]], backbone: str, protocol: str) -> list[Mapping[str, Any]]:
    return [r for r in records if r["backbone"] == backbone and r["protocol"] == protocol]


def _clusters(protocol: str, role: str) -> str:
    """What the independent clusters of a cell are, in words."""
    if role == "val":
        return "training sets"
    return "target domains" if protocol == "lodo" else "(source, target) pairs"


def claim_rows(records: Sequence[Mapping[str, Any]], role: str = "ood") -> list[dict[str, Any]]:
    """One row per (backbone, protocol, variant, claim): its verdict and every pairwise difference it needs."""
    rows = []
    for backbone, protocol in _cells(records):
        cell = _in(records, backbone, protocol)
        methods = {r["method"] for r in cell}
        for variant, nmtune, mlp in CLAIM_VARIANTS:
            if mlp not in methods and mlp.endswith("-views"):
                mlp = "mlp"  # the authors' MLP on views was not fitted: compare with the paper's MLP
            if not {nmtune, mlp, "lp"} <= methods:
                continue
            for c in paper_claims(cell, nmtune=nmtune, mlp=mlp, lp="lp", role=role):
                rows.append({
                    "backbone": backbone, "protocol": protocol, "variant": variant, "claim": c.name,
                    "verdict": c.verdict, "heads": {"nmtune": nmtune, "mlp": mlp, "lp": "lp"},
                    "comparisons": [{"a": a, "b": b, "text": d.describe(clusters=_clusters(protocol, role)),
                                     "verdict": d.verdict, "mean": d.mean,
                                     "low": d.low, "high": d.high, "n_clusters": d.n_clusters, "p_value": d.p_value}
                                    for (a, b), d in zip(c.comparisons, c.differences)],
                })
    return rows


def _mean_std(cell: tuple | None) -> str:
    """``mean ± std`` (%) over seeds; the mean alone from one seed (no spread to show)."""
    if not cell:
        return "–"
    return f"{100 * cell[0]:.2f}" + (f" ± {100 * cell[1]:.2f}" if cell[2] > 1 else "")


def _summary_table(records: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> list[str]:
    acc = seed_summary(records, "accuracy", by=("backbone", "protocol", "method", "role"))
    f1 = seed_summary(records, "macro_f1", by=("backbone", "protocol", "method", "role"))
    lines = ["| backbone / protocol | head | seeds | OOD accuracy | OOD macro-F1 | validation accuracy | fit s |",
             "|---|---|---|---|---|---|---|"]
    fit = seed_summary(records, "fit_seconds", by=("backbone", "protocol", "method"))
    for backbone, protocol in _cells(records):
        order = [m for m in labels if any(r["method"] == m for r in _in(records, backbone, protocol))]
        for m in order:
            ood, val = acc.get((backbone, protocol, m, "ood")), acc.get((backbone, protocol, m, "val"))
            f = f1.get((backbone, protocol, m, "ood"))
            seconds = fit.get((backbone, protocol, m))
            lines.append(
                f"| {backbone} / {protocol} | {labels.get(m, m)} | {ood[2] if ood else 0} | "
                + " | ".join(_mean_std(cell) for cell in (ood, f, val)) + " | "
                + (f"{seconds[0]:.1f}" if seconds else "–") + " |")
    return lines


def _stored(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the records hold: per (backbone, protocol), the trial seeds each head was fitted with."""
    lines = ["What is stored (a run stopped midway reports what it has): trial seeds per head.", "",
             "| backbone / protocol | heads: seeds |", "|---|---|"]
    for backbone, protocol in _cells(records):
        seeds: dict[str, set[int]] = {}
        for r in _in(records, backbone, protocol):
            seeds.setdefault(r["method"], set()).add(r["seed"])
        groups: dict[tuple[int, ...], list[str]] = {}
        for m, s in seeds.items():
            groups.setdefault(tuple(sorted(s)), []).append(m)
        lines.append(f"| {backbone} / {protocol} | " + "; ".join(
            f"{', '.join(sorted(ms))}: {', '.join(map(str, k))}" for k, ms in sorted(groups.items())) + " |")
    return lines


def write_report(records: list[dict[str, Any]], stem: str, folder: Path, labels: Mapping[str, str]) -> None:
    """``<stem>.md`` and ``<stem>_claims.json`` in ``folder``, from ``records`` alone."""
    folder = Path(folder)
    claims = claim_rows(records)
    write_json(folder / f"{stem}_claims.json", claims)
    parts = [f"# PACS at DomainBed scale ({stem})", "",
             "Generated by `python -m benchmarks.pacs_domainbed --report` from `" + stem + ".json`; every number "
             "below is computed from those records. Intervals are 95 % cluster-bootstrap intervals over the "
             "independent units — target domains (multi-source, 4 per backbone) or (source, target) pairs "
             "(single-source) — never over seeds, which share the pool of crops; with fewer than 6 clusters the "
             "verdict comes from the exact sign-flip test (with 4 domains its smallest two-sided p is 0.125: "
             "four domains cannot establish a difference at 95 %).", "",
             *_stored(records), "",
             "## Mean accuracy (%; mean ± std over seeds, the mean alone from one seed)", "", *_summary_table(records, labels), "",
             "## The paper's claims (OOD accuracy, points)", "",
             "| backbone / protocol | variant | claim | verdict | comparisons |", "|---|---|---|---|---|"]
    for row in claims:
        comps = "; ".join(f"{c['a']} − {c['b']} {c['text']} ({c['verdict']})" for c in row["comparisons"])
        parts.append(f"| {row['backbone']} / {row['protocol']} | {row['variant']} | {row['claim']} | "
                     f"**{row['verdict']}** | {comps} |")
    parts += ["", "## Fresh view pairs: what training on the pool of crops changes (views − center crops)", "",
              "| backbone / protocol | heads | OOD | validation |", "|---|---|---|---|"]
    for backbone, protocol in _cells(records):
        cell = _in(records, backbone, protocol)
        for a, b in (("nmtune-authors-views", "nmtune-authors"), ("vote-views", "vote")):
            ood, val = paired_difference(cell, a, b, role="ood"), paired_difference(cell, a, b, role="val")
            if ood.n_units:
                parts.append(f"| {backbone} / {protocol} | {a} − {b} | {ood.describe(clusters=_clusters(protocol, 'ood'))}"
                             f" | {val.describe(clusters=_clusters(protocol, 'val'))} |")
    parts += ["", "## Instead of the probe: each head − LogisticRegressionCV (OOD, points)", "",
              "| backbone / protocol | head | OOD | validation |", "|---|---|---|---|"]
    for backbone, protocol in _cells(records):
        cell = _in(records, backbone, protocol)
        for head in CHALLENGERS:
            ood = paired_difference(cell, head, "logreg-cv", role="ood")
            if ood.n_units:
                val = paired_difference(cell, head, "logreg-cv", role="val")
                parts.append(f"| {backbone} / {protocol} | {labels.get(head, head)} | "
                             f"{ood.describe(clusters=_clusters(protocol, 'ood'))} | "
                             f"{val.describe(clusters=_clusters(protocol, 'val'))} |")
    parts += ["", "## The paper's mechanism: do the spectra of Z rank the heads as OOD accuracy does?", "",
              "Spearman's rho across the heads of each (training set, seed, target) cell, averaged per cluster; "
              "the paper predicts LSVR(Z) negatively and SVE(Z) positively related to OOD accuracy.", "",
              "| backbone / protocol | metric | association with OOD accuracy |", "|---|---|---|"]
    for backbone, protocol in _cells(records):
        cell = _in(records, backbone, protocol)
        for metric in ("lsvr_Z", "sve_Z"):
            parts.append(f"| {backbone} / {protocol} | {metric} | {rank_association(cell, metric).describe()} |")
    pooled = [f"| all | {metric} | {rank_association(records, metric).describe()} |" for metric in ("lsvr_Z", "sve_Z")]
    parts += pooled + [""]
    atomic_write_text(folder / f"{stem}.md", "\n".join(parts))
