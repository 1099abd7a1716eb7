"""Metadata routing: sample_weight through Pipeline / GridSearchCV, groups to NMTuneClassifierCV's splitter."""

import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, LeaveOneGroupOut, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sknmtune import NMTuneClassifier, NMTuneClassifierCV, NMTuneRegressor

GRID = {"mlp_depth": [0], "max_epochs": [2]}


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=90, n_features=5, n_informative=3, random_state=0)
    return X.astype(np.float32), y, np.arange(90) % 3, np.random.default_rng(0).uniform(0.5, 2.0, 90)


def _recording(monkeypatch, cls):
    seen = []
    real = cls.fit

    def fit(self, X, y, sample_weight=None):
        seen.append(None if sample_weight is None else np.asarray(sample_weight).copy())
        return real(self, X, y, sample_weight=sample_weight)

    fit.__signature__ = __import__("inspect").signature(real)
    monkeypatch.setattr(cls, "fit", fit)
    return seen


def test_set_fit_request_is_generated_for_sample_weight(routing):
    for est in (NMTuneClassifier(), NMTuneRegressor(), NMTuneClassifierCV()):
        assert hasattr(est, "set_fit_request")
    requests = NMTuneClassifierCV().set_fit_request(sample_weight=True).get_metadata_routing()
    assert requests.consumes("fit", ["sample_weight", "groups"]) == {"sample_weight"}  # stratified folds: no groups
    grouped = NMTuneClassifierCV(cv=GroupKFold(3)).get_metadata_routing()
    assert grouped.consumes("fit", ["sample_weight", "groups"]) == {"groups"}  # the splitter asks for them
    assert "groups" not in NMTuneClassifierCV()._get_metadata_request().fit.requests


def test_sample_weight_routes_through_a_pipeline(routing, data, monkeypatch):
    X, y, _, w = data
    seen = _recording(monkeypatch, NMTuneClassifier)
    pipe = make_pipeline(FunctionTransformer(), NMTuneClassifier(max_epochs=2, random_state=0)
                         .set_fit_request(sample_weight=True))
    pipe.fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(seen[-1], w)
    direct = NMTuneClassifier(max_epochs=2, random_state=0).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(pipe.predict_proba(X), direct.predict_proba(X))


def test_unrequested_sample_weight_is_refused_by_routing(routing, data):
    X, y, _, w = data
    pipe = make_pipeline(FunctionTransformer(), NMTuneClassifier(max_epochs=1))
    with pytest.raises(Exception, match="sample_weight"):
        pipe.fit(X, y, sample_weight=w)


def test_sample_weight_routes_through_grid_search(routing, data, monkeypatch):
    X, y, _, w = data
    seen = _recording(monkeypatch, NMTuneClassifier)
    head = NMTuneClassifier(max_epochs=2, random_state=0).set_fit_request(sample_weight=True)
    head.set_score_request(sample_weight=False)  # as for any scikit-learn classifier: folds scored unweighted
    GridSearchCV(head, {"mlp_depth": [0, 1]}, cv=KFold(3)).fit(X, y, sample_weight=w)
    assert len(seen) == 2 * 3 + 1 and all(s is not None for s in seen)
    np.testing.assert_array_equal(seen[-1], w)
    assert sorted({len(s) for s in seen}) == [60, 90]


def test_groups_reach_the_cv_splitter_through_a_pipeline(routing, data):
    X, y, g, w = data
    cv = NMTuneClassifierCV(GRID, cv=LeaveOneGroupOut(), random_state=0).set_fit_request(sample_weight=True)
    pipe = make_pipeline(FunctionTransformer(), cv).fit(X, y, groups=g, sample_weight=w)
    assert "split2_test_score" in cv.cv_results_ and "split3_test_score" not in cv.cv_results_  # one fold per group
    direct = NMTuneClassifierCV(GRID, cv=LeaveOneGroupOut(), random_state=0)
    with sklearn.config_context(enable_metadata_routing=False):
        direct.fit(X, y, groups=g, sample_weight=w)
    np.testing.assert_array_equal(pipe.predict_proba(X), direct.predict_proba(X))


def test_routing_groups_with_stratified_folds_is_the_clear_error(routing, data):
    X, y, g, _ = data
    with pytest.raises(ValueError, match="ignores them; pass a group splitter"):
        NMTuneClassifierCV(GRID).fit(X, y, groups=g)


def test_without_routing_groups_go_directly_to_the_splitter(data):
    X, y, g, _ = data
    folds = list(GroupKFold(3).split(X, y, g))
    for test in (f[1] for f in folds):
        assert np.unique(g[test]).size == 1
    cv = NMTuneClassifierCV(GRID, cv=GroupKFold(3), random_state=0).fit(X, y, groups=g)
    explicit = NMTuneClassifierCV(GRID, cv=folds, random_state=0).fit(X, y)
    np.testing.assert_array_equal(cv.cv_results_["split0_test_score"], explicit.cv_results_["split0_test_score"])
    np.testing.assert_array_equal(cv.predict_proba(X), explicit.predict_proba(X))


@pytest.mark.parametrize(
    "cv, groups, match",
    [
        (3, "g", r"cv=3 \(stratified folds\) ignores them; pass a group splitter"),
        (KFold(3), "g", "ignores them; pass a group splitter"),
        (GroupKFold(3), None, "splits by groups: pass them"),
        (LeaveOneGroupOut(), "one", "a single group"),
        (GroupKFold(3), "short", "groups has shape \\(10,\\) but X has 90 rows"),
    ],
)
def test_group_errors(data, cv, groups, match):
    X, y, g, _ = data
    groups = {"g": g, "one": np.zeros(90), "short": g[:10], None: None}[groups]
    est = NMTuneClassifierCV(GRID, cv=cv)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y, groups=groups)
    assert not hasattr(est, "best_estimator_") and not hasattr(est, "n_features_in_")


def test_stratified_group_kfold_is_accepted(data):
    X, y, g, _ = data
    cv = NMTuneClassifierCV(GRID, cv=StratifiedGroupKFold(3), random_state=0).fit(X, y, groups=g)
    assert cv.best_estimator_.n_iter_ == 2
