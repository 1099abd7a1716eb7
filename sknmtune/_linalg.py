"""Linear algebra the spectral and transferability maths share: the chunked float64 Gram matrix."""

from __future__ import annotations

import numpy as np

__all__ = ["GRAM_CHUNK_ROWS", "chunked_gram"]

#: rows (or columns) of the input converted to float64 at a time, so memory stays ``O(chunk * width)``
GRAM_CHUNK_ROWS = 8192


def chunked_gram(X: np.ndarray, *, mean: np.ndarray | None = None,
                 targets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """The smaller Gram matrix of ``X - mean`` in float64, accumulated chunk by chunk.

    Returns ``(gram, cross, transposed)``: ``gram`` is ``X^T X`` (``D x D``) when ``n >= D`` and ``X X^T``
    (``n x n``, ``transposed=True``) otherwise; ``cross`` is ``X^T targets`` (only with ``targets`` and
    ``n >= D``; ``None`` otherwise). No more than :data:`GRAM_CHUNK_ROWS` rows (or columns) are converted to
    float64 at once.

    Examples
    --------
    >>> import numpy as np
    >>> from sknmtune._linalg import chunked_gram
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> gram, _, transposed = chunked_gram(X)
    >>> gram.tolist(), transposed
    ([[20.0, 26.0], [26.0, 35.0]], False)
    """
    n, d = X.shape
    if n >= d:
        gram = np.zeros((d, d))
        cross = None if targets is None else np.zeros((d, targets.shape[1]))
        for start in range(0, n, GRAM_CHUNK_ROWS):
            chunk = np.asarray(X[start : start + GRAM_CHUNK_ROWS], dtype=np.float64)
            if mean is not None:
                chunk = chunk - mean
            gram += chunk.T @ chunk
            if cross is not None:
                cross += chunk.T @ targets[start : start + GRAM_CHUNK_ROWS]
        return gram, cross, False
    gram = np.zeros((n, n))
    for start in range(0, d, GRAM_CHUNK_ROWS):
        chunk = np.asarray(X[:, start : start + GRAM_CHUNK_ROWS], dtype=np.float64)
        if mean is not None:
            chunk = chunk - mean[start : start + GRAM_CHUNK_ROWS]
        gram += chunk @ chunk.T
    return gram, None, True
