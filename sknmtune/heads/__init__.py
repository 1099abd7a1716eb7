"""The heads trained on frozen features: one family, one subpackage.

* :class:`NMTuneHead` -- the torch module ``F -> Z = h(F) -> logits`` (``_module``);
* :class:`NMTuneClassifier`, :class:`NMTuneRegressor` -- the scikit-learn estimators (``_classifier``,
  ``_regressor``), on one shared skeleton (``_base``) and one training loop (``_training``);
* :class:`NMTuneClassifierCV` -- the head chosen by inner cross-validation (``_cv``; its racing: ``_racing``);
* :func:`make_voting_head` -- a soft vote of several heads (``_voting``);
* :func:`make_head` / :func:`head_names` / :func:`head_spec` / :func:`head_table` -- every named head, defined
  once (``_registry``; each module registers its own); :func:`estimate_fit_seconds` -- its fit time from the
  registry's measured costs.

>>> from sknmtune.heads import head_names, make_head
>>> "cv" in head_names() and "vote" in head_names()
True
>>> make_head("lp", random_state=0).mlp_depth
0
"""

from ._base import AUTO_EARLY_STOPPING_MIN_SAMPLES, SKLEARN_EXPECTED_FAILED_CHECKS, sklearn_expected_failed_checks
from ._classifier import PRESETS, NMTuneClassifier
from ._cv import DEFAULT_PARAM_GRID, DEFAULT_SELECTION_ROWS, NMTuneClassifierCV, head_family, one_standard_error
from ._module import NMTuneHead
from ._registry import HeadSpec, estimate_fit_seconds, head_names, head_spec, head_table, make_head, register_head
from ._regressor import NMTuneRegressor
from ._training import TrainingDivergedError
from ._voting import VOTING_MEMBERS, make_voting_head

__all__ = [
    "AUTO_EARLY_STOPPING_MIN_SAMPLES",
    "DEFAULT_PARAM_GRID",
    "DEFAULT_SELECTION_ROWS",
    "HeadSpec",
    "NMTuneClassifier",
    "NMTuneClassifierCV",
    "NMTuneHead",
    "NMTuneRegressor",
    "PRESETS",
    "SKLEARN_EXPECTED_FAILED_CHECKS",
    "TrainingDivergedError",
    "VOTING_MEMBERS",
    "estimate_fit_seconds",
    "head_family",
    "head_names",
    "head_spec",
    "head_table",
    "make_head",
    "make_voting_head",
    "one_standard_error",
    "register_head",
    "sklearn_expected_failed_checks",
]
