"""NMTuneClassifier: the sklearn contract, presets, training behaviour and bad input."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknmtune import PRESETS, NMTuneClassifier, TrainingDivergedError
from sknmtune.heads import sklearn_expected_failed_checks
from sknmtune.heads import NMTuneHead

FAST = dict(max_epochs=4, batch_size=32, random_state=0)


# scikit-learn's own checks run on the defaults users get, unmodified; two expected failures,
# explained in sknmtune.heads.SKLEARN_EXPECTED_FAILED_CHECKS.
@parametrize_with_checks([NMTuneClassifier()], expected_failed_checks=sklearn_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return X[:700], y[:700], X[1400:], y[1400:]


def test_defaults_keep_the_authors_head_and_train_adaptively():
    defaults = NMTuneClassifier().get_params()
    authors = PRESETS["nmtune-authors"]
    for key in ("mlp_depth", "hidden_ratio", "batch_norm", "residual", "reg_lambda", "mse_weight", "cov_weight",
                "svd_weight", "svd_top_k", "consistency_reduction", "lr", "weight_decay", "batch_size"):
        assert defaults[key] == authors[key], key
    assert defaults["early_stopping"] == "auto" and defaults["n_iter_no_change"] == 10
    assert defaults["residual_init"] == 0.0 and defaults["max_hidden_width"] == 1024
    assert defaults["lr_schedule"] == "constant" and defaults["max_epochs"] == 200


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_learn_digits(preset, digits):
    X, y, Xt, yt = digits
    clf = NMTuneClassifier.from_preset(preset, max_epochs=15, random_state=0).fit(X, y)
    assert clf.score(Xt, yt) > 0.8
    assert clf.n_iter_ == 15
    assert clf.history_[-1]["loss_ce"] < clf.history_[0]["loss_ce"]
    if PRESETS[preset].get("reg_lambda", 0) > 0:
        assert {"loss_mse", "loss_cov", "loss_svd"} <= set(clf.history_[0])
    else:
        assert "loss_svd" not in clf.history_[0]


def test_preset_configurations_match_the_paper_and_the_code():
    paper, code = PRESETS["nmtune-paper"], PRESETS["nmtune-authors"]
    assert (paper["reg_lambda"], paper["mse_weight"], paper["cov_weight"], paper["svd_weight"]) == (0.01, 1, 1, 1)
    assert paper["consistency_reduction"] == "batchmean" and code["consistency_reduction"] == "mean"
    assert code["residual_init"] == 1.0 and code["max_hidden_width"] is None
    text = PRESETS["nmtune-text"]
    assert (text["max_epochs"], text["lr_schedule"]) == (10, "linear")
    for preset in PRESETS.values():  # the papers' fixed budgets: no early stopping, exactly max_epochs
        assert preset["early_stopping"] is False and preset["n_iter_no_change"] is None
    assert paper["svd_top_k"] == 1 and paper["mlp_depth"] == 2 and not paper["batch_norm"] and not paper["residual"]
    assert code["reg_lambda"] * np.array([code["mse_weight"], code["cov_weight"], code["svd_weight"]]) == pytest.approx(
        [1.0, 0.04, 0.001]
    )
    assert code["svd_top_k"] == 5 and code["hidden_ratio"] == 4 and code["batch_norm"] and code["residual"]
    assert PRESETS["lp"]["mlp_depth"] == 0
    assert PRESETS["mlp"]["reg_lambda"] == 0 and PRESETS["mlp-authors"]["reg_lambda"] == 0


def test_from_preset_overrides_and_unknown_name():
    clf = NMTuneClassifier.from_preset("nmtune-authors", max_epochs=3)
    assert clf.max_epochs == 3 and clf.svd_top_k == 5
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        NMTuneClassifier.from_preset("nope")


def test_architecture_follows_parameters():
    X, y = make_blobs(60, n_features=6, centers=3, random_state=0)
    clf = NMTuneClassifier(mlp_depth=3, hidden_ratio=2.0, batch_norm=True, residual=True, residual_init=0.5,
                           **FAST).fit(X, y)
    linears = [m for m in clf.module_.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 12), (12, 12), (12, 6)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in clf.module_.mlp) == 2
    assert clf.module_.residual_scale is not None and clf.module_.residual_scale.shape == (6,)
    lp = NMTuneClassifier(mlp_depth=0, **FAST).fit(X, y)
    np.testing.assert_allclose(lp.transform(X), X.astype(np.float32), rtol=1e-6)


def test_string_labels_and_probabilities(digits):
    X, y, Xt, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = NMTuneClassifier(**FAST).fit(X, names[y])
    assert list(clf.classes_) == sorted(names)
    proba = clf.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(Xt)) <= set(names)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(Xt))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(Xt[:5])), proba[:5], rtol=1e-6)


def test_binary_decision_function_is_a_margin():
    X, y = make_blobs(80, n_features=4, centers=2, random_state=1)
    clf = NMTuneClassifier(**FAST).fit(X, np.where(y == 1, "pos", "neg"))
    scores = clf.decision_function(X)
    assert scores.shape == (80,)
    np.testing.assert_array_equal(np.where(scores > 0, clf.classes_[1], clf.classes_[0]), clf.predict(X))


def test_transform_returns_z_with_feature_names(digits):
    X, y, Xt, _ = digits
    clf = NMTuneClassifier(**FAST).fit(X, y)
    Z = clf.transform(Xt)
    assert Z.shape == Xt.shape and Z.dtype == np.float32
    with torch.inference_mode():
        device = next(clf.module_.parameters()).device
        expected = clf.module_.embed(torch.from_numpy(Xt).to(device)).cpu().numpy()
    np.testing.assert_allclose(Z, expected, rtol=1e-5, atol=1e-5)  # Z is computed in float64
    assert clf.get_feature_names_out()[0] == "nmtuneclassifier0"


def test_same_random_state_is_bit_identical(digits):
    X, y, Xt, _ = digits
    params = dict(max_epochs=3, random_state=7, dropout=0.1, batch_norm=True)
    p1 = NMTuneClassifier(**params).fit(X, y).predict_proba(Xt)
    state = torch.get_rng_state()
    p2 = NMTuneClassifier(**params).fit(X, y).predict_proba(Xt)
    assert torch.equal(state, torch.get_rng_state()), "fit must not consume the global torch RNG"
    np.testing.assert_array_equal(p1, p2)
    p3 = NMTuneClassifier(**{**params, "random_state": 8}).fit(X, y).predict_proba(Xt)
    assert not np.array_equal(p1, p3)


def test_regularizers_change_the_representation(digits):
    """With lambda > 0 the SVD term is active: the top singular value share of Z grows."""
    from sknmtune.spectral import largest_singular_value_ratio

    X, y, _, _ = digits
    base = dict(max_epochs=6, random_state=0, mse_weight=0.0, cov_weight=0.0)
    plain = NMTuneClassifier(reg_lambda=0.0, **base).fit(X, y)
    strong = NMTuneClassifier(reg_lambda=5.0, svd_weight=1.0, **base).fit(X, y)
    assert largest_singular_value_ratio(strong.transform(X)) < largest_singular_value_ratio(plain.transform(X))


def test_refit_resets_state(digits):
    X, y, _, _ = digits
    clf = NMTuneClassifier(**FAST).fit(X, y)
    clf.fit(X[:, :10], y)
    assert clf.n_features_in_ == 10 and clf.module_.classifier.in_features == 10


def test_clone_is_unfitted_with_same_params():
    clf = NMTuneClassifier(reg_lambda=0.3, mlp_depth=3)
    cloned = clone(clf)
    assert cloned.get_params() == clf.get_params()
    with pytest.raises(NotFittedError):
        cloned.predict(np.zeros((1, 3)))


def test_batch_norm_with_a_trailing_batch_of_one():
    """33 samples with batch 32 leave a last batch of one row: it is dropped, not crashed on."""
    X, y = make_blobs(33, n_features=5, centers=2, random_state=0)
    clf = NMTuneClassifier(batch_norm=True, batch_size=32, max_epochs=2, random_state=0).fit(X, y)
    assert clf.history_[0]["train_batch_count"] == 1
    assert clf.predict(X[:1]).shape == (1,)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), [0, 1], "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), [0, 1], "infinity"),
        (np.arange(4.0), [0, 1, 0, 1], "2D array"),
        (np.empty((0, 3)), [], "0 sample"),
        (np.ones((4, 3)), [0, 1, 0], "inconsistent numbers of samples"),
        (np.ones((4, 3)), [1, 1, 1, 1], "at least 2 classes"),
        (np.ones((1, 3)), [1], "minimum of 2"),
    ],
)
def test_bad_fit_input_raises_and_leaves_nothing_fitted(X, y, match):
    clf = NMTuneClassifier(**FAST)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "module_") and not hasattr(clf, "n_features_in_") and not hasattr(clf, "classes_")


def test_predict_input_errors(digits):
    X, y, _, _ = digits
    clf = NMTuneClassifier(**FAST)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 64), np.nan))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"reg_lambda": -1.0}, "reg_lambda"),
        ({"mlp_depth": -1}, "mlp_depth"),
        ({"lr_schedule": "bogus"}, "lr_schedule"),
        ({"max_epochs": 0}, "max_epochs"),
    ],
)
def test_invalid_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        NMTuneClassifier(**params).fit(np.ones((4, 2)), [0, 1, 0, 1])


def test_unavailable_device_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        NMTuneClassifier(device="cuda", **FAST).fit(np.eye(4), [0, 1, 0, 1])


def test_divergence_raises_naming_epoch_and_term():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 5)), rng.integers(0, 2, 100)
    clf = NMTuneClassifier(lr=1e6, reg_lambda=1.0, max_epochs=5, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+: the .* term"):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")
    with pytest.raises(TrainingDivergedError, match="epoch"):
        NMTuneClassifier(lr=1e25, max_epochs=5, random_state=0).fit(X, y)


def test_head_module_is_the_public_nmtunehead(digits):
    X, y, _, _ = digits
    assert isinstance(NMTuneClassifier(**FAST).fit(X, y).module_, NMTuneHead)


# ------------------------------------------------------------ adaptive training
def test_early_stopping_restores_the_best_validation_epoch(digits):
    """The fitted weights are those of the epoch with the lowest held-out cross-entropy."""
    from sknmtune.heads._training import _validation_split

    X, y, _, _ = digits
    clf = NMTuneClassifier(early_stopping=True, n_iter_no_change=3, max_epochs=60, lr=3e-2, random_state=0).fit(X, y)
    valid = [row["valid_loss"] for row in clf.history_]
    assert clf.n_iter_ < 60, "training must stop once the validation loss stops improving"
    assert clf.best_epoch_ == int(np.argmin(valid)) + 1 and clf.best_epoch_ < clf.n_iter_
    # Recompute the held-out loss of the returned model on the same split.
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))
    _, X_valid, _, y_valid = _validation_split(X, y.astype(np.int64), 0.1, seed)
    proba = clf.predict_proba(X_valid)
    held_out_ce = -np.mean(np.log(proba[np.arange(len(y_valid)), y_valid]))
    assert held_out_ce == pytest.approx(min(valid), rel=1e-4)


def test_plateau_stopping_and_fixed_budget():
    X, y = make_blobs(60, n_features=4, centers=2, random_state=0)
    plateau = NMTuneClassifier(early_stopping=False, n_iter_no_change=2, tol=10.0, max_epochs=50, random_state=0)
    assert plateau.fit(X, y).n_iter_ == 3  # no epoch improves the training loss by 10: stop after 2 more
    fixed = NMTuneClassifier(early_stopping=False, n_iter_no_change=None, max_epochs=7, random_state=0).fit(X, y)
    assert fixed.n_iter_ == 7 and "valid_loss" not in fixed.history_[0]


def test_auto_early_stopping_needs_enough_rows():
    from sknmtune.heads import AUTO_EARLY_STOPPING_MIN_SAMPLES as N

    X, y = make_blobs(N, n_features=3, centers=2, random_state=0)
    small = NMTuneClassifier(max_epochs=2, random_state=0).fit(X[: N - 1], y[: N - 1])
    large = NMTuneClassifier(max_epochs=2, random_state=0).fit(X, y)
    assert "valid_loss" not in small.history_[0] and "valid_loss" in large.history_[0]


def test_a_small_problem_converges_with_the_defaults():
    """200 rows of 2-D blobs: the default budget is enough (sklearn's bar is 0.83 on such data)."""
    X, y = make_blobs(200, n_features=2, centers=3, random_state=3)
    Xt, yt = make_blobs(400, n_features=2, centers=3, random_state=3)
    assert NMTuneClassifier(random_state=0).fit(X, y).score(Xt, yt) > 0.9


def test_residual_starts_at_the_features_by_default():
    head = NMTuneClassifier()._build_module(8, 3)
    assert torch.equal(head.residual_scale.detach(), torch.zeros(8))
    F = torch.randn(5, 8)
    with torch.no_grad():
        assert torch.equal(head.eval().embed(F), F)
    authors = NMTuneClassifier.from_preset("nmtune-authors")._build_module(8, 3)
    assert torch.equal(authors.residual_scale.detach(), torch.ones(8))


@pytest.mark.parametrize("n_features, cap, expected", [(300, 1024, 1024), (300, None, 1200), (100, 1024, 400)])
def test_hidden_width_is_capped(n_features, cap, expected):
    head = NMTuneClassifier(max_hidden_width=cap)._build_module(n_features, 2)
    assert head.mlp[0].out_features == expected


def test_wide_inputs_stay_cheap():
    """Bag-of-words-like width: the default head stays ~10M parameters instead of 4 D^2 = 100M."""
    head = NMTuneClassifier()._build_module(5000, 2)
    assert sum(p.numel() for p in head.parameters()) < 11_000_000


def test_standardize_uses_training_statistics(digits):
    X, y, Xt, _ = digits
    X = X * 7 + 3
    clf = NMTuneClassifier(standardize=True, **FAST).fit(X, y)
    np.testing.assert_allclose(clf.feature_mean_, X.mean(axis=0), rtol=1e-5, atol=1e-5)
    scaled = (Xt * 7 + 3 - clf.feature_mean_) / clf.feature_scale_
    with torch.inference_mode():
        expected = clf.module_.double().embed(torch.from_numpy(scaled.astype(np.float64))).float().numpy()
    np.testing.assert_allclose(clf.transform(Xt * 7 + 3), expected, rtol=1e-5, atol=1e-6)
    assert NMTuneClassifier(**FAST).fit(X, y).feature_mean_ is None


def test_consistency_reduction_reaches_the_loss(digits):
    X, y, _, _ = digits
    params = dict(max_epochs=1, early_stopping=False, n_iter_no_change=None, random_state=0, mse_weight=1.0)
    mean = NMTuneClassifier(consistency_reduction="mean", **params).fit(X, y)
    per_row = NMTuneClassifier(consistency_reduction="batchmean", **params).fit(X, y)
    # Same first epoch (same seed, the term's gradient is tiny next to CE's): "batchmean" = D x "mean".
    ratio = per_row.history_[0]["loss_mse"] / mean.history_[0]["loss_mse"]
    assert ratio == pytest.approx(X.shape[1], rel=0.2)


def test_linear_schedule_decays_to_zero():
    X, y = make_blobs(64, n_features=3, centers=2, random_state=0)
    clf = NMTuneClassifier(lr_schedule="linear", lr=0.01, max_epochs=4, batch_size=16, early_stopping=False,
                           n_iter_no_change=None, random_state=0).fit(X, y)
    # The rate used by the last of each epoch's 4 steps: 0.01 * (1 - step / 16) for steps 3, 7, 11, 15.
    lrs = [row["lr"] for row in clf.history_]
    np.testing.assert_allclose(lrs, [0.008125, 0.005625, 0.003125, 0.000625], rtol=1e-6)
