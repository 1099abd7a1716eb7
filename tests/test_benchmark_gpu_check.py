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
