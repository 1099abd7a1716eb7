"""``benchmarks.bench_core``: the regularizers' cost rows and the lowest ratio an exact spectrum allows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def test_regularizer_cost_also_times_the_eigendecomposition_alone():
    import torch

    from benchmarks.harness.step_cost import regularizer_cost

    row = regularizer_cost(12, 8, torch.device("cpu"), methods=("gram",), repeats=2)
    assert (row["D"], row["batch"]) == (12, 8)
    assert set(row["ms"]) == set(row["median_ms"]) == {"gram", "eigh_floor"}
    assert all(v > 0 for v in row["ms"].values())


def test_step_cost_floor_pairs_each_step_row_with_the_eigendecomposition_of_its_shape():
    from benchmarks.bench_core import step_cost_floor

    payload = {
        "step_cost": [{"arch": "paper", "D": 384, "batch": 256, "mlp_ms": 8.0},
                      {"arch": "paper", "D": 384, "batch": 64, "mlp_ms": 2.0},
                      {"arch": "authors", "D": 2048, "batch": 64, "mlp_ms": 500.0}],
        "regularizer_cost": [{"D": 384, "batch": 256, "ms": {"gram": 12.0, "eigh_floor": 6.0}},
                             {"D": 384, "batch": 64, "ms": {"gram": 1.0, "eigh_floor": 0.5}},
                             {"D": 2048, "batch": 64, "ms": {"gram": 3.0}}],  # a file from before the floor
    }
    floors = step_cost_floor(payload)
    assert [(r["arch"], r["D"], r["batch"]) for r in floors] == [("paper", 384, 256), ("paper", 384, 64)]
    assert [r["lowest_exact_ratio"] for r in floors] == [pytest.approx(1.75), pytest.approx(1.25)]
    assert floors[0]["eigh_ms"] == 6.0 and floors[0]["mlp_ms"] == 8.0
    assert step_cost_floor({"step_cost": payload["step_cost"]}) == []
