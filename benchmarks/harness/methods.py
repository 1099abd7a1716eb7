"""The heads the benchmarks compare, by name: presets, scikit-learn's probe, the package defaults.

:func:`make` builds a fresh estimator for a method and seed; :data:`COSTS` orders the fits longest first
(seconds per training row, roughly, on one thread, 1280-d features; only the order matters);
:data:`VIEW_METHODS` are the methods that train on the augmented views (features with a views axis).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["COSTS", "GROUP_METHODS", "LABELS", "VIEW_METHODS", "make"]

LABELS = {
    "lp": "LP (paper config)",
    "logreg": "LogisticRegressionCV (standardized, C by 5-fold CV)",
    "mlp": "MLP tuning (paper MLP)",
    "nmtune-paper": "NMTune (paper equations)",
    "mlp-authors": "MLP tuning (authors' MLP), center crops",
    "mlp-authors-views": "MLP tuning (authors' MLP), augmented views",
    "nmtune-authors": "NMTune (authors' config), center crops",
    "nmtune-authors-views": "NMTune (authors' config), augmented views (the authors' recipe)",
    "nmtune-default": "NMTuneClassifier(), center crops",
    "nmtune-default-views": "NMTuneClassifier(), augmented views",
    "recommended": "NMTuneClassifierCV() (inner-CV selection)",
    "recommended-families": "NMTuneClassifierCV(ensemble='families') (soft vote of the best probe, MLP and NMTune)",
    "recommended-groups": "NMTuneClassifierCV(cv=LeaveOneGroupOut()) with the source domains as groups",
    "vote-lr-mlp": "soft vote: LogisticRegressionCV + MLP tuning",
    "vote-4": "soft vote: LogisticRegressionCV + LP + MLP + NMTune (paper)",
    "vote-4-views": "soft vote: LogisticRegressionCV + LP + authors' MLP and NMTune on views",
}

VIEW_METHODS = frozenset({"mlp-authors-views", "nmtune-authors-views", "nmtune-default-views"})
#: methods that select across domains: ``fit(..., groups=<source domain of each row>)`` (multi-source data only)
GROUP_METHODS = frozenset({"recommended-groups"})

COSTS = {"recommended-families": 0.055, "recommended-groups": 0.043, "nmtune-authors-views": 0.12, "mlp-authors-views": 0.12, "mlp-authors": 0.062, "nmtune-authors": 0.060,
         "recommended": 0.043, "nmtune-default-views": 0.02, "nmtune-paper": 0.018, "mlp": 0.015, "logreg": 0.012,
         "nmtune-default": 0.011, "lp": 0.0015}

_PRESET_OF = {"lp": "lp", "mlp": "mlp", "nmtune-paper": "nmtune-paper", "mlp-authors": "mlp-authors",
              "mlp-authors-views": "mlp-authors", "nmtune-authors": "nmtune-authors",
              "nmtune-authors-views": "nmtune-authors"}


def make(method: str, seed: int, *, max_epochs: int | None = None, device: str = "auto") -> Any:
    """A fresh, unfitted estimator for ``method`` (``max_epochs`` overrides the presets' budget)."""
    from sknmtune import NMTuneClassifier, NMTuneClassifierCV

    if method == "logreg":
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegressionCV(
            Cs=np.logspace(-4, 2, 7), l1_ratios=(0.0,), cv=StratifiedKFold(5, shuffle=True, random_state=seed),
            scoring="accuracy", max_iter=2000, use_legacy_attributes=False,
        ))
    if method in _PRESET_OF:
        extra = {} if max_epochs is None else {"max_epochs": max_epochs}
        return NMTuneClassifier.from_preset(_PRESET_OF[method], random_state=seed, device=device, **extra)
    if method in ("nmtune-default", "nmtune-default-views"):
        return NMTuneClassifier(random_state=seed, device=device)
    if method == "recommended":
        return NMTuneClassifierCV(random_state=seed)
    if method == "recommended-families":
        return NMTuneClassifierCV(random_state=seed, ensemble="families")
    if method == "recommended-groups":
        from sklearn.model_selection import LeaveOneGroupOut

        return NMTuneClassifierCV(cv=LeaveOneGroupOut(), random_state=seed)
    raise ValueError(f"unknown method {method!r}; choose from {sorted(LABELS)}")
