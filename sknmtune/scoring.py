"""``SpectralScorer``: SVE / LSVR / RankMe of a fitted model's representation, as an sklearn scorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline

from .spectral import spectral_summary

__all__ = ["SpectralScorer"]

_METRICS = ("sve", "rankme", "neg_lsvr")
_REPRESENTATIONS = ("auto", "output", "input")


class SpectralScorer:
    """Score a fitted estimator by the spectrum of the representation it produces.

    Follows the scikit-learn scorer signature ``scorer(estimator, X, y=None)``, so it can sit in
    ``GridSearchCV(scoring=...)``. With one metric it returns a float (use it next to
    ``"accuracy"`` in a dict of scorers); with several metrics, or with ``scoring``, it returns a
    dict of scores computed from **one** pass of ``X`` through the pipeline (scikit-learn accepts
    a callable that returns a dict), so a search over a pipeline that starts with a
    :class:`~sknmtune.FrozenBackboneTransformer` extracts features once per fold and scorer.

    Parameters
    ----------
    metric : {"sve", "rankme", "neg_lsvr"} or sequence of them, default="sve"
        ``"sve"``: singular value entropy (higher = flatter spectrum). ``"rankme"``: exp(SVE).
        ``"neg_lsvr"``: **minus** the largest singular value ratio. scikit-learn maximizes
        scores and a lower LSVR is the desirable direction, so, like sklearn's ``neg_*``
        scorers, the value is negated: ``cv_results_["mean_test_<name>"]`` holds ``-LSVR``.
        (Asking for ``"lsvr"`` raises an error that says so, rather than guessing a sign.)
        A sequence returns a dict keyed by these names; all come from one decomposition.
    representation : {"auto", "output", "input"}, default="auto"
        Which matrix is measured. ``"output"``: the final estimator's ``transform`` (``Z``
        for :class:`~sknmtune.NMTuneClassifier`). ``"input"``: the features entering the
        final step (``X`` itself, or a pipeline's transformed ``X``). ``"auto"``: output
        when the final estimator has ``transform``, else input.
    center, normalize_rows : bool, default=False
        Passed to :func:`sknmtune.spectral.singular_values`.
    scoring : dict of str to scorer, default=None
        Prediction scorers (names such as ``"accuracy"`` or scorer callables) computed on the
        final estimator from the same transformed features and returned in the dict under their
        keys, e.g. ``{"acc": "accuracy"}``; they need ``y``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sknmtune import NMTuneClassifier, SpectralScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(
    ...     NMTuneClassifier(max_epochs=3, random_state=0),
    ...     {"reg_lambda": [0.0, 0.01]},
    ...     scoring=SpectralScorer(["sve", "neg_lsvr"], scoring={"acc": "accuracy"}),
    ...     refit="acc", cv=2,
    ... ).fit(X, y)
    >>> bool((search.cv_results_["mean_test_neg_lsvr"] <= 0).all())
    True
    >>> round(SpectralScorer("rankme", representation="input")(search.best_estimator_, X[:50]), 3) > 0
    True
    """

    def __init__(
        self,
        metric: str | Sequence[str] = "sve",
        *,
        representation: str = "auto",
        center: bool = False,
        normalize_rows: bool = False,
        scoring: Mapping[str, Any] | None = None,
    ) -> None:
        self.metric = metric
        self.representation = representation
        self.center = center
        self.normalize_rows = normalize_rows
        self.scoring = scoring

    def _metrics(self) -> list[str]:
        """The validated metric names (validation happens when scoring, scikit-learn style)."""
        metrics = [self.metric] if isinstance(self.metric, str) else list(self.metric)
        for metric in metrics:
            if metric == "lsvr":
                raise ValueError(
                    "LSVR is lower-is-better but scikit-learn maximizes scores: use SpectralScorer('neg_lsvr'), "
                    "which returns -LSVR."
                )
            if metric not in _METRICS:
                raise ValueError(f"metric must be one of {_METRICS} or a sequence of them, got {metric!r}.")
        if not metrics:
            raise ValueError(f"metric must name at least one of {_METRICS}.")
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"metric names a metric twice: {metrics}.")
        if self.representation not in _REPRESENTATIONS:
            raise ValueError(f"representation must be one of {_REPRESENTATIONS}, got {self.representation!r}.")
        if self.scoring is not None:
            if not isinstance(self.scoring, Mapping):
                raise TypeError(f"scoring must be a dict of name -> scorer, got {type(self.scoring).__name__}.")
            clash = sorted(set(self.scoring) & set(metrics))
            if clash:
                raise ValueError(f"scoring reuses the metric name(s) {clash}; give the prediction scorers other keys.")
        return metrics

    def representation_of(self, estimator: Any, X: Any) -> np.ndarray:
        """The matrix this scorer measures for a fitted ``estimator`` on ``X``."""
        self._metrics()
        return self._measured(*self._split(estimator, X))

    def _split(self, estimator: Any, X: Any) -> tuple[Any, Any]:
        """The final estimator and ``X`` transformed by the steps before it (one pass)."""
        if isinstance(estimator, Pipeline):
            final = estimator.steps[-1][1]
            if len(estimator.steps) > 1:
                X = estimator[:-1].transform(X)
            return final, X
        return estimator, X

    def _measured(self, final: Any, Xt: Any) -> np.ndarray:
        use_output = self.representation == "output" or (
            self.representation == "auto" and hasattr(final, "transform")
        )
        if use_output:
            if not hasattr(final, "transform"):
                raise ValueError(
                    f"representation='output' needs a final estimator with transform(); "
                    f"{type(final).__name__} has none. Use representation='input'."
                )
            return np.asarray(final.transform(Xt))
        return np.asarray(Xt)

    def __call__(self, estimator: Any, X: Any, y: Any = None) -> float | dict[str, float]:
        metrics = self._metrics()
        final, Xt = self._split(estimator, X)
        summary = spectral_summary(self._measured(final, Xt), center=self.center, normalize_rows=self.normalize_rows)
        values = {"sve": summary["sve"], "rankme": summary["rankme"], "neg_lsvr": -summary["lsvr"]}
        scores = {metric: float(values[metric]) for metric in metrics}
        if self.scoring:
            if y is None:
                raise ValueError("SpectralScorer(scoring=...) needs y to compute its prediction scores.")
            for name, scorer in self.scoring.items():
                scores[name] = float(check_scoring(final, scoring=scorer)(final, Xt, y))
        if isinstance(self.metric, str) and not self.scoring:
            return scores[self.metric]
        return scores

    def __repr__(self) -> str:
        extras = "".join(
            f", {name}={getattr(self, name)!r}"
            for name, default in (
                ("representation", "auto"), ("center", False), ("normalize_rows", False), ("scoring", None)
            )
            if getattr(self, name) != default
        )
        return f"SpectralScorer({self.metric!r}{extras})"
