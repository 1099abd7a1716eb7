"""Scorers of a fitted model's representation, with the scikit-learn signature ``scorer(estimator, X, y)``.

:class:`SpectralScorer`: SVE / LSVR / RankMe (label-free, :mod:`sknmtune.spectral`).
:class:`TransferabilityScorer`: LogME / H-score against the targets (:mod:`sknmtune.transferability`).
Both measure the same matrices (``representation="input"``, ``"output"`` or ``"auto"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline

from .spectral import spectral_summary
from .transferability import TARGET_TYPES, check_shrinkage, h_score, logme

__all__ = ["SpectralScorer", "TransferabilityScorer"]

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



_SCORER_METRICS = ("logme", "h_score")


class TransferabilityScorer:
    """Score a fitted pipeline by the LogME or H-score of the features entering its head.

    Follows the scikit-learn scorer signature ``scorer(estimator, X, y) -> float``, so in a
    ``GridSearchCV`` over ``Pipeline([("backbone", ...), ("head", ...)])`` whose grid varies the
    backbone it reports, next to the accuracy, how transferable each backbone's features of the
    held-out fold are (the head plays no part with ``representation="input"``). Both metrics are
    higher-is-better, so no sign flip is needed. For the label-free spectral scores use
    :class:`~sknmtune.SpectralScorer` with ``representation="input"``.

    Parameters
    ----------
    metric : {"logme", "h_score"}, default="logme"
    representation : {"input", "output", "auto"}, default="input"
        Which matrix is scored, as in :class:`~sknmtune.SpectralScorer`: ``"input"`` the features
        entering the final step (the backbone's output in a pipeline), ``"output"`` the final
        estimator's ``transform`` (``Z`` for :class:`~sknmtune.NMTuneClassifier`).
    target_type : {"auto", "classification", "regression"}, default="auto"
        LogME only; see :func:`~sknmtune.transferability.logme`.
    shrinkage : None, "auto" or float, default=None
        H-score only; see :func:`~sknmtune.transferability.h_score`.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import Pipeline
    >>> from sknmtune import FrozenBackboneTransformer
    >>> from sknmtune.scoring import TransferabilityScorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> _ = torch.manual_seed(0)
    >>> nets = [torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)]
    >>> pipe = Pipeline([("backbone", FrozenBackboneTransformer(nets[0], device="cpu")),
    ...                  ("head", LogisticRegression())])
    >>> search = GridSearchCV(
    ...     pipe, {"backbone": [FrozenBackboneTransformer(n, device="cpu") for n in nets]},
    ...     scoring={"acc": "accuracy", "logme": TransferabilityScorer("logme")}, refit="acc", cv=3,
    ... ).fit(X, y)
    >>> search.cv_results_["mean_test_logme"].shape
    (2,)
    """

    def __init__(
        self,
        metric: str = "logme",
        *,
        representation: str = "input",
        target_type: str = "auto",
        shrinkage: float | str | None = None,
    ) -> None:
        self.metric = metric
        self.representation = representation
        self.target_type = target_type
        self.shrinkage = shrinkage

    def _check_params(self) -> None:
        """Validate the parameters (when scoring, as scikit-learn estimators do in ``fit``)."""
        if self.metric not in _SCORER_METRICS:
            raise ValueError(
                f"metric must be one of {_SCORER_METRICS}, got {self.metric!r}. For SVE / LSVR use "
                "SpectralScorer('sve' or 'neg_lsvr', representation='input')."
            )
        if self.target_type not in TARGET_TYPES:
            raise ValueError(f"target_type must be one of {TARGET_TYPES}; got {self.target_type!r}.")
        check_shrinkage(self.shrinkage)

    def representation_of(self, estimator: Any, X: Any) -> np.ndarray:
        """The matrix this scorer measures for a fitted ``estimator`` on ``X``."""
        return SpectralScorer(representation=self.representation).representation_of(estimator, X)

    def __call__(self, estimator: Any, X: Any, y: Any = None) -> float:
        self._check_params()
        if y is None:
            raise ValueError(f"TransferabilityScorer({self.metric!r}) needs the targets y.")
        F = self.representation_of(estimator, X)
        if self.metric == "logme":
            return logme(F, y, target_type=self.target_type)
        return h_score(F, y, shrinkage=self.shrinkage)

    def __repr__(self) -> str:
        extras = "".join(
            f", {name}={getattr(self, name)!r}"
            for name, default in (("representation", "input"), ("target_type", "auto"), ("shrinkage", None))
            if getattr(self, name) != default
        )
        return f"TransferabilityScorer({self.metric!r}{extras})"
