"""Singular value spectrum metrics of a feature matrix (paper, Section 2.3).

Every function takes a feature matrix ``X`` of shape ``(n_samples, n_features)``
(``M x D`` in the paper) and works on its singular values
``sigma_1 >= sigma_2 >= ... >= sigma_r`` with ``r = min(M, D)``:

* **SVE**, singular value entropy (Definition 2.1):
  ``-sum_i p_i log p_i`` with ``p_i = sigma_i / sum_j sigma_j``. Higher means a
  flatter spectrum; the paper relates it to in-domain transfer.
* **LSVR**, largest singular value ratio (Definition 2.2):
  ``-log(sigma_1 / sum_i sigma_i)``. The paper finds out-of-domain robustness
  negatively correlated with it.
* **RankMe** (Garrido et al., 2023) ``= exp(SVE)``, an effective rank.

By default the metrics are computed on the raw matrix, exactly as the paper
defines them. ``center=True`` subtracts the column means first (the spectrum of
the covariance), and ``normalize_rows=True`` reproduces the authors' plotting
code (each row L2-normalized, then each row's mean subtracted).

Singular values below the numerical noise floor are set to exactly zero, so
rank-deficient inputs give the same metrics in float32 and float64. The floor is
the larger of the input's rounding (``10 * eps(dtype) * ||X||_F``, above the
largest singular value of the rounding errors) and the round-off of the route
taken (``max(M, D) * eps64 * sigma_1`` for a direct SVD, ``sqrt(min(M, D) * eps64)
* sigma_1`` through the Gram matrix). Large matrices are reduced to the eigenvalues of their
``D x D`` (or ``M x M``) Gram matrix accumulated in float64, chunk by chunk, so
no singular vector and no float64 copy of ``X`` is ever materialized.

The metrics are scale-invariant, and they are computed so for any finite input: a matrix whose
largest entry is outside ``[2**-32, 2**32]`` is first multiplied by a power of two (exact, no
rounding) that brings it near 1, so neither squaring nor summing overflows or underflows;
:func:`singular_values` scales the result back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_array

from ._linalg import chunked_gram

__all__ = [
    "singular_values",
    "singular_value_entropy",
    "largest_singular_value_ratio",
    "rankme",
    "spectral_summary",
]

# Above this many entries the Gram route is used instead of a direct SVD.
_DIRECT_SVD_MAX_ENTRIES = 4_000_000
# Inputs whose largest entry has a binary exponent beyond this are rescaled by a power of two.
_MAX_UNSCALED_EXPONENT = 32


def _validate(X: Any, center: bool, normalize_rows: bool) -> tuple[np.ndarray, int]:
    """The checked (and optionally centered / normalized) matrix divided by ``2**exponent``, and ``exponent``."""
    with np.errstate(over="ignore", invalid="ignore"):  # the finiteness check sums X, which may overflow
        X = check_array(
            X,
            dtype=(np.float64, np.float32),
            ensure_2d=True,
            ensure_all_finite=True,
            ensure_min_samples=1,
            ensure_min_features=1,
            input_name="X",
        )
    largest = max(float(X.max()), -float(X.min()))  # no |X| copy
    exponent = int(np.frexp(largest)[1]) if largest > 0 else 0
    if abs(exponent) > _MAX_UNSCALED_EXPONENT:
        X = np.ldexp(X, -exponent).astype(X.dtype, copy=False)  # exact: a power of two
    else:
        exponent = 0
    if normalize_rows:
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms > 0, norms, 1).astype(X.dtype)
        X = X - X.mean(axis=1, keepdims=True)
        exponent = 0  # unit rows: the scale is gone
    if center:
        X = X - X.mean(axis=0, keepdims=True)
    return X, exponent


def _gram_eigvals(X: np.ndarray) -> np.ndarray:
    """Eigenvalues of the smaller Gram matrix of X, accumulated in float64 chunk by chunk."""
    gram, _, _ = chunked_gram(X)
    return np.linalg.eigvalsh(gram)[::-1]


def singular_values(X: Any, *, center: bool = False, normalize_rows: bool = False) -> np.ndarray:
    """Singular values of a feature matrix, in descending order.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Feature matrix (float32 or float64; other numeric types are converted).
    center : bool, default=False
        Subtract the column means first.
    normalize_rows : bool, default=False
        The authors' convention: L2-normalize each row, then subtract each row's mean.

    Returns
    -------
    s : ndarray of shape (min(n_samples, n_features),), float64
        Non-negative singular values, largest first; values under the numerical
        rank tolerance are exactly zero.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, is empty, contains NaN or infinity, or is all zeros
        (after the optional centering/normalization).

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.spectral import singular_values
    >>> singular_values(np.diag([3.0, 2.0, 1.0]))
    array([3., 2., 1.])
    """
    s, exponent = _unit_singular_values(X, center, normalize_rows)
    with np.errstate(over="ignore"):
        return np.ldexp(s, exponent)


def _unit_singular_values(X: Any, center: bool, normalize_rows: bool) -> tuple[np.ndarray, int]:
    """Singular values of ``X / 2**exponent`` (largest first, noise floor zeroed), and ``exponent``."""
    X, exponent = _validate(X, center, normalize_rows)
    n_samples, n_features = X.shape
    eps64 = np.finfo(np.float64).eps
    if n_samples * n_features <= _DIRECT_SVD_MAX_ENTRIES:
        s = np.linalg.svd(np.asarray(X, dtype=np.float64), compute_uv=False)
        route_error = max(n_samples, n_features) * eps64  # backward-stable SVD, relative to sigma_1
    else:
        s = np.sqrt(np.clip(_gram_eigvals(X), 0.0, None))
        route_error = np.sqrt(min(n_samples, n_features) * eps64)  # eigenvalue error, then a square root
    s = np.sort(s)[::-1][: min(n_samples, n_features)]
    if s[0] <= 0 or not np.isfinite(s[0]):
        raise ValueError(
            "X has no non-zero singular value (it is all zeros"
            + (" after centering/normalization" if (center or normalize_rows) else "")
            + "); spectral metrics are undefined."
        )
    # Two noise floors: the route's round-off (relative to sigma_1), and the rounding of the
    # input itself, whose largest singular value is at most ~eps(dtype) * ||X||_F.
    data_error = 10 * np.finfo(X.dtype).eps * s[0] * np.sqrt(np.sum((s / s[0]) ** 2))
    tol = max(route_error * s[0], data_error)
    s[s <= tol] = 0.0
    return s, exponent


def _probabilities(s: np.ndarray) -> np.ndarray:
    s = s / s[0]  # in [0, 1]: the sum cannot overflow
    return s / s.sum()


def _entropy(s: np.ndarray) -> float:
    p = _probabilities(s)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum()) + 0.0  # + 0.0: never -0.0


def _lsvr(s: np.ndarray) -> float:
    return float(np.log((s / s[0]).sum()))


def singular_value_entropy(X: Any, *, center: bool = False, normalize_rows: bool = False) -> float:
    """Singular value entropy (SVE), Definition 2.1 of the paper.

    ``SVE = -sum_i p_i log p_i`` with ``p_i = sigma_i / sum_j sigma_j``; it lies in
    ``[0, log(min(n_samples, n_features))]``. Parameters as in :func:`singular_values`.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.spectral import singular_value_entropy
    >>> round(singular_value_entropy(np.eye(4)), 6) == round(float(np.log(4)), 6)
    True
    """
    return _entropy(singular_values(X, center=center, normalize_rows=normalize_rows))


def largest_singular_value_ratio(X: Any, *, center: bool = False, normalize_rows: bool = False) -> float:
    """Largest singular value ratio (LSVR), Definition 2.2 of the paper.

    ``LSVR = -log(sigma_1 / sum_i sigma_i)``, in ``[0, log(min(n_samples, n_features))]``.
    Lower means a more dominant top direction. Parameters as in :func:`singular_values`.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.spectral import largest_singular_value_ratio
    >>> largest_singular_value_ratio(np.diag([1.0, 0.0, 0.0]))
    0.0
    """
    return _lsvr(singular_values(X, center=center, normalize_rows=normalize_rows))


def rankme(X: Any, *, center: bool = False, normalize_rows: bool = False) -> float:
    """RankMe effective rank, ``exp(SVE)`` (Garrido et al., 2023).

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.spectral import rankme
    >>> round(rankme(np.eye(5)), 6)
    5.0
    """
    return float(np.exp(singular_value_entropy(X, center=center, normalize_rows=normalize_rows)))


def spectral_summary(
    X: Any, *, center: bool = False, normalize_rows: bool = False, n_top: int = 0
) -> dict[str, Any]:
    """SVE, LSVR and RankMe of ``X`` from one decomposition.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    center, normalize_rows : bool, default=False
        As in :func:`singular_values`.
    n_top : int, default=0
        Also return the ``n_top`` largest singular values (key ``"top_singular_values"``).

    Returns
    -------
    summary : dict
        Keys ``"sve"``, ``"lsvr"``, ``"rankme"``, ``"sigma_max"``, ``"numerical_rank"`` (and
        ``"top_singular_values"``, a list, when ``n_top > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.spectral import spectral_summary
    >>> sorted(spectral_summary(np.eye(3)))
    ['lsvr', 'numerical_rank', 'rankme', 'sigma_max', 'sve']
    >>> spectral_summary(np.diag([3.0, 1.0]), n_top=2)["top_singular_values"]
    [3.0, 1.0]
    """
    if isinstance(n_top, bool) or not isinstance(n_top, (int, np.integer)) or n_top < 0:
        raise ValueError(f"n_top must be a non-negative integer, got {n_top!r}.")
    summary = _summary(X, center=center, normalize_rows=normalize_rows, top=int(n_top))
    if not n_top:
        del summary["top_singular_values"]
    return summary


def _summary(X: Any, *, center: bool, normalize_rows: bool, top: int) -> dict[str, Any]:
    """:func:`spectral_summary` plus the ``top`` largest singular values (a list)."""
    s, exponent = _unit_singular_values(X, center, normalize_rows)
    sve = _entropy(s)
    with np.errstate(over="ignore"):
        scaled = np.ldexp(s[: max(top, 1)], exponent)
    return {
        "sve": sve,
        "lsvr": _lsvr(s),
        "rankme": float(np.exp(sve)),
        "sigma_max": float(scaled[0]),
        "numerical_rank": int(np.count_nonzero(s)),
        "top_singular_values": scaled[:top].tolist(),
    }
