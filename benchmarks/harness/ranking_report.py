"""The ranking study's report: what ``python -m benchmarks.ranking`` measures, rendered as markdown.

Holds the study's score and head definitions and :func:`render`, which turns the stored result into
``results/ranking.md`` byte for byte.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SCORES = {
    "logme": ("LogME", 1),
    "h_score": ("H-score (pseudo-inverse)", 1),
    "h_score_lw": ("H-score (Ledoit-Wolf shrinkage)", 1),
    "sve": ("SVE", 1),
    "lsvr": ("LSVR (lower = better)", -1),
}
TIE_RTOL = 1e-6  # scores this close (relative) to the top one count as tied with it
HEADS = {"lp": "LP", "nmtune": "NMTune (validation-chosen default of accuracy.py)"}
# study -> {group: label}. "pacs": the 6 backbones on accuracy.py's PACS splits (heads fitted here);
# "imagenet": the 2 ImageNet backbones on every task of accuracy_imagenet.py (its own head records).
GROUPS = {
    "pacs": {"all": "all backbones", "cifar": "the CIFAR ResNets only"},
    "imagenet": {"pair": "the 2 ImageNet backbones on the tasks of accuracy_imagenet.py (its records; a pairwise choice)"},
}

def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:+.{digits}f}"


def _head_label(head: str) -> str:
    return HEADS[head].split(" (")[0]


def _correlation_table(corr: list[dict[str, Any]]) -> list[str]:
    tasks = sorted({c["task"] for c in corr})
    lines = ["| head | test | score | " + " | ".join(f"{t}: ρ / τ / top-1 / regret (pp)" for t in tasks)
             + " | mean τ | top-1 hits |", "|---|---|---|" + "---|" * (len(tasks) + 2)]
    for head in HEADS:
        for role in ("ID", "OOD"):
            for score, (name, _) in SCORES.items():
                cells = [next((c for c in corr if (c["task"], c["head"], c["role"], c["score"]) == (t, head, role, score)), None)
                         for t in tasks]
                if not any(cells):
                    continue
                text = ["-" if c is None else f"{_fmt(c['spearman'])} / {_fmt(c['kendall'])} / "
                        f"{'tie' if c.get('tie') else 'yes' if c['top1'] else 'no'} / {c['regret_pp']:.1f}" for c in cells]
                taus = [c["kendall"] for c in cells if c is not None and c["kendall"] is not None]
                hits = sum(bool(c and c["top1"]) for c in cells)
                lines.append(f"| {_head_label(head)} | {role} | {name} | " + " | ".join(text)
                             + f" | {_fmt(float(np.mean(taus)) if taus else None)} | {hits} / {sum(c is not None for c in cells)} |")
    return lines


def score_summary_table(corr: list[dict[str, Any]]) -> list[str]:
    """Mean Kendall tau over tasks and top-1 hits, one row per score, one column per (head, test)."""
    cols = [(h, role) for h in HEADS for role in ("ID", "OOD") if any(c["head"] == h and c["role"] == role for c in corr)]
    lines = ["| score | " + " | ".join(f"{_head_label(h)} {role}: mean τ (top-1 hits)" for h, role in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for score, (name, _) in SCORES.items():
        cells = []
        for h, role in cols:
            sel = [c for c in corr if (c["head"], c["role"], c["score"]) == (h, role, score)]
            taus = [c["kendall"] for c in sel if c["kendall"] is not None]
            cells.append(f"{_fmt(float(np.mean(taus)) if taus else None)} ({sum(c['top1'] for c in sel)} / {len(sel)})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _scores_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| task | backbone | n train | D | LogME | H-score | H-score (LW) | SVE | LSVR | LP ID | NMTune ID | LP OOD | NMTune OOD |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["task"], -(r["accuracy"].get("lp_ID") or 0))):
        s, a = r["scores"], r["accuracy"]
        pct = lambda k: "-" if a.get(k) is None else f"{100 * a[k]:.1f}"  # noqa: E731
        lines.append(
            f"| {r['task']} | {r['backbone']} | {r['n_train']} | {s['n_features']} | {s['logme']:.4f} | {s['h_score']:.3f} | "
            f"{s['h_score_lw']:.3f} | {s['sve']:.3f} | {s['lsvr']:.3f} | {pct('lp_ID')} | {pct('nmtune_ID')} | "
            f"{pct('lp_OOD')} | {pct('nmtune_OOD')} |"
        )
    return lines


def _noise_lines(rows: list[dict[str, Any]]) -> list[str]:
    """How far apart the backbones are, against the sampling error of one test accuracy."""
    lines = ["How separable the backbones are: the spread of ID accuracy across backbones vs the binomial "
             "standard error of one test accuracy, sqrt(p (1 - p) / n_test):", ""]
    for task in sorted({r["task"] for r in rows}):
        sel = [r for r in rows if r["task"] == task]
        parts = []
        for head in HEADS:
            accs = [r["accuracy"].get(f"{head}_ID") for r in sel]
            accs = [a for a in accs if a is not None]
            n_test = sel[0].get("n_test")
            if len(accs) < 2 or not n_test:
                continue
            p = float(np.mean(accs))
            parts.append(f"{_head_label(head)} spread {100 * (max(accs) - min(accs)):.1f} pp, "
                         f"standard error {100 * math.sqrt(p * (1 - p) / n_test):.1f} pp")
        if parts:
            lines.append(f"- {task} (n_test = {sel[0].get('n_test')}): " + "; ".join(parts))
    return lines


def render(result: dict[str, Any]) -> str:
    rows, corr, cfg = result["rows"], result["correlations"], result["config"]
    lines = [
        "# Backbone ranking: do transferability scores predict the accuracy of a trained head?",
        "",
        "Generated by `benchmarks/ranking.py`; do not edit by hand. Scores are computed on each backbone's "
        "features of the ID **training** split (what a user has before choosing); accuracies are test accuracies "
        "of heads trained on that split. Correlations are over the backbones of one task (n per row); scores are "
        "signed so that a positive correlation means the score orders backbones as the accuracy does (LSVR is "
        "negated: lower = better). top-1: the score's best backbone is the most accurate one; regret: accuracy "
        "lost by deploying the score's best backbone instead of the most accurate one (percentage points; "
        "tie: several backbones share the top score, e.g. an H-score saturated at n_classes - 1, and the regret "
        "is that of a random tie-break; Kendall's τ-b and Spearman's ρ handle ties). "
        "LP ID/OOD: the ID test split / the mean over OOD domains.",
        "",
        f"Machine: {cfg['machine']}. Runtime: {cfg['seconds'] / 60:.1f} min.",
    ]
    if any(r["study"] == "pacs" for r in rows):
        lines += [
            "",
            "## Study 1: PACS with accuracy.py's splits, CIFAR ResNets (32 px) and ImageNet backbones (128 px)",
            "",
            "Backbones: " + ", ".join(f"`{b}`" for b in dict.fromkeys(r["backbone"] for r in rows if r["study"] == "pacs"))
            + ". All backbones see the same images (PACS at 32 px for the CIFAR ResNets, the same images at 128 px "
            "from `pacs-full` for the ImageNet backbones) with identical train / test indices. Heads fitted here "
            f"with accuracy.py's protocol: LP (preset `lp`, seeds {cfg['lp_seeds']}) and NMTune = "
            f"`{cfg['nmtune_method']}`, accuracy.py's validation-chosen default (seeds {cfg['nmtune_seeds']}).",
            "",
            *_scores_table([r for r in rows if r["study"] == "pacs"]),
            "",
            *_noise_lines([r for r in rows if r["study"] == "pacs"]),
        ]
        for group, label in GROUPS["pacs"].items():
            sel = [c for c in corr if c["study"] == "pacs" and c["group"] == group]
            if sel:
                lines += ["", f"### Rank correlation with test accuracy: {label}", "", *_correlation_table(sel), "",
                          "Summary over tasks:", "", *score_summary_table(sel)]
    if any(r["study"] == "imagenet" for r in rows):
        sel = [c for c in corr if c["study"] == "imagenet"]
        lines += [
            "",
            "## Study 2: the 2 ImageNet backbones on the tasks of accuracy_imagenet.py",
            "",
            "Accuracies from `results/accuracy_imagenet.json` (LP = `lp`, NMTune = `nmtune-authors`, the same "
            "configurations as study 1; mean over its seeds); scores of the training features it cached. With two "
            "backbones per task every correlation is ±1: the question is only whether the score picks the better one.",
            "",
            *_scores_table([r for r in rows if r["study"] == "imagenet"]),
            "",
            *_noise_lines([r for r in rows if r["study"] == "imagenet"]),
            "",
            *_correlation_table(sel),
            "",
            "Summary over tasks:",
            "",
            *score_summary_table(sel),
        ]
    check = result.get("protocol_check", {})
    lines += ["", "## Protocol cross-check", "",
              "Heads fitted here vs the `accuracy.json` records of the same (task, backbone, method, seed, test domain):", ""]
    lines += [f"- `{m}`: {v['identical']} of {v['n']} identical; max |difference| {100 * v['max_abs_diff']:.2f} pp, "
              f"mean difference {100 * v['mean_diff']:+.2f} pp" for m, v in check.items()] or ["- no overlapping records"]
    timing = result.get("score_seconds", {})
    if timing:
        lines += ["", "## Cost of the scores (seconds on the training features, 2 CPU threads)", "",
                  "| task | backbone | n | D | LogME | H-score |", "|---|---|---|---|---|---|"]
        lines += [f"| {t['task']} | {t['backbone']} | {t['n']} | {t['d']} | {t['logme']:.3f} | {t['h_score']:.3f} |" for t in timing]
    if result.get("skipped"):
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in result["skipped"]]
    lines += ["", "## Data", ""] + [f"- {k}: {v}" for k, v in result.get("data", {}).items()]
    return "\n".join(lines) + "\n"
