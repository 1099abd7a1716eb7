"""NMTuneClassifierCV(racing=...): candidates trailing after the first fold are not fitted on the others."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold
from sklearn.utils._param_validation import InvalidParameterError

from sknmtune import NMTuneClassifier, NMTuneClassifierCV

# one weak candidate (a probe trained for a single epoch at a tiny learning rate) among good ones
GRID = [
    {"mlp_depth": [0], "max_epochs": [1], "lr": [1e-5], "early_stopping": [False]},
    {"mlp_depth": [0, 2], "max_epochs": [15], "lr": [1e-2], "early_stopping": [False]},
]


def _data(n=180, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.normal(size=(n, 6)) + 3.0 * y[:, None]).astype(np.float32), y


@pytest.fixture(scope="module")
def full():
    X, y = _data()
    return X, y, NMTuneClassifierCV(GRID, random_state=0).fit(X, y)


def test_a_margin_nothing_trails_by_gives_the_full_search(full):
    X, y, reference = full
    raced = NMTuneClassifierCV(GRID, random_state=0, racing=1.0).fit(X, y)
    assert list(raced.cv_results_) == list(reference.cv_results_)  # GridSearchCV's keys, in its order
    for key in ("split0_test_score", "split1_test_score", "split2_test_score", "mean_test_score",
                "std_test_score", "rank_test_score"):
        np.testing.assert_allclose(raced.cv_results_[key], reference.cv_results_[key], rtol=0, atol=1e-12)
    assert raced.cv_results_["params"] == reference.cv_results_["params"]
    assert raced.best_index_ == reference.best_index_ and raced.best_params_ == reference.best_params_
    np.testing.assert_allclose(raced.predict_proba(X), reference.predict_proba(X), rtol=0, atol=1e-6)


def test_trailing_candidates_are_fitted_once_and_never_selected(full, monkeypatch):
    X, y, reference = full
    first = reference.cv_results_["split0_test_score"]
    survivors = np.flatnonzero(first >= first.max() - 0.05)
    assert 0 < survivors.size < first.size, "the weak candidate must trail on the first fold"
    calls = []
    original = NMTuneClassifier.fit
    monkeypatch.setattr(NMTuneClassifier, "fit", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    raced = NMTuneClassifierCV(GRID, random_state=0, racing=0.05).fit(X, y)
    # every candidate on fold 1, the survivors on folds 2 and 3, one refit
    assert len(calls) == first.size + 2 * survivors.size + 1
    results = raced.cv_results_
    dropped = np.setdiff1d(np.arange(first.size), survivors)
    assert np.isnan(results["mean_test_score"][dropped]).all()
    assert np.isnan(results["split1_test_score"][dropped]).all()
    np.testing.assert_array_equal(results["split0_test_score"], first)
    for key in ("split1_test_score", "split2_test_score", "mean_test_score"):  # the same fits as the full search
        np.testing.assert_allclose(results[key][survivors], reference.cv_results_[key][survivors], rtol=0, atol=1e-12)
    assert raced.best_index_ in survivors
    assert (results["rank_test_score"][dropped] > results["rank_test_score"][survivors].max()).all()
    assert np.isfinite(results["mean_fit_time"]).all()


def test_ensembles_vote_only_candidates_that_ran_every_fold():
    X, y = _data()
    clf = NMTuneClassifierCV(GRID, random_state=0, racing=0.05, ensemble=3).fit(X, y)
    assert np.isfinite(clf.cv_results_["mean_test_score"][clf.ensemble_indices_]).all()
    assert len(clf.estimators_) == np.isfinite(clf.cv_results_["mean_test_score"]).sum() < 3


def test_racing_with_a_group_splitter_and_a_selection_callable():
    X, y = _data()
    groups = np.arange(len(y)) % 3
    seen = []

    def pick_last_finite(results):
        seen.append(results["mean_test_score"].copy())
        return int(np.flatnonzero(np.isfinite(results["mean_test_score"]))[-1])

    clf = NMTuneClassifierCV(GRID, cv=GroupKFold(3), random_state=0, racing=0.05, selection=pick_last_finite)
    clf.fit(X, y, groups=groups)
    assert len(seen) == 1 and clf.best_index_ == np.flatnonzero(np.isfinite(seen[0]))[-1]
    assert np.isnan(seen[0][0])  # the weak candidate was raced out and the callable saw it as NaN
    reference = NMTuneClassifierCV(GRID, cv=GroupKFold(3), random_state=0, selection=pick_last_finite)
    reference.fit(X, y, groups=groups)
    np.testing.assert_allclose(clf.cv_results_["split0_test_score"], reference.cv_results_["split0_test_score"])


@pytest.mark.parametrize("racing", [-0.1, "yes"])
def test_an_invalid_margin_is_a_parameter_error(racing):
    X, y = _data(60)
    with pytest.raises(InvalidParameterError, match="racing"):
        NMTuneClassifierCV(GRID, racing=racing).fit(X, y)


def test_auto_races_accuracy_on_folds_of_200_rows_or_more_only():
    clf = NMTuneClassifierCV()
    assert clf.racing == "auto"
    assert clf._racing_margin(200) == 0.03 and clf._racing_margin(199) is None
    assert clf._racing_margin(10_000, grouped=True) is None  # one held-out domain is no evidence about the others
    assert NMTuneClassifierCV(scoring="balanced_accuracy")._racing_margin(10_000) is None
    assert NMTuneClassifierCV(ensemble="families")._racing_margin(10_000) is None  # members need every full score
    assert NMTuneClassifierCV(racing=0.1)._racing_margin(5) == 0.1
    assert NMTuneClassifierCV(racing=None)._racing_margin(10_000) is None
    X, y = _data(180)  # folds of 60 rows: no racing by default
    assert np.isfinite(NMTuneClassifierCV(GRID, random_state=0).fit(X, y).cv_results_["mean_test_score"]).all()
    X, y = _data(600)  # folds of 200 rows: the weak candidate is raced out
    scores = NMTuneClassifierCV(GRID, random_state=0).fit(X, y).cv_results_["mean_test_score"]
    assert np.isnan(scores[0]) and np.isfinite(scores[1:]).any()


@pytest.mark.parametrize("selection", ["one_standard_error", "best"])
def test_the_race_study_simulates_what_the_estimator_selects(full, selection):
    """``benchmarks.cv_grid_study`` decides the default margin from full searches; its simulation must agree."""
    from benchmarks.cv_grid_study import raced_selection

    X, y, _ = full
    reference = NMTuneClassifierCV(GRID, random_state=0, selection=selection).fit(X, y).cv_results_
    cands = [{"split_scores": [reference[f"split{j}_test_score"][i] for j in range(3)], "mean_fit_seconds": 1.0}
             for i in range(len(reference["params"]))]
    for margin in (0.0, 0.05, 1.0):
        raced = NMTuneClassifierCV(GRID, random_state=0, selection=selection, racing=margin).fit(X, y)
        pick, saved = raced_selection(cands, margin, selection)
        assert raced.best_index_ == pick
        assert saved == pytest.approx(np.isnan(raced.cv_results_["split1_test_score"]).sum() * 2 / (3 * len(cands)))


def test_racing_passes_weights_to_every_fit_and_trains_on_views(monkeypatch):
    X, y = _data()
    views = np.stack([X, X + 0.01, X - 0.01], axis=1)  # (n, 3, D): index 0 the center crop
    weights = np.linspace(0.5, 1.5, len(y))
    seen = []
    original = NMTuneClassifier.fit

    def recording_fit(self, X, y, sample_weight=None):
        seen.append((np.ndim(X), None if sample_weight is None else len(sample_weight)))
        return original(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(NMTuneClassifier, "fit", recording_fit)
    clf = NMTuneClassifierCV(GRID, random_state=0, racing=0.05).fit(views, y, sample_weight=weights)
    assert np.isnan(clf.cv_results_["mean_test_score"]).any()  # something was raced out
    assert all(ndim == 3 and n is not None for ndim, n in seen)  # every fit saw the views axis and weights
    assert seen[-1][1] == len(y)  # the refit: all rows
    assert clf.predict(X).shape == (len(y),)
