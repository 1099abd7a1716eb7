"""The tables of ``python -m benchmarks.regression`` (SICK relatedness from frozen MiniLM pair features), shared by
the script's report and ``benchmarks/render_docs.py``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["METHOD_LABELS", "paired_table", "summary_table"]

#: the study's methods, in the report's order, and how its tables name them
METHOD_LABELS = {
    "ridge": "RidgeCV (standardized features, alpha by LOO on train)",
    "linear": "NMTuneRegressor(mlp_depth=0) (linear head)",
    "mlp": "NMTuneRegressor(reg_lambda=0) (MLP tuning)",
    "nmtune": "NMTuneRegressor() (NMTune, defaults)",
}


def _stat(records: list[dict], method: str, split: str, metric: str) -> tuple[float, float, int]:
    values = [r[split][metric] for r in records if r["method"] == method]
    return float(np.mean(values)), float(np.std(values)), len(values)


def _cell(mean: float, std: float, n: int) -> str:
    return f"{mean:.4f}" if n == 1 else f"{mean:.4f} ± {std:.4f}"


def summary_table(records: list[dict]) -> str:
    """Markdown table: mean ± std over seeds of every metric, one row per method."""
    columns = [
        ("sick/test", "pearson", "ID Pearson"), ("sick/test", "spearman", "ID Spearman"), ("sick/test", "r2", "ID R²"),
        ("mrpc/test", "roc_auc", "OOD MRPC AUC"), ("mrpc/test", "spearman", "OOD MRPC Spearman"),
        ("sick/trial", "pearson", "val Pearson"),
    ]
    lines = ["| method | seeds | " + " | ".join(c[2] for c in columns) + " | epochs (best) | fit s |",
             "|---|---|" + "---|" * len(columns) + "---|---|"]
    for method, label in METHOD_LABELS.items():
        rows = [r for r in records if r["method"] == method]
        if not rows:
            continue
        cells = [_cell(*_stat(records, method, split, metric)) for split, metric, _ in columns]
        fit = np.mean([r["fit_seconds"] for r in rows])
        epochs = ", ".join(f"{r['n_iter']} ({r['best_epoch']})" for r in rows if "n_iter" in r) or "-"
        lines.append(f"| {label} | {len(rows)} | " + " | ".join(cells) + f" | {epochs} | {fit:.0f} |")
    return "\n".join(lines)


def paired_table(records: list[dict], pairs: tuple[tuple[str, str], ...] = (("nmtune", "mlp"), ("nmtune", "linear"),
                                                                           ("mlp", "linear"))) -> str:
    """Markdown table of same-seed differences ``a - b`` (mean over seeds, and how many seeds ``a`` wins)."""
    metrics = [
        ("sick/test", "pearson", "ID Pearson"), ("sick/test", "r2", "ID R²"), ("mrpc/test", "roc_auc", "OOD AUC"),
    ]
    lines = ["| a − b | " + " | ".join(m[2] for m in metrics) + " |", "|---|" + "---|" * len(metrics)]
    by_key = {(r["method"], r["seed"]): r for r in records}
    for a, b in pairs:
        seeds = sorted(s for (m, s) in by_key if m == a and (b, s) in by_key)
        if not seeds:
            continue
        cells = []
        for split, metric, _ in metrics:
            diffs = np.array([by_key[a, s][split][metric] - by_key[b, s][split][metric] for s in seeds])
            cells.append(f"{diffs.mean():+.4f} ({int((diffs > 0).sum())}/{len(seeds)} wins)")
        lines.append(f"| {a} − {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
