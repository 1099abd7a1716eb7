"""Deprecated location: the head family lives in :mod:`sknmtune.heads` (import from there or from ``sknmtune``)."""

from . import heads as _heads
from ._utils import moved_names

__getattr__, __dir__ = moved_names("sknmtune.classifier", _heads, ("NMTuneClassifier", "PRESETS", "AUTO_EARLY_STOPPING_MIN_SAMPLES"))
