"""Supervised pre-training of a torch classifier on in-memory tensors: the loop behind noisy backbones.

The demo (:mod:`sknmtune.cli.demo`) pre-trains its small digits CNN with :func:`train_epochs`; the
hooks (a generator per epoch, augmentation drawing from it, a learning-rate schedule stepped per
batch, mixed precision, ``channels_last``, resuming at an epoch, per-step and per-epoch callbacks)
are what a larger study such as ``benchmarks/noisy_pretraining.py`` needs as well. Only the labels
need to change between two runs for them to see the same initialization, batches and augmentation:
the caller seeds the model's initialization and passes seeded generators.

Public for studies that pre-train backbones (the demo, ``python -m benchmarks.noisy_pretraining``); its functions
work on tensors and modules, not on scikit-learn inputs, so the package root does not re-export them.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["freeze", "predict_labels", "train_epochs"]

def _autocast(device: torch.device, enabled: bool) -> Any:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train_epochs(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator | Callable[[int], torch.Generator],
    scheduler: Any = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    drop_last: bool = False,
    amp: bool = False,
    channels_last: bool = False,
    start_epoch: int = 0,
    on_step: Callable[[], None] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` with cross-entropy on ``(X, y)`` for epochs ``start_epoch .. epochs - 1``.

    Each epoch visits the samples in the order of ``torch.randperm`` drawn from the epoch's
    generator, in batches of ``batch_size`` (the ragged last batch dropped with ``drop_last``);
    each batch is ``augment``-ed (drawing from the same generator), fed forward (under bf16
    autocast with ``amp``), and followed by one optimizer step and, when given, one ``scheduler``
    step. The model is left in train mode.

    Parameters
    ----------
    model : torch.nn.Module
        On the device of ``X``.
    X : torch.Tensor of shape (n_samples, ...)
        Inputs, already on the training device (``augment`` may turn them into model inputs).
    y : torch.Tensor of shape (n_samples,)
        Integer class labels on the same device.
    optimizer : torch.optim.Optimizer
    epochs : int
        The epoch to stop before (the total number of epochs of a run started at 0).
    batch_size : int
    generator : torch.Generator or callable
        One generator for the whole run, or ``epoch -> generator``. The permutation is drawn on the
        generator's device and moved to the device of ``X``.
    scheduler : learning-rate scheduler, default=None
        Stepped after every optimizer step.
    augment : callable, default=None
        ``augment(batch, generator) -> model input``.
    drop_last : bool, default=False
    amp : bool, default=False
        bf16 autocast for the forward pass.
    channels_last : bool, default=False
        Feed batches in channels_last memory format.
    start_epoch : int, default=0
        First epoch to run (to resume a run whose model, optimizer and scheduler were restored).
    on_step : callable, default=None
        Called after every optimizer step (e.g. a progress bar's update).
    on_epoch : callable, default=None
        ``on_epoch(epoch, mean_loss)`` after every epoch (e.g. logging, a checkpoint).

    Returns
    -------
    losses : list of float
        The mean training loss of each epoch run.

    Raises
    ------
    ValueError
        If ``batch_size`` exceeds the samples with ``drop_last=True`` (no step would run).
    FloatingPointError
        If an epoch's mean loss is NaN or infinite (the run diverged).

    Examples
    --------
    >>> import torch
    >>> from sknmtune.pretraining import train_epochs
    >>> _ = torch.manual_seed(0)
    >>> X, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    >>> model = torch.nn.Linear(4, 2)
    >>> losses = train_epochs(model, X, y, torch.optim.SGD(model.parameters(), lr=0.1), epochs=3,
    ...                       batch_size=8, generator=torch.Generator().manual_seed(0))
    >>> len(losses)
    3
    """
    n = len(X)
    steps = n // batch_size if drop_last else math.ceil(n / batch_size)
    if steps < 1:
        raise ValueError(f"batch_size={batch_size} exceeds the {n} training samples (drop_last=True).")
    losses: list[float] = []
    model.train()
    for epoch in range(start_epoch, epochs):
        gen = generator(epoch) if callable(generator) else generator
        order = torch.randperm(n, generator=gen, device=gen.device).to(X.device)
        loss_sum = torch.zeros((), device=X.device)
        for step in range(steps):
            idx = order[step * batch_size : (step + 1) * batch_size]
            x = X[idx] if augment is None else augment(X[idx], gen)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with _autocast(X.device, amp):
                loss = nn.functional.cross_entropy(model(x), y[idx])
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach()
            if on_step is not None:
                on_step()
        mean_loss = float(loss_sum) / steps
        if not math.isfinite(mean_loss):
            raise FloatingPointError(f"the training loss became {mean_loss} at epoch {epoch + 1}: the run diverged.")
        losses.append(mean_loss)
        if on_epoch is not None:
            on_epoch(epoch, mean_loss)
    return losses


@torch.inference_mode()
def predict_labels(
    model: nn.Module,
    X: torch.Tensor,
    *,
    batch_size: int | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    amp: bool = False,
    channels_last: bool = False,
) -> np.ndarray:
    """The arg-max class of ``model`` (put in eval mode) for every row of ``X``, as a NumPy array.

    ``batch_size=None`` runs all of ``X`` at once; ``transform`` turns a batch into model input.

    Examples
    --------
    >>> import torch
    >>> from sknmtune.pretraining import predict_labels
    >>> model = torch.nn.Linear(2, 2, bias=False)
    >>> _ = model.weight.data.copy_(torch.eye(2))
    >>> predict_labels(model, torch.tensor([[1.0, 0.0], [0.0, 1.0]])).tolist()
    [0, 1]
    """
    model.eval()
    size = len(X) if batch_size is None else batch_size
    out = []
    for start in range(0, len(X), max(size, 1)):
        x = X[start : start + size]
        if transform is not None:
            x = transform(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(X.device, amp):
            out.append(model(x).argmax(1).cpu())
    return torch.cat(out).numpy()


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients for every parameter; returns ``model``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
