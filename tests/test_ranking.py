"""Backbone ranking: LogME and H-score against independent computations, invariances, rank_backbones, the scorer."""

from __future__ import annotations

import copy

import sknmtune._linalg as _linalg
import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from sknmtune import FrozenBackboneTransformer
from sknmtune.ranking import SCORES, TransferabilityScorer, h_score, logme, rank_backbones
from sknmtune.transferability import _decompose, _logme_fit
from sknmtune.spectral import largest_singular_value_ratio, singular_value_entropy

# ---------------------------------------------------------------------------------------------- references


def _direct_log_evidence(F: np.ndarray, t: np.ndarray, log_alpha: float, log_beta: float) -> float:
    """log N(t; 0, F F^T / alpha + I / beta) per sample: the evidence with the weights integrated out.

    Computed in float64 from the n x n marginal covariance, without any SVD or fixed point.
    """
    n = len(t)
    cov = F @ F.T / np.exp(log_alpha) + np.eye(n) / np.exp(log_beta)
    sign, logdet = np.linalg.slogdet(cov)
    assert sign > 0
    return float(-0.5 * (n * np.log(2 * np.pi) + logdet + t @ np.linalg.solve(cov, t)) / n)


def _brute_force_logme(F: np.ndarray, y: np.ndarray) -> float:
    """Maximize the direct evidence over a (log alpha, log beta) grid, then polish with Nelder-Mead."""
    targets = np.eye(y.max() + 1)[y].T
    grid = np.linspace(-8, 10, 37)
    best = []
    for t in targets:
        values = np.array([[_direct_log_evidence(F, t, a, b) for b in grid] for a in grid])
        i, j = np.unravel_index(values.argmax(), values.shape)
        opt = minimize(lambda p: -_direct_log_evidence(F, t, *p), [grid[i], grid[j]], method="Nelder-Mead",
                       options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 4000})
        best.append(max(-opt.fun, values.max()))
    return float(np.mean(best))


def _direct_h_score(F: np.ndarray, y: np.ndarray, shrinkage: float | None = None) -> float:
    """tr(cov(F)^-1 cov(E[F|y])) with numpy's covariance and explicit class means."""
    cov = np.cov(F, rowvar=False, bias=True)
    if shrinkage is not None:
        d = F.shape[1]
        cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / d * np.eye(d)
    means = np.stack([F[y == k].mean(axis=0) for k in y])  # each sample replaced by its class mean
    cov_g = np.cov(means, rowvar=False, bias=True)
    return float(np.trace(np.linalg.pinv(cov, hermitian=True) @ cov_g))


def _informative(n: int, n_classes: int, signal: float, d_noise: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    centers = rng.normal(size=(n_classes, 3))
    F = np.c_[signal * centers[y] + rng.normal(size=(n, 3)), rng.normal(size=(n, d_noise))]
    return F, y


# ---------------------------------------------------------------------------------------------- LogME


@pytest.mark.parametrize("n, d", [(40, 5), (12, 30)], ids=["n>d", "n<d"])
def test_logme_equals_brute_force_maximum_of_the_direct_evidence(n, d):
    rng = np.random.default_rng(1)
    y = np.arange(n) % 3
    F = rng.normal(size=(n, d)) + 0.8 * np.eye(3, d)[y]
    assert logme(F, y) == pytest.approx(_brute_force_logme(F, y), abs=1e-6)


def test_logme_fixed_point_is_stationary_and_its_evidence_matches_the_closed_form():
    F, y = _informative(60, 3, 1.5)
    T = np.eye(3)[y]
    s2, Z = _decompose(F, T)
    evidence, alpha, beta, converged = _logme_fit(s2, Z, (T**2).sum(axis=0), len(y))
    assert converged
    for k in range(3):
        la, lb = np.log(alpha[k]), np.log(beta[k])
        assert evidence[k] == pytest.approx(_direct_log_evidence(F, T[:, k], la, lb), abs=1e-10)
        h = 1e-5  # central differences of the direct evidence in (log alpha, log beta): zero at a stationary point
        grad_a = (_direct_log_evidence(F, T[:, k], la + h, lb) - _direct_log_evidence(F, T[:, k], la - h, lb)) / (2 * h)
        grad_b = (_direct_log_evidence(F, T[:, k], la, lb + h) - _direct_log_evidence(F, T[:, k], la, lb - h)) / (2 * h)
        assert abs(grad_a) < 1e-6 and abs(grad_b) < 1e-6
    assert logme(F, y) == pytest.approx(evidence.mean(), abs=1e-12)


def test_logme_of_uninformative_features_is_the_noise_only_limit():
    """A target orthogonal to F: the maximum is at alpha = inf, i.e. t ~ N(0, I / beta) with beta = n / |t|^2."""
    y = np.array([0, 1] * 10)
    F = np.zeros((20, 2))
    F[:, 0] = np.tile([1.0, 1.0, -1.0, -1.0], 5)  # orthogonal to both class indicators
    F[:, 1] = np.tile([1.0, -1.0, -1.0, 1.0], 5)
    n = len(y)
    limit = np.mean([0.5 * np.log(n / t2) - 0.5 * np.log(2 * np.pi) - 0.5 for t2 in (10.0, 10.0)])
    with np.testing.assert_no_warnings():
        assert logme(F, y) == pytest.approx(limit, abs=1e-9)


def test_logme_is_infinite_for_a_noise_free_fit_and_finite_at_full_row_rank():
    y = np.arange(30) % 3
    assert logme(np.eye(3)[y], y) == np.inf  # each class indicator is a column of F: unbounded evidence
    rng = np.random.default_rng(2)
    F = rng.normal(size=(8, 20))  # rank 8 = n: every target is fitted exactly, yet the evidence is bounded
    value = logme(F, np.arange(8) % 2)
    assert np.isfinite(value)
    assert value == pytest.approx(_brute_force_logme(F, np.arange(8) % 2), abs=1e-3)  # the optimum is at beta = inf


def test_logme_invariances():
    F, y = _informative(80, 4, 1.0)
    base = logme(F, y)
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(F.shape[1], F.shape[1])))
    assert logme(F @ q, y) == pytest.approx(base, abs=1e-9)  # orthogonal rotation (isotropic prior)
    for scale in (1e3, 1e-200, 1e200):  # scale (alpha absorbs it), without overflow at the extremes
        assert logme(scale * F, y) == pytest.approx(base, abs=1e-9)
    permuted = np.array([2, 0, 3, 1])[y]
    assert logme(F, permuted) == pytest.approx(base, abs=1e-12)  # relabelling the classes
    assert logme(F, np.array(list("abcd"))[y]) == pytest.approx(base, abs=1e-12)  # string labels
    assert logme(F.astype(np.float32), y) == pytest.approx(base, abs=1e-5)


def test_logme_gram_route_matches_the_direct_svd(monkeypatch):
    import sknmtune.transferability as transferability

    for n, d in [(300, 6), (10, 40)]:
        F, y = _informative(n, 3, 1.0, d_noise=d - 3)
        direct = (logme(F, y), h_score(F, y), h_score(F, y, shrinkage=0.3))
        monkeypatch.setattr(transferability, "_DIRECT_SVD_MAX_ENTRIES", 0)
        monkeypatch.setattr(_linalg, "GRAM_CHUNK_ROWS", 7)
        gram = (logme(F, y), h_score(F, y), h_score(F, y, shrinkage=0.3))
        monkeypatch.undo()
        np.testing.assert_allclose(gram, direct, rtol=1e-7, atol=1e-9)


def test_logme_regression_targets():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(100, 5))
    Y = np.c_[F @ rng.normal(size=5) + 0.1 * rng.normal(size=100), rng.normal(size=100)]
    both = logme(F, Y)
    assert both == pytest.approx(np.mean([logme(F, Y[:, 0]), logme(F, Y[:, 1])]), abs=1e-12)
    assert logme(F, Y[:, 0]) > logme(F, Y[:, 1])  # the target F explains scores higher
    ints = np.round(10 * Y[:, 0])  # integer-valued: classes by default, a real target when asked
    assert logme(F, ints, target_type="regression") != logme(F, ints)
    assert logme(F, ints.reshape(-1, 1), target_type="regression") == logme(F, ints, target_type="regression")


def test_logme_warns_when_not_converged():
    F, y = _informative(50, 3, 1.0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        logme(F, y, max_iter=2)


# ---------------------------------------------------------------------------------------------- H-score


@pytest.mark.parametrize("shrinkage", [None, 0.0, 0.25, 1.0])
def test_h_score_matches_direct_numpy(shrinkage):
    F, y = _informative(150, 4, 1.0)
    assert h_score(F, y, shrinkage=shrinkage) == pytest.approx(_direct_h_score(F, y, shrinkage), rel=1e-9)


def test_h_score_auto_shrinkage_uses_ledoit_wolf():
    from sklearn.covariance import ledoit_wolf_shrinkage

    F, y = _informative(30, 3, 1.0, d_noise=20)
    lam = ledoit_wolf_shrinkage(F - F.mean(axis=0), assume_centered=True)
    assert 0 < lam < 1
    assert h_score(F, y, shrinkage="auto") == pytest.approx(_direct_h_score(F, y, lam), rel=1e-9)


def test_h_score_invariances_and_range():
    F, y = _informative(120, 3, 1.0)
    base = h_score(F, y)
    A = np.random.default_rng(5).normal(size=(F.shape[1], F.shape[1]))  # invertible linear map
    assert h_score(F @ A + 7.0, y) == pytest.approx(base, rel=1e-8)
    assert h_score(1e200 * F, y) == pytest.approx(base, rel=1e-8)
    assert h_score(F, np.array([2, 0, 1])[y]) == pytest.approx(base, rel=1e-12)
    assert 0 < base < 2
    separated = np.eye(3)[y] * 5.0
    assert h_score(separated, y) == pytest.approx(2.0, rel=1e-12)  # the maximum, n_classes - 1
    # duplicated and constant columns make cov(F) singular; the pseudo-inverse ignores them
    assert h_score(np.c_[F, F[:, :2], np.ones(len(y))], y) == pytest.approx(base, rel=1e-8)


# ---------------------------------------------------------------------------------------------- both


def test_more_informative_features_score_higher():
    logmes, hs = [], []
    for signal in (0.0, 0.5, 1.0, 2.0):
        F, y = _informative(300, 4, signal)
        logmes.append(logme(F, y))
        hs.append(h_score(F, y))
    assert np.all(np.diff(logmes) > 0), logmes
    assert np.all(np.diff(hs) > 0), hs


@pytest.mark.parametrize("func", [logme, h_score])
def test_bad_inputs_are_rejected_with_clear_errors(func):
    F, y = _informative(20, 2, 1.0)
    bad_nan, bad_inf = F.copy(), F.copy()
    bad_nan[0, 0], bad_inf[1, 1] = np.nan, np.inf
    with pytest.raises(ValueError, match="NaN"):
        func(bad_nan, y)
    with pytest.raises(ValueError, match="infinity"):
        func(bad_inf, y)
    with pytest.raises(ValueError, match="single class"):
        func(F, np.zeros(20, dtype=int))
    with pytest.raises(ValueError, match="20 samples but y has 19"):
        func(F, y[:-1])
    with pytest.raises(ValueError, match="minimum of 2"):
        func(F[:1], y[:1])
    with pytest.raises(ValueError, match="2D array"):
        func(F[:, 0], y)
    with pytest.raises(ValueError, match="no non-zero singular value"):
        func(np.zeros_like(F) + (func is h_score), y)  # all zeros (LogME) / constant (H-score)
    with pytest.raises(ValueError, match="NaN"):
        func(F, np.where(y == 0, np.nan, 1.0))


def test_parameter_errors():
    F, y = _informative(20, 2, 1.0)
    with pytest.raises(ValueError, match="needs class labels"):
        h_score(F, np.linspace(0, 1, 20))
    with pytest.raises(ValueError, match="shrinkage"):
        h_score(F, y, shrinkage=1.5)
    with pytest.raises(ValueError, match="target_type"):
        logme(F, y, target_type="ordinal")
    with pytest.raises(ValueError, match="max_iter"):
        logme(F, y, max_iter=0)
    with pytest.raises(ValueError, match="all zeros"):
        logme(F, np.zeros((20, 2)), target_type="regression")


# ---------------------------------------------------------------------------------------------- rank_backbones


def test_rank_backbones_with_arrays():
    F_good, y = _informative(200, 3, 2.0)
    F_mid, _ = _informative(200, 3, 0.7)
    noise = np.random.default_rng(9).normal(size=(200, 7))
    ranking = rank_backbones({"noise": noise, "good": F_good, "mid": F_mid}, y=y)
    assert [r["name"] for r in ranking] == ["good", "mid", "noise"]
    assert [r["rank"] for r in ranking] == [1, 2, 3]
    top = ranking[0]
    assert top["logme"] == pytest.approx(logme(F_good, y))
    assert top["h_score"] == pytest.approx(h_score(F_good, y))
    assert top["sve"] == pytest.approx(singular_value_entropy(F_good))
    assert top["lsvr"] == pytest.approx(largest_singular_value_ratio(F_good))
    assert (top["n_samples"], top["n_features"], top["source"]) == (200, 7, "array")
    # LSVR is lower-is-better: ranking by it sorts ascending
    by_lsvr = rank_backbones({"noise": noise, "good": F_good, "mid": F_mid}, y=y, scores=("lsvr", "rankme"))
    assert [r["lsvr"] for r in by_lsvr] == sorted(r["lsvr"] for r in by_lsvr)
    assert set(by_lsvr[0]) == {"rank", "name", "lsvr", "rankme", "n_samples", "n_features", "source"}
    assert SCORES["lsvr"] == -1
    # primary= picks the ordering score; regression targets work for LogME and the spectra
    reg = rank_backbones({"noise": noise, "good": F_good}, y=F_good[:, 0] + 0.1, scores=("sve", "logme"), primary="logme")
    assert reg[0]["name"] == "good"


def test_rank_backbones_errors():
    F, y = _informative(30, 2, 1.0)
    with pytest.raises(ValueError, match="non-empty mapping"):
        rank_backbones({}, y=y)
    with pytest.raises(ValueError, match="subset of"):
        rank_backbones({"a": F}, y=y, scores=("logme", "accuracy"))
    with pytest.raises(ValueError, match="primary"):
        rank_backbones({"a": F}, y=y, scores=("logme",), primary="sve")
    with pytest.raises(ValueError, match="y is required"):
        rank_backbones({"a": F})
    with pytest.raises(ValueError, match="Candidate 'b'.*NaN"):
        rank_backbones({"a": F, "b": np.full_like(F, np.nan)}, y=y)
    with pytest.raises(ValueError, match="Candidate 'a'.*30 samples but y has 29"):
        rank_backbones({"a": F}, y=y[:-1])
    with pytest.raises(ValueError, match=r"X \(the raw inputs\) is required"):
        rank_backbones({"net": torch.nn.Linear(4, 2)}, y=y)
    with pytest.raises(ValueError, match="X has 30 samples but y has 29"):
        rank_backbones({"net": torch.nn.Linear(4, 2)}, X=np.zeros((30, 4), np.float32), y=y[:-1])
    with pytest.raises(ValueError, match="needs class labels"):
        rank_backbones({"a": F}, y=np.linspace(0, 1, 30))


class _CountingNet(torch.nn.Module):
    """A fixed tiny module that counts the rows it has been run on."""

    def __init__(self, weight: np.ndarray) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x.shape[0]
        return self.fc(x)


def _vector_task(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    return X, y


def test_rank_backbones_extracts_once_through_the_cache(tmp_path):
    X, y = _vector_task()
    informative = _CountingNet(np.eye(3, 6))  # sees the label-carrying inputs 0 and 1
    blind = _CountingNet(np.eye(3, 6, k=3))  # sees inputs 3..5 only
    user_transformer = FrozenBackboneTransformer(blind, device="cpu")
    candidates = {"blind": user_transformer, "informative": informative}
    first = rank_backbones(candidates, X, y, cache=tmp_path / "features")
    again = rank_backbones(candidates, X, y, cache=tmp_path / "features")
    assert informative.seen == len(X) and blind.seen == len(X)  # the second ranking read the cache
    assert user_transformer.cache is None  # the caller's transformer is left as it was
    assert first == again
    assert [r["name"] for r in first] == ["informative", "blind"]
    assert first[0]["source"] == "transform" and first[0]["n_features"] == 3
    assert first[0]["logme"] == pytest.approx(logme(X[:, :3], y), abs=1e-6)


def test_rank_backbones_with_a_timm_backbone_and_features(tmp_path):
    pytest.importorskip("timm")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    y = np.arange(24) % 2
    resnet = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", batch_size=12)
    ranking = rank_backbones({"resnet20": resnet, "given": rng.normal(size=(24, 5))}, images, y, cache=tmp_path)
    row = {r["name"]: r for r in ranking}["resnet20"]
    assert (row["n_samples"], row["n_features"]) == (24, 64)
    cached = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu", cache=tmp_path).transform(images)
    assert row["logme"] == pytest.approx(logme(cached, y))


# ---------------------------------------------------------------------------------------------- the scorer


def test_scorer_in_gridsearch_over_backbones():
    X, y = _vector_task(90)
    backbones = [FrozenBackboneTransformer(_CountingNet(w), device="cpu") for w in (np.eye(3, 6, k=3), np.eye(3, 6))]
    pipe = Pipeline([("backbone", backbones[0]), ("head", LogisticRegression())])
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        pipe, {"backbone": backbones}, cv=cv, refit="acc",
        scoring={"acc": "accuracy", "logme": TransferabilityScorer("logme"),
                 "h": TransferabilityScorer("h_score", shrinkage=0.1)},
    ).fit(X, y)
    res = search.cv_results_
    expected = [np.mean([logme(X[test][:, cols], y[test]) for _, test in cv.split(X)]) for cols in (slice(3, 6), slice(0, 3))]
    np.testing.assert_allclose(res["mean_test_logme"], expected, rtol=1e-5)
    assert res["mean_test_logme"][1] > res["mean_test_logme"][0]  # the informative backbone
    assert res["mean_test_h"][1] > res["mean_test_h"][0]
    assert search.best_index_ == 1


def test_scorer_parameters_and_output_representation():
    from sknmtune import NMTuneClassifier

    assert repr(TransferabilityScorer("h_score", shrinkage="auto")) == "TransferabilityScorer('h_score', shrinkage='auto')"
    X, y = _vector_task(40)
    clf = NMTuneClassifier(max_epochs=1, device="cpu", random_state=0).fit(X, y)
    # parameters are validated when scoring (scikit-learn's convention), with errors that name them
    with pytest.raises(ValueError, match="SpectralScorer"):
        TransferabilityScorer("sve")(clf, X, y)
    with pytest.raises(ValueError, match="representation"):
        TransferabilityScorer(representation="hidden")(clf, X, y)
    with pytest.raises(ValueError, match="target_type"):
        TransferabilityScorer(target_type="bogus")(clf, X, y)
    scorer = TransferabilityScorer(representation="output")
    assert scorer(clf, X, y) == pytest.approx(logme(clf.transform(X), y))
    assert TransferabilityScorer()(clf, X, y) == pytest.approx(logme(X, y))
    with pytest.raises(ValueError, match="needs the targets"):
        scorer(clf, X)
    assert copy.deepcopy(scorer).representation == "output"


# ---------------------------------------------------------------------------------------------- sknmtune rank


def _run_rank(argv: list[str]) -> int:
    """Parse ``rank ARGS`` with the subcommand's own parser (as sknmtune.cli.build_parser registers it) and run it."""
    import argparse

    from sknmtune.cli.rank import _add_parser

    parser = argparse.ArgumentParser(prog="sknmtune")
    _add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["rank", *argv])
    return args.func(args)


def test_cli_rank_feature_files(tmp_path, capsys):
    import json

    F_good, y = _informative(120, 3, 2.0)
    noise = np.random.default_rng(4).normal(size=(120, 5))
    np.savez(tmp_path / "good.npz", X=F_good, y=y)
    np.save(tmp_path / "noise.npy", noise)
    (tmp_path / "y.txt").write_text("\n".join(map(str, y)))
    out = tmp_path / "r" / "ranking.json"
    assert _run_rank([str(tmp_path / "noise.npy"), str(tmp_path / "good.npz"), "--labels", str(tmp_path / "y.txt"),
                      "--scores", "h_score,logme,lsvr", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "best by h_score: good" in printed and "lsvr (lower=better)" in printed
    saved = json.loads(out.read_text())
    assert [r["name"] for r in saved["ranking"]] == ["good", "noise"]
    assert saved["ranking"][0]["logme"] == pytest.approx(logme(F_good, y))
    # the .npz's own y is used when --labels is absent; --primary reorders
    assert _run_rank([str(tmp_path / "good.npz"), str(tmp_path / "noise.npy"), "--primary", "lsvr",
                      "--scores", "logme,lsvr"]) == 0
    assert "best by lsvr:" in capsys.readouterr().out


def test_cli_rank_backbones_on_an_image_array(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "images.npz", X=rng.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8), y=np.arange(16) % 2)
    args = ["--input", str(tmp_path / "images.npz"), "--backbone", "cifar_resnet20", "--backbone", "cifar_resnet32",
            "--no-pretrained", "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--quiet", "--scores", "sve,logme"]
    assert _run_rank(args) == 0
    printed = capsys.readouterr().out
    assert "cifar_resnet20" in printed and "cifar_resnet32" in printed and "best by sve" in printed
    assert any((tmp_path / "cache").rglob("*.npz"))  # the features went into the cache


def test_cli_rank_usage_errors(tmp_path):
    from sknmtune.cli._errors import _UsageError

    F, y = _informative(20, 2, 1.0)
    np.save(tmp_path / "a.npy", F)
    np.save(tmp_path / "b.npy", F[:10])
    with pytest.raises(_UsageError, match="no labels"):
        _run_rank([str(tmp_path / "a.npy")])
    with pytest.raises(_UsageError, match="--scores"):
        _run_rank([str(tmp_path / "a.npy"), "--scores", "logme,accuracy"])
    with pytest.raises(_UsageError, match="either features files"):
        _run_rank([str(tmp_path / "a.npy"), "--input", str(tmp_path), "--backbone", "resnet18"])
    with pytest.raises(_UsageError, match="go together"):
        _run_rank(["--input", str(tmp_path)])
    with pytest.raises(ValueError, match="different numbers of samples"):
        _run_rank([str(tmp_path / "a.npy"), str(tmp_path / "b.npy")])
    with pytest.raises(SystemExit):
        _run_rank([str(tmp_path / "a.npy"), "--shrinkage", "2"])
