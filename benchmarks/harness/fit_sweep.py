"""Fit time against rows and feature width, side by side with ``LogisticRegressionCV`` (``fit_time --sweep``).

Every size fits each head once, interleaved (the reference first, then the heads, order reversed at every other
size), on one torch / BLAS thread. Rows come from real PACS features (all 9,991 images through EfficientNet-Lite0's
center crop) up to what exists; larger sizes repeat real rows with a small Gaussian jitter (1 % of each feature's
standard deviation) and are labelled ``tiled``. Widths: 384 (MiniLM sentence embeddings of SST-2, real when the
text extra is installed), 1,280 (EfficientNet-Lite0, real) and 2,048 (the first 2,048 columns of the two ImageNet
backbones' features side by side, labelled ``concatenated``). The growth exponent of a head between two sizes is
``log(t2 / t1) / log(n2 / n1)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks import datasets as bd
from benchmarks.harness import io
from benchmarks.harness.backbones import IMAGENET_BACKBONES, MINILM, BackboneUnavailable

__all__ = ["LABELS", "REFERENCE", "exponents", "sweep_features", "time_fits"]

#: the reference every head is timed against: a stored name of benchmarks.harness.methods.METHODS
#: (StandardScaler + LogisticRegressionCV, Cs=10, 5 folds, lbfgs with max_iter=5000)
REFERENCE = "logreg_cv"
#: how the sweep's tables and figure name its heads
LABELS = {
    "logreg_cv": "LogisticRegressionCV",
    "logreg_cv_iter100": "LogisticRegressionCV(max_iter=100)",
    "lp": "LP (paper config)",
    "cv": "NMTuneClassifierCV(selection_rows=None)",
    "cv-sub2000": "NMTuneClassifierCV() (selection_rows=2000)",
    "cv-sub1000": "NMTuneClassifierCV(selection_rows=1000)",
    "voting": "make_voting_head()",
    "voting-es": "vote, early-stopped MLP members",
}


def _pacs_center(backbone: str) -> tuple[np.ndarray, np.ndarray]:
    transformer = IMAGENET_BACKBONES[backbone].make(io.CACHE_DIR, device="cpu")
    parts = [bd.load_pacs_full(d) for d in bd.PACS_DOMAINS]
    return (np.concatenate([transformer.transform(p.X) for p in parts]).astype(np.float32),
            np.concatenate([np.asarray(p.y) for p in parts]))


def _text_features(n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``n`` random SST-2 training sentences (of 67k) through MiniLM: only those are encoded."""
    try:
        data = bd.load_glue_sst2("train")
        transformer = MINILM.make(io.CACHE_DIR, device="cpu")
    except (BackboneUnavailable, FileNotFoundError) as exc:  # the text extra or the data is absent: no 384-d row
        io.log(f"no SST-2 sentence features ({exc})")
        return None
    idx = np.random.default_rng(0).permutation(len(data.y))[:n]
    return transformer.transform([data.X[i] for i in idx]).astype(np.float32), np.asarray(data.y)[idx]


def _rows(X: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` rows: a stratified subsample of the real rows, or the real rows repeated with jitter (``tiled``)."""
    rng = np.random.default_rng(seed)
    if n <= len(y):
        idx = rng.permutation(len(y))[:n]
        return X[idx], y[idx], "real"
    idx = rng.integers(0, len(y), n)
    jitter = rng.standard_normal((n, X.shape[1])).astype(np.float32) * (0.01 * X.std(axis=0, keepdims=True))
    return X[idx] + jitter, y[idx], "tiled"


def sweep_features(rows: Sequence[int], widths: Sequence[int], rows_at_width: int,
                   skip: frozenset[tuple[int, int]] = frozenset()) -> list[dict[str, Any]]:
    """The (n, D) points of the sweep: every ``rows`` at 1,280 columns, and every other width at ``rows_at_width``
    (those in ``skip`` left out before their features are made)."""
    lite, y_lite = _pacs_center("tf_efficientnet_lite0")
    points = []
    for n in rows:
        if (n, lite.shape[1]) in skip:
            continue
        X, y, kind = _rows(lite, y_lite, n)
        points.append({"n": n, "d": lite.shape[1], "X": X, "y": y, "source": f"PACS EfficientNet-Lite0 ({kind})"})
    for d in widths:
        if d == lite.shape[1] or (rows_at_width, d) in skip:
            continue
        if d == 384:
            text = _text_features(rows_at_width)
            if text is None:
                io.log("the 384-d point is skipped")
                continue
            X, y, kind = _rows(*text, rows_at_width)
            source = f"SST-2 MiniLM-L6-v2 ({kind})"
        else:
            mobile, _ = _pacs_center("mobilenetv2_100")
            both = np.concatenate([lite, mobile], axis=1)[:, :d]
            X, y, kind = _rows(both, y_lite, rows_at_width)
            source = f"PACS EfficientNet-Lite0 | MobileNetV2, first {d} columns (concatenated, {kind})"
        points.append({"n": rows_at_width, "d": d, "X": X, "y": y, "source": source})
    return points


def time_fits(points: list[dict[str, Any]], heads: Sequence[str], device: str = "cpu") -> list[dict[str, Any]]:
    """One fit of the reference and of each head per point, interleaved; seconds and ratios to the reference."""
    from benchmarks.harness.methods import build

    out = []
    order = [REFERENCE, *[h for h in heads if h != REFERENCE]]
    for i, point in enumerate(points):
        seconds = {}
        for name in order if i % 2 == 0 else order[::-1]:
            estimator = build(name, 0, device=device)
            t0 = time.perf_counter()
            estimator.fit(point["X"], point["y"])
            seconds[name] = time.perf_counter() - t0
            io.log(f"{point['n']} x {point['d']} ({point['source']}): {name} {seconds[name]:.1f}s")
        out.append({"n": point["n"], "d": point["d"], "source": point["source"],
                    "n_classes": int(len(np.unique(point["y"]))), "seconds": seconds,
                    "ratio": {h: seconds[h] / seconds[REFERENCE] for h in order if h != REFERENCE}})
    return out


def exponents(rows: list[dict[str, Any]], d: int = 1280) -> dict[str, dict[str, float]]:
    """Growth exponent of each head between consecutive row counts at width ``d``."""
    at = sorted((r for r in rows if r["d"] == d), key=lambda r: r["n"])
    out: dict[str, dict[str, float]] = {}
    for a, b in zip(at, at[1:]):
        for head in a["seconds"]:
            if head in b["seconds"]:
                out.setdefault(head, {})[f"{a['n']}->{b['n']}"] = (
                    math.log(b["seconds"][head] / a["seconds"][head]) / math.log(b["n"] / a["n"]))
    return out
