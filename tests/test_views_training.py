"""Heads trained on augmented views as NMTune's authors train them (two views per step)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sknmtune import PRESETS, NMTuneClassifier, NMTuneClassifierCV, NMTuneRegressor
from sknmtune.heads._training import _ViewPairs


def _data(n=240, n_views=3, d=12, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    center = (rng.normal(size=(n, d)) + y[:, None]).astype(np.float32)
    views = [center] + [center + 0.3 * rng.normal(size=center.shape).astype(np.float32) for _ in range(n_views - 1)]
    return np.stack(views, axis=1), y


def test_center_mode_on_views_is_bit_identical_to_the_2d_fit():
    V, y = _data()
    a = NMTuneClassifier(max_epochs=4, random_state=0).fit(V[:, 0], y)
    b = NMTuneClassifier(max_epochs=4, random_state=0, views="center").fit(V, y)
    np.testing.assert_array_equal(a.predict_proba(V[:, 0]), b.predict_proba(V[:, 0]))


def test_pairs_mode_trains_on_the_views_reproducibly_and_predicts_from_the_center_crop():
    V, y = _data()
    a = NMTuneClassifier(max_epochs=4, random_state=0).fit(V, y)
    b = NMTuneClassifier(max_epochs=4, random_state=0).fit(V, y)
    np.testing.assert_array_equal(a.predict_proba(V[:, 0]), b.predict_proba(V[:, 0]))
    center = NMTuneClassifier(max_epochs=4, random_state=0).fit(V[:, 0], y)
    assert not np.array_equal(a.predict_proba(V[:, 0]), center.predict_proba(V[:, 0]))
    np.testing.assert_array_equal(a.predict(V), a.predict(V[:, 0]))  # 3-D at prediction: the center crop
    np.testing.assert_array_equal(a.transform(V), a.transform(V[:, 0]))
    assert {"loss_ce", "loss_mse", "loss_cov", "loss_svd"} <= set(a.history_[-1])


def test_view_pairs_are_two_distinct_augmented_views_per_row():
    V, y = _data(n=50, n_views=5)
    ds = _ViewPairs(V, y, seed=0)
    pair, target = ds[np.arange(50)]
    assert pair.shape == (50, 2, 12) and torch.equal(target, torch.as_tensor(y))
    X = torch.as_tensor(V)
    chosen = [[int(torch.nonzero((X[i] == pair[i, j]).all(dim=1))[0]) for j in range(2)] for i in range(50)]
    chosen = np.array(chosen)
    assert (chosen[:, 0] != chosen[:, 1]).all() and chosen.min() >= 1 and chosen.max() <= 4
    assert len(set(map(tuple, chosen))) > 5  # the draws vary across rows
    two, _ = _ViewPairs(V[:, :2], y, seed=0)[np.arange(50)]  # one augmented view: pair (center, view 1)
    np.testing.assert_array_equal(np.sort(two.numpy().sum(axis=2), axis=1),
                                  np.sort(V[:, :2].sum(axis=2), axis=1))
    with pytest.raises(ValueError, match="at least 2 views"):
        _ViewPairs(V[:, :1], y, seed=0)


def test_consistency_target_is_the_other_views_features(monkeypatch):
    import sknmtune.heads._training as training

    seen = []
    original = training.regularizer_terms

    def spy(F, Z, *args, **kwargs):
        seen.append((F.detach().clone(), Z.shape))
        return original(F, Z, *args, **kwargs)

    monkeypatch.setattr(training, "regularizer_terms", spy)
    V, y = _data(n=64, n_views=3)
    NMTuneClassifier(max_epochs=1, batch_size=64, random_state=0, early_stopping=False).fit(V, y)
    F, z_shape = seen[0]
    assert z_shape == (128, 12) and F.shape == (128, 12)  # both views' Z: all 2B rows, as the authors compute them
    view_of = {tuple(np.round(v, 5)): (i, k) for i in range(64) for k in range(1, 3) for v in [V[i, k]]}
    targets = [view_of.get(tuple(np.round(r, 5))) for r in F.numpy()]
    assert None not in targets  # the targets F come from augmented views, never the center crop
    for (row_b, view_b), (row_a, view_a) in zip(targets[:64], targets[64:]):
        # row i's Z of view a is held to its view b's F, and its Z of view b to its view a's F: the same image,
        # two distinct views
        assert row_a == row_b and view_a != view_b


def test_presets_follow_the_authors_views_recipe():
    assert PRESETS["nmtune-authors"]["views"] == "pairs" and PRESETS["mlp-authors"]["views"] == "pairs"
    assert PRESETS["lp"]["views"] == "center" and PRESETS["nmtune-paper"]["views"] == "center"


def test_regressor_and_cv_estimator_accept_views():
    V, y = _data(n=120)
    reg = NMTuneRegressor(max_epochs=2, random_state=0).fit(V, y.astype(float))
    assert reg.predict(V[:, 0]).shape == (120,)
    cv = NMTuneClassifierCV({"mlp_depth": [0, 2], "max_epochs": [2]}, random_state=0).fit(V, y)
    assert cv.n_features_in_ == 12
    np.testing.assert_array_equal(cv.predict(V), cv.predict(V[:, 0]))


def test_views_axis_shape_and_values_are_checked():
    V, y = _data(n=20)
    with pytest.raises(ValueError, match="n_views >= 1"):
        NMTuneClassifier().fit(np.zeros((20, 0, 4), dtype=np.float32), y)
    bad = V.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        NMTuneClassifier(max_epochs=1).fit(bad, y)


def test_to_device_moves_the_module_and_sets_the_device_parameter():
    V, y = _data(n=40)
    clf = NMTuneClassifier(max_epochs=1, random_state=0, device="auto").fit(V[:, 0], y)
    assert clf.to_device("cpu") is clf and clf.device == "cpu"
    assert next(clf.module_.parameters()).device.type == "cpu"
