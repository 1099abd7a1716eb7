"""The metrics people compare heads with, as functions and as scikit-learn scorers.

* top-1 accuracy, top-k accuracy (LAION's clip_benchmark reports top-5 on more than 5 classes), balanced
  accuracy (the mean per-class recall), macro-F1, and the worst-group (worst-domain) accuracy of DFR and
  DomainBed's model selection;
* :func:`get_scorer` / :func:`scorer_names` return them as scorers for ``GridSearchCV(scoring=...)``,
  ``cross_validate`` and :class:`~sknmtune.NMTuneClassifierCV` ``(scoring=...)``;
* :func:`score_predictions` computes all of them from one matrix of class probabilities (what
  :func:`sknmtune.evaluation.compare_heads` records).

The worst-group scorer needs each test row's group, passed as metadata: under
``sklearn.set_config(enable_metadata_routing=True)``, ``scorer.set_score_request(groups=True)`` and
``GridSearchCV(...).fit(X, y, groups=groups)`` route ``groups`` to the scorer (and to a group splitter).

>>> import numpy as np
>>> from sknmtune.metrics import worst_group_accuracy
>>> y_true, y_pred = np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1])
>>> worst_group_accuracy(y_true, y_pred, groups=["a", "a", "b", "b"])
0.5
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, make_scorer, top_k_accuracy_score

__all__ = ["TopKAccuracyScorer", "get_scorer", "group_accuracies", "make_worst_group_scorer", "score_predictions",
           "scorer_names", "worst_group_accuracy"]


def _groups_array(groups: Any, n: int) -> np.ndarray:
    if groups is None:
        raise ValueError(
            "worst-group accuracy needs the group (domain) of every row: pass groups=... . As a scorer, route them: "
            "sklearn.set_config(enable_metadata_routing=True), scorer.set_score_request(groups=True), then "
            "search.fit(X, y, groups=groups)."
        )
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n:
        raise ValueError(f"groups has shape {groups.shape} but there are {n} predictions; pass one group per row.")
    return groups


def group_accuracies(y_true: Any, y_pred: Any, *, groups: Any, sample_weight: Any = None) -> dict[Any, float]:
    """Accuracy within each group, ``{group: accuracy}`` in sorted group order.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,)
        The group (e.g. domain) of each row.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    dict

    Examples
    --------
    >>> from sknmtune.metrics import group_accuracies
    >>> group_accuracies([0, 1, 1, 1], [0, 1, 0, 0], groups=["x", "x", "y", "y"])
    {'x': 1.0, 'y': 0.0}
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of the same length; got {y_true.shape} and {y_pred.shape}.")
    groups = _groups_array(groups, y_true.shape[0])
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    out = {}
    for g in np.unique(groups):
        rows = groups == g
        value = accuracy_score(y_true[rows], y_pred[rows], sample_weight=None if weights is None else weights[rows])
        out[g.item() if isinstance(g, np.generic) else g] = float(value)
    return out


def worst_group_accuracy(y_true: Any, y_pred: Any, *, groups: Any = None, sample_weight: Any = None) -> float:
    """The lowest accuracy over the groups (domains) present: the worst-group accuracy of DFR and group DRO.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,)
        The group of each row; required (``None`` raises an error explaining how to route it to a scorer).
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float

    Examples
    --------
    >>> from sknmtune.metrics import worst_group_accuracy
    >>> worst_group_accuracy([0, 1, 1, 1], [0, 1, 1, 0], groups=[0, 0, 1, 1])
    0.5
    """
    return min(group_accuracies(y_true, y_pred, groups=groups, sample_weight=sample_weight).values())


def make_worst_group_scorer() -> Any:
    """A fresh worst-group accuracy scorer (``make_scorer(worst_group_accuracy)``).

    Request the groups before use, with metadata routing enabled: ``scorer.set_score_request(groups=True)``.
    Each call returns a new scorer, so one search's request does not leak into another's.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y, groups=...)``

    Examples
    --------
    >>> import numpy as np, sklearn
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut
    >>> from sknmtune.metrics import make_worst_group_scorer
    >>> rng = np.random.default_rng(0)
    >>> X, y, g = rng.normal(size=(60, 3)), np.tile([0, 1], 30), np.repeat([0, 1, 2], 20)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     scorer = make_worst_group_scorer().set_score_request(groups=True)
    ...     search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, scoring=scorer, cv=LeaveOneGroupOut())
    ...     search = search.fit(X, y, groups=g)
    >>> sorted(search.best_params_)
    ['C']
    """
    return make_scorer(worst_group_accuracy)


class TopKAccuracyScorer:
    """Top-``k`` accuracy of a fitted classifier: whether the true class is among its ``k`` highest scores.

    The columns of ``predict_proba`` (or ``decision_function``) are matched to ``estimator.classes_``, so a
    held-out fold that lacks some classes is scored correctly. With ``k`` classes or fewer every prediction
    is in the top ``k``; that is an error rather than a meaningless 1.0.

    Parameters
    ----------
    k : int, default=5

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sknmtune.metrics import TopKAccuracyScorer
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X[:1000] / 16, y[:1000])
    >>> round(TopKAccuracyScorer(k=5)(clf, X[1000:] / 16, y[1000:]), 3)
    0.994
    """

    def __init__(self, k: int = 5) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer; got {k!r}.")
        self.k = int(k)

    def __repr__(self) -> str:
        return f"TopKAccuracyScorer(k={self.k})"

    def __call__(self, estimator: Any, X: Any, y_true: Any, sample_weight: Any = None) -> float:
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            raise ValueError(f"top-{self.k} accuracy needs a fitted classifier with classes_; "
                             f"got {type(estimator).__name__}.")
        if len(classes) <= self.k:
            raise ValueError(f"top-{self.k} accuracy needs more than {self.k} classes; the classifier has "
                             f"{len(classes)}, so every prediction is in its top {self.k}.")
        if hasattr(estimator, "predict_proba"):
            scores = estimator.predict_proba(X)
        elif hasattr(estimator, "decision_function"):
            scores = estimator.decision_function(X)
        else:
            raise ValueError(f"top-{self.k} accuracy needs predict_proba or decision_function; "
                             f"{type(estimator).__name__} has neither.")
        return float(top_k_accuracy_score(y_true, scores, k=self.k, labels=classes, sample_weight=sample_weight))


_SCORERS: dict[str, Callable[[], Any]] = {
    "top1_accuracy": lambda: make_scorer(accuracy_score),
    "top5_accuracy": lambda: TopKAccuracyScorer(k=5),
    "balanced_accuracy": lambda: make_scorer(balanced_accuracy_score),
    "macro_f1": lambda: make_scorer(f1_score, average="macro"),
    "worst_group_accuracy": make_worst_group_scorer,
}


def scorer_names() -> list[str]:
    """The names :func:`get_scorer` takes.

    Examples
    --------
    >>> from sknmtune.metrics import scorer_names
    >>> scorer_names()
    ['top1_accuracy', 'top5_accuracy', 'balanced_accuracy', 'macro_f1', 'worst_group_accuracy']
    """
    return list(_SCORERS)


def get_scorer(name: str) -> Any:
    """A new scorer by name, usable as ``scoring=`` of ``GridSearchCV`` or :class:`~sknmtune.NMTuneClassifierCV`.

    Parameters
    ----------
    name : str
        One of :func:`scorer_names`: ``"top1_accuracy"``, ``"top5_accuracy"`` (more than 5 classes),
        ``"balanced_accuracy"`` (mean per-class recall), ``"macro_f1"``, ``"worst_group_accuracy"`` (needs
        ``groups`` routed to it: ``set_score_request(groups=True)`` with metadata routing enabled).

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y)``

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sknmtune.metrics import get_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 1.0]},
    ...                       scoring=get_scorer("balanced_accuracy")).fit(X, y)
    >>> search.best_params_
    {'C': 1.0}
    """
    try:
        return _SCORERS[name]()
    except (KeyError, TypeError):
        raise ValueError(f"Unknown scorer {name!r}; choose one of {scorer_names()}.") from None


def score_predictions(y_true: Any, proba: Any, classes: Sequence[Any], *, groups: Any = None,
                      k: int = 5) -> dict[str, float | None]:
    """Every metric of this module from one matrix of class probabilities (predictions are its argmax).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    proba : array-like of shape (n_samples, n_classes)
        Scores per class, columns in the order of ``classes``.
    classes : sequence
        The classifier's ``classes_``.
    groups : array-like of shape (n_samples,), default=None
        The group of each row; without it ``worst_group_accuracy`` is ``None``.
    k : int, default=5
        ``top{k}_accuracy`` is ``None`` with ``k`` classes or fewer.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``top{k}_accuracy``, ``worst_group_accuracy``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.metrics import score_predictions
    >>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> score_predictions([0, 1, 1, 1], proba, [0, 1], groups=["a", "a", "b", "b"])
    {'accuracy': 0.75, 'balanced_accuracy': 0.8333333333333333, 'macro_f1': 0.7333333333333334,
     'top5_accuracy': None, 'worst_group_accuracy': 0.5}
    """
    y_true, proba, classes = np.asarray(y_true), np.asarray(proba), np.asarray(classes)
    if proba.ndim != 2 or proba.shape != (y_true.shape[0], classes.shape[0]):
        raise ValueError(f"proba must have shape (n_samples, n_classes) = ({y_true.shape[0]}, {classes.shape[0]}); "
                         f"got {proba.shape}.")
    y_pred = classes[proba.argmax(axis=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "y_pred contains classes not in y_true"
        out: dict[str, float | None] = {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        }
    out[f"top{k}_accuracy"] = (float(top_k_accuracy_score(y_true, proba, k=k, labels=classes))
                               if classes.shape[0] > k else None)
    out["worst_group_accuracy"] = None if groups is None else worst_group_accuracy(y_true, y_pred, groups=groups)
    return out
