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


# --------------------------------------------------------------------------- registering a family


@pytest.fixture
def registry_snapshot():
    """Whatever a test registers is gone afterwards (the built-in families are left as they were)."""
    saved = dict(BACKENDS)
    yield
    BACKENDS.clear()
    BACKENDS.update(saved)


def test_each_builtin_family_registers_itself_in_its_own_module():
    for kind in ("timm", "text", "module", "callable"):
        assert BACKENDS[kind].__module__ == f"sknmtune.backbones._{kind}"


def test_a_registered_toy_family_builds_a_working_backend(registry_snapshot):
    import dataclasses

    from sknmtune.backbones import register_backend
    from sknmtune.backbones._inputs import as_inputs

    built = []

    @register_backend("toy-projection")
    def build_toy(options):
        width = int(str(options.backbone).split(":")[1])
        torch.manual_seed(0)
        module = torch.nn.Linear(4, width, bias=False)
        built.append(module)
        return build_backend("module", dataclasses.replace(options, backbone=module))

    assert BACKENDS["toy-projection"] is build_toy  # the decorator returns the function unchanged
    options = BackendOptions(backbone="toy:3", device=torch.device("cpu"), amp_dtype=None, num_workers=0)
    backend = build_backend("toy-projection", options)
    for attribute in INTERFACE:
        assert hasattr(backend, attribute)
    X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    blocks = list(backend.iter_features(as_inputs(X), np.arange(10), 4))
    assert [len(pos) for pos, _ in blocks] == [4, 4, 2]
    features = np.concatenate([block for _, block in blocks])
    with torch.no_grad():
        expected = built[0](torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    # ... and the transformer selects it by name, like a built-in family
    from sknmtune.backbones import FrozenBackboneTransformer

    out = FrozenBackboneTransformer("toy:3", kind="toy-projection", device="cpu").fit_transform(X)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="toy-projection"):  # the error lists the registered families
        FrozenBackboneTransformer("toy:3", kind="toy-projektion", device="cpu").fit_transform(X)


def test_register_backend_refuses_clashes_and_bad_names(registry_snapshot):
    from sknmtune.backbones import register_backend

    def builder(options):
        return None

    with pytest.raises(ValueError, match="a backbone family named 'timm' is already registered"):
        register_backend("timm", builder)
    for bad in ("", "auto", None):
        with pytest.raises(ValueError, match="kind"):
            register_backend(bad, builder)
    with pytest.raises(TypeError, match="must be callable"):
        register_backend("toy", "not a function")
    assert register_backend("timm", builder, replace=True) is builder and BACKENDS["timm"] is builder
