"""The backend registry: one builder per backbone family, one interface for the transformer."""

import numpy as np
import pytest
import torch

from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.backbones._registry import BACKENDS, BackendOptions, build_backend
from sknmtune.backbones._kinds import _KINDS

INTERFACE = ("kind", "accepts", "identity", "description", "n_features")


def test_every_family_the_transformer_names_has_a_builder():
    assert set(BACKENDS) == set(_KINDS) - {"auto"}


def test_an_unknown_kind_is_a_clear_error():
    options = BackendOptions(backbone=None, device=torch.device("cpu"), amp_dtype=None, num_workers=0)
    with pytest.raises(ValueError, match="no backend is registered for kind 'nope'"):
        build_backend("nope", options)


@pytest.mark.parametrize("backbone, family, runtime", [
    (torch.nn.Linear(3, 2), "module", "torch"),
    (lambda batch: np.asarray(batch)[:, :2], "callable", "callable"),
    ("cifar_resnet20", "timm", "torch"),
])
def test_backends_share_one_interface(backbone, family, runtime):
    t = FrozenBackboneTransformer(backbone, pretrained=False, device="cpu", cache_key="k" if family == "callable" else None)
    backend = t._get_backend()
    assert backend.kind == runtime  # how it runs: torch modules batch through one runner
    for attribute in INTERFACE:
        assert hasattr(backend, attribute), f"{family} backend lacks {attribute}"
    assert isinstance(backend.identity, str) and backend.identity


@pytest.mark.parametrize("backbone, kind, match", [
    (lambda batch: np.asarray(batch), "callable", "callable backbone is your own function"),
    ("some-org/some-text-encoder", "text", "sentence-transformers model runs through its own encode"),
])
def test_compile_on_a_family_that_cannot_compile_is_refused_before_loading(backbone, kind, match):
    # silently ignoring compile=True would leave users believing their extraction is compiled; the text
    # model is never loaded (no download is attempted), so the error comes first
    t = FrozenBackboneTransformer(backbone, kind=kind, compile=True, cache_key="k")
    with pytest.raises(ValueError, match=f"compile=True compiles torch module and timm backbones only; a {match}"):
        t.fit(["a sentence"] if kind == "text" else np.zeros((2, 3)))
