"""The methods the benchmarks compare, by the names their results files store, each built by the library's registry.

One table, :data:`METHODS`: a stored method name (``"logreg"``, ``"recommended"``, ``"nmtune-authors-views"``, ...)
-> a :class:`Method`: the :func:`sknmtune.heads.make_head` name it builds, the overrides on top of the registry's
configuration, and the data it trains on (center crops, augmented views, or center crops with the source domain of
each row as ``groups``). :func:`build` makes the estimator; :func:`training_data` hands each method its data in
:func:`sknmtune.evaluation.evaluate_heads`' ``train_by_method`` form; costs (for the longest-first queue) and
labels come from the registry's :func:`sknmtune.heads.head_spec` unless a report words a label its own way.

The stored names stay as the results files have them (``logreg`` and ``logreg_cv`` are two configurations of the
registry's ``logreg-cv``); a new benchmark method is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DATA_KINDS", "METHODS", "Method", "build", "costs", "cv_model_seed", "label", "needs_groups",
           "package_default_methods", "training_data"]

#: what a method trains on: "crops" (the center crop, 2-D features), "views" (features with a views axis,
#: ``(n, 1 + K, D)``), "groups" (center crops, with the source domain of each row as ``fit(..., groups=...)``)
DATA_KINDS = ("crops", "views", "groups")


def _no_overrides(seed: int) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Method:
    """How a stored method name is built: ``make_head(head, random_state=seed, device=..., **overrides(seed))``.

    Attributes
    ----------
    head : str
        The registry name (:func:`sknmtune.heads.head_names`).
    overrides : callable
        ``overrides(seed)``: parameters on top of the registry's (a function of the seed: e.g. the probe's
        shuffled folds).
    data : str
        One of :data:`DATA_KINDS`.
    label : str or None
        How the reports call it (``None``: the registry's label).
    epochs : bool
        Whether a benchmark scale's epoch budget (``max_epochs``) overrides the head's (the presets' fixed budgets).
    device : bool
        Whether the benchmark's ``--device`` reaches the head. ``False`` for the cross-validated heads: they keep
        the package's default (``"auto"``) as a user's ``NMTuneClassifierCV()`` has it, which their stored
        configuration records.
    package_defaults : bool
        Its configuration is the package's defaults: the accuracy benchmarks store it with every record and refit the
        records when the defaults change.
    """

    head: str
    overrides: Callable[[int], dict[str, Any]] = field(default=_no_overrides)
    data: str = "crops"
    label: str | None = None
    epochs: bool = False
    device: bool = True
    package_defaults: bool = False


def _shuffled_folds(seed: int) -> dict[str, Any]:
    """The accuracy benchmark's probe: C chosen by 5 stratified folds shuffled with the fit's seed."""
    from sklearn.model_selection import StratifiedKFold

    return {"cv": StratifiedKFold(5, shuffle=True, random_state=seed)}


def _fixed(**overrides: Any) -> Callable[[int], dict[str, Any]]:
    return lambda seed: dict(overrides)


METHODS: dict[str, Method] = {
    "lp": Method("lp", epochs=True),
    "logreg": Method("logreg-cv", _shuffled_folds),
    # the probe users write: scikit-learn's defaults (10 Cs, cv=None: 5 stratified folds), max_iter raised for 1280-d
    # features
    "logreg_cv": Method("logreg-cv", _fixed(Cs=10, cv=None, max_iter=5000),
                        label="StandardScaler + LogisticRegressionCV (10 Cs, 5-fold CV)"),
    # the PACS DomainBed study's probes: the registry's tuned-L2 probe (7 values of C, 5 unshuffled folds), on
    # standardized and on raw features
    "logreg-cv": Method("logreg-cv"),
    "logreg_cv_iter100": Method("logreg-cv", _fixed(Cs=10, cv=None, max_iter=100),
                                label="LogisticRegressionCV (Cs=10, 5 folds, scikit-learn's max_iter=100)"),
    "logreg-cv-raw": Method("logreg-cv-raw"),
    "mlp": Method("mlp", epochs=True),
    "mlp-es": Method("mlp-es", epochs=True),
    "nmtune-paper-es": Method("nmtune-paper-es", epochs=True),
    "nmtune-paper": Method("nmtune-paper", epochs=True),
    "mlp-authors": Method("mlp-authors", label="MLP tuning (authors' MLP), center crops", epochs=True),
    "mlp-authors-views": Method("mlp-authors", data="views", label="MLP tuning (authors' MLP), augmented views",
                                epochs=True),
    "nmtune-authors": Method("nmtune-authors", label="NMTune (authors' config), center crops", epochs=True),
    "nmtune-authors-views": Method("nmtune-authors", data="views", epochs=True,
                                   label="NMTune (authors' config), augmented views (the authors' recipe)"),
    "nmtune-default": Method("nmtune", label="NMTuneClassifier(), center crops", package_defaults=True),
    "nmtune-default-views": Method("nmtune", data="views", label="NMTuneClassifier(), augmented views"),
    "recommended": Method("cv", device=False, package_defaults=True),
    "cv": Method("cv", _fixed(selection_rows=None), device=False,
                 label="NMTuneClassifierCV(selection_rows=None): the search on every row (the default before 0.2)"),
    "cv-sub2000": Method("cv", _fixed(selection_rows=2000), device=False,
                         label="NMTuneClassifierCV() = (selection_rows=2000): the search on 2,000 rows, the refit on "
                               "all"),
    "cv-sub1000": Method("cv", _fixed(selection_rows=1000), device=False,
                         label="NMTuneClassifierCV(selection_rows=1000): the search on 1,000 rows, the refit on all"),
    "recommended-no-racing": Method("cv", _fixed(racing=None), device=False,
                                    label="NMTuneClassifierCV(racing=None) (every candidate on every fold)"),
    "recommended-lambda0": Method("cv-lambda0", device=False, package_defaults=True),
    "recommended-families": Method("cv-families", device=False),
    "recommended-groups": Method("cv-groups", data="groups", device=False),
    "voting": Method("vote"),
    "voting-es": Method("vote", _fixed(members=("logreg-cv", "lp", "mlp-es", "nmtune-paper-es")),
                        label="make_voting_head(('logreg-cv', 'lp', 'mlp-es', 'nmtune-paper-es'))"),
}


def label(name: str) -> str:
    """How reports call a method: its table label, else the registry's; a stored soft vote's label; else the name."""
    from sknmtune.heads import head_spec

    from benchmarks.harness.ensembles import ENSEMBLE_LABELS

    if name in ENSEMBLE_LABELS:
        return ENSEMBLE_LABELS[name]
    if name not in METHODS:
        return name
    method = METHODS[name]
    return method.label if method.label is not None else head_spec(method.head).label


def build(name: str, seed: int, *, max_epochs: int | None = None, device: str = "auto") -> Any:
    """A fresh, unfitted estimator for the stored method ``name`` (through :func:`sknmtune.heads.make_head`).

    ``max_epochs`` (when not None) replaces the epoch budget of the methods whose budget a benchmark scale sets.
    """
    from sknmtune.heads import make_head

    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(METHODS)}")
    method = METHODS[name]
    overrides = method.overrides(seed)
    if method.epochs and max_epochs is not None:
        overrides["max_epochs"] = max_epochs
    return make_head(method.head, random_state=seed, device=device if method.device else "auto", **overrides)


def costs(names: Iterable[str], default: float = 0.015) -> dict[str, float]:
    """Relative fit cost of each method, for the longest-first queue of parallel fits: the registry's cost of its
    head, doubled when it trains on two views per row; ``default`` for a name outside :data:`METHODS`."""
    from sknmtune.heads import head_spec

    out = {}
    for name in names:
        method = METHODS.get(name)
        out[name] = default if method is None else head_spec(method.head).cost * (2.0 if method.data == "views" else 1.0)
    return out


def package_default_methods(names: Iterable[str]) -> list[str]:
    """Those of ``names`` whose configuration is the package's defaults (:attr:`Method.package_defaults`)."""
    return [name for name in names if METHODS[name].package_defaults]


def needs_groups(name: str) -> bool:
    """Whether the method selects across domains (``fit(..., groups=...)``): multi-source data only."""
    return METHODS[name].data == "groups"


def training_data(names: Iterable[str], views: Any, y: Any, groups: Any = None) -> dict[str, tuple]:
    """``train_by_method`` for :func:`sknmtune.evaluation.evaluate_heads`: ``views`` (``(n, 1 + K, D)``) for the
    methods that train on views, the center crops with ``{"groups": groups}`` for those that select across
    domains; the others train on ``evaluate_heads``' own ``(F_train, y_train)``. A ``groups`` method without
    ``groups`` (single-source data) is an error: leave it out (:func:`needs_groups`)."""
    import numpy as np

    out: dict[str, tuple] = {}
    for name in names:
        data = METHODS[name].data
        if data == "views":
            out[name] = (views, y)
        elif data == "groups":
            if groups is None:
                raise ValueError(f"{name} selects across domains: it needs the source domain of each row (groups)")
            out[name] = (np.ascontiguousarray(views[:, 0]), y, {"groups": groups})
    return out


def cv_model_seed(random_state: int) -> int:
    """The seed ``NMTuneClassifierCV(random_state=random_state)`` trains its candidates with (the second of its two
    draws; the first seeds the folds), so a study can refit one candidate as the CV head would without its search.

    ``tests/test_benchmark_methods.py`` checks it against a fitted ``NMTuneClassifierCV``'s ``best_estimator_``: the
    library has no public name for the draw, so this is the one place the benchmarks spell it out.
    """
    import numpy as np

    return int(np.random.RandomState(random_state).randint(np.iinfo(np.int32).max, size=2)[1])
