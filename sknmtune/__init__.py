"""sknmtune: NMTune heads for frozen pre-trained backbones, with scikit-learn ergonomics.

Implements "Understanding and Mitigating the Label Noise in Pre-training on Downstream
Tasks" (Chen et al., ICLR 2024): an MLP head with consistency, covariance and dominant
singular value regularizers (:class:`NMTuneClassifier`, and :class:`NMTuneClassifierCV` which
chooses between the linear probe, MLP tuning and NMTune by cross-validation), the spectral
diagnostics SVE and LSVR (:mod:`sknmtune.spectral`, :class:`SpectralScorer`), and frozen
feature extraction (:class:`FrozenBackboneTransformer`).

The public names below are imported lazily (PEP 562): ``import sknmtune`` loads neither
torch, timm nor skorch until one of the estimators is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "FrozenBackboneTransformer": "backbones",
    "extract_distributed": "backbones",
    "DistributedExtractionError": "backbones",
    "FeatureCache": "cache",
    "NMTuneClassifier": "heads",
    "PRESETS": "heads",
    "NMTuneClassifierCV": "heads",
    "NMTuneRegressor": "heads",
    "make_voting_head": "heads",
    "VOTING_MEMBERS": "heads",
    "logme": "transferability",
    "h_score": "transferability",
    "rank_backbones": "ranking",
    "TransferabilityScorer": "scoring",
    "DEFAULT_PARAM_GRID": "heads",
    "NMTuneHead": "heads",
    "SpectralScorer": "scoring",
    "TrainingDivergedError": "heads",
    "consistency_loss": "losses",
    "covariance_loss": "losses",
    "dominant_singular_value_loss": "losses",
    "singular_values": "spectral",
    "singular_value_entropy": "spectral",
    "largest_singular_value_ratio": "spectral",
    "rankme": "spectral",
    "spectral_summary": "spectral",
    "symmetric_label_noise": "noise",
    "pair_label_noise": "noise",
    "inject_label_noise": "noise",
    "plot_spectrum": "plotting",
    "plot_metric_vs_noise": "plotting",
    "plot_accuracy_by_method": "plotting",
    "plot_accuracy_vs_noise": "plotting",
    "save": "persistence",
    "load": "persistence",
    "ModelFileError": "persistence",
    "evaluate_heads": "evaluation",
    "compare_heads": "evaluation",
    "Comparison": "evaluation",
    "worst_group_accuracy": "metrics",
    "make_worst_group_scorer": "metrics",
    "TopKAccuracyScorer": "metrics",
    "make_head": "heads",
    "head_names": "heads",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sknmtune' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static type checkers and IDEs see the eager imports
    from .backbones import FrozenBackboneTransformer
    from .backbones import DistributedExtractionError, extract_distributed
    from .cache import FeatureCache
    from .heads import (
        DEFAULT_PARAM_GRID,
        PRESETS,
        VOTING_MEMBERS,
        NMTuneClassifier,
        NMTuneClassifierCV,
        NMTuneHead,
        NMTuneRegressor,
        TrainingDivergedError,
        head_names,
        make_head,
        make_voting_head,
    )
    from .losses import consistency_loss, covariance_loss, dominant_singular_value_loss
    from .noise import inject_label_noise, pair_label_noise, symmetric_label_noise
    from .evaluation import Comparison, compare_heads, evaluate_heads
    from .metrics import TopKAccuracyScorer, make_worst_group_scorer, worst_group_accuracy
    from .persistence import ModelFileError, load, save
    from .ranking import rank_backbones
    from .plotting import plot_accuracy_by_method, plot_accuracy_vs_noise, plot_metric_vs_noise, plot_spectrum
    from .scoring import SpectralScorer, TransferabilityScorer
    from .spectral import (
        largest_singular_value_ratio,
        rankme,
        singular_value_entropy,
        singular_values,
        spectral_summary,
    )
    from .transferability import h_score, logme
