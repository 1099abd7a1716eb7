"""The supervised pre-training loop behind the demo's noisy backbones (sknmtune.pretraining)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sknmtune.pretraining import freeze, predict_labels, train_epochs


def _data(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=g)
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).long()


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _per_epoch(epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(100 + epoch)


def test_training_learns_and_is_deterministic():
    X, y = _data()
    runs = []
    for _ in range(2):
        model = _model()
        losses = train_epochs(model, X, y, torch.optim.Adam(model.parameters(), lr=0.05), epochs=15, batch_size=16,
                              generator=torch.Generator().manual_seed(0))
        runs.append((losses, [p.detach().clone() for p in model.parameters()]))
    (losses, weights), (losses2, weights2) = runs
    assert len(losses) == 15 and losses[-1] < 0.5 * losses[0]
    assert losses == losses2 and all(torch.equal(a, b) for a, b in zip(weights, weights2))
    assert (predict_labels(model, X) == y.numpy()).mean() > 0.9


def test_resuming_at_an_epoch_equals_one_uninterrupted_run():
    # what a resumable study relies on: per-epoch generators make epochs 2..3 independent of how 0..1 ran
    X, y = _data()
    straight = _model()
    opt = torch.optim.SGD(straight.parameters(), lr=0.1, momentum=0.9)
    train_epochs(straight, X, y, opt, epochs=4, batch_size=16, generator=_per_epoch)

    resumed = _model()
    opt = torch.optim.SGD(resumed.parameters(), lr=0.1, momentum=0.9)
    train_epochs(resumed, X, y, opt, epochs=2, batch_size=16, generator=_per_epoch)
    state = ({k: v.clone() for k, v in resumed.state_dict().items()}, opt.state_dict())
    again = _model()
    again.load_state_dict(state[0])
    opt = torch.optim.SGD(again.parameters(), lr=0.1, momentum=0.9)
    opt.load_state_dict(state[1])
    seen = []
    train_epochs(again, X, y, opt, epochs=4, batch_size=16, generator=_per_epoch, start_epoch=2,
                 on_epoch=lambda epoch, loss: seen.append(epoch))
    assert seen == [2, 3]
    for a, b in zip(straight.parameters(), again.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_hooks_drop_last_and_augmentation():
    X, y = _data(n=50)
    model = _model()
    steps, augmented = [], []

    def augment(batch, gen):
        augmented.append(len(batch))
        return batch + 0.01 * torch.randn(batch.shape, generator=gen)

    scheduler_opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(scheduler_opt, step_size=1, gamma=0.5)
    train_epochs(model, X, y, scheduler_opt, epochs=2, batch_size=16, generator=_per_epoch, augment=augment,
                 drop_last=True, scheduler=scheduler, on_step=lambda: steps.append(1))
    assert len(steps) == 6 and augmented == [16] * 6  # 50 // 16 = 3 full batches per epoch, the ragged one dropped
    assert scheduler_opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**6)  # stepped once per batch


def test_errors_name_the_problem():
    X, y = _data(n=10)
    model = _model()
    with pytest.raises(ValueError, match="batch_size=16 exceeds the 10 training samples"):
        train_epochs(model, X, y, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=16,
                     generator=torch.Generator(), drop_last=True)
    with pytest.raises(FloatingPointError, match="diverged"):
        train_epochs(model, X * 1e30, y, torch.optim.SGD(model.parameters(), lr=1e30), epochs=3, batch_size=5,
                     generator=torch.Generator())


def test_freeze_and_batched_prediction():
    X, _ = _data()
    model = freeze(_model().train())
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    whole = predict_labels(model, X)
    assert whole.dtype.kind == "i" and whole.shape == (48,)
    np.testing.assert_array_equal(predict_labels(model, X, batch_size=7, transform=lambda b: b * 1.0), whole)
