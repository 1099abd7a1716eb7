"""What :class:`~sknmtune.NMTuneClassifier` and :class:`~sknmtune.NMTuneRegressor` share: the head's
configuration, training hand-off, float64 inference, feature names, device moves and pickling.

A private mixin (scikit-learn's estimators share code the same way, e.g. ``BaseMultilayerPerceptron``):
the concrete estimators keep their own parameters, validation, ``fit`` and prediction methods.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._training import RegularizerConfig, StoppingConfig
from ._utils import _restore_device, resolve_device
from .heads import NMTuneHead

#: Below this many rows ``early_stopping="auto"`` trains on everything (the held-out split
#: would hold fewer than 20 rows) and stops on the training loss's plateau instead.
AUTO_EARLY_STOPPING_MIN_SAMPLES = 200

_PREDICT_CHUNK_ROWS = 8192


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

    # --------------------------------------------------------------- inference
    def _forward(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self)
        if getattr(X, "ndim", None) == 3:  # training-style input with views: predict from the center crop
            X = np.asarray(X)[:, 0]
        X = self._scale(validate_data(self, X, dtype=np.float32, reset=False))
        # float64 on a copy of the module: a row's output does not depend on its batch-mates
        # (float32 matrix products are blocked differently for different batch sizes).
        module = copy.deepcopy(self.module_).double()
        device = next(module.parameters()).device
        logits, Z = [], []
        with torch.inference_mode():
            for start in range(0, X.shape[0], _PREDICT_CHUNK_ROWS):
                chunk = np.ascontiguousarray(X[start : start + _PREDICT_CHUNK_ROWS], dtype=np.float64)
                out_logits, out_Z = module(torch.from_numpy(chunk).to(device))
                logits.append(out_logits.cpu().numpy())
                Z.append(out_Z.float().cpu().numpy())
        return np.concatenate(logits), np.concatenate(Z)

    @property
    def _n_features_out(self) -> int:
        """Width of ``Z`` (``get_feature_names_out`` gives ``<classname>0 ... <classname>{D-1}``)."""
        return self.n_features_in_

    def to_device(self, device: str | torch.device) -> Any:
        """Move the fitted module to ``device`` (e.g. after loading on another machine); returns self."""
        check_is_fitted(self)
        self.module_.to(resolve_device(device))
        return self

    # ------------------------------------------------------------- persistence
    def __getstate__(self) -> dict:
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and any(p.device.type != "cpu" for p in module.parameters()):
            state = dict(state)
            state["module_"] = copy.deepcopy(module).cpu()
        return state

    def __setstate__(self, state: dict) -> None:
        # Unpickled onto the device the ``device`` parameter asks for when it exists here (a CUDA
        # model reloaded on the CUDA machine predicts bit-identically); else onto the CPU, with a
        # warning, and ``device`` becomes "cpu". ``persistence.load(map_location=...)`` overrides.
        super().__setstate__(state)
        module = self.__dict__.get("module_")
        if module is not None:
            self.device = _restore_device(module, self.__dict__.get("device", "auto"), type(self).__name__)
