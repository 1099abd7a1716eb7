"""The head's ablation (``python -m benchmarks.ablation``): its variants and its report, shared by the script and
``benchmarks/render_docs.py``. Every variant is scored on validation splits only (never a test set).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["VARIANTS", "ablation_report"]

#: name -> changes to NMTuneClassifier() (the package default); ``__cv__``: ``NMTuneClassifierCV()``,
#: ``__logreg__``: the probe users write (``LogisticRegressionCV``); the report's row order
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "lr-3e-3": {"lr": 3e-3},
    "mlp (lambda 0)": {"reg_lambda": 0.0},
    "lp (depth 0)": {"mlp_depth": 0},
    "lp std (depth 0)": {"mlp_depth": 0, "standardize": True},
    "fixed 30 epochs, cosine": {"early_stopping": False, "n_iter_no_change": None, "max_epochs": 30,
                                "lr_schedule": "cosine"},
    "residual s0 = 1": {"residual_init": 1.0},
    "no width cap (4 D)": {"max_hidden_width": None},
    "standardize": {"standardize": True},
    "lambda 0.1": {"reg_lambda": 0.1},
    "lambda 10": {"reg_lambda": 10.0},
    "top-1": {"svd_top_k": 1},
    "paper loss (Eq. 3, 1/1/1, lambda 0.01, top-1)": {
        "consistency_reduction": "batchmean", "mse_weight": 1.0, "cov_weight": 1.0, "svd_weight": 1.0,
        "reg_lambda": 0.01, "svd_top_k": 1},
    "NMTuneClassifierCV()": {"__cv__": True},
    "LogisticRegressionCV": {"__logreg__": True},
}


def ablation_report(records: list[dict[str, Any]]) -> str:
    """``ablation.md`` of the ablation's records: validation accuracy per variant and (task, backbone), the mean
    difference to the default and the median fit time."""
    by: dict[str, dict[str, list[float]]] = {}
    secs: dict[str, list[float]] = {}
    for r in records:
        by.setdefault(r["method"], {}).setdefault(f"{r['task']}/{r['backbone']}", []).append(r["accuracy"])
        secs.setdefault(r["method"], []).append(r["fit_seconds"])
    jobs = sorted({j for m in by.values() for j in m})
    lines = ["# Ablation of the head, on validation splits (never test)", "",
             "Validation accuracy (%) of `NMTuneClassifier()` with one thing changed, mean over the seeds run; "
             "`Δ vs default` is the mean difference to the default on the (task, backbone) pairs both have "
             "(`n` pairs). Produced by `benchmarks/ablation.py`.", "",
             "| variant | " + " | ".join(jobs) + " | Δ vs default | n | fit s (median) |",
             "|---|" + "---|" * (len(jobs) + 3)]
    base = by.get("default", {})
    for method in VARIANTS:
        if method not in by:
            continue
        cells = [f"{100 * np.mean(by[method][j]):.1f}" if j in by[method] else "–" for j in jobs]
        shared = [j for j in by[method] if j in base]
        delta = np.mean([np.mean(by[method][j]) - np.mean(base[j]) for j in shared]) if shared else float("nan")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {100 * delta:+.1f} | {len(shared)} | "
                     f"{np.median(secs[method]):.1f} |")
    return "\n".join(lines) + "\n"
