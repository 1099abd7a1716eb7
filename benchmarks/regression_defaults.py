"""Choosing NMTuneRegressor's defaults on validation data only (issue 37).

Every candidate configuration is scored on held-out rows that are never a test split:

* ``arcsinh``: ``make_regression(300, 16, noise=5.0, random_state=0)`` with the target ``arcsinh(y)``
  (the TransformedTargetRegressor case of the issue), 5-fold cross-validation;
* ``friedman1``: ``make_friedman1(500, noise=1.0, random_state=0)``, 5-fold cross-validation;
* ``diabetes``: scikit-learn's bundled diabetes set (442 rows, 10 features), 5-fold cross-validation;
* ``linnerud``: scikit-learn's bundled linnerud set (20 rows, 3 targets, multi-output), 5-fold cross-validation;
* ``sick``: the regression benchmark's set (``benchmarks/regression.py``: frozen MiniLM pair features of SICK,
  relatedness 1-5), fitted on SICK ``train`` and scored on SICK ``trial``, its validation split (SICK ``test``
  is not read).

The baselines are ``MLPRegressor()`` and ``StandardScaler + RidgeCV`` (alphas of the regression benchmark).
California housing is not bundled with scikit-learn (it is downloaded) and this machine is offline, so it is
not among the sets.

Run (one torch thread; the SICK features come from ``benchmarks/cache``)::

    .venv/bin/python -m benchmarks.regression_defaults                        # every set and candidate
    .venv/bin/python -m benchmarks.regression_defaults --sets arcsinh diabetes --candidates current defaults

Results: ``benchmarks/results/regression_defaults.json`` (records are merged by set, method and seed, so
runs of different subsets add up).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.driver import machine
from benchmarks.harness.io import RESULTS_DIR, log, read_json, write_json

RESULTS_JSON = RESULTS_DIR / "regression_defaults.json"
RIDGE_ALPHAS = np.logspace(-2, 5, 15)
SEEDS = (0, 1, 2)

#: The configurations compared (parameters of NMTuneRegressor; "defaults" is what the package ships).
#: The defaults before issue 37 (a random readout start) are measured by running this script against the
#: package of that commit: ``PYTHONPATH=<checkout of that commit> python -m benchmarks.regression_defaults
#: --candidates defaults --label previous``.
CANDIDATES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "lr3e-3": {"lr": 3e-3},
    "lr1e-2": {"lr": 1e-2},
    "standardize": {"standardize": True},
}
BASELINES = ("ridge", "mlp_sklearn")


def _sets(names: list[str]) -> dict[str, Any]:
    """``name -> (X, y)`` for cross-validated sets, or ``(X_train, y_train, X_val, y_val)`` for SICK."""
    from sklearn.datasets import load_diabetes, load_linnerud, make_friedman1, make_regression

    out: dict[str, Any] = {}
    for name in names:
        if name == "arcsinh":
            X, y = make_regression(300, 16, noise=5.0, random_state=0)
            out[name] = (X, np.arcsinh(y))
        elif name == "friedman1":
            out[name] = make_friedman1(500, noise=1.0, random_state=0)
        elif name == "diabetes":
            out[name] = load_diabetes(return_X_y=True)
        elif name == "linnerud":
            X, y = load_linnerud(return_X_y=True)
            out[name] = (X.astype(float), y.astype(float))
        elif name == "sick":
            from benchmarks.harness.sick import relatedness_features

            try:
                splits, _ = relatedness_features()
            except Exception as exc:  # no MiniLM weights or SICK data here
                log(f"sick skipped: {exc}")
                continue
            out[name] = (*splits["sick/train"], *splits["sick/trial"])
        else:
            raise SystemExit(f"unknown set {name!r}")
    return out


def _estimator(method: str, seed: int) -> Any:
    from sklearn.linear_model import RidgeCV
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sknmtune.heads import NMTuneRegressor

    if method == "ridge":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
    if method == "mlp_sklearn":
        return MLPRegressor(random_state=seed)
    return NMTuneRegressor(**CANDIDATES[method], random_state=seed, device="cpu")


def _score(method: str, seed: int, data: tuple) -> dict[str, Any]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold

    if len(data) == 4:
        folds = [(data[0], data[1], data[2], data[3])]
    else:
        X, y = data
        folds = [(X[a], y[a], X[b], y[b]) for a, b in KFold(5, shuffle=True, random_state=0).split(X)]
    scores, train_scores, epochs, t0 = [], [], [], time.perf_counter()
    for X_tr, y_tr, X_va, y_va in folds:
        est = _estimator(method, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X_tr, y_tr)
        scores.append(float(r2_score(y_va, est.predict(X_va))))
        train_scores.append(float(r2_score(y_tr, est.predict(X_tr))))
        epochs.append(int(getattr(est, "n_iter_", 0) or 0))
    return {"val_r2": float(np.mean(scores)), "fold_r2": scores, "train_r2": float(np.mean(train_scores)),
            "epochs": epochs, "seconds": round(time.perf_counter() - t0, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["arcsinh", "friedman1", "diabetes", "linnerud", "sick"])
    parser.add_argument("--candidates", nargs="+", default=[*BASELINES, *CANDIDATES])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--label", help="store the (single) candidate's records under this name, e.g. 'previous'")
    parser.add_argument("--results", default=str(RESULTS_JSON), help="the JSON file records are merged into")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from sknmtune.heads import NMTuneRegressor

    results = Path(args.results)
    stored = read_json(results, None) or {"meta": {}, "records": []}
    records = {(r["set"], r["method"], r["seed"]): r for r in stored["records"]}
    for set_name, data in _sets(args.sets).items():
        for method in args.candidates:
            seeds = args.seeds[:1] if method == "ridge" or set_name == "sick" else args.seeds
            for seed in seeds:
                name = args.label or method
                record = {"set": set_name, "method": name, "seed": seed, **_score(method, seed, data)}
                if method in CANDIDATES:
                    record["params"] = {k: v for k, v in NMTuneRegressor(**CANDIDATES[method]).get_params().items()
                                        if k in ("standardize", "lr", "n_iter_no_change", "max_epochs", "batch_size")}
                records[set_name, name, seed] = record
                log(f"{set_name:9s} {name:24s} seed={seed} val R2={record['val_r2']:.4f} "
                    f"train R2={record['train_r2']:.4f} epochs={record['epochs']} {record['seconds']:.0f}s")
                write_json(results, {"meta": {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
                                                    "candidates": CANDIDATES, "ridge_alphas": RIDGE_ALPHAS.tolist()},
                                           "records": sorted(records.values(), key=lambda r: (r["set"], r["method"], r["seed"]))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
