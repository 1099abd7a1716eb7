"""The fit-time sweep (``benchmarks/fit_time.py --sweep``) and the cost model it checks."""

from __future__ import annotations

import math

import pytest

from benchmarks.harness import fit_sweep
from benchmarks.harness.io import RESULTS_DIR, read_json
from sknmtune.heads import estimate_fit_seconds

#: the sweep's heads that are a registry head as the registry builds it
REGISTRY = {"lp": "lp", "cv-sub2000": "cv", "voting": "vote"}


def test_growth_exponents_between_consecutive_row_counts():
    rows = [{"n": 1000, "d": 1280, "seconds": {"a": 2.0, "b": 10.0}},
            {"n": 4000, "d": 1280, "seconds": {"a": 8.0, "b": 20.0}},
            {"n": 16000, "d": 1280, "seconds": {"a": 32.0}},
            {"n": 4000, "d": 384, "seconds": {"a": 1.0}}]  # another width: not a row step
    out = fit_sweep.exponents(rows)
    assert out["a"] == {"1000->4000": pytest.approx(1.0), "4000->16000": pytest.approx(1.0)}
    assert out["b"] == {"1000->4000": pytest.approx(0.5)}


def test_rows_beyond_the_real_ones_are_tiled_and_say_so():
    import numpy as np

    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10) % 2
    sub, y_sub, kind = fit_sweep._rows(X, y, 6)
    assert kind == "real" and sub.shape == (6, 2) and {tuple(r) for r in sub} <= {tuple(r) for r in X}
    big, y_big, kind = fit_sweep._rows(X, y, 25)
    assert kind == "tiled" and big.shape == (25, 2) and y_big.shape == (25,)
    assert not {tuple(r) for r in big} <= {tuple(r) for r in X}  # jittered copies, not the rows themselves


def test_the_cost_model_is_within_a_factor_of_three_of_every_measured_fit():
    data = read_json(RESULTS_DIR / "fit_time_sweep.json", {})
    assert data.get("points"), "benchmarks/results/fit_time_sweep.json is missing: run fit_time --sweep"
    checked = []
    for point in data["points"]:
        for method, name in REGISTRY.items():
            if method in point["seconds"]:
                guess = estimate_fit_seconds(name, point["n"], point["d"])
                ratio = guess / point["seconds"][method]
                checked.append((name, point["n"], point["d"], round(ratio, 2)))
                assert 1 / 3 <= ratio <= 3, (name, point["n"], point["d"], guess, point["seconds"][method])
    assert len(checked) >= 3 and all(math.isfinite(c[-1]) for c in checked)
