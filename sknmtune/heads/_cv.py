"""``NMTuneClassifierCV``: the head chosen by inner cross-validation, as ``LogisticRegressionCV`` is to
``LogisticRegression``.

Which head wins -- the linear probe, MLP tuning or NMTune, on raw or standardized features --
depends on the backbone, the task and the amount of data; nothing in the paper tells in
advance. :class:`NMTuneClassifierCV` scores a small documented grid of
:class:`~sknmtune.NMTuneClassifier` configurations by stratified cross-validation on the
training features only and refits the selected one on all of them.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real
from typing import Any

import inspect

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context, clone
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold, check_cv
from sklearn.utils import check_random_state, metadata_routing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, _routing_enabled, process_routing
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import _validated_sample_weight
from ._classifier import PRESETS, NMTuneClassifier
from ._racing import _AUTO_RACING, _AUTO_RACING_MIN_ROWS, _raced_search
from ._registry import register_head

__all__ = ["DEFAULT_PARAM_GRID", "DEFAULT_SELECTION_ROWS", "NMTuneClassifierCV", "head_family", "one_standard_error"]

#: ``NMTuneClassifierCV(selection_rows=...)``'s default: the search runs on at most this many rows (decided on
#: validation records: benchmarks/results/cost_choice.md)
DEFAULT_SELECTION_ROWS = 2000
#: seconds per row of the winner's refit beyond the searched rows (one thread, 1,280-d; the registry's cost model,
#: from benchmarks/results/fit_time_sweep.json: the default head took 28 s on 4,000 rows and 32 s on 16,000)
_REFIT_COST = 0.001

#: The candidates :class:`NMTuneClassifierCV` compares by default (6 configurations), simplest
#: first: the linear probe as the papers train it (preset ``"lp"``: ``mlp_depth=0``, learning rate
#: 0.01, exactly 30 epochs with a cosine decay, no early stopping, so every row is used) on raw,
#: then standardized features; the MLP head without the regularizers (``reg_lambda=0``, MLP tuning)
#: on raw, then standardized features; the same with them (``reg_lambda=1``, NMTune). The MLP
#: candidates stop early after 5 epochs without improvement and cap the hidden width at 512; every
#: other parameter is that of the ``estimator`` (by default :class:`~sknmtune.NMTuneClassifier`'s
#: defaults: early stopping, the authors' loss weights). All three choices were made on validation
#: splits: the fixed-budget probe against an early-stopped one (the ImageNet benchmark's validation
#: table; the early-stopped probe's records were not kept), and the 5-epoch patience with the 512 cap
#: against patience 10 and a 1024 cap (``benchmarks/results/cv_grid_study.md``, rendered in the method guide).
DEFAULT_PARAM_GRID: list[dict[str, list[Any]]] = [
    {
        **{k: [PRESETS["lp"][k]] for k in (
            "mlp_depth", "lr", "weight_decay", "max_epochs", "lr_schedule", "early_stopping", "n_iter_no_change")},
        "standardize": [False, True],
    },
    {"mlp_depth": [2], "reg_lambda": [0.0, 1.0], "standardize": [False, True], "n_iter_no_change": [5],
     "max_hidden_width": [512]},
]


def head_family(params: dict[str, Any]) -> str:
    """The head family of a candidate's full parameters: probe, MLP tuning or NMTune."""
    if params.get("mlp_depth", 2) == 0:
        return "probe"
    return "mlp" if float(params.get("reg_lambda", 1.0)) == 0 else "nmtune"


def _ensemble_members(ensemble: str | int | None, cv_results: dict[str, Any], best: int, base: Any) -> list[int]:
    """Indices of the candidates to soft-vote (``[best]`` without an ensemble), best CV score first."""
    if ensemble is None:
        return [best]
    scores = np.asarray(cv_results["mean_test_score"], dtype=float)
    order = [int(i) for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]  # raced-out: NaN
    if ensemble == "families":
        defaults = base.get_params()
        chosen: dict[str, int] = {}
        for i in order:
            chosen.setdefault(head_family({**defaults, **cv_results["params"][i]}), i)
        return sorted(chosen.values(), key=lambda i: (-scores[i], i))
    return order[: int(ensemble)]


def one_standard_error(cv_results: dict[str, Any]) -> int:
    """Index of the first candidate whose mean score is within one standard error of the best mean score."""
    mean = np.asarray(cv_results["mean_test_score"], dtype=float)
    n_folds = sum(1 for k in cv_results if k.startswith("split") and k.endswith("_test_score"))
    best = int(np.nanargmax(mean))
    threshold = mean[best] - float(cv_results["std_test_score"][best]) / np.sqrt(n_folds)
    return int(np.flatnonzero(np.nan_to_num(mean, nan=-np.inf) >= threshold)[0])


_SELECTIONS: dict[str, Any] = {"best": True, "one_standard_error": one_standard_error}

def _uses_groups(splitter: Any) -> bool:
    """Whether a cross-validation splitter's ``split`` reads ``groups`` (GroupKFold, LeaveOneGroupOut, ...)."""
    routing = getattr(splitter, "get_metadata_routing", None)
    if routing is not None:
        return bool(routing().consumes("split", ["groups"]))
    split = getattr(splitter, "split", None)
    return split is not None and "groups" in inspect.signature(split).parameters


def _check_groups(groups: Any, n_samples: int, cv: Any, scored: bool = False) -> np.ndarray | None:
    """``groups`` as an array checked against ``cv`` and ``X`` (errors say what to pass instead); ``scored``: a
    routed scorer reads them, so a splitter that ignores them is no mistake."""
    splitter = None if isinstance(cv, Integral) else cv
    if groups is None:
        if splitter is not None and _uses_groups(splitter):
            raise ValueError(f"cv={splitter!r} splits by groups: pass them, fit(X, y, groups=...).")
        return None
    if not scored and (splitter is None or not _uses_groups(splitter)):
        what = f"cv={cv!r} (stratified folds)" if splitter is None else f"cv={cv!r}"
        raise ValueError(
            f"groups were passed but {what} ignores them; pass a group splitter as cv, e.g. "
            "sklearn.model_selection.GroupKFold(n_splits=3), StratifiedGroupKFold or LeaveOneGroupOut()."
        )
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(f"groups has shape {groups.shape} but X has {n_samples} rows; pass one group label per row.")
    uniques = np.unique(groups)
    if uniques.size < 2:
        raise ValueError(
            f"groups holds a single group ({uniques.tolist()[0]!r}): grouped cross-validation holds out whole groups, so it "
            "needs at least 2. Without several domains, leave groups out and use the default stratified folds."
        )
    return groups


class NMTuneClassifierCV(ClassNamePrefixFeaturesOutMixin, ClassifierMixin, TransformerMixin, BaseEstimator):
    """The best of linear probing, MLP tuning and NMTune, chosen by cross-validation.

    Every candidate of ``param_grid`` (an :class:`~sknmtune.NMTuneClassifier` with some
    parameters changed) is fitted on ``cv`` stratified folds of the training data and scored
    on the held-out fold; one candidate (by default the simplest whose mean score is within
    one standard error of the best, see ``selection``) is refitted on all the data and serves
    ``predict``, ``predict_proba``, ``decision_function`` and ``transform``. The selection only
    ever sees the data passed to ``fit``.

    Parameters
    ----------
    param_grid : dict or list of dict, default=None
        Candidates, as for :class:`~sklearn.model_selection.GridSearchCV` (parameter names of
        :class:`~sknmtune.NMTuneClassifier`). ``None`` uses :data:`DEFAULT_PARAM_GRID`.
    estimator : NMTuneClassifier, default=None
        The base configuration the grid modifies; ``None`` means ``NMTuneClassifier()``.
        Its ``random_state`` is replaced by this estimator's.
    cv : int or cross-validation splitter, default=3
        Number of stratified, shuffled folds (seeded by ``random_state``), or a splitter.
        With fewer members in the smallest class than folds, the number of folds is lowered
        to that count (at least 2).
    scoring : str or callable, default="accuracy"
        Selection criterion, as in :class:`~sklearn.model_selection.GridSearchCV` (one metric).
    selection : {"best", "one_standard_error"} or callable, default="one_standard_error"
        Which candidate is refitted. ``"best"``: the highest mean cross-validated score.
        ``"one_standard_error"``: the first candidate, in grid order, whose mean score is within
        one standard error (fold standard deviation / sqrt(number of folds)) of the best one's;
        the default grid lists its candidates simplest first (linear probe, MLP tuning, NMTune),
        so close calls go to the simpler head. A callable receives ``cv_results_`` and returns
        the index of the candidate to refit (as ``GridSearchCV(refit=callable)``).
    n_jobs : int, default=None
        Candidates x folds fitted in parallel through joblib (``-1``: all cores). Results do
        not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds and every candidate's training; the same integer gives the same
        selection and the same refitted model.
    error_score : "raise" or float, default="raise"
        What a failing candidate scores (``"raise"`` re-raises its error).
    verbose : int, default=0
        Passed to :class:`~sklearn.model_selection.GridSearchCV`.
    ensemble : None, "families" or int, default=None
        ``None``: predict with the selected candidate alone. ``"families"``: soft-vote (average the
        class probabilities of) the best candidate of each head family present in the grid -- the
        linear probe (``mlp_depth=0``), MLP tuning (``reg_lambda=0``) and NMTune -- ranked by mean
        cross-validated score. An int ``k >= 2``: soft-vote the ``k`` best candidates. Each member is
        refitted on all the data (the selected candidate's refit is reused when it is a member).
        ``transform`` still returns the selected candidate's ``Z`` (an ensemble has no single
        representation).
    racing : "auto", float >= 0 or None, default="auto"
        Stop scoring candidates that cannot win. Every candidate is scored on the first fold; only
        those whose score there is at most ``racing`` below the best first-fold score (in the units
        of ``scoring``: ``0.05`` is 5 accuracy points) are scored on the other folds. The others
        are fitted once: their later ``split<i>_test_score`` and ``mean_test_score`` are NaN, they
        rank last and are never selected nor voted (a ``selection`` callable sees the NaN). The
        survivors' scores are the same fits as without racing. ``"auto"``: a margin of 0.03 when
        ``scoring="accuracy"``, ``ensemble=None``, the folds are not grouped (``groups`` not
        passed: one held-out domain says little about the others) and the first held-out fold has
        at least 200 rows (a 3-point gap is then 6 rows or more), no racing otherwise; what it
        changes and saves on the benchmarks' training sets is in ``benchmarks/results/cv_grid_study.md``.
        ``None``: every candidate on every fold, as
        :class:`~sklearn.model_selection.GridSearchCV`.
    selection_rows : int or None, default=2000
        Rows the candidates are cross-validated on. With more training rows than this, the search runs on
        a subsample of this many rows (stratified by class, and by group when ``groups`` are passed; drawn
        with the folds' seed), and only the selected candidate is refitted on all the rows: the selection
        then costs the same at any size, as :class:`~sklearn.model_selection.HalvingGridSearchCV` spends
        little on the candidates it does not keep. ``None``: every row (the behaviour before 0.2, and of
        files saved by it). The default was decided on validation records only: on the PACS DomainBed-scale
        study's source validation parts, the search on 2,000 rows against every row was non-inferior
        (``benchmarks/results/cost_choice.md``); up to 2,000 training rows nothing changes.

    Attributes
    ----------
    best_estimator_ : NMTuneClassifier
        The selected configuration, refitted on all the data.
    estimators_ : list of NMTuneClassifier
        The refitted members whose probabilities are averaged (``[best_estimator_]`` when
        ``ensemble=None``).
    ensemble_indices_ : list of int
        Their indices in ``cv_results_``.
    best_params_ : dict
        Its parameters from the grid.
    best_index_ : int
        Its index in ``cv_results_``.
    best_score_ : float
        Its mean cross-validated score (not always the highest: see ``selection``).
    cv_results_ : dict of ndarray
        Per-candidate scores and fit times (as :class:`~sklearn.model_selection.GridSearchCV`;
        with ``racing``, NaN scores for the candidates dropped after the first fold).
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` has string feature names.

    See Also
    --------
    sknmtune.NMTuneClassifier : One head with fixed settings.
    sknmtune.make_voting_head : A soft vote of four heads.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknmtune import NMTuneClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> grid = {"mlp_depth": [0, 2], "max_epochs": [5]}
    >>> clf = NMTuneClassifierCV(grid, random_state=0).fit(X, y)
    >>> sorted(clf.best_params_)
    ['max_epochs', 'mlp_depth']
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        "param_grid": [dict, list, None],
        "estimator": [HasMethods(["fit", "predict_proba", "transform"]), None],
        "cv": [Interval(Integral, 2, None, closed="left"), "cv_object"],
        "scoring": [str, callable],
        "selection": [StrOptions({"best", "one_standard_error"}), callable],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "error_score": [StrOptions({"raise"}), float],
        "verbose": ["verbose"],
        "ensemble": [None, StrOptions({"families"}), Interval(Integral, 2, None, closed="left")],
        "racing": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left"), None],
        "selection_rows": [Interval(Integral, 20, None, closed="left"), None],
    }

    def __init__(
        self,
        param_grid: dict | list | None = None,
        *,
        estimator: NMTuneClassifier | None = None,
        cv: Any = 3,
        scoring: Any = "accuracy",
        selection: Any = "one_standard_error",
        n_jobs: int | None = None,
        random_state: Any = None,
        error_score: Any = "raise",
        verbose: int = 0,
        ensemble: str | int | None = None,
        racing: float | str | None = "auto",
        selection_rows: int | None = DEFAULT_SELECTION_ROWS,
    ) -> None:
        self.param_grid = param_grid
        self.estimator = estimator
        self.cv = cv
        self.scoring = scoring
        self.selection = selection
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.error_score = error_score
        self.verbose = verbose
        self.ensemble = ensemble
        self.racing = racing
        self.selection_rows = selection_rows

    def _selection_subset(self, y: np.ndarray, groups: np.ndarray | None, seed: int) -> np.ndarray | None:
        """Sorted indices of the rows the search runs on (``None``: all of them; see ``selection_rows``)."""
        if self.selection_rows is None or y.shape[0] <= self.selection_rows:
            return None
        from sklearn.model_selection import train_test_split

        strata = [y if groups is None else np.char.add(np.asarray(groups).astype(str), np.asarray(y).astype(str)), y, None]
        for stratify in strata:
            if stratify is not None and np.unique(stratify, return_counts=True)[1].min() < 2:
                continue
            try:
                kept, _ = train_test_split(np.arange(y.shape[0]), train_size=int(self.selection_rows),
                                           random_state=seed, stratify=stratify)
            except ValueError:  # a stratum too small for the subsample's size
                continue
            return np.sort(kept)
        return None  # pragma: no cover - the unstratified split always succeeds

    def _splitter(self, y: np.ndarray, seed: int) -> Any:
        if not isinstance(self.cv, Integral):
            return self.cv
        smallest = int(np.unique(y, return_counts=True)[1].min())
        n_splits = max(2, min(int(self.cv), smallest))
        if smallest < 2:
            raise ValueError(
                "NMTuneClassifierCV needs at least 2 samples of every class for stratified cross-validation; "
                f"the smallest class has {smallest}. Pass a cv splitter, or use NMTuneClassifier."
            )
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)

    # ``groups`` goes to the splitter (the router below), not to this estimator's own requests:
    # ``set_fit_request`` offers ``sample_weight`` only.
    __metadata_request__fit = {"groups": metadata_routing.UNUSED}

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any, groups: Any = None, sample_weight: Any = None) -> "NMTuneClassifierCV":
        """Score every candidate by cross-validation on ``(X, y)`` and refit the selected one on all of it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_views, n_features)
            Frozen features (finite numbers); with a views axis (index 0 the center crop) each
            candidate trains as its ``views`` parameter says and is scored on the center crop.
        y : array-like of shape (n_samples,)
            Class labels; at least two classes, each with at least two samples.
        groups : array-like of shape (n_samples,), default=None
            Group (domain) of each row, for a group splitter given as ``cv`` (``GroupKFold``,
            ``StratifiedGroupKFold``, ``LeaveOneGroupOut``): every fold then holds out whole groups,
            so the selection favours the head that transfers to unseen domains. Passing groups with an
            integer ``cv`` (stratified folds, which would ignore them) is an error, and so are a single
            group and a length other than ``X``'s. With ``sklearn.set_config(enable_metadata_routing=True)``
            they reach the splitter through routing (as in :class:`~sklearn.model_selection.GridSearchCV`).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights passed to every candidate's ``fit`` (the fold fits get their training rows'
            weights, the refit all of them). The held-out folds are scored unweighted, as
            :class:`~sklearn.model_selection.GridSearchCV` scores them. With metadata routing enabled,
            request it with ``set_fit_request(sample_weight=True)``.

        Returns
        -------
        self : NMTuneClassifierCV
        """
        for attr in (
            "best_estimator_", "best_params_", "best_index_", "best_score_", "cv_results_", "classes_",
            "n_features_in_", "feature_names_in_", "estimators_", "ensemble_indices_",
        ):
            self.__dict__.pop(attr, None)
        try:
            views = np.asarray(X) if getattr(X, "ndim", None) == 3 else None
            X, y = validate_data(self, X if views is None else views[:, 0], y, dtype=[np.float32, np.float64],
                                 ensure_min_samples=2)
            check_classification_targets(y)
            if np.unique(y).shape[0] < 2:
                raise ValueError(
                    f"NMTuneClassifierCV needs samples of at least 2 classes; the data contains only one class: "
                    f"{np.unique(y)[0]!r}."
                )
            scored = _routing_enabled() and self._scorer_routing().consumes("score", ["groups"])
            groups = _check_groups(groups, X.shape[0], self.cv, scored=bool(scored))
            score_groups = None  # the groups a routed scorer asks for (e.g. worst-group accuracy)
            if _routing_enabled():
                passed = {"groups": groups, "sample_weight": sample_weight}
                routed = process_routing(self, "fit", **{k: v for k, v in passed.items() if v is not None})
                score_groups = routed["scorer"]["score"].get("groups")
                groups = routed["splitter"]["split"].get("groups")
            fit_params = {}
            if sample_weight is not None:
                fit_params["sample_weight"] = _validated_sample_weight(sample_weight, X.shape[0])
            rng = check_random_state(self.random_state)
            fold_seed, model_seed = (int(s) for s in rng.randint(np.iinfo(np.int32).max, size=2))
            base = clone(self.estimator) if self.estimator is not None else NMTuneClassifier()
            base.set_params(random_state=model_seed)
            grid = copy.deepcopy(self.param_grid) if self.param_grid is not None else copy.deepcopy(DEFAULT_PARAM_GRID)
            data = X if views is None else views  # candidates read the views axis (their `views`)
            refit = _SELECTIONS.get(self.selection, self.selection)

            def make_search(candidates: Any, cv: Any) -> GridSearchCV:
                return GridSearchCV(base, candidates, scoring=self.scoring, cv=cv, n_jobs=self.n_jobs, refit=False,
                                    error_score=self.error_score, verbose=self.verbose)

            subset = self._selection_subset(y, groups, fold_seed)
            search_params = {**fit_params, **({} if score_groups is None else {"groups": np.asarray(score_groups)})}
            if subset is None:
                sel_X, sel_data, sel_y, sel_groups, sel_params = X, data, y, groups, search_params
            else:  # the search on a subsample; the selected candidate refitted on every row below
                sel_X, sel_data, sel_y = X[subset], data[subset], y[subset]
                sel_groups = None if groups is None else np.asarray(groups)[subset]
                sel_params = {name: value[subset] for name, value in search_params.items()}
            splits = list(check_cv(self._splitter(sel_y, fold_seed), sel_y, classifier=True).split(sel_X, sel_y,
                                                                                                sel_groups))
            margin = self._racing_margin(len(splits[0][1]), grouped=groups is not None)
            # The metadata is routed above; inside, the search hands it on directly (the weights to
            # every candidate's fit) whatever the global routing setting, unless the scorer asked for
            # groups: then the search routes them to it (and the weights to the candidates).
            if score_groups is not None and "sample_weight" in fit_params:
                base.set_fit_request(sample_weight=True)
            with config_context(enable_metadata_routing=score_groups is not None):
                if margin is None or len(ParameterGrid(grid)) < 2:
                    cv_results = make_search(grid, splits).fit(sel_data, sel_y, **sel_params).cv_results_
                else:
                    cv_results = _raced_search(make_search, grid, splits, margin, sel_data, sel_y, sel_params)
                best_index = int(np.nanargmax(cv_results["mean_test_score"]) if refit is True else refit(cv_results))
                best = clone(base).set_params(**cv_results["params"][best_index]).fit(data, y, **fit_params)
            members = _ensemble_members(self.ensemble, cv_results, best_index, base)
            estimators = [
                best if i == best_index else clone(base).set_params(**cv_results["params"][i]).fit(data, y, **fit_params)
                for i in members
            ]
        except BaseException:
            self.__dict__.pop("n_features_in_", None)
            self.__dict__.pop("feature_names_in_", None)
            raise
        self.best_estimator_ = best
        self.best_params_ = cv_results["params"][best_index]
        self.best_index_ = best_index
        self.best_score_ = float(cv_results["mean_test_score"][best_index])
        self.cv_results_ = cv_results
        self.classes_ = self.best_estimator_.classes_
        self.estimators_ = estimators
        self.ensemble_indices_ = members
        return self

    def _racing_margin(self, n_first_test: int, *, grouped: bool = False) -> float | None:
        """The racing margin in force: ``racing``, with ``"auto"`` resolved for a first held-out fold of that
        size (no racing across groups, where one held-out domain says little about the others, nor for an
        ensemble, whose members are chosen from every candidate's full score)."""
        if self.racing != "auto":
            return None if self.racing is None else float(self.racing)
        eligible = (self.scoring == "accuracy" and n_first_test >= _AUTO_RACING_MIN_ROWS and not grouped
                    and self.ensemble is None)
        return _AUTO_RACING if eligible else None

    def get_metadata_routing(self) -> MetadataRouter:
        """How metadata passed to :meth:`fit` is routed (with ``enable_metadata_routing=True``).

        ``sample_weight`` is this estimator's own request (``set_fit_request(sample_weight=True)``;
        it then goes to every candidate's ``fit``), ``groups`` goes to the ``cv`` splitter's
        ``split`` (group splitters request it by default) and to the scorer when it asks for them
        (``make_worst_group_scorer().set_score_request(groups=True)``: each held-out fold is scored
        with its rows' groups).

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        from sklearn.metrics import check_scoring

        splitter = check_cv(self.cv, classifier=True) if isinstance(self.cv, Integral) else self.cv
        scorer = check_scoring(self, scoring=self.scoring)
        if _routing_enabled() and hasattr(scorer, "set_score_request"):
            # the held-out folds are scored unweighted (as documented for fit): a scorer that has not said
            # otherwise does not take the fit's sample_weight, so passing weights needs no request on it
            if self._scorer_routing().score.requests.get("sample_weight", False) is None:
                scorer = copy.deepcopy(scorer).set_score_request(sample_weight=False)
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(splitter=splitter, method_mapping=MethodMapping().add(caller="fit", callee="split"))
            .add(scorer=scorer, method_mapping=MethodMapping().add(caller="fit", callee="score"))
        )

    def _scorer_routing(self) -> Any:
        """The metadata request of ``scoring``'s scorer."""
        from sklearn.metrics import check_scoring
        from sklearn.utils.metadata_routing import get_routing_for_object

        return get_routing_for_object(check_scoring(self, scoring=self.scoring))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "best_estimator_")

    def _validated(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if getattr(X, "ndim", None) == 3:  # training-style input with views: the center crop
            X = np.asarray(X)[:, 0]
        return validate_data(self, X, dtype=[np.float32, np.float64], reset=False)

    def _voting(self) -> bool:
        return len(self.estimators_) > 1

    def predict(self, X: Any) -> np.ndarray:
        """Class labels from the refitted best candidate (the ensemble's vote with ``ensemble``)."""
        X = self._validated(X)  # raises NotFittedError first
        if self._voting():
            return self.classes_[np.argmax(self._mean_proba(X), axis=1)]
        return self.best_estimator_.predict(X)

    def _mean_proba(self, X: np.ndarray) -> np.ndarray:
        return np.mean([member.predict_proba(X) for member in self.estimators_], axis=0)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (columns ordered as ``classes_``): the members' mean with ``ensemble``."""
        X = self._validated(X)  # raises NotFittedError first
        return self._mean_proba(X) if self._voting() else self.best_estimator_.predict_proba(X)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        X = self._validated(X)  # raises NotFittedError first
        if self._voting():
            return np.log(self._mean_proba(X))
        return self.best_estimator_.predict_log_proba(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits of the refitted best candidate (a 1-D margin for two classes); with ``ensemble``, the log
        of the averaged probabilities (the same shape)."""
        X = self._validated(X)  # raises NotFittedError first
        if not self._voting():
            return self.best_estimator_.decision_function(X)
        log_proba = np.log(self._mean_proba(X))
        return log_proba[:, 1] - log_proba[:, 0] if log_proba.shape[1] == 2 else log_proba

    def transform(self, X: Any) -> np.ndarray:
        """The best candidate's representation ``Z`` (``X`` itself when the linear probe won)."""
        X = self._validated(X)  # raises NotFittedError first
        return self.best_estimator_.transform(X)

    @property
    def _n_features_out(self) -> int:
        """Width of ``Z`` (``get_feature_names_out`` gives ``nmtuneclassifiercv0 ...``)."""
        return self.n_features_in_

    def __setstate__(self, state: dict) -> None:
        # A pickle of sknmtune 0.1 has no ``selection_rows``: it searched on every row (None). The safe
        # format fills the same value from sknmtune.persistence._format.ADDED_PARAMS.
        super().__setstate__({"selection_rows": None, **state})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


# ------------------------------------------------------------------------------------- the named heads

def _named(random_state: Any, device: str, overrides: dict[str, Any]) -> NMTuneClassifierCV:
    if device != "auto" and "estimator" not in overrides:
        overrides = {**overrides, "estimator": NMTuneClassifier(device=device)}
    return NMTuneClassifierCV(random_state=random_state, **overrides)


@register_head("cv", label="NMTuneClassifierCV() (inner-CV selection)", family="selection", cost=0.013, views=True,
               search_rows=DEFAULT_SELECTION_ROWS, refit_cost=_REFIT_COST)
def _cv_default(random_state: Any, device: str, **overrides: Any) -> NMTuneClassifierCV:
    return _named(random_state, device, overrides)


@register_head("cv-families", label="NMTuneClassifierCV(ensemble='families') (soft vote of the best probe, MLP and "
               "NMTune)", family="selection", cost=0.017, views=True, search_rows=DEFAULT_SELECTION_ROWS,
               refit_cost=3 * _REFIT_COST)  # the best probe, MLP and NMTune refitted
def _cv_families(random_state: Any, device: str, **overrides: Any) -> NMTuneClassifierCV:
    return _named(random_state, device, {"ensemble": "families", **overrides})


@register_head("cv-groups", label="NMTuneClassifierCV(cv=LeaveOneGroupOut()) with the source domains as groups",
               family="selection", cost=0.013, views=True, groups=True, search_rows=DEFAULT_SELECTION_ROWS,
               refit_cost=_REFIT_COST)
def _cv_groups(random_state: Any, device: str, **overrides: Any) -> NMTuneClassifierCV:
    from sklearn.model_selection import LeaveOneGroupOut

    return _named(random_state, device, {"cv": LeaveOneGroupOut(), **overrides})


@register_head("cv-lambda0", label="NMTuneClassifierCV() without its NMTune candidates", family="selection",
               cost=0.009, views=True, search_rows=DEFAULT_SELECTION_ROWS, refit_cost=_REFIT_COST)
def _cv_lambda0(random_state: Any, device: str, **overrides: Any) -> NMTuneClassifierCV:
    grid = [{k: ([x for x in v if x == 0] if k == "reg_lambda" else v) for k, v in part.items()}
            for part in DEFAULT_PARAM_GRID]
    return _named(random_state, device, {"param_grid": grid, **overrides})

