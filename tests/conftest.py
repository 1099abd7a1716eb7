"""Shared test configuration: everything runs offline and headless."""

import os

# No model or dataset may be downloaded during the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
