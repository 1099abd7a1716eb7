"""Tests for sknmtune.spectral against np.linalg.svd references and closed forms."""

from __future__ import annotations

import sknmtune._linalg as _linalg
import numpy as np
import pytest

import sknmtune.spectral as spectral
from sknmtune.spectral import (
    largest_singular_value_ratio,
    rankme,
    singular_value_entropy,
    singular_values,
    spectral_summary,
)


# ----------------------------------------------------------------- references
def _ref_preprocess(X, center=False, normalize_rows=False):
    X = np.asarray(X, dtype=np.float64)
    if normalize_rows:
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        X = X - X.mean(axis=1, keepdims=True)
    if center:
        X = X - X.mean(axis=0, keepdims=True)
    return X


def _ref_metrics(X, **kw):
    s = np.linalg.svd(_ref_preprocess(X, **kw), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    sve = float(-(p * np.log(p)).sum())
    return {"s": s, "sve": sve, "lsvr": float(-np.log(s[0] / s.sum())), "rankme": float(np.exp(sve))}


def _orthonormal(rng, n, k):
    q, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return q


def _with_spectrum(rng, m, d, s):
    """An m x d matrix whose singular values are exactly ``s`` (len(s) == min(m, d))."""
    r = len(s)
    return (_orthonormal(rng, m, r) * np.asarray(s, dtype=float)) @ _orthonormal(rng, d, r).T


SHAPES = [(50, 20), (20, 50), (30, 30)]  # M > D, M < D, square


# ------------------------------------------------------------------- values
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("center", "normalize_rows"), [(False, False), (True, False), (False, True), (True, True)])
def test_metrics_match_numpy_svd(shape, dtype, center, normalize_rows):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal(shape) * rng.uniform(0.5, 3.0, shape[1]) + 2.0).astype(dtype)
    kw = {"center": center, "normalize_rows": normalize_rows}
    ref = _ref_metrics(X, **kw)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    s = singular_values(X, **kw)
    assert s.dtype == np.float64 and s.shape == (min(shape),)
    np.testing.assert_allclose(s, ref["s"], rtol=rtol, atol=rtol * ref["s"][0])
    assert singular_value_entropy(X, **kw) == pytest.approx(ref["sve"], rel=rtol)
    assert largest_singular_value_ratio(X, **kw) == pytest.approx(ref["lsvr"], rel=rtol)
    assert rankme(X, **kw) == pytest.approx(ref["rankme"], rel=rtol)
    summary = spectral_summary(X, **kw)
    assert summary["sve"] == pytest.approx(ref["sve"], rel=rtol)
    assert summary["lsvr"] == pytest.approx(ref["lsvr"], rel=rtol)
    assert summary["rankme"] == pytest.approx(ref["rankme"], rel=rtol)
    assert summary["sigma_max"] == pytest.approx(ref["s"][0], rel=rtol)
    assert summary["numerical_rank"] == np.linalg.matrix_rank(_ref_preprocess(X, **kw))


def test_centering_and_row_normalization_change_the_spectrum_as_defined():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 6)) + np.array([10.0, 0, 0, 0, 0, 0])  # one large column mean
    raw, centered = singular_values(X), singular_values(X, center=True)
    assert raw[0] > 5 * centered[0]  # the mean direction dominates only before centering
    # the authors' convention: every row ends up zero-mean, so the all-ones direction is removed
    Xr = _ref_preprocess(X, normalize_rows=True)
    np.testing.assert_allclose(Xr.sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(
        singular_values(X, normalize_rows=True), np.linalg.svd(Xr, compute_uv=False), rtol=1e-10, atol=1e-12
    )


def test_zero_row_survives_row_normalization():
    X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [3.0, -1.0, 0.0]])
    Xr = np.array([[1.0, 2.0, 3.0], [3.0, -1.0, 0.0]])
    np.testing.assert_allclose(
        singular_values(X, normalize_rows=True),
        np.r_[np.linalg.svd(_ref_preprocess(Xr, normalize_rows=True), compute_uv=False), 0.0][:3],
        rtol=1e-10,
        atol=1e-12,
    )


# ------------------------------------------------------------ closed forms
@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_identity_closed_forms(n):
    summary = spectral_summary(np.eye(n))
    assert summary["sve"] == pytest.approx(np.log(n), abs=1e-12)
    assert summary["rankme"] == pytest.approx(n)
    assert summary["lsvr"] == pytest.approx(np.log(n), abs=1e-12)
    assert summary["numerical_rank"] == n
    assert summary["sigma_max"] == pytest.approx(1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(30, 7), (7, 30)])
def test_rank_one_closed_forms(dtype, shape):
    rng = np.random.default_rng(2)
    u, v = rng.standard_normal(shape[0]), rng.standard_normal(shape[1])
    X = np.outer(u, v).astype(dtype)
    summary = spectral_summary(X)
    assert summary["lsvr"] == 0.0
    assert summary["sve"] == 0.0
    assert summary["rankme"] == 1.0
    assert summary["numerical_rank"] == 1
    assert summary["sigma_max"] == pytest.approx(np.linalg.norm(u) * np.linalg.norm(v), rel=1e-5)


def test_known_spectrum_is_recovered():
    rng = np.random.default_rng(3)
    s_true = np.array([5.0, 3.0, 1.5, 0.5])
    X = _with_spectrum(rng, 12, 4, s_true)
    np.testing.assert_allclose(singular_values(X), s_true, rtol=1e-12)
    p = s_true / s_true.sum()
    assert singular_value_entropy(X) == pytest.approx(-(p * np.log(p)).sum(), rel=1e-12)
    assert largest_singular_value_ratio(X) == pytest.approx(-np.log(p[0]), rel=1e-12)


def test_metric_ranges_and_output_type():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((25, 9)).tolist()  # plain lists are accepted
    s = singular_values(X)
    assert isinstance(s, np.ndarray) and np.all(np.diff(s) <= 0) and np.all(s >= 0)
    sve, lsvr = singular_value_entropy(X), largest_singular_value_ratio(X)
    assert isinstance(sve, float) and isinstance(lsvr, float)
    assert 0 < lsvr < sve <= np.log(9)
    assert isinstance(spectral_summary(X)["numerical_rank"], int)
    A = np.arange(12).reshape(4, 3)  # integer input of rank 2
    s_int = singular_values(A)
    np.testing.assert_allclose(s_int[:2], np.linalg.svd(A.astype(float), compute_uv=False)[:2], rtol=1e-12)
    assert s_int[2] == 0.0


# -------------------------------------------------------------- Gram path
def _spy_on_gram(monkeypatch):
    calls = []
    real = spectral._gram_eigvals

    def spy(X):
        calls.append(X.shape)
        return real(X)

    monkeypatch.setattr(spectral, "_gram_eigvals", spy)
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gram_path_above_threshold_matches_direct_svd(monkeypatch, dtype):
    rng = np.random.default_rng(5)
    m, d = 80_001, 50
    assert m * d > spectral._DIRECT_SVD_MAX_ENTRIES
    X = (rng.standard_normal((m, d)) * np.linspace(0.2, 3.0, d) + 0.5).astype(dtype)
    calls = _spy_on_gram(monkeypatch)
    s = singular_values(X)
    assert calls == [(m, d)]
    ref = _ref_metrics(X)
    np.testing.assert_allclose(s, ref["s"], rtol=1e-6)
    got = spectral_summary(X)
    for key in ("sve", "lsvr", "rankme"):
        assert got[key] == pytest.approx(ref[key], rel=1e-6)
    assert got["numerical_rank"] == d


@pytest.mark.parametrize("shape", [(300, 40), (40, 300)])
@pytest.mark.parametrize("center", [False, True])
def test_gram_path_forced_small_matches_direct_svd(monkeypatch, shape, center):
    rng = np.random.default_rng(6)
    X = rng.standard_normal(shape) * rng.uniform(0.3, 2.0, shape[1])
    direct = spectral_summary(X, center=center)
    direct_s = singular_values(X, center=center)
    monkeypatch.setattr(spectral, "_DIRECT_SVD_MAX_ENTRIES", 100)
    monkeypatch.setattr(_linalg, "GRAM_CHUNK_ROWS", 7)  # several chunks and a remainder
    calls = _spy_on_gram(monkeypatch)
    gram = spectral_summary(X, center=center)
    k = min(shape) - 1  # the last value is an exact zero once a wide matrix is centered
    np.testing.assert_allclose(singular_values(X, center=center)[:k], direct_s[:k], rtol=1e-6)
    assert calls and calls[0] == shape
    for key in ("sve", "lsvr", "rankme", "sigma_max"):
        assert gram[key] == pytest.approx(direct[key], rel=1e-6)
    if not center:  # centering makes the wide matrix rank-deficient: see the next test
        assert gram["numerical_rank"] == direct["numerical_rank"] == min(shape)


def test_gram_path_rank_deficient_float64_keeps_numerical_rank(monkeypatch):
    """A rank-deficient float64 matrix must report the same rank whichever route computes the spectrum.

    The Gram route's noise floor is ~sqrt(eps64) * sigma_1 (~1e-8), far above the direct-SVD
    tolerance ``max(M, D) * eps64 * sigma_1`` (~1e-13) that is applied to it, so the zero
    singular values come back as noise and count towards the rank.
    """
    rng = np.random.default_rng(7)
    X = rng.standard_normal((600, 8)) @ rng.standard_normal((8, 60))
    W = rng.standard_normal((40, 300))  # full rank 40, rank 39 once its columns are centered
    cases = [(X, {}, 8), (X.T, {}, 8), (W, {"center": True}, 39)]  # both Gram branches
    direct = [spectral_summary(A, **kw) for A, kw, _ in cases]
    assert [d["numerical_rank"] for d in direct] == [rank for _, _, rank in cases]
    monkeypatch.setattr(spectral, "_DIRECT_SVD_MAX_ENTRIES", 100)
    for (A, kw, rank), ref in zip(cases, direct):
        gram = spectral_summary(A, **kw)
        assert gram["numerical_rank"] == rank
        assert gram["sve"] == pytest.approx(ref["sve"], rel=1e-6)


# -------------------------------------------------------- dtype agreement
@pytest.mark.parametrize("shape", [(200, 40), (40, 200)])
def test_rank_deficient_same_rank_and_metrics_in_float32_and_float64(shape):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((shape[0], 5)) @ rng.standard_normal((5, shape[1]))
    s64, s32 = spectral_summary(X), spectral_summary(X.astype(np.float32))
    assert s64["numerical_rank"] == s32["numerical_rank"] == 5
    for key in ("sve", "lsvr", "rankme", "sigma_max"):
        assert s32[key] == pytest.approx(s64[key], rel=1e-5)
    # exact zeros in the tail, in both precisions
    assert np.count_nonzero(singular_values(X.astype(np.float32))) == 5


def test_float32_copy_of_well_conditioned_matrix_keeps_its_spectrum():
    """float32 represents a condition-1000 matrix to ~1e-7, so its metrics must match float64.

    The tolerance ``max(M, D) * eps(float32) * sigma_1`` (= 0.0024 * sigma_1 for 20,000 rows)
    zeroes every genuine singular value below 0.24% of sigma_1: here the float32 copy reports
    SVE = 0 and rank 1, the float64 original SVE = 0.24 and rank 16.
    """
    rng = np.random.default_rng(9)
    X = _with_spectrum(rng, 20_000, 16, np.r_[1000.0, np.ones(15)])
    X32 = X.astype(np.float32)
    # the float32 data really does carry the small singular values
    np.testing.assert_allclose(np.linalg.svd(X32.astype(np.float64), compute_uv=False)[1:], 1.0, rtol=1e-5)
    s64, s32 = spectral_summary(X), spectral_summary(X32)
    assert s64["numerical_rank"] == 16
    assert s32["numerical_rank"] == 16
    assert s32["sve"] == pytest.approx(s64["sve"], rel=1e-5)


# -------------------------------------------------------------- invariances
@pytest.mark.parametrize("center", [False, True])
def test_invariant_to_positive_scaling_and_column_rotation(center):
    rng = np.random.default_rng(10)
    X = rng.standard_normal((60, 12)) * np.linspace(0.1, 4.0, 12) + 1.0
    Q = _orthonormal(rng, 12, 12)
    base = spectral_summary(X, center=center)
    for Y in (X * 1e-3, X * 7.5, X * 1e4, X @ Q, 3.0 * X @ Q):
        got = spectral_summary(Y, center=center)
        assert got["sve"] == pytest.approx(base["sve"], rel=1e-10)
        assert got["lsvr"] == pytest.approx(base["lsvr"], rel=1e-10)
        assert got["numerical_rank"] == base["numerical_rank"]
    # a non-orthogonal column map does change the spectrum (the invariance is not vacuous)
    assert singular_value_entropy(X * np.linspace(1, 20, 12), center=center) != pytest.approx(base["sve"], rel=1e-3)


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "func", [singular_values, singular_value_entropy, largest_singular_value_ratio, rankme, spectral_summary]
)
@pytest.mark.parametrize(
    ("X", "kw", "match"),
    [
        (np.zeros((4, 3)), {}, "all zeros"),
        (np.ones((4, 3)), {"center": True}, "all zeros"),
        (np.ones((4, 3)), {"normalize_rows": True}, "all zeros"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), {}, "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), {}, "infinity"),
        (np.arange(5.0), {}, "2D"),
        (np.empty((0, 3)), {}, "0 sample"),
        (np.empty((3, 0)), {}, "0 feature"),
    ],
)
def test_invalid_input_raises_value_error(func, X, kw, match):
    with pytest.raises(ValueError, match=match):
        func(X, **kw)


# ------------------------------------------------------------ extreme scales
@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e300, 1e-300, 2.0**40, 2.0**-40])
@pytest.mark.parametrize(("center", "normalize_rows"), [(False, False), (True, False), (False, True)])
def test_metrics_are_scale_invariant_at_any_finite_float64_scale(scale, center, normalize_rows):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((30, 8)) * np.linspace(0.5, 3.0, 8) + 1.0
    kw = {"center": center, "normalize_rows": normalize_rows}
    base, scaled = spectral_summary(X, **kw), spectral_summary(X * scale, **kw)
    for key in ("sve", "lsvr", "rankme"):
        assert np.isfinite(scaled[key]) and scaled[key] == pytest.approx(base[key], rel=1e-12)
    assert scaled["numerical_rank"] == base["numerical_rank"]
    expected_sigma = base["sigma_max"] if normalize_rows else base["sigma_max"] * scale
    assert scaled["sigma_max"] == pytest.approx(expected_sigma, rel=1e-12)
    np.testing.assert_allclose(singular_values(X * scale, **kw), singular_values(X, **kw) * (1 if normalize_rows else scale),
                               rtol=1e-12)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_float32_extreme_scales_and_the_gram_route(monkeypatch, scale):
    rng = np.random.default_rng(12)
    X = (rng.standard_normal((300, 20)) * np.linspace(0.2, 2.0, 20)).astype(np.float32)
    base = spectral_summary(X)
    direct = spectral_summary((X * np.float32(scale)).astype(np.float32))
    monkeypatch.setattr(spectral, "_DIRECT_SVD_MAX_ENTRIES", 100)  # the Gram route squares the entries
    gram = spectral_summary((X * np.float32(scale)).astype(np.float32))
    for got in (direct, gram):
        assert got["sve"] == pytest.approx(base["sve"], rel=1e-5)
        assert got["lsvr"] == pytest.approx(base["lsvr"], rel=1e-5)
        assert got["numerical_rank"] == 20


def test_rank_one_at_extreme_scale_is_exactly_rank_one():
    X = np.outer(np.arange(1.0, 6.0), np.arange(1.0, 4.0)) * 1e250
    summary = spectral_summary(X)
    assert summary["sve"] == 0.0 and summary["lsvr"] == 0.0 and summary["rankme"] == 1.0
    assert summary["numerical_rank"] == 1
    assert str(summary["sve"]) == "0.0"  # not -0.0


def test_singular_values_beyond_float64_overflow_to_inf_but_metrics_stay_finite():
    X = np.full((100, 4), 1.7e308)  # sigma_1 = 1.7e308 * 20 is not representable
    X[:, 1] *= -0.5
    summary = spectral_summary(X)
    assert summary["sigma_max"] == np.inf
    assert summary["numerical_rank"] == 1 and summary["sve"] == 0.0 and summary["lsvr"] == 0.0
