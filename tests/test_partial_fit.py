"""warm_start and partial_fit as MLPClassifier defines them (one epoch per call, AdamW state kept)."""

import copy
import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from sknmtune import NMTuneClassifier, NMTuneRegressor

FULL_BATCH = dict(batch_size=1000, lr=1e-2, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=120, n_features=8, n_informative=5, n_classes=3, random_state=0)
    return X.astype(np.float32), y


def test_partial_fit_equals_fit_with_a_fixed_budget(data):
    # one full batch per epoch: the shuffle order changes only float rounding, so k partial_fit calls
    # with the optimizer state kept are k epochs of fit (fixed budget, constant lr)
    X, y = data
    inc = NMTuneClassifier(**FULL_BATCH)
    for _ in range(4):
        inc.partial_fit(X, y, classes=np.unique(y))
    full = NMTuneClassifier(max_epochs=4, early_stopping=False, n_iter_no_change=None, **FULL_BATCH).fit(X, y)
    np.testing.assert_allclose(inc.predict_proba(X), full.predict_proba(X), atol=1e-5)
    assert inc.n_iter_ == 4 and len(inc.history_) == 4 and inc.best_epoch_ == 4
    assert int(inc._optimizer_state_["state"][0]["step"]) == 4  # one AdamW step per call, counted on


def test_the_optimizer_state_is_what_continues(data):
    X, y = data
    kept = NMTuneClassifier(**FULL_BATCH).partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    fresh = NMTuneClassifier(**FULL_BATCH).partial_fit(X, y, classes=[0, 1, 2])
    del fresh._optimizer_state_  # a fresh AdamW on the second call
    fresh.partial_fit(X, y)
    assert np.abs(kept.predict_proba(X) - fresh.predict_proba(X)).max() > 1e-4


def test_one_epoch_of_mini_batches_and_no_early_stopping(data):
    X, y = data
    clf = NMTuneClassifier(batch_size=32, early_stopping=True, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.history_[0]["train_batch_count"] == 4  # ceil(120 / 32), all rows trained on
    assert "valid_loss" not in clf.history_[0]


def test_chunks_learn(data):
    X, y = data
    clf = NMTuneClassifier(lr=1e-2, random_state=0)
    scores = []
    for _ in range(15):
        for chunk in np.array_split(np.arange(120), 3):
            clf.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
        scores.append(clf.score(X, y))
    assert clf.n_iter_ == 45 and scores[-1] > 0.6 and scores[-1] > scores[0] + 0.1  # 3 classes: chance is 1/3


def test_partial_fit_continues_a_fitted_head(data):
    X, y = data
    clf = NMTuneClassifier(max_epochs=3, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    clf.partial_fit(X, y)  # classes known from fit
    assert clf.n_iter_ == 4 and not np.array_equal(clf.predict_proba(X), before)


def test_partial_fit_class_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        NMTuneClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        NMTuneClassifier().partial_fit(X[y == 0], y[y == 0], classes=[0])
    with pytest.raises(ValueError, match="not among the classes"):
        NMTuneClassifier().partial_fit(X, y, classes=[0, 1])
    clf = NMTuneClassifier(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="differs from the classes of the fitted head"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    clf.partial_fit(X[y < 2], y[y < 2])  # a batch need not hold every class
    assert list(clf.classes_) == [0, 1, 2]


def test_a_failed_call_leaves_the_previous_model(data):
    X, y = data
    clf = NMTuneClassifier(random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    state = copy.deepcopy(clf.module_.state_dict())
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :5], y)
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, np.full(120, 7))
    assert clf.n_iter_ == 1 and all((state[k] == v).all() for k, v in clf.module_.state_dict().items())


@pytest.mark.parametrize(
    "params, match",
    [({"standardize": True}, "partial_fit cannot standardize"), ({"class_weight": "balanced"}, "not supported by")],
)
def test_partial_fit_refuses_what_needs_all_the_rows(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        NMTuneClassifier(**params).partial_fit(X, y, classes=[0, 1, 2])


def test_partial_fit_takes_a_class_weight_dict_and_sample_weights(data):
    X, y = data
    a = NMTuneClassifier(class_weight={0: 3.0}, **FULL_BATCH).partial_fit(X, y, classes=[0, 1, 2])
    b = NMTuneClassifier(**FULL_BATCH).partial_fit(X, y, classes=[0, 1, 2], sample_weight=np.where(y == 0, 3.0, 1.0))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_warm_start_continues_and_cold_start_restarts(data):
    X, y = data
    cold = NMTuneClassifier(max_epochs=2, early_stopping=False, random_state=0)
    first = cold.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(cold.fit(X, y).predict_proba(X), first)  # warm_start=False: the same fit again
    warm = NMTuneClassifier(max_epochs=2, early_stopping=False, random_state=0, warm_start=True)
    warm.fit(X, y)
    loss_first = warm.history_[0]["loss_ce"]
    warm.fit(X, y)
    assert warm.n_iter_ == 2 and warm.history_[0]["loss_ce"] < loss_first  # starts where the first fit ended
    assert not hasattr(warm, "_optimizer_state_")  # fit starts a fresh AdamW (MLPClassifier's warm_start)
    with pytest.raises(ValueError, match="same classes as in the previous call"):
        warm.fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError, match="features"):
        warm.fit(X[:, :4], y)
    assert warm.n_features_in_ == 8 and warm.n_iter_ == 2  # still the previous model


def test_regressor_partial_fit_and_warm_start():
    X, y = make_regression(n_samples=120, n_features=6, noise=1.0, random_state=0)
    reg = NMTuneRegressor(lr=1e-2, random_state=0)
    for _ in range(20):
        for chunk in np.array_split(np.arange(120), 3):
            reg.partial_fit(X[chunk], y[chunk])
    assert reg.n_iter_ == 60 and reg.score(X, y) > 0.8
    mean = reg.target_mean_.copy()
    reg.partial_fit(X[:40], y[:40] + 100.0)
    assert reg.target_mean_ == mean  # the standardization of the first call is kept
    assert reg.predict(X[:3]).shape == (3,)
    with pytest.raises(ValueError, match="fitted head was trained on a 1-D y"):
        reg.partial_fit(X, np.c_[y, y])
    warm = NMTuneRegressor(max_epochs=2, lr=1e-2, random_state=0, warm_start=True).fit(X, y)
    first = warm.history_[0]["loss_task"]
    assert warm.fit(X, y).history_[0]["loss_task"] < first


def test_pickling_keeps_the_optimizer_state(data):
    X, y = data
    clf = NMTuneClassifier(**FULL_BATCH).partial_fit(X, y, classes=[0, 1, 2])
    restored = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)
    restored.partial_fit(X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_safe_files_keep_the_optimizer_state(data, tmp_path):
    persistence = pytest.importorskip("sknmtune.persistence")
    X, y = data
    clf = NMTuneClassifier(**FULL_BATCH).partial_fit(X, y, classes=[0, 1, 2])
    loaded = persistence.load(persistence.save(clf, tmp_path / "head.skn"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    clf.partial_fit(X, y)
    loaded.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
