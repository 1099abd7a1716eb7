"""Tests for sknmtune.losses against independent NumPy references (paper, Eq. 3-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sknmtune.losses import consistency_loss, covariance_loss, dominant_singular_value_loss, regularizer_terms

DTYPES = [torch.float32, torch.float64]
RTOL = {torch.float32: 1e-4, torch.float64: 1e-10}


# ----------------------------------------------------------------- references
def _ref_consistency(F: np.ndarray, Z: np.ndarray, reduction: str) -> float:
    F, Z = F.astype(np.float64), Z.astype(np.float64)

    def unit_rows(A):
        norms = np.sqrt((A * A).sum(axis=1, keepdims=True))
        out = np.zeros_like(A)
        np.divide(A, norms, out=out, where=norms > 0)
        return out

    sq = (unit_rows(F) - unit_rows(Z)) ** 2
    return {"mean": sq.mean(), "batchmean": sq.sum() / Z.shape[0], "sum": sq.sum()}[reduction]


def _ref_covariance(Z: np.ndarray) -> float:
    Z = Z.astype(np.float64)
    if Z.shape[0] < 2:
        return 0.0
    C = np.atleast_2d(np.cov(Z, rowvar=False, ddof=1))  # D x D, (M-1)-normalized, column-centered
    off = C[~np.eye(C.shape[0], dtype=bool)]
    return float((off**2).sum() / Z.shape[1])


def _ref_svd(Z: np.ndarray, top_k: int) -> float:
    s = np.linalg.svd(Z.astype(np.float64), compute_uv=False)
    if s.sum() == 0:
        return 0.0
    k = min(top_k, s.size)
    return float(-np.mean(s[:k] / s.sum()))


def _t(a: np.ndarray, dtype=torch.float64, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=dtype, requires_grad=grad)


def _degenerate_batches() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    low_rank = rng.standard_normal((12, 2)) @ rng.standard_normal((2, 6))
    dup = np.repeat(rng.standard_normal((1, 6)), 5, axis=0)
    zero_rows = rng.standard_normal((6, 6))
    zero_rows[[1, 4]] = 0.0
    return {
        "batch_of_1": rng.standard_normal((1, 6)),
        "batch_of_2": rng.standard_normal((2, 6)),
        "rank_deficient": low_rank,
        "duplicate_rows": dup,
        "zero_rows": zero_rows,
        "all_zero": np.zeros((5, 6)),
    }


DEGENERATE = _degenerate_batches()


# ------------------------------------------------------------------- values
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum"])
def test_consistency_matches_numpy(dtype, reduction):
    rng = np.random.default_rng(0)
    F = rng.standard_normal((17, 9)) * 3.0
    Z = rng.standard_normal((17, 9))
    got = consistency_loss(_t(F, dtype), _t(Z, dtype), reduction=reduction)
    assert got.dtype == dtype and got.ndim == 0
    np.testing.assert_allclose(got.item(), _ref_consistency(F, Z, reduction), rtol=RTOL[dtype])


def test_consistency_reductions_are_consistent_and_scale_free():
    rng = np.random.default_rng(1)
    F, Z = _t(rng.standard_normal((8, 5))), _t(rng.standard_normal((8, 5)))
    mean = consistency_loss(F, Z, reduction="mean")
    batchmean = consistency_loss(F, Z, reduction="batchmean")
    total = consistency_loss(F, Z, reduction="sum")
    np.testing.assert_allclose(batchmean.item(), mean.item() * 5, rtol=1e-12)
    np.testing.assert_allclose(total.item(), mean.item() * 40, rtol=1e-12)
    # rows are normalized: rescaling each row by a positive factor changes nothing
    scales = _t(rng.uniform(0.1, 50.0, (8, 1)))
    np.testing.assert_allclose(consistency_loss(F * scales, Z / scales).item(), mean.item(), rtol=1e-12)
    # identical directions give 0, opposite directions give 4 per row for batchmean
    assert consistency_loss(F, 3.0 * F).item() == pytest.approx(0.0, abs=1e-12)
    assert consistency_loss(F, -F, reduction="batchmean").item() == pytest.approx(4.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(64, 16), (5, 40), (1024, 4)])
def test_covariance_matches_numpy_cov(dtype, shape):
    rng = np.random.default_rng(2)
    Z = rng.standard_normal(shape) * rng.uniform(0.2, 5.0, shape[1]) + 3.0
    Z = Z + 0.5 * Z[:, :1]  # correlated columns so the off-diagonal part is substantial
    Z = Z.astype(np.float32 if dtype == torch.float32 else np.float64)
    got = covariance_loss(_t(Z, dtype))
    assert got.dtype == dtype and got.ndim == 0
    np.testing.assert_allclose(got.item(), _ref_covariance(Z), rtol=1e-3 if dtype == torch.float32 else 1e-10)


def test_covariance_zero_for_uncorrelated_and_positive_for_correlated():
    # columns of a centered orthogonal design are exactly uncorrelated
    H = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=float)[:, 1:]
    assert covariance_loss(_t(H)).item() == pytest.approx(0.0, abs=1e-12)
    x = np.arange(6.0)
    Z = np.stack([x, 2 * x], axis=1)  # cov = [[v, 2v], [2v, 4v]], v = var(x)
    v = np.var(x, ddof=1)
    assert covariance_loss(_t(Z)).item() == pytest.approx(2 * (2 * v) ** 2 / 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "top_k"), [((32, 8), 1), ((32, 8), 5), ((6, 20), 5), ((6, 20), 100), ((4, 3), 3)])
def test_dominant_singular_value_matches_numpy(dtype, shape, top_k):
    rng = np.random.default_rng(3)
    Z = rng.standard_normal(shape)
    got = dominant_singular_value_loss(_t(Z, dtype), top_k=top_k)
    assert got.dtype == dtype and got.ndim == 0
    np.testing.assert_allclose(got.item(), _ref_svd(Z, top_k), rtol=RTOL[dtype] * 10)
    assert -1.0 <= got.item() < 0.0


def test_dominant_singular_value_top_k_capped_at_min_dim():
    rng = np.random.default_rng(4)
    Z = _t(rng.standard_normal((3, 7)))
    # k >= min(B, D) averages every normalized singular value: exactly -1/min(B, D)
    for k in (3, 4, 1000):
        assert dominant_singular_value_loss(Z, top_k=k).item() == pytest.approx(-1 / 3)
    assert dominant_singular_value_loss(_t(np.diag([3.0, 1.0])), top_k=1).item() == pytest.approx(-0.75)


# -------------------------------------------------------- degenerate batches
LOSSES = {
    "consistency": lambda F, Z: consistency_loss(F, Z),
    "covariance": lambda F, Z: covariance_loss(Z),
    "svd_top1": lambda F, Z: dominant_singular_value_loss(Z, top_k=1),
    "svd_top5": lambda F, Z: dominant_singular_value_loss(Z, top_k=5),
}
REFS = {
    "consistency": lambda F, Z: _ref_consistency(F, Z, "mean"),
    "covariance": lambda F, Z: _ref_covariance(Z),
    "svd_top1": lambda F, Z: _ref_svd(Z, 1),
    "svd_top5": lambda F, Z: _ref_svd(Z, 5),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(DEGENERATE))
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_degenerate_batches_finite_value_and_gradient(name, case, dtype):
    Z_np = DEGENERATE[case]
    F_np = np.random.default_rng(5).standard_normal(Z_np.shape)
    Z = _t(Z_np, dtype, grad=True)
    loss = LOSSES[name](_t(F_np, dtype), Z)
    loss.backward()
    assert torch.isfinite(loss)
    assert Z.grad is not None and torch.isfinite(Z.grad).all()
    np.testing.assert_allclose(loss.item(), REFS[name](F_np, Z_np), rtol=1e-4, atol=1e-6)


def test_covariance_batch_of_one_is_zero_with_zero_gradient():
    Z = _t(np.ones((1, 4)), grad=True)
    loss = covariance_loss(Z)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(Z.grad, torch.zeros_like(Z))


@pytest.mark.parametrize("dtype", DTYPES)
def test_consistency_zero_row_stays_zero(dtype):
    F = _t(np.array([[1.0, 0.0], [0.0, 2.0]]), dtype)
    Z = _t(np.array([[0.0, 0.0], [0.0, 5.0]]), dtype)
    # row 0: ||(1,0) - (0,0)||^2 = 1 ; row 1: identical directions -> 0
    assert consistency_loss(F, Z, reduction="sum").item() == pytest.approx(1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dominant_singular_value_all_zero_gradient_survives_weighting(dtype):
    """An all-zero batch is documented to give 0; its gradient must stay usable once weighted.

    The loss is scale-invariant, so at Z = 0 any finite, modest gradient is acceptable,
    but ``-s[:k] / s.sum().clamp_min(tiny)`` back-propagates ``1/tiny`` (~4e37 in float32,
    ~2e307 in float64), which overflows to inf as soon as the term is multiplied by 10.
    """
    Z = torch.zeros(8, 4, dtype=dtype, requires_grad=True)
    loss = 10.0 * dominant_singular_value_loss(Z, top_k=1)
    loss.backward()
    assert loss.item() == 0.0
    n_bad = int((~torch.isfinite(Z.grad)).sum())
    assert n_bad == 0, f"{n_bad}/{Z.grad.numel()} gradient entries are inf/NaN"


# ------------------------------------------------------------------ gradients
def test_gradcheck_float64():
    rng = np.random.default_rng(6)
    F = _t(rng.standard_normal((6, 4)))
    Z = _t(rng.standard_normal((6, 4)), grad=True)
    for reduction in ("mean", "batchmean", "sum"):
        assert torch.autograd.gradcheck(lambda z: consistency_loss(F, z, reduction=reduction), (Z,))
    assert torch.autograd.gradcheck(covariance_loss, (Z,))
    for k in (1, 3):
        assert torch.autograd.gradcheck(lambda z: dominant_singular_value_loss(z, top_k=k), (Z,))
    Zwide = _t(rng.standard_normal((3, 7)), grad=True)
    assert torch.autograd.gradcheck(lambda z: dominant_singular_value_loss(z, top_k=2), (Zwide,))


def test_consistency_gradient_flows_to_Z_not_F():
    rng = np.random.default_rng(8)
    F = _t(rng.standard_normal((5, 3)), grad=True)
    Z = _t(rng.standard_normal((5, 3)), grad=True)
    consistency_loss(F, Z).backward()
    assert F.grad is None
    assert Z.grad is not None and Z.grad.abs().sum() > 0


def test_consistency_accepts_F_of_other_dtype():
    rng = np.random.default_rng(9)
    F, Z = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    got = consistency_loss(_t(F, torch.float32), _t(Z, torch.float64))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.item(), _ref_consistency(F.astype(np.float32), Z, "mean"), rtol=1e-6)


def _descend(loss_fn, Z0: torch.Tensor, steps: int = 50, lr: float = 0.05) -> torch.Tensor:
    """Plain gradient descent on Z alone."""
    Z = Z0.clone()
    for _ in range(steps):
        Z.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(Z), Z)
        Z = (Z - lr * grad).detach()
    return Z


def test_svd_term_minimization_raises_top_singular_value_share():
    Z0 = torch.randn(32, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def share(Z):
        s = np.linalg.svd(Z.numpy(), compute_uv=False)
        return s[0] / s.sum()

    Z1 = _descend(lambda z: dominant_singular_value_loss(z, top_k=1), Z0, lr=5.0)
    assert share(Z1) > share(Z0) + 0.05


def test_covariance_term_minimization_lowers_off_diagonal_covariance():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(64, 1, generator=g, dtype=torch.float64)
    Z0 = base + 0.3 * torch.randn(64, 6, generator=g, dtype=torch.float64)  # strongly correlated columns

    def off_diag(Z):
        C = np.cov(Z.numpy(), rowvar=False)
        return np.abs(C[~np.eye(6, dtype=bool)]).sum()

    Z1 = _descend(covariance_loss, Z0, lr=0.5)
    assert off_diag(Z1) < 0.5 * off_diag(Z0)
    assert covariance_loss(Z1).item() < covariance_loss(Z0).item()


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call",
    [
        lambda: consistency_loss(np.ones((2, 2)), torch.ones(2, 2)),
        lambda: consistency_loss(torch.ones(2, 2), [[1.0, 1.0], [1.0, 1.0]]),
        lambda: covariance_loss(np.ones((2, 2))),
        lambda: dominant_singular_value_loss(np.ones((2, 2))),
    ],
)
def test_non_tensor_raises_type_error(call):
    with pytest.raises(TypeError, match="torch.Tensor"):
        call()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: consistency_loss(torch.ones(3), torch.ones(3)), "2-D"),
        (lambda: consistency_loss(torch.ones(2, 3), torch.ones(2, 4)), "same shape"),
        (lambda: consistency_loss(torch.ones(2, 3), torch.ones(3, 3)), "same shape"),
        (lambda: consistency_loss(torch.ones(0, 3), torch.ones(0, 3)), "empty"),
        (lambda: covariance_loss(torch.ones(2, 3, 4)), "2-D"),
        (lambda: covariance_loss(torch.ones(2, 0)), "empty"),
        (lambda: dominant_singular_value_loss(torch.ones(5)), "2-D"),
        (lambda: dominant_singular_value_loss(torch.ones(0, 4)), "empty"),
    ],
)
def test_bad_shapes_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("top_k", [0, -1, 1.5, True, "5", None])
def test_bad_top_k_raises(top_k):
    with pytest.raises(ValueError, match="top_k"):
        dominant_singular_value_loss(torch.ones(3, 3), top_k=top_k)


@pytest.mark.parametrize("reduction", ["none", "MEAN", "", None])
def test_bad_reduction_raises(reduction):
    with pytest.raises(ValueError, match="reduction"):
        consistency_loss(torch.ones(2, 2), torch.ones(2, 2), reduction=reduction)


# ------------------------------------------------ the fast formulation (regularizer_terms, method="gram")
FAST_METHODS = ["gram", "gram-cpu"]


def _with_spectrum(n_rows: int, n_dims: int, sigma: list[float], seed: int = 0) -> np.ndarray:
    """``U diag(sigma) V^T`` with random orthonormal U (n_rows x r) and V (n_dims x r)."""
    rng = np.random.default_rng(seed)
    r = len(sigma)
    U, _ = np.linalg.qr(rng.standard_normal((n_rows, r)))
    V, _ = np.linalg.qr(rng.standard_normal((n_dims, r)))
    return (U * np.asarray(sigma)) @ V.T


def _spectral_batches() -> dict[str, np.ndarray]:
    """float64 batches for the SVD-term comparison, both orientations (B < D and B > D)."""
    rng = np.random.default_rng(11)
    out = {}
    for n_rows, n_dims in ((24, 40), (40, 12)):
        n = min(n_rows, n_dims)
        tag = "wide" if n_rows < n_dims else "tall"
        out[f"random_{tag}"] = rng.standard_normal((n_rows, n_dims)) + 0.3
        out[f"low_rank_{tag}"] = rng.standard_normal((n_rows, 3)) @ rng.standard_normal((3, n_dims))
        out[f"duplicate_rows_{tag}"] = np.repeat(rng.standard_normal((2, n_dims)), n_rows // 2, axis=0)
        out[f"ill_conditioned_{tag}"] = _with_spectrum(n_rows, n_dims, list(np.logspace(0, -5, n)), seed=1)
        out[f"nearly_rank_deficient_{tag}"] = _with_spectrum(n_rows, n_dims, [3.0, 2.0, 1.0] + [1e-9] * (n - 3), seed=2)
        # top singular values closer than 1e-6 (relative): the top-1 and top-5 boundaries are nearly degenerate
        close = [2.0, 2.0 - 2e-6, 1.5, 1.2, 1.1 + 1e-6, 1.1] + list(np.linspace(1.0, 0.1, n - 6))
        out[f"nearly_degenerate_{tag}"] = _with_spectrum(n_rows, n_dims, close, seed=3)
        out[f"repeated_tail_{tag}"] = _with_spectrum(n_rows, n_dims, [5.0, 4.0, 3.0, 2.5, 2.2] + [1.0] * (n - 5), seed=4)
    return out


SPECTRAL = _spectral_batches()


def _svd_value_and_grad(Z_np: np.ndarray, top_k: int, method: str, dtype=torch.float64):
    Z = _t(Z_np, dtype, grad=True)
    loss = dominant_singular_value_loss(Z, top_k=top_k, method=method)
    loss.backward()
    return loss.item(), Z.grad.double().numpy()


def _row_space_projector(Z_np: np.ndarray) -> np.ndarray:
    """Projector on the span of the left singular vectors of singular values above 1e-6 * sigma_1."""
    U, s, _ = np.linalg.svd(Z_np, full_matrices=False)
    r = int((s > 1e-6 * s[0]).sum())
    return U[:, :r] @ U[:, :r].T


@pytest.mark.parametrize("method", FAST_METHODS)
@pytest.mark.parametrize("top_k", [1, 5])
@pytest.mark.parametrize("case", sorted(SPECTRAL))
def test_fast_svd_term_matches_svdvals_float64(case, top_k, method):
    """Value to 1e-9 relative (1e-7 when rank-deficient); gradient to 1e-7 relative.

    Where ``Z`` is (numerically) rank-deficient, the gradient of ``sum_j sigma_j`` is not unique:
    ``svdvals`` returns ``U_r V_r^T + W`` with an arbitrary ``W`` from the null spaces, the fast
    path the minimum-norm choice ``U_r V_r^T``. Both agree once projected on the row space of Z.
    """
    Z_np = SPECTRAL[case]
    exact_value, exact_grad = _svd_value_and_grad(Z_np, top_k, "exact")
    value, grad = _svd_value_and_grad(Z_np, top_k, method)
    deficient = any(word in case for word in ("low_rank", "duplicate", "rank_deficient"))
    np.testing.assert_allclose(value, exact_value, rtol=1e-7 if deficient else 1e-9)
    reference = _row_space_projector(Z_np) @ exact_grad if deficient else exact_grad
    # L is scale-free, so dL/dZ is of order 1 / sum_j sigma_j (the reference can be ~0: rank 2 with top_k=5)
    scale = max(np.linalg.norm(reference), 1.0 / np.linalg.svd(Z_np, compute_uv=False).sum())
    assert np.linalg.norm(grad - reference) <= 1e-7 * scale
    if deficient:  # minimum norm: nothing outside the row space of Z
        assert np.linalg.norm(grad - _row_space_projector(Z_np) @ grad) <= 1e-9 * np.linalg.norm(grad)


@pytest.mark.parametrize("case", ["random_wide", "ill_conditioned_tall", "low_rank_wide", "duplicate_rows_tall"])
def test_fast_svd_term_float32_as_accurate_as_svdvals_float32(case):
    """On float32 input the fast path is at least as accurate as a float32 ``svdvals`` (vs float64).

    The Gram matrix, its eigen-decomposition and the gradient's matrix product all run in float64,
    so squaring ``Z`` costs no digits even at ``sigma_min / sigma_1 = 1e-5``.
    """
    Z_np = SPECTRAL[case].astype(np.float32).astype(np.float64)  # the float32 data, exactly
    exact_value, exact_grad = _svd_value_and_grad(Z_np, 5, "exact")
    projector = _row_space_projector(Z_np)
    scale = max(np.linalg.norm(projector @ exact_grad), 1.0 / np.linalg.svd(Z_np, compute_uv=False).sum())
    errors = {}
    for method in ("exact", "gram"):
        value, grad = _svd_value_and_grad(Z_np, 5, method, dtype=torch.float32)
        errors[method] = (abs(value - exact_value) / abs(exact_value), np.linalg.norm(projector @ (grad - exact_grad)) / scale)
    assert errors["gram"][0] < 1e-6 and errors["gram"][1] < 1e-5
    assert errors["gram"][0] <= 2 * errors["exact"][0] + 1e-7
    assert errors["gram"][1] <= 2 * errors["exact"][1] + 1e-7


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", FAST_METHODS)
@pytest.mark.parametrize("shape", [(24, 40), (40, 12), (16, 16), (2, 6), (1, 6)])
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum"])
def test_regularizer_terms_match_the_reference_functions(reduction, shape, method, dtype):
    rng = np.random.default_rng(12)
    F = _t(rng.standard_normal(shape), dtype)
    Z_np = rng.standard_normal(shape) * rng.uniform(0.5, 2.0, shape[1]) + 1.5
    weights = torch.tensor([1.0, 0.3, 2.0], dtype=dtype)
    got = {}
    for how in ("reference", method):
        Z = _t(Z_np, dtype, grad=True)
        values = regularizer_terms(F, Z, top_k=5, mse_reduction=reduction, svd_method="exact" if how == "reference" else how)
        (values * weights).sum().backward()
        got[how] = (values.detach().double().numpy(), Z.grad.double().numpy())
    assert got[method][0].dtype == np.float64 and got[method][0].shape == (3,)
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    np.testing.assert_allclose(got[method][0], got["reference"][0], rtol=tol, atol=tol * 1e-2)
    scale = np.abs(got["reference"][1]).max()
    np.testing.assert_allclose(got[method][1], got["reference"][1], rtol=0, atol=tol * 10 * scale)


def test_regularizer_terms_exact_is_the_three_functions():
    rng = np.random.default_rng(13)
    F, Z = _t(rng.standard_normal((9, 5))), _t(rng.standard_normal((9, 5)))
    got = regularizer_terms(F, Z, ("svd", "mse"), top_k=2, svd_method="exact")
    expected = [dominant_singular_value_loss(Z, top_k=2, method="exact").item(), consistency_loss(F, Z).item()]
    assert got.tolist() == expected


@pytest.mark.parametrize("terms", [("mse",), ("cov",), ("svd",), ("svd", "mse"), ("cov", "svd"), ("svd", "cov", "mse")])
@pytest.mark.parametrize("shape", [(6, 4), (3, 7)])
def test_regularizer_terms_gradcheck(terms, shape):
    rng = np.random.default_rng(14)
    F = _t(rng.standard_normal(shape))
    Z = _t(rng.standard_normal(shape) + 0.5, grad=True)
    assert torch.autograd.gradcheck(lambda z: regularizer_terms(F, z, terms, top_k=2, svd_method="gram"), (Z,))


def test_regularizer_terms_order_and_subsets():
    rng = np.random.default_rng(15)
    F, Z = _t(rng.standard_normal((12, 7))), _t(rng.standard_normal((12, 7)))
    full = dict(zip(("mse", "cov", "svd"), regularizer_terms(F, Z, top_k=3).tolist()))
    for terms in (("svd",), ("cov", "mse"), ("svd", "cov", "mse")):
        np.testing.assert_allclose(regularizer_terms(F, Z, terms, top_k=3).tolist(), [full[t] for t in terms], rtol=1e-12)


def test_fast_and_exact_descend_along_the_same_path():
    """Gradient descent on the whole penalty follows the same trajectory with either method."""
    g = torch.Generator().manual_seed(16)
    F = torch.randn(32, 12, generator=g, dtype=torch.float64)
    Z0 = F + 0.3 * torch.randn(32, 12, generator=g, dtype=torch.float64)
    weights = torch.tensor([1.0, 0.04, 0.5], dtype=torch.float64)
    ends = [
        _descend(lambda z, m=method: (regularizer_terms(F, z, top_k=5, svd_method=m) * weights).sum(), Z0, steps=40, lr=0.5)
        for method in ("exact", "gram")
    ]
    moved = (ends[0] - Z0).norm()
    assert moved > 1e-2
    assert (ends[0] - ends[1]).norm() <= 1e-9 * moved


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_regularizer_terms_degenerate_batches(case, dtype):
    Z_np = DEGENERATE[case]
    F_np = np.random.default_rng(5).standard_normal(Z_np.shape)
    Z = _t(Z_np, dtype, grad=True)
    values = regularizer_terms(_t(F_np, dtype), Z, top_k=5, svd_method="gram")
    (10.0 * values.sum()).backward()
    assert torch.isfinite(values).all() and torch.isfinite(Z.grad).all()
    expected = [_ref_consistency(F_np, Z_np, "mean"), _ref_covariance(Z_np), _ref_svd(Z_np, 5)]
    np.testing.assert_allclose(values.detach().double().numpy(), expected, rtol=1e-4, atol=1e-6)


def test_all_zero_batch_gives_zero_gram_terms_and_zero_gradient():
    Z = torch.zeros(8, 4, requires_grad=True)
    values = regularizer_terms(torch.randn(8, 4), Z, ("cov", "svd"), top_k=2)
    values.sum().backward()
    assert values.tolist() == [0.0, 0.0]
    assert torch.equal(Z.grad, torch.zeros_like(Z))


@pytest.mark.parametrize("method", ["gram", "exact"])
def test_non_finite_batch_raises_linalg_error(method):
    """What the training loop's divergence guard expects from the SVD term."""
    Z = torch.randn(8, 16)
    Z[2, 3] = float("nan")
    with pytest.raises(torch.linalg.LinAlgError):
        dominant_singular_value_loss(Z, top_k=2, method=method)


def test_auto_method_per_device():
    from sknmtune.losses import _svd_method

    assert _svd_method("auto", torch.device("cpu")) == "gram"
    assert _svd_method("auto", torch.device("cuda")) == "gram-cpu"
    assert _svd_method("auto", torch.device("meta")) == "exact"
    assert _svd_method("exact", torch.device("cpu")) == "exact"
    with pytest.raises(ValueError, match="float64"):
        _svd_method("gram", torch.device("mps"))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: dominant_singular_value_loss(torch.ones(3, 3), method="lapack"), "method"),
        (lambda: regularizer_terms(torch.ones(3, 3), torch.ones(3, 3), svd_method="svd"), "method"),
        (lambda: regularizer_terms(torch.ones(3, 3), torch.ones(3, 3), ("mse", "mse")), "terms"),
        (lambda: regularizer_terms(torch.ones(3, 3), torch.ones(3, 3), ("mse", "l2")), "terms"),
        (lambda: regularizer_terms(torch.ones(3, 3), torch.ones(3, 3), ()), "terms"),
        (lambda: regularizer_terms(torch.ones(3, 3), torch.ones(3, 3), "mse"), "terms"),
        (lambda: regularizer_terms(torch.ones(3, 3), torch.ones(3, 4)), "same shape"),
        (lambda: regularizer_terms(torch.ones(3, 3), torch.ones(3, 3), top_k=0), "top_k"),
        (lambda: regularizer_terms(torch.ones(3, 3), torch.ones(3, 3), mse_reduction="none"), "reduction"),
    ],
)
def test_fast_path_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
