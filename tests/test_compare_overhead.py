"""benchmarks/compare_overhead.py: the compare issue's timing script, run at its smoke scale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import compare_overhead  # noqa: E402


def test_synthetic_features_have_the_asked_shape_and_balanced_classes():
    X, y = compare_overhead.synthetic_features(100, 32, 5)
    assert X.shape == (100, 32) and X.dtype == np.float32 and np.array_equal(np.bincount(y), [20] * 5)


def test_quick_run_measures_wall_time_against_the_fits(tmp_path):
    result = compare_overhead.main(["--quick"], results_dir=tmp_path)
    stored = json.loads((tmp_path / "compare_overhead_quick.json").read_text())
    assert stored["n_fits"] == 4 and stored["heads"] == ["lp", "mlp"] and "synthetic" in stored["data"]
    assert result["wall_seconds"] >= result["fit_seconds_sum"] > 0  # the wall time holds every fit
    assert stored["ratio"] == result["wall_seconds"] / result["fit_seconds_sum"]
    assert sum(stored["fit_seconds_per_head"].values()) == result["fit_seconds_sum"]
