"""Which head to recommend, decided by code from validation records only, and checked with each target left out.

Reads the stored records of two benchmarks and keeps only what model selection may read (never a test split,
never a target domain):

* ``accuracy_imagenet_validation.json``: each ImageNet-backbone task's held-out validation split, clusters
  (task, backbone) (the seeds share the split);
* ``pacs_domainbed.json``: PACS at DomainBed scale, the sources' 20 % validation parts (multi-source and
  single-source), clusters (protocol, backbone, training set); a unit is read once its first phase is complete
  (its vote scored), so a run stopped midway compares every head on the same units.

The decision is :func:`sknmtune.evaluation.recommend_head`'s rule (the reference head stays unless another is
decisively ahead, over independent clusters) against two references, the tuned probe (``logreg-cv``) and the
package's default (``cv``), on every unit pooled and, for each PACS domain, on the units that never touched it
(:func:`~sknmtune.evaluation.recommend_head_leaving_out`: not as a source, not as validation; ImageNet tasks
built from a PACS domain touch that domain). What the left-out decision would have earned on its target is
reported from the target's test records, after the fact, and never feeds a decision::

    .venv/bin/python -m benchmarks.head_choice      # -> results/head_choice.json and head_choice.md
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness.io import RESULTS_DIR, atomic_write_text, read_json, write_json

#: the ImageNet benchmark's method names -> the registry's (``logreg_cv`` there is LogisticRegressionCV with
#: scikit-learn's ``Cs=10``; ``logreg-cv`` here has 7 values of C: the same head family, the probe users tune)
IMAGENET_NAMES = {"lp": "lp", "logreg_cv": "logreg-cv", "mlp": "mlp", "nmtune-paper": "nmtune-paper",
                  "mlp-authors": "mlp-authors", "nmtune-authors": "nmtune-authors", "nmtune-default": "nmtune",
                  "recommended": "cv", "recommended-lambda0": "cv-lambda0", "voting": "vote"}
#: the PACS study's method names -> the registry's: its ``cv`` searched on every row (``selection_rows=None``), its
#: ``cv-sub2000`` is the package's default ``NMTuneClassifierCV()`` (on the ImageNet tasks, <= 1,200 rows, the two
#: are the same computation)
PACS_NAMES = {"cv": "cv-all-rows", "cv-sub2000": "cv"}
PACS_DOMAINS = ("art_painting", "cartoon", "photo", "sketch")
REFERENCES = {"vs-probe": "logreg-cv", "vs-default": "cv"}
_UNITS = ("evidence", "backbone", "task", "seed")


def validation_rows(imagenet: list[dict[str, Any]], pacs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation accuracies of both benchmarks in one shape: ``evidence``, ``backbone``, ``task``, ``seed``,
    ``method`` (registry names), ``role="val"``, ``accuracy`` and ``touches`` (the PACS domains the unit used)."""
    rows = []
    for r in imagenet:
        if r["method"] in IMAGENET_NAMES and r["role"] == "val":
            domain = r["task"].removeprefix("pacs-")
            rows.append({"evidence": "ImageNet tasks, validation split", "backbone": r["backbone"], "task": r["task"],
                         "seed": r["seed"], "method": IMAGENET_NAMES[r["method"]], "role": "val",
                         "accuracy": r["accuracy"], "touches": domain if domain in PACS_DOMAINS else ""})
    finished = {_pacs_unit(r) for r in pacs if r["method"] == "vote"}  # the vote is scored once phase 1 is done
    for r in pacs:
        if r["role"] != "val" or _pacs_unit(r) not in finished:
            continue  # a target domain: never read here; a unit whose first phase is still running: not yet
        kind = "multi-source" if r["protocol"] == "lodo" else "single-source"
        rows.append({"evidence": f"PACS {kind}, the sources' validation part", "backbone": r["backbone"],
                     "task": f"{r['protocol']}:{r['unit']}", "seed": r["seed"],
                     "method": PACS_NAMES.get(r["method"], r["method"]), "role": "val",
                     "accuracy": r["accuracy"], "touches": r["sources"]})
    return rows


def _pacs_unit(r: dict[str, Any]) -> tuple:
    return r["protocol"], r["backbone"], r["unit"], r["seed"]


def payoff(pacs: list[dict[str, Any]], target: str, head: str, reference: str) -> dict[str, Any] | None:
    """``head - reference`` on ``target``'s test records (multi-source: trained without it; single-source:
    trained on another domain), reported after the decision, never read by it."""
    from sknmtune.evaluation import paired_difference

    rows = [{**r, "method": PACS_NAMES.get(r["method"], r["method"])} for r in pacs
            if r["role"] == "ood" and r["domain"] == target]
    if head == reference or not rows:
        return None
    d = paired_difference(rows, head, reference, role="ood", units=("protocol", "backbone", "unit", "seed"))
    return {"head": head, "reference": reference, "text": d.describe(), "mean": d.mean, "n_clusters": d.n_clusters,
            "verdict": d.verdict} if d.n_units else None


def decide(rows: list[dict[str, Any]], pacs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every decision: pooled and per left-out PACS target, against each reference; and the targets' payoff."""
    from sknmtune.evaluation import recommend_head_leaving_out

    targets = [t for t in PACS_DOMAINS if any(t in r["touches"].split("+") for r in rows)]
    out: dict[str, Any] = {"evidence": {}, "decisions": {}}
    for evidence in sorted({r["evidence"] for r in rows}):
        mine = [r for r in rows if r["evidence"] == evidence]
        out["evidence"][evidence] = {"records": len(mine), "methods": sorted({r["method"] for r in mine}),
                                     "clusters": len({(r["backbone"], r["task"]) for r in mine})}
    for name, reference in REFERENCES.items():
        result = recommend_head_leaving_out(rows, targets, touches=lambda r: r["touches"].split("+"),
                                            reference=reference, units=_UNITS)
        summary = result.as_dict()
        summary["payoff"] = {t: payoff(pacs, t, rec.head, reference) for t, rec in result.per_target.items()}
        out["decisions"][name] = summary
    return out


def _fmt(d: dict[str, Any]) -> str:
    text = f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}], {d['n_clusters']} clusters"
    return text + (f", p = {d['p_value']:.3g} (exact)" if d["few_clusters"] else "") + f" ({d['verdict']})"


def render(result: dict[str, Any]) -> str:
    """The markdown report of :func:`decide`'s output."""
    lines = ["# Which head: decided by code on validation records (`python -m benchmarks.head_choice`)", "",
             "Generated from the stored records; do not edit by hand. Rule (`sknmtune.evaluation.recommend_head`): "
             "the reference stays recommended unless another head is decisively ahead of it on validation accuracy "
             "(95 % cluster-bootstrap interval above 0 with 6 clusters or more, exact sign-flip test below), and was "
             "measured on every cluster the reference was (a head of one benchmark only is listed, never recommended "
             "over evidence it lacks). "
             "Clusters are (evidence, backbone, task): seeds that share a split are not independent.", "",
             "## Evidence", "", "| evidence | records | clusters | heads |", "|---|---|---|---|"]
    for evidence, e in result["evidence"].items():
        lines.append(f"| {evidence} | {e['records']} | {e['clusters']} | {', '.join(e['methods'])} |")
    for name, summary in result["decisions"].items():
        pooled = summary["pooled"]
        lines += ["", f"## Against `{pooled['reference']}` ({name})", "", f"**Decision (all units):** {pooled['statement']}",
                  "", "| head | mean validation accuracy | head − reference |", "|---|---|---|"]
        for head, mean in sorted(pooled["means"].items(), key=lambda kv: -kv[1]):
            diff = pooled["differences"].get(head)
            lines.append(f"| {head} | {100 * mean:.2f} | {_fmt(diff) if diff else 'reference'} |")
        lines += ["", "Each PACS domain left out (only units that never touched it), and what that decision earned "
                  "on the left-out domain's test records (reported, never read by a decision):", "",
                  "| left out | decision | leader | leader − reference | on the target: decision − reference |",
                  "|---|---|---|---|---|"]
        for target, rec in summary["per_target"].items():
            lead = rec["differences"].get(rec["leader"])
            pay = summary["payoff"].get(target)
            lines.append(f"| {target} | {rec['head']} | {rec['leader']} | {_fmt(lead) if lead else '–'} | "
                         f"{pay['text'] if pay else '–'} |")
        lines.append("")
        lines.append(f"The left-out decision differs from the pooled one for {summary['n_changed']} of "
                     f"{len(summary['per_target'])} targets" + (f" ({', '.join(summary['changed'])})."
                                                                if summary["changed"] else "."))
    return "\n".join(lines) + "\n"


def main(results: Path = RESULTS_DIR) -> dict[str, Any]:
    imagenet = read_json(results / "accuracy_imagenet_validation.json", {}).get("rows", [])
    pacs = read_json(results / "pacs_domainbed.json", [])
    result = decide(validation_rows(imagenet, pacs), pacs)
    write_json(results / "head_choice.json", result)
    atomic_write_text(results / "head_choice.md", render(result))
    return result


if __name__ == "__main__":
    for name, summary in main()["decisions"].items():
        print(f"{name}: {summary['pooled']['statement']}  (left-out decision changed for {summary['n_changed']} targets)")
