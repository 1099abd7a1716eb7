"""Tests for sknmtune.heads.NMTuneHead: architecture, identity/residual semantics, init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sknmtune.heads import NMTuneHead

D, C, B = 6, 4, 5


def _F(seed: int = 0) -> torch.Tensor:
    return torch.randn(B, D, generator=torch.Generator().manual_seed(seed))


def _count(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("hidden_width", [None, 11])
def test_shapes_and_linear_layer_count(depth, hidden_width):
    torch.manual_seed(0)
    head = NMTuneHead(D, C, mlp_depth=depth, hidden_width=hidden_width)
    logits, Z = head(_F())
    assert logits.shape == (B, C) and Z.shape == (B, D)
    linears = [m for m in head.mlp if isinstance(m, nn.Linear)]
    assert len(linears) == depth
    assert _count(head.mlp, nn.ReLU) == max(depth - 1, 0)
    width = hidden_width or D
    expected = [(D, width)] + [(width, width)] * (depth - 2) + [(width, D)] if depth >= 2 else [(D, D)] * depth
    assert [(m.in_features, m.out_features) for m in linears] == expected
    assert isinstance(head.classifier, nn.Linear)
    assert (head.classifier.in_features, head.classifier.out_features) == (D, C)


@pytest.mark.parametrize("residual", [False, True])
def test_depth_zero_is_identity_linear_probe(residual):
    head = NMTuneHead(D, C, mlp_depth=0, residual=residual, batch_norm=True)
    F = _F()
    logits, Z = head(F)
    assert torch.equal(Z, F)
    assert head.residual_scale is None
    assert len(list(head.mlp.parameters())) == 0
    torch.testing.assert_close(logits, F @ head.classifier.weight.T + head.classifier.bias)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_batch_norm_present_iff_requested(depth, batch_norm):
    head = NMTuneHead(D, C, mlp_depth=depth, batch_norm=batch_norm)
    n_bn = _count(head, nn.BatchNorm1d)
    # one BatchNorm before each hidden activation; a single Linear has no hidden layer
    assert n_bn == (depth - 1 if batch_norm else 0)
    if batch_norm and depth > 1:
        kinds = [type(m) for m in head.mlp]
        i = kinds.index(nn.BatchNorm1d)
        assert kinds[i - 1] is nn.Linear and kinds[i + 1] is nn.ReLU


def test_dropout_follows_each_hidden_activation():
    head = NMTuneHead(D, C, mlp_depth=3, dropout=0.25)
    drops = [m for m in head.mlp if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(d.p == 0.25 for d in drops)
    assert _count(NMTuneHead(D, C, mlp_depth=3), nn.Dropout) == 0


def test_without_residual_Z_is_the_mlp_output():
    torch.manual_seed(1)
    head = NMTuneHead(D, C, mlp_depth=2).eval()
    F = _F()
    _, Z = head(F)
    torch.testing.assert_close(Z, head.mlp(F))
    assert head.residual_scale is None


@pytest.mark.parametrize("batch_norm", [False, True])
def test_residual_is_scaled_mlp_plus_input(batch_norm):
    torch.manual_seed(2)
    head = NMTuneHead(D, C, mlp_depth=2, hidden_width=4 * D, batch_norm=batch_norm, residual=True).eval()
    s = head.residual_scale
    assert isinstance(s, nn.Parameter) and s.requires_grad
    assert s.shape == (D,) and torch.equal(s.detach(), torch.ones(D))
    F = _F()
    with torch.no_grad():
        _, Z = head(F)
        torch.testing.assert_close(Z, head.mlp(F) + F)
        s.copy_(torch.linspace(-2.0, 3.0, D))
        _, Z = head(F)
        torch.testing.assert_close(Z, s * head.mlp(F) + F)
    # the scale is trained: it receives a gradient
    head.train()
    logits, Z = head(F)
    (logits.sum() + Z.sum()).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_classifier_bias_zero_and_logits_come_from_Z():
    torch.manual_seed(3)
    head = NMTuneHead(D, C, mlp_depth=2, residual=True).eval()
    assert torch.equal(head.classifier.bias.detach(), torch.zeros(C))
    bound = 1 / D**0.5  # kaiming_uniform_(a=sqrt(5)) bound on a fan-in of D
    assert head.classifier.weight.abs().max() <= bound
    assert head.classifier.weight.std() > 0.2 * bound
    F = _F()
    logits, Z = head(F)
    torch.testing.assert_close(logits, Z @ head.classifier.weight.T)
    torch.testing.assert_close(head.embed(F), Z)


def test_seeded_construction_is_reproducible():
    torch.manual_seed(4)
    a = NMTuneHead(D, C, mlp_depth=2)
    torch.manual_seed(4)
    b = NMTuneHead(D, C, mlp_depth=2)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
