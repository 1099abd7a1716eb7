"""The evaluation protocol of the paper as one function: fit heads on frozen features, score them ID and OOD.

:func:`evaluate_heads` fits every head on the training features for every seed and scores it on
the in-domain test set and on each out-of-domain test domain: accuracy, macro-F1, the SVE / LSVR
of the features ``F`` and of the head's representation ``Z`` and the fit time, as tidy records
(one dict per head x seed x test domain, ready for ``pandas.DataFrame``). :func:`summarize`
averages them per head and role.

>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> from sknmtune import NMTuneClassifier
>>> from sknmtune.evaluation import evaluate_heads, summarize
>>> rng = np.random.default_rng(0)
>>> F, y = rng.normal(size=(120, 8)), rng.integers(0, 2, 120)
>>> records = evaluate_heads(
...     {"lp": NMTuneClassifier(mlp_depth=0, max_epochs=3), "logreg": LogisticRegression()},
...     F[:80], y[:80], id_test=(F[80:100], y[80:100]), ood_tests={"shifted": (F[100:] + 1, y[100:])},
...     seeds=(0, 1),
... )
>>> len(records), sorted(records[0])[:4]
(8, ['accuracy', 'fit_seconds', 'lsvr_F', 'lsvr_Z'])
>>> sorted(summarize(records))
[('logreg', 'id'), ('logreg', 'ood'), ('lp', 'id'), ('lp', 'ood')]
"""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score

from .spectral import spectral_summary

__all__ = ["evaluate_heads", "summarize"]


def _spectrum(X: np.ndarray) -> tuple[float, float]:
    """SVE and LSVR of ``X`` from one decomposition."""
    summary = spectral_summary(X)
    return summary["sve"], summary["lsvr"]


def _with_seed(estimator: Any, seed: int) -> Any:
    """A clone of ``estimator`` with every ``random_state`` parameter (nested ones too) set to ``seed``."""
    estimator = clone(estimator)
    keys = [key for key in estimator.get_params(deep=True) if key == "random_state" or key.endswith("__random_state")]
    if keys:
        estimator.set_params(**dict.fromkeys(keys, seed))
    return estimator


def _fit_details(estimator: Any) -> dict[str, Any]:
    """What a fitted head chose or ran: epochs, best epoch, the selection of a CV head, C of a probe."""
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    details: dict[str, Any] = {}
    for attr, key in (("n_iter_", "n_iter"), ("best_epoch_", "best_epoch")):
        value = getattr(final, attr, None)
        if isinstance(value, (int, np.integer)):
            details[key] = int(value)
    if isinstance(getattr(final, "best_params_", None), dict):
        details["best_params"] = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in final.best_params_.items()}
    if hasattr(final, "C_"):
        details["chosen_C"] = float(np.atleast_1d(final.C_)[0])
    return details


def evaluate_heads(
    heads: Mapping[str, Any],
    F_train: np.ndarray,
    y_train: np.ndarray,
    *,
    id_test: tuple[np.ndarray, np.ndarray],
    ood_tests: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    seeds: Iterable[int] = (0,),
    spectra: bool = True,
    extra: Mapping[str, Any] | None = None,
    return_estimators: bool = False,
) -> list[dict[str, Any]] | tuple[list[dict[str, Any]], dict[tuple[str, int], Any]]:
    """Fit each head on ``(F_train, y_train)`` for each seed; score it on the ID and OOD test sets.

    Parameters
    ----------
    heads : mapping of str to estimator
        Unfitted classifiers (any scikit-learn classifier or pipeline), by method name. Each is
        cloned and its ``random_state`` parameters (nested ones too) set to the seed.
    F_train, y_train : array-like
        Training features and labels.
    id_test : (F, y)
        In-domain test set (role ``"id"``, domain ``"id"``).
    ood_tests : mapping of str to (F, y), optional
        Out-of-domain test sets by domain name (role ``"ood"``).
    seeds : iterable of int, default=(0,)
    spectra : bool, default=True
        Also record SVE / LSVR of ``F`` (computed once per test set) and of the head's ``Z``
        (for heads with a ``transform`` method; ``None`` otherwise).
    extra : mapping, optional
        Fields copied into every record (e.g. ``{"task": ..., "backbone": ...}``).
    return_estimators : bool, default=False
        Also return the fitted heads, ``{(method, seed): estimator}`` (e.g. to plot their ``Z``).

    Returns
    -------
    records : list of dict
        One per head x seed x test set, with ``method``, ``seed``, ``role``, ``domain``,
        ``accuracy``, ``macro_f1``, ``sve_F``, ``lsvr_F``, ``sve_Z``, ``lsvr_Z``,
        ``fit_seconds``, ``n_train``, ``n_test`` and, where the head has them, ``n_iter``,
        ``best_epoch``, ``best_params`` (CV heads) or ``chosen_C``.
    estimators : dict, only with ``return_estimators=True``
    """
    tests = [("id", "id", id_test)] + [("ood", name, pair) for name, pair in (ood_tests or {}).items()]
    spec_F = {domain: _spectrum(np.asarray(F)) if spectra else (None, None) for _, domain, (F, _) in tests}
    records: list[dict[str, Any]] = []
    fitted: dict[tuple[str, int], Any] = {}
    for seed in seeds:
        for method, head in heads.items():
            estimator = _with_seed(head, int(seed))
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                estimator.fit(F_train, y_train)
            fit_seconds = time.perf_counter() - start
            fitted[(method, int(seed))] = estimator
            details = _fit_details(estimator)
            has_z = spectra and hasattr(estimator, "transform") and "chosen_C" not in details
            for role, domain, (F, y) in tests:
                pred = estimator.predict(F)
                sve_Z, lsvr_Z = _spectrum(estimator.transform(F)) if has_z else (None, None)
                records.append({
                    **(extra or {}), "method": method, "seed": int(seed), "role": role, "domain": domain,
                    "accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro")),
                    "sve_F": spec_F[domain][0], "lsvr_F": spec_F[domain][1], "sve_Z": sve_Z, "lsvr_Z": lsvr_Z,
                    "fit_seconds": fit_seconds, "n_train": int(len(y_train)), "n_test": int(len(y)), **details,
                })
    return (records, fitted) if return_estimators else records


def summarize(records: Iterable[Mapping[str, Any]], key: str = "accuracy") -> dict[tuple[str, str], float]:
    """Mean of ``key`` per ``(method, role)``: each test domain's seed mean, then the mean over domains.

    Domains weigh equally whatever their size, as the paper averages its OOD tasks.
    """
    per_domain: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for record in records:
        per_domain[(record["method"], record["role"], record["domain"])].append(float(record[key]))
    per_role: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (method, role, _), values in per_domain.items():
        per_role[(method, role)].append(float(np.mean(values)))
    return {group: float(np.mean(values)) for group, values in sorted(per_role.items())}
