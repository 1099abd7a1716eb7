"""save/load: the safe format (exact round trips, allow-list, versioning, hostile files), joblib, devices."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from sknmtune import NMTuneClassifier
from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.persistence import FORMAT_VERSION, SAFE_CLASSES, ModelFileError, _class_of, load, save

FAST = {"max_epochs": 2, "early_stopping": False, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def data():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return NMTuneClassifier(**FAST).fit(X, y)


def _assert_same_state(a, b):
    """Every fitted attribute equal, bit for bit, with the same types."""
    assert type(a) is type(b) and repr(a.get_params()) == repr(b.get_params())
    for key, value in vars(a).items():
        other = vars(b)[key]
        if isinstance(value, torch.nn.Module):
            sa, sb = value.state_dict(), other.state_dict()
            assert sa.keys() == sb.keys()
            for name in sa:
                assert sa[name].dtype == sb[name].dtype and torch.equal(sa[name], sb[name]), name
        elif isinstance(value, np.ndarray):
            assert type(other) is np.ndarray and value.dtype == other.dtype
            np.testing.assert_array_equal(value, other)
        else:
            assert type(value) is type(other) and repr(value) == repr(other), key


# --------------------------------------------------------------------------- round trips


def test_classifier_round_trip_is_exact(tmp_path, data, fitted):
    X, _ = data
    path = save(fitted, tmp_path / "head.skn")
    assert not (tmp_path / "head.skn.tmp").exists()
    loaded = load(path)
    _assert_same_state(fitted, loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    assert not loaded.module_.training
    assert next(loaded.module_.parameters()).device.type == "cpu"


def test_string_labels_feature_names_and_nonfinite_history_round_trip(tmp_path, data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=["sepal length", "sepal width", "petal length", "petal width"])
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    clf = NMTuneClassifier(**FAST).fit(frame, labels)
    clf.history_[0]["nan_entry"] = float("nan")  # non-finite floats and NumPy scalars are data too
    clf.history_[0]["np_entry"] = np.float32(-np.inf)
    loaded = load(save(clf, tmp_path / "strings.skn"))
    assert loaded.classes_.dtype == object and list(loaded.classes_) == ["setosa", "versicolor", "virginica"]
    assert loaded.feature_names_in_.dtype == object and list(loaded.feature_names_in_) == list(frame.columns)
    assert np.isnan(loaded.history_[0]["nan_entry"])
    assert type(loaded.history_[0]["np_entry"]) is np.float32 and loaded.history_[0]["np_entry"] == -np.inf
    np.testing.assert_array_equal(loaded.predict(frame), clf.predict(frame))


def test_pipeline_round_trip_is_exact(tmp_path, data):
    X, y = data
    pipe = make_pipeline(
        FeatureUnion([("scaled", StandardScaler()), ("pca", PCA(n_components=2))]),
        NMTuneClassifier(**FAST, standardize=True),
    ).fit(X, y)
    loaded = load(save(pipe, tmp_path / "pipe.skn"))
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    _assert_same_state(pipe[-1], loaded[-1])


@pytest.mark.parametrize("name", [n for n in SAFE_CLASSES if not n.startswith("sknmtune") and "pipeline" not in n])
# default-constructed: whether lbfgs converged on this data does not matter to the round trip
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_allow_listed_sklearn_class_round_trips(tmp_path, data, name):
    X, y = data
    estimator = _class_of(name)()
    labels = np.array(["a", "b", "c"])[y]
    fit_input = labels if "Label" in name else X
    estimator.fit(*((fit_input,) if "Label" in name else (X, y)))
    loaded = load(save(estimator, tmp_path / "e.skn"))
    _assert_same_state(estimator, loaded)
    for method in ("predict", "predict_proba", "decision_function", "transform"):
        if hasattr(estimator, method):
            np.testing.assert_array_equal(getattr(loaded, method)(fit_input), getattr(estimator, method)(fit_input))


def test_backbone_spec_round_trips_and_reloads_the_same_model(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    ext = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", cache=tmp_path / "cache",
                                    image_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    expected = ext.transform(images)
    loaded = load(save(ext, tmp_path / "backbone.skn"))
    assert loaded.get_params()["cache"] == tmp_path / "cache" and loaded.get_params()["mean"] == (0.5, 0.5, 0.5)
    np.testing.assert_array_equal(loaded.transform(images), expected)


def test_bfloat16_tensor_attribute_round_trips_bit_for_bit(tmp_path, fitted):
    clf = NMTuneClassifier(**FAST)
    clf.probe_ = {"bf16": torch.randn(5).to(torch.bfloat16), "i8": torch.arange(3, dtype=torch.int8), "dev": torch.device("cpu"),
                  "dtype": np.dtype("float16"), "pair": (1, "a", None), 3: [np.int64(7), np.str_("x")]}
    loaded = load(save(clf, tmp_path / "bf16.skn"))
    probe = loaded.probe_
    assert probe["bf16"].dtype == torch.bfloat16 and torch.equal(probe["bf16"], clf.probe_["bf16"])
    assert probe["i8"].dtype == torch.int8 and probe["dev"] == torch.device("cpu")
    assert probe["dtype"] == np.dtype("float16") and probe["pair"] == (1, "a", None)
    assert type(probe[3][0]) is np.int64 and type(probe[3][1]) is np.str_


def test_file_layout_is_a_zip_with_a_versioned_json_spec(tmp_path, fitted):
    path = save(fitted, tmp_path / "m.skn")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        header = json.loads(archive.read("sknmtune.json"))
    assert names[0] == "sknmtune.json" and all(n.startswith("arrays/") and n.endswith(".npy") for n in names[1:])
    assert header["format"] == "sknmtune-model" and header["format_version"] == FORMAT_VERSION
    assert header["object"]["class"] == "sknmtune.NMTuneClassifier"
    assert header["object"]["params"]["max_epochs"] == 2
    assert "module_" in header["object"]["modules"] and "module_" not in header["object"]["attributes"]


def test_a_refused_save_writes_nothing(tmp_path, fitted):
    with pytest.raises(TypeError, match="backbone"):
        save(make_pipeline(FrozenBackboneTransformer(torch.nn.Linear(4, 2)), NMTuneClassifier()), tmp_path / "p.skn")
    assert list(tmp_path.iterdir()) == []


def test_loading_leaves_the_global_torch_rng_alone(tmp_path, fitted):
    path = save(fitted, tmp_path / "m.skn")
    state = torch.random.get_rng_state()
    load(path)
    assert torch.equal(torch.random.get_rng_state(), state)


# --------------------------------------------------------------------------- joblib / pickle


def test_joblib_format_needs_trusted_and_round_trips(tmp_path, data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), NMTuneClassifier(**FAST)).fit(X, y)
    path = save(pipe, tmp_path / "pipe.joblib", format="joblib")
    with pytest.raises(ModelFileError, match=r"pickle .*trusted=True"):
        load(path)
    np.testing.assert_array_equal(load(path, trusted=True).predict_proba(X), pipe.predict_proba(X))
    joblib.dump(pipe, tmp_path / "plain.joblib")  # plain joblib keeps working, as for any sklearn model
    np.testing.assert_array_equal(joblib.load(tmp_path / "plain.joblib").predict_proba(X), pipe.predict_proba(X))


def test_trusted_also_reads_the_safe_format(tmp_path, data, fitted):
    X, _ = data
    path = save(fitted, tmp_path / "m.skn")
    np.testing.assert_array_equal(load(path, trusted=True).predict(X), fitted.predict(X))


def test_module_backbone_pipelines_still_save_as_joblib(tmp_path, data):
    X, y = data
    pipe = make_pipeline(FrozenBackboneTransformer(torch.nn.Linear(4, 6), device="cpu"), NMTuneClassifier(**FAST)).fit(X, y)
    with pytest.raises(TypeError, match="format='joblib'"):
        save(pipe, tmp_path / "p.skn")
    loaded = load(save(pipe, tmp_path / "p.joblib", format="joblib"), trusted=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


# --------------------------------------------------------------------------- hostile files


class _WritesMarker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _hostile_files(tmp_path, marker):
    payload = _WritesMarker(marker)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(payload))
    (tmp_path / "evil-p0.pkl").write_bytes(pickle.dumps(payload, protocol=0))
    joblib.dump(payload, tmp_path / "evil.joblib")
    joblib.dump(payload, tmp_path / "evil-z.joblib", compress=3)
    joblib.dump(payload, tmp_path / "evil-gz.joblib", compress=("gzip", 3))
    torch.save({"x": payload}, tmp_path / "evil.pt")
    buffer = io.BytesIO()
    np.save(buffer, np.array([payload], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "evil.skn", "w") as archive:  # a pickled object array inside the safe format
        header = {"format": "sknmtune-model", "format_version": 1, "object": {
            "__kind__": "estimator", "class": "sklearn.preprocessing.StandardScaler",
            "params": {"copy": True, "with_mean": True, "with_std": True},
            "attributes": {"mean_": {"__kind__": "array", "member": "arrays/0.npy"}}}}
        archive.writestr("sknmtune.json", json.dumps(header))
        archive.writestr("arrays/0.npy", buffer.getvalue())
    return sorted(p for p in tmp_path.iterdir() if p.name.startswith("evil"))


def test_malicious_files_never_run_code_under_the_default_load(tmp_path):
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_WritesMarker(marker)))  # the payload does work when unpickled ...
    assert marker.exists()
    marker.unlink()
    files = _hostile_files(tmp_path, marker)
    assert len(files) == 7
    for path in files:
        with pytest.raises(ModelFileError, match=str(path.name)):
            load(path)
        assert not marker.exists(), f"loading {path.name} ran code"


def test_trusted_load_is_the_explicit_opt_in_that_unpickles(tmp_path):
    marker = tmp_path / "marker"
    joblib.dump(_WritesMarker(marker), tmp_path / "evil.joblib")
    with pytest.raises(ModelFileError, match="wrong kind of object"):
        load(tmp_path / "evil.joblib", trusted=True)  # it ran (that is what trusted means) and returned a file object
    assert marker.exists()


def test_newer_format_version_names_both_versions(tmp_path, fitted):
    path = save(fitted, tmp_path / "m.skn")
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    header = json.loads(members["sknmtune.json"])
    header.update(format_version=FORMAT_VERSION + 1, sknmtune_version="9.9.9")
    members["sknmtune.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(tmp_path / "new.skn", "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    with pytest.raises(ModelFileError) as info:
        load(tmp_path / "new.skn")
    message = str(info.value)
    assert "new.skn" in message and "9.9.9" in message and f"up to {FORMAT_VERSION}" in message and "upgrade" in message


def test_trust_remote_code_spec_needs_trusted(tmp_path):
    ext = FrozenBackboneTransformer("org/some-model", model_kwargs={"trust_remote_code": True})
    path = save(ext, tmp_path / "remote.skn")
    with pytest.raises(ModelFileError, match="trust_remote_code"):
        load(path)
    assert load(path, trusted=True).model_kwargs == {"trust_remote_code": True}


# --------------------------------------------------------------------------- devices


def test_cuda_fitted_model_loads_on_cpu(tmp_path, data):
    """The tensors in the file are CPU tensors whatever the training device (real CUDA when present)."""
    X, y = data
    device = "cuda" if torch.cuda.is_available() else "cpu"
    clf = NMTuneClassifier(**{**FAST, "device": device}).fit(X, y)
    expected = clf.predict_proba(X)
    loaded = load(save(clf, tmp_path / "m.skn"))
    assert {p.device.type for p in loaded.module_.parameters()} == {"cpu"}
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    if device == "cuda":
        on_gpu = load(tmp_path / "m.skn", map_location="cuda")
        assert next(on_gpu.module_.parameters()).device.type == "cuda"
        np.testing.assert_array_equal(on_gpu.predict_proba(X), expected)


def test_load_with_map_location_moves_nested_models(tmp_path, data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), NMTuneClassifier(**FAST)).fit(X, y)
    path = save(pipe, tmp_path / "p.skn")
    loaded = load(path, map_location="cpu")
    assert next(loaded[-1].module_.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load(path, map_location="cuda")


def test_cross_validated_head_round_trips(tmp_path, data):
    from sknmtune.model_selection import NMTuneClassifierCV

    X, y = data
    search = NMTuneClassifierCV({"reg_lambda": [0.0, 0.1], "mlp_depth": [0, 2]},
                                estimator=NMTuneClassifier(**{**FAST, "max_epochs": 1}), cv=2, random_state=0).fit(X, y)
    loaded = load(save(search, tmp_path / "cv.skn"))
    np.testing.assert_array_equal(loaded.predict_proba(X), search.predict_proba(X))
    assert loaded.best_params_ == search.best_params_ and loaded.best_score_ == search.best_score_
    for key, value in search.cv_results_.items():
        other = loaded.cv_results_[key]
        assert type(other) is type(value), key
        if isinstance(value, np.ma.MaskedArray):
            np.testing.assert_array_equal(np.ma.getmaskarray(other), np.ma.getmaskarray(value))
            assert other.dtype == value.dtype and other.fill_value == value.fill_value
        np.testing.assert_array_equal(np.asarray(other), np.asarray(value))
