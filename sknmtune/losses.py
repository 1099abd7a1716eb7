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

:func:`regularizer_terms` computes the three of them at once, with one shared ``B x B``
Gram matrix and a hand-written backward pass (one autograd node): this is what the
training loop uses, and it is the fast path (see its Notes).

All of them are safe on degenerate batches: a batch of one or two rows, duplicate
or all-zero rows, rank-deficient ``Z``; they return finite values with finite
gradients in float32 and float64.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as nnf

__all__ = ["consistency_loss", "covariance_loss", "dominant_singular_value_loss", "regularizer_terms", "SVD_METHODS"]

_REDUCTIONS = ("mean", "batchmean", "sum")
_TERMS = ("mse", "cov", "svd")
#: Ways to compute the singular values of the SVD term (see :func:`dominant_singular_value_loss`).
SVD_METHODS = ("auto", "exact", "gram", "gram-cpu")
# Singular values below sigma_1 * _ZERO_SV * sqrt(n * eps64) count as zero in the gradient of the SVD
# term (the minimum-norm subgradient). There the float64 eigenvalues of the Gram matrix are still
# within 1% of the truth (they carry an absolute error of about n * eps64 * sigma_1^2).
_ZERO_SV = 10.0


def _check_matrix(name: str, T: torch.Tensor) -> None:
    if not isinstance(T, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(T).__name__}.")
    if T.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (batch, features) tensor, got shape {tuple(T.shape)}.")
    if T.shape[0] == 0 or T.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(T.shape)}).")


def _check_top_k(top_k: object) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
    return int(top_k)


def _check_reduction(reduction: object) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}.")
    return reduction  # type: ignore[return-value]


def _svd_method(method: object, device: torch.device) -> str:
    """Resolve ``method`` (one of :data:`SVD_METHODS`) for a tensor on ``device``."""
    if method not in SVD_METHODS:
        raise ValueError(f"method must be one of {SVD_METHODS}, got {method!r}.")
    if method != "auto":
        if method != "exact" and device.type not in ("cpu", "cuda"):
            raise ValueError(f"method={method!r} computes in float64, which {device.type} does not support; use 'exact'.")
        return method  # type: ignore[return-value]
    if device.type == "cpu":
        return "gram"
    if device.type == "cuda":
        # cuSOLVER's eigh of a 64 x 64 matrix costs ~2 ms per call on an H200, LAPACK's a fraction of that
        # plus one small copy each way; benchmarks/gpu_check.py measures both ("gram" is the other).
        return "gram-cpu"
    return "exact"  # devices without float64 (MPS...)


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
    _check_reduction(reduction)
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


def dominant_singular_value_loss(Z: torch.Tensor, top_k: int = 1, *, method: str = "auto") -> torch.Tensor:
    """Dominant singular value regularizer, Eq. 5 generalized to the top ``k``.

    ``-(1/k) * sum_{i <= k} sigma_i / sum_j sigma_j`` over the singular values of
    the (uncentered) batch ``Z``. ``top_k=1`` is the paper's equation; ``top_k=5``
    is the authors' code. ``k`` is capped at ``min(B, D)``. Minimizing it raises
    the share of the top directions (lowers LSVR). An all-zero batch gives zero.

    Parameters
    ----------
    Z : Tensor of shape (B, D)
    top_k : int, default=1
    method : {"auto", "exact", "gram", "gram-cpu"}, default="auto"
        How the singular values are computed; every method gives the same loss and
        gradient up to rounding (see :func:`regularizer_terms`, Notes).

        * ``"exact"``: :func:`torch.linalg.svdvals` of ``Z`` with autograd through it.
        * ``"gram"``: the eigenvalues of the ``min(B, D)``-sized Gram matrix, formed
          and decomposed in float64 on ``Z``'s device, with an analytic gradient.
        * ``"gram-cpu"``: the same, with the small eigen-decomposition run on the CPU
          (one device-to-host copy of the Gram matrix per call).
        * ``"auto"``: ``"gram"`` on the CPU, ``"gram-cpu"`` on CUDA, ``"exact"`` elsewhere.

    Returns
    -------
    loss : scalar Tensor, in ``[-1, 0]``

    Examples
    --------
    >>> import torch
    >>> from sknmtune.losses import dominant_singular_value_loss
    >>> Z = torch.diag(torch.tensor([3.0, 1.0]))
    >>> round(dominant_singular_value_loss(Z).item(), 4), round(dominant_singular_value_loss(Z, method="exact").item(), 4)
    (-0.75, -0.75)
    """
    _check_matrix("Z", Z)
    k = _check_top_k(top_k)
    resolved = _svd_method(method, Z.device)
    if resolved != "exact":
        return _NMTuneTerms.apply(Z.detach(), Z, ("svd",), k, "mean", resolved)[0]
    # Same singular values either way; LAPACK is markedly faster on the tall orientation.
    s = torch.linalg.svdvals(Z.mT if Z.shape[0] < Z.shape[1] else Z)
    k = min(k, s.shape[0])
    total = s.sum()
    nonzero = total > 0
    # An all-zero batch has no spectrum: return 0 with a zero gradient, without a host sync.
    safe_total = torch.where(nonzero, total, torch.ones_like(total))
    return torch.where(nonzero, -(s[:k] / safe_total).mean(), torch.zeros_like(total))


def regularizer_terms(
    F: torch.Tensor,
    Z: torch.Tensor,
    terms: Sequence[str] = _TERMS,
    *,
    top_k: int = 1,
    mse_reduction: str = "mean",
    svd_method: str = "auto",
) -> torch.Tensor:
    """The NMTune regularizers of one mini-batch, computed together: ``[L_MSE, L_COV, L_SVD]``.

    Returns the same values as :func:`consistency_loss`, :func:`covariance_loss` and
    :func:`dominant_singular_value_loss` (in the order of ``terms``), and the same
    gradients, for a fraction of the cost: the centered Gram matrix is formed once and
    serves both the covariance and the SVD term, and the backward pass is one
    hand-derived expression (one ``B x D`` matrix product) instead of autograd through
    an SVD.

    Parameters
    ----------
    F : Tensor of shape (B, D)
        Frozen pre-trained features (constants: no gradient flows into F).
    Z : Tensor of shape (B, D)
        The head's representation.
    terms : sequence of {"mse", "cov", "svd"}, default=("mse", "cov", "svd")
        Which terms to compute, and their order in the result. A term left out costs nothing.
    top_k : int, default=1
        Number of top singular values in the SVD term.
    mse_reduction : {"mean", "batchmean", "sum"}, default="mean"
        Reduction of the consistency term (see :func:`consistency_loss`).
    svd_method : {"auto", "exact", "gram", "gram-cpu"}, default="auto"
        See :func:`dominant_singular_value_loss`. With ``"exact"`` the three terms are
        the three reference functions, computed separately with autograd.

    Returns
    -------
    values : Tensor of shape (len(terms),)
        Differentiable with respect to ``Z`` (first-order gradients only).

    Notes
    -----
    The singular values of ``Z`` are the square roots of the eigenvalues of the
    ``n x n`` Gram matrix (``n = min(B, D)``; ``Z Z^T`` when ``B <= D``). It is formed in
    float64 from the centered batch ``Zc`` (the covariance term needs its Gram matrix
    anyway; the uncentered one follows exactly as ``Zc Zc^T + a 1^T + 1 a^T + ||m||^2``
    with ``m`` the column means and ``a = Zc m``), so small singular values keep the
    accuracy of a direct SVD of a float32 ``Z`` instead of losing half their digits to
    the squaring. With ``w_i = dL/dsigma_i``, the gradient is
    ``dL/dZ = U diag(w / sigma) U^T Z`` (``U`` the eigenvectors); singular values below
    ``sigma_1 * 10 * sqrt(n * eps64)`` (``1.2e-6 * sigma_1`` for ``n = 64``) count as zero
    there, which gives the minimum-norm subgradient at rank-deficient batches (where
    :func:`torch.linalg.svdvals` picks an arbitrary one). The ``n x n`` work (assembling the
    Gram matrix, its eigen-decomposition, the weights ``P = U diag(w / sigma) U^T``) runs on
    the host in float64: on CUDA that is one small copy each way per call. Tested against
    ``"exact"`` in float64 (``tests/test_losses.py``): values to ``1e-9`` relative (``1e-7``
    for rank-deficient batches), gradients to ``1e-7`` (projected on the row space of ``Z``
    for rank-deficient batches), on random, low-rank, duplicate-row, ill-conditioned
    (``sigma_min = 1e-5 sigma_1``), nearly rank-deficient and nearly degenerate batches.

    Examples
    --------
    >>> import torch
    >>> from sknmtune.losses import regularizer_terms
    >>> F, Z = torch.randn(64, 32), torch.randn(64, 32, requires_grad=True)
    >>> mse, cov, svd = regularizer_terms(F, Z, top_k=5)
    >>> (mse + 0.04 * cov + 0.001 * svd).backward()
    >>> Z.grad.shape
    torch.Size([64, 32])
    """
    _check_matrix("F", F)
    _check_matrix("Z", Z)
    if F.shape != Z.shape:
        raise ValueError(f"F and Z must have the same shape, got {tuple(F.shape)} and {tuple(Z.shape)}.")
    if isinstance(terms, str) or not all(t in _TERMS for t in terms) or len(set(terms)) != len(terms) or not terms:
        raise ValueError(f"terms must be a non-empty sequence of distinct names from {_TERMS}, got {terms!r}.")
    k = _check_top_k(top_k)
    _check_reduction(mse_reduction)
    method = _svd_method(svd_method, Z.device)
    if method == "exact":
        reference = {
            "mse": lambda: consistency_loss(F, Z, reduction=mse_reduction),
            "cov": lambda: covariance_loss(Z),
            "svd": lambda: dominant_singular_value_loss(Z, top_k=k, method="exact"),
        }
        return torch.stack([reference[t]() for t in terms])
    return _NMTuneTerms.apply(F, Z, tuple(terms), k, mse_reduction, method)


# ----------------------------------------------------------------------------- fused implementation
# On a GPU every operation below is a kernel launch, and on a CPU a dispatch of a few microseconds:
# the code keeps their number low (about 70 dispatches, views included, for the three terms forward and
# backward; the n x n spectral work runs in NumPy on the host, see _svd_term).
class _NMTuneTerms(torch.autograd.Function):
    """The requested terms in one forward pass, and their gradient in closed form.

    Everything that does not depend on the incoming gradient is prepared in ``forward``,
    so ``backward`` is a few operations around one ``B x D`` matrix product.
    """

    @staticmethod
    def forward(ctx, F, Z, terms, top_k, mse_reduction, method):  # noqa: PLR0913
        n_rows, n_dims = Z.shape
        dtype = torch.promote_types(Z.dtype, torch.float32)
        Zw = Z.detach().to(dtype)
        rows_side = n_rows <= n_dims  # the Gram matrix is B x B (else D x D)
        values: dict[str, torch.Tensor] = {}
        saved: dict[str, torch.Tensor] = {}
        if "mse" in terms:
            # Eq. 3 with nnf.normalize's conventions: rows divided by max(||row||, eps).
            eps = torch.finfo(Z.dtype).eps if Z.dtype.is_floating_point else 1e-12
            norm_z = torch.linalg.vector_norm(Zw, dim=1, keepdim=True)
            scale_z = norm_z.clamp_min(eps)
            Zn = Zw / scale_z
            diff = Zn - nnf.normalize(F.detach().to(Z.dtype).to(dtype), dim=1, eps=eps)
            flat = diff.reshape(-1)
            denom = {"mean": n_rows * n_dims, "batchmean": n_rows, "sum": 1}[mse_reduction]
            values["mse"] = torch.dot(flat, flat) / denom
            # d/dZ_b ||Zn_b - Fn_b||^2 = 2 (diff_b - [norm_b > eps] Zn_b <Zn_b, diff_b>) / max(norm_b, eps)
            inner = (Zn * diff).sum(dim=1, keepdim=True).mul_(norm_z > eps)
            saved["mse_grad"] = torch.addcmul(diff, Zn, inner, value=-1.0).div_(scale_z * (denom / 2.0))
        if "cov" in terms or "svd" in terms:
            # In float64 (centering too): rounding Zc would move the small singular values.
            Z64 = Zw.to(torch.float64)
            mean64 = Z64.mean(dim=0, keepdim=True)
            Zc64 = Z64 - mean64
            gram_c = Zc64 @ Zc64.mT if rows_side else Zc64.mT @ Zc64  # n x n
            saved["Zc64"] = Zc64
        if "cov" in terms:
            if n_rows < 2:  # no covariance: zero, with a zero gradient
                values["cov"] = Zw.new_zeros(())
            else:
                # ||C||_F^2 - sum_i C_ii^2 with C = Zc^T Zc / (B-1): through the B x B Gram matrix on the rows
                # side (||Zc^T Zc||_F = ||Zc Zc^T||_F, C_ii = ||Zc[:, i]||^2 / (B-1)), directly otherwise.
                # Its gradient, 4/(D (B-1)^2) Zc (Zc^T Zc - diag(Zc^T Zc)), is formed in backward; the
                # clamp at 0 only absorbs rounding where the gradient vanishes anyway.
                col_sq = Zc64.square().sum(dim=0) if rows_side else gram_c.diagonal()
                raw = torch.dot(gram_c.reshape(-1), gram_c.reshape(-1)) - torch.dot(col_sq, col_sq)
                values["cov"] = raw.clamp_min(0.0) / (n_dims * (n_rows - 1) ** 2)
                saved.update(gram_c=gram_c, col_sq=col_sq)
        if "svd" in terms:
            # The uncentered Gram matrix follows from the centered one (Z = Zc + 1 m^T); it is assembled,
            # decomposed and turned into the gradient's weights on the host (see _svd_term).
            side = Zc64 @ mean64.mT if rows_side else Zc64.sum(dim=0, keepdim=True).mT  # a = Zc m, or s = Zc^T 1
            value, P, shift = _svd_term(gram_c, side, mean64, n_rows, rows_side, top_k, method)
            values["svd"] = value
            # dSVD/dZ = P Z = P Zc + (P 1) m^T (rows side) or Z P = Zc P + 1 (m P) (columns side). P holds
            # entries as large as w / sigma_min that cancel against Z: it stays float64, as does the product.
            saved["svd_mix"] = P
            saved["svd_shift"] = shift * mean64 if rows_side else shift
        ctx.terms, ctx.rows_side, ctx.shape, ctx.dtype = terms, rows_side, (n_rows, n_dims), dtype
        ctx.saved_names = tuple(saved)
        ctx.save_for_backward(*saved.values())
        return torch.stack([values[name].to(Z.dtype) for name in terms])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_values):
        saved = dict(zip(ctx.saved_names, ctx.saved_tensors))
        n_rows, n_dims = ctx.shape
        scale = dict(zip(ctx.terms, grad_values.to(torch.float64).unbind()))
        # The Gram-based terms, in float64: dL/dZ = mixing @ Zc (rows side) or Zc @ mixing, + corrections.
        gram_part = mixing = None
        if "gram_c" in saved:
            coef = scale["cov"] * (4.0 / (n_dims * (n_rows - 1) ** 2))
            mixing, col_sq = saved["gram_c"] * coef, saved["col_sq"]
            if ctx.rows_side:
                gram_part = saved["Zc64"] * (col_sq * -coef)
            else:
                mixing = mixing - torch.diag_embed(col_sq * coef)
        if "svd" in scale:
            mixing = saved["svd_mix"] * scale["svd"] if mixing is None else torch.add(mixing, saved["svd_mix"] * scale["svd"])
            shift = saved["svd_shift"] * scale["svd"]
            gram_part = shift if gram_part is None else gram_part + shift
        if mixing is not None:
            Zc64 = saved["Zc64"]
            if gram_part is None or gram_part.shape != ctx.shape:
                product = mixing @ Zc64 if ctx.rows_side else Zc64 @ mixing
                gram_part = product if gram_part is None else product + gram_part
            else:
                gram_part = torch.addmm(gram_part, mixing, Zc64) if ctx.rows_side else torch.addmm(gram_part, Zc64, mixing)
        grad = None if gram_part is None else gram_part.to(ctx.dtype)
        if "mse" in scale:
            mse = saved["mse_grad"] * scale["mse"].to(ctx.dtype)
            grad = mse if grad is None else grad.add_(mse)
        if grad is None:  # only a covariance term, on a batch of one row
            grad = grad_values.new_zeros(ctx.shape)
        return None, grad.to(grad_values.dtype), None, None, None, None


def _svd_term(
    gram_c: torch.Tensor, side: torch.Tensor, mean64: torch.Tensor, n_rows: int, rows_side: bool, top_k: int, method: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``L_SVD`` and its gradient's weights, from the centered float64 Gram matrix.

    Returns ``value``, ``P = U diag(w / sigma) U^T`` (``w = dL/dsigma``, ``U`` the eigenvectors of
    the uncentered Gram matrix) and the shift: ``P 1`` (rows side, ``n x 1``) or ``m P`` (columns
    side, ``1 x D``), all on ``gram_c``'s device. The small dense work runs on the CPU in NumPy (a
    few microseconds per operation instead of a device launch each); only the eigen-decomposition
    itself runs on the device for ``method="gram"`` on CUDA.
    """
    device = gram_c.device
    n = gram_c.shape[0]
    k = min(top_k, n)
    host = torch.cat([gram_c.reshape(-1), side.reshape(-1), mean64.reshape(-1)]).cpu().numpy()  # one copy
    gc, s, m = host[: n * n].reshape(n, n), host[n * n : n * n + n], host[n * n + n :]
    if rows_side:  # Z Z^T = Zc Zc^T + a 1^T + 1 a^T + ||m||^2
        gram = gc + s[:, None] + s[None, :] + m @ m
    else:  # Z^T Z = Zc^T Zc + s m^T + m s^T + B m m^T
        half = s + (n_rows / 2.0) * m
        gram = gc + np.outer(half, m) + np.outer(m, half)
    gram_t = torch.from_numpy(gram)
    if method == "gram" and device.type != "cpu":
        lam, U = (t.cpu() for t in torch.linalg.eigh(gram_t.to(device)))
    else:
        lam, U = torch.linalg.eigh(gram_t)  # ascending
    lam, U = lam.numpy(), U.numpy()
    sigma = np.sqrt(np.maximum(lam, 0.0))
    # An all-zero batch: total = 0, so value = 0 and every sigma is cut off below (gradient 0).
    total = max(float(sigma.sum()), np.finfo(np.float64).tiny)
    share = float(sigma[n - k :].sum()) / total
    # w_i = dL/dsigma_i = share / (k S) - [i in top k] / (k S); P = U diag(w_i / sigma_i) U^T over the kept sigma_i
    keep = sigma > sigma[-1] * (_ZERO_SV * math.sqrt(n * np.finfo(np.float64).eps))
    inv = np.divide(1.0, sigma, out=np.zeros_like(sigma), where=keep)
    coef = inv * (share / (k * total))
    coef[n - k :] -= inv[n - k :] / (k * total)
    P = (U * coef) @ U.T
    shift = P.sum(axis=1) if rows_side else m @ P
    packed = torch.from_numpy(np.concatenate([P.reshape(-1), shift, [-share / k]]))
    if device.type != "cpu":
        packed = packed.to(device)  # one copy back
    P_t, shift_t = packed[: n * n].view(n, n), packed[n * n : -1]
    return packed[-1], P_t, shift_t.view(n, 1) if rows_side else shift_t.view(1, -1)
