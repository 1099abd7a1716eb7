"""Shared test configuration: everything runs offline and headless; ``gpu`` tests need CUDA."""

import os

import pytest

# No model or dataset may be downloaded during the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``gpu`` where torch sees no CUDA device (CI, laptops)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    """One torch thread per test process: the heads in these tests are tiny, and with several
    processes on few cores (pytest-xdist, or a busy machine) OpenMP's spinning threads slowed
    tiny operations (a 64 x 16 batch norm) by two orders of magnitude."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def count_decompositions(monkeypatch):
    """A list that grows by one per singular-value decomposition made by :mod:`sknmtune.spectral`."""
    from sknmtune import spectral

    real, calls = spectral._unit_singular_values, []
    monkeypatch.setattr(spectral, "_unit_singular_values", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls
