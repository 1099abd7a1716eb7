"""Tests for sknmtune.losses against independent NumPy references (paper, Eq. 3-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sknmtune.losses import consistency_loss, covariance_loss, dominant_singular_value_loss

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
