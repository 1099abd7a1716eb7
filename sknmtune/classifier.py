"""``NMTuneClassifier``: the NMTune head as a scikit-learn estimator, and its named configurations."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._head_base import AUTO_EARLY_STOPPING_MIN_SAMPLES, _NMTuneHeadMixin
from ._training import train_head
from ._utils import resolve_device

__all__ = ["AUTO_EARLY_STOPPING_MIN_SAMPLES", "NMTuneClassifier", "PRESETS"]

# The papers' fixed training budgets: exactly ``max_epochs`` epochs, no early stopping, the
# authors' residual (s starts at 1), no cap on the hidden width. The paper's presets train on the
# center crop; the authors' presets ("nmtune-authors", "mlp-authors") on view pairs when given views.
_FIXED = {
    "max_epochs": 30, "batch_size": 64, "lr_schedule": "cosine", "early_stopping": False,
    "n_iter_no_change": None, "residual_init": 1.0, "max_hidden_width": None, "standardize": False,
    "views": "center",
}

#: Named configurations of :class:`NMTuneClassifier` (use :meth:`NMTuneClassifier.from_preset`).
#: They reproduce the paper's and the authors' fixed training budgets; the estimator's own
#: defaults (``NMTuneClassifier()``) add early stopping, a residual that starts at ``Z = F``
#: and a capped hidden width (see the method guide).
PRESETS: dict[str, dict[str, Any]] = {
    # Linear probing: a linear classifier on F (no MLP; the regularizers are off).
    # The authors' probe trains on features cached once, unaugmented: views are ignored.
    "lp": {**_FIXED, "mlp_depth": 0, "reg_lambda": 0.0, "lr": 1e-2, "weight_decay": 0.0, "views": "center"},
    # MLP tuning with the paper's MLP: 2 Linear layers, ReLU, plain cross-entropy.
    "mlp": {
        **_FIXED, "mlp_depth": 2, "hidden_ratio": 1.0, "batch_norm": False, "residual": False,
        "reg_lambda": 0.0, "lr": 1e-3, "weight_decay": 1e-4,
    },
    # NMTune as the paper's equations state it (Eq. 3-6): lambda = 0.01, equal weights, top-1,
    # the consistency term as Eq. 3's squared norm per sample (averaged over the batch).
    "nmtune-paper": {
        **_FIXED, "mlp_depth": 2, "hidden_ratio": 1.0, "batch_norm": False, "residual": False,
        "reg_lambda": 0.01, "mse_weight": 1.0, "cov_weight": 1.0, "svd_weight": 1.0, "svd_top_k": 1,
        "consistency_reduction": "batchmean", "lr": 1e-3, "weight_decay": 1e-4,
    },
    # The paper's equations with its language-model schedule (App. B.3): 10 epochs, linear decay.
    "nmtune-text": {
        **_FIXED, "max_epochs": 10, "lr_schedule": "linear", "mlp_depth": 2, "hidden_ratio": 1.0,
        "batch_norm": False, "residual": False, "reg_lambda": 0.01, "mse_weight": 1.0, "cov_weight": 1.0,
        "svd_weight": 1.0, "svd_top_k": 1, "consistency_reduction": "batchmean", "lr": 1e-3, "weight_decay": 1e-4,
    },
    # NMTune as the authors' public code runs it: weights 1.0 / 0.04 / 0.001, top-5, the
    # consistency MSE averaged over all B*D entries,
    # Linear(D, 4D) -> BatchNorm -> ReLU -> Linear(4D, D), learnable residual (s starts at 1).
    "nmtune-authors": {
        **_FIXED, "mlp_depth": 2, "hidden_ratio": 4.0, "batch_norm": True, "residual": True,
        "reg_lambda": 1.0, "mse_weight": 1.0, "cov_weight": 0.04, "svd_weight": 0.001, "svd_top_k": 5,
        "consistency_reduction": "mean", "lr": 1e-3, "weight_decay": 1e-4, "views": "pairs",
    },
    # MLP tuning with the authors' architecture (the fair baseline for "nmtune-authors").
    "mlp-authors": {
        **_FIXED, "mlp_depth": 2, "hidden_ratio": 4.0, "batch_norm": True, "residual": True,
        "reg_lambda": 0.0, "lr": 1e-3, "weight_decay": 1e-4, "views": "pairs",
    },
}



class NMTuneClassifier(_NMTuneHeadMixin, ClassifierMixin, TransformerMixin, BaseEstimator):
    """NMTune head on frozen features: an MLP ``h`` (``F -> Z``) and a linear classifier on ``Z``.

    Trained with ``L = CE + reg_lambda * (mse_weight * L_MSE + cov_weight * L_COV
    + svd_weight * L_SVD)`` (paper, Eq. 6), through skorch, on mini-batches.
    The same estimator expresses the paper's three heads: linear probing
    (``mlp_depth=0``), MLP tuning (``reg_lambda=0``) and NMTune; see :data:`PRESETS`
    and :meth:`from_preset` for the paper's and the authors' exact configurations.

    The defaults keep the authors' architecture and loss weights but train adaptively:
    early stopping on a held-out split with the best epoch restored (``max_epochs`` is only a
    ceiling), a residual that starts at ``Z = F`` (``residual_init=0``: epoch 0 is the linear
    probe on ``F``) and a hidden width capped at ``max_hidden_width``. To choose between the
    linear probe, MLP tuning and NMTune on your data, use :class:`NMTuneClassifierCV`.

    Parameters
    ----------
    reg_lambda : float, default=1.0
        Weight ``lambda`` of the NMTune regularizers (Eq. 6). ``0`` gives plain MLP tuning.
    mse_weight : float, default=1.0
        Weight of the consistency regularizer (Eq. 3), inside ``reg_lambda``.
    cov_weight : float, default=0.04
        Weight of the covariance regularizer (Eq. 4), inside ``reg_lambda``.
    svd_weight : float, default=0.001
        Weight of the dominant singular value regularizer (Eq. 5), inside ``reg_lambda``.
    svd_top_k : int, default=5
        Number of top singular values the SVD term raises (1 = the paper, 5 = the authors' code).
    consistency_reduction : {"mean", "batchmean", "sum"}, default="mean"
        How the consistency term reduces the squared differences of the row-normalized ``F``
        and ``Z``: ``"batchmean"`` is Eq. 3 (the squared norm per sample, averaged over the
        batch); ``"mean"`` also divides by ``D`` (the authors' code); ``"sum"`` sums over the batch.
    mlp_depth : int, default=2
        Number of ``Linear`` layers in ``h``; ``0`` means no MLP (linear probing on ``F``).
    hidden_ratio : float, default=4.0
        Hidden width of ``h`` as a multiple of the feature dimension ``D``.
    max_hidden_width : int or None, default=1024
        Cap on the hidden width (``min(round(hidden_ratio * D), max_hidden_width)``), so that
        memory and time stay bounded for wide inputs (e.g. bag-of-words features). ``None``:
        no cap (the authors' ``4 * D``).
    batch_norm : bool, default=True
        ``BatchNorm1d`` before each hidden ReLU (the authors' code).
    residual : bool, default=True
        Learnable residual ``Z = s * h(F) + F`` (the authors' code).
    residual_init : float, default=0.0
        Initial value of the per-dimension residual scale ``s``. The authors' code uses 1, which
        puts ``Z`` far from ``F`` after the first steps on unit-norm features; 0 starts at ``F``.
    dropout : float, default=0.0
        Dropout after each hidden activation.
    standardize : bool, default=False
        Standardize each feature (zero mean, unit variance, statistics of the training rows)
        inside the estimator before the head; ``transform`` then returns ``Z`` in that space.
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
        A constant rate, or a per-step cosine / linear decay to zero over ``max_epochs``
        (no warm-up).
    max_epochs : int, default=200
        Maximum number of passes over the training data (a ceiling when training stops early).
    batch_size : int, default=64
        Mini-batch size; the regularizers are computed per mini-batch.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows (stratified), stop when the validation
        cross-entropy has not improved by ``tol`` for ``n_iter_no_change`` epochs and restore
        the best epoch's weights. ``"auto"`` enables it from
        :data:`AUTO_EARLY_STOPPING_MIN_SAMPLES` rows on. Without early stopping, training stops
        when the training loss has not improved by ``tol`` for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
        Share of the training rows held out for early stopping.
    n_iter_no_change : int or None, default=10
        Patience, in epochs. ``None`` (without early stopping) runs exactly ``max_epochs`` epochs.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement.
    device : str, default="auto"
        ``"auto"`` uses CUDA when present (then MPS, then CPU); or ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, shuffling and the early-stopping split. The same integer
        gives bit-identical results on CPU with the same number of torch threads (a different
        thread count changes the order of floating-point reductions). The global torch RNG is
        left untouched.
    verbose : int, default=0
        ``1`` prints skorch's per-epoch table.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (any hashable, sortable labels).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` has string feature names.
    module_ : NMTuneHead
        The fitted torch module, in eval mode.
    feature_mean_, feature_scale_ : ndarray of shape (n_features_in_,) or None
        Standardization statistics (``None`` when ``standardize=False``).
    history_ : list of dict
        One entry per epoch: skorch's ``train_loss`` (and ``valid_loss`` with early stopping)
        and the mean of each loss term (``loss_ce``, ``loss_mse``, ``loss_cov``, ``loss_svd``).
    n_iter_ : int
        Number of epochs run.
    best_epoch_ : int
        The epoch (1-based) whose weights the model holds: the best validation epoch with
        early stopping, the last epoch otherwise.

    See Also
    --------
    sknmtune.NMTuneClassifierCV : Chooses LP / MLP / NMTune and their settings by cross-validation.
    sknmtune.SpectralScorer : SVE/LSVR of the representation ``Z`` (``transform``) as a scorer.
    sknmtune.FrozenBackboneTransformer : Features from a frozen backbone, as a pipeline step.

    Notes
    -----
    Inference runs in float64 on a copy of the fitted module, so a row's prediction does not
    depend on the other rows it is batched with. Predictions run on the device where the
    fitted module lives: the training device, or the CPU after unpickling (pickles always hold
    CPU tensors, so a model trained on CUDA loads anywhere); :meth:`to_device` or
    ``sknmtune.persistence.load(..., map_location=...)`` moves it.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknmtune import NMTuneClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NMTuneClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    >>> clf.transform(X[:2]).shape
    (2, 4)
    """

    _parameter_constraints: dict = {
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
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
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
        device: str = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
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
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "NMTuneClassifier":
        """Build an estimator from a named configuration in :data:`PRESETS`.

        Parameters
        ----------
        name : {"lp", "mlp", "nmtune-paper", "nmtune-text", "nmtune-authors", "mlp-authors"}
        **overrides
            Any constructor parameter, applied on top of the preset.

        Examples
        --------
        >>> from sknmtune import NMTuneClassifier
        >>> NMTuneClassifier.from_preset("nmtune-authors", max_epochs=10).svd_top_k
        5
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> "NMTuneClassifier":
        """Train the head on features ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_views, n_features)
            Frozen features (finite numbers); with a views axis, index 0 is the center crop and
            ``views`` says what the head trains on.
        y : array-like of shape (n_samples,)
            Class labels; at least two classes.

        Returns
        -------
        self : NMTuneClassifier
        """
        for attr in (
            "module_", "classes_", "history_", "n_iter_", "best_epoch_", "n_features_in_", "feature_names_in_",
            "feature_mean_", "feature_scale_",
        ):
            self.__dict__.pop(attr, None)
        try:
            X, views = self._split_views(X)
            X, y = validate_data(self, X, y, dtype=np.float32, ensure_min_samples=2)
            check_classification_targets(y)
            encoder = LabelEncoder().fit(y)
            if len(encoder.classes_) < 2:
                raise ValueError(
                    f"NMTuneClassifier needs samples of at least 2 classes; the data contains only one class: "
                    f"{encoder.classes_[0]!r}."
                )
            y_idx = encoder.transform(y).astype(np.int64)
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            if self.standardize:
                mean = X.mean(axis=0, dtype=np.float64)
                scale = X.std(axis=0, dtype=np.float64)
                scale[scale < 1e-12] = 1.0  # constant features stay centered, not blown up
                self.feature_mean_, self.feature_scale_ = mean.astype(np.float32), scale.astype(np.float32)
            else:
                self.feature_mean_ = self.feature_scale_ = None
            X = self._training_array(X, views)
            n_features, n_classes = X.shape[-1], len(encoder.classes_)
            module, history = train_head(
                lambda: self._build_module(n_features, n_classes), X, y_idx,
                regularizer=self._regularizer(), lr=self.lr, weight_decay=self.weight_decay,
                max_epochs=self.max_epochs, batch_size=self.batch_size, lr_schedule=self.lr_schedule,
                device=resolve_device(self.device), seed=seed, stopping=self._stopping(X.shape[0]),
                verbose=self.verbose,
            )
        except BaseException:
            for attr in ("n_features_in_", "feature_names_in_", "feature_mean_", "feature_scale_"):
                self.__dict__.pop(attr, None)
            raise
        self.classes_ = encoder.classes_
        self.module_ = module
        self.history_ = history
        self.n_iter_ = len(history)
        best = [i for i, row in enumerate(history, 1) if row.get("valid_loss_best")]
        self.best_epoch_ = best[-1] if best else len(history)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits; for two classes, the 1-D margin of ``classes_[1]`` over ``classes_[0]``."""
        logits, _ = self._forward(X)
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits), columns ordered as ``classes_``."""
        logits, _ = self._forward(X)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label for each row of ``X``."""
        logits, _ = self._forward(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def transform(self, X: Any) -> np.ndarray:
        """The head's representation ``Z = h(F)`` (float32, shape ``(n_samples, n_features_in_)``).

        This is what :class:`~sknmtune.SpectralScorer` measures; with ``mlp_depth=0``
        it is ``X`` itself.
        """
        _, Z = self._forward(X)
        return Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
