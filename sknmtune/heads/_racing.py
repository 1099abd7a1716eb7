"""Racing the candidates of :class:`~sknmtune.heads.NMTuneClassifierCV`'s search: every candidate on the first
fold, only those within a margin of the best on the others (``racing=``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.model_selection import GridSearchCV

__all__: list[str] = []

#: ``racing="auto"``: the margin (accuracy) and the smallest first held-out fold it applies to. Decided on
#: validation (``benchmarks/cv_grid_study.py race``, on the accuracy benchmarks' units) and checked on the
#: training sets of the PACS domain-shift benchmark: which margins change a selection, and the share of the
#: fold fits they save, are in ``benchmarks/results/cv_grid_study.md`` (section "Racing").
_AUTO_RACING = 0.03
_AUTO_RACING_MIN_ROWS = 200


def _pooled(first: np.ndarray, mean: np.ndarray, std: np.ndarray, n_rest: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation of one value per row joined with ``n_rest`` values per row
    summarized by their ``mean`` and ``std`` (NaN where those are NaN: the row has ``first`` only)."""
    total = (first + n_rest * mean) / (1 + n_rest)
    var = ((first - total) ** 2 + n_rest * (std**2 + (mean - total) ** 2)) / (1 + n_rest)
    alone = np.isnan(mean)
    return np.where(alone, first, total), np.where(alone, 0.0, np.sqrt(var))


def _raced_search(make_search: Callable[[Any, list], GridSearchCV], grid: Any, splits: list, margin: float, data: Any,
                  y: np.ndarray, fit_params: dict) -> dict[str, Any]:
    """``cv_results_`` of a grid search that scores every candidate on the first split, then only the
    candidates within ``margin`` of the best first-split score on the other splits.

    ``make_search(grid, splits)`` builds an unrefitted :class:`~sklearn.model_selection.GridSearchCV`.
    The survivors' later splits are the same fits as in a full search (same clones, same splits); the
    dropped candidates get NaN there and in ``mean_test_score`` (ranked last, never selected).
    """
    first = make_search(grid, splits[:1]).fit(data, y, **fit_params).cv_results_
    scores = np.asarray(first["split0_test_score"], dtype=float)
    keep = np.flatnonzero(scores >= np.nanmax(scores) - margin) if np.isfinite(scores).any() else np.arange(scores.size)
    table = np.full((scores.size, len(splits)), np.nan)
    table[:, 0] = scores
    rest_times = {kind: (np.full(scores.size, np.nan), np.full(scores.size, np.nan)) for kind in ("fit", "score")}
    if len(splits) > 1:
        rest = make_search([{name: [value] for name, value in first["params"][i].items()} for i in keep],
                           splits[1:]).fit(data, y, **fit_params).cv_results_
        for j in range(1, len(splits)):
            table[keep, j] = rest[f"split{j - 1}_test_score"]
        for kind, (mean, std) in rest_times.items():
            mean[keep], std[keep] = rest[f"mean_{kind}_time"], rest[f"std_{kind}_time"]
    results: dict[str, Any] = {}
    for kind, (mean, std) in rest_times.items():  # a dropped candidate's time is its first-split fit's
        results[f"mean_{kind}_time"], results[f"std_{kind}_time"] = _pooled(
            np.asarray(first[f"mean_{kind}_time"], dtype=float), mean, std, len(splits) - 1)
    results.update((key, value) for key, value in first.items() if key.startswith("param"))  # GridSearchCV's key order
    for j in range(len(splits)):
        results[f"split{j}_test_score"] = table[:, j]
    with np.errstate(invalid="ignore"):
        mean = table.mean(axis=1)
        results["mean_test_score"], results["std_test_score"] = mean, table.std(axis=1)
    finite = np.isfinite(mean)
    ranked = np.where(finite, mean, np.nanmin(mean) - 1 if finite.any() else 0.0)
    results["rank_test_score"] = rankdata(-ranked, method="min").astype(np.int32)
    return results
