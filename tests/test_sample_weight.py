"""sample_weight and class_weight on the NMTune heads: the weighted task loss, its edge cases and errors."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs, make_classification, make_regression
from sklearn.utils.estimator_checks import check_class_weight_classifiers

from sknmtune import NMTuneClassifier, NMTuneClassifierCV, NMTuneRegressor
from sknmtune.heads._training import _ArrayBatches, _ViewPairs

# No batch statistics (no BatchNorm, no regularizers), one full batch per step, fixed budget: the
# conditions under which a weight of k is exactly k repeated rows (up to float rounding).
EXACT = dict(batch_norm=False, reg_lambda=0.0, batch_size=1000, max_epochs=30, early_stopping=False,
             n_iter_no_change=None, lr=1e-2, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=60, n_features=6, n_informative=4, n_classes=3, random_state=0)
    w = np.random.default_rng(0).integers(0, 4, size=60)
    return X.astype(np.float32), y, w


@pytest.mark.parametrize("mlp_depth", [0, 2])
def test_integer_weights_equal_repeated_rows_without_batch_statistics(data, mlp_depth):
    X, y, w = data
    weighted = NMTuneClassifier(mlp_depth=mlp_depth, **EXACT).fit(X, y, sample_weight=w)
    repeated = NMTuneClassifier(mlp_depth=mlp_depth, **EXACT).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=2e-4)
    unweighted = NMTuneClassifier(mlp_depth=mlp_depth, **EXACT).fit(X, y)
    assert np.abs(weighted.predict_proba(X) - unweighted.predict_proba(X)).max() > 1e-2  # the weights matter


def test_regressor_integer_weights_equal_repeated_rows():
    X, y = make_regression(n_samples=50, n_features=5, noise=1.0, random_state=0)
    w = np.random.default_rng(1).integers(0, 4, size=50)
    weighted = NMTuneRegressor(**EXACT).fit(X, y, sample_weight=w)
    repeated = NMTuneRegressor(**EXACT).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-4, atol=1e-3 * np.std(y))
    # the target standardization is weighted: it equals the repeated rows' statistics
    np.testing.assert_allclose(weighted.target_mean_, repeated.target_mean_, rtol=1e-10)
    np.testing.assert_allclose(weighted.target_scale_, repeated.target_scale_, rtol=1e-10)


def test_equal_weights_are_the_unweighted_fit_bit_for_bit(data):
    X, y, _ = data
    base = NMTuneClassifier(max_epochs=3, random_state=0).fit(X, y)
    for weight in (np.ones(60), np.full(60, 2.5), 3, [7] * 60):
        same = NMTuneClassifier(max_epochs=3, random_state=0).fit(X, y, sample_weight=weight)
        np.testing.assert_array_equal(same.predict_proba(X), base.predict_proba(X))


def test_zero_weights_remove_rows_bit_for_bit(data):
    X, y, _ = data
    keep = np.arange(60) % 3 != 0
    subset = NMTuneClassifier(max_epochs=3, random_state=0).fit(X[keep], y[keep])
    zeroed = NMTuneClassifier(max_epochs=3, random_state=0).fit(X, y, sample_weight=keep.astype(float))
    np.testing.assert_array_equal(zeroed.predict_proba(X), subset.predict_proba(X))


def test_weights_change_the_fit_toward_the_heavy_rows():
    X, y = make_blobs(n_samples=200, centers=[[0, 0], [1.0, 0]], cluster_std=1.0, random_state=0)
    w = np.where(y == 0, 10.0, 1.0)
    plain = NMTuneClassifier(max_epochs=20, lr=1e-2, random_state=0).fit(X, y)
    heavy = NMTuneClassifier(max_epochs=20, lr=1e-2, random_state=0).fit(X, y, sample_weight=w)
    assert (heavy.predict(X) == 0).mean() > (plain.predict(X) == 0).mean() + 0.2
    assert heavy.predict_proba(X)[:, 0].mean() > plain.predict_proba(X)[:, 0].mean() + 0.1


def test_class_weight_dict_and_balanced(data):
    X, y = make_blobs(n_samples=200, centers=[[0, 0], [1.0, 0]], cluster_std=1.0, random_state=0)
    by_dict = NMTuneClassifier(max_epochs=20, random_state=0, class_weight={0: 10.0}).fit(X, y)
    by_rows = NMTuneClassifier(max_epochs=20, random_state=0).fit(X, y, sample_weight=np.where(y == 0, 10.0, 1.0))
    np.testing.assert_array_equal(by_dict.predict_proba(X), by_rows.predict_proba(X))
    # "balanced" on an imbalanced set equals the explicit n / (k * count) weights
    idx = np.r_[np.flatnonzero(y == 0)[:80], np.flatnonzero(y == 1)[:20]]
    Xi, yi = X[idx], y[idx]
    balanced = NMTuneClassifier(max_epochs=5, random_state=0, class_weight="balanced").fit(Xi, yi)
    explicit = NMTuneClassifier(max_epochs=5, random_state=0, class_weight={0: 100 / 160, 1: 100 / 40}).fit(Xi, yi)
    np.testing.assert_allclose(balanced.predict_proba(Xi), explicit.predict_proba(Xi), rtol=1e-5)
    with pytest.raises(ValueError, match="class_weight has keys that are not class labels"):
        NMTuneClassifier(max_epochs=1, class_weight={5: 2.0}).fit(Xi, yi)


def test_sklearns_class_weight_check_passes_with_a_larger_learning_rate():
    # the check raises max_iter, which the heads call max_epochs: with lr=1e-2 the default budget suffices
    check_class_weight_classifiers("NMTuneClassifier", NMTuneClassifier(mlp_depth=0, lr=1e-2))


def test_early_stopping_validation_loss_is_weighted(data, monkeypatch):
    X, y, _ = data
    w = np.where(y == 0, 5.0, 1.0)
    clf = NMTuneClassifier(max_epochs=2, random_state=0, early_stopping=True, validation_fraction=0.3)
    clf.fit(X, y, sample_weight=w)
    # recompute the held-out loss of the restored epoch from the split train_head draws
    from sknmtune.heads._training import _validation_indices
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))
    _, valid = _validation_indices(y.astype(np.int64), 0.3, seed)
    logits = np.log(clf.predict_proba(X[valid]))
    ce = -logits[np.arange(len(valid)), y[valid]]
    best = [row for row in clf.history_ if row.get("valid_loss_best")][-1]
    assert best["valid_loss"] == pytest.approx(np.average(ce, weights=w[valid]), rel=1e-4)
    assert best["valid_loss"] != pytest.approx(ce.mean(), rel=1e-3)


def test_views_batches_carry_the_weights():
    V = np.random.default_rng(0).normal(size=(10, 3, 4)).astype(np.float32)
    y, w = np.arange(10) % 2, np.linspace(0.5, 2.0, 10).astype(np.float32)
    pair, (target, weight) = _ViewPairs(V, y, seed=0, sample_weight=w)[np.array([3, 7])]
    assert pair.shape == (2, 2, 4) and torch.equal(target, torch.as_tensor(y[[3, 7]]))
    np.testing.assert_array_equal(weight.numpy(), w[[3, 7]])
    _, plain = _ArrayBatches(V[:, 0], y)[np.array([1])]
    assert isinstance(plain, torch.Tensor)  # unweighted batches keep the plain target


def test_views_training_with_weights_differs_and_zero_weights_drop_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    center = (rng.normal(size=(80, 6)) + y[:, None]).astype(np.float32)
    V = np.stack([center, center + 0.2, center - 0.2], axis=1).astype(np.float32)
    w = np.where(np.arange(80) < 40, 1.0, 0.0)
    zeroed = NMTuneClassifier(max_epochs=3, random_state=0).fit(V, y, sample_weight=w)
    subset = NMTuneClassifier(max_epochs=3, random_state=0).fit(V[:40], y[:40])
    np.testing.assert_array_equal(zeroed.predict_proba(center), subset.predict_proba(center))
    weighted = NMTuneClassifier(max_epochs=3, random_state=0).fit(V, y, sample_weight=np.linspace(0.1, 3, 80))
    plain = NMTuneClassifier(max_epochs=3, random_state=0).fit(V, y)
    assert not np.array_equal(weighted.predict_proba(center), plain.predict_proba(center))


@pytest.mark.parametrize("Estimator", [NMTuneClassifier, NMTuneRegressor])
@pytest.mark.parametrize(
    "weight, match",
    [
        (np.ones(7), "sample_weight has 7 weights but X has 20 rows"),
        (np.ones((20, 2)), "sample_weight must be 1-D"),
        (np.r_[-1.0, np.ones(19)], "non-negative; got 1 negative weight"),
        (np.zeros(20), "every weight is zero"),
        (np.r_[1.0, np.zeros(19)], "at least 2 rows with a positive sample weight"),
        (np.r_[np.nan, np.ones(19)], "sample_weight"),
    ],
)
def test_bad_weights_are_clear_errors_and_leave_nothing_fitted(Estimator, weight, match):
    X, y = make_classification(n_samples=20, n_features=4, random_state=0)
    est = Estimator(max_epochs=1)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y, sample_weight=weight)
    assert not hasattr(est, "module_") and not hasattr(est, "n_features_in_")


def test_weights_selecting_one_class_are_a_clear_error():
    X, y = make_classification(n_samples=20, n_features=4, random_state=0)
    with pytest.raises(ValueError, match="at least 2 classes with a positive sample weight"):
        NMTuneClassifier(max_epochs=1).fit(X, y, sample_weight=(y == 1).astype(float))


def test_cv_passes_the_weights_to_every_candidate(monkeypatch):
    X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    w = np.random.default_rng(0).uniform(0.5, 2.0, 60)
    seen = []
    real_fit = NMTuneClassifier.fit

    def spy(self, X, y, sample_weight=None):
        seen.append(None if sample_weight is None else np.asarray(sample_weight).copy())
        return real_fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(NMTuneClassifier, "fit", spy)
    cv = NMTuneClassifierCV({"mlp_depth": [0], "max_epochs": [2]}, cv=3, random_state=0).fit(X, y, sample_weight=w)
    assert len(seen) == 4 and all(s is not None for s in seen)  # 3 fold fits + the refit
    assert sorted(len(s) for s in seen) == [40, 40, 40, 60]
    np.testing.assert_array_equal(seen[-1], w)
    with pytest.raises(ValueError, match="sample_weight has 3 weights but X has 60 rows"):
        cv.fit(X, y, sample_weight=w[:3])
