"""benchmarks/gpu_check.py: the sections a GPU session runs in one call must not crash (CPU smoke sizes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("timm")


def test_imagenet_extraction_section_reports_throughput_and_the_projection():
    import torch

    from benchmarks import gpu_check

    res = gpu_check.imagenet_extraction(torch.device("cpu"), smoke=True)
    for name in ("tf_efficientnet_lite0", "mobilenetv2_100"):
        row = res[name]
        assert row["finite"] and row["shape"] == [res["n_images"], 1280]
        assert row["images_per_s"] > 0
        assert row["projected_benchmark_seconds"] == pytest.approx(gpu_check.IMAGENET_BENCHMARK_IMAGES / row["images_per_s"])


def test_batching_section_times_the_three_ways_of_training_the_same_heads():
    import torch

    from benchmarks import gpu_check

    row = gpu_check.batching(torch.device("cpu"), smoke=True)
    assert row["n_models"] == 3 and row["steps_per_model"] == 1
    per_step = row["seconds_per_model_step"]
    assert set(per_step) == {"sequential", "batched", "skorch"} and all(v > 0 for v in per_step.values())
    assert row["batched_over_sequential"] == pytest.approx(per_step["batched"] / per_step["sequential"])
