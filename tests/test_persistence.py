"""save/load round trips, CUDA -> CPU loading, and device remapping."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknmtune import NMTuneClassifier
from sknmtune.persistence import load, save


@pytest.fixture(scope="module")
def data():
    return load_iris(return_X_y=True)


def test_joblib_round_trip_identical_proba(tmp_path, data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), NMTuneClassifier(max_epochs=3, random_state=0)).fit(X, y)
    path = save(pipe, tmp_path / "pipe.joblib")
    assert not (tmp_path / "pipe.joblib.tmp").exists()
    np.testing.assert_array_equal(load(path).predict_proba(X), pipe.predict_proba(X))
    joblib.dump(pipe, tmp_path / "plain.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "plain.joblib").predict_proba(X), pipe.predict_proba(X))


def test_pickles_hold_cpu_tensors_even_for_a_gpu_model(data, monkeypatch):
    """Simulate a CUDA-fitted model: its pickle must load on a CPU-only machine."""
    X, y = data
    clf = NMTuneClassifier(max_epochs=2, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)
    seen = {}
    original = NMTuneClassifier.__getstate__

    def spy(self):
        state = original(self)
        seen["devices"] = {p.device.type for p in state["module_"].parameters()}
        return state

    monkeypatch.setattr(NMTuneClassifier, "__getstate__", spy)
    blob = pickle.dumps(clf)
    assert seen["devices"] == {"cpu"}
    loaded = pickle.loads(blob)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def test_cuda_state_dict_maps_to_cpu(data):
    """torch.load(map_location='cpu') of a module saved from CUDA works; real CUDA when present."""
    X, y = data
    clf = NMTuneClassifier(max_epochs=2, random_state=0).fit(X, y)
    if torch.cuda.is_available():
        clf.to_device("cuda")
        buf = io.BytesIO()
        joblib.dump(clf, buf)
        buf.seek(0)
        restored = joblib.load(buf)
        assert next(restored.module_.parameters()).device.type == "cpu"
    buf = io.BytesIO()
    torch.save(clf.module_.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, map_location="cpu")
    assert all(t.device.type == "cpu" for t in state.values())


def test_load_with_map_location_moves_nested_models(tmp_path, data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), NMTuneClassifier(max_epochs=2, random_state=0)).fit(X, y)
    path = save(pipe, tmp_path / "p.joblib")
    loaded = load(path, map_location="cpu")
    assert next(loaded[-1].module_.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load(path, map_location="cuda")
