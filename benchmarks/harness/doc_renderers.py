"""The renderers of ``benchmarks/render_docs.py``'s blocks (each ``renderer(results folder) -> markdown``, read from
the stored results files), with the helpers they share: the head-choice decision, the PACS claims and the
domain-shift tables. The accuracy benchmarks' and the CV grid study's blocks are in
:mod:`benchmarks.harness.doc_renderers_accuracy`, the other studies' in :mod:`benchmarks.harness.doc_renderers_studies`.

A renderer whose results file is missing says which command writes it (:func:`missing`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness.io import read_json

__all__ = ["BACKBONE_NAMES", "PROTOCOL_NAMES", "claims", "claims_short", "domain_shift_claims",
           "domain_shift_cv_options",
           "domain_shift_selection", "domain_shift_views", "domain_shift_vote", "missing", "only_rows", "section",
           "which_head"]


# =========================================================================== helpers shared by the renderers

#: how the documents name the stored backbones and protocols
BACKBONE_NAMES = {"tf_efficientnet_lite0": "EfficientNet-Lite0", "mobilenetv2_100": "MobileNetV2"}
PROTOCOL_NAMES = {"lodo": "multi-source", "single": "single-source"}


def _diff(d: Any) -> str:
    """``+1.23 [+0.40, +2.01]`` (points), as the reports print a paired difference (``fmt_diff``)."""
    from benchmarks.harness.report import fmt_diff

    return fmt_diff(d)


def only_rows(table: str, drop: Callable[[str], bool]) -> str:
    """``table`` (markdown lines) without the table rows ``drop`` selects (header and prose lines are kept)."""
    return "\n".join(line for line in table.split("\n")
                     if not (line.startswith("| ") and not line.startswith("|---") and drop(line)))


def missing(name: str, command: str) -> str:
    """What a block says while ``name`` is not in the results folder: the command that writes it."""
    return f"(no `{name}` stored yet: run `{command}`)\n"


def section(text: str, heading: str) -> str:
    """The lines of the markdown ``text`` under ``heading`` (a title line, e.g. ``## ID``) up to the next title."""
    lines = text.split("\n")
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[start:end]).strip("\n")


# =========================================================================== which head, PACS at DomainBed scale


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
        paid = {t: p for t, p in summary.get("payoff", {}).items() if p}
        lines.append(f"- Against `{pooled['reference']}`: {pooled['statement']} With each PACS domain left out, the "
                     f"decision changes for {summary['n_changed']} of {len(summary['per_target'])} domains"
                     + (f" ({', '.join(summary['changed'])})." if summary["changed"] else ".")
                     + (" What the left-out decision earned on its target, after the fact (decision − reference, "
                        "OOD points): " + "; ".join(f"{t} {_pts(p['mean'])} ({p['head']})" for t, p in paid.items())
                        + "." if paid else ""))
    lines += ["", "Full table: [`benchmarks/results/head_choice.md`](benchmarks/results/head_choice.md)."]
    return "\n".join(lines) + "\n"


def _claim_cells(results: Path) -> tuple[int, dict[tuple[str, str, str], dict[str, Any]]]:
    """The stored claims per (backbone, protocol, variant): verdicts, the pairwise differences (text and mean) and the
    cluster counts; and the number of trial seeds that hold the claims' heads."""
    records = read_json(results / "pacs_domainbed.json", [])
    by_seed: dict[int, set[str]] = {}
    for r in records:
        by_seed.setdefault(r["seed"], set()).add(r["method"])
    n_seeds = sum(1 for methods in by_seed.values() if {"lp", "mlp", "nmtune-paper"} <= methods)  # the claims' heads
    cells: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in read_json(results / "pacs_domainbed_claims.json", []):
        cell = cells.setdefault((r["backbone"], r["protocol"], r["variant"]),
                                {"verdicts": {}, "diffs": {}, "means": {}, "n": set()})
        cell["verdicts"][r["claim"]] = r["verdict"]
        names = {v: k for k, v in r["heads"].items()}  # the cell's head names -> nmtune / mlp / lp
        for c in r["comparisons"]:
            pair = (names[c["a"]], names[c["b"]])
            cell["diffs"][pair] = f"{_pts(c['mean'])} [{_pts(c['low'])}, {_pts(c['high'])}]"
            cell["means"][pair] = c["mean"]
            cell["n"].add(c["n_clusters"])
    return n_seeds, cells


def _claims_preamble(n_seeds: int) -> str:
    return (f"PACS, all 9,991 images, DomainBed protocols, {n_seeds} trial seed{'' if n_seeds == 1 else 's'}; OOD "
            "accuracy differences in points with 95 % intervals over target domains (multi-source: 4) or (source, "
            "target) pairs (single-source: 6); below 6 clusters the verdict is the exact sign-flip test's.")


def claims(results: Path) -> str:
    """The paper's claims on PACS at DomainBed scale (``pacs_domainbed_claims.json``): per backbone, protocol and
    variant, the main claim's and the chain's verdicts and the three pairwise differences they read, with intervals."""
    n_seeds, cells = _claim_cells(results)
    if not cells:
        return "(no PACS claims stored yet: run `python -m benchmarks.pacs_domainbed`)\n"
    lines = [_claims_preamble(n_seeds), "",
             "| backbone, protocol | variant | clusters | NMTune > max(LP, MLP) | NMTune > MLP > LP | NMTune − LP "
             "| NMTune − MLP | MLP − LP |", "|---|---|---|---|---|---|---|---|"]
    for (backbone, protocol, variant), cell in cells.items():
        v, d = cell["verdicts"], cell["diffs"]
        lines.append(f"| {BACKBONE_NAMES.get(backbone, backbone)}, {PROTOCOL_NAMES.get(protocol, protocol)} | {variant} "
                     f"| {'/'.join(map(str, sorted(cell['n'])))} | {v.get('NMTune > max(LP, MLP)', '–')} | "
                     f"{v.get('NMTune > MLP > LP', '–')} | "
                     + " | ".join(d.get(pair, "–") for pair in (("nmtune", "lp"), ("nmtune", "mlp"), ("mlp", "lp")))
                     + " |")
    lines += ["", "Full report: [`benchmarks/results/pacs_domainbed.md`](benchmarks/results/pacs_domainbed.md)."]
    return "\n".join(lines) + "\n"


def claims_short(results: Path) -> str:
    """README's digest of :func:`claims`: one row per backbone and protocol, one column per NMTune variant, each cell
    the main claim's verdict with NMTune − LP / NMTune − MLP (points)."""
    n_seeds, cells = _claim_cells(results)
    if not cells:
        return "(no PACS claims stored yet: run `python -m benchmarks.pacs_domainbed`)\n"
    variants = list(dict.fromkeys(k[2] for k in cells))
    rows = list(dict.fromkeys(k[:2] for k in cells))
    lines = [_claims_preamble(n_seeds) + " Each cell: the verdict of NMTune > max(LP, MLP), then NMTune − LP / "
             "NMTune − MLP (intervals: the benchmark guide).", "",
             "| backbone, protocol | clusters | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
    for backbone, protocol in rows:
        here = [cells.get((backbone, protocol, v)) for v in variants]
        n = sorted(set().union(*(c["n"] for c in here if c)))
        lines.append(f"| {BACKBONE_NAMES.get(backbone, backbone)}, {PROTOCOL_NAMES.get(protocol, protocol)} | "
                     f"{'/'.join(map(str, n))} | " + " | ".join(
                         f"{c['verdicts'].get('NMTune > max(LP, MLP)', '–')}: "
                         f"{_pts(c['means'][('nmtune', 'lp')])} / {_pts(c['means'][('nmtune', 'mlp')])}" if c else "–"
                         for c in here) + " |")
    lines += ["", "Full report: [`benchmarks/results/pacs_domainbed.md`](benchmarks/results/pacs_domainbed.md)."]
    return "\n".join(lines) + "\n"


# =========================================================================== PACS, domain_shift.json


#: a domain-shift record's unit: ``paired_difference``'s default fields, in its (sorted) order, without a stored
#: vote's extra ``members`` field; the clusters are the same without the seed
_DS_UNITS = ("backbone", "domain", "protocol", "seed", "selection", "sources", "unit")


def _domain_shift(results: Path) -> list[dict[str, Any]]:
    return read_json(results / "domain_shift.json", [])


def _cells(records: list[dict[str, Any]]) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
    """``(label, backbone, protocol, records)`` per (backbone, protocol) of the training-domain selection fits,
    e.g. ``"EfficientNet-Lite0, multi-source"``."""
    main = [r for r in records if r["selection"] == "train-domain"]
    cells = []
    for backbone in sorted({r["backbone"] for r in main}):
        for protocol in ("lodo", "single"):
            rows = [r for r in main if r["backbone"] == backbone and r["protocol"] == protocol]
            if rows:
                label = f"{BACKBONE_NAMES.get(backbone, backbone)}, {PROTOCOL_NAMES[protocol]}"
                cells.append((label, backbone, protocol, rows))
    return cells


def _clusters_note(full: bool = True) -> str:
    from sknmtune.evaluation import MIN_CLUSTERS

    if not full:
        return ("95 % bootstrap intervals over independent clusters (target domains multi-source, (source, target) "
                f"pairs single-source; verdicts below {MIN_CLUSTERS} clusters from the exact sign-flip test).")
    return (f"95 % bootstrap intervals over independent clusters (`sknmtune.evaluation.paired_difference`): target "
            f"domains multi-source, (source, target) pairs single-source; the seeds share a split, so they are not "
            f"clusters. Below {MIN_CLUSTERS} clusters a verdict comes from the exact sign-flip test, which with 4 "
            "clusters can never reach 95 %.")


def domain_shift_claims(results: Path) -> str:
    """The paper's claims on PACS (``domain_shift.json``, OOD): each pairwise difference, and the main claim and the
    chain with the verdicts :func:`sknmtune.evaluation.paper_claims` derives from them."""
    from sknmtune.evaluation import paper_claims

    from benchmarks.harness.report import CLAIM_VARIANTS

    records = _domain_shift(results)
    if not records:
        return missing("domain_shift.json", "python -m benchmarks.domain_shift")
    lines = [f"OOD accuracy, differences in points; {_clusters_note()}", "",
             "| backbone, protocol | variant | NMTune − MLP | MLP − LP | NMTune − LP | clusters "
             "| NMTune > max(LP, MLP) | NMTune > MLP > LP |", "|---|---|---|---|---|---|---|---|"]
    for cell, _, _, rows in _cells(records):
        for variant, (nm, mlp, lp) in CLAIM_VARIANTS.items():
            main, chain, nm_mlp, nm_lp = paper_claims(rows, nmtune=nm, mlp=mlp, lp=lp, role="ood", units=_DS_UNITS)
            if nm_mlp.differences[0].n_units == 0:
                continue
            mlp_lp = chain.differences[1]
            lines.append(f"| {cell} | {variant} | {_diff(nm_mlp.differences[0])} | {_diff(mlp_lp)} "
                         f"| {_diff(nm_lp.differences[0])} | {nm_lp.differences[0].n_clusters} "
                         f"| {main.verdict} | {chain.verdict} |")
    return "\n".join(lines) + "\n"


#: (label, a, b) of the views table: the same head on augmented views minus on center crops
_VIEWS = (("NMTune (authors' config)", "nmtune-authors-views", "nmtune-authors"),
          ("MLP tuning (authors' MLP)", "mlp-authors-views", "mlp-authors"),
          ("`NMTuneClassifier()`", "nmtune-default-views", "nmtune-default"))


def domain_shift_views(results: Path) -> str:
    """What the authors' augmented views change on PACS: views − center crops, same head, OOD and on the sources'
    validation split."""
    from sknmtune.evaluation import paired_difference

    records = _domain_shift(results)
    if not records:
        return missing("domain_shift.json", "python -m benchmarks.domain_shift")
    lines = [f"Views − center crops, same head, accuracy points; {_clusters_note(full=False)}", "",
             "| backbone, protocol | head | training-domain validation | OOD (reported) | clusters |",
             "|---|---|---|---|---|"]
    for cell, _, _, rows in _cells(records):
        for name, a, b in _VIEWS:
            val, ood = (paired_difference(rows, a, b, role=role, units=_DS_UNITS) for role in ("val", "ood"))
            if ood.n_units:
                lines.append(f"| {cell} | {name} | {_diff(val)} | {_diff(ood)} | {ood.n_clusters} |")
    return "\n".join(lines) + "\n"


def _validation_rows(records: list[dict[str, Any]], comparisons: tuple[tuple[str, str], ...],
                     first: str) -> list[str]:
    """Rows per cell and split (training-domain validation, leave-one-source-out, OOD) of ``a − b`` columns."""
    from sknmtune.evaluation import paired_difference

    lines = []
    for cell, backbone, protocol, rows in _cells(records):
        splits = [("training-domain validation", rows, "val")]
        if protocol == "lodo":  # the leave-one-source-out fits, each scored on its held-out source (never the target)
            held_out = [r for r in records if r["backbone"] == backbone and r["selection"].startswith("lodo:")]
            splits.append(("leave-one-source-out validation", held_out, "ood"))
        splits.append(("OOD (reported)", rows, "ood"))
        for split, recs, role in splits:
            diffs = [paired_difference(recs, a, b, role=role, units=_DS_UNITS) for a, b in comparisons]
            if not any(d.n_units for d in diffs):
                continue
            n = max(d.n_clusters for d in diffs)
            lines.append(f"| {cell} | {split} ({n} clusters) | " + " | ".join(_diff(d) for d in diffs) + " |")
    return [f"{first}", "|---|---|" + "---|" * len(comparisons)] + lines


def domain_shift_cv_options(results: Path) -> str:
    """``NMTuneClassifierCV()`` against its two robust variants on PACS, on validation and (reported) OOD."""
    records = _domain_shift(results)
    if not records:
        return missing("domain_shift.json", "python -m benchmarks.domain_shift")
    comparisons = (("recommended-families", "recommended"), ("recommended-groups", "recommended"))
    lines = [f"Accuracy points; {_clusters_note(full=False)}", ""] + _validation_rows(
        records, comparisons, "| backbone, protocol | split | `ensemble=\"families\"` − default "
                              "| `cv=LeaveOneGroupOut()` − default |")
    return "\n".join(lines) + "\n"


def domain_shift_vote(results: Path) -> str:
    """``make_voting_head()``'s four members (scored from their stored probabilities) against each single head on
    PACS, on validation and (reported) OOD."""
    records = _domain_shift(results)
    if not records:
        return missing("domain_shift.json", "python -m benchmarks.domain_shift")
    comparisons = tuple(("vote-4", b) for b in ("recommended", "lp", "mlp", "logreg"))
    lines = [f"Accuracy points, the vote minus each head; {_clusters_note(full=False)}", ""] + _validation_rows(
        records, comparisons, "| backbone, protocol | split | vote − `NMTuneClassifierCV()` | vote − LP "
                              "| vote − MLP tuning | vote − `LogisticRegressionCV` |")
    return "\n".join(lines) + "\n"


def domain_shift_selection(results: Path) -> str:
    """The report's table of heads chosen without the target (training-domain vs leave-one-source-out)."""
    from benchmarks.harness.report import DOMAIN_SHIFT_METHODS
    from benchmarks.harness.ensembles import ENSEMBLES
    from benchmarks.harness.report import selection_lines

    records = _domain_shift(results)
    if not records:
        return missing("domain_shift.json", "python -m benchmarks.domain_shift")
    methods = [m for m in (*DOMAIN_SHIFT_METHODS, *ENSEMBLES) if any(r["method"] == m for r in records)]  # as the report
    return "\n".join(selection_lines(records, methods)) + "\n"
