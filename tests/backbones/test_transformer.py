import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.backbones._transformer import _resolve_kind


@parametrize_with_checks([FrozenBackboneTransformer(torch.nn.Tanh(), device="cpu")])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_kind_resolution(counting_net, counter):
    assert _resolve_kind(counting_net, "auto") == "module"
    assert _resolve_kind(counter, "auto") == "callable"
    assert _resolve_kind("resnet50.a1_in1k", "auto") == "timm"
    assert _resolve_kind("timm/resnet18.a1_in1k", "auto") == "timm"
    assert _resolve_kind("cifar_resnet56", "auto") == "timm"
    with pytest.raises(ValueError, match="Unknown backbone 'not_a_model'.*nn.Module, or a callable"):
        _resolve_kind("not_a_model", "auto")
    with pytest.raises(TypeError, match="Unsupported backbone"):
        _resolve_kind(3, "auto")


def test_clone_and_get_params_hold_the_spec_not_the_model(images):
    t = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu").fit(images)
    params = clone(t).get_params()
    assert params["backbone"] == "cifar_resnet20"
    assert not any(isinstance(v, torch.nn.Module) for v in params.values())
    assert "_backend" not in vars(clone(t))


def test_named_backbone_pickles_without_weights_and_reloads(images):
    t = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu")
    before = t.fit_transform(images)
    blob = pickle.dumps(t)
    assert len(blob) < 5_000  # the ResNet-20 weights alone are ~1 MB
    np.testing.assert_allclose(pickle.loads(blob).transform(images), before, atol=1e-6)


def test_module_backbone_pickles_with_its_module(counting_net):
    X = np.random.default_rng(0).normal(size=(5, 4))
    t = FrozenBackboneTransformer(counting_net, device="cpu")
    before = t.fit_transform(X)
    again = pickle.loads(pickle.dumps(t))
    assert again.backbone is not counting_net
    np.testing.assert_array_equal(again.transform(X), before)


def test_joblib_round_trip_of_a_fitted_pipeline(images, tmp_path):
    from sknmtune import NMTuneClassifier

    X = np.concatenate([images] * 4)
    y = np.arange(len(X)) % 2
    pipe = Pipeline([
        ("backbone", FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu")),
        ("head", NMTuneClassifier(max_epochs=2, batch_size=8, device="cpu", random_state=0)),
    ]).fit(X, y)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    loaded = joblib.load(tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_feature_names_and_pandas_output(counter):
    X = np.ones((3, 2))
    t = FrozenBackboneTransformer(counter).set_output(transform="pandas")
    with pytest.raises(NotFittedError, match="fit"):
        FrozenBackboneTransformer(counter).get_feature_names_out()
    df = t.fit_transform(X)
    assert list(df.columns) == ["frozenbackbonetransformer0", "frozenbackbonetransformer1"]


def test_transform_writes_no_state_and_fit_records_the_width():
    calls = []

    def embed(batch):
        calls.append(len(batch))
        return np.c_[batch, batch[:, :1]]  # width 3 from width 2: known only by running it

    X = np.arange(12.0).reshape(6, 2)
    t = FrozenBackboneTransformer(embed, batch_size=4)
    before = dict(t.__dict__)
    t.transform(X)
    assert t.__dict__ == before  # transform writes no state (its loaded backend lives outside the object)
    with pytest.raises(NotFittedError):
        t.get_feature_names_out()
    calls.clear()
    t.fit(X)
    assert calls == [1], "fit measures an undeclared width on one sample"
    assert t.n_features_out_ == 3
    assert list(t.get_feature_names_out()) == [f"frozenbackbonetransformer{i}" for i in range(3)]
    calls.clear()
    assert t.fit_transform(X).shape == (6, 3) and calls == [4, 2], "fit_transform runs the data once"


def test_fit_reads_a_declared_width_without_running_the_model():
    t = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu")
    t.fit(np.zeros((2, 32, 32, 3), dtype=np.uint8))
    assert t.n_features_out_ == 64 and t.get_feature_names_out().shape == (64,)
    with pytest.raises(ValueError, match="image"):
        FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu").fit(["some text"])


def test_set_params_reloads_the_backbone(counting_net, counter):
    X = np.ones((3, 4), np.float32)
    t = FrozenBackboneTransformer(counting_net, device="cpu")
    assert t.fit_transform(X).shape == (3, 3)
    t.set_params(backbone=counter)
    assert t.transform(X).shape == (3, 2)


def test_progress_bar_when_verbose(counter, capsys):
    FrozenBackboneTransformer(counter, verbose=1).transform(np.ones((3, 2)))
    assert "Extracting" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"max_retries": -1}, {"retry_on": (ValueError, 3)}, {"num_workers": -2},
                                 {"backoff": -1.0}])
def test_invalid_parameters(counter, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        FrozenBackboneTransformer(counter, **bad).fit(np.ones((2, 2)))


def test_to_device_keeps_working_and_pickles_hold_cpu_tensors(counting_net):
    X = np.ones((2, 4), np.float32)
    t = FrozenBackboneTransformer(counting_net, device="auto")
    before = t.fit_transform(X)  # on CUDA where there is one
    assert t.to_device("cpu") is t and t.device == "cpu"
    if torch.cuda.is_available():  # CPU and GPU kernels round differently: equal to float32 tolerance only
        np.testing.assert_allclose(t.transform(X), before, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(t.transform(X), before)
    state = t.__getstate__()
    assert "_backend" not in state
    assert all(v.device.type == "cpu" for v in state["backbone"].state_dict().values())


def test_module_backbone_unpickles_on_its_device_without_warning(counting_net):
    import warnings

    t = FrozenBackboneTransformer(counting_net, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pickle.loads(pickle.dumps(t))
    assert again.device == "cpu"
    assert all(p.device.type == "cpu" for p in again.backbone.parameters())


@pytest.mark.gpu
@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_cuda_module_backbone_round_trips_on_cuda_bit_identically(counting_net, device):
    X = np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)
    t = FrozenBackboneTransformer(counting_net, device=device)
    before = t.fit_transform(X)
    assert next(t.backbone.parameters()).device.type == "cuda"
    blob = pickle.dumps(t)
    again = pickle.loads(blob)
    assert again.device == device
    assert next(again.backbone.parameters()).device.type == "cuda"  # pickles hold CPU tensors; unpickling restores
    np.testing.assert_array_equal(again.transform(X), before)
