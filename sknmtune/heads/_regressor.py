"""``NMTuneRegressor``: the NMTune head with a regression loss, as a scikit-learn estimator."""

from __future__ import annotations

import functools
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
import torch
from torch import nn

from ._base import HEAD_PARAMETER_CONSTRAINTS, _column_statistics, _NMTuneHeadMixin
from ._training import _validation_indices

__all__ = ["NMTuneRegressor"]

#: Penalties the readout's ridge start chooses from, as multiples of the mean eigenvalue of the centered
#: (weighted) Gram matrix of ``Z`` (so the choice does not depend on the units of the features).
_RIDGE_START_ALPHAS = np.logspace(-6, 2, 17)


def _ridge_start(Z: np.ndarray, Y: np.ndarray, weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """``(coef (k, D), intercept (k,))`` of the ridge regression of ``Y`` (n, k) on ``Z`` (n, D), or None.

    The penalty is the one of :data:`_RIDGE_START_ALPHAS` with the lowest leave-one-out error, computed in
    closed form from one eigendecomposition. With weights, a weight of ``k`` is ``k`` copies of the row
    (the head's convention): the leave-one-out residual is that of leaving one copy out, so integer weights
    give exactly the start of the repeated rows. None when ``Z`` or the fit is not finite (the training
    loop then reports the problem).
    """
    if not np.isfinite(Z).all() or Z.shape[0] < 2:
        return None
    w = np.ones(Z.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64)
    total = w.sum()
    z_mean, y_mean = w @ Z / total, w @ Y / total
    Zc, Yc = Z - z_mean, Y - y_mean
    gram = Zc.T @ (Zc * w[:, None])
    eigvals, eigvecs = np.linalg.eigh(gram)
    eigvals = np.clip(eigvals, 0.0, None)
    scale = eigvals.mean()
    if not np.isfinite(scale) or scale <= 0:  # constant features: the intercept alone
        return np.zeros((Y.shape[1], Z.shape[1])), y_mean
    projected = Zc @ eigvecs  # (n, D)
    moments = eigvecs.T @ (Zc * w[:, None]).T @ Yc  # (D, k)
    best, best_error = None, np.inf
    for alpha in _RIDGE_START_ALPHAS * scale:
        inverse = 1.0 / (eigvals + alpha)
        coef = eigvecs @ (inverse[:, None] * moments)  # (D, k)
        leverage = (projected**2) @ inverse + 1.0 / total  # one copy's leverage, the intercept's included
        residual = (Yc - Zc @ coef) / np.clip(1.0 - leverage, 1e-12, None)[:, None]
        error = float(w @ (residual**2).sum(axis=1))
        if np.isfinite(error) and error < best_error:
            best, best_error = coef, error
    if best is None or not np.isfinite(best).all():
        return None
    return best.T, y_mean - z_mean @ best

def _criterion(loss: str, huber_delta: float):
    """The torch criterion of ``loss``, on standardized targets."""
    if loss == "huber":
        return functools.partial(nn.HuberLoss, delta=float(huber_delta))
    return nn.MSELoss


class NMTuneRegressor(_NMTuneHeadMixin, RegressorMixin, TransformerMixin, BaseEstimator):
    """NMTune head on frozen features for regression: an MLP ``h`` (``F -> Z``) and a linear map ``Z -> y``.

    The head, its regularizers and its training loop are those of
    :class:`~sknmtune.NMTuneClassifier`, with the cross-entropy replaced by a regression loss:
    ``L = loss(y, y_hat) + reg_lambda * (mse_weight * L_MSE + cov_weight * L_COV
    + svd_weight * L_SVD)``. The same estimator gives the three heads: a linear regressor on
    ``F`` (``mlp_depth=0``), MLP tuning (``reg_lambda=0``) and NMTune (the defaults).

    The targets are standardized inside (each column to zero mean and unit variance, statistics
    of the training rows), so the learning rate, the balance between the task loss and the
    regularizers, ``huber_delta`` and ``tol`` do not depend on the units of ``y``; predictions are
    returned in the original units. One-dimensional ``y`` gives one-dimensional predictions, a
    two-dimensional ``y`` (multi-output, one column per target) two-dimensional ones.

    Parameters
    ----------
    loss : {"squared_error", "huber"}, default="squared_error"
        Task loss on the standardized targets: the mean squared error, or the Huber loss, which
        is quadratic within ``huber_delta`` and linear beyond it (robust to outlying targets).
    huber_delta : float, default=1.0
        Threshold of the Huber loss, in standard deviations of the training targets.
    reg_lambda, mse_weight, cov_weight, svd_weight : float, default=1.0, 1.0, 0.04, 0.001
        The weight ``lambda`` of the NMTune regularizers (``0`` gives plain MLP tuning), and the
        weights of the consistency, covariance and dominant singular value terms inside it.
    svd_top_k : int, default=5
        Number of top singular values the SVD term raises.
    consistency_reduction : {"mean", "batchmean", "sum"}, default="mean"
        Reduction of the consistency term (see :class:`~sknmtune.NMTuneClassifier`).
    mlp_depth : int, default=2
        Number of ``Linear`` layers in ``h``; ``0`` means no MLP (a linear regressor on ``F``).
    hidden_ratio : float, default=4.0
        Hidden width of ``h`` as a multiple of the feature dimension ``D``.
    max_hidden_width : int or None, default=1024
        Cap on the hidden width; ``None``: no cap.
    batch_norm : bool, default=True
        ``BatchNorm1d`` before each hidden ReLU.
    residual : bool, default=True
        Learnable residual ``Z = s * h(F) + F``.
    residual_init : float, default=0.0
        Initial value of the residual scale ``s`` (``0``: training starts from the linear model on ``F``:
        the readout is initialized at the ridge fit of the targets, see Notes).
    dropout : float, default=0.0
        Dropout after each hidden activation.
    standardize : bool, default=False
        Standardize each feature inside the estimator (training statistics) before the head.
    views : {"pairs", "center"}, default="pairs"
        What to train on when ``fit`` gets features with a views axis, ``(n_samples, n_views,
        n_features)`` (index 0 the center crop, e.g. ``FrozenBackboneTransformer(views=K)`` in a
        ``Pipeline``). ``"pairs"``: the authors' recipe, each step draws two distinct augmented views
        per row, the task loss covers both and the consistency term compares one view's ``Z`` with the
        other view's ``F``; ``"center"``: only the center crop (the same fit as on ``X[:, 0]``). 2-D
        features train as always; prediction and ``transform`` take 2-D features (3-D: the center crop).
    lr : float, default=1e-3
        AdamW learning rate.
    weight_decay : float, default=1e-4
        AdamW weight decay.
    lr_schedule : {"constant", "cosine", "linear"}, default="constant"
        Learning-rate schedule over ``max_epochs`` (per step, no warm-up).
    max_epochs : int, default=200
        Maximum number of passes over the training data.
    batch_size : int, default=64
        Mini-batch size; the regularizers are computed per mini-batch.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows (a random, non-stratified split), stop when
        the held-out task loss (on standardized targets) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and restore the best epoch's weights. ``"auto"`` enables it
        from :data:`~sknmtune.heads.AUTO_EARLY_STOPPING_MIN_SAMPLES` rows on; without it,
        training stops on the training loss's plateau.
    validation_fraction : float, default=0.1
        Share of the training rows held out for early stopping.
    n_iter_no_change : int or None, default=10
        Patience, in epochs. ``None`` (without early stopping) runs exactly ``max_epochs`` epochs.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement.
    warm_start : bool, default=False
        When ``True``, :meth:`fit` on a fitted head continues from its weights (same number of
        features and targets; the feature and target standardization statistics are kept) with a
        fresh AdamW and schedule, as ``MLPRegressor(warm_start=True)``. :meth:`partial_fit` always
        continues.
    device : str, default="auto"
        ``"auto"`` uses CUDA when present (then MPS, then CPU); or ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, shuffling and the early-stopping split (bit-identical
        results on CPU for the same integer and the same number of torch threads).
    verbose : int, default=0
        ``1`` prints skorch's per-epoch table.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` has string feature names.
    n_outputs_ : int
        Number of targets (``1`` for one-dimensional ``y``).
    target_mean_, target_scale_ : ndarray of shape () or (n_outputs_,)
        Standardization statistics of the targets (float64); 0-dimensional when ``y`` was 1-D.
    feature_mean_, feature_scale_ : ndarray of shape (n_features_in_,) or None
        Feature standardization statistics (``None`` when ``standardize=False``).
    module_ : NMTuneHead
        The fitted torch module (its ``n_classes`` outputs are the ``n_outputs_`` standardized targets), in eval mode.
    history_ : list of dict
        One entry per epoch: ``train_loss`` (and ``valid_loss`` with early stopping) and the mean
        of each loss term (``loss_task``, ``loss_mse``, ``loss_cov``, ``loss_svd``).
    n_iter_ : int
        Number of epochs run.
    best_epoch_ : int
        The epoch (1-based) whose weights the model holds.

    See Also
    --------
    sknmtune.NMTuneClassifier : The same head for classification.
    sklearn.linear_model.RidgeCV : The usual linear baseline on frozen features.

    Notes
    -----
    ``sample_weight`` weights the task loss as in :class:`~sknmtune.NMTuneClassifier` (each batch's
    ``mean(w_i * loss_i)`` with weights of mean 1 over the training rows; a weight of 2 is a duplicated
    row in expectation; zero-weight rows removed; early stopping's held-out loss weighted). The target
    and feature standardization statistics are weighted; the regularizers and BatchNorm use each
    batch's rows unweighted, which is why scikit-learn's
    ``check_sample_weight_equivalence_on_dense_data`` is an expected failure of the defaults.

    Training starts from the ridge regression of the (standardized) targets on the head's initial
    representation ``Z`` -- ``F`` itself with the default ``residual_init=0`` --, its penalty chosen by
    leave-one-out on the training rows (the rows held out for early stopping excluded; a weight of ``k``
    counts as ``k`` copies), instead of a random readout: the head begins at the linear model and the
    gradient steps go to what it cannot fit. Before, a small set (300 rows: 5 steps per epoch) stopped early
    before even the linear fit was reached (issue 37).

    Inference runs in float64 on a copy of the fitted module, on the device where the module
    lives. Pickles hold CPU tensors; unpickling puts the module on the device the ``device``
    parameter asks for when it exists there, else on the CPU with a warning (as for
    :class:`~sknmtune.NMTuneClassifier`); :meth:`to_device` or
    ``sknmtune.persistence.load(..., map_location=...)`` moves it.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sknmtune.heads import NMTuneRegressor
    >>> X, y = make_regression(n_samples=120, n_features=8, noise=1.0, random_state=0)
    >>> reg = NMTuneRegressor(lr=1e-2, max_epochs=30, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    >>> bool(reg.score(X, y) > 0.9)
    True
    >>> reg.transform(X[:3]).shape
    (3, 8)
    """

    _parameter_constraints: dict = {
        **HEAD_PARAMETER_CONSTRAINTS,
        "loss": [StrOptions({"squared_error", "huber"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        loss: str = "squared_error",
        huber_delta: float = 1.0,
        reg_lambda: float = 1.0,
        mse_weight: float = 1.0,
        cov_weight: float = 0.04,
        svd_weight: float = 0.001,
        svd_top_k: int = 5,
        consistency_reduction: str = "mean",
        mlp_depth: int = 2,
        hidden_ratio: float = 4.0,
        max_hidden_width: int | None = 1024,
        batch_norm: bool = True,
        residual: bool = True,
        residual_init: float = 0.0,
        dropout: float = 0.0,
        standardize: bool = False,
        views: str = "pairs",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        lr_schedule: str = "constant",
        max_epochs: int = 200,
        batch_size: int = 64,
        early_stopping: bool | str = "auto",
        validation_fraction: float = 0.1,
        n_iter_no_change: int | None = 10,
        tol: float = 1e-4,
        warm_start: bool = False,
        device: str = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.loss = loss
        self.huber_delta = huber_delta
        self.reg_lambda = reg_lambda
        self.mse_weight = mse_weight
        self.cov_weight = cov_weight
        self.svd_weight = svd_weight
        self.svd_top_k = svd_top_k
        self.consistency_reduction = consistency_reduction
        self.mlp_depth = mlp_depth
        self.hidden_ratio = hidden_ratio
        self.max_hidden_width = max_hidden_width
        self.batch_norm = batch_norm
        self.residual = residual
        self.residual_init = residual_init
        self.dropout = dropout
        self.standardize = standardize
        self.views = views
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    _target_attributes = ("n_outputs_", "target_mean_", "target_scale_")

    def _n_module_outputs(self) -> int:
        return int(self.n_outputs_)
    _y_validation = {"multi_output": True, "y_numeric": True}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "NMTuneRegressor":
        """Train the head on features ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_views, n_features)
            Frozen features (finite numbers); with a views axis, index 0 is the center crop and
            ``views`` says what the head trains on.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Real-valued targets (finite numbers).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row in the task loss (see Notes). ``None``: every row weighs 1.

        Returns
        -------
        self : NMTuneRegressor
        """
        return self._fit_head(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "NMTuneRegressor":
        """Train for one epoch over ``(X, y)``, continuing from the current head (as ``MLPRegressor``).

        The first call builds the head and fixes the target standardization from its ``y`` (so make
        it representative of the targets' range); later calls, and calls after :meth:`fit`, continue
        the fitted module with AdamW's moments kept between ``partial_fit`` calls. One shuffled pass at
        the constant ``lr``; no early stopping, schedule or ``max_epochs``; ``standardize=True`` is
        refused (standardize the features upstream).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_views, n_features)
            A batch of frozen features (at least 2 rows).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its targets (the same number of outputs on every call).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows (relative within the call).

        Returns
        -------
        self : NMTuneRegressor
        """
        return self._fit_head(X, y, sample_weight, incremental=True)

    def _encode_targets(self, y: Any, *, continuing: bool, incremental: bool, classes: Any) -> tuple[np.ndarray, Any]:
        y = np.asarray(y, dtype=np.float64)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if continuing and (Y.shape[1] != self.n_outputs_ or (y.ndim == 1) != (self.target_mean_.ndim == 0)):
            fitted = "a 1-D y" if self.target_mean_.ndim == 0 else f"y with {self.n_outputs_} columns"
            raise ValueError(f"y has shape {y.shape}, but the fitted head was trained on {fitted}.")
        return Y, y.ndim

    def _training_targets(
        self, targets: np.ndarray, weight: np.ndarray | None, labels: Any, *, continuing: bool, incremental: bool
    ) -> tuple[np.ndarray, dict[str, Any], Any]:
        if continuing:
            mean, scale, state = self.target_mean_.reshape(-1), self.target_scale_.reshape(-1), {}
        else:
            mean, scale = _column_statistics(targets, weight)
            # 0-d statistics remember a 1-D y (as LinearRegression's intercept_ does), hence 1-D predictions.
            shape = () if labels == 1 else (targets.shape[1],)
            state = {"n_outputs_": int(targets.shape[1]), "target_mean_": mean.reshape(shape),
                     "target_scale_": scale.reshape(shape)}
        Y_std = ((targets - mean) / scale).astype(np.float32)
        return Y_std, state, _criterion(self.loss, self.huber_delta)

    def _start_module(
        self, module: Any, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None, seed: int, stopping: Any
    ) -> Any:
        """Start the readout ``Z -> y`` at the ridge fit of the training targets on the initial ``Z``.

        With the default residual head (``residual_init=0``) the initial ``Z`` is ``F``, so training starts
        from the (weighted) ridge regression on the features instead of a random linear map, and the
        gradient steps go to what a linear model cannot fit. The ridge penalty is chosen by leave-one-out
        on the training rows (:func:`_ridge_start`); the rows held out for early stopping are left out, so
        early stopping still measures held-out error.
        """
        rows = np.arange(y.shape[0])
        if stopping.early_stopping:
            split = _validation_indices(y, stopping.validation_fraction, seed, classification=False)
            if split is not None:
                rows = split[0]
        F = X[rows] if X.ndim == 2 else X[rows, 0]  # views: the center crop
        with torch.no_grad():
            Z = module.eval().embed(torch.from_numpy(np.ascontiguousarray(F))).double().numpy()
        module.train()
        start = _ridge_start(Z, y[rows].astype(np.float64), None if weight is None else weight[rows])
        if start is not None:
            coef, intercept = start
            with torch.no_grad():
                module.classifier.weight.copy_(torch.from_numpy(coef.astype(np.float32)))
                module.classifier.bias.copy_(torch.from_numpy(intercept.astype(np.float32)))
        return module

    # --------------------------------------------------------------- inference
    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets in the units of ``y`` (float64).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Frozen features.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs_)
            One-dimensional when the model was fitted on a one-dimensional ``y``.
        """
        outputs, _ = self._forward(X)
        if self.target_mean_.ndim == 0:
            outputs = outputs[:, 0]
        return outputs * self.target_scale_ + self.target_mean_

    def transform(self, X: Any) -> np.ndarray:
        """The head's representation ``Z = h(F)`` (float32, shape ``(n_samples, n_features_in_)``).

        With ``mlp_depth=0`` it is ``X`` itself (standardized when ``standardize=True``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)
            Frozen features.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features_in_)
        """
        _, Z = self._forward(X)
        return Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
