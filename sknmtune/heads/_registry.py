"""The named heads, defined once: ``make_head(name)`` builds any of them, ``head_names()`` lists them.

One table for the whole package (the pattern of scikit-learn's ``get_scorer`` / ``get_scorer_names`` and
of timm's ``register_model`` / ``create_model``): the presets of :class:`NMTuneClassifier`, its defaults,
the tuned-L2 logistic-regression probe (on standardized or raw features), :class:`NMTuneClassifierCV`
and its variants, and the soft votes. The vote's members, the command line's ``--head``, the
evaluation protocol's ``compare_heads`` and the benchmarks all build through :func:`make_head`, so a
name means one estimator everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HeadSpec", "estimate_fit_seconds", "head_names", "head_spec", "head_table", "make_head", "register_head"]

#: the width the registry's costs were measured at (EfficientNet-Lite0's features)
COST_WIDTH = 1280


@dataclass(frozen=True)
class HeadSpec:
    """What a named head is: how it is built, what it is called in tables, what it costs.

    Attributes
    ----------
    name : str
        The registry name (``make_head(name)``).
    label : str
        How reports and tables call it.
    family : str
        ``"probe"`` (a linear classifier on the features), ``"mlp"`` (MLP tuning), ``"nmtune"``, ``"selection"``
        (chooses among the others by cross-validation) or ``"ensemble"`` (a vote of several).
    cost : float
        Relative fit cost, in seconds per training row on one CPU thread for 1,280-d features and 7-10
        classes (measured on the benchmarks; only ratios matter). Orders parallel fits longest first and
        feeds the time estimate of :func:`sknmtune.evaluation.compare_heads`.
    views : bool
        Whether it trains on augmented views when given features with a views axis
        (``(n_samples, 1 + K, n_features)``).
    groups : bool
        Whether its ``fit`` takes ``groups`` (the domain of each row) to select across domains.
    build : callable
        ``build(random_state, device, **overrides)`` returns a fresh, unfitted estimator.
    search_rows : int or None
        For a head that selects on a subsample: the rows its search runs on (``NMTuneClassifierCV``'s
        ``selection_rows``). Beyond them a row costs ``refit_cost`` (only the winner is refitted on it).
    refit_cost : float or None
        Seconds per row beyond ``search_rows`` (same units as ``cost``).
    """

    name: str
    label: str
    family: str
    cost: float
    views: bool
    groups: bool
    build: Callable[..., Any]
    search_rows: int | None = None
    refit_cost: float | None = None


_HEADS: dict[str, HeadSpec] = {}
_FAMILIES = ("probe", "mlp", "nmtune", "selection", "ensemble")


def register_head(name: str, *, label: str, family: str, cost: float, views: bool = False,
                  groups: bool = False, search_rows: int | None = None,
                  refit_cost: float | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``build(random_state, device, **overrides)`` under ``name`` (a decorator).

    Examples
    --------
    >>> from sklearn.linear_model import RidgeClassifier
    >>> from sknmtune.heads import make_head, register_head
    >>> @register_head("ridge-example", label="RidgeClassifier", family="probe", cost=1e-4)
    ... def _ridge(random_state, device, **overrides):
    ...     return RidgeClassifier(**overrides)
    >>> make_head("ridge-example", alpha=2.0)
    RidgeClassifier(alpha=2.0)
    """
    if family not in _FAMILIES:
        raise ValueError(f"family must be one of {_FAMILIES}; got {family!r}.")
    if (search_rows is None) != (refit_cost is None):
        raise ValueError("search_rows and refit_cost go together (a head that searches on a subsample).")

    def decorator(build: Callable[..., Any]) -> Callable[..., Any]:
        if name in _HEADS:
            raise ValueError(f"A head named {name!r} is already registered.")
        _HEADS[name] = HeadSpec(name, label, family, float(cost), bool(views), bool(groups), build,
                                None if search_rows is None else int(search_rows),
                                None if refit_cost is None else float(refit_cost))
        return build

    return decorator


def head_names(family: str | None = None) -> list[str]:
    """The registered head names (of one ``family`` when given), in registration order.

    Examples
    --------
    >>> from sknmtune.heads import head_names
    >>> sorted(head_names("probe"))
    ['logreg-cv', 'logreg-cv-raw', 'lp']
    """
    if family is not None and family not in _FAMILIES:
        raise ValueError(f"family must be one of {_FAMILIES} or None; got {family!r}.")
    return [name for name, spec in _HEADS.items() if family is None or spec.family == family]


def head_spec(name: str) -> HeadSpec:
    """The :class:`HeadSpec` of a registered head; a ``KeyError`` naming the choices otherwise."""
    try:
        return _HEADS[name]
    except (KeyError, TypeError):
        raise KeyError(f"Unknown head {name!r}; choose one of {head_names()}.") from None


def head_table() -> list[dict[str, Any]]:
    """One row per registered head: ``name``, ``label``, ``family``, ``cost``, ``views``, ``groups``,
    ``search_rows``, ``refit_cost``."""
    return [{"name": s.name, "label": s.label, "family": s.family, "cost": s.cost, "views": s.views,
             "groups": s.groups, "search_rows": s.search_rows, "refit_cost": s.refit_cost} for s in _HEADS.values()]


def estimate_fit_seconds(name: str, n_samples: int, n_features: int = COST_WIDTH) -> float:
    """A rough time of ``make_head(name).fit`` on one CPU thread, from the registry's measured costs.

    The cost model is linear in rows and in width: ``cost * n_samples * n_features / 1280`` seconds, where
    ``cost`` was measured per training row on 1,280-d features (:attr:`HeadSpec.cost`); a head that
    selects on a subsample (:attr:`HeadSpec.search_rows`) pays its search on at most that many rows and only
    the winner's refit (:attr:`HeadSpec.refit_cost`) beyond them. The number of classes is left out (7-10
    classes in the measurements). ``benchmarks/fit_time.py --sweep`` measures how far the model is from real
    fits (``benchmarks/results/fit_time_sweep.json``); read it as "seconds or minutes or hours", not as a
    promise: a machine with other load, or several threads, shifts every head alike.

    Parameters
    ----------
    name : str
        One of :func:`head_names`.
    n_samples, n_features : int
        The training set's shape.

    Returns
    -------
    float
        Seconds.

    Examples
    --------
    >>> from sknmtune.heads import estimate_fit_seconds
    >>> estimate_fit_seconds("lp", 10_000, 1280) < estimate_fit_seconds("cv", 10_000, 1280)
    True
    """
    spec = head_spec(name)
    for what, value in (("n_samples", n_samples), ("n_features", n_features)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{what} must be a positive integer; got {value!r}.")
    width = n_features / COST_WIDTH
    if spec.search_rows is None or n_samples <= spec.search_rows:
        return spec.cost * n_samples * width
    return (spec.cost * spec.search_rows + spec.refit_cost * (n_samples - spec.search_rows)) * width


def make_head(name: str, *, random_state: int | None = None, device: str = "auto", **overrides: Any) -> Any:
    """A fresh, unfitted head by name.

    Parameters
    ----------
    name : str
        One of :func:`head_names`.
    random_state : int or None, default=None
        Seeds the head's training (and its inner folds where it has some).
    device : str, default="auto"
        The torch device of the NMTune heads it trains.
    **overrides
        Parameters of the estimator the name builds (for the logistic-regression probes: of
        ``LogisticRegressionCV``; for the votes: of :func:`make_voting_head`, members' parameters as
        ``"mlp__max_epochs"``).

    Returns
    -------
    estimator
        A scikit-learn classifier.

    Examples
    --------
    >>> from sknmtune.heads import make_head
    >>> make_head("nmtune-paper", random_state=0).reg_lambda
    0.01
    >>> type(make_head("cv")).__name__
    'NMTuneClassifierCV'
    """
    return head_spec(name).build(random_state, device, **overrides)


# ------------------------------------------------------------------------------------------- the probes
# The scikit-learn probes live here (they need nothing of the package); every other family registers its heads
# in its own module (``_classifier``: the presets and the defaults, ``_cv``: the selections, ``_voting``: the
# votes), and ``sknmtune.heads`` imports them all.

def _logreg_cv(random_state: int | None, standardize: bool, overrides: dict[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # C over 1e-4..1e2 by 5 stratified folds (unshuffled: deterministic whatever the seed), plain L2; sklearn
    # 1.9's future defaults spelled out; max_iter raised so lbfgs converges on 1,280-d features.
    params = {"Cs": np.logspace(-4, 2, 7), "l1_ratios": (0.0,), "cv": 5, "scoring": "accuracy", "max_iter": 2000,
              "use_legacy_attributes": False, **overrides}
    probe = LogisticRegressionCV(**params)
    return make_pipeline(StandardScaler(), probe) if standardize else probe


@register_head("logreg-cv", label="LogisticRegressionCV (standardized, C by 5-fold CV)", family="probe", cost=0.012)
def _logreg_cv_standardized(random_state: int | None, device: str, **overrides: Any) -> Any:
    return _logreg_cv(random_state, True, overrides)


@register_head("logreg-cv-raw", label="LogisticRegressionCV (raw features, C by 5-fold CV)", family="probe",
               cost=0.012)
def _logreg_cv_raw(random_state: int | None, device: str, **overrides: Any) -> Any:
    return _logreg_cv(random_state, False, overrides)
