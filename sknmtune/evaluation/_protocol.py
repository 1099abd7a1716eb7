"""The evaluation protocol of the paper as one function: fit heads on frozen features, score them ID and OOD.

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
>>> len(records), [records[0][k] for k in ("method", "seed", "role", "domain")]
(8, ['lp', 0, 'id', 'id'])
>>> sorted(summarize(records))
[('logreg', 'id'), ('logreg', 'ood'), ('lp', 'id'), ('lp', 'ood')]
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score

from ..spectral import spectral_summary

__all__ = ["evaluate_heads"]

#: the roles of the records, in the order reports and plots show them
ROLES = ("id", "ood", "val")


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


def _is_vote(estimator: Any) -> bool:
    """Whether ``estimator`` is a scikit-learn voting ensemble: its ``transform`` stacks the members' outputs
    (probabilities), not a representation of the features, so no ``Z`` spectrum is recorded for it."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    return isinstance(final, (VotingClassifier, VotingRegressor))


def _z_spectrum(Z: np.ndarray, F: np.ndarray, spec_F: tuple[float, float]) -> tuple[float, float]:
    """The spectrum of ``Z``, reusing ``F``'s when ``Z`` is ``F`` (a linear probe's representation)."""
    if Z.shape == F.shape and np.array_equal(Z, F):
        return spec_F
    return _spectrum(Z)


def _n_rows(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _fit_and_score(
    method: str, estimator: Any, seed: int, F_train: Any, y_train: Any, tests: list[tuple[str, str, Any, Any]],
    spec_F: Mapping[str, tuple[Any, Any]], spectra: bool, extra: Mapping[str, Any], proba: bool = False,
    fit_params: Mapping[str, Any] | None = None,
) -> tuple[str, int, list[dict[str, Any]], Any, dict[str, np.ndarray]]:
    """Fit one (method, seed) and score it on every test set.

    Returns ``(method, seed, records, fitted estimator, {domain: predict_proba})`` (the last empty unless ``proba``).
    """
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        estimator.fit(F_train, y_train, **(fit_params or {}))
    fit_seconds = time.perf_counter() - start
    details = _fit_details(estimator)
    has_z = spectra and hasattr(estimator, "transform") and "chosen_C" not in details and not _is_vote(estimator)
    records, probas = [], {}
    for role, domain, F, y in tests:
        if proba:
            probas[domain] = np.asarray(estimator.predict_proba(F), dtype=np.float32)
            pred = np.asarray(estimator.classes_)[probas[domain].argmax(axis=1)]
        else:
            pred = estimator.predict(F)
        sve_Z, lsvr_Z = _z_spectrum(estimator.transform(F), np.asarray(F), spec_F[domain]) if has_z else (None, None)
        records.append({
            **extra, "method": method, "seed": int(seed), "role": role, "domain": domain,
            "accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro")),
            "sve_F": spec_F[domain][0], "lsvr_F": spec_F[domain][1], "sve_Z": sve_Z, "lsvr_Z": lsvr_Z,
            "fit_seconds": fit_seconds, "n_train": _n_rows(F_train), "n_test": int(len(y)), **details,
        })
    return method, int(seed), records, estimator, probas


def evaluate_heads(
    heads: Mapping[str, Any],
    F_train: np.ndarray,
    y_train: np.ndarray,
    *,
    id_test: tuple[np.ndarray, np.ndarray] | None = None,
    ood_tests: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    seeds: Iterable[int] = (0,),
    spectra: bool = True,
    extra: Mapping[str, Any] | None = None,
    return_estimators: bool = False,
    n_jobs: int | None = None,
    costs: Mapping[str, float] | None = None,
    skip: Callable[[str, int], bool] | None = None,
    on_record: Callable[[list[dict[str, Any]]], None] | None = None,
    train_by_method: Mapping[str, tuple[Any, Any]] | None = None,
    on_proba: Callable[[str, int, dict[str, np.ndarray]], None] | None = None,
) -> list[dict[str, Any]] | tuple[list[dict[str, Any]], dict[tuple[str, int], Any]]:
    """Fit each head on ``(F_train, y_train)`` for each seed; score it on the ID, OOD and validation sets.

    Parameters
    ----------
    heads : mapping of str to estimator
        Unfitted classifiers (any scikit-learn classifier or pipeline), by method name. Each is
        cloned and its ``random_state`` parameters (nested ones too) set to the seed.
    F_train, y_train : array-like
        Training features and labels (features may carry a views axis for heads that read it).
    id_test : (F, y), optional
        In-domain test set (role ``"id"``, domain ``"id"``).
    ood_tests : mapping of str to (F, y), optional
        Out-of-domain test sets by domain name (role ``"ood"``).
    validation : (F, y), optional
        A validation split (role ``"val"``, domain ``"val"``): what model selection may read; keep
        the test sets for reporting.
    seeds : iterable of int, default=(0,)
    spectra : bool, default=True
        Also record SVE / LSVR of ``F`` (computed once per test set) and of the head's ``Z``
        (for heads with a ``transform`` method; ``None`` otherwise, and for a voting ensemble, whose
        ``transform`` stacks its members' probabilities). When ``Z`` is ``F`` itself (a linear probe)
        F's spectrum is reused.
    extra : mapping, optional
        Fields copied into every record (e.g. ``{"task": ..., "backbone": ...}``).
    return_estimators : bool, default=False
        Also return the fitted heads, ``{(method, seed): estimator}`` (e.g. to plot their ``Z``).
    n_jobs : int or None, default=None
        Fits run in parallel through joblib (``None``: one at a time, in the order given). The
        longest fits are queued first (by ``costs``), so no worker idles long at the end.
    costs : mapping of str to float, optional
        Relative fit cost per method, for the queue order (default: the order of ``heads``).
    skip : callable ``(method, seed) -> bool``, optional
        Fits to leave out (e.g. those a previous, interrupted run already recorded).
    on_record : callable, optional
        Called in this process with each finished fit's records, as soon as it finishes (write
        them to disk to make a long run resumable).
    train_by_method : mapping of str to (F, y) or (F, y, fit_params), optional
        Training data for particular methods instead of ``(F_train, y_train)`` (e.g. features with
        a views axis for the heads that train on views), optionally with keyword arguments for
        their ``fit`` (e.g. ``{"groups": domains}`` for a head that selects across domains).
    on_proba : callable ``(method, seed, {domain: probabilities}) -> None``, optional
        Called in this process with each fit's ``predict_proba`` on every test set (columns in the
        order of ``classes_``); predictions are then their argmax. Keep them to score ensembles of
        the heads afterwards without refitting anything.

    Returns
    -------
    records : list of dict
        One per head x seed x test set, with ``method``, ``seed``, ``role``, ``domain``,
        ``accuracy``, ``macro_f1``, ``sve_F``, ``lsvr_F``, ``sve_Z``, ``lsvr_Z``,
        ``fit_seconds``, ``n_train``, ``n_test`` and, where the head has them, ``n_iter``,
        ``best_epoch``, ``best_params`` (CV heads) or ``chosen_C``; in the order of ``heads``
        then ``seeds``, whatever order the fits finished in.
    estimators : dict, only with ``return_estimators=True``
    """
    tests: list[tuple[str, str, Any, Any]] = []
    if id_test is not None:
        tests.append(("id", "id", *id_test))
    tests += [("ood", name, F, y) for name, (F, y) in (ood_tests or {}).items()]
    if validation is not None:
        tests.append(("val", "val", *validation))
    if not tests:
        raise ValueError("evaluate_heads needs at least one of id_test, ood_tests or validation.")
    names = [domain for _, domain, _, _ in tests]
    if len(set(names)) != len(names):
        raise ValueError(f"Test set names must be distinct; got {names}.")
    spec_F = {domain: _spectrum(np.asarray(F)) if spectra else (None, None) for _, domain, F, _ in tests}
    order = {m: i for i, m in enumerate(heads)}
    units = [(m, int(s)) for s in seeds for m in heads if skip is None or not skip(m, int(s))]
    if costs is not None:
        units.sort(key=lambda u: -float(costs.get(u[0], 0.0)))
    train = dict(train_by_method or {})
    calls = [(m, s, _with_seed(heads[m], s), *(tuple(train.get(m, (F_train, y_train))) + (None,))[:3])
             for m, s in units]
    results: dict[tuple[str, int], tuple[list[dict[str, Any]], Any]] = {}
    if n_jobs is None or n_jobs == 1:
        finished: Iterable[Any] = (
            _fit_and_score(m, est, s, F, y, tests, spec_F, spectra, dict(extra or {}), on_proba is not None, kw)
            for m, s, est, F, y, kw in calls
        )
    else:
        from joblib import Parallel, delayed

        finished = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_fit_and_score)(m, est, s, F, y, tests, spec_F, spectra, dict(extra or {}), on_proba is not None,
                                    kw)
            for m, s, est, F, y, kw in calls
        )
    for method, seed, records, estimator, probas in finished:
        results[(method, seed)] = (records, estimator)
        if on_proba is not None:
            on_proba(method, seed, probas)
        if on_record is not None:
            on_record(records)
    keys = sorted(results, key=lambda k: (k[1], order[k[0]]))
    records = [r for k in keys for r in results[k][0]]
    if return_estimators:
        return records, {k: results[k][1] for k in keys}
    return records
