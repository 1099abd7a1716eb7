"""Shared test configuration: everything runs offline and headless; ``gpu`` tests need CUDA."""

import os

import pytest
from hypothesis import HealthCheck, settings

# Property-based tests (hypothesis): the default lane is small and reproducible (derandomized, no example
# database), the extended lane (``pytest -m extended``, or HYPOTHESIS_PROFILE=extended) draws 10x more
# examples from a fresh random seed. Tests size their own example counts with ``tests._fuzz.examples(n)``.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("default", max_examples=50, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_QUIET, print_blob=True)
settings.register_profile("extended", max_examples=500, deadline=None, database=None,
                          suppress_health_check=_QUIET, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# No model or dataset may be downloaded during the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


#: scikit-learn checks that re-run another check on a different input container; they run in the extended lane
#: (issue 37: the default lane within 7 minutes), because the default lane runs what they re-check:
#: ``check_readonly_memmap_input`` and ``check_estimators_pickle(readonly_memmap=True)`` feed read-only memmaps to
#: every estimator, ``check_classifiers_train`` / ``check_regressors_train`` / ``check_transformer_general`` run on
#: plain arrays, and ``check_classifier_data_not_an_array`` / ``check_regressor_data_not_an_array`` feed the
#: not-an-array container through the same validation that ``transform`` uses.
EXTENDED_SKLEARN_CHECKS = (
    "check_classifiers_train(readonly_memmap=True)",
    "check_classifiers_train(readonly_memmap=True,X_dtype=float32)",
    "check_regressors_train(readonly_memmap=True)",
    "check_regressors_train(readonly_memmap=True,X_dtype=float32)",
    "check_transformer_general(readonly_memmap=True)",
    "check_transformer_data_not_an_array",
)


@pytest.hookimpl(tryfirst=True)  # before ``-m 'not extended'`` deselects
def pytest_collection_modifyitems(config, items):
    """Mark :data:`EXTENDED_SKLEARN_CHECKS` ``extended``; skip the tests marked ``gpu`` where torch sees no CUDA
    device (CI, laptops)."""
    for item in items:
        if "sklearn" in item.name and any(f"-{check}]" in item.name for check in EXTENDED_SKLEARN_CHECKS):
            item.add_marker(pytest.mark.extended)

    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    """The extended lane's hypothesis profile under ``-m extended``; one torch thread per test process.

    The heads in these tests are tiny, and with several processes on few cores (pytest-xdist, or a busy
    machine) OpenMP's spinning threads slowed tiny operations (a 64 x 16 batch norm) by two orders of magnitude.
    """
    import torch

    marks = (config.getoption("markexpr", default="") or "").replace("not extended", "")
    if "extended" in marks and "HYPOTHESIS_PROFILE" not in os.environ:
        settings.load_profile("extended")
    torch.set_num_threads(1)


@pytest.fixture
def count_decompositions(monkeypatch):
    """A list that grows by one per singular-value decomposition made by :mod:`sknmtune.spectral`."""
    from sknmtune import spectral

    real, calls = spectral._unit_singular_values, []
    monkeypatch.setattr(spectral, "_unit_singular_values", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls
