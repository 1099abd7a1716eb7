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
        SpectralScorer("lsvr")


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


def test_bad_arguments():
    with pytest.raises(ValueError, match="metric must be one of"):
        SpectralScorer("accuracy")
    with pytest.raises(ValueError, match="representation must be one of"):
        SpectralScorer("sve", representation="hidden")


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
