"""sknmtune.metrics: the comparison metrics as functions and as scorers in GridSearchCV and NMTuneClassifierCV."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, top_k_accuracy_score
from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut

from sknmtune import NMTuneClassifierCV
from sknmtune.metrics import (
    TopKAccuracyScorer,
    get_scorer,
    group_accuracies,
    make_worst_group_scorer,
    score_predictions,
    scorer_names,
    worst_group_accuracy,
)


@pytest.fixture(scope="module")
def grouped():
    """7 classes (so top-5 means something), 3 domains shifted from one another."""
    rng = np.random.default_rng(0)
    n, k = 210, 7
    y = np.tile(np.arange(k), n // k)
    groups = np.repeat(np.array(["art", "photo", "sketch"]), n // 3)
    X = rng.normal(size=(n, 8)) + 1.5 * np.eye(k, 8)[y] + (groups == "sketch")[:, None] * 0.8
    return X, y, groups


def test_worst_group_accuracy_is_the_lowest_group_accuracy():
    y_true = np.array([0, 1, 1, 0, 1, 1])
    y_pred = np.array([0, 1, 0, 0, 0, 0])
    groups = np.array(["a", "a", "b", "b", "c", "c"])
    assert group_accuracies(y_true, y_pred, groups=groups) == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert worst_group_accuracy(y_true, y_pred, groups=groups) == 0.0
    weights = np.array([1, 1, 3, 1, 1, 1])
    assert group_accuracies(y_true, y_pred, groups=groups, sample_weight=weights)["b"] == pytest.approx(0.25)


def test_worst_group_accuracy_names_what_is_missing():
    with pytest.raises(ValueError, match="set_score_request\\(groups=True\\)"):
        worst_group_accuracy([0, 1], [0, 1])
    with pytest.raises(ValueError, match="one group per row"):
        worst_group_accuracy([0, 1], [0, 1], groups=[0, 0, 1])


def test_top_k_scorer_matches_sklearn_and_reads_the_classifier_classes(grouped):
    X, y, _ = grouped
    clf = LogisticRegression(max_iter=500).fit(X, y + 10)  # labels that are not column indices
    rows = np.isin(y, [0, 1, 2])  # a test set lacking four of the seven classes
    expected = top_k_accuracy_score(y[rows] + 10, clf.predict_proba(X[rows]), k=5, labels=clf.classes_)
    assert TopKAccuracyScorer(k=5)(clf, X[rows], y[rows] + 10) == pytest.approx(expected)
    assert TopKAccuracyScorer(k=1)(clf, X, y + 10) == pytest.approx(clf.score(X, y + 10))


def test_top_k_scorer_refuses_too_few_classes_and_bad_k(grouped):
    X, y, _ = grouped
    clf = LogisticRegression(max_iter=500).fit(X[y < 4], y[y < 4])
    with pytest.raises(ValueError, match="more than 5 classes; the classifier has 4"):
        TopKAccuracyScorer(k=5)(clf, X, y)
    for k in (0, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            TopKAccuracyScorer(k=k)


def test_score_predictions_agrees_with_sklearn(grouped):
    X, y, groups = grouped
    clf = LogisticRegression(max_iter=500).fit(X, y)
    proba = clf.predict_proba(X)
    pred = clf.predict(X)
    out = score_predictions(y, proba, clf.classes_, groups=groups)
    assert out["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert out["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert out["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert out["top5_accuracy"] == pytest.approx(top_k_accuracy_score(y, proba, k=5))
    assert out["worst_group_accuracy"] == pytest.approx(min(accuracy_score(y[groups == g], pred[groups == g])
                                                            for g in np.unique(groups)))
    few = score_predictions(y[:4] % 2, proba[:4, :2], [0, 1])
    assert few["top5_accuracy"] is None and few["worst_group_accuracy"] is None
    with pytest.raises(ValueError, match="proba must have shape"):
        score_predictions(y, proba[:, :3], clf.classes_)


def test_get_scorer_knows_its_names():
    assert scorer_names() == ["top1_accuracy", "top5_accuracy", "balanced_accuracy", "macro_f1", "worst_group_accuracy"]
    with pytest.raises(ValueError, match="Unknown scorer 'top3'.*worst_group_accuracy"):
        get_scorer("top3")
    assert get_scorer("worst_group_accuracy") is not get_scorer("worst_group_accuracy")  # no shared request state


def test_every_scorer_in_grid_search_with_groups_routed(grouped):
    X, y, groups = grouped
    with sklearn.config_context(enable_metadata_routing=True):
        scoring = {name: get_scorer(name) for name in scorer_names()}
        scoring["worst_group_accuracy"].set_score_request(groups=True)
        search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 1.0]}, scoring=scoring,
                              refit="worst_group_accuracy", cv=LeaveOneGroupOut())
        search.fit(X, y, groups=groups)
    # fold 0 of candidate 1 recomputed by hand: the held-out group is 'art'
    train, test = next(LeaveOneGroupOut().split(X, y, groups))
    model = clone(search.estimator).set_params(C=1.0).fit(X[train], y[train])
    pred = model.predict(X[test])
    expected = {
        "top1_accuracy": accuracy_score(y[test], pred),
        "top5_accuracy": top_k_accuracy_score(y[test], model.predict_proba(X[test]), k=5, labels=model.classes_),
        "balanced_accuracy": balanced_accuracy_score(y[test], pred),
        "macro_f1": f1_score(y[test], pred, average="macro"),
        "worst_group_accuracy": accuracy_score(y[test], pred),  # one group per held-out fold
    }
    for name, value in expected.items():
        assert search.cv_results_[f"split0_test_{name}"][1] == pytest.approx(value), name
    assert search.best_params_["C"] in (0.01, 1.0)


def test_worst_group_scorer_sees_several_groups_per_fold(grouped):
    X, y, groups = grouped
    folds = [(np.flatnonzero(np.arange(len(y)) % 2 == i), np.flatnonzero(np.arange(len(y)) % 2 != i)) for i in (0, 1)]
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_worst_group_scorer().set_score_request(groups=True)
        search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [1.0]}, scoring=scorer, cv=folds)
        search.fit(X, y, groups=groups)
    train, test = folds[0]
    pred = clone(search.estimator).fit(X[train], y[train]).predict(X[test])
    by_group = [accuracy_score(y[test][groups[test] == g], pred[groups[test] == g]) for g in np.unique(groups)]
    assert search.cv_results_["split0_test_score"][0] == pytest.approx(min(by_group))
    assert min(by_group) < accuracy_score(y[test], pred)  # the worst group is below the pooled accuracy here


_TINY_GRID = {"mlp_depth": [0], "max_epochs": [3], "early_stopping": [False]}


@pytest.mark.parametrize("name", ["top1_accuracy", "top5_accuracy", "balanced_accuracy", "macro_f1"])
def test_scorers_in_nmtune_cv_with_groups_routed_to_its_splitter(grouped, name):
    X, y, groups = grouped
    with sklearn.config_context(enable_metadata_routing=True):
        clf = NMTuneClassifierCV(_TINY_GRID, cv=LeaveOneGroupOut(), scoring=get_scorer(name), random_state=0)
        clf.fit(X, y, groups=groups)
    # the first held-out group's score, recomputed from the same candidate fitted on that fold
    train, test = next(LeaveOneGroupOut().split(X, y, groups))
    fold_model = clone(clf.best_estimator_).fit(X[train], y[train])
    assert clf.cv_results_["split0_test_score"][0] == pytest.approx(get_scorer(name)(fold_model, X[test], y[test]))
    assert len(clf.cv_results_["split2_test_score"]) == 1  # three groups, three folds


def test_worst_group_scorer_in_nmtune_cv(grouped):
    X, y, groups = grouped
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_worst_group_scorer().set_score_request(groups=True)
        clf = NMTuneClassifierCV(_TINY_GRID, cv=LeaveOneGroupOut(), scoring=scorer, random_state=0)
        clf.fit(X, y, groups=groups)
    # one held-out group per fold: the worst group of a fold is that group's accuracy, recomputed by hand
    train, test = next(LeaveOneGroupOut().split(X, y, groups))
    fold_model = clone(clf.best_estimator_).fit(X[train], y[train])
    assert clf.cv_results_["split0_test_score"][0] == pytest.approx(np.mean(fold_model.predict(X[test]) == y[test]))


def test_worst_group_scorer_in_nmtune_cv_on_folds_that_mix_groups(grouped):
    X, y, groups = grouped
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_worst_group_scorer().set_score_request(groups=True)
        clf = NMTuneClassifierCV(_TINY_GRID, cv=2, scoring=scorer, random_state=0)  # stratified folds, no groups
        clf.fit(X, y, groups=groups)
        plain = NMTuneClassifierCV(_TINY_GRID, cv=2, scoring="accuracy", random_state=0).fit(X, y)
    # the same folds and fits; the worst group of a fold is below (or at) its pooled accuracy
    assert clf.cv_results_["split0_test_score"][0] <= plain.cv_results_["split0_test_score"][0] + 1e-12
    assert clf.cv_results_["split0_test_score"][0] < plain.cv_results_["split0_test_score"][0] or \
        clf.cv_results_["split1_test_score"][0] < plain.cv_results_["split1_test_score"][0]
