import numpy as np
import pytest
import torch
from torch import nn

from sknmtune.backbones import FrozenBackboneTransformer


def test_output_and_named_layer(counting_net):
    X = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    t = FrozenBackboneTransformer(counting_net, device="cpu", batch_size=3)
    with torch.no_grad():
        want = counting_net.act(counting_net.fc(torch.from_numpy(X))).numpy()
        pre = counting_net.fc(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(t.fit_transform(X), want, atol=1e-6)
    np.testing.assert_allclose(FrozenBackboneTransformer(counting_net, layer="fc", device="cpu").transform(X), pre, atol=1e-6)
    with pytest.raises(ValueError, match="layer='nope'.*'fc'"):
        FrozenBackboneTransformer(counting_net, layer="nope").fit(X)


def test_eval_mode_during_extraction_and_restored_after():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9))
    net.train()
    X = np.ones((16, 4), np.float32)
    t = FrozenBackboneTransformer(net, device="cpu")
    a, b = t.transform(X), t.transform(X)
    np.testing.assert_array_equal(a, b)  # dropout off
    assert net.training and net[1].training


def test_conv_layer_outputs_are_flattened_and_uint8_images_scaled():
    conv = nn.Conv2d(3, 2, 3, padding=1, bias=False)
    nn.init.constant_(conv.weight, 1.0)
    images = np.full((2, 5, 5, 3), 255, np.uint8)
    feats = FrozenBackboneTransformer(conv, device="cpu").transform(images)
    assert feats.shape == (2, 2 * 5 * 5)
    assert feats.max() == pytest.approx(27.0)  # 3x3x3 ones over pixels scaled to 1.0


def test_amp_and_channels_last_stay_close():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    images = np.random.default_rng(0).integers(0, 256, (4, 12, 12, 3), dtype=np.uint8)
    ref = FrozenBackboneTransformer(net, device="cpu").transform(images)
    cl = FrozenBackboneTransformer(net, device="cpu", channels_last=True).transform(images)
    bf = FrozenBackboneTransformer(net, device="cpu", amp_dtype="bf16").transform(images)
    np.testing.assert_allclose(cl, ref, atol=1e-5)
    assert bf.dtype == np.float32
    np.testing.assert_allclose(bf, ref, atol=0.05, rtol=0.05)
    with pytest.raises(ValueError, match="amp_dtype"):
        FrozenBackboneTransformer(net, amp_dtype="fp8").fit(images)


def test_wrong_output_rows_are_reported():
    class Bad(nn.Module):
        def forward(self, x):
            return x[:1]

    with pytest.raises(ValueError, match="1 rows for a batch of 3"):
        FrozenBackboneTransformer(Bad(), device="cpu").transform(np.zeros((3, 2)))


def _dynamo_compile_without_codegen(monkeypatch):
    """torch.compile with dynamo's real tracing and guards but no inductor code generation (fast)."""
    real, seen = torch.compile, {}

    def compile_(fn, **kwargs):
        seen.update(kwargs)
        return real(fn, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_)
    return seen


def test_compile_pads_the_partial_last_batch_so_one_graph_serves_every_batch(monkeypatch):
    import torch._dynamo

    seen = _dynamo_compile_without_codegen(monkeypatch)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    images = np.random.default_rng(0).integers(0, 256, (7, 10, 10, 3), dtype=np.uint8)
    eager = FrozenBackboneTransformer(net, device="cpu", batch_size=3, channels_last=True).transform(images)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = FrozenBackboneTransformer(net, device="cpu", batch_size=3, channels_last=True, compile=True)
    out = compiled.transform(images)  # batches of 3, 3 and 1 (padded to 3)
    assert seen["dynamic"] is False
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
    assert out.shape == (7, 4)
    np.testing.assert_allclose(out, eager, atol=1e-6)
    np.testing.assert_allclose(compiled.transform(images[:2]), eager[:2], atol=1e-6)  # a call smaller than one batch
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1


@pytest.mark.extended
def test_compile_with_inductor_matches_eager_features():
    # the real code generation (a C++ compiler on CPU); tens of seconds even for this tiny net
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    X = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    eager = FrozenBackboneTransformer(net, device="cpu", batch_size=3).transform(X)
    compiled = FrozenBackboneTransformer(net, device="cpu", batch_size=3, compile=True).transform(X)
    np.testing.assert_allclose(compiled, eager, atol=1e-5)
