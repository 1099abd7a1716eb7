"""Transferability estimates of features for downstream targets: LogME and the H-score.

* **LogME** (You et al., ICML 2021), :func:`logme`: the log marginal likelihood (evidence) of the
  targets under Bayesian linear regression on ``F``, with the prior precision ``alpha`` and noise
  precision ``beta`` set by maximizing that evidence. Higher is better.
* **H-score** (Bao et al., ICIP 2019), :func:`h_score`: ``tr(cov(F)^+ cov(E[F | y]))``, how much
  of the feature variance the class means explain, in whitened units. Higher is better.

Both work from one decomposition of ``F`` (a thin SVD, or the eigen-decomposition of the smaller
Gram matrix for large ``F``). They are NumPy in, float out, like :mod:`sknmtune.spectral`;
:func:`sknmtune.ranking.rank_backbones` computes them per candidate backbone and
:class:`sknmtune.scoring.TransferabilityScorer` turns them into scikit-learn scorers.
"""

from __future__ import annotations

import math
import warnings
from numbers import Real
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array
from sklearn.utils.multiclass import type_of_target

from ._linalg import chunked_gram

__all__ = ["logme", "h_score"]

TARGET_TYPES = ("auto", "classification", "regression")
# Above this many entries of F, decompositions go through the smaller Gram matrix (float64,
# accumulated chunk by chunk) instead of a direct SVD of a float64 copy of F.
_DIRECT_SVD_MAX_ENTRIES = 4_000_000
# Safeguard bounds for the evidence hyper-parameters (the spectrum is rescaled to a maximum of 1
# first, so these are only reached by degenerate targets: orthogonal to F, or fitted exactly).
_PRECISION_BOUNDS = (1e-250, 1e250)


# ============================================================================ validation


def check_features(F: Any) -> np.ndarray:
    """F as a finite float32/float64 2-D array with at least 2 samples."""
    return check_array(
        F,
        dtype=(np.float64, np.float32),
        ensure_2d=True,
        ensure_all_finite=True,
        ensure_min_samples=2,
        ensure_min_features=1,
        input_name="F",
    )


def _class_indicators(y: np.ndarray) -> np.ndarray:
    """One-hot matrix (n_samples, n_classes) of 1-D labels; at least two classes."""
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"y has a single class ({classes[0]!r}); transferability scores need at least 2 classes."
        )
    onehot = np.zeros((len(y), len(classes)), dtype=np.float64)
    onehot[np.arange(len(y)), codes.ravel()] = 1.0
    return onehot


def _check_targets(y: Any, n_samples: int, target_type: str) -> tuple[str, np.ndarray]:
    """``("classification", one-hot)`` or ``("regression", targets as columns)`` for ``y``."""
    if target_type not in TARGET_TYPES:
        raise ValueError(f"target_type must be one of {TARGET_TYPES}; got {target_type!r}.")
    if y is None:
        raise ValueError("y is required: transferability scores are computed against the downstream targets.")
    y_arr = np.asarray(y)
    if y_arr.ndim == 0:
        raise ValueError(f"y must be 1-D (labels) or 2-D (regression targets); got a scalar {y_arr!r}.")
    if y_arr.shape[0] != n_samples:
        raise ValueError(f"F has {n_samples} samples but y has {y_arr.shape[0]}; they must match.")
    if y_arr.dtype.kind in "fc" and not np.all(np.isfinite(y_arr)):
        raise ValueError("y contains NaN or infinity.")
    kind = target_type
    if kind == "auto":
        found = type_of_target(y_arr, input_name="y")
        if found in ("binary", "multiclass"):
            kind = "classification"
        elif found in ("continuous", "continuous-multioutput", "multilabel-indicator"):
            kind = "regression"
        else:
            raise ValueError(
                f"Cannot score targets of type {found!r}: give class labels (1-D) or real-valued regression "
                "targets (1-D or 2-D), or set target_type."
            )
    if kind == "classification":
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            y_arr = y_arr.ravel()
        if y_arr.ndim != 1:
            raise ValueError(f"Class labels must be 1-D; got shape {y_arr.shape}. For several targets use target_type='regression'.")
        return kind, _class_indicators(y_arr)
    targets = check_array(y_arr, ensure_2d=False, dtype=np.float64, ensure_all_finite=True, input_name="y")
    if targets.ndim == 1:
        targets = targets[:, None]
    zero = np.flatnonzero(~targets.any(axis=0))
    if zero.size:
        raise ValueError(f"Regression target column(s) {zero.tolist()} are all zeros; their evidence is unbounded.")
    return kind, targets


# ============================================================================ shared decomposition


def _gram(F: np.ndarray, T: np.ndarray, center: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Eigen-decomposition of the smaller Gram matrix of (optionally centered) F, in float64.

    Returns the squared singular values ``s2`` (descending), ``Z = U^T T`` and the route's
    relative eigenvalue error. The Gram matrix and ``F^T T`` are accumulated chunk by chunk.
    """
    n, d = F.shape
    mean = F.mean(axis=0, dtype=np.float64) if center else None
    gram, cross, transposed = chunked_gram(F, mean=mean, targets=T)
    if not transposed:
        s2, V = np.linalg.eigh(gram)
        s2, V = s2[::-1], V[:, ::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            Z = (V.T @ cross) / np.sqrt(np.clip(s2, 0.0, None))[:, None]
    else:
        s2, U = np.linalg.eigh(gram)
        s2, U = s2[::-1], U[:, ::-1]
        Z = U.T @ T
    return s2, Z, np.sqrt(min(n, d) * np.finfo(np.float64).eps)


def _decompose(F: np.ndarray, T: np.ndarray, *, center: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero squared singular values of F (centered if asked) and the targets in its left basis.

    With ``F = U S V^T`` (thin SVD, rank r after dropping singular values under the numerical
    tolerance), returns ``s2 = diag(S)^2`` (r,) and ``Z = U^T T`` (r, n_targets). Everything the
    evidence and the H-score need follows from these two and the column norms of ``T``. An ``F``
    with entries beyond ``2**+-32`` is first multiplied by a power of two (both scores are
    invariant to the scale of ``F``), so squaring never overflows or underflows.
    """
    n, d = F.shape
    largest = max(float(F.max()), -float(F.min()))
    exponent = int(np.frexp(largest)[1]) if largest > 0 else 0
    if abs(exponent) > 32:  # both scores are scale-invariant: bring F near 1 (a power of two, exact)
        F = np.ldexp(F, -exponent).astype(F.dtype, copy=False)
    if n * d <= _DIRECT_SVD_MAX_ENTRIES:
        F64 = np.asarray(F, dtype=np.float64)
        if center:
            F64 = F64 - F64.mean(axis=0)
        U, s, _ = np.linalg.svd(F64, full_matrices=False)
        s2, Z = s**2, U.T @ T
        rel_error = max(n, d) * np.finfo(np.float64).eps  # backward-stable SVD: error on s relative to s_max
    else:
        s2, Z, rel_error = _gram(F, T, center)
    s = np.sqrt(np.clip(s2, 0.0, None))
    # two noise floors: the route's round-off, and the input's own rounding (~eps(dtype) * ||F||_F)
    floor = max(rel_error * s[0], 10 * np.finfo(F.dtype).eps * math.sqrt(float(np.sum(s**2))))
    keep = s > floor
    if not keep.any():
        raise ValueError(
            "F has no non-zero singular value (it is all zeros" + (" after centering, i.e. constant" if center else "")
            + "); the score is undefined."
        )
    return s2[keep], Z[keep]


# ============================================================================ LogME


def _logme_fit(
    s2: np.ndarray, Z: np.ndarray, t2: np.ndarray, n: int, *, max_iter: int = 10_000, tol: float = 1e-12
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Evidence maximization for each target column, from the SVD quantities of :func:`_decompose`.

    Model (per target ``t``): ``w ~ N(0, alpha^-1 I_D)``, ``t | F, w ~ N(F w, beta^-1 I_n)``.
    MacKay's fixed point: with ``gamma = sum_i beta s_i^2 / (alpha + beta s_i^2)`` (the effective
    number of parameters), ``m`` the posterior mean and ``res = ||F m - t||^2``, iterate
    ``alpha <- gamma / ||m||^2`` and ``beta <- (n - gamma) / res`` until the log evidence per
    sample changes by less than ``tol`` (relative to ``max(1, |value|)``). Each step is O(rank(F)).
    The maximum can lie at infinity: at ``alpha = inf`` (``w = 0``) when ``F`` explains nothing of a
    target, at ``beta = inf`` when ``rank(F) = n`` (every target is fitted exactly and the evidence
    tends to ``N(t; 0, F F^T / alpha)``). The iterate then grows geometrically and the evidence
    converges to that limit, which is what is returned. A target that is exactly a linear function
    of a rank-deficient ``F`` has an unbounded evidence: ``inf``.

    Returns the log evidence per sample of every target, ``alpha`` (for F as given), ``beta`` and
    whether the iteration converged.
    """
    scale = s2[0]  # the maximized evidence is invariant to scaling F: iterate on s2 / s2_max
    s2n = (s2 / scale)[:, None]
    z2 = Z**2
    perp = np.clip(t2 - z2.sum(axis=0), 0.0, None)  # the part of each target outside span(F)
    k = Z.shape[1]
    alpha, beta = np.ones(k), np.ones(k)
    lo, hi = _PRECISION_BOUNDS
    previous = None
    converged = False
    for _ in range(max_iter):
        lam = beta * s2n
        fit = lam / (alpha + lam)  # shrinkage factor of each direction, in [0, 1]
        keep = alpha / (alpha + lam)  # 1 - fit, without cancellation
        gamma = fit.sum(axis=0)
        n_minus_gamma = (n - s2n.shape[0]) + keep.sum(axis=0)  # n - gamma without cancellation as beta grows
        m2 = (fit**2 * z2 / s2n).sum(axis=0)  # ||m||^2 (times s2_max)
        res = (keep**2 * z2).sum(axis=0) + perp
        evidence = (
            0.5 * np.log(beta)
            - 0.5 * np.log(2 * np.pi)
            - (beta * res + alpha * m2 + np.log1p(lam / alpha).sum(axis=0)) / (2 * n)
        )
        if previous is not None and np.all(np.abs(evidence - previous) <= tol * np.maximum(1.0, np.abs(evidence))):
            converged = True
            break
        previous = evidence
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.clip(np.nan_to_num(gamma / m2, nan=hi, posinf=hi), lo, hi)
            beta = np.clip(np.nan_to_num(n_minus_gamma / res, nan=hi, posinf=hi), lo, hi)
    if s2n.shape[0] < n:
        # a target that is exactly a linear function of F (no residual outside span(F), and F of rank
        # < n) has an unbounded evidence (beta -> inf): report it as such instead of a capped value
        evidence = np.where(perp <= 1e-12 * t2, np.inf, evidence)
    return evidence, alpha * scale, beta, converged


def _check_iteration(max_iter: Any, tol: Any) -> None:
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int; got {max_iter!r}.")
    if isinstance(tol, bool) or not isinstance(tol, Real) or not tol > 0:
        raise ValueError(f"tol must be a positive number; got {tol!r}.")


def logme(F: Any, y: Any, *, target_type: str = "auto", max_iter: int = 10_000, tol: float = 1e-12) -> float:
    """LogME: the maximized log evidence of a linear model on the features, per sample (You et al., 2021).

    For each target column ``t`` (one-hot columns for class labels), Bayesian linear regression
    ``t = F w + noise`` with the prior ``w ~ N(0, alpha^-1 I)`` and the noise ``N(0, beta^-1 I)``
    gives the evidence ``p(t | F, alpha, beta) = N(t; 0, F F^T / alpha + I / beta)``. LogME is the
    logarithm of that evidence at the ``(alpha, beta)`` that maximize it, divided by the number of
    samples, averaged over the target columns. The maximization is MacKay's fixed-point iteration
    on ``alpha`` and ``beta``, on the SVD of ``F`` computed once (then O(rank) per iteration).

    Features are used as given: no centering, no bias term (as in the paper). The value is a
    mean log density per sample, so it is comparable between backbones on the same ``y``, not
    between datasets; it does not change when ``F`` is rotated (orthogonally) or scaled. Without
    a bias term, zero-mean features (PCA outputs, standardized features) cannot fit the class
    frequencies and score lower than they would with an intercept; pooled backbone features
    (non-negative after a ReLU) carry their own offset. Append a constant column,
    ``np.c_[F, np.ones(len(F))]``, to give every candidate an intercept.

    Parameters
    ----------
    F : array-like of shape (n_samples, n_features)
        Features (at least 2 samples, finite).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Class labels (any hashable values; at least 2 classes), or real-valued regression targets.
    target_type : {"auto", "classification", "regression"}, default="auto"
        ``"auto"`` follows :func:`sklearn.utils.multiclass.type_of_target`: binary or multiclass
        labels (integers, strings, integral floats) are classes and become one-hot columns;
        continuous 1-D or 2-D targets, and 0/1 multilabel indicator matrices, are regressed column by
        column. Integer-valued regression targets need ``target_type="regression"``.
    max_iter : int, default=10000
        Maximum fixed-point iterations (each costs O(rank(F)) per target).
    tol : float, default=1e-12
        Stop when the log evidence per sample of every target changes by less than
        ``tol * max(1, |value|)`` from one iteration to the next.

    Returns
    -------
    score : float
        Mean over target columns of ``log p(t | F, alpha*, beta*) / n_samples``. Higher is better.
        ``inf`` when a target is exactly a linear function of features of rank < n_samples (a
        noise-free fit, whose evidence is unbounded).

    Raises
    ------
    ValueError
        If ``F`` is not a finite 2-D array with at least 2 samples or is all zeros, if ``y`` has
        another length, a single class, NaN or infinity, or all-zero regression targets.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        If the fixed point is not reached within ``max_iter`` iterations.

    References
    ----------
    K. You, Y. Liu, J. Wang, M. Long. LogME: Practical Assessment of Pre-trained Models for
    Transfer Learning. ICML 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.transferability import logme
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=200)
    >>> informative = np.eye(3)[y] + 0.3 * rng.normal(size=(200, 3))
    >>> noise = rng.normal(size=(200, 3))
    >>> bool(logme(informative, y) > logme(noise, y))
    True
    """
    _check_iteration(max_iter, tol)
    F = check_features(F)
    _, T = _check_targets(y, F.shape[0], target_type)
    s2, Z = _decompose(F, T)
    evidence, _, _, converged = _logme_fit(s2, Z, (T**2).sum(axis=0), F.shape[0], max_iter=int(max_iter), tol=float(tol))
    if not converged:
        warnings.warn(
            f"LogME's fixed-point iteration did not converge in {max_iter} iterations; the score may be slightly "
            "low. Increase max_iter.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return float(np.mean(evidence))


# ============================================================================ H-score


def check_shrinkage(shrinkage: Any) -> None:
    if shrinkage is None or (isinstance(shrinkage, str) and shrinkage == "auto"):
        return
    if isinstance(shrinkage, bool) or not isinstance(shrinkage, Real) or not 0.0 <= float(shrinkage) <= 1.0:
        raise ValueError(f"shrinkage must be None, 'auto' or a float in [0, 1]; got {shrinkage!r}.")


def h_score(F: Any, y: Any, *, shrinkage: float | str | None = None) -> float:
    """H-score of features for class labels: ``tr(cov(F)^+ cov(E[F | y]))`` (Bao et al., 2019).

    ``cov(F)`` is the covariance of the features and ``cov(E[F | y])`` the covariance of the class
    means (each sample replaced by its class mean, classes weighted by their frequency), both with
    the 1/n normalization. The score is the between-class variance measured in the metric of the
    total variance: it lies in ``[0, n_classes - 1]``, reaches ``n_classes - 1`` when the classes are
    linearly separable without any within-class spread, and does not change under invertible linear
    maps of ``F`` (with ``shrinkage=None``). Higher is better.

    The inverse is computed stably from the SVD of the centered features: directions whose singular
    value is under the numerical rank tolerance are dropped (a pseudo-inverse), so duplicated or
    constant features are harmless. When there are fewer samples than features, or many noisy
    directions, the pseudo-inverse lets the score approach ``n_classes - 1`` regardless of the
    backbone; ``shrinkage`` then replaces ``cov(F)`` by ``(1 - s) cov(F) + s (tr cov(F) / D) I``.

    Parameters
    ----------
    F : array-like of shape (n_samples, n_features)
        Features (at least 2 samples, finite, not constant).
    y : array-like of shape (n_samples,)
        Class labels, at least 2 classes.
    shrinkage : None, "auto" or float in [0, 1], default=None
        ``None``: the pseudo-inverse of ``cov(F)`` (Bao et al.'s definition). A float: that shrinkage
        intensity towards the scaled identity. ``"auto"``: the Ledoit-Wolf intensity
        (:func:`sklearn.covariance.ledoit_wolf_shrinkage`).

    Returns
    -------
    score : float

    Raises
    ------
    ValueError
        If ``F`` is not a finite 2-D array with at least 2 samples or is constant, or if ``y`` has
        another length, a single class, or is not a vector of class labels.

    References
    ----------
    Y. Bao, Y. Li, S.-L. Huang, L. Zhang, L. Zheng, A. Zamir, L. Guibas. An Information-Theoretic
    Approach to Transferability in Task Transfer Learning. ICIP 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.transferability import h_score
    >>> y = np.array([0, 0, 1, 1, 2, 2])
    >>> round(h_score(np.eye(3)[y], y), 6)  # perfectly separated: n_classes - 1
    2.0
    """
    check_shrinkage(shrinkage)
    F = check_features(F)
    kind, E = _check_targets(y, F.shape[0], "auto")
    if kind != "classification":
        raise ValueError("h_score needs class labels; for regression targets use logme.")
    n, d = F.shape
    s2, C = _decompose(F, E, center=True)  # C[i, k] = u_i . 1{y = k}
    counts = E.sum(axis=0)
    w = s2 / n  # non-zero eigenvalues of cov(F)
    if shrinkage is None:
        ratio = np.ones_like(w)
    else:
        if isinstance(shrinkage, str):
            from sklearn.covariance import ledoit_wolf_shrinkage

            centered = np.asarray(F, dtype=np.float64) - F.mean(axis=0, dtype=np.float64)
            lam = float(ledoit_wolf_shrinkage(centered, assume_centered=True))
        else:
            lam = float(shrinkage)
        mu = w.sum() / d
        ratio = w / ((1.0 - lam) * w + lam * mu)
    # class mean mu_k = V S C[:, k] / n_k, so p_k mu_k^T cov^-1 mu_k = sum_i ratio_i C_ik^2 / n_k
    return float((ratio[:, None] * C**2 / counts).sum())
