"""The feature cache seen from the transformer: exactly-once extraction, resume, corruption, Pipeline(memory=)."""

import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.cache import FeatureCache


def _data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


def _grid(backbone_step, cache):
    from sknmtune import NMTuneClassifier

    pipe = Pipeline([
        ("backbone", backbone_step),
        ("head", NMTuneClassifier(max_epochs=2, batch_size=16, device="cpu", random_state=0)),
    ])
    grid = {"head__reg_lambda": [0.0, 0.01, 0.1], "head__mlp_depth": [0, 2]}  # 6 configurations
    return GridSearchCV(pipe, grid, cv=3)


def test_gridsearch_sends_each_sample_through_the_module_once(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
    seen = []
    net.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))  # shared by clones (deepcopy)
    X, y = _data()
    _grid(FrozenBackboneTransformer(net, device="cpu", batch_size=7, cache=tmp_path), tmp_path).fit(X, y)
    assert sum(seen) == len(X)
    seen.clear()
    _grid(FrozenBackboneTransformer(net, device="cpu", batch_size=7), None).fit(X, y)
    assert sum(seen) == 18 * len(X) + len(X)  # without the cache: every fit and score, plus the refit


def test_gridsearch_calls_a_paid_api_once_per_sample(counter, tmp_path):
    X, y = _data()
    X = np.concatenate([X, X[:5]])  # duplicates are not paid twice either
    y = np.concatenate([y, y[:5]])
    search = _grid(FrozenBackboneTransformer(counter, batch_size=8, cache=tmp_path / "c"), None).fit(X, y)
    assert counter.seen == 30
    assert search.best_estimator_.predict(X).shape == (35,)


def test_interrupted_extraction_resumes(tmp_path):
    calls = []

    def api(batch):
        if len(calls) == 3:
            raise RuntimeError("connection lost")
        calls.append(len(batch))
        return np.c_[batch.sum(1), batch.max(1)]

    X, _ = _data(20)
    t = FrozenBackboneTransformer(api, batch_size=4, cache=tmp_path, cache_key="api")
    with pytest.raises(RuntimeError, match="connection lost"):
        t.transform(X)
    assert calls == [4, 4, 4]
    calls.clear()  # the service is back
    out = t.transform(X)
    assert calls == [4, 4]  # only the 8 samples not finished before
    np.testing.assert_allclose(out, np.c_[X.sum(1), X.max(1)], rtol=1e-6)


def test_corrupt_chunk_is_detected_and_recomputed(counter, tmp_path):
    X, _ = _data(12)
    cache = FeatureCache(tmp_path, chunk_rows=4)
    t = FrozenBackboneTransformer(counter, batch_size=4, cache=cache)
    want = t.transform(X)
    chunks = sorted(tmp_path.rglob("*.npz"))
    assert len(chunks) == 3 and counter.seen == 12
    chunks[1].write_bytes(chunks[1].read_bytes()[:-40])  # truncated write
    with pytest.warns(RuntimeWarning, match="corrupt"):
        got = t.transform(X)
    assert counter.seen == 16
    np.testing.assert_allclose(got, want)


def test_cache_separates_backbones_and_preprocessing(tmp_path, images):
    kw = dict(pretrained=False, device="cpu", cache=tmp_path)
    a = FrozenBackboneTransformer("cifar_resnet20", **kw).transform(images)
    b = FrozenBackboneTransformer("cifar_resnet32", **kw).transform(images)
    c = FrozenBackboneTransformer("cifar_resnet20", mean=(0.5,) * 3, std=(0.5,) * 3, **kw).transform(images)
    assert not np.allclose(a, b) and not np.allclose(a, c)
    np.testing.assert_allclose(FrozenBackboneTransformer("cifar_resnet20", **kw).transform(images), a)
    assert len(list((tmp_path / "v1").iterdir())) == 3


def test_joblib_memory_as_cache_and_pipeline_memory(counter, tmp_path):
    X, y = _data()
    memory = joblib.Memory(tmp_path / "joblib", verbose=0)
    FrozenBackboneTransformer(counter, cache=memory).transform(X)
    assert (tmp_path / "joblib" / "sknmtune_features").is_dir() and counter.seen == 30
    FrozenBackboneTransformer(counter, cache=memory).transform(X)
    assert counter.seen == 30

    def pipe():
        return Pipeline([("backbone", FrozenBackboneTransformer(counter, batch_size=8)), ("head", LogisticRegression())],
                        memory=memory)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # joblib must be able to hash the transformer
        first = pipe().fit(X, y)
        calls = counter.seen
        second = pipe().fit(X, y)
    assert counter.seen == calls  # the second fit comes from Pipeline's memory
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
