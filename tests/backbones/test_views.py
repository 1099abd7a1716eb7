"""Augmented views: seeded per image content, cached per view, one forward per view per image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sknmtune import NMTuneClassifier
from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.backbones._views import ViewSpec, _crop_box, resolve_view_spec, view_seeds


def _images(n=8, size=36, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


class _CountingNet(torch.nn.Module):
    """A small conv backbone that counts the images it sees (in a list shared by its clones and copies)."""

    def __init__(self, counter=None):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.counter = counter if counter is not None else []

    def __deepcopy__(self, memo):  # GridSearchCV clones the backbone: the copies keep counting into one list
        twin = _CountingNet(self.counter)
        twin.load_state_dict(self.state_dict())
        return twin

    @property
    def seen(self):
        return sum(self.counter)

    def forward(self, x):
        self.counter.append(x.shape[0])
        return self.conv(x).mean(dim=(2, 3))


def _ext(backbone=None, **kw):
    return FrozenBackboneTransformer(backbone if backbone is not None else _CountingNet(), image_size=32,
                                     device="cpu", **kw)


def test_views_axis_holds_the_center_crop_then_distinct_augmented_views():
    X = _images()
    ext = _ext(views=3)
    V = ext.fit_transform(X)
    assert V.shape == (8, 4, 4) and V.dtype == np.float32
    np.testing.assert_array_equal(V[:, 0], ext.transform(X))
    for k in range(1, 4):  # each view differs from the center crop and from the other views
        assert np.abs(V[:, k] - V[:, 0]).max() > 1e-4
    assert np.abs(V[:, 1] - V[:, 2]).max() > 1e-4
    assert ext.n_features_out_ == 4


def test_a_view_depends_on_the_image_and_seed_not_on_its_position_or_batch():
    X = _images()
    V = _ext(views=2, batch_size=3).transform_views(X)
    order = np.array([5, 2, 7, 0])
    np.testing.assert_array_equal(_ext(views=2, batch_size=2).transform_views(X[order]), V[order])
    other = _ext(views=2, random_state=1).transform_views(X)
    assert np.abs(other[:, 1] - V[:, 1]).max() > 1e-4
    np.testing.assert_array_equal(other[:, 0], V[:, 0])  # the center crop has no seed


def test_views_are_cached_per_view_and_a_grid_search_runs_one_forward_per_view_per_image(tmp_path):
    X, y = _images(24), np.arange(24) % 2
    net = _CountingNet()
    pipe = Pipeline([
        ("backbone", _ext(net, views=2, cache=tmp_path)),
        ("head", NMTuneClassifier(max_epochs=2, random_state=0)),
    ])
    GridSearchCV(pipe, {"head__reg_lambda": [0.0, 1.0]}, cv=3).fit(X, y)
    # 3 folds x 2 candidates + the refit fit the pipeline 7 times; every image went through once per view
    assert net.seen == 24 * 3
    before = net.seen
    again = _ext(net, views=2, cache=tmp_path).transform_views(X)
    assert net.seen == before and again.shape == (24, 3, 4)
    changed = _ext(net, views=2, cache=tmp_path, view_augmentation={"scale": (0.5, 1.0)}).transform_views(X)
    assert net.seen == before + 24 * 2  # the augmentation is part of the cache key (center crop reused)
    assert np.abs(changed[:, 1] - again[:, 1]).max() > 1e-4


def test_views_zero_keeps_fit_transform_equal_to_transform():
    X = _images()
    ext = _ext()
    np.testing.assert_array_equal(ext.fit_transform(X), ext.transform(X))
    with pytest.raises(ValueError, match="views >= 1"):
        ext.transform_views(X)


@pytest.mark.parametrize("augmentation, match", [
    ({"zoom": 2}, "unknown keys"),
    ({"scale": (0.9, 0.2)}, "0 < low <= high <= 1"),
    ({"ratio": (0, 1)}, "0 < low <= high"),
    ({"scale": 0.8}, "must be a pair"),
])
def test_bad_view_augmentation_is_a_clear_error(augmentation, match):
    with pytest.raises(ValueError, match=match):
        _ext(views=1, view_augmentation=augmentation).fit_transform(_images(2))


def test_views_refuse_vector_inputs_and_callable_backbones():
    with pytest.raises(ValueError, match="image backbone"):
        FrozenBackboneTransformer(lambda b: np.asarray(b, dtype=np.float32), views=2).fit_transform(np.ones((3, 4)))
    net = torch.nn.Linear(4, 2)
    with pytest.raises(ValueError, match="image"):
        FrozenBackboneTransformer(net, views=2, device="cpu").fit_transform(np.ones((3, 4), dtype=np.float32))


def test_crop_box_covers_the_requested_area_and_seeds_differ_per_view_and_content():
    spec = resolve_view_spec(None, 0)
    assert spec == ViewSpec((0.8, 1.0), (0.75, 4 / 3), True, 0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = _crop_box(128, 128, spec, rng)
        assert 0 <= top and top + h <= 128 and 0 <= left and left + w <= 128
        assert 0.79 * 128 * 128 <= h * w <= 128 * 128
    keys = np.array([b"a" * 16, b"b" * 16], dtype="S16")
    s1, s2 = view_seeds(keys, 1, 0), view_seeds(keys, 2, 0)
    assert len(set(s1) | set(s2)) == 4 and (s1 >= 0).all()
    np.testing.assert_array_equal(view_seeds(keys, 1, 0), s1)
    with pytest.raises(ValueError, match="random_state"):
        resolve_view_spec(None, None)


def test_transform_writes_no_state_on_the_estimator():
    X = _images(3)
    ext = _ext(views=1)
    before = dict(ext.__dict__)
    ext.transform(X)
    ext.transform_views(X)
    assert ext.__dict__.keys() == before.keys()
    assert all(ext.__dict__[k] is before[k] for k in before)
