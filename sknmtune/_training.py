"""The one training loop of sknmtune: a skorch net with the NMTune loss and a divergence guard.

:class:`~sknmtune.NMTuneClassifier` composes this (it does not subclass skorch), so
the sklearn-facing estimator keeps sklearn's conventions while skorch runs the
epochs, batching, optimizer, learning-rate schedule and history.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import LRScheduler
from skorch.utils import to_tensor
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR

from .losses import consistency_loss, covariance_loss, dominant_singular_value_loss

__all__ = ["RegularizerConfig", "TrainingDivergedError", "train_head"]


class TrainingDivergedError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


@dataclass(frozen=True)
class RegularizerConfig:
    """``L = CE + reg_lambda * (mse_weight*MSE + cov_weight*COV + svd_weight*SVD)``."""

    reg_lambda: float = 0.0
    mse_weight: float = 1.0
    cov_weight: float = 1.0
    svd_weight: float = 1.0
    svd_top_k: int = 1

    @property
    def active(self) -> bool:
        return self.reg_lambda > 0 and (self.mse_weight > 0 or self.cov_weight > 0 or self.svd_weight > 0)


class _NMTuneNet(NeuralNet):
    """skorch net whose module returns ``(logits, Z)``; adds the regularizers on ``Z``."""

    def __init__(self, *args, regularizer: RegularizerConfig, **kwargs):
        super().__init__(*args, **kwargs)
        self.regularizer = regularizer

    def _loss_terms(self, logits, Z, y_true, X) -> dict[str, torch.Tensor]:
        terms = {"ce": super().get_loss(logits, y_true, X=X, training=True)}
        reg = self.regularizer
        if reg.active:
            F = to_tensor(X, device=self.device)
            if reg.mse_weight > 0:
                terms["mse"] = consistency_loss(F, Z)
            if reg.cov_weight > 0:
                terms["cov"] = covariance_loss(Z)
            if reg.svd_weight > 0:
                terms["svd"] = dominant_singular_value_loss(Z, top_k=reg.svd_top_k)
        return terms

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, Z = y_pred
        try:
            terms = self._loss_terms(logits, Z, to_tensor(y_true, device=self.device), X)
        except torch.linalg.LinAlgError as exc:  # the SVD of a non-finite Z does not converge
            if bool(torch.isfinite(Z).all()):
                raise
            raise TrainingDivergedError(
                f"Training diverged at epoch {len(self.history)}: the representation Z = h(F) became non-finite, "
                "so the svd term cannot be computed. Lower lr, reg_lambda or the term's weight, or standardize "
                "the features."
            ) from exc
        reg = self.regularizer
        weights = {"ce": 1.0, "mse": reg.mse_weight, "cov": reg.cov_weight, "svd": reg.svd_weight}
        penalty = sum(weights[name] * value for name, value in terms.items() if name != "ce")
        total = terms["ce"] + reg.reg_lambda * penalty if reg.active else terms["ce"]
        # One host sync per step for the bookkeeping and the divergence guard.
        names = list(terms)
        numbers_ = torch.stack([terms[name].detach() for name in names] + [total.detach()]).tolist()
        values = dict(zip(names, numbers_[:-1]))
        if not math.isfinite(numbers_[-1]):
            bad = [name for name, value in values.items() if not math.isfinite(value)] or ["total (overflow)"]
            epoch = len(self.history)
            raise TrainingDivergedError(
                f"Training diverged at epoch {epoch}: the {', '.join(bad)} term(s) became non-finite "
                f"(values: {values}). Lower lr, reg_lambda or the term's weight, or standardize the features."
            )
        if training:
            for name, value in values.items():
                self.history.record_batch(f"loss_{name}", value)
        return total


def train_head(
    build_module: Callable[[], nn.Module],
    X: np.ndarray,
    y: np.ndarray,
    *,
    regularizer: RegularizerConfig,
    lr: float,
    weight_decay: float,
    max_epochs: int,
    batch_size: int,
    lr_schedule: str,
    device: torch.device,
    seed: int,
    verbose: int = 0,
) -> tuple[nn.Module, list[dict]]:
    """Build a module with ``build_module()`` under ``seed``, train it on ``(X, y)``.

    Returns the trained module (in eval mode) and the history, one dict per epoch.

    ``X`` is float32 ``(n, D)``, ``y`` int64 class indices. AdamW; the learning rate
    follows a per-step cosine schedule without warm-up when ``lr_schedule="cosine"``.
    A final batch of a single row is dropped each epoch (BatchNorm and the covariance
    are undefined on it). Global RNG state is left untouched.
    """
    n_samples = X.shape[0]
    batch_size = min(batch_size, n_samples)
    drop_last = n_samples % batch_size == 1
    steps_per_epoch = n_samples // batch_size if drop_last else math.ceil(n_samples / batch_size)
    callbacks = []
    if lr_schedule == "cosine":
        callbacks.append(
            ("lr_schedule", LRScheduler(CosineAnnealingLR, T_max=max(1, max_epochs * steps_per_epoch), step_every="batch"))
        )
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        module = build_module()
        generator = torch.Generator().manual_seed(seed)
        net = _NMTuneNet(
            module.to(device),
            regularizer=regularizer,
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.AdamW,
            lr=lr,
            optimizer__weight_decay=weight_decay,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train__shuffle=True,
            iterator_train__drop_last=drop_last,
            iterator_train__generator=generator,
            train_split=None,
            callbacks=callbacks,
            device=device,
            verbose=verbose,
        )
        net.fit(X, y)
    module.eval()
    return module, _summarize_history(net.history)


def _summarize_history(history) -> list[dict]:
    """One dict per epoch: skorch's epoch entries plus the mean of each loss term."""
    epochs = []
    for row in history:
        summary = {key: value for key, value in row.items() if key != "batches"}
        batches = row.get("batches", [])
        for key in sorted({k for batch in batches for k in batch if k.startswith("loss_")}):
            summary[key] = float(np.mean([batch[key] for batch in batches if key in batch]))
        epochs.append(summary)
    return epochs
