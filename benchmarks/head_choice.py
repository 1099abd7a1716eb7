"""Which head to recommend, from validation scores only: ``make_voting_head()`` against ``NMTuneClassifierCV()``.

Reads the stored records of two benchmarks and keeps only what model selection may read (never a test
split, never a target domain):

* ``accuracy_imagenet_validation.json``: each ImageNet-backbone task's held-out validation split (the same fits
  as the test records), units (task, backbone, seed);
* ``domain_shift.json``: PACS, the sources' held-out validation parts (multi-source, role ``val``) and
  single-source, and the leave-one-domain-out fits over the sources (a held-out *source* scored, selection
  ``lodo:<source>``), units (protocol, backbone, target, held-out source, seed).

For each evidence row and pooled over every unit, the paired difference ``a - b`` with its 95 % bootstrap
interval (:func:`sknmtune.evaluation.paired_difference`, units resampled)::

    .venv/bin/python benchmarks/head_choice.py      # -> results/head_choice.json and head_choice.md

Pooling treats the seeds of one task as independent units, as every table of the benchmarks does; the
per-row intervals show where the pooled mean comes from.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == _ROOT / "benchmarks":
    sys.path.pop(0)
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from benchmarks.harness.io import RESULTS_DIR, atomic_write_text, read_json, write_json  # noqa: E402

#: the benchmarks' names of the compared heads -> the names used here
IMAGENET_METHODS = {"voting": "vote", "recommended": "cv", "lp": "lp", "logreg_cv": "logreg", "mlp": "mlp"}
PACS_METHODS = {"vote-4": "vote", "recommended": "cv", "lp": "lp", "logreg": "logreg", "mlp": "mlp",
                "vote-lr-mlp": "vote-lr-mlp"}
#: ``vote-lr-mlp`` (``LogisticRegressionCV`` + MLP tuning, half the vote's fit time) has PACS records only
BASELINES = ("cv", "lp", "logreg", "mlp", "vote-lr-mlp")
_UNIT = ("evidence", "backbone", "task", "held_out", "seed")


def validation_rows(imagenet: list[dict[str, Any]], pacs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation accuracies of both benchmarks in one shape: ``evidence``, ``backbone``, ``task``, ``held_out``,
    ``seed``, ``method`` (the names of :data:`IMAGENET_METHODS`), ``role="val"``, ``accuracy``."""
    rows = [{"evidence": "ImageNet tasks, ID validation split", "backbone": r["backbone"], "task": r["task"],
             "held_out": "val", "seed": r["seed"], "method": IMAGENET_METHODS[r["method"]], "role": "val",
             "accuracy": r["accuracy"]} for r in imagenet if r["method"] in IMAGENET_METHODS]
    for r in pacs:
        if r["method"] not in PACS_METHODS:
            continue
        if r["selection"] == "train-domain" and r["role"] == "val":
            evidence = f"PACS {'multi-source' if r['protocol'] == 'lodo' else 'single-source'}, the sources' held-out part"
        elif r["selection"].startswith("lodo:"):
            evidence = "PACS multi-source, leave one source out"
        else:
            continue  # a target domain: never read here
        rows.append({"evidence": evidence, "backbone": r["backbone"], "task": r["unit"], "held_out": r["domain"],
                     "seed": r["seed"], "method": PACS_METHODS[r["method"]], "role": "val", "accuracy": r["accuracy"]})
    return rows


def compare(rows: list[dict[str, Any]], a: str = "vote", baselines: tuple[str, ...] = BASELINES) -> list[dict[str, Any]]:
    """``a`` minus each baseline, per (evidence, backbone) and pooled over every unit (points, 95 % intervals)."""
    from sknmtune.evaluation import paired_difference

    groups = sorted({(r["evidence"], r["backbone"]) for r in rows}) + [("all validation units", "all")]
    out = []
    for evidence, backbone in groups:
        mine = [r for r in rows if evidence == "all validation units" or (r["evidence"], r["backbone"]) == (evidence, backbone)]
        for b in baselines:
            d = paired_difference(mine, a, b, role="val", units=_UNIT)
            if d.n_units:
                out.append({"evidence": evidence, "backbone": backbone, "a": a, "b": b, "n_units": d.n_units,
                            "wins": d.wins, "mean": round(100 * d.mean, 2), "low": round(100 * d.low, 2),
                            "high": round(100 * d.high, 2)})
    return out


def render(table: list[dict[str, Any]]) -> str:
    """The markdown report of :func:`compare`'s rows (one line per evidence row, a column per baseline)."""
    baselines = list(dict.fromkeys(r["b"] for r in table))
    lines = ["# Which head: validation only (`benchmarks/head_choice.py`)", "",
             "Generated from the stored records; do not edit by hand. Paired differences `vote` − baseline in points "
             "of validation accuracy, 95 % bootstrap intervals over units (`vote` = `make_voting_head()`, `cv` = "
             "`NMTuneClassifierCV()`, `logreg` = `StandardScaler` + `LogisticRegressionCV`, `lp`, `mlp` = the presets, "
             "`vote-lr-mlp` = the two-member vote of `logreg` and `mlp`, on PACS only; the pooled row of a column "
             "covers the units that column has).",
             "", "| evidence | backbone | units | " + " | ".join(f"vote − {b}" for b in baselines) + " |",
             "|---|---|---|" + "---|" * len(baselines)]
    keyed = {(r["evidence"], r["backbone"], r["b"]): r for r in table}
    for evidence, backbone in dict.fromkeys((r["evidence"], r["backbone"]) for r in table):
        cells = [keyed.get((evidence, backbone, b)) for b in baselines]
        n = max(c["n_units"] for c in cells if c)
        lines.append(f"| {evidence} | {backbone} | {n} | " + " | ".join(
            f"{c['mean']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]" if c else "-" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(results: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    imagenet = read_json(results / "accuracy_imagenet_validation.json", {}).get("rows", [])
    pacs = read_json(results / "domain_shift.json", [])
    table = compare(validation_rows(imagenet, pacs))
    write_json(results / "head_choice.json", table)
    atomic_write_text(results / "head_choice.md", render(table))
    return table


if __name__ == "__main__":
    for row in main():
        if row["b"] == "cv":
            print(f"{row['evidence']:<58} {row['backbone']:<22} vote - cv {row['mean']:+.2f} [{row['low']:+.2f}, "
                  f"{row['high']:+.2f}] ({row['n_units']} units)")
