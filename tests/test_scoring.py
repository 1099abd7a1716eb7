"""SpectralScorer: signature, representation choice, LSVR sign, GridSearchCV multi-metric use."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknmtune import NMTuneClassifier, SpectralScorer
from sknmtune.spectral import largest_singular_value_ratio, rankme, singular_value_entropy


@pytest.fixture(scope="module")
def fitted():
    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    clf = NMTuneClassifier(max_epochs=3, random_state=0).fit(X, y)
    return X, y, clf


def test_scores_measure_z_of_nmtune(fitted):
    X, y, clf = fitted
    Z = clf.transform(X)
    assert SpectralScorer("sve")(clf, X, y) == pytest.approx(singular_value_entropy(Z))
    assert SpectralScorer("rankme")(clf, X) == pytest.approx(rankme(Z))
    assert SpectralScorer("sve", representation="input")(clf, X) == pytest.approx(singular_value_entropy(X))


def test_lsvr_is_negated_because_sklearn_maximizes(fitted):
    X, _, clf = fitted
    value = SpectralScorer("neg_lsvr")(clf, X)
    assert value == pytest.approx(-largest_singular_value_ratio(clf.transform(X)))
    assert value < 0
    with pytest.raises(ValueError, match="neg_lsvr"):
        SpectralScorer("lsvr")(clf, X)


def test_pipeline_representation():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    # final step without transform: the features entering it are measured
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, y)
    assert SpectralScorer("sve")(pipe, X) == pytest.approx(singular_value_entropy(pipe[0].transform(X)))
    # final NMTune step: its Z on the scaled features is measured
    pipe = make_pipeline(StandardScaler(), NMTuneClassifier(max_epochs=5, lr=1e-2, random_state=0)).fit(X, y)
    Z = pipe[-1].transform(pipe[0].transform(X))
    assert SpectralScorer("sve")(pipe, X) == pytest.approx(singular_value_entropy(Z))
    with pytest.raises(ValueError, match="representation='input'"):
        SpectralScorer("sve", representation="output")(make_pipeline(LogisticRegression()).fit(X, y), X)


def test_options_are_forwarded(fitted):
    X, _, clf = fitted
    Z = clf.transform(X)
    expected = singular_value_entropy(Z, center=True, normalize_rows=True)
    assert SpectralScorer("sve", center=True, normalize_rows=True)(clf, X) == pytest.approx(expected)
    assert repr(SpectralScorer("neg_lsvr", center=True)) == "SpectralScorer('neg_lsvr', center=True)"


def test_bad_arguments_raise_when_scoring_not_at_construction(fitted):
    # scikit-learn convention: __init__ stores, validation happens where the object is used
    X, _, clf = fitted
    scorer = SpectralScorer("accuracy")
    assert scorer.metric == "accuracy"
    with pytest.raises(ValueError, match="metric must be one of"):
        scorer(clf, X)
    with pytest.raises(ValueError, match="representation must be one of"):
        SpectralScorer("sve", representation="hidden")(clf, X)


class _CountingScaler(StandardScaler):
    """A StandardScaler that counts its transform calls (stands in for a costly feature extractor)."""

    calls = 0

    def transform(self, X, copy=None):
        type(self).calls += 1
        return super().transform(X, copy=copy)


def test_multi_metric_scorer_transforms_once_and_matches_single_scorers():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    pipe = make_pipeline(_CountingScaler(), NMTuneClassifier(max_epochs=3, random_state=0)).fit(X, y)
    _CountingScaler.calls = 0
    scores = SpectralScorer(["sve", "rankme", "neg_lsvr"], scoring={"acc": "accuracy"})(pipe, X, y)
    assert _CountingScaler.calls == 1, "one pass through the pipeline for every score"
    assert list(scores) == ["sve", "rankme", "neg_lsvr", "acc"]
    assert scores["acc"] == pytest.approx(pipe.score(X, y))
    for metric in ("sve", "rankme", "neg_lsvr"):
        assert scores[metric] == pytest.approx(SpectralScorer(metric)(pipe, X))
    assert scores["rankme"] == pytest.approx(np.exp(scores["sve"]))
    # a list with a single metric still returns a dict (the shape follows the argument)
    assert set(SpectralScorer(["sve"])(pipe, X)) == {"sve"}


def test_multi_metric_scorer_drives_grid_search_with_one_callable():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    pipe = make_pipeline(_CountingScaler(), NMTuneClassifier(max_epochs=2, random_state=0))
    scorer = SpectralScorer(["sve", "neg_lsvr"], scoring={"acc": "accuracy"})
    _CountingScaler.calls = 0
    search = GridSearchCV(pipe, {"nmtuneclassifier__mlp_depth": [0, 1]}, scoring=scorer, refit="acc", cv=2).fit(X, y)
    # 2 candidates x 2 folds: one transform when fitting (fit().transform()) and ONE for all three
    # scores; plus the refit. A dict of three separate scorers would transform three times per fold.
    assert _CountingScaler.calls == 2 * 2 * (1 + 1) + 1
    for key in ("mean_test_sve", "mean_test_neg_lsvr", "mean_test_acc"):
        assert np.all(np.isfinite(search.cv_results_[key]))
    assert np.all(search.cv_results_["mean_test_neg_lsvr"] <= 0)


def test_multimetric_grid_search_over_lambda_and_depth():
    X, y = load_digits(return_X_y=True)
    X, y = X[:500] / 16.0, y[:500]
    pipe = make_pipeline(StandardScaler(), NMTuneClassifier(max_epochs=5, lr=1e-2, random_state=0))
    grid = {"nmtuneclassifier__reg_lambda": [0.0, 0.1], "nmtuneclassifier__mlp_depth": [0, 2]}
    search = GridSearchCV(
        pipe,
        grid,
        scoring={"acc": "accuracy", "sve": SpectralScorer("sve"), "lsvr": SpectralScorer("neg_lsvr")},
        refit="acc",
        cv=2,
    ).fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 4
    assert np.all(results["mean_test_lsvr"] <= 0)
    assert np.all(results["mean_test_sve"] > 0)
    assert np.all(np.isfinite(results["mean_test_acc"]))
    assert search.best_estimator_.score(X, y) > 0.5
