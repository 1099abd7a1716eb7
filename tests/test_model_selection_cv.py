"""NMTuneClassifierCV: the sklearn contract on its defaults, the selection, determinism, pipelines."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_classification
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknmtune import DEFAULT_PARAM_GRID, NMTuneClassifier, NMTuneClassifierCV
from sknmtune.heads import SKLEARN_EXPECTED_FAILED_CHECKS
from sknmtune.heads import one_standard_error

SMALL_GRID = {"mlp_depth": [0, 2], "max_epochs": [40], "lr": [1e-2]}


# The candidates' expected failures (sknmtune.heads.SKLEARN_EXPECTED_FAILED_CHECKS) are the wrapper's too.
_EXPECTED = {k: v for k, v in SKLEARN_EXPECTED_FAILED_CHECKS.items() if k != "check_class_weight_classifiers"}


@parametrize_with_checks([NMTuneClassifierCV()], expected_failed_checks=lambda est: _EXPECTED)
def test_sklearn_estimator_checks(estimator, check):
    # The full suite on the defaults users get: 6 candidates x 3 folds + the refit per fit call
    # (68 checks, about 3 minutes on 2 workers on these machines).
    check(estimator)


def _xor(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return np.hstack([X, rng.normal(scale=0.1, size=(n, 2))]), y


def test_default_grid_linear_probe_is_the_lp_preset():
    from sknmtune import PRESETS

    lp = DEFAULT_PARAM_GRID[0]
    assert lp["standardize"] == [False, True]
    assert {k: v[0] for k, v in lp.items() if k != "standardize"} == {
        k: PRESETS["lp"][k] for k in lp if k != "standardize"}
    assert lp["mlp_depth"] == [0] and lp["early_stopping"] == [False] and lp["max_epochs"] == [30]


def test_default_grid_covers_the_three_heads():
    depths = {d for part in DEFAULT_PARAM_GRID for d in part.get("mlp_depth", [])}
    lambdas = {v for part in DEFAULT_PARAM_GRID for v in part.get("reg_lambda", [])}
    assert 0 in depths and 2 in depths and {0.0, 1.0} <= lambdas
    assert any(True in part.get("standardize", []) for part in DEFAULT_PARAM_GRID)


def test_default_grid_lists_its_candidates_simplest_first():
    # the one-standard-error rule refits the first close candidate in grid order: probe, MLP, NMTune
    order = [(p["mlp_depth"], p.get("reg_lambda", 0.0)) for p in ParameterGrid(DEFAULT_PARAM_GRID)]
    assert order == sorted(order) and order[0] == (0, 0.0) and order[-1] == (2, 1.0)


def _cv_results(means, stds, n_folds=3):
    return {"mean_test_score": np.array(means), "std_test_score": np.array(stds),
            **{f"split{i}_test_score": np.zeros(len(means)) for i in range(n_folds)}}


def test_one_standard_error_refits_the_first_candidate_close_to_the_best():
    # best 0.80 with fold std 0.0346 over 3 folds: standard error 0.02, threshold 0.78
    assert one_standard_error(_cv_results([0.70, 0.785, 0.80, 0.79], [0.0, 0.0, 0.0346, 0.0])) == 1
    assert one_standard_error(_cv_results([0.70, 0.775, 0.80, 0.79], [0.0, 0.0, 0.0346, 0.0])) == 2
    assert one_standard_error(_cv_results([0.9, 0.8], [0.5, 0.0])) == 0  # the best is first
    # a failed candidate (error_score=nan) is never chosen and does not hide the others
    assert one_standard_error(_cv_results([np.nan, 0.6, 0.7], [np.nan, 0.0, 0.0])) == 2


def test_selection_best_callable_and_invalid():
    X, y = make_blobs(150, n_features=5, centers=3, cluster_std=4.0, random_state=0)
    best = NMTuneClassifierCV(SMALL_GRID, selection="best", random_state=0).fit(X, y)
    assert best.best_score_ == max(best.cv_results_["mean_test_score"])
    close = NMTuneClassifierCV(SMALL_GRID, random_state=0).fit(X, y)  # one_standard_error, same folds
    np.testing.assert_array_equal(close.cv_results_["mean_test_score"], best.cv_results_["mean_test_score"])
    assert close.best_index_ <= best.best_index_
    last = NMTuneClassifierCV(SMALL_GRID, selection=lambda r: len(r["params"]) - 1, random_state=0).fit(X, y)
    assert last.best_index_ == 1 and last.best_params_["mlp_depth"] == 2 and last.best_estimator_.mlp_depth == 2
    with pytest.raises(ValueError, match="selection"):
        NMTuneClassifierCV(SMALL_GRID, selection="median").fit(X, y)


def test_selects_an_mlp_on_a_non_linear_problem():
    """XOR is out of reach of the linear probe: the inner CV must prefer an MLP, and it pays off."""
    X, y = _xor(300, 0)
    Xt, yt = _xor(600, 1)
    cv = NMTuneClassifierCV(SMALL_GRID, random_state=0).fit(X, y)
    assert cv.best_params_["mlp_depth"] == 2
    results = dict(zip([p["mlp_depth"] for p in cv.cv_results_["params"]], cv.cv_results_["mean_test_score"]))
    assert results[2] > results[0] + 0.1
    assert cv.score(Xt, yt) > 0.85
    assert isinstance(cv.best_estimator_, NMTuneClassifier) and cv.best_estimator_.mlp_depth == 2


def test_same_random_state_same_selection_and_model_and_n_jobs_does_not_matter():
    X, y = make_blobs(150, n_features=5, centers=3, cluster_std=4.0, random_state=0)
    a = NMTuneClassifierCV(SMALL_GRID, random_state=3).fit(X, y)
    b = NMTuneClassifierCV(SMALL_GRID, random_state=3, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"])
    assert a.best_params_ == b.best_params_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_delegates_to_the_refitted_best_estimator():
    X, y = make_blobs(120, n_features=4, centers=3, random_state=1)
    names = np.array(["a", "b", "c"])[y]
    cv = NMTuneClassifierCV(SMALL_GRID, random_state=0).fit(X, names)
    best = cv.best_estimator_
    np.testing.assert_array_equal(cv.classes_, ["a", "b", "c"])
    np.testing.assert_array_equal(cv.predict(X), best.predict(X))
    np.testing.assert_array_equal(cv.predict_proba(X), best.predict_proba(X))
    np.testing.assert_array_equal(cv.transform(X), best.transform(X))
    assert cv.best_score_ == cv.cv_results_["mean_test_score"][cv.best_index_]
    assert cv.best_params_ == cv.cv_results_["params"][cv.best_index_]
    assert list(cv.get_feature_names_out()) == [f"nmtuneclassifiercv{i}" for i in range(4)]


def test_folds_follow_the_smallest_class_and_a_splitter_is_used_as_is():
    X, y = make_blobs(40, n_features=3, centers=2, random_state=0)
    y[:2] = 2  # a class with two members: 2 folds instead of 3
    cv = NMTuneClassifierCV({"mlp_depth": [0], "max_epochs": [5]}, random_state=0).fit(X, y)
    assert "split1_test_score" in cv.cv_results_ and "split2_test_score" not in cv.cv_results_
    custom = NMTuneClassifierCV({"mlp_depth": [0], "max_epochs": [5]}, cv=StratifiedKFold(2), random_state=0)
    assert "split1_test_score" in custom.fit(X[2:], y[2:]).cv_results_


def test_a_singleton_class_is_a_clear_error():
    X, y = make_blobs(30, n_features=3, centers=2, random_state=0)
    y[0] = 5
    cv = NMTuneClassifierCV(SMALL_GRID)
    with pytest.raises(ValueError, match="at least 2 samples of every class"):
        cv.fit(X, y)
    assert not hasattr(cv, "best_estimator_") and not hasattr(cv, "n_features_in_")


def test_inside_a_pipeline_and_an_outer_grid_search():
    X, y = make_blobs(90, n_features=4, centers=2, random_state=2)
    pipe = Pipeline([("scale", StandardScaler()), ("head", NMTuneClassifierCV({"mlp_depth": [0, 2], "max_epochs": [5]},
                                                                               cv=2, random_state=0))])
    outer = GridSearchCV(pipe, {"head__scoring": ["accuracy", "neg_log_loss"]}, cv=2).fit(X, y)
    assert outer.best_estimator_.named_steps["head"].best_params_["mlp_depth"] in (0, 2)
    assert clone(pipe).get_params()["head__cv"] == 2


def test_selection_rows_searches_a_stratified_subsample_and_refits_the_winner_on_every_row():
    X, y = make_classification(600, 12, n_informative=6, n_classes=3, random_state=1)
    X = X.astype(np.float32)
    grid = {"mlp_depth": [0, 2], "max_epochs": [3], "reg_lambda": [0.0]}
    scored = []

    def accuracy_counting_rows(estimator, X_test, y_test):
        scored.append(len(X_test))
        return float(np.mean(estimator.predict(X_test) == y_test))

    full = NMTuneClassifierCV(grid, random_state=0, racing=None).fit(X, y)
    sub = NMTuneClassifierCV(grid, random_state=0, racing=None, selection_rows=150,
                             scoring=accuracy_counting_rows).fit(X, y)
    assert scored == [50] * 6  # 2 candidates x 3 folds, each holding out 50 of the 150 rows searched
    assert sub.best_estimator_.n_features_in_ == 12 and sub.best_estimator_.history_  # refitted on all 600
    refit = clone(sub.best_estimator_).fit(X, y)
    np.testing.assert_allclose(refit.predict_proba(X), sub.predict_proba(X), rtol=1e-6)
    subset = sub._selection_subset(y, None, 0)
    assert subset.size == 150 and np.array_equal(np.bincount(y[subset]), [50, 50, 50])
    # with at most selection_rows rows the search is the full one
    same = NMTuneClassifierCV(grid, random_state=0, racing=None, selection_rows=600).fit(X, y)
    np.testing.assert_array_equal(same.cv_results_["mean_test_score"], full.cv_results_["mean_test_score"])
    with pytest.raises(ValueError, match="selection_rows"):
        NMTuneClassifierCV(selection_rows=5).fit(X, y)


def test_by_default_the_search_runs_on_2000_rows_and_the_winner_is_refitted_on_all():
    X, y = make_classification(2300, 6, n_informative=4, n_classes=2, random_state=0)
    scored = []

    def accuracy_counting_rows(estimator, X_test, y_test):
        scored.append(len(X_test))
        return float(np.mean(estimator.predict(X_test) == y_test))

    head = NMTuneClassifierCV({"mlp_depth": [0], "max_epochs": [1]}, random_state=0, scoring=accuracy_counting_rows)
    assert head.selection_rows == 2000
    head.fit(X.astype(np.float32), y)
    assert sum(scored) == 2000 and len(scored) == 3  # 3 folds of the 2,000 rows searched
    assert head.best_estimator_.n_features_in_ == 6 and head.best_estimator_.history_


def test_selection_rows_keeps_every_group_and_the_weights_of_the_kept_rows():
    from sklearn.model_selection import LeaveOneGroupOut

    X, y = make_classification(400, 8, n_informative=4, random_state=2)
    groups = np.repeat(["a", "b", "c", "d"], 100)
    clf = NMTuneClassifierCV({"mlp_depth": [0], "max_epochs": [2], "standardize": [False, True]}, cv=LeaveOneGroupOut(),
                             random_state=0, selection_rows=120)
    subset = clf._selection_subset(y, groups, 0)
    assert subset.size == 120 and set(groups[subset]) == {"a", "b", "c", "d"}
    clf.fit(X, y, groups=groups, sample_weight=np.linspace(0.5, 1.5, 400))
    assert sum(k.startswith("split") and k.endswith("_test_score") for k in clf.cv_results_) == 4  # one fold per group
