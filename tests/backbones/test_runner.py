"""TorchRunner: the memory format ("auto" = channels_last on the CPU for convolutional modules)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sknmtune.backbones._inputs import Inputs
from sknmtune.backbones._runner import TorchBackend, TorchRunner, resolve_channels_last

CPU = torch.device("cpu")


class FormatProbe(nn.Module):
    """A small CNN that records whether each batch it sees is in channels_last memory order."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        return self.pool(torch.relu(self.conv(x))).flatten(1)


def test_auto_is_channels_last_on_cpu_for_convolutional_modules_only():
    assert resolve_channels_last("auto", CPU, FormatProbe()) is True
    assert resolve_channels_last(None, CPU, FormatProbe()) is True
    assert resolve_channels_last("auto", CPU, nn.Sequential(nn.Linear(4, 3), nn.Tanh())) is False
    assert resolve_channels_last("auto", torch.device("cuda"), FormatProbe()) is False  # resolution does not touch the GPU
    assert resolve_channels_last("auto", torch.device("mps"), FormatProbe()) is False
    for value in (True, False, np.bool_(True)):
        assert resolve_channels_last(value, CPU, nn.Linear(2, 2)) is bool(value)
    for bad in ("yes", "AUTO", 1):
        with pytest.raises(ValueError, match="channels_last must be True, False or 'auto'"):
            resolve_channels_last(bad, CPU, FormatProbe())


@pytest.mark.parametrize("channels_last, expected", [("auto", True), (True, True), (False, False)])
def test_runner_feeds_the_resolved_memory_format_and_features_do_not_change(images, channels_last, expected):
    reference_net = FormatProbe()
    reference = TorchRunner(reference_net, reference_net, device=CPU, channels_last=False)
    net = FormatProbe()
    runner = TorchRunner(net, net, device=CPU, channels_last=channels_last)
    assert runner.channels_last is expected
    assert net.conv.weight.is_contiguous(memory_format=torch.channels_last) is expected
    backend = TorchBackend(runner, None, "probe", description="probe", accepts=frozenset({"images"}))
    ref_backend = TorchBackend(reference, None, "probe", description="probe", accepts=frozenset({"images"}))
    inputs = Inputs("images", images)
    ours = np.concatenate([f for _, f in backend.iter_features(inputs, np.arange(len(images)), 4)])
    theirs = np.concatenate([f for _, f in ref_backend.iter_features(inputs, np.arange(len(images)), 4)])
    assert net.seen == [expected, expected]  # two batches (4 + 2 images), both in the resolved format
    assert reference_net.seen == [False, False]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_auto_leaves_vector_models_and_their_batches_alone():
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    runner = TorchRunner(net, net, device=CPU)  # the runner's default is "auto"
    assert runner.channels_last is False
    out = runner(torch.ones(5, 4))
    assert out.shape == (5, 3) and out.dtype == torch.float32
