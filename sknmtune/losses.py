"""The NMTune regularizers (paper, Eq. 3-5) as plain differentiable torch functions.

They take a mini-batch of pre-trained features ``F`` (``B x D``) and of the head's
representation ``Z`` (``B x D``) and return a scalar tensor, so they can be added to
any training loop, not only :class:`~sknmtune.NMTuneClassifier`'s:

>>> import torch
>>> from sknmtune.losses import consistency_loss, covariance_loss, dominant_singular_value_loss
>>> F, Z = torch.randn(32, 16), torch.randn(32, 16, requires_grad=True)
>>> loss = consistency_loss(F, Z) + 0.04 * covariance_loss(Z) + 0.001 * dominant_singular_value_loss(Z, top_k=5)
>>> loss.backward()
>>> bool(torch.isfinite(Z.grad).all())
True

All three are safe on degenerate batches: a batch of one or two rows, duplicate
or all-zero rows, rank-deficient ``Z``; they return finite values with finite
gradients in float32 and float64.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as nnf

__all__ = ["consistency_loss", "covariance_loss", "dominant_singular_value_loss"]

_REDUCTIONS = ("mean", "batchmean", "sum")


def _check_matrix(name: str, T: torch.Tensor) -> None:
    if not isinstance(T, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(T).__name__}.")
    if T.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (batch, features) tensor, got shape {tuple(T.shape)}.")
    if T.shape[0] == 0 or T.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(T.shape)}).")


def _zero_like_graph(Z: torch.Tensor) -> torch.Tensor:
    """A zero scalar that stays connected to Z's graph (gradient exactly zero)."""
    return Z.sum() * 0.0


def consistency_loss(F: torch.Tensor, Z: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Consistency regularizer, Eq. 3: ``|| F/||F|| - Z/||Z|| ||^2`` with rows L2-normalized.

    Each row (sample) of ``F`` and of ``Z`` is scaled to unit L2 norm (an all-zero
    row stays zero), then the squared differences are reduced.

    Parameters
    ----------
    F : Tensor of shape (B, D)
        Frozen pre-trained features (treated as constants: no gradient flows into F).
    Z : Tensor of shape (B, D)
        The head's representation, same shape as ``F``.
    reduction : {"mean", "batchmean", "sum"}, default="mean"
        ``"mean"`` averages over all ``B * D`` entries (the authors' code);
        ``"batchmean"`` sums over features and averages over rows (the mean squared
        distance between normalized rows, in ``[0, 4]``); ``"sum"`` sums everything.

    Returns
    -------
    loss : scalar Tensor
    """
    _check_matrix("F", F)
    _check_matrix("Z", Z)
    if F.shape != Z.shape:
        raise ValueError(f"F and Z must have the same shape, got {tuple(F.shape)} and {tuple(Z.shape)}.")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}.")
    eps = torch.finfo(Z.dtype).eps if Z.dtype.is_floating_point else 1e-12
    Fn = nnf.normalize(F.detach().to(Z.dtype), dim=1, eps=eps)
    Zn = nnf.normalize(Z, dim=1, eps=eps)
    sq = (Fn - Zn).pow(2)
    if reduction == "mean":
        return sq.mean()
    if reduction == "batchmean":
        return sq.sum() / Z.shape[0]
    return sq.sum()


def covariance_loss(Z: torch.Tensor) -> torch.Tensor:
    """Covariance regularizer, Eq. 4: ``(1/D) * sum_{i != j} C(Z)_ij^2``.

    ``C(Z)`` is the ``(B - 1)``-normalized covariance of the column-centered batch.
    It is computed through the ``B x B`` Gram matrix
    (``||C||_F^2 = ||Zc Zc^T||_F^2 / (B-1)^2``), so the cost is ``O(B^2 D)`` rather
    than ``O(B D^2)``. A batch of one row has no covariance: the loss is zero
    (with a zero gradient).

    Parameters
    ----------
    Z : Tensor of shape (B, D)

    Returns
    -------
    loss : scalar Tensor
    """
    _check_matrix("Z", Z)
    n_rows, n_dims = Z.shape
    if n_rows < 2:
        return _zero_like_graph(Z)
    Zc = Z - Z.mean(dim=0, keepdim=True)
    denom = n_rows - 1
    gram = Zc @ Zc.T
    total_sq = gram.pow(2).sum() / denom**2  # ||C||_F^2
    diag_sq = (Zc.pow(2).sum(dim=0) / denom).pow(2).sum()  # sum_i C_ii^2
    return (total_sq - diag_sq).clamp_min(0.0) / n_dims


def dominant_singular_value_loss(Z: torch.Tensor, top_k: int = 1) -> torch.Tensor:
    """Dominant singular value regularizer, Eq. 5 generalized to the top ``k``.

    ``-(1/k) * sum_{i <= k} sigma_i / sum_j sigma_j`` over the singular values of
    the (uncentered) batch ``Z``. ``top_k=1`` is the paper's equation; ``top_k=5``
    is the authors' code. ``k`` is capped at ``min(B, D)``. Minimizing it raises
    the share of the top directions (lowers LSVR). An all-zero batch gives zero.

    Parameters
    ----------
    Z : Tensor of shape (B, D)
    top_k : int, default=1

    Returns
    -------
    loss : scalar Tensor, in ``[-1, 0]``
    """
    _check_matrix("Z", Z)
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
    # Same singular values either way; LAPACK is markedly faster on the tall orientation.
    s = torch.linalg.svdvals(Z.mT if Z.shape[0] < Z.shape[1] else Z)
    k = min(int(top_k), s.shape[0])
    total = s.sum()
    nonzero = total > 0
    # An all-zero batch has no spectrum: return 0 with a zero gradient, without a host sync.
    safe_total = torch.where(nonzero, total, torch.ones_like(total))
    return torch.where(nonzero, -(s[:k] / safe_total).mean(), torch.zeros_like(total))
