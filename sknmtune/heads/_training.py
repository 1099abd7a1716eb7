"""The one training loop of sknmtune: a skorch net with the NMTune loss and a divergence guard.

:class:`~sknmtune.NMTuneClassifier` composes this (it does not subclass skorch), so
the sklearn-facing estimator keeps sklearn's conventions while skorch runs the
epochs, batching, optimizer, learning-rate schedule, early stopping and history.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, LRScheduler
from skorch.helper import predefined_split
from skorch.utils import to_tensor
from sklearn.model_selection import train_test_split
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

from .._utils import seeded_global_rng
from ..losses import regularizer_terms

__all__ = ["RegularizerConfig", "StoppingConfig", "TrainedHead", "TrainingDivergedError", "copy_optimizer_state", "train_head"]


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
    mse_reduction: str = "mean"
    svd_method: str = "auto"

    @property
    def active(self) -> bool:
        return self.reg_lambda > 0 and (self.mse_weight > 0 or self.cov_weight > 0 or self.svd_weight > 0)


@dataclass(frozen=True)
class StoppingConfig:
    """When training stops (scikit-learn's ``MLPClassifier`` semantics).

    ``early_stopping=True``: hold out a stratified ``validation_fraction`` of the rows, stop
    when the validation cross-entropy has not improved by ``tol`` for ``n_iter_no_change``
    epochs, and restore the weights of the best epoch. ``early_stopping=False``: stop when the
    training loss has not improved by ``tol`` for ``n_iter_no_change`` epochs. With
    ``n_iter_no_change=None`` (and no early stopping) exactly ``max_epochs`` epochs run.
    """

    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: int | None = None
    tol: float = 1e-4


class _Interrupted(Exception):
    """Ctrl-C during the epoch loop, carried past skorch (whose ``partial_fit`` swallows ``KeyboardInterrupt`` and
    returns as if training had finished): :func:`train_head` raises it again as ``KeyboardInterrupt``."""


class _StopTraining(Exception):
    """The end of training decided by :class:`_EarlyStopping` (skorch's own raises ``KeyboardInterrupt``, which could
    not be told apart from Ctrl-C)."""


class _EarlyStopping(EarlyStopping):
    """skorch's :class:`~skorch.callbacks.EarlyStopping`, stopping with :class:`_StopTraining` instead of
    ``KeyboardInterrupt``: the epoch loop ends the same way, and a real Ctrl-C stays an interruption."""

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            raise _StopTraining from None


class _NMTuneNet(NeuralNet):
    """skorch net whose module returns ``(logits, Z)``; adds the regularizers on ``Z``.

    The validation loss (used by early stopping) is the plain task loss (cross-entropy, or the
    regression criterion): it measures the predictor, not how well the regularizers are satisfied.
    """

    def __init__(self, *args, regularizer: RegularizerConfig, task_term: str = "ce", **kwargs):
        super().__init__(*args, **kwargs)
        self.regularizer = regularizer
        self.task_term = task_term  # history name of the task loss: "ce", or "task" for regression

    def _task_loss(self, logits, y_true, X, training: bool) -> torch.Tensor:
        """The task loss of a batch: the criterion's mean, or with weights ``mean(w_i * loss_i)``.

        Weighted batches carry ``(y, w)``, ``w`` already divided by the mean weight of its split
        (training or held-out rows), so a batch's loss is an unbiased estimate of the split's weighted
        mean ``sum(w_i loss_i) / sum(w_i)`` and the batch-size-weighted mean skorch takes over the
        validation batches is that weighted mean exactly.
        """
        if not isinstance(y_true, (list, tuple)):
            return super().get_loss(logits, y_true, X=X, training=training)
        y_true, weight = y_true
        criterion = self.criterion_  # a torch loss module: its reduction is read at each call
        reduction, criterion.reduction = criterion.reduction, "none"
        try:
            rows = criterion(logits, y_true)
        finally:
            criterion.reduction = reduction
        rows = rows.reshape(rows.shape[0], -1).mean(dim=1)  # multi-output regression: mean over targets
        return (rows * weight.to(rows.dtype)).mean()

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except _StopTraining:  # early stopping: training is done (on_train_end restores the best epoch)
            return self
        except KeyboardInterrupt as exc:
            raise _Interrupted from exc

    def infer(self, x, **fit_params):
        # A views batch (B, 2, D) from _ViewPairs: both views through the module in one pass (BatchNorm
        # sees the 2B rows); the outputs stack view a's rows over view b's.
        if isinstance(x, torch.Tensor) and x.ndim == 3:
            x = to_tensor(x, device=self.device)
            return self.module_(torch.cat([x[:, 0], x[:, 1]]), **fit_params)
        return super().infer(x, **fit_params)

    def _loss_terms(self, logits, Z, y_true, X) -> dict[str, torch.Tensor]:
        if isinstance(X, torch.Tensor) and X.ndim == 3:
            # The authors' two-view step: the task loss on both views (their mean, so a step weighs as
            # a one-view step) and the regularizers over all 2B rows, as the authors compute them: the
            # covariance and singular-value terms on both views' Z, the consistency of each view's Z with
            # the *other* view's F (an input, so no gradient flows into it): an invariance term, not a
            # self-anchor.
            both = [torch.cat([t, t]) for t in y_true] if isinstance(y_true, (list, tuple)) else torch.cat([y_true, y_true])
            task = self._task_loss(logits, both, X, training=True)
            X = torch.cat([X[:, 1], X[:, 0]])
        else:
            task = self._task_loss(logits, y_true, X, training=True)
        terms = {self.task_term: task}
        reg = self.regularizer
        if reg.active:
            # The terms with a non-zero weight, computed together (one Gram matrix, one backward node).
            names = tuple(
                name for name, weight in (("mse", reg.mse_weight), ("cov", reg.cov_weight), ("svd", reg.svd_weight))
                if weight > 0
            )
            values = regularizer_terms(
                to_tensor(X, device=self.device), Z, names, top_k=reg.svd_top_k, mse_reduction=reg.mse_reduction,
                svd_method=reg.svd_method,
            )
            terms.update(zip(names, values.unbind()))
        return terms

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, Z = y_pred
        if not training:
            return self._task_loss(logits, to_tensor(y_true, device=self.device), X, training=False)
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
        weights = {"mse": reg.mse_weight, "cov": reg.cov_weight, "svd": reg.svd_weight}
        task = terms[self.task_term]
        penalty = sum(weights[name] * value for name, value in terms.items() if name != self.task_term)
        total = task + reg.reg_lambda * penalty if reg.active else task
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
        for name, value in values.items():
            self.history.record_batch(f"loss_{name}", value)
        return total


class _ArrayBatches(torch.utils.data.Dataset):
    """``(X, y)`` as tensors, indexed a whole batch at a time (the sampler yields index lists).

    skorch's own Dataset indexes through scikit-learn's ``_safe_indexing`` per batch; on the small
    heads trained here that bookkeeping cost as much as the forward pass.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray | None = None, sample_weight: np.ndarray | None = None) -> None:
        # joblib hands read-only memmaps to parallel fits; the tensors share their memory and are only
        # read (each batch is a gathered copy), so torch's warning about non-writable arrays is moot
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
            self.X = torch.as_tensor(X)
            self.y = torch.as_tensor(y) if y is not None else torch.zeros(len(self.X))
        # per-row weights (normalized to mean 1 by train_head), or None: batches then carry y alone
        self.weight = torch.as_tensor(sample_weight, dtype=torch.float32) if sample_weight is not None else None

    def __len__(self) -> int:
        return len(self.X)

    def _targets(self, indices: torch.Tensor) -> Any:
        if self.weight is None:
            return self.y[indices]
        return self.y[indices], self.weight[indices]

    def __getitem__(self, indices: Any) -> tuple[torch.Tensor, Any]:
        indices = torch.as_tensor(indices)
        return self.X[indices], self._targets(indices)


class _ViewPairs(_ArrayBatches):
    """Training features with a views axis, ``(n, V, D)``; each batch draws two distinct views per row.

    Index 0 of the views axis is the center crop, indices ``1..V-1`` augmented views: with at least two
    augmented views the pair is drawn among them (the authors train on augmented views only); with one,
    the pair is the center crop and that view in random order. Draws come from a generator seeded once
    per fit, in the sampler's order, so a fit is reproducible.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, seed: int, sample_weight: np.ndarray | None = None) -> None:
        super().__init__(X, y, sample_weight)
        n_views = self.X.shape[1]
        if n_views < 2:
            raise ValueError(f"Training with views needs at least 2 views per sample; got {n_views}.")
        self.low = 1 if n_views >= 3 else 0
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __getitem__(self, indices: Any) -> tuple[torch.Tensor, torch.Tensor]:
        indices = torch.as_tensor(indices)
        span = self.X.shape[1] - self.low
        first = torch.randint(span, (len(indices),), generator=self.generator)
        # a second view distinct from the first: shift by 1..span-1 around the pool
        second = (first + torch.randint(1, span, (len(indices),), generator=self.generator)) % span
        rows = indices.unsqueeze(1)
        pair = self.X[rows, torch.stack([first, second], dim=1) + self.low]
        return pair, self._targets(indices)


def _validation_indices(
    y: np.ndarray, fraction: float, seed: int, *, classification: bool = True
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(training rows, held-out rows)`` for early stopping; ``None`` when the data is too small for a split.

    For classification it is stratified when every class has at least two rows and the held-out
    part can hold one row per class; a plain shuffled split otherwise. At least two rows stay on
    each side.
    """
    n_samples = y.shape[0]
    n_valid = int(math.ceil(fraction * n_samples))
    if n_valid < 2 or n_samples - n_valid < 2:
        return None
    stratify = None
    if classification:
        counts = np.bincount(y)
        counts = counts[counts > 0]
        if counts.min() >= 2 and n_valid >= len(counts) and n_samples - n_valid >= len(counts):
            stratify = y
    train, valid = train_test_split(np.arange(n_samples), test_size=n_valid, random_state=seed, stratify=stratify)
    return train, valid


def _validation_split(
    X: np.ndarray, y: np.ndarray, fraction: float, seed: int, *, classification: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(X_train, X_valid, y_train, y_valid)`` of :func:`_validation_indices`, or ``None``."""
    split = _validation_indices(y, fraction, seed, classification=classification)
    if split is None:
        return None
    train, valid = split
    return X[train], X[valid], y[train], y[valid]


def _unit_mean(weight: np.ndarray | None) -> np.ndarray | None:
    """``weight / mean(weight)`` in float32 (a batch's weighted loss is then ``mean(w_i * loss_i)``)."""
    if weight is None:
        return None
    weight = np.asarray(weight, dtype=np.float64)
    return (weight / weight.mean()).astype(np.float32)


class TrainedHead(NamedTuple):
    """What :func:`train_head` returns."""

    module: nn.Module
    history: list[dict]
    optimizer: torch.optim.Optimizer  # its state_dict() continues training (see copy_optimizer_state)


def copy_optimizer_state(optimizer: torch.optim.Optimizer) -> dict:
    """A CPU copy of ``optimizer``'s state dict, to keep on a fitted estimator (``train_head(optimizer_state=)``)."""
    return _detached_cpu(optimizer.state_dict())


def _detached_cpu(value: Any) -> Any:
    """A copy of an optimizer state dict with every tensor on the CPU (for keeping or pickling)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _detached_cpu(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_detached_cpu(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_detached_cpu(item) for item in value)
    return value


def _schedule_callback(lr_schedule: str, total_steps: int):
    if lr_schedule == "cosine":
        return LRScheduler(CosineAnnealingLR, T_max=max(1, total_steps), step_every="batch")
    if lr_schedule == "linear":
        # Linear decay from lr to 0 over all steps (the paper's language-model setup, App. B.3).
        return LRScheduler(
            LambdaLR, lr_lambda=lambda step: max(0.0, 1.0 - step / max(1, total_steps)), step_every="batch"
        )
    return None


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
    stopping: StoppingConfig = StoppingConfig(),
    criterion: type[nn.Module] = nn.CrossEntropyLoss,
    verbose: int = 0,
    sample_weight: np.ndarray | None = None,
    module: nn.Module | None = None,
    optimizer_state: dict | None = None,
) -> TrainedHead:
    """Build a module with ``build_module()`` under ``seed`` (or continue ``module``), train it on ``(X, y)``.

    Returns the trained module (in eval mode), the history, one dict per epoch, and the optimizer
    (:func:`copy_optimizer_state` copies its state); with early stopping the module holds the weights of the epoch with the
    lowest validation task loss (``history[i]["valid_loss_best"]`` marks it).

    ``X`` is float32 ``(n, D)``, or ``(n, V, D)`` with views (index 0 the center crop): each step
    then draws two distinct views per row (see :class:`_ViewPairs`), the task loss covers both, and
    the regularizers cover both views' ``Z`` (2B rows), each held to the other view's ``F`` by the consistency
    term; early stopping validates on the
    center crop. ``y`` int64 class indices for the default cross-entropy
    ``criterion``, or float32 targets ``(n, k)`` for a regression criterion (e.g.
    ``nn.MSELoss``, ``nn.HuberLoss``; the early-stopping split is then not stratified). AdamW; the learning rate
    follows ``lr_schedule`` per step (``"cosine"`` or ``"linear"`` decay to zero over
    ``max_epochs``, or ``"constant"``). A final batch of a single row is dropped each epoch
    (BatchNorm and the covariance are undefined on it). Global RNG state is left untouched, and
    fits running in concurrent threads give the results they give one at a time.

    ``sample_weight`` (positive, one per row, or ``None``) weights the task loss: each batch's task
    loss is ``mean(w_i * loss_i)`` with ``w`` divided by the mean weight of the training rows, an
    unbiased estimate of the weighted mean ``sum(w_i loss_i) / sum(w_i)`` (a weight of 2 is a
    duplicated row in expectation); the held-out loss of early stopping is the held-out rows'
    weighted mean. The regularizers and BatchNorm use the batch's rows unweighted.

    ``module`` continues training an existing module (warm start; ``build_module`` is not called)
    and ``optimizer_state`` (a state dict returned earlier) restores AdamW's moments and step
    counts, with ``lr`` and ``weight_decay`` taken from the arguments.
    """
    classification = criterion is nn.CrossEntropyLoss
    split = (
        _validation_indices(y, stopping.validation_fraction, seed, classification=classification)
        if stopping.early_stopping else None
    )
    weight_valid = None
    if split is not None:
        train, valid = split
        X, X_valid, y, y_valid = X[train], X[valid], y[train], y[valid]
        if sample_weight is not None:
            sample_weight, weight_valid = sample_weight[train], _unit_mean(sample_weight[valid])
        if X_valid.ndim == 3:
            X_valid = np.ascontiguousarray(X_valid[:, 0])  # validate on the center crop, as predictions are made
    sample_weight = _unit_mean(sample_weight)
    n_samples = X.shape[0]
    batch_size = min(batch_size, n_samples)
    drop_last = n_samples % batch_size == 1
    steps_per_epoch = n_samples // batch_size if drop_last else math.ceil(n_samples / batch_size)
    callbacks = []
    schedule = _schedule_callback(lr_schedule, max_epochs * steps_per_epoch)
    if schedule is not None:
        callbacks.append(("lr_schedule", schedule))
    if split is not None:
        callbacks.append(("early_stopping", _EarlyStopping(
            monitor="valid_loss", patience=stopping.n_iter_no_change or max_epochs, threshold=stopping.tol,
            threshold_mode="abs", load_best=True, sink=print if verbose else _silent,
        )))
    elif stopping.n_iter_no_change is not None:
        callbacks.append(("plateau_stopping", _EarlyStopping(
            monitor="train_loss", patience=stopping.n_iter_no_change, threshold=stopping.tol,
            threshold_mode="abs", sink=print if verbose else _silent,
        )))
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    dataset = (
        functools.partial(_ArrayBatches, sample_weight=sample_weight) if X.ndim == 2
        else functools.partial(_ViewPairs, seed=seed, sample_weight=sample_weight)
    )
    with ExitStack() as rng_section:
        # Build under the lock, on a forked and seeded global RNG (the caller's state is restored).
        rng_section.enter_context(seeded_global_rng(seed, fork_devices))
        if module is None:
            module = build_module()
        if not _draws_from_global_rng(module):
            # Training then draws only from the generators below: release the lock so that fits
            # in other threads run concurrently. With dropout the whole fit stays in the section.
            rng_section.close()
        generator = torch.Generator().manual_seed(seed)
        net = _NMTuneNet(
            module.to(device),
            regularizer=regularizer,
            task_term="ce" if classification else "task",
            criterion=criterion,
            optimizer=torch.optim.AdamW,
            lr=lr,
            optimizer__weight_decay=weight_decay,
            # One fused kernel per step over all parameters: on one CPU thread 4x faster than the
            # multi-tensor (foreach) update for a 1280-1280-1280 MLP, equal to it up to float rounding.
            **({"optimizer__fused": True} if device.type in _FUSED_ADAMW_DEVICES else {"optimizer__foreach": True}),
            dataset=dataset,
            max_epochs=max_epochs,
            batch_size=batch_size,
            # Whole batches are indexed at once (one fancy-indexing call per step instead of one
            # __getitem__ per row); the shuffled order is that of DataLoader(shuffle=True, generator).
            iterator_train__batch_size=None,
            iterator_train__sampler=BatchSampler(
                RandomSampler(range(n_samples), generator=generator), batch_size, drop_last
            ),
            # Each DataLoader iterator draws a base seed: from these generators, not the global RNG.
            iterator_train__generator=torch.Generator().manual_seed(seed),
            iterator_valid__generator=torch.Generator().manual_seed(seed),
            iterator_valid__batch_size=None,
            iterator_valid__sampler=BatchSampler(
                SequentialSampler(range(len(y_valid) if split is not None else 0)), 4096, False
            ),
            train_split=(
                predefined_split(_ArrayBatches(X_valid, y_valid, weight_valid)) if split is not None else None
            ),
            callbacks=callbacks,
            device=device,
            verbose=verbose,
            # skorch formats an epoch table even when it prints nothing: skip it when silent.
            **({} if verbose else {"callbacks__print_log": None}),
        )
        with _flushing_subnormals(device):
            try:
                if optimizer_state is None:
                    net.fit(X, y)
                else:
                    net.initialize()
                    _load_optimizer_state(net.optimizer_, optimizer_state, lr=lr, weight_decay=weight_decay)
                    net.partial_fit(X, y)  # initialized: the module and the restored optimizer train on
            except _Interrupted:
                raise KeyboardInterrupt from None  # a fit cut short is not a fitted head
    module.eval()
    return TrainedHead(module, _summarize_history(net.history), net.optimizer_)


def _load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, *, lr: float, weight_decay: float) -> None:
    """Restore AdamW's moments and step counts; the learning rate and weight decay are today's parameters."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["weight_decay"] = weight_decay


#: devices with torch's fused AdamW kernel (other devices use the multi-tensor update)
_FUSED_ADAMW_DEVICES = frozenset({"cpu", "cuda"})


@contextmanager
def _flushing_subnormals(device: torch.device):
    """Treat subnormal floats as zero in the calling thread while a CPU head trains.

    Once a head separates its training data, softmax probabilities and the gradients behind them
    underflow into the subnormal range (below 1.2e-38 in float32), where x86 arithmetic is many times
    slower: the authors' MLP preset on PACS photo features (EfficientNet-Lite0, one thread) slowed
    from 2 s to 12 s per epoch and took 276 s, against 56 s with flushing and the same test accuracy.
    Flushing changes only those values (to zero). The setting is per thread, so it is made only for
    single-threaded training (as in parallel searches): torch's intra-op threads would neither share
    it nor lose it afterwards. The caller's setting is restored on exit.
    """
    if device.type != "cpu" or torch.get_num_threads() != 1 or _flushes_subnormals():
        yield
        return
    enabled = torch.set_flush_denormal(True)  # False where the CPU cannot: nothing changed then
    try:
        yield
    finally:
        if enabled:
            torch.set_flush_denormal(False)


def _flushes_subnormals() -> bool:
    """Whether this thread's float arithmetic flushes subnormals (a float32 1e-39 comes out as zero)."""
    return bool(torch.tensor([1e-39], dtype=torch.float32).mul(1.0).item() == 0.0)


def _draws_from_global_rng(module: nn.Module) -> bool:
    """Whether training ``module`` draws from torch's global RNG (dropout does)."""
    return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in module.modules())


def _silent(*args, **kwargs) -> None:
    """A sink that prints nothing (skorch's early stopping announces itself otherwise)."""


def _summarize_history(history) -> list[dict]:
    """One dict per epoch: skorch's epoch entries, the mean of each loss term, the last step's lr."""
    epochs = []
    for row in history:
        summary = {key: value for key, value in row.items() if key != "batches"}
        batches = row.get("batches", [])
        for key in sorted({k for batch in batches for k in batch if k.startswith("loss_")}):
            summary[key] = float(np.mean([batch[key] for batch in batches if key in batch]))
        lrs = [batch["event_lr"] for batch in batches if "event_lr" in batch]
        if lrs:  # the learning rate of the epoch's last step (scheduled runs)
            summary["lr"] = float(lrs[-1])
        epochs.append(summary)
    return epochs
