"""The two accuracy benchmarks' method lists and the report pieces their scripts and ``benchmarks/render_docs.py``
share: ``python -m benchmarks.accuracy`` (text and small vision backbones, :mod:`benchmarks.harness.text_cifar`) and
``python -m benchmarks.accuracy_imagenet`` (ImageNet-1k backbones, :mod:`benchmarks.harness.imagenet`).

Declared once here, so a script's report and the documents rendered from its results cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchmarks.harness.imagenet import CORRUPTION_TASKS
from benchmarks.harness.tables import family_summary, fmt, seed_means

__all__ = ["ACCURACY_METHODS", "IMAGENET_METHODS", "accuracy_runtime_text", "imagenet_runtime_text",
           "imagenet_validation_table", "separate_corruptions", "validation_decisions"]

#: ``benchmarks/accuracy.py``'s methods, in its report's order (names of :data:`benchmarks.harness.methods.METHODS`)
ACCURACY_METHODS = ("lp", "logreg", "mlp", "nmtune-paper", "mlp-authors", "nmtune-authors", "nmtune-default",
                    "recommended", "recommended-lambda0", "voting")
#: ``benchmarks/accuracy_imagenet.py``'s methods, in its report's order (names of
#: :data:`benchmarks.harness.methods.METHODS`)
IMAGENET_METHODS = ("lp", "logreg_cv", "mlp", "nmtune-paper", "mlp-authors", "nmtune-authors", "nmtune-default",
                    "recommended", "recommended-lambda0", "voting")


# =========================================================================== benchmarks/accuracy.py


def accuracy_runtime_text(meta: dict[str, Any]) -> str:
    """The first benchmark's recorded runtime (``accuracy_meta.json``), as its report prints it."""
    runs = meta.get("runtime", {}).get("runs", [])
    if not runs:
        return "unknown"
    sums = {k: sum(r[k] for r in runs) for k in ("features_s", "validation_s", "benchmark_s", "total_s")}
    last = runs[-1]
    return (
        f"{sums['total_s'] / 60:.1f} min over {len(runs)} invocation(s) (feature extraction {sums['features_s'] / 60:.1f} min, "
        f"validation study {sums['validation_s'] / 60:.1f} min, benchmark fits {sums['benchmark_s'] / 60:.1f} min; "
        f"last invocation {last['total_s'] / 60:.1f} min with --jobs {last['jobs']})"
    )


# =========================================================================== benchmarks/accuracy_imagenet.py


def separate_corruptions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with the OOD role of the suite's ``CORRUPTION_TASKS`` renamed ``"OOD-C"`` (copies; the JSON is
    untouched), so every OOD mean (tables, claims, targets, plots) is over the natural PACS shift only and the
    corruptions get a table of their own."""
    return [{**r, "role": "OOD-C"} if r["role"] == "OOD" and r["task"] in CORRUPTION_TASKS else r for r in records]


def validation_decisions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Choices made on the validation splits only (mean over tasks and seeds, per backbone family and overall).

    ``best_method``: the method a user picking by validation accuracy would deploy; ``best_nmtune``: the
    NMTune variant (``reg_lambda > 0``) that validation prefers.
    """
    per_family = [{**r, "family": fam} for r in rows for fam in (r["family"], "all")]
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for (fam, method), (mean, _, _) in seed_means(per_family, "accuracy", by=("family", "method")).items():
        table[fam][method] = mean
    nmtune = {"nmtune-paper", "nmtune-authors", "nmtune-default"}
    out = {}
    for fam, scores in table.items():
        best = max(scores, key=scores.get)
        cands = {m: v for m, v in scores.items() if m in nmtune}
        out[fam] = {"val_accuracy": scores, "best_method": best,
                    "best_nmtune": max(cands, key=cands.get) if cands else None}
    return {"rule": validation_decisions.__doc__.split("\n\n")[0], "by_family": out}


def imagenet_validation_table(validation: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """Mean validation accuracy per method, the validation-only choices, and their test accuracy."""
    decisions = validation.get("decisions") or validation_decisions(validation.get("rows", []))
    test = family_summary(records, "accuracy")
    fams = [f for f in decisions["by_family"] if f != "all"] + (["all"] if "all" in decisions["by_family"] else [])
    if not fams:
        return "(no validation scores yet)"
    methods = [m for m in IMAGENET_METHODS if any(m in decisions["by_family"][f]["val_accuracy"] for f in fams)]
    lines = ["| backbone family | " + " | ".join(methods) + " | best on validation (its test ID / OOD acc) "
             "| best NMTune on validation (its test ID / OOD acc) |", "|---|" + "---|" * (len(methods) + 2)]

    def with_test(fam: str, method: str | None) -> str:
        if method is None:
            return "-"
        id_, ood = (test.get((fam, method, role), (float("nan"),))[0] for role in ("ID", "OOD"))
        return f"{method} ({fmt(id_)} / {fmt(ood)})"

    for f in fams:
        d = decisions["by_family"][f]
        cells = [fmt(d["val_accuracy"][m]) if m in d["val_accuracy"] else "-" for m in methods]
        lines.append(f"| {f} | " + " | ".join(cells) + f" | {with_test(f, d['best_method'])} "
                     f"| {with_test(f, d['best_nmtune'])} |")
    return "Rule: " + decisions["rule"] + "\n\n" + "\n".join(lines)


def imagenet_runtime_text(meta: dict[str, Any]) -> str:
    """The ImageNet benchmark's recorded runtime (``accuracy_imagenet_meta.json``), as its report prints it."""
    runs = meta.get("runtime", {}).get("runs", [])
    if not runs:
        return "unknown"
    feats = sum(r["features_s"] for r in runs)
    fits = sum(r["benchmark_s"] for r in runs)
    return (f"{(feats + fits) / 60:.1f} min over {len(runs)} invocation(s): feature extraction {feats / 60:.1f} min, "
            f"head fits {fits / 60:.1f} min")
