"""save/load: the safe format (exact round trips, allow-list, versioning, hostile files), joblib, devices."""

from __future__ import annotations

import io
import json
import pickle
import struct
import sys
import time
import tracemalloc
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
from sknmtune.persistence import (
    FORMAT_VERSION,
    SAFE_CLASSES,
    ModelFileError,
    class_of,
    get_untrusted_types,
    load,
    save,
)

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
        if key == "_inference_cache":  # (key, the float64 inference copy of module_): the copies must be equal
            value, other = value[1], other[1]
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
    cls = class_of(name)
    if name == "sklearn.ensemble.VotingClassifier":  # a meta-estimator: members from the allow-list
        from sklearn.linear_model import LogisticRegression
        from sklearn.naive_bayes import GaussianNB

        estimator = cls([("lr", LogisticRegression()), ("nb", GaussianNB())], voting="soft")
    else:
        estimator = cls()
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
    assert header["format"] == "sknmtune-model" and header["format_version"] == 1  # 2 only for module backbones
    assert header["object"]["class"] == "sknmtune.NMTuneClassifier"
    assert header["object"]["params"]["max_epochs"] == 2
    assert "module_" in header["object"]["modules"] and "module_" not in header["object"]["attributes"]


def test_the_estimator_rebuilds_its_own_modules_and_only_those_it_declares(tmp_path, fitted):
    # the persistence protocol: the class names its fitted modules and builds their architecture itself
    assert type(fitted).__sknmtune_modules__ == ("module_",)
    fresh = fitted.__sknmtune_rebuild__("module_")
    assert fresh is not fitted.module_
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {k: v.shape for k, v in fitted.module_.state_dict().items()}
    with pytest.raises(KeyError, match="other_"):
        fitted.__sknmtune_rebuild__("other_")
    # a file holding weights under a name the class does not declare is refused, not rebuilt somehow
    path = save(fitted, tmp_path / "m.skn")
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    header = json.loads(members["sknmtune.json"])
    header["object"]["modules"]["other_"] = header["object"]["modules"].pop("module_")
    members["sknmtune.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(tmp_path / "renamed.skn", "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    with pytest.raises(ModelFileError, match="cannot rebuild"):
        load(tmp_path / "renamed.skn")


def _unsaveable() -> torch.nn.Module:
    class Local(torch.nn.Module):  # defined in a function: neither a standard layer nor importable by name
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 6)

        def forward(self, x):
            return self.lin(x)

    return Local()


def test_a_refused_save_writes_nothing(tmp_path, fitted):
    with pytest.raises(TypeError, match="backbone"):
        save(make_pipeline(FrozenBackboneTransformer(_unsaveable()), NMTuneClassifier()), tmp_path / "p.skn")
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
    # a module-level class (picklable) whose get_init_kwargs() does not rebuild it: refused by the safe format
    pipe = make_pipeline(FrozenBackboneTransformer(_PartialHook(n_out=6), device="cpu"), NMTuneClassifier(**FAST)).fit(X, y)
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
    from sknmtune.heads import NMTuneClassifierCV

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


# --------------------------------------------------------------------------- custom module backbones


class TinyNet(torch.nn.Module):
    """A user's own backbone: rebuilt from get_init_kwargs() when its type is trusted."""

    def __init__(self, n_in=4, n_out=3, scale=1.0):
        super().__init__()
        self.n_in, self.n_out, self.scale = n_in, n_out, scale
        self.body = torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_out))
        self.register_buffer("shift", torch.zeros(n_out))

    def get_init_kwargs(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "scale": self.scale}

    def forward(self, x):
        return self.body(x) * self.scale + self.shift


class NoArgNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.lin(x)


TINY = f"{TinyNet.__module__}.TinyNet"


def test_custom_module_backbone_round_trips_with_trusted_type(tmp_path, data):
    X, y = data
    net = TinyNet(4, 5, scale=0.5)
    with torch.no_grad():
        net.shift.fill_(0.25)  # a buffer the constructor does not set: it must come from the file
    pipe = make_pipeline(FrozenBackboneTransformer(net, device="cpu"), NMTuneClassifier(**FAST)).fit(X, y)
    path = save(pipe, tmp_path / "own.skn")
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("sknmtune.json"))
    assert header["format_version"] == 2 and FORMAT_VERSION == 3  # 3: files with a layer-tree backbone
    assert get_untrusted_types(path) == [TINY]
    for trusted in ([TINY], [TinyNet], True):
        loaded = load(path, trusted=trusted)
        backbone = loaded[0].backbone
        assert type(backbone) is TinyNet and backbone.get_init_kwargs() == {"n_in": 4, "n_out": 5, "scale": 0.5}
        assert backbone is not net and backbone.training == net.training
        for key, value in net.state_dict().items():
            assert torch.equal(backbone.state_dict()[key], value), key
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    # a class constructible as cls() needs no hook
    ext = FrozenBackboneTransformer(NoArgNet(), device="cpu")
    again = load(save(ext, tmp_path / "noarg.skn"), trusted=[f"{NoArgNet.__module__}.NoArgNet"])
    np.testing.assert_array_equal(again.transform(X), ext.transform(X))


def test_untrusted_module_type_is_refused_before_anything_is_imported(tmp_path, data, monkeypatch):
    X, _ = data
    marker = tmp_path / "imported"
    name = "skn_user_nets_" + tmp_path.name.replace("-", "_")
    (tmp_path / f"{name}.py").write_text(
        "import pathlib, torch\n"
        f"pathlib.Path({str(marker)!r}).write_text('imported')\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        return self.lin(x)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    path = save(FrozenBackboneTransformer(module.Net(), device="cpu"), tmp_path / "user.skn")
    del sys.modules[name]
    marker.unlink()
    for trusted in (False, [TINY], ["Net"]):
        with pytest.raises(ModelFileError, match=rf"user\.skn .*{name}\.Net.*trusted=\[") as info:
            load(path, trusted=trusted)
        assert "nothing was imported" in str(info.value)
        assert not marker.exists() and name not in sys.modules
    assert get_untrusted_types(path) == [f"{name}.Net"] and not marker.exists()
    loaded = load(path, trusted=[f"{name}.Net"])  # the explicit opt-in imports the module and builds Net
    assert marker.exists() and type(loaded.backbone).__name__ == "Net"
    del sys.modules[name]


def test_module_backbones_the_format_cannot_rebuild_are_refused_at_save(tmp_path):
    class Local(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

    cases = [
        (torch.nn.Sequential(torch.nn.Linear(4, 2), Local()), "not a standard torch.nn layer"),
        (_hooked(torch.nn.Sequential(torch.nn.Linear(4, 2))), "hooks"),
        (_retyped(torch.nn.Sequential(torch.nn.Linear(4, 2))), "state dict differs"),
        (Local(), "inside a function"),
        (TinyNet().half(), "dtype"),
        (_PartialHook(n_out=2), "shape"),
        (_bad_hook_net(), "get_init_kwargs"),
    ]
    for net, keyword in cases:
        with pytest.raises(TypeError, match="format='joblib'") as info:
            save(FrozenBackboneTransformer(net), tmp_path / "m.skn")
        assert keyword in str(info.value) and "backbone" in str(info.value)
    with pytest.raises(TypeError, match="callable"):
        save(FrozenBackboneTransformer(np.tanh), tmp_path / "m.skn")
    assert list(tmp_path.iterdir()) == []


def _hooked(net: torch.nn.Module) -> torch.nn.Module:
    net[0].register_forward_hook(lambda module, args, out: out * 2)  # code the layer tree would not keep
    return net


def _retyped(net: torch.nn.Module) -> torch.nn.Module:
    return net.double()  # float64 weights, which the layers' constructors do not build


class _PartialHook(TinyNet):
    def get_init_kwargs(self):
        return {"n_in": self.n_in}  # n_out missing: the default (3) does not rebuild n_out=2


class _StringHook(TinyNet):
    def get_init_kwargs(self):
        return ["n_in", 4]


def _bad_hook_net():
    return _StringHook()


def test_trusted_must_be_a_bool_or_a_list_of_names(tmp_path, fitted):
    path = save(fitted, tmp_path / "m.skn")
    for bad in ("mypkg.Net", 1, [1]):
        with pytest.raises(TypeError, match="trusted"):
            load(path, trusted=bad)
    assert isinstance(load(path, trusted=[]), NMTuneClassifier)


# --------------------------------------------------------------------------- size limits


def _scaler_file(tmp_path, data, **members):
    """A saved StandardScaler whose members are replaced by ``members`` (name -> bytes or a writer)."""
    X, _ = data
    src = save(StandardScaler().fit(X), tmp_path / "src.skn")
    out = tmp_path / "edited.skn"
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in archive.infolist():
            blob = members.get(info.filename, archive.read(info.filename))
            if callable(blob):
                with target.open(info.filename, "w", force_zip64=True) as fh:
                    blob(fh)
            else:
                target.writestr(info.filename, blob)
    return out


def _npy_header(shape, descr="<f8"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _zeros(nbytes, header=b""):
    def write(fh):
        fh.write(header)
        block = bytes(2**20)
        for _ in range(nbytes // len(block)):
            fh.write(block)
    return write


def _refused_cheaply(action, match):
    """``action`` raises ModelFileError matching ``match`` within 2 s, without allocating 8 MiB."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match=match) as info:
            action()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2.0
    assert peak < 8 * 2**20, peak
    return str(info.value)


def test_zip_bomb_is_refused_from_the_zip_headers(tmp_path, data):
    X, _ = data
    bomb = _scaler_file(tmp_path, data, **{"arrays/0.npy": _zeros(48 * 2**20, _npy_header((6 * 2**20,)))})
    assert bomb.stat().st_size < 2**20  # 48 MiB of zeros in a small file
    message = _refused_cheaply(lambda: load(bomb, max_bytes=16 * 2**20), r"edited\.skn is refused: .*arrays/0\.npy")
    assert "zip bomb" in message and "max_bytes" in message
    assert isinstance(load(bomb, max_bytes=None), StandardScaler)  # the limit is the only objection
    # a central directory claiming ~4 GiB per member, twice: over the default limit, nothing decompressed
    blob = bytearray(_scaler_file(tmp_path, data).read_bytes())
    entries = [i for i in range(len(blob)) if blob[i:i + 4] == b"PK\x01\x02"]
    assert len(entries) >= 2
    for i in entries[:2]:
        blob[i + 24:i + 28] = struct.pack("<I", 0xFFFFFF00)
    (tmp_path / "claims.skn").write_bytes(bytes(blob))
    message = _refused_cheaply(lambda: load(tmp_path / "claims.skn"), r"claims\.skn is refused")
    assert "in all" in message or "would decompress" in message


def test_member_that_understates_its_size_is_cut_at_the_declared_size(tmp_path, data):
    """A member whose directory entry claims 928 bytes but inflates to 32 MiB: read in chunks, cut, CRC fails."""
    path = _scaler_file(tmp_path, data, **{"arrays/0.npy": _zeros(32 * 2**20, _npy_header((100,)))})
    blob = bytearray(path.read_bytes())
    name = b"arrays/0.npy"
    for i in range(len(blob)):
        if blob[i:i + 4] == b"PK\x01\x02" and blob[i + 46:i + 46 + len(name)] == name:
            blob[i + 24:i + 28] = struct.pack("<I", 128 + 800)
    (tmp_path / "liar.skn").write_bytes(bytes(blob))
    _refused_cheaply(lambda: load(tmp_path / "liar.skn"), r"liar\.skn is (damaged|truncated)")


def test_absurd_npy_shape_is_refused_from_its_header(tmp_path, data):
    huge = _scaler_file(tmp_path, data, **{"arrays/0.npy": _npy_header((10**9, 10**9)) + bytes(16)})
    message = _refused_cheaply(lambda: load(huge), r"is refused: array arrays/0\.npy \(shape \(1000000000, 1000000000\)")
    assert "max_bytes" in message
    # within the limit but larger than the member: damaged, also before allocating
    short = _scaler_file(tmp_path, data, **{"arrays/0.npy": _npy_header((2**20,)) + bytes(16)})
    _refused_cheaply(lambda: load(short), r"declares shape \(1048576,\) .* but the member holds 16 bytes")


def test_object_dtype_header_is_refused_without_unpickling(tmp_path, data):
    path = _scaler_file(tmp_path, data, **{"arrays/0.npy": _npy_header((4,), "|O") + b"\x80\x04N."})
    _refused_cheaply(lambda: load(path), r"not a plain NumPy array: its dtype object holds Python objects")


def test_max_bytes_bounds_legitimate_files_too(tmp_path, fitted):
    path = save(fitted, tmp_path / "m.skn")
    with pytest.raises(ModelFileError, match="max_bytes=100 "):
        load(path, max_bytes=100)
    for bad in (0, -1, 1.5, True, "1GB"):
        with pytest.raises(ValueError, match="max_bytes"):
            load(path, max_bytes=bad)
    assert isinstance(load(path, max_bytes=None), NMTuneClassifier)


# --------------------------------------------------------------------------- plain torch.nn backbones


def test_pipeline_with_a_plain_sequential_backbone_saves_in_the_safe_format(tmp_path, data, monkeypatch):
    """Issue 37's wrapper case: ``Pipeline(FrozenBackboneTransformer(nn.Sequential(...)), head)`` in ``.skn``,
    stored as its layer tree and rebuilt without trust and without running code from the file."""
    X, y = data
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.BatchNorm1d(16), torch.nn.GELU(), torch.nn.Dropout(0.1),
        torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.LeakyReLU(0.2)), torch.nn.LayerNorm(8),
    )
    with torch.no_grad():
        net[1].running_mean.uniform_()  # a buffer the constructor does not set: it must come from the file
    pipe = make_pipeline(FrozenBackboneTransformer(net, device="cpu"), NMTuneClassifier(**FAST)).fit(X, y)
    path = save(pipe, tmp_path / "seq.skn")
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("sknmtune.json"))
    assert header["format_version"] == 3 == FORMAT_VERSION
    assert get_untrusted_types(path) == []
    # nothing is imported by a name from the file: importlib is not called while loading
    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda *a, **k: pytest.fail("load imported a module"))
    loaded = load(path)
    backbone = loaded[0].backbone
    assert type(backbone) is torch.nn.Sequential and repr(backbone) == repr(net) and backbone.training == net.training
    for key, value in net.state_dict().items():
        assert torch.equal(backbone.state_dict()[key], value), key
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_layer_tree_files_that_lie_are_refused(tmp_path, data):
    X, y = data
    ext = FrozenBackboneTransformer(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), device="cpu").fit(X)
    path = save(ext, tmp_path / "tree.skn")

    def rewrite(name, edit):
        with zipfile.ZipFile(path) as source:
            header = json.loads(source.read("sknmtune.json"))
            edit(header["object"]["params"]["backbone"])
            out = tmp_path / name
            with zipfile.ZipFile(out, "w") as archive:
                archive.writestr("sknmtune.json", json.dumps(header))
                for info in source.infolist():
                    if info.filename != "sknmtune.json":
                        archive.writestr(info, source.read(info))
        return out

    cases = {
        "class.skn": (lambda b: b["tree"]["children"][1][1].update({"class": "os.system"}), "not one of the standard"),
        "args.skn": (lambda b: b["tree"]["children"][0][1]["args"].update({"in_features": 10**12}), "do not fit"),
        "negative.skn": (lambda b: b["tree"]["children"][0][1]["args"].update({"in_features": -3}), "cannot be built"),
        "extra-arg.skn": (lambda b: b["tree"]["children"][1][1]["args"].update({"code": "x"}), "malformed arguments"),
        "child.skn": (lambda b: b["tree"]["children"][1][1]["children"].append(["x", {}]), "cannot have child"),
        "deep.skn": (lambda b: b.update({"tree": _deep_tree(20_000)}), "nodes"),
    }
    for name, (edit, keyword) in cases.items():
        with pytest.raises(ModelFileError, match=keyword):
            load(rewrite(name, edit))
    np.testing.assert_array_equal(load(path).transform(X), ext.transform(X))


def _deep_tree(n: int) -> dict:
    return {"class": "Sequential", "args": {}, "children": [[str(i), {"class": "ReLU", "args": {"inplace": False},
                                                                       "children": []}] for i in range(n)]}


# --------------------------------------------------------------------------- skops.io


def test_skops_round_trip_of_fitted_heads_with_trusted_types(tmp_path, data):
    """Issue 37's wrapper case: ``skops.io.dump`` / ``load`` of fitted heads (it raised "Cannot directly
    construct TensorBase"). The heads' state holds NumPy arrays, so skops needs only their classes trusted."""
    sio = pytest.importorskip("skops.io")
    from sknmtune.heads import NMTuneClassifierCV, NMTuneRegressor, make_voting_head

    X, y = data
    clf = NMTuneClassifier(**FAST).fit(X, y)
    clf_partial = NMTuneClassifier(**{**FAST, "standardize": False}).partial_fit(X, y, classes=np.unique(y))
    reg = NMTuneRegressor(**{k: v for k, v in FAST.items()}).fit(X, X[:, 0] * 2.0)
    cv = NMTuneClassifierCV({"mlp_depth": [0, 1]}, estimator=NMTuneClassifier(**FAST), cv=2, random_state=0).fit(X, y)
    vote = make_voting_head(random_state=0).fit(X, y)
    for model in (clf, clf_partial, reg, cv, vote):
        path = tmp_path / f"{type(model).__name__}.skops"
        sio.dump(model, path)
        untrusted = sio.get_untrusted_types(file=path)
        assert all(name.startswith(("sknmtune.", "sklearn.")) for name in untrusted), untrusted
        loaded = sio.load(path, trusted=untrusted)
        method = "predict" if isinstance(model, NMTuneRegressor) else "predict_proba"
        np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(model, method)(X))
    # the restored optimizer state (AdamW's moments, as arrays) continues training exactly like the original
    loaded_partial = sio.loads(sio.dumps(clf_partial), trusted=sio.get_untrusted_types(data=sio.dumps(clf_partial)))
    loaded_partial.partial_fit(X, y)
    clf_partial.partial_fit(X, y)
    np.testing.assert_array_equal(loaded_partial.predict_proba(X), clf_partial.predict_proba(X))


def test_pickle_state_holds_no_torch_object_and_old_pickles_still_load(data):
    X, y = data
    clf = NMTuneClassifier(**FAST).partial_fit(X, y, classes=np.unique(y))

    def torch_objects(value):
        if isinstance(value, (torch.Tensor, torch.nn.Module)):
            return 1
        if isinstance(value, dict):
            return sum(torch_objects(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(torch_objects(v) for v in value)
        return 0

    state = clf.__getstate__()
    assert torch_objects(state) == 0 and isinstance(state["module_"]["state_dict"]["classifier.weight"], np.ndarray)
    # a state with the torch module itself (pickles of sknmtune 0.1) is still accepted
    legacy = {**state, "module_": clf.module_, "_optimizer_state_": clf._optimizer_state_}
    old = NMTuneClassifier.__new__(NMTuneClassifier)
    old.__setstate__(legacy)
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))
    broken = {**state, "module_": {"state_dict": {"classifier.weight": np.zeros((1, 1), np.float32)}}}
    with pytest.raises(ValueError, match="do not fit the architecture"):
        NMTuneClassifier.__new__(NMTuneClassifier).__setstate__(broken)
