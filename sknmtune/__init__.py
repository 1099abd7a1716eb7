"""sknmtune: NMTune heads for frozen pre-trained backbones, with scikit-learn ergonomics.

Implements "Understanding and Mitigating the Label Noise in Pre-training on Downstream
Tasks" (Chen et al., ICLR 2024): an MLP head with consistency, covariance and dominant
singular value regularizers (:class:`NMTuneClassifier`), the spectral diagnostics SVE and
LSVR (:mod:`sknmtune.spectral`, :class:`SpectralScorer`), and frozen feature extraction.
"""

from .backbones import FrozenBackboneTransformer
from .cache import FeatureCache
from .classifier import PRESETS, NMTuneClassifier
from .heads import NMTuneHead
from .noise import inject_label_noise, pair_label_noise, symmetric_label_noise
from .losses import consistency_loss, covariance_loss, dominant_singular_value_loss
from .persistence import load, save
from .plotting import plot_accuracy_by_method, plot_accuracy_vs_noise, plot_metric_vs_noise, plot_spectrum
from .scoring import SpectralScorer
from .spectral import (
    largest_singular_value_ratio,
    rankme,
    singular_value_entropy,
    singular_values,
    spectral_summary,
)
from ._training import TrainingDivergedError

__version__ = "0.1.0"

__all__ = [
    "FrozenBackboneTransformer",
    "FeatureCache",
    "NMTuneClassifier",
    "PRESETS",
    "NMTuneHead",
    "SpectralScorer",
    "TrainingDivergedError",
    "consistency_loss",
    "covariance_loss",
    "dominant_singular_value_loss",
    "singular_values",
    "singular_value_entropy",
    "largest_singular_value_ratio",
    "rankme",
    "spectral_summary",
    "symmetric_label_noise",
    "pair_label_noise",
    "inject_label_noise",
    "plot_spectrum",
    "plot_metric_vs_noise",
    "plot_accuracy_by_method",
    "plot_accuracy_vs_noise",
    "save",
    "load",
    "__version__",
]
