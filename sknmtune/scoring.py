"""``SpectralScorer``: SVE / LSVR / RankMe of a fitted model's representation, as an sklearn scorer."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from .spectral import _entropy, _lsvr, singular_values

__all__ = ["SpectralScorer"]

_METRICS = ("sve", "rankme", "neg_lsvr")
_REPRESENTATIONS = ("auto", "output", "input")


class SpectralScorer:
    """Score a fitted estimator by the spectrum of the representation it produces.

    Follows the scikit-learn scorer signature ``scorer(estimator, X, y=None) -> float``,
    so it can sit in ``GridSearchCV(scoring={...})`` next to ``"accuracy"``.

    Parameters
    ----------
    metric : {"sve", "rankme", "neg_lsvr"}, default="sve"
        ``"sve"``: singular value entropy (higher = flatter spectrum). ``"rankme"``: exp(SVE).
        ``"neg_lsvr"``: **minus** the largest singular value ratio. scikit-learn maximizes
        scores and a lower LSVR is the desirable direction, so, like sklearn's ``neg_*``
        scorers, the value is negated: ``cv_results_["mean_test_<name>"]`` holds ``-LSVR``.
        (Asking for ``"lsvr"`` raises an error that says so, rather than guessing a sign.)
    representation : {"auto", "output", "input"}, default="auto"
        Which matrix is measured. ``"output"``: the final estimator's ``transform`` (``Z``
        for :class:`~sknmtune.NMTuneClassifier`). ``"input"``: the features entering the
        final step (``X`` itself, or a pipeline's transformed ``X``). ``"auto"``: output
        when the final estimator has ``transform``, else input.
    center, normalize_rows : bool, default=False
        Passed to :func:`sknmtune.spectral.singular_values`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sknmtune import NMTuneClassifier, SpectralScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(
    ...     NMTuneClassifier(max_epochs=3, random_state=0),
    ...     {"reg_lambda": [0.0, 0.01]},
    ...     scoring={"acc": "accuracy", "sve": SpectralScorer("sve"), "lsvr": SpectralScorer("neg_lsvr")},
    ...     refit="acc", cv=2,
    ... ).fit(X, y)
    >>> bool((search.cv_results_["mean_test_lsvr"] <= 0).all())
    True
    """

    def __init__(
        self,
        metric: str = "sve",
        *,
        representation: str = "auto",
        center: bool = False,
        normalize_rows: bool = False,
    ) -> None:
        if metric == "lsvr":
            raise ValueError(
                "LSVR is lower-is-better but scikit-learn maximizes scores: use SpectralScorer('neg_lsvr'), "
                "which returns -LSVR."
            )
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}.")
        if representation not in _REPRESENTATIONS:
            raise ValueError(f"representation must be one of {_REPRESENTATIONS}, got {representation!r}.")
        self.metric = metric
        self.representation = representation
        self.center = center
        self.normalize_rows = normalize_rows

    def representation_of(self, estimator: Any, X: Any) -> np.ndarray:
        """The matrix this scorer measures for a fitted ``estimator`` on ``X``."""
        final = estimator
        if isinstance(estimator, Pipeline):
            final = estimator.steps[-1][1]
            if len(estimator.steps) > 1:
                X = estimator[:-1].transform(X)
        use_output = self.representation == "output" or (
            self.representation == "auto" and hasattr(final, "transform")
        )
        if use_output:
            if not hasattr(final, "transform"):
                raise ValueError(
                    f"representation='output' needs a final estimator with transform(); "
                    f"{type(final).__name__} has none. Use representation='input'."
                )
            return np.asarray(final.transform(X))
        return np.asarray(X)

    def __call__(self, estimator: Any, X: Any, y: Any = None) -> float:
        s = singular_values(
            self.representation_of(estimator, X), center=self.center, normalize_rows=self.normalize_rows
        )
        if self.metric == "sve":
            return _entropy(s)
        if self.metric == "rankme":
            return float(np.exp(_entropy(s)))
        return -_lsvr(s)

    def __repr__(self) -> str:
        extras = "".join(
            f", {name}={getattr(self, name)!r}"
            for name, default in (("representation", "auto"), ("center", False), ("normalize_rows", False))
            if getattr(self, name) != default
        )
        return f"SpectralScorer({self.metric!r}{extras})"
