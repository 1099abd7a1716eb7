"""Where unpickled torch modules go: ``sknmtune._utils.restore_device`` and ``loading_onto``.

CUDA is simulated with monkeypatch (``torch.cuda.is_available`` / ``device_count``) and a module
that records the devices it is sent to, so these run on any machine; the ``gpu`` tests use a
real device.
"""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch

from sknmtune._utils import loading_onto, restore_device


class _RecordingModule(torch.nn.Linear):
    """A module that records every ``.to(device)`` instead of moving (CUDA may not exist here)."""

    def __init__(self) -> None:
        super().__init__(2, 2)
        self.sent_to: list[torch.device] = []

    def to(self, device, *args, **kwargs):  # noqa: D102
        self.sent_to.append(torch.device(device))
        return self


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def one_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("requested", ["cpu", torch.device("cpu"), "auto", None])
def test_cpu_and_auto_stay_on_the_cpu_without_warning(no_cuda, requested):
    module = _RecordingModule()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert restore_device(module, requested, "NMTuneClassifier") is requested
    assert module.sent_to == [torch.device("cpu")]


@pytest.mark.parametrize("requested", ["cuda", "cuda:0", torch.device("cuda", 0)])
def test_available_cuda_is_restored(one_cuda, requested):
    module = _RecordingModule()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert restore_device(module, requested, "NMTuneClassifier") is requested
    assert [d.type for d in module.sent_to] == ["cuda"]


def test_auto_goes_to_cuda_when_present(one_cuda):
    module = _RecordingModule()
    assert restore_device(module, "auto", "NMTuneClassifier") == "auto"
    assert module.sent_to == [torch.device("cuda")]


@pytest.mark.parametrize(("fixture", "requested"), [("no_cuda", "cuda"), ("no_cuda", "cuda:0"), ("one_cuda", "cuda:3"),
                                                    ("no_cuda", "not-a-device")])
def test_missing_device_falls_back_to_cpu_with_a_warning(request, fixture, requested):
    request.getfixturevalue(fixture)
    module = _RecordingModule()
    with pytest.warns(UserWarning, match=rf"NMTuneClassifier was saved with device='{requested}'.*loaded on the CPU"):
        assert restore_device(module, requested, "NMTuneClassifier") == "cpu"
    assert module.sent_to == [torch.device("cpu")]


def test_load_device_overrides_silently(no_cuda):
    module = _RecordingModule()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with loading_onto(torch.device("cpu")):
            # the requested device is missing: the parameter becomes 'cpu' so a refit runs
            assert restore_device(module, "cuda", "NMTuneClassifier") == "cpu"
            assert restore_device(module, "auto", "NMTuneClassifier") == "auto"
    assert module.sent_to == [torch.device("cpu")] * 2


def test_load_device_override_is_scoped(one_cuda):
    module = _RecordingModule()
    with loading_onto(torch.device("cpu")):
        restore_device(module, "cuda", "x")
    restore_device(module, "cuda", "x")
    assert [d.type for d in module.sent_to] == ["cpu", "cuda"]


def test_real_module_pickled_with_a_missing_device_loads_on_the_cpu(no_cuda):
    """End to end with a real module: a backbone saved as device='cuda' opens on a CPU-only machine."""
    import numpy as np

    from sknmtune.backbones import FrozenBackboneTransformer

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    blob = pickle.dumps(FrozenBackboneTransformer(net, device="cuda"))
    with pytest.warns(UserWarning, match="FrozenBackboneTransformer's backbone was saved with device='cuda'"):
        restored = pickle.loads(blob)
    assert restored.device == "cpu"
    X = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(restored.transform(X), FrozenBackboneTransformer(net, device="cpu").transform(X))


@pytest.mark.gpu
def test_real_cuda_module_is_restored_on_cuda():
    module = torch.nn.Linear(3, 2)
    assert restore_device(module, "cuda", "x") == "cuda"
    assert next(module.parameters()).device.type == "cuda"
