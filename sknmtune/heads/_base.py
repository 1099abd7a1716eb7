"""What :class:`~sknmtune.NMTuneClassifier` and :class:`~sknmtune.NMTuneRegressor` share: the head's
parameter constraints, the one fit skeleton (``fit``, warm starts, ``partial_fit``, sample weights),
float64 inference, feature names, device moves and pickling.

A private mixin (scikit-learn's estimators share code the same way, e.g. ``BaseMultilayerPerceptron``):
the concrete estimators keep their own parameters and prediction methods, and give the skeleton their
targets through three hooks (``_encode_targets``, ``_class_weights``, ``_training_targets``).
"""

from __future__ import annotations

import copy
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._training import RegularizerConfig, StoppingConfig, TrainingDivergedError, copy_optimizer_state, train_head
from .._utils import restore_device, resolve_device, seeded_global_rng
from ._module import NMTuneHead

#: Below this many rows ``early_stopping="auto"`` trains on everything (the held-out split
#: would hold fewer than 20 rows) and stops on the training loss's plateau instead.
AUTO_EARLY_STOPPING_MIN_SAMPLES = 200

_PREDICT_CHUNK_ROWS = 8192

#: The parameters (and their constraints) every NMTune head has; each estimator adds its own.
HEAD_PARAMETER_CONSTRAINTS: dict = {
    "reg_lambda": [Interval(Real, 0, None, closed="left")],
    "mse_weight": [Interval(Real, 0, None, closed="left")],
    "cov_weight": [Interval(Real, 0, None, closed="left")],
    "svd_weight": [Interval(Real, 0, None, closed="left")],
    "svd_top_k": [Interval(Integral, 1, None, closed="left")],
    "consistency_reduction": [StrOptions({"mean", "batchmean", "sum"})],
    "mlp_depth": [Interval(Integral, 0, None, closed="left")],
    "hidden_ratio": [Interval(Real, 0, None, closed="neither")],
    "max_hidden_width": [Interval(Integral, 1, None, closed="left"), None],
    "batch_norm": ["boolean"],
    "residual": ["boolean"],
    "residual_init": [Interval(Real, None, None, closed="neither")],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "standardize": ["boolean"],
    "views": [StrOptions({"pairs", "center"})],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "lr_schedule": [StrOptions({"constant", "cosine", "linear"})],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean", StrOptions({"auto"})],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
    "tol": [Interval(Real, 0, None, closed="left")],
    "warm_start": ["boolean"],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

#: scikit-learn checks the heads' defaults are expected to fail, and why (see :func:`sklearn_expected_failed_checks`).
SKLEARN_EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data": (
        "a weight of k equals k repeated rows only in expectation: repeated rows change the mini-batches and "
        "enter BatchNorm's and the regularizers' batch statistics, which are unweighted, so the fits differ by "
        "more than the check's 1e-7 (tests/test_sample_weight.py checks the equivalence where it holds)"
    ),
    "check_class_weight_classifiers": (
        "the check raises max_iter, which the heads call max_epochs: on its 50 unscaled rows (std 20, one "
        "mini-batch) the default 200 AdamW steps at lr=1e-3 cannot move the bias far enough to predict the "
        "heavily weighted class on 87 % of the test rows; with lr=1e-2 the check passes "
        "(tests/test_sample_weight.py)"
    ),
}


def sklearn_expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The entries of :data:`SKLEARN_EXPECTED_FAILED_CHECKS` that apply to ``estimator``
    (``parametrize_with_checks(..., expected_failed_checks=sklearn_expected_failed_checks)``)."""
    checks = dict(SKLEARN_EXPECTED_FAILED_CHECKS)
    if "class_weight" not in estimator.get_params():
        checks.pop("check_class_weight_classifiers")
    return checks


#: Fitted state every head has (the estimators add their targets' attributes). ``_optimizer_state_``
#: (AdamW's moments, a CPU state dict) exists only after ``partial_fit``, which continues from it.
_HEAD_FITTED = (
    "module_", "history_", "n_iter_", "best_epoch_", "n_features_in_", "feature_names_in_", "feature_mean_",
    "feature_scale_", "_optimizer_state_", "_inference_cache",
)


def _column_statistics(
    values: np.ndarray, weight: np.ndarray | None = None, *, relative: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (weighted) mean and standard deviation in float64.

    A constant column gets scale 1, so that it is centered, not blown up: with ``relative`` a spread at
    the rounding level of its mean (whatever its units), otherwise a spread below ``1e-12``.
    """
    if weight is None:
        mean = values.mean(axis=0, dtype=np.float64)
        scale = values.std(axis=0, dtype=np.float64)
    else:
        values = np.asarray(values, dtype=np.float64)
        mean = np.average(values, axis=0, weights=weight)
        scale = np.sqrt(np.average((values - mean) ** 2, axis=0, weights=weight))
    if relative:
        scale[scale <= 1e-12 * np.abs(mean)] = 1.0
    else:
        scale[scale < 1e-12] = 1.0
    return mean, scale


def _validated_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray:
    """``sample_weight`` as float64 ``(n_samples,)``: finite, non-negative, not all zero (errors name the problem)."""
    if isinstance(sample_weight, Real):  # one number for every row
        weight = np.full(n_samples, float(sample_weight))
    else:
        weight = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
    if weight.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D, one weight per row of X; got an array of shape {weight.shape}.")
    if weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {weight.shape[0]} weights but X has {n_samples} rows; pass one weight per row."
        )
    negative = np.flatnonzero(weight < 0)
    if negative.size:
        raise ValueError(
            f"sample_weight must be non-negative; got {negative.size} negative weight(s), e.g. "
            f"{weight[negative[0]]!r} at row {negative[0]}."
        )
    if not (weight > 0).any():
        raise ValueError("sample_weight has no positive weight: every weight is zero, so there is nothing to train on.")
    return weight


class _NMTuneHeadMixin(ClassNamePrefixFeaturesOutMixin):
    """Shared machinery of the NMTune estimators (reads only their shared parameters and fitted state)."""

    def _regularizer(self) -> RegularizerConfig:
        return RegularizerConfig(
            reg_lambda=float(self.reg_lambda) if self.mlp_depth > 0 else 0.0,
            mse_weight=float(self.mse_weight),
            cov_weight=float(self.cov_weight),
            svd_weight=float(self.svd_weight),
            svd_top_k=int(self.svd_top_k),
            mse_reduction=self.consistency_reduction,
        )

    def _stopping(self, n_samples: int) -> StoppingConfig:
        early = self.early_stopping
        if early == "auto":
            early = n_samples >= AUTO_EARLY_STOPPING_MIN_SAMPLES
        return StoppingConfig(
            early_stopping=bool(early), validation_fraction=float(self.validation_fraction),
            n_iter_no_change=self.n_iter_no_change, tol=float(self.tol),
        )

    def _hidden_width(self, n_features: int) -> int:
        width = max(1, int(round(self.hidden_ratio * n_features)))
        return width if self.max_hidden_width is None else min(width, int(self.max_hidden_width))

    def _build_module(self, n_features: int, n_classes: int) -> NMTuneHead:
        """A freshly initialized head for ``n_features`` inputs and ``n_classes`` outputs (these parameters).

        Used by ``fit`` and by :mod:`sknmtune.persistence` to rebuild the architecture before
        loading a saved state dict.
        """
        return NMTuneHead(
            n_features, n_classes, mlp_depth=self.mlp_depth, hidden_width=self._hidden_width(n_features),
            batch_norm=self.batch_norm, residual=self.residual, residual_init=self.residual_init,
            dropout=self.dropout,
        )

    def _split_views(self, X: Any) -> tuple[Any, np.ndarray | None]:
        """``(center features, training views or None)`` of ``fit``'s ``X``.

        2-D input is returned as it is (validated later, as always). A views axis ``(n, V, D)``
        (index 0 the center crop, e.g. from ``FrozenBackboneTransformer(views=K).fit_transform``) is
        checked here; the head trains on its view pairs when ``views="pairs"`` and ``V >= 2``, and on
        the center crop alone otherwise (``views="center"``: exactly the 2-D fit on ``X[:, 0]``).
        """
        if getattr(X, "ndim", None) != 3:
            return X, None
        arr = np.asarray(X)
        n, v, d = arr.shape
        if v < 1 or d < 1:
            raise ValueError(f"X with a views axis must have shape (n_samples, n_views, n_features) with n_views "
                             f">= 1 and n_features >= 1; got {arr.shape}.")
        views = check_array(arr.reshape(n * v, d), dtype=np.float32, ensure_min_samples=min(2, n * v),
                            input_name="X").reshape(n, v, d)
        if v == 1 or self.views == "center":
            return views[:, 0], None
        return views[:, 0], views

    def _training_array(self, X: np.ndarray, views: np.ndarray | None) -> np.ndarray:
        """What ``train_head`` gets: the (standardized) 2-D features, or the views ``(n, V, D)``."""
        if views is None:
            return np.ascontiguousarray(self._scale(X))
        return np.ascontiguousarray(self._scale(views))

    def _scale(self, X: np.ndarray) -> np.ndarray:
        if self.feature_mean_ is None:
            return X
        return ((X - self.feature_mean_) / self.feature_scale_).astype(np.float32, copy=False)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    # ------------------------------------------------------------------ persistence protocol
    #: the fitted torch modules this estimator rebuilds itself when a ``.skn`` file is loaded
    #: (:mod:`sknmtune.persistence` stores their weights only, never their code)
    __sknmtune_modules__: tuple[str, ...] = ("module_",)

    def _n_module_outputs(self) -> int:
        """Outputs of the fitted module (classes, or regression targets), read from the fitted attributes."""
        raise NotImplementedError

    def __sknmtune_rebuild__(self, attribute: str) -> torch.nn.Module:
        """A freshly initialized module for the fitted ``attribute`` (one of :attr:`__sknmtune_modules__`).

        :mod:`sknmtune.persistence` asks for it on a copy holding the decoded parameters and fitted
        attributes, then loads the saved weights into it; the estimator alone knows its architecture.
        """
        if attribute not in self.__sknmtune_modules__:
            raise KeyError(f"{type(self).__name__} has no fitted module named {attribute!r}")
        return self._build_module(int(self.n_features_in_), self._n_module_outputs())

    # ------------------------------------------------------------------ fitting
    #: fitted attributes of the targets (``classes_``; ``n_outputs_``, ``target_mean_``, ...)
    _target_attributes: tuple[str, ...] = ()
    #: ``validate_data`` options for ``y``
    _y_validation: dict[str, Any] = {}

    def _encode_targets(self, y: Any, *, continuing: bool, incremental: bool, classes: Any) -> tuple[np.ndarray, Any]:
        """``(targets, labels)``: ``y`` encoded for training and what ``_class_weights`` needs."""
        raise NotImplementedError

    def _class_weights(self, y: np.ndarray, labels: Any, weight: np.ndarray | None, incremental: bool):
        """Per-row weights from ``class_weight`` (``None``: none)."""
        return None

    def _training_targets(
        self, targets: np.ndarray, weight: np.ndarray | None, labels: Any, *, continuing: bool, incremental: bool
    ) -> tuple[np.ndarray, dict[str, Any], Any]:
        """``(what train_head gets as y, fitted target attributes to set, the training criterion)``."""
        raise NotImplementedError

    def _fit_head(self, X: Any, y: Any, sample_weight: Any, *, incremental: bool, classes: Any = None) -> Any:
        """The one fit skeleton: ``fit`` (``incremental=False``) and ``partial_fit`` (one epoch).

        A fresh fit clears the fitted state first and leaves none when it fails. A continuing call
        (``partial_fit`` on a fitted head, or ``fit`` with ``warm_start=True``) trains a copy of the fitted
        module and, when it fails, leaves the estimator as it was before the call.
        """
        attributes = _HEAD_FITTED + self._target_attributes
        continuing = (incremental or self.warm_start) and self.__sklearn_is_fitted__()
        saved = {key: self.__dict__[key] for key in attributes if key in self.__dict__}
        if not continuing:
            for key in attributes:
                self.__dict__.pop(key, None)
        try:
            self._fit_steps(X, y, sample_weight, incremental=incremental, continuing=continuing, classes=classes)
        except BaseException:
            for key in attributes:
                self.__dict__.pop(key, None)
            if continuing:
                self.__dict__.update(saved)
            raise
        return self

    def _fit_steps(self, X: Any, y: Any, sample_weight: Any, *, incremental: bool, continuing: bool, classes: Any):
        X, views = self._split_views(X)
        X, y = validate_data(self, X, y, reset=not continuing, dtype=np.float32, ensure_min_samples=2,
                             **self._y_validation)
        targets, labels = self._encode_targets(y, continuing=continuing, incremental=incremental, classes=classes)
        weight = None if sample_weight is None else _validated_sample_weight(sample_weight, X.shape[0])
        by_class = self._class_weights(y, labels, weight, incremental)
        if by_class is not None:
            weight = by_class if weight is None else weight * by_class
        if weight is not None:
            keep = weight > 0  # zero-weight rows are removed: they change nothing, not even batch statistics
            if not keep.all():
                X, targets, weight = X[keep], targets[keep], weight[keep]
                views = None if views is None else views[keep]
                if X.shape[0] < 2:
                    raise ValueError(f"{type(self).__name__} needs at least 2 rows with a positive sample weight; "
                                     f"got {X.shape[0]}.")
            if (weight == weight[0]).all():
                weight = None  # equal weights: exactly the unweighted fit
        train_y, target_state, criterion = self._training_targets(
            targets, weight, labels, continuing=continuing, incremental=incremental
        )
        if not continuing:
            if self.standardize and incremental:
                raise ValueError(
                    "partial_fit cannot standardize (standardize=True needs the statistics of all the training rows, "
                    "which it never sees at once): standardize the features before the head, e.g. with "
                    "sklearn.preprocessing.StandardScaler (it has partial_fit), and set standardize=False."
                )
            if self.standardize:
                mean, scale = _column_statistics(X, weight, relative=self._relative_constant_rule)
                self.feature_mean_, self.feature_scale_ = mean.astype(np.float32), scale.astype(np.float32)
            else:
                self.feature_mean_ = self.feature_scale_ = None
        X = self._training_array(X, views)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        done = self.n_iter_ if incremental and continuing else 0
        seed = (seed + done) % np.iinfo(np.int32).max  # partial_fit: a new shuffle on every call
        n_features, n_outputs = X.shape[-1], train_y.shape[1] if train_y.ndim == 2 else len(labels)
        stopping = StoppingConfig() if incremental else self._stopping(X.shape[0])
        trained = train_head(
            lambda: self._start_module(self._build_module(n_features, n_outputs), X, train_y, weight, seed, stopping),
            X, train_y,
            regularizer=self._regularizer(), lr=self.lr, weight_decay=self.weight_decay,
            max_epochs=1 if incremental else self.max_epochs, batch_size=self.batch_size,
            lr_schedule="constant" if incremental else self.lr_schedule, device=resolve_device(self.device),
            seed=seed, stopping=stopping,
            criterion=criterion, verbose=self.verbose, sample_weight=weight,
            module=copy.deepcopy(self.module_) if continuing else None,
            optimizer_state=self.__dict__.get("_optimizer_state_") if incremental and continuing else None,
        )
        _check_finite_module(trained.module, type(self).__name__)
        for key, value in target_state.items():
            setattr(self, key, value)
        self.module_ = trained.module
        if incremental:
            self.history_ = [*self.history_, *trained.history] if continuing else trained.history
            self.n_iter_ = done + len(trained.history)
            self.best_epoch_ = self.n_iter_
            self._optimizer_state_ = copy_optimizer_state(trained.optimizer)
        else:
            self.history_ = trained.history
            self.n_iter_ = len(trained.history)
            best = [i for i, row in enumerate(trained.history, 1) if row.get("valid_loss_best")]
            self.best_epoch_ = best[-1] if best else len(trained.history)
            self.__dict__.pop("_optimizer_state_", None)
        self._inference_module()  # made here, so that predicting never changes the estimator's __dict__

    def _start_module(
        self, module: NMTuneHead, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None, seed: int,
        stopping: StoppingConfig,
    ) -> NMTuneHead:
        """The freshly built ``module`` as training starts from it (a hook: the classifier keeps its random start).

        Called under ``train_head``'s seeded RNG section with the training array, the training targets, the
        weights, the seed and the stopping rule of the fit (the same early-stopping split can be drawn).
        """
        return module

    #: the constant-feature rule of ``standardize`` (see ``_column_statistics``)
    _relative_constant_rule = True

    # --------------------------------------------------------------- inference
    def _forward(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self)
        if getattr(X, "ndim", None) == 3:  # training-style input with views: predict from the center crop
            X = np.asarray(X)
            if X.shape[1] < 1:
                raise ValueError(f"X with a views axis must have shape (n_samples, n_views, n_features) with "
                                 f"n_views >= 1 (index 0 the center crop); got {X.shape}.")
            X = X[:, 0]
        X = self._scale(validate_data(self, X, dtype=np.float32, reset=False))
        module = self._inference_module()
        device = next(module.parameters()).device
        logits, Z = [], []
        with torch.inference_mode():
            for start in range(0, X.shape[0], _PREDICT_CHUNK_ROWS):
                chunk = np.ascontiguousarray(X[start : start + _PREDICT_CHUNK_ROWS], dtype=np.float64)
                out_logits, out_Z = module(torch.from_numpy(chunk).to(device))
                logits.append(out_logits.cpu().numpy())
                Z.append(out_Z.float().cpu().numpy())
        return np.concatenate(logits), np.concatenate(Z)

    def _inference_module(self) -> torch.nn.Module:
        """A float64 copy of the fitted module, made once and reused while the module is unchanged.

        float64 on a copy: a row's output does not depend on its batch-mates (float32 matrix products
        are blocked differently for different batch sizes). The copy is kept (one per estimator) and
        rebuilt when ``module_`` is replaced, moved or modified in place (the tensors' identities,
        devices and version counters are its key), so repeated calls -- a served model answering one
        request at a time -- do not copy the module each time. Concurrent calls only read it
        (eval mode, ``torch.inference_mode``).
        """
        live = self.module_
        try:
            key = (id(live), tuple((id(t), t.data_ptr(), t._version, t.dtype, str(t.device))
                                   for t in (*live.parameters(), *live.buffers())))
        except RuntimeError:  # inference tensors (a module converted under torch.inference_mode) have no version
            key = None
        cached = self.__dict__.get("_inference_cache")
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        module = copy.deepcopy(live).double().eval()
        if key is not None:
            self.__dict__["_inference_cache"] = (key, module)
        else:
            self.__dict__.pop("_inference_cache", None)  # not cacheable: a fresh copy on every call
        return module

    @property
    def _n_features_out(self) -> int:
        """Width of ``Z`` (``get_feature_names_out`` gives ``<classname>0 ... <classname>{D-1}``)."""
        return self.n_features_in_

    def to_device(self, device: str | torch.device) -> Any:
        """Move the fitted module to ``device`` and run there from now on (sets ``device``); returns self.

        The device rule of sknmtune's estimators: ``device`` changes only through ``set_params`` or
        ``to_device`` (which also moves what is fitted), as :class:`~sknmtune.FrozenBackboneTransformer` does.
        """
        check_is_fitted(self)
        resolved = resolve_device(device)
        self.module_.to(resolved)
        self.device = device if isinstance(device, str) else str(resolved)
        self._inference_module()
        return self

    # ------------------------------------------------------------- persistence
    def __getstate__(self) -> dict:
        """The estimator's state with its torch objects as NumPy arrays (pickle, joblib, skops.io).

        The fitted module is stored as its state dict of CPU arrays (``module_`` becomes a dict
        ``{"state_dict": {name: ndarray}, "training": bool}``) and AdamW's moments likewise, so the
        state holds no torch object: scikit-learn's and skops' persistence can read it with the
        estimator's class as the only trusted type, and :meth:`__setstate__` rebuilds the module
        with the estimator's own code (as :mod:`sknmtune.persistence` does).
        """
        state = dict(super().__getstate__())
        state.pop("_inference_cache", None)  # a run-time copy of module_, rebuilt on the first prediction
        for key in self.__sknmtune_modules__:
            module = state.get(key)
            if isinstance(module, torch.nn.Module):
                state[key] = _module_arrays(module)
        if state.get("_optimizer_state_") is not None:
            state["_optimizer_state_"] = _tensors_as(state["_optimizer_state_"], numpy=True)
        return state

    def __setstate__(self, state: dict) -> None:
        # Unpickled onto the device the ``device`` parameter asks for when it exists here (a CUDA
        # model reloaded on the CUDA machine predicts bit-identically); else onto the CPU, with a
        # warning, and ``device`` becomes "cpu". ``persistence.load(map_location=...)`` overrides.
        # ``module_`` is a torch module (pickles of sknmtune <= 0.1, sknmtune.persistence) or the
        # arrays of __getstate__, rebuilt here.
        super().__setstate__(state)
        for key in self.__sknmtune_modules__:
            value = self.__dict__.get(key)
            if isinstance(value, dict):
                self.__dict__[key] = self._module_from_arrays(key, value)
        if self.__dict__.get("_optimizer_state_") is not None:
            self._optimizer_state_ = _tensors_as(self._optimizer_state_, numpy=False)
        module = self.__dict__.get("module_")
        if module is not None:
            self.device = restore_device(module, self.__dict__.get("device", "auto"), type(self).__name__)
            self._inference_module()

    def _module_from_arrays(self, attribute: str, value: dict) -> torch.nn.Module:
        """The module of :meth:`__getstate__`'s arrays, rebuilt by :meth:`__sknmtune_rebuild__`."""
        arrays = value.get("state_dict")
        if not isinstance(arrays, dict) or not all(isinstance(a, np.ndarray) for a in arrays.values()):
            raise ValueError(
                f"cannot restore {type(self).__name__}.{attribute}: its saved state is not a state dict of NumPy arrays."
            )
        with seeded_global_rng(None):  # the weights are overwritten; leave the caller's RNG alone
            module = self.__sknmtune_rebuild__(attribute)
        try:
            module.load_state_dict({name: torch.from_numpy(np.array(a, copy=True)) for name, a in arrays.items()},
                                   strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"cannot restore {type(self).__name__}.{attribute}: the saved weights do not fit the architecture "
                f"its parameters and fitted attributes describe ({' '.join(str(exc).split())})."
            ) from exc
        return module.train(bool(value.get("training", False)))


def _check_finite_module(module: torch.nn.Module, owner: str) -> None:
    """Raise :class:`TrainingDivergedError` when a trained module holds a non-finite weight or statistic.

    The training loop checks every step's loss, but the last optimizer step can still overflow the
    weights (a huge ``lr``): the fit must fail then, not return a model that predicts NaN.
    """
    bad = [name for name, tensor in module.state_dict().items()
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:
        raise TrainingDivergedError(
            f"{owner} training diverged: after the last step the weights {', '.join(bad[:3])}"
            f"{' ...' if len(bad) > 3 else ''} are not finite (NaN or infinite). Lower lr, or standardize the features."
        )


def _module_arrays(module: torch.nn.Module) -> dict[str, Any]:
    """``{"state_dict": {name: CPU ndarray}, "training": bool}`` of a head module (float32 / int64 tensors)."""
    arrays = {name: tensor.detach().to("cpu", copy=True).numpy() for name, tensor in module.state_dict().items()}
    return {"state_dict": arrays, "training": bool(module.training)}


def _tensors_as(value: Any, *, numpy: bool) -> Any:
    """A copy of an optimizer state dict with every tensor as a NumPy array (``numpy=True``) or the reverse."""
    if numpy and isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True).numpy()
    if not numpy and isinstance(value, (np.ndarray, torch.Tensor)):
        return torch.as_tensor(np.array(value, copy=True) if isinstance(value, np.ndarray) else value)
    if isinstance(value, dict):
        return {key: _tensors_as(item, numpy=numpy) for key, item in value.items()}
    if isinstance(value, list):
        return [_tensors_as(item, numpy=numpy) for item in value]
    if isinstance(value, tuple):
        return tuple(_tensors_as(item, numpy=numpy) for item in value)
    return value
