"""Synthetic label noise: corrupt an exact fraction of a label vector.

The paper studies backbones pre-trained on data whose labels were corrupted on purpose
(0 %, 5 %, 10 %, 20 %, 30 % noise). These helpers reproduce that corruption on any label
vector, so that the same experiment can be run on a downstream task or a toy problem.

Two kinds of noise are provided:

* **symmetric** (uniform): each corrupted label moves to one of the *other* classes,
  chosen uniformly at random;
* **pair** (asymmetric): each corrupted label of class ``k`` moves to class ``k + 1``
  (modulo the number of classes), in sorted class order.

Both corrupt exactly ``round(noise_rate * n_samples)`` rows (halves rounded up), chosen
uniformly without replacement, and return the noisy labels with a boolean mask of the
rows that changed. Pure NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state

__all__ = ["symmetric_label_noise", "pair_label_noise", "inject_label_noise"]

RandomStateLike = int | np.random.RandomState | None


def _validate_noise_rate(noise_rate: Any) -> float:
    """Return ``noise_rate`` as a float in [0, 1), or raise a ``ValueError`` naming it."""
    if isinstance(noise_rate, bool) or not isinstance(noise_rate, Real):
        raise ValueError(f"noise_rate must be a real number in [0, 1), got {noise_rate!r}.")
    rate = float(noise_rate)
    if not (0.0 <= rate < 1.0):  # also rejects NaN
        raise ValueError(
            f"noise_rate must be in [0, 1) (a fraction: 0.05 means 5 % of the labels), got {noise_rate!r}."
        )
    return rate


def _validate_labels(y: ArrayLike) -> np.ndarray:
    """Return ``y`` as a non-empty 1-D array of comparable, non-missing labels."""
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got an array of shape {y_arr.shape}.")
    if y_arr.shape[0] == 0:
        raise ValueError("y is empty; label noise needs at least one sample.")
    if y_arr.dtype.kind == "f" and not np.all(np.isfinite(y_arr)):
        raise ValueError("y contains NaN or infinite labels.")
    return y_arr


def _sorted_unique(labels: np.ndarray, name: str) -> np.ndarray:
    """``np.unique`` with a clear error when labels cannot be ordered (e.g. mixed str/int)."""
    try:
        return np.unique(labels)
    except TypeError as exc:
        raise ValueError(
            f"the labels in {name} cannot be sorted ({exc}); use labels of a single comparable type."
        ) from exc


def _resolve_classes(y: np.ndarray, classes: ArrayLike | None) -> np.ndarray:
    """Return the sorted class set (from ``y`` or the explicit ``classes``) in ``y``'s dtype."""
    if classes is None:
        out = _sorted_unique(y, "y")
        if out.shape[0] < 2:
            raise ValueError(
                f"y contains a single class ({out[0]!r}); label noise needs at least 2 classes. "
                "Pass classes=[...] to allow labels that are absent from y."
            )
        return out

    cls = np.asarray(classes)
    if cls.ndim != 1:
        raise ValueError(f"classes must be 1-D, got an array of shape {cls.shape}.")
    cls_sorted = _sorted_unique(cls, "classes")
    if cls_sorted.shape[0] != cls.shape[0]:
        raise ValueError("classes contains duplicated labels.")
    if cls_sorted.shape[0] < 2:
        raise ValueError(f"classes must contain at least 2 labels, got {cls_sorted.shape[0]}.")
    # The noisy labels are written into an array of y's dtype: every class must survive the cast
    # (e.g. the class "cat" does not fit a '<U1' y, 0.5 does not fit an int y).
    try:
        cast = cls_sorted.astype(y.dtype)
        same = bool(np.all(cast == cls_sorted))
    except (TypeError, ValueError):
        same = False
    if not same:
        raise ValueError(
            f"classes cannot be stored in y's dtype ({y.dtype}); convert y, e.g. y.astype(object)."
        )
    missing = np.setdiff1d(_sorted_unique(y, "y"), cast)
    if missing.shape[0]:
        raise ValueError(f"classes must contain every label in y; missing: {missing.tolist()!r}.")
    return cast


def _n_corrupted(noise_rate: float, n_samples: int) -> int:
    """``round(noise_rate * n_samples)``, halves rounded up."""
    return int(math.floor(noise_rate * n_samples + 0.5))


def _corrupt(
    y: ArrayLike,
    noise_rate: float,
    random_state: RandomStateLike,
    classes: ArrayLike | None,
    relabel: Callable[[np.ndarray, int, np.random.RandomState], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Shared skeleton: validate, pick rows, map their class indices with ``relabel``."""
    rate = _validate_noise_rate(noise_rate)
    y_arr = _validate_labels(y)
    cls = _resolve_classes(y_arr, classes)
    rng = check_random_state(random_state)

    n_samples = y_arr.shape[0]
    y_noisy = y_arr.copy()
    mask = np.zeros(n_samples, dtype=bool)
    n_noisy = _n_corrupted(rate, n_samples)
    if n_noisy == 0:
        return y_noisy, mask

    rows = rng.choice(n_samples, size=n_noisy, replace=False)
    old_idx = np.searchsorted(cls, y_arr[rows])
    new_idx = relabel(old_idx, cls.shape[0], rng)
    y_noisy[rows] = cls[new_idx]
    mask[rows] = True
    return y_noisy, mask


def _relabel_uniform_other(old_idx: np.ndarray, n_classes: int, rng: np.random.RandomState) -> np.ndarray:
    # Draw among the n_classes - 1 other classes, then skip over the original one.
    draw = rng.randint(0, n_classes - 1, size=old_idx.shape[0])
    return draw + (draw >= old_idx)


def _relabel_next(old_idx: np.ndarray, n_classes: int, rng: np.random.RandomState) -> np.ndarray:
    return (old_idx + 1) % n_classes


def symmetric_label_noise(
    y: ArrayLike,
    noise_rate: float,
    *,
    random_state: RandomStateLike = None,
    classes: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a fraction of labels, each moved uniformly to a different class.

    Exactly ``round(noise_rate * n_samples)`` rows (halves rounded up) are chosen uniformly
    without replacement; each chosen label is replaced by one of the other ``n_classes - 1``
    classes with equal probability, so every corrupted label differs from the original.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any single sortable type (ints, strings, ...).
    noise_rate : float in [0, 1)
        Fraction of the labels to corrupt.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of rows and of new labels (see :term:`random_state`).
    classes : array-like of shape (n_classes,), default=None
        The label set to draw new labels from. Defaults to the labels present in ``y``;
        when given it must contain every label of ``y`` (it may contain more).

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,)
        A copy of ``y`` (same dtype) with the corrupted labels.
    noisy_mask : ndarray of shape (n_samples,), dtype=bool
        True where ``y_noisy`` differs from ``y``.

    Raises
    ------
    ValueError
        If ``noise_rate`` is not in [0, 1), ``y`` is not a non-empty 1-D array, fewer than
        two classes are available, or ``classes`` misses a label of ``y``.

    See Also
    --------
    pair_label_noise : Asymmetric noise, class ``k`` to class ``k + 1``.
    inject_label_noise : Dispatch on ``kind``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.noise import symmetric_label_noise
    >>> y = np.array(["cat", "dog", "fox"] * 4)
    >>> y_noisy, mask = symmetric_label_noise(y, 0.25, random_state=0)
    >>> int(mask.sum())
    3
    >>> bool(np.all(y_noisy[mask] != y[mask])), y_noisy.dtype == y.dtype
    (True, True)
    """
    return _corrupt(y, noise_rate, random_state, classes, _relabel_uniform_other)


def pair_label_noise(
    y: ArrayLike,
    noise_rate: float,
    *,
    random_state: RandomStateLike = None,
    classes: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a fraction of labels with pair (asymmetric) noise.

    Convention: the classes are sorted (``np.unique`` order) and each corrupted label of
    the ``k``-th class becomes the ``(k + 1) mod n_classes``-th class, so the last class
    flips to the first. Exactly ``round(noise_rate * n_samples)`` rows (halves rounded up)
    are chosen uniformly without replacement, regardless of their class, so each class is
    corrupted at ``noise_rate`` in expectation.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any single sortable type (ints, strings, ...).
    noise_rate : float in [0, 1)
        Fraction of the labels to corrupt.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of rows (see :term:`random_state`).
    classes : array-like of shape (n_classes,), default=None
        The label set that defines the cycle. Defaults to the labels present in ``y``;
        when given it must contain every label of ``y``.

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,)
        A copy of ``y`` (same dtype) with the corrupted labels.
    noisy_mask : ndarray of shape (n_samples,), dtype=bool
        True where ``y_noisy`` differs from ``y``.

    Raises
    ------
    ValueError
        As :func:`symmetric_label_noise`.

    See Also
    --------
    symmetric_label_noise : Uniform noise over the other classes.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune.noise import pair_label_noise
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> y_noisy, mask = pair_label_noise(y, 0.5, random_state=0)
    >>> bool(np.all(y_noisy[mask] == (y[mask] + 1) % 3))
    True
    """
    return _corrupt(y, noise_rate, random_state, classes, _relabel_next)


_KINDS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "symmetric": symmetric_label_noise,
    "pair": pair_label_noise,
}


def inject_label_noise(
    y: ArrayLike,
    noise_rate: float,
    *,
    kind: str = "symmetric",
    random_state: RandomStateLike = None,
    classes: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a fraction of labels with the noise model named by ``kind``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of any single sortable type.
    noise_rate : float in [0, 1)
        Fraction of the labels to corrupt.
    kind : {"symmetric", "pair"}, default="symmetric"
        ``"symmetric"`` calls :func:`symmetric_label_noise`, ``"pair"`` calls
        :func:`pair_label_noise`.
    random_state : int, RandomState instance or None, default=None
        Seeds the corruption.
    classes : array-like of shape (n_classes,), default=None
        The label set; defaults to the labels present in ``y``.

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,)
        A copy of ``y`` (same dtype) with the corrupted labels.
    noisy_mask : ndarray of shape (n_samples,), dtype=bool
        True where ``y_noisy`` differs from ``y``.

    Examples
    --------
    >>> from sknmtune.noise import inject_label_noise
    >>> y_noisy, mask = inject_label_noise([0, 1] * 10, 0.1, kind="pair", random_state=0)
    >>> int(mask.sum())
    2
    """
    try:
        func = _KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}.") from None
    return func(y, noise_rate, random_state=random_state, classes=classes)
