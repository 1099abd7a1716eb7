"""The 16 combinations of issue 27: sknmtune's estimators inside scikit-learn's own tools, on tiny data."""

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.ensemble import BaggingClassifier, StackingClassifier, VotingClassifier
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import GroupKFold, HalvingGridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from sknmtune import FrozenBackboneTransformer, NMTuneClassifier, NMTuneClassifierCV


def _head(**params):
    return NMTuneClassifier(max_epochs=3, batch_size=32, random_state=0, **params)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=90, n_features=6, n_informative=4, n_classes=3, random_state=0)
    return X.astype(np.float32), y


def _proba_ok(proba, n_rows, n_classes=3):
    assert proba.shape == (n_rows, n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_calibrated_classifier(data):
    X, y = data
    cal = CalibratedClassifierCV(_head(), cv=2).fit(X, y)
    _proba_ok(cal.predict_proba(X), 90)


def test_stacking(data):
    X, y = data
    stack = StackingClassifier([("nm", _head()), ("lr", LogisticRegression())], cv=2).fit(X, y)
    assert stack.score(X, y) > 0.5


def test_bagging(data):
    X, y = data
    bag = BaggingClassifier(_head(), n_estimators=2, random_state=0).fit(X, y)
    _proba_ok(bag.predict_proba(X), 90)


def test_soft_voting(data):
    X, y = data
    vote = VotingClassifier([("nm", _head()), ("lr", LogisticRegression())], voting="soft").fit(X, y)
    _proba_ok(vote.predict_proba(X), 90)


def test_halving_grid_search(data):
    X, y = data
    search = HalvingGridSearchCV(_head(), {"mlp_depth": [0, 2]}, cv=2, min_resources=30, random_state=0).fit(X, y)
    assert search.best_params_["mlp_depth"] in (0, 2)


def test_cross_val_predict_proba(data):
    X, y = data
    proba = cross_val_predict(_head(), X, y, cv=2, method="predict_proba")
    _proba_ok(proba, 90)


def test_one_vs_rest(data):
    X, y = data
    ovr = OneVsRestClassifier(_head()).fit(X, y)
    assert len(ovr.estimators_) == 3 and ovr.predict(X).shape == (90,)


def test_permutation_importance(data):
    X, y = data
    result = permutation_importance(_head().fit(X, y), X, y, n_repeats=2, random_state=0)
    assert result.importances_mean.shape == (6,)


def test_set_output_pandas(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    Z = _head().set_output(transform="pandas").fit(X, y).transform(X)
    assert isinstance(Z, pd.DataFrame) and list(Z.columns)[:2] == ["nmtuneclassifier0", "nmtuneclassifier1"]


def test_string_labels(data):
    X, y = data
    labels = np.array(["cat", "dog", "eel"])[y]
    clf = _head().fit(X, labels)
    assert set(clf.predict(X)) <= {"cat", "dog", "eel"} and list(clf.classes_) == ["cat", "dog", "eel"]


def test_html_repr_and_clone(data):
    est = _head(reg_lambda=0.5)
    assert "NMTuneClassifier" in est._repr_html_()
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()


def test_neg_log_loss_scorer(data):
    X, y = data
    score = get_scorer("neg_log_loss")(_head().fit(X, y), X, y)
    assert np.isfinite(score) and score < 0


def test_sample_weight(data):
    X, y = data
    w = np.where(y == 0, 3.0, 1.0)
    for est in (_head(), NMTuneClassifierCV({"mlp_depth": [0], "max_epochs": [2]}, cv=2, random_state=0)):
        fitted = est.fit(X, y, sample_weight=w)
        _proba_ok(fitted.predict_proba(X), 90)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(_head().set_fit_request(sample_weight=True)).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(pipe.predict_proba(X), _head().fit(X, y, sample_weight=w).predict_proba(X))


def test_groups(data):
    X, y = data
    groups = np.arange(90) % 3
    cv = NMTuneClassifierCV({"mlp_depth": [0], "max_epochs": [2]}, cv=GroupKFold(3), random_state=0)
    cv.fit(X, y, groups=groups)
    assert "split2_test_score" in cv.cv_results_


def test_warm_start_and_partial_fit(data):
    X, y = data
    clf = _head(warm_start=True).fit(X, y)
    clf.fit(X, y)
    clf.partial_fit(X[:45], y[:45]).partial_fit(X[45:], y[45:])
    assert clf.n_iter_ == 5 and clf.predict(X).shape == (90,)


class TinyBackbone(torch.nn.Module):
    """A user's own backbone, stored in a .skn by import path, arguments and weights."""

    def __init__(self, n_in=6, n_out=5):
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.lin = torch.nn.Linear(n_in, n_out)

    def get_init_kwargs(self):
        return {"n_in": self.n_in, "n_out": self.n_out}

    def forward(self, x):
        return self.lin(x)


def test_safe_file_of_a_custom_backbone(data, tmp_path):
    persistence = pytest.importorskip("sknmtune.persistence")
    if not hasattr(persistence, "get_untrusted_types"):
        pytest.skip("this persistence does not store custom module backbones yet")
    X, y = data
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = TinyBackbone()
    pipe = make_pipeline(FrozenBackboneTransformer(net, device="cpu"), _head()).fit(X, y)
    path = persistence.save(pipe, tmp_path / "own.skn")
    name = f"{TinyBackbone.__module__}.TinyBackbone"
    assert persistence.get_untrusted_types(path) == [name]
    with pytest.raises(persistence.ModelFileError, match="TinyBackbone"):
        persistence.load(path)
    loaded = persistence.load(path, trusted=[name])
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
